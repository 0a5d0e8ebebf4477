"""Dose-limiting toxicity rules H1-H6 and N1-N8 (protocol s.3). Pure Python.

Input: one patient's cycle-1 window, adverse events, dated lab values, cycle-1
dose modifications, cycle 2 day 1 planned and actual dates, baseline counts and
marrow involvement, and the date of evaluation. Output: proposed DLTs, each
with its rule, the evidence and a sentence a clinician can check, and the
patient's DLT evaluability.

The window is cycle 1, day 1 to day 28 inclusive: an event counts when its
onset (or a lab value's date) lies in [day 1, day 1 + 27].

Attribution (protocol s.3): only events at least possibly related to study
therapy count (possible, probable or definite for at least one drug; N1 asks
for pomalidomide or bendamustine); an event attributed to progressive disease
never counts. Lab-based rules (H1 by value, H2, H3) take the attribution of the
matching adverse event (neutropenia, thrombocytopenia) in the window; with no
such event recorded they are still proposed, marked "attribution not recorded",
for the investigator to judge.

Durations ("more than 7 days", H2 and H3) are counted from dated values:
an episode starts on the date of the first value below the threshold in the
window; it ends on the date of the first later value at or above the threshold
(recovery). Its duration is (recovery date - start date) in days. The episode
lasts more than 7 days when recovery comes 8 or more days after the start, or
when there is no recovery value and a value dated 8 or more days after the start
is still below the threshold. If the last value is below the threshold but less
than 8 days after the start, the rule is pending: a value on or after start + 8
days decides. Example: ANC 0.4 on day 3, 0.3 on day 7, 0.6 on day 10: 7 days,
not a DLT; 0.6 on day 11 instead: 8 days, a DLT.

Rash N6: a grade 3 rash episode starting on date d is a DLT unless an episode
of the same event with grade < 2, or the event's resolution, is dated on or
before d + 10 days; steroids must have been given.

H4: a bleeding event is associated with grade 3-4 thrombocytopenia when a
platelet value < 50 x10^9/L is dated within 2 days before or after its onset.

H6/N8: cycle 2 day 1 not given within 14 days of its planned date (actual -
planned > 14 days, or not given and the evaluation date is past planned + 14)
while a drug-related toxicity with onset in cycle 1 is unresolved at planned +
14 days; a hematologic one gives H6, a non-hematologic one N8.

Baseline exemption: H1 and H2 are not assessed when the baseline ANC < 1.0 and
baseline marrow plasma cells > 30%; H3 not when baseline platelets < 50 and
marrow > 30% (the source amends 50% to 30%).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from .ctcae import HEMATOLOGIC, Kind

RELATED = frozenset({"possible", "probable", "definite"})
ATTRIBUTIONS = ("unrelated", "unlikely", "possible", "probable", "definite")  # CTCAE attribution scale
N1_DRUGS = frozenset({"pomalidomide", "bendamustine"})
MORE_THAN_DAYS = 7
RASH_RECOVERY_DAYS = 10
C2D1_GRACE_DAYS = 14
BLEEDING_PLATELET_DAYS = 2
FEVER_C = Decimal("38.5")
ANC_FN = Decimal("1.0")
ANC_G4 = Decimal("0.5")
PLT_G4 = Decimal(25)
PLT_G3 = Decimal(50)
MARROW_EXEMPT_PCT = Decimal(30)


class DltError(Exception):
    """Inputs the rules cannot be applied to."""


class Supportive(StrEnum):
    GCSF = "gcsf"
    ANTIEMETIC = "max_antiemetic"
    ANTIDIARRHEAL = "max_antidiarrheal"
    STEROIDS = "steroids"


@dataclass(frozen=True)
class AdverseEvent:
    id: int
    term: str
    name: str
    kind: Kind
    grade: int
    onset: date
    resolved: date | None = None
    attribution: dict[str, str] = field(default_factory=dict)  # drug code -> unrelated..definite
    progression: bool = False  # attributed to disease progression
    supportive: frozenset[str] = frozenset()
    with_pain: bool = False
    event: int | None = None  # episodes of one event share this id (a grade change is a new episode)

    @property
    def hematologic(self) -> bool:
        return self.kind in HEMATOLOGIC

    def related(self, drugs: frozenset[str] | None = None) -> bool:
        return any(level in RELATED for drug, level in self.attribution.items() if drugs is None or drug in drugs)


@dataclass(frozen=True)
class LabValue:
    on: date
    anc: Decimal | None = None
    platelets: Decimal | None = None
    temperature: Decimal | None = None


@dataclass(frozen=True)
class Modification:
    id: int
    on: date
    kind: str  # reduce_level, reduce_dose, hold, resume
    in_cycle_1: bool
    event_id: int | None = None  # the adverse event that required it, if recorded


@dataclass(frozen=True)
class PatientWindow:
    cycle1_day1: date
    baseline_anc: Decimal
    baseline_platelets: Decimal
    baseline_marrow_pct: Decimal
    events: tuple[AdverseEvent, ...] = ()
    labs: tuple[LabValue, ...] = ()
    modifications: tuple[Modification, ...] = ()
    c2d1_planned: date | None = None
    c2d1_given: date | None = None
    stopped_on: date | None = None  # off treatment within cycle 1
    stopped_reason: str | None = None  # progression, withdrawal, toxicity, death, investigator
    window_days: int = 28

    @property
    def window_end(self) -> date:
        return self.cycle1_day1 + timedelta(days=self.window_days - 1)

    def in_window(self, day: date) -> bool:
        return self.cycle1_day1 <= day <= self.window_end

    @property
    def c2d1_deadline(self) -> date:
        planned = self.c2d1_planned or self.cycle1_day1 + timedelta(days=self.window_days)
        return planned + timedelta(days=C2D1_GRACE_DAYS)


@dataclass(frozen=True)
class Evidence:
    what: str
    on: date
    value: str
    ref: str = ""  # "ae:12", "lab:2026-01-05", "mod:3"


@dataclass(frozen=True)
class Proposal:
    rule: str
    title: str
    onset: date
    sentence: str
    evidence: tuple[Evidence, ...]
    event_ids: tuple[int, ...] = ()
    attribution_recorded: bool = True

    @property
    def key(self) -> str:
        """Stable identity of a proposal across re-evaluations: rule, onset, events."""
        return f"{self.rule}:{self.onset.isoformat()}:{','.join(map(str, sorted(self.event_ids)))}"


class Status(StrEnum):
    EVALUABLE = "evaluable"
    PENDING = "pending"
    NOT_EVALUABLE = "not_evaluable"


@dataclass(frozen=True)
class Evaluability:
    status: Status
    reason: str
    until: date | None = None


@dataclass(frozen=True)
class Assessment:
    proposals: tuple[Proposal, ...]
    evaluability: Evaluability
    pending_rules: tuple[str, ...] = ()


RULE_TITLES = {
    "H1": "Febrile neutropenia",
    "H2": "Grade 4 neutropenia more than 7 days despite G-CSF",
    "H3": "Grade 4 thrombocytopenia more than 7 days",
    "H4": "Grade 3-4 thrombocytopenia with bleeding",
    "H5": "Hematologic toxicity requiring a dose reduction in cycle 1",
    "H6": "Cycle 2 day 1 delayed more than 14 days by a hematologic toxicity",
    "N1": "Grade 3 or higher toxicity related to pomalidomide or bendamustine",
    "N2": "Grade 3 or higher nausea, vomiting or diarrhoea despite maximal therapy",
    "N3": "Grade 3 or higher neuropathy with pain",
    "N4": "Grade 3 or higher venous thromboembolism",
    "N5": "Grade 4 rash",
    "N6": "Grade 3 rash not below grade 2 within 10 days despite steroids",
    "N7": "Non-hematologic toxicity requiring a dose reduction in cycle 1",
    "N8": "Cycle 2 day 1 delayed more than 14 days by a non-hematologic toxicity",
}


def _d(day: date) -> str:
    return day.isoformat()


def _counts(event: AdverseEvent) -> bool:
    return event.related() and not event.progression


def _ae_evidence(e: AdverseEvent) -> Evidence:
    related = ", ".join(f"{drug} {level}" for drug, level in sorted(e.attribution.items()) if level in RELATED) or "not related"
    return Evidence(
        f"{e.name} grade {e.grade}",
        e.onset,
        f"onset {_d(e.onset)}" + (f", resolved {_d(e.resolved)}" if e.resolved else ", ongoing") + f"; {related}",
        f"ae:{e.id}",
    )


# ---------------------------------------------------------------- episodes from dated values


@dataclass(frozen=True)
class Episode:
    start: date
    last_low: date
    recovery: date | None
    lowest: Decimal
    values: tuple[tuple[date, Decimal], ...]

    @property
    def days(self) -> int | None:
        return (self.recovery - self.start).days if self.recovery else None

    def more_than(self, days: int) -> bool | None:
        """True, False, or None (pending: not yet decided by the values)."""
        if self.recovery is not None:
            return (self.recovery - self.start).days > days
        if (self.last_low - self.start).days > days:
            return True
        return None


@dataclass
class _Run:
    """An episode while its values are read: below the threshold since `start`."""

    start: date
    last_low: date
    lowest: Decimal
    values: list[tuple[date, Decimal]]

    def episode(self, recovery: date | None) -> Episode:
        return Episode(self.start, self.last_low, recovery, self.lowest, tuple(self.values))


def episodes(values: list[tuple[date, Decimal]], threshold: Decimal, *, start_from: date, end: date) -> list[Episode]:
    """Runs of values below `threshold` that start within [start_from, end], with their recovery."""
    found: list[Episode] = []
    current: _Run | None = None
    for on, value in sorted(values):
        if value < threshold:
            if current is None:
                if not start_from <= on <= end:
                    continue
                current = _Run(start=on, last_low=on, lowest=value, values=[(on, value)])
            else:
                current.last_low = on
                current.lowest = min(current.lowest, value)
                current.values.append((on, value))
        elif current is not None:
            current.values.append((on, value))
            found.append(current.episode(recovery=on))
            current = None
    if current is not None:
        found.append(current.episode(recovery=None))
    return found


def _series(labs: tuple[LabValue, ...], name: str) -> list[tuple[date, Decimal]]:
    return [(lab.on, getattr(lab, name)) for lab in labs if getattr(lab, name) is not None]


def _episode_evidence(name: str, ep: Episode, unit: str = "x10^9/L") -> tuple[Evidence, ...]:
    return tuple(Evidence(name, on, f"{value} {unit}", f"lab:{_d(on)}") for on, value in ep.values)


def _matching_event(w: PatientWindow, kind: Kind, around: date) -> AdverseEvent | None:
    """The adverse event of this kind in the window whose span covers `around` (else the nearest)."""
    candidates = [e for e in w.events if e.kind == kind and w.in_window(e.onset)]
    covering = [e for e in candidates if e.onset <= around and (e.resolved is None or e.resolved >= around)]
    pool = covering or candidates
    return min(pool, key=lambda e: abs((e.onset - around).days)) if pool else None


# ---------------------------------------------------------------- the rules


def _exempt_neutrophils(w: PatientWindow) -> bool:
    return w.baseline_anc < ANC_FN and w.baseline_marrow_pct > MARROW_EXEMPT_PCT


def _exempt_platelets(w: PatientWindow) -> bool:
    return w.baseline_platelets < PLT_G3 and w.baseline_marrow_pct > MARROW_EXEMPT_PCT


def rule_h1(w: PatientWindow) -> list[Proposal]:
    if _exempt_neutrophils(w):
        return []
    out = []
    for e in w.events:
        if e.kind == Kind.FEBRILE_NEUTROPENIA and w.in_window(e.onset) and _counts(e):
            out.append(
                Proposal(
                    "H1",
                    RULE_TITLES["H1"],
                    e.onset,
                    f"Febrile neutropenia grade {e.grade} from {_d(e.onset)}, in cycle 1, at least possibly related.",
                    (_ae_evidence(e),),
                    (e.id,),
                )
            )
    if out:
        return out
    for lab in sorted(w.labs, key=lambda v: v.on):
        if lab.anc is not None and lab.temperature is not None and w.in_window(lab.on) and lab.anc < ANC_FN and lab.temperature >= FEVER_C:
            ae = _matching_event(w, Kind.NEUTROPENIA, lab.on)
            if ae is not None and not _counts(ae):
                continue
            evidence = (
                Evidence("ANC", lab.on, f"{lab.anc} x10^9/L", f"lab:{_d(lab.on)}"),
                Evidence("Temperature", lab.on, f"{lab.temperature} C", f"lab:{_d(lab.on)}"),
            )
            return [
                Proposal(
                    "H1",
                    RULE_TITLES["H1"],
                    lab.on,
                    f"ANC {lab.anc} x10^9/L (< 1.0) with fever {lab.temperature} C (>= 38.5) on {_d(lab.on)}, in cycle 1.",
                    evidence + ((_ae_evidence(ae),) if ae else ()),
                    (ae.id,) if ae else (),
                    attribution_recorded=ae is not None,
                )
            ]
    return []


# A duration rule's extra condition on the matching adverse event: (met, note for the sentence, extra evidence).
Condition = Callable[[AdverseEvent | None], tuple[bool, str, tuple[Evidence, ...]]]


def _duration_rule(
    w: PatientWindow, *, rule: str, series: str, threshold: Decimal, kind: Kind, label: str, condition: Condition
) -> tuple[list[Proposal], bool]:
    out, pending = [], False
    for ep in episodes(_series(w.labs, series), threshold, start_from=w.cycle1_day1, end=w.window_end):
        verdict = ep.more_than(MORE_THAN_DAYS)
        if verdict is None:
            pending = True
            continue
        if not verdict:
            continue
        ae = _matching_event(w, kind, ep.start)
        if ae is not None and not _counts(ae):
            continue
        ok, note, extra = condition(ae)
        if not ok:
            continue
        if ep.recovery:
            span = f"{ep.days} days ({_d(ep.start)} to recovery on {_d(ep.recovery)})"
        else:
            span = f"more than 7 days (below since {_d(ep.start)}, still {dict(ep.values)[ep.last_low]} on {_d(ep.last_low)})"
        sentence = f"{label} < {threshold} x10^9/L for {span}, lowest {ep.lowest}{note}."
        evidence = _episode_evidence(label, ep) + ((_ae_evidence(ae),) if ae else ()) + extra
        out.append(Proposal(rule, RULE_TITLES[rule], ep.start, sentence, evidence, (ae.id,) if ae else (), attribution_recorded=ae is not None))
    return out, pending


def rule_h2(w: PatientWindow) -> tuple[list[Proposal], bool]:
    if _exempt_neutrophils(w):
        return [], False

    def gcsf(ae: AdverseEvent | None) -> tuple[bool, str, tuple[Evidence, ...]]:
        given = any(Supportive.GCSF in e.supportive for e in w.events if e.kind in (Kind.NEUTROPENIA, Kind.FEBRILE_NEUTROPENIA) and w.in_window(e.onset))
        return given, "; G-CSF given" if given else "", ()

    return _duration_rule(w, rule="H2", series="anc", threshold=ANC_G4, kind=Kind.NEUTROPENIA, label="ANC", condition=gcsf)


def rule_h3(w: PatientWindow) -> tuple[list[Proposal], bool]:
    if _exempt_platelets(w):
        return [], False
    return _duration_rule(
        w, rule="H3", series="platelets", threshold=PLT_G4, kind=Kind.THROMBOCYTOPENIA, label="Platelets", condition=lambda ae: (True, "", ())
    )


def rule_h4(w: PatientWindow) -> list[Proposal]:
    out = []
    platelets = _series(w.labs, "platelets")
    for e in w.events:
        if e.kind != Kind.BLEEDING or not w.in_window(e.onset) or e.progression:
            continue
        near = [(on, v) for on, v in platelets if v < PLT_G3 and abs((on - e.onset).days) <= BLEEDING_PLATELET_DAYS]
        if not near:
            continue
        thrombo = _matching_event(w, Kind.THROMBOCYTOPENIA, e.onset)
        if thrombo is not None and not _counts(thrombo):
            continue
        on, value = min(near, key=lambda p: p[1])
        out.append(
            Proposal(
                "H4",
                RULE_TITLES["H4"],
                e.onset,
                f"{e.name} grade {e.grade} from {_d(e.onset)} with platelets {value} x10^9/L (< 50) on {_d(on)}.",
                (_ae_evidence(e), Evidence("Platelets", on, f"{value} x10^9/L", f"lab:{_d(on)}")),
                (e.id,) + ((thrombo.id,) if thrombo else ()),
                attribution_recorded=thrombo is not None,
            )
        )
    return out


def rule_reductions(w: PatientWindow) -> list[Proposal]:
    """H5 and N7: a toxicity requiring a dose reduction within cycle 1."""
    by_id = {e.id: e for e in w.events}
    out = []
    for m in w.modifications:
        if m.kind not in ("reduce_level", "reduce_dose") or not (m.in_cycle_1 or w.in_window(m.on)):
            continue
        e = by_id.get(m.event_id) if m.event_id is not None else None
        if e is not None and not _counts(e):
            continue
        rule = "H5" if e is not None and e.hematologic else "N7"
        what = f"{e.name} grade {e.grade}" if e else "a toxicity not linked to the reduction"
        evidence = (Evidence("Dose reduction", m.on, m.kind.replace("_", " "), f"mod:{m.id}"),) + ((_ae_evidence(e),) if e else ())
        out.append(
            Proposal(
                rule,
                RULE_TITLES[rule],
                m.on,
                f"Dose reduced on {_d(m.on)}, within cycle 1, for {what}.",
                evidence,
                (e.id,) if e else (),
                attribution_recorded=e is not None,
            )
        )
    return out


def rule_c2d1(w: PatientWindow, today: date) -> tuple[list[Proposal], bool]:
    """H6 and N8: cycle 2 day 1 more than 14 days late because of a cycle-1 toxicity."""
    planned = w.c2d1_planned or w.cycle1_day1 + timedelta(days=w.window_days)
    deadline = planned + timedelta(days=C2D1_GRACE_DAYS)
    if w.c2d1_given is not None:
        late = (w.c2d1_given - planned).days > C2D1_GRACE_DAYS
    elif w.stopped_on is not None:
        return [], False
    else:
        late = today > deadline
    if not late:
        return [], False
    out = []
    for e in w.events:
        if not w.in_window(e.onset) or not _counts(e):
            continue
        if e.resolved is not None and e.resolved <= deadline:
            continue
        rule = "H6" if e.hematologic else "N8"
        given = f"given {_d(w.c2d1_given)}" if w.c2d1_given else f"not given by {_d(today)}"
        out.append(
            Proposal(
                rule,
                RULE_TITLES[rule],
                deadline,
                f"Cycle 2 day 1 planned {_d(planned)}, {given} (more than 14 days), with {e.name} grade {e.grade} from cycle 1 unresolved on {_d(deadline)}.",
                (Evidence("Cycle 2 day 1", planned, f"planned {_d(planned)}; {given}"), _ae_evidence(e)),
                (e.id,),
            )
        )
    return out, False


def rule_nonhem(w: PatientWindow) -> list[Proposal]:
    """N1-N6 on the adverse events with onset in cycle 1."""
    out = []
    for e in w.events:
        if e.hematologic or e.kind == Kind.BLEEDING or not w.in_window(e.onset) or e.progression:
            continue
        rule, sentence = _nonhem_rule(w, e)
        if rule:
            out.append(Proposal(rule, RULE_TITLES[rule], e.onset, sentence, (_ae_evidence(e),), (e.id,)))
    return out


def _nonhem_rule(w: PatientWindow, e: AdverseEvent) -> tuple[str | None, str]:
    base = f"{e.name} grade {e.grade} from {_d(e.onset)}"
    if not e.related():
        return None, ""
    if e.kind in (Kind.NAUSEA_VOMITING, Kind.DIARRHEA):
        need = Supportive.ANTIDIARRHEAL if e.kind == Kind.DIARRHEA else Supportive.ANTIEMETIC
        if e.grade >= 3 and need in e.supportive:
            return "N2", f"{base} despite maximal {'antidiarrheal' if need == Supportive.ANTIDIARRHEAL else 'antiemetic'} therapy."
        return None, ""
    if e.kind == Kind.NEUROPATHY:
        return ("N3", f"{base} with pain.") if e.grade >= 3 and e.with_pain else (None, "")
    if e.kind == Kind.THROMBOEMBOLIC:
        return ("N4", f"{base}: venous thromboembolism.") if e.grade >= 3 else (None, "")
    if e.kind == Kind.RASH:
        if e.grade >= 4:
            return "N5", f"{base}."
        if e.grade == 3 and Supportive.STEROIDS in e.supportive:
            back = _rash_back_below_2(w, e)
            if back is None or (back - e.onset).days > RASH_RECOVERY_DAYS:
                when = f"below grade 2 only on {_d(back)}" if back else "not below grade 2"
                return "N6", f"{base}, {when}: more than 10 days despite steroids."
        return None, ""
    if e.grade >= 3 and e.related(N1_DRUGS):
        return "N1", f"{base}, related to {', '.join(d for d, lv in sorted(e.attribution.items()) if lv in RELATED and d in N1_DRUGS)}."
    return None, ""


def _rash_back_below_2(w: PatientWindow, e: AdverseEvent) -> date | None:
    """The first date the rash was below grade 2: a later episode < 2, or the event's resolution."""
    group = e.event if e.event is not None else e.id
    dates = [x.onset for x in w.events if (x.event if x.event is not None else x.id) == group and x.onset > e.onset and x.grade < 2]
    chain = [x for x in w.events if (x.event if x.event is not None else x.id) == group and x.onset >= e.onset]
    last = max(chain, key=lambda x: x.onset)
    if last.resolved is not None and not any(x.onset > last.resolved for x in chain):
        dates.append(last.resolved)
    return min(dates) if dates else None


