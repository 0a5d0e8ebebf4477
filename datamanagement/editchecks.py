"""Edit checks: rules that find data a person should look at, each raising a data query. Pure Python.

Each check reads plain records and returns findings (record type, id, field,
patient, the question). The service turns each new finding into an open query
(one per check, record and field while it is not closed).

  AE_DATES      adverse event onset after its resolution
  DAY1_WEIGHT   a cycle's day-1 weight missing, or more than 10% from the previous cycle's
  DOSE_CYCLE    a dose dated outside its cycle (on or after the next cycle's day 1, or before day 1)
  ANC_NO_AE     an ANC below 1.0 x10^9/L (grade 3-4) with no neutropenia event covering its date
  DEATH_DATE    a grade 5 (death) event whose end is not the follow-up's date of death (issue #15)
  SUPPORTIVE_CM a supportive-care flag on an adverse event with no concomitant medication of that category
                linked to its event (issue #16: the drug, dose and dates belong on the conmed CRF)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from toxicity import ctcae

WEIGHT_CHANGE = Decimal("0.10")


@dataclass(frozen=True)
class Finding:
    check: str
    patient_id: int
    record_type: str
    object_id: int
    field: str
    text: str


@dataclass(frozen=True)
class Event:
    id: int
    patient_id: int
    term: str
    onset: date
    resolved: date | None
    grade: int = 0
    supportive: tuple[str, ...] = ()  # the event's own supportive-care flags
    event_id: int | None = None  # the event's first episode (None: this is the first)


@dataclass(frozen=True)
class CycleRow:
    id: int
    patient_id: int
    number: int
    day1: date
    weight_kg: Decimal | None


@dataclass(frozen=True)
class Dose:
    id: int
    patient_id: int
    cycle_id: int
    given_on: date
    drug: str


@dataclass(frozen=True)
class Lab:
    id: int
    patient_id: int
    on: date
    anc: Decimal | None


NEUTROPENIA_TERMS = frozenset(code for code, kind in ctcae.KINDS.items() if kind in (ctcae.Kind.NEUTROPENIA, ctcae.Kind.FEBRILE_NEUTROPENIA))  # MedDRA codes


def ae_dates(events: list[Event]) -> list[Finding]:
    return [
        Finding(
            "AE_DATES",
            e.patient_id,
            "adverse_event",
            e.id,
            "resolved",
            f"Resolved {e.resolved.isoformat()} before the onset {e.onset.isoformat()}: check both dates.",
        )
        for e in events
        if e.resolved is not None and e.resolved < e.onset
    ]


def day1_weight(cycles: list[CycleRow]) -> list[Finding]:
    out, previous = [], {}
    for c in sorted(cycles, key=lambda c: (c.patient_id, c.number)):
        before = previous.get(c.patient_id)
        if c.weight_kg is None:
            out.append(
                Finding("DAY1_WEIGHT", c.patient_id, "cycle", c.id, "weight_kg", f"Cycle {c.number} has no day-1 weight (the bendamustine dose needs it).")
            )
        elif before is not None and before.weight_kg and abs(c.weight_kg - before.weight_kg) > before.weight_kg * WEIGHT_CHANGE:
            out.append(
                Finding(
                    "DAY1_WEIGHT",
                    c.patient_id,
                    "cycle",
                    c.id,
                    "weight_kg",
                    f"Cycle {c.number} day-1 weight {c.weight_kg} kg is more than 10% from cycle {before.number} ({before.weight_kg} kg): confirm.",
                )
            )
        previous[c.patient_id] = c
    return out


def dose_cycle(doses: list[Dose], cycles: list[CycleRow]) -> list[Finding]:
    by_id = {c.id: c for c in cycles}
    day1 = {(c.patient_id, c.number): c.day1 for c in cycles}
    next_day1 = {c.id: day1.get((c.patient_id, c.number + 1)) for c in cycles}
    out = []
    for d in doses:
        c = by_id.get(d.cycle_id)
        if c is None:
            out.append(Finding("DOSE_CYCLE", d.patient_id, "administration", d.id, "cycle", f"{d.drug} on {d.given_on.isoformat()} has no cycle."))
            continue
        end = next_day1[c.id]
        if d.given_on < c.day1 or (end is not None and d.given_on >= end):
            out.append(
                Finding(
                    "DOSE_CYCLE",
                    d.patient_id,
                    "administration",
                    d.id,
                    "given_on",
                    f"{d.drug} on {d.given_on.isoformat()} is outside cycle {c.number} (day 1 {c.day1.isoformat()}).",
                )
            )
    return out


def anc_without_event(labs: list[Lab], events: list[Event]) -> list[Finding]:
    neutropenia: dict[int, list[Event]] = {}
    for e in events:
        if e.term in NEUTROPENIA_TERMS:
            neutropenia.setdefault(e.patient_id, []).append(e)
    out = []
    for lab in labs:
        if lab.anc is None or ctcae.grade_anc(lab.anc) < 3:
            continue
        covered = any(e.onset <= lab.on and (e.resolved is None or e.resolved >= lab.on) for e in neutropenia.get(lab.patient_id, ()))
        if not covered:
            out.append(
                Finding(
                    "ANC_NO_AE",
                    lab.patient_id,
                    "lab",
                    lab.id,
                    "anc",
                    f"ANC {lab.anc} x10^9/L on {lab.on.isoformat()} (grade 3-4) without a neutropenia event on that date: record it or confirm the value.",
                )
            )
    return out


def death_date(events: list[Event], deaths: dict[int, date]) -> list[Finding]:
    """A grade 5 event ends with the death: its end and the follow-up's date of death (by patient) must agree."""
    out = []
    for e in events:
        died = deaths.get(e.patient_id)
        if e.grade == 5 and e.resolved is not None and died is not None and died != e.resolved:
            text = f"The grade 5 event ends on {e.resolved.isoformat()} but the follow-up records death on {died.isoformat()}: correct one of them."
            out.append(Finding("DEATH_DATE", e.patient_id, "adverse_event", e.id, "resolved", text))
    return out


SUPPORTIVE_NAMES = {
    "gcsf": "G-CSF",
    "max_antiemetic": "maximal antiemetic therapy",
    "max_antidiarrheal": "maximal antidiarrheal therapy",
    "steroids": "steroids",
}


def supportive_without_conmed(events: list[Event], conmeds: dict[int, set[str]]) -> list[Finding]:
    """`conmeds`: the supportive-care categories of the current conmeds linked to each event (by its first episode's id)."""
    out = []
    for e in events:
        given = conmeds.get(e.event_id or e.id, set())
        missing = [s for s in e.supportive if s not in given]
        if missing:
            names = ", ".join(SUPPORTIVE_NAMES.get(s, s) for s in missing)
            text = f"Supportive care ticked on the event ({names}) with no such concomitant medication recorded for it: record the drug, dose and dates."
            out.append(Finding("SUPPORTIVE_CM", e.patient_id, "adverse_event", e.id, "supportive", text))
    return out


def run_all(
    *,
    events: list[Event],
    cycles: list[CycleRow],
    doses: list[Dose],
    labs: list[Lab],
    deaths: dict[int, date] | None = None,
    conmeds: dict[int, set[str]] | None = None,
) -> list[Finding]:
    out = ae_dates(events) + day1_weight(cycles) + dose_cycle(doses, cycles) + anc_without_event(labs, events)
    return out + death_date(events, deaths or {}) + supportive_without_conmed(events, conmeds or {})