# ---------------------------------------------------------------- the assessment


def assess(w: PatientWindow, *, today: date) -> Assessment:
    """Every rule on the patient's window, and the patient's DLT evaluability on `today`."""
    for e in w.events:
        if not 1 <= e.grade <= 5:
            raise DltError(f"Adverse event {e.id}: grade {e.grade} is not a CTCAE grade.")
        if e.resolved is not None and e.resolved < e.onset:
            raise DltError(f"Adverse event {e.id}: resolution before onset.")
    proposals: list[Proposal] = []
    pending_rules = []
    proposals += rule_h1(w)
    for name, rule in (("H2", rule_h2), ("H3", rule_h3)):
        found, pending = rule(w)
        proposals += found
        if pending:
            pending_rules.append(name)
    proposals += rule_h4(w)
    proposals += rule_reductions(w)
    proposals += rule_nonhem(w)
    found, pending = rule_c2d1(w, today)
    proposals += found
    if pending:
        pending_rules.append("H6/N8")
    unique = {p.key: p for p in sorted(proposals, key=lambda p: (p.onset, p.rule))}
    proposals = list(unique.values())
    return Assessment(tuple(proposals), evaluability(w, proposals, today=today, pending_rules=pending_rules), tuple(pending_rules))


def evaluability(w: PatientWindow, proposals: list[Proposal], *, today: date, pending_rules: list[str] = ()) -> Evaluability:  # type: ignore[assignment]
    """Protocol s.2: evaluable once cycle 1's 28 days are complete and cycle 2 day 1 has been given
    or its planned date + 14 days has passed, or earlier if a DLT has occurred. A patient who
    cannot complete cycle 1 because of consent withdrawal or progression, without a DLT, is not
    evaluable (and is replaced)."""
    if proposals:
        first = min(proposals, key=lambda p: p.onset)
        return Evaluability(Status.EVALUABLE, f"DLT proposed: {first.rule} from {_d(first.onset)}.")
    if w.stopped_on is not None and w.in_window(w.stopped_on) and w.stopped_reason in ("withdrawal", "progression"):
        why = "withdrew consent" if w.stopped_reason == "withdrawal" else "progressed"
        return Evaluability(Status.NOT_EVALUABLE, f"Stopped treatment on {_d(w.stopped_on)} in cycle 1 ({why}) without a DLT: not evaluable, to be replaced.")
    window_done = today > w.window_end
    deadline = w.c2d1_deadline
    c2_settled = w.c2d1_given is not None or today > deadline or (w.stopped_on is not None and window_done)
    if window_done and c2_settled and not pending_rules:
        return Evaluability(Status.EVALUABLE, f"Cycle 1 complete ({_d(w.cycle1_day1)} to {_d(w.window_end)}) without a DLT.")
    until = max(w.window_end + timedelta(days=1), w.c2d1_given or deadline + timedelta(days=1)) if not window_done or not c2_settled else today
    waits = []
    if not window_done:
        waits.append(f"the window ends {_d(w.window_end)}")
    if not c2_settled:
        waits.append(f"cycle 2 day 1 or {_d(deadline)}")
    if pending_rules:
        waits.append(f"values that decide {', '.join(pending_rules)}")
    return Evaluability(Status.PENDING, "Waiting for " + "; ".join(waits) + ".", until)
