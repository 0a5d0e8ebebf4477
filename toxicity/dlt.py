"""Dose-limiting toxicity rules H1-H6 and N1-N8 (protocol s.3 and its settled readings). Pure Python.

Input: one patient's cycle-1 window, adverse events (also those that began
before cycle 1), dated lab values, cycle-1 dose modifications, cycle 2 day 1
planned and actual dates, the stop of treatment, baseline counts and marrow
involvement, and the date of evaluation. Output: proposed DLTs, each with its
rule, the evidence and a sentence a clinician can check, and the patient's DLT
evaluability. The rules propose; an investigator decides, so where the protocol
is silent they propose rather than miss a DLT. `RULE_VERSION` names this set of
rules: a stored evaluation made under another version is made again, and an
adjudicated proposal it changes is reopened ("rules corrected (version N)").

The window is cycle 1, day 1 to day 28 inclusive: an event counts when its
onset (or a lab value's date) lies in [day 1, day 1 + 27].

Attribution: only events at least possibly related to study therapy count
(possible, probable or definite for at least one drug; N1 asks for pomalidomide
or bendamustine); an event attributed to progressive disease never counts.
A lab-detected toxicity (H1-H4) takes the attribution of the adverse event of
that toxicity (neutropenia for H2, thrombocytopenia for H3 and H4, febrile
neutropenia for H1) whose onset-resolution dates cover the lab date (an ongoing
event covers every date from its onset; an event that began before cycle 1
counts too); for an episode of low values (H2, H3) every low value's date is a
lab date. Where several events cover it the strongest attribution counts (an
event attributed to progression is the weakest); where none does, the DLT is
proposed marked "attribution not recorded"; where the covering event does not
count, there is no DLT.

H1: a febrile lab is ANC < 1.0 with temperature >= 38.5 in the window. A
recorded febrile-neutropenia event (onset in the window, or covering a febrile
lab) gives H1 its attribution: a febrile lab belongs to the event covering it,
or else to the first later event of the same episode (no ANC >= 1.0 between
them). A counting event is H1, dated at the earliest evidence: its first febrile
lab, or its onset if earlier (never before day 1); an unrelated one gives no
H1. Febrile labs that belong to no event: H1 at the first of them,
"attribution not recorded".

Durations ("more than 7 days", H2 and H3) are counted from dated values:
an episode starts on the date of the first value below the threshold in the
window; it ends on the date of the first later value at or above the threshold
(recovery). Its duration is (recovery date - start date) in days. The episode
lasts more than 7 days when recovery comes 8 or more days after the start, or
when there is no recovery value and a value dated 8 or more days after the start
is still below the threshold. If the last value is below the threshold but less
than 8 days after the start, the rule is pending: a value on or after start + 8
days decides. Example: ANC 0.4 on day 3, 0.3 on day 7, 0.6 on day 10: 7 days,
not a DLT; 0.6 on day 11 instead: 8 days, a DLT. An episode that cannot count
(its event unrelated or attributed to progression, or recorded without G-CSF
for H2) is never pending.

H2 needs G-CSF: it is given when an event of neutropenia or febrile neutropenia
covering the episode records it; a covering neutropenia event recorded without
G-CSF gives no H2; with no covering neutropenia event recorded, H2 is proposed
with "attribution and G-CSF not recorded" (or "attribution not recorded" when a
febrile-neutropenia event records G-CSF).

H4 is the thrombocytopenia's DLT: a bleeding event with onset in the window, of
any attribution (progression included), completes it when its onset is within 2
days before or after a platelet value < 50 x10^9/L (grade 3-4), or lies inside
the dates of a thrombocytopenia event of grade 3-4 (or with a value < 50 in its
dates). The attribution is the thrombocytopenia's: of the event covering the
low count's date, or of the event whose dates hold the bleeding; the strongest
counts. H4 is dated at the bleeding's onset and its sentence names the bleeding
and its attribution.

H5/N7: a dose reduction within cycle 1 is proposed as H5 when the adverse event
that required it is hematologic, N7 when it is not, and as N7 "not linked"
(for the investigator to classify) when no event is linked; a linked event that
does not count gives none.

H6/N8: cycle 2 day 1 not given within 14 days of its planned date (actual -
planned > 14 days, or not given and the evaluation date is past planned + 14)
while a drug-related toxicity with onset in cycle 1 is unresolved at planned +
14 days; a hematologic one gives H6, a non-hematologic one N8. A patient who
stopped treatment for toxicity, death or the investigator's decision is judged
the same way against the planned date; one who stopped for consent withdrawal
or progression by that date is not.

N1: every grade >= 3 non-hematologic toxicity (bleeding included) related to
pomalidomide or bendamustine that no other N rule settles; nausea, vomiting,
diarrhoea (N2), neuropathy (N3), thromboembolic events (N4) and rash (N5, N6)
are settled by their own rules.

Rash N6: a grade 3 rash episode starting on date d, with steroids, is a DLT
unless an episode of the same event with grade < 2, or the event's resolution,
is dated on or before d + 10 days; it is proposed only once d + 10 has passed
(evaluation date >= d + 11). Until then, unresolved, it makes the patient
pending.

Baseline exemption: H1 and H2 are not assessed when the baseline ANC < 1.0 and
baseline marrow plasma cells > 30%; H3 not when baseline platelets < 50 and
marrow > 30% (the source amends 50% to 30%).

Evaluability (protocol s.2): evaluable once cycle 1's 28 days are complete and
cycle 2 day 1 has been given or its planned date + 14 days has passed (also for
a patient who stopped in cycle 1 for toxicity, death or the investigator's
decision), and no rule is pending; at once with a proposed DLT. Stopped in
cycle 1 for consent withdrawal or progression without a DLT: not evaluable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from .ctcae import HEMATOLOGIC, Kind

# Version 1: the rules before issue #15 (evaluations stored without a version). Version 2: attribution from the
# covering event (strongest), H2's G-CSF, H1 by the febrile-neutropenia event, H4 as the thrombocytopenia's DLT,
# N1 with bleeding, N6 after 10 days, H6/N8 after a stop for toxicity, death or the investigator's decision.
RULE_VERSION = 2
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
NOT_EVALUABLE_STOPS = frozenset({"withdrawal", "progression"})  # protocol s.2: replaced, not evaluable
MARROW_EXEMPT_PCT = Decimal(30)


class DltError(Exception):
    """Inputs the rules cannot be applied to."""


class Supportive(StrEnum):
    GCSF = "gcsf"
    ANTIEMETIC = "max_antiemetic"
    ANTIDIARRHEAL = "max_antidiarrheal"
    STEROIDS = "steroids"


SUPPORTIVE_VALUES = frozenset(s.value for s in Supportive)


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
class ConMed:
    """A concomitant medication as the window builder reads it: its supportive-care category (a Supportive value,
    or "other"), its dates, and the events it treats (the ids of their first episodes, AdverseEvent.event)."""

    category: str
    start: date
    stop: date | None = None  # None: ongoing
    events: frozenset[int] = frozenset()
    id: int = 0  # the record (toxicity.ConMed), for the evidence shown with a missed DLT ("conmed:7")
    drug: str = ""  # its generic name and dose as recorded, e.g. "filgrastim 300 ug"

    def overlaps(self, onset: date, resolved: date | None) -> bool:
        """Given while the event lasted: started on or before its resolution, stopped (or ongoing) on or after its onset."""
        return (resolved is None or self.start <= resolved) and (self.stop is None or self.stop >= onset)


def supportive_from_conmeds(event: AdverseEvent, conmeds: Sequence[ConMed]) -> frozenset[str]:
    """The supportive care an episode received (protocol s.3: H2 "despite G-CSF", N2 "despite maximal supportive
    therapy", N6 "despite steroids"): the flags recorded on the event itself (the AE form's former checkboxes, kept as
    recorded) and the category of every conmed linked to its event and given within the episode's dates.
    A conmed of category "other" gives none."""
    root = event.event if event.event is not None else event.id
    given = {c.category for c in conmeds if root in c.events and c.category in SUPPORTIVE_VALUES and c.overlaps(event.onset, event.resolved)}
    return event.supportive | frozenset(given)


def with_conmeds(events: Sequence[AdverseEvent], conmeds: Sequence[ConMed]) -> tuple[AdverseEvent, ...]:
    """The events with their supportive care from the linked conmeds (supportive_from_conmeds)."""
    if not conmeds:
        return tuple(events)
    return tuple(replace(e, supportive=supportive_from_conmeds(e, conmeds)) for e in events)


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
    # The supportive-care conmeds linked to events (their care is already in each event's `supportive`, with_conmeds):
    # kept to name them in the evidence of a missed DLT (H2's G-CSF); the rules themselves do not read them.
    conmeds: tuple[ConMed, ...] = ()

    @property
    def window_end(self) -> date:
        return self.cycle1_day1 + timedelta(days=self.window_days - 1)

    def in_window(self, day: date) -> bool:
        return self.cycle1_day1 <= day <= self.window_end

    @property
    def c2d1_planned_on(self) -> date:
        """Cycle 2 day 1 as planned (cycle 1 day 1 + the cycle length when no cycle 2 is planned yet)."""
        return self.c2d1_planned or self.cycle1_day1 + timedelta(days=self.window_days)

    @property
    def c2d1_deadline(self) -> date:
        return self.c2d1_planned_on + timedelta(days=C2D1_GRACE_DAYS)


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
    pending_until: date | None = None  # the last date a pending rule waits for (the rules decide by then)


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


def _attribution_text(e: AdverseEvent) -> str:
    if e.progression:
        return "attributed to progression"
    return ", ".join(f"{drug} {level}" for drug, level in sorted(e.attribution.items()) if level in RELATED) or "not related"


def _ae_evidence(e: AdverseEvent) -> Evidence:
    related = _attribution_text(e)
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


def _covers(e: AdverseEvent, on: date) -> bool:
    """The event's onset-resolution dates hold `on` (an ongoing event covers every date from its onset)."""
    return e.onset <= on and (e.resolved is None or on <= e.resolved)


def _strength(e: AdverseEvent) -> int:
    """The event's strongest attribution on the CTCAE scale (0 unrelated .. 4 definite); -1 when attributed to progression."""
    if e.progression:
        return -1
    return max((ATTRIBUTIONS.index(level) for level in e.attribution.values() if level in ATTRIBUTIONS), default=0)


def _strongest(events: list[AdverseEvent]) -> AdverseEvent | None:
    """The event with the strongest attribution (ties: the earliest onset, then the lowest id)."""
    return max(events, key=lambda e: (_strength(e), -e.onset.toordinal(), -e.id)) if events else None


def _covering(w: PatientWindow, kinds: frozenset[Kind], dates: list[date]) -> list[AdverseEvent]:
    """The events of these kinds, whatever their onset (before cycle 1 too), whose dates cover one of `dates`."""
    return [e for e in w.events if e.kind in kinds and any(_covers(e, on) for on in dates)]


def _attribution(w: PatientWindow, kind: Kind, dates: list[date]) -> tuple[bool, AdverseEvent | None]:
    """Settled reading s.3: a lab-detected toxicity takes the attribution of the event of that toxicity covering the
    lab date, the strongest where several do. Returns (may count, event): (True, None) is "attribution not recorded"."""
    event = _strongest(_covering(w, frozenset({kind}), dates))
    return (event is None or _counts(event)), event


# ---------------------------------------------------------------- the rules


def _exempt_neutrophils(w: PatientWindow) -> bool:
    return w.baseline_anc < ANC_FN and w.baseline_marrow_pct > MARROW_EXEMPT_PCT


def _exempt_platelets(w: PatientWindow) -> bool:
    return w.baseline_platelets < PLT_G3 and w.baseline_marrow_pct > MARROW_EXEMPT_PCT


def _febrile(lab: LabValue) -> bool:
    return lab.anc is not None and lab.temperature is not None and lab.anc < ANC_FN and lab.temperature >= FEVER_C


LAB_EVIDENCE = {"anc": ("ANC", "x10^9/L"), "platelets": ("Platelets", "x10^9/L"), "temperature": ("Temperature", "C")}


def _lab_value(name: str, on: date, value: object) -> Evidence:
    """One lab value as evidence ("ANC", its date, "0.4 x10^9/L", the panel's reference)."""
    what, unit = LAB_EVIDENCE[name]
    return Evidence(what, on, f"{value} {unit}", f"lab:{_d(on)}")


def _lab_evidence(lab: LabValue) -> tuple[Evidence, ...]:
    return (_lab_value("anc", lab.on, lab.anc), _lab_value("temperature", lab.on, lab.temperature))


def rule_h1(w: PatientWindow) -> list[Proposal]:
    """H1 febrile neutropenia, by the recorded event and by values (settled reading s.3: the event gives the values
    their attribution; H1 is dated at the earliest evidence)."""
    if _exempt_neutrophils(w):
        return []
    febrile = [lab for lab in sorted(w.labs, key=lambda v: v.on) if w.in_window(lab.on) and _febrile(lab)]
    events = [e for e in w.events if e.kind == Kind.FEBRILE_NEUTROPENIA and (w.in_window(e.onset) or any(_covers(e, lab.on) for lab in febrile))]
    anc_recovered = [lab.on for lab in w.labs if lab.anc is not None and lab.anc >= ANC_FN]
    attached: dict[int, list[LabValue]] = {e.id: [] for e in events}
    loose: list[LabValue] = []
    for lab in febrile:
        covering = [e for e in events if _covers(e, lab.on)]
        # Not covered: the first later event of the same episode (no ANC >= 1.0 between the lab and its onset).
        later = [e for e in events if e.onset > lab.on and not any(lab.on < on < e.onset for on in anc_recovered)]
        owner = _strongest(covering) if covering else min(later, key=lambda e: (e.onset, e.id)) if later else None
        if owner is None:
            loose.append(lab)
        else:
            attached[owner.id].append(lab)
    out = []
    for e in events:
        labs = attached[e.id]
        dates = [lab.on for lab in labs] + ([e.onset] if w.in_window(e.onset) else [])
        if not _counts(e) or not dates:
            continue
        onset = min(dates)
        sentence = f"Febrile neutropenia grade {e.grade} from {_d(e.onset)}"
        if labs:
            first = labs[0]
            sentence += f", ANC {first.anc} x10^9/L (< 1.0) with fever {first.temperature} C (>= 38.5) on {_d(first.on)}; H1 from {_d(onset)}"
        sentence += ", in cycle 1, at least possibly related."  # without values, the sentence of rule version 1
        evidence = (_ae_evidence(e), *(ev for lab in labs for ev in _lab_evidence(lab)))
        out.append(Proposal("H1", RULE_TITLES["H1"], onset, sentence, evidence, (e.id,)))
    if loose:
        lab = loose[0]
        out.append(
            Proposal(
                "H1",
                RULE_TITLES["H1"],
                lab.on,
                f"ANC {lab.anc} x10^9/L (< 1.0) with fever {lab.temperature} C (>= 38.5) on {_d(lab.on)}, in cycle 1; attribution not recorded.",
                _lab_evidence(lab),
                (),
                attribution_recorded=False,
            )
        )
    return out


# A duration rule's extra condition, given the episode's low dates and its attributing event:
# (met: True, False = cannot count, note for the sentence, extra evidence).
Condition = Callable[[list[date], AdverseEvent | None], tuple[bool, str, tuple[Evidence, ...]]]


def _no_condition(lows: list[date], ae: AdverseEvent | None) -> tuple[bool, str, tuple[Evidence, ...]]:
    return True, "", ()  # H3: "attribution not recorded" is the proposal's flag, as in rule version 1


def _duration_rule(
    w: PatientWindow, *, rule: str, series: str, threshold: Decimal, kind: Kind, label: str, condition: Condition
) -> tuple[list[Proposal], list[date]]:
    """Episodes below `threshold` lasting more than 7 days; also the dates from which the pending ones may be decided
    (an episode that cannot count, by its attribution or its condition, is never pending)."""
    out, pending = [], []
    for ep in episodes(_series(w.labs, series), threshold, start_from=w.cycle1_day1, end=w.window_end):
        lows = [on for on, value in ep.values if value < threshold]
        may_count, ae = _attribution(w, kind, lows)
        if not may_count:
            continue
        ok, note, extra = condition(lows, ae)
        if not ok:
            continue
        verdict = ep.more_than(MORE_THAN_DAYS)
        if verdict is None:
            pending.append(ep.start + timedelta(days=MORE_THAN_DAYS + 1))
            continue
        if not verdict:
            continue
        if ep.recovery:
            span = f"{ep.days} days ({_d(ep.start)} to recovery on {_d(ep.recovery)})"
        else:
            span = f"more than 7 days (below since {_d(ep.start)}, still {dict(ep.values)[ep.last_low]} on {_d(ep.last_low)})"
        sentence = f"{label} < {threshold} x10^9/L for {span}, lowest {ep.lowest}{note}."
        evidence = _episode_evidence(label, ep) + ((_ae_evidence(ae),) if ae else ()) + extra
        out.append(Proposal(rule, RULE_TITLES[rule], ep.start, sentence, evidence, (ae.id,) if ae else (), attribution_recorded=ae is not None))
    return out, pending


def rule_h2(w: PatientWindow) -> tuple[list[Proposal], list[date]]:
    if _exempt_neutrophils(w):
        return [], []

    def gcsf(lows: list[date], ae: AdverseEvent | None) -> tuple[bool, str, tuple[Evidence, ...]]:
        """Settled reading s.3: H2 needs G-CSF; a neutropenia event recorded without it gives no H2; with none recorded,
        H2 is proposed with "attribution and G-CSF not recorded"."""
        covering = _covering(w, frozenset({Kind.NEUTROPENIA, Kind.FEBRILE_NEUTROPENIA}), lows)
        given = [e for e in covering if Supportive.GCSF in e.supportive]
        if given:
            extra = tuple(_ae_evidence(e) for e in given if e is not ae)
            return True, ("; G-CSF given" if ae else "; G-CSF given; attribution not recorded"), extra
        if ae is not None:
            return False, "", ()
        return True, "; attribution and G-CSF not recorded", ()

    return _duration_rule(w, rule="H2", series="anc", threshold=ANC_G4, kind=Kind.NEUTROPENIA, label="ANC", condition=gcsf)


def rule_h3(w: PatientWindow) -> tuple[list[Proposal], list[date]]:
    if _exempt_platelets(w):
        return [], []
    return _duration_rule(w, rule="H3", series="platelets", threshold=PLT_G4, kind=Kind.THROMBOCYTOPENIA, label="Platelets", condition=_no_condition)


def rule_h4(w: PatientWindow) -> list[Proposal]:
    """H4, the thrombocytopenia's DLT (settled reading s.3): a bleeding event of any attribution completes it."""
    out = []
    platelets = _series(w.labs, "platelets")
    thrombo = [e for e in w.events if e.kind == Kind.THROMBOCYTOPENIA]

    def grade_3_4(t: AdverseEvent) -> bool:
        return t.grade >= 3 or any(v < PLT_G3 and _covers(t, on) for on, v in platelets)

    for b in w.events:
        if b.kind != Kind.BLEEDING or not w.in_window(b.onset):
            continue
        # Candidates: (thrombocytopenia event or None, the low count or None); each gives its attribution.
        candidates: list[tuple[AdverseEvent | None, tuple[date, Decimal] | None]] = []
        for on, value in platelets:
            if value < PLT_G3 and abs((on - b.onset).days) <= BLEEDING_PLATELET_DAYS:
                candidates.append((_strongest([t for t in thrombo if _covers(t, on)]), (on, value)))
        candidates += [(t, None) for t in thrombo if _covers(t, b.onset) and grade_3_4(t)]
        counting = [c for c in candidates if c[0] is not None and _counts(c[0])]
        if counting:
            t = _strongest([c[0] for c in counting if c[0] is not None])
            # The low count shown: one this event covers, else any within 2 days of the bleeding.
            counts = [c[1] for c in counting if c[0] is t and c[1] is not None] or [c[1] for c in candidates if c[1] is not None]
            count = min(counts, key=lambda p: p[1], default=None)
        else:
            unrecorded = [c[1] for c in candidates if c[0] is None and c[1] is not None]
            if not unrecorded:
                continue
            t, count = None, min(unrecorded, key=lambda p: p[1])
        sentence = f"{b.name} grade {b.grade} from {_d(b.onset)} ({_attribution_text(b)})"
        evidence = [_ae_evidence(b)]
        if count is not None:
            sentence += f" with platelets {count[1]} x10^9/L (< 50) on {_d(count[0])}"
            evidence.append(_lab_value("platelets", count[0], count[1]))
        if t is not None:
            span = f"{_d(t.onset)} to {_d(t.resolved)}" if t.resolved else f"from {_d(t.onset)}"
            sentence += f"{',' if count else ''} during {t.name.lower()} grade {t.grade} ({span}; {_attribution_text(t)})."
            evidence.append(_ae_evidence(t))
        else:
            sentence += "; thrombocytopenia attribution not recorded."
        out.append(Proposal("H4", RULE_TITLES["H4"], b.onset, sentence, tuple(evidence), (b.id,) + ((t.id,) if t else ()), attribution_recorded=t is not None))
    return out


NOT_LINKED = "a toxicity not linked to the reduction"  # H5/N7 "not linked": the investigator classifies it


def rule_reductions(w: PatientWindow) -> list[Proposal]:
    """H5 and N7: a toxicity requiring a dose reduction within cycle 1; a reduction linked to no adverse event is
    proposed as N7 "not linked" for the investigator to classify (settled reading s.3)."""
    by_id = {e.id: e for e in w.events}
    out = []
    for m in w.modifications:
        if m.kind not in ("reduce_level", "reduce_dose") or not (m.in_cycle_1 or w.in_window(m.on)):
            continue
        e = by_id.get(m.event_id) if m.event_id is not None else None
        if e is not None and not _counts(e):
            continue
        rule = "H5" if e is not None and e.hematologic else "N7"
        what = (
            f"{e.name} grade {e.grade}"
            if e
            else "a toxicity not linked to the reduction (H5/N7 not linked: hematologic or not, for the investigator to classify)"
        )
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


def _stopped_unevaluable(w: PatientWindow, by: date) -> bool:
    """Stopped treatment for consent withdrawal or progression on or before `by`."""
    return w.stopped_on is not None and w.stopped_reason in NOT_EVALUABLE_STOPS and w.stopped_on <= by


def rule_c2d1(w: PatientWindow, today: date) -> list[Proposal]:
    """H6 and N8: cycle 2 day 1 more than 14 days late because of a cycle-1 toxicity; a patient who stopped for
    toxicity, death or the investigator's decision is judged against the planned date (settled reading s.3)."""
    planned, deadline = w.c2d1_planned_on, w.c2d1_deadline
    if w.c2d1_given is not None:
        late = (w.c2d1_given - planned).days > C2D1_GRACE_DAYS
    elif _stopped_unevaluable(w, deadline):
        return []
    else:
        late = today > deadline
    if not late:
        return []
    if w.c2d1_given:
        given = f"given {_d(w.c2d1_given)}"
    elif w.stopped_on is not None:
        given = f"not given (treatment stopped {_d(w.stopped_on)}, {w.stopped_reason})"
    else:
        given = f"not given by {_d(today)}"
    out = []
    for e in w.events:
        if not w.in_window(e.onset) or not _counts(e):
            continue
        if e.resolved is not None and e.resolved <= deadline:
            continue
        rule = "H6" if e.hematologic else "N8"
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
    return out


def rule_nonhem(w: PatientWindow, today: date) -> tuple[list[Proposal], list[date]]:
    """N1-N6 on the adverse events with onset in cycle 1; also the dates from which pending rashes (N6) are decided."""
    out, pending = [], []
    for e in w.events:
        if e.hematologic or not w.in_window(e.onset) or e.progression:
            continue
        rule, sentence, decides_on = _nonhem_rule(w, e, today)
        if rule:
            out.append(Proposal(rule, RULE_TITLES[rule], e.onset, sentence, (_ae_evidence(e),), (e.id,)))
        elif decides_on:
            pending.append(decides_on)
    return out, pending


def _nonhem_rule(w: PatientWindow, e: AdverseEvent, today: date) -> tuple[str | None, str, date | None]:
    """The N rule this event meets and its sentence; or, for a rash that may still become N6, the date that decides."""
    base = f"{e.name} grade {e.grade} from {_d(e.onset)}"
    if not e.related():
        return None, "", None
    if e.kind in (Kind.NAUSEA_VOMITING, Kind.DIARRHEA):
        need = Supportive.ANTIDIARRHEAL if e.kind == Kind.DIARRHEA else Supportive.ANTIEMETIC
        if e.grade >= 3 and need in e.supportive:
            return "N2", f"{base} despite maximal {'antidiarrheal' if need == Supportive.ANTIDIARRHEAL else 'antiemetic'} therapy.", None
        return None, "", None
    if e.kind == Kind.NEUROPATHY:
        return ("N3", f"{base} with pain.", None) if e.grade >= 3 and e.with_pain else (None, "", None)
    if e.kind == Kind.THROMBOEMBOLIC:
        return ("N4", f"{base}: venous thromboembolism.", None) if e.grade >= 3 else (None, "", None)
    if e.kind == Kind.OTHER_THROMBOTIC:  # s.3: N1 excepts thrombotic events, and N4 is venous only
        return None, "", None
    if e.kind == Kind.RASH:
        if e.grade >= 4:
            return "N5", f"{base}.", None
        if e.grade == 3 and Supportive.STEROIDS in e.supportive:
            limit = e.onset + timedelta(days=RASH_RECOVERY_DAYS)
            back = _rash_back_below_2(w, e)
            if back is not None and back <= limit:
                return None, "", None
            if today <= limit:  # settled reading s.3: N6 only once onset + 10 days has passed; pending until then
                return None, "", limit + timedelta(days=1)
            when = f"below grade 2 only on {_d(back)}" if back else f"not below grade 2 by {_d(limit)}"
            return "N6", f"{base}, {when}: more than 10 days despite steroids.", None
        return None, "", None
    if e.grade >= 3 and e.related(N1_DRUGS):
        return "N1", f"{base}, related to {', '.join(d for d, lv in sorted(e.attribution.items()) if lv in RELATED and d in N1_DRUGS)}.", None
    return None, "", None


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
    pending_rules: list[str] = []
    pending_dates: list[date] = []
    proposals += rule_h1(w)
    for name, rule in (("H2", rule_h2), ("H3", rule_h3)):
        found, pending = rule(w)
        proposals += found
        if pending:
            pending_rules.append(name)
            pending_dates += pending
    proposals += rule_h4(w)
    proposals += rule_reductions(w)
    found, pending = rule_nonhem(w, today)
    proposals += found
    if pending:
        pending_rules.append("N6")
        pending_dates += pending
    proposals += rule_c2d1(w, today)
    unique = {p.key: p for p in sorted(proposals, key=lambda p: (p.onset, p.rule))}
    proposals = list(unique.values())
    until = max(pending_dates) if pending_dates else None
    return Assessment(
        tuple(proposals),
        evaluability(w, proposals, today=today, pending_rules=pending_rules, pending_until=until),
        tuple(pending_rules),
        until,
    )


def evaluability(
    w: PatientWindow, proposals: list[Proposal], *, today: date, pending_rules: Sequence[str] = (), pending_until: date | None = None
) -> Evaluability:
    """Protocol s.2 and the settled readings of s.3: evaluable once cycle 1's 28 days are complete and cycle 2 day 1
    has been given or its planned date + 14 days has passed (also after a stop in cycle 1 for toxicity, death or the
    investigator's decision: H6/N8 look that far), and no rule is pending; or earlier if a DLT has occurred. A patient
    who cannot complete cycle 1 because of consent withdrawal or progression, without a DLT, is not evaluable (and is
    replaced)."""
    if proposals:
        first = min(proposals, key=lambda p: p.onset)
        return Evaluability(Status.EVALUABLE, f"DLT proposed: {first.rule} from {_d(first.onset)}.")
    if w.stopped_on is not None and w.in_window(w.stopped_on) and w.stopped_reason in NOT_EVALUABLE_STOPS:
        why = "withdrew consent" if w.stopped_reason == "withdrawal" else "progressed"
        return Evaluability(Status.NOT_EVALUABLE, f"Stopped treatment on {_d(w.stopped_on)} in cycle 1 ({why}) without a DLT: not evaluable, to be replaced.")
    window_done = today > w.window_end
    deadline = w.c2d1_deadline
    # A stop for withdrawal or progression after the window, before cycle 2: H6/N8 cannot apply, nothing to wait for.
    c2_settled = w.c2d1_given is not None or today > deadline or (window_done and _stopped_unevaluable(w, deadline))
    if window_done and c2_settled and not pending_rules:
        return Evaluability(Status.EVALUABLE, f"Cycle 1 complete ({_d(w.cycle1_day1)} to {_d(w.window_end)}) without a DLT.")
    dates, waits = [], []
    if not window_done:
        dates.append(w.window_end + timedelta(days=1))
        waits.append(f"the window ends {_d(w.window_end)}")
    if not c2_settled:
        dates.append(deadline + timedelta(days=1))
        waits.append(f"cycle 2 day 1 or {_d(deadline)}")
    if pending_rules:
        dates.append(max(pending_until or today, today))
        waits.append(f"values that decide {', '.join(pending_rules)}" if list(pending_rules) != ["N6"] else "the rash's course that decides N6")
    return Evaluability(Status.PENDING, "Waiting for " + "; ".join(waits) + ".", max(dates))


# ---------------------------------------------------------------- what the rules see for one criterion


@dataclass(frozen=True)
class CriterionEvidence:
    """What the rules read for one criterion in the patient's window, and whether they propose it:
    shown to an investigator who records a DLT the rules did not propose."""

    rule: str
    supported: bool
    evidence: tuple[Evidence, ...]


def _window_labs(w: PatientWindow, *names: str) -> tuple[Evidence, ...]:
    labs = sorted((lab for lab in w.labs if w.in_window(lab.on)), key=lambda v: v.on)
    return tuple(_lab_value(name, lab.on, getattr(lab, name)) for lab in labs for name in names if getattr(lab, name) is not None)


def _window_events(w: PatientWindow, keep: Callable[[AdverseEvent], bool]) -> tuple[Evidence, ...]:
    return tuple(_ae_evidence(e) for e in sorted(w.events, key=lambda e: (e.onset, e.id)) if w.in_window(e.onset) and keep(e))


def _gcsf_evidence(w: PatientWindow) -> tuple[Evidence, ...]:
    """Each neutropenia event of the window, then the G-CSF it received: the linked G-CSF conmeds (saying when one
    was not given within the event's dates, which the rules do not count), or the event's own G-CSF flag, or none."""
    kinds = (Kind.NEUTROPENIA, Kind.FEBRILE_NEUTROPENIA)
    events = sorted((e for e in w.events if e.kind in kinds and w.in_window(e.onset)), key=lambda e: (e.onset, e.id))
    if not events:
        return (Evidence("Neutropenia event", w.cycle1_day1, "none recorded in the window: attribution and G-CSF not recorded"),)
    out: list[Evidence] = []
    for e in events:
        out.append(_ae_evidence(e))
        root = e.event if e.event is not None else e.id
        linked = sorted((c for c in w.conmeds if c.category == Supportive.GCSF and root in c.events), key=lambda c: (c.start, c.id))
        for c in linked:
            dates = f"from {_d(c.start)}" + (f" to {_d(c.stop)}" if c.stop else ", ongoing")
            during = "" if c.overlaps(e.onset, e.resolved) else "; not given within the event's dates"
            out.append(Evidence(f"G-CSF {c.drug}".strip(), c.start, f"{dates}, for {e.name} grade {e.grade}{during}", f"conmed:{c.id}"))
        if not any(c.overlaps(e.onset, e.resolved) for c in linked):
            # What the rules read then (the event's supportive care, with_conmeds): its own G-CSF flag, or none.
            if Supportive.GCSF in e.supportive:
                text = "given (recorded on the event" + (", no G-CSF medication linked)" if not linked else "; no linked G-CSF within its dates)")
            else:
                text = "not recorded for this event" if not linked else "not counted: no G-CSF within the event's dates"
            out.append(Evidence("G-CSF", e.onset, f"{text}, for {e.name} grade {e.grade}", f"ae:{e.id}"))
    return tuple(out)


def _delay_evidence(w: PatientWindow, *, today: date) -> tuple[Evidence, ...]:
    """The dose delay H3 is "despite": the cycle start dates (cycle 2 day 1's delay from its plan) and cycle 1's holds."""
    planned = w.c2d1_planned_on
    if w.c2d1_given is not None:
        late = (w.c2d1_given - planned).days
        c2 = f"planned {_d(planned)}, given {_d(w.c2d1_given)}" + (f": delayed {late} days" if late > 0 else ": not delayed")
    else:
        c2 = f"planned {_d(planned)}, not given yet" + (f": delayed {(today - planned).days} days so far" if today > planned else "")
    holds = tuple(Evidence("Modification: hold", m.on, "cycle 1", f"mod:{m.id}") for m in w.modifications if m.in_cycle_1 and m.kind == "hold")
    return (Evidence("Cycle 1 day 1", w.cycle1_day1, f"given {_d(w.cycle1_day1)}", "cycle:1"), *holds, Evidence("Cycle 2 day 1", planned, c2, "cycle:2"))


def criterion_evidence(w: PatientWindow, rule: str, *, today: date) -> CriterionEvidence:
    """The evidence the rules see for `rule` in the window: the proposals' own evidence when the rules propose
    it, else the values the criterion reads (ANC and temperature for H1, ANC for H2, platelet counts for H3,
    platelet counts and bleeding events for H4, cycle 1 modifications for H5/N7, cycle 2 day 1 for H6/N8,
    the non-hematologic events of the window for N1-N6).

    H2 ("despite G-CSF") also shows each neutropenia event of the window with whether G-CSF was given, naming
    the G-CSF conmeds linked to it (settled reading s.3: a neutropenia event recorded without G-CSF gives no H2);
    H3 ("despite dose delay") the thrombocytopenia events and the delay: cycle 1 day 1, cycle 2 day 1 planned and
    given, and any hold in cycle 1."""
    if rule not in RULE_TITLES:
        raise DltError(f"{rule} is not a protocol criterion.")
    found = [p for p in assess(w, today=today).proposals if p.rule == rule]
    if found:
        return CriterionEvidence(rule, True, tuple(e for p in found for e in p.evidence))
    if rule == "H1":
        ev = _window_labs(w, "anc", "temperature") + _window_events(w, lambda e: e.kind == Kind.FEBRILE_NEUTROPENIA)
    elif rule == "H2":
        ev = _window_labs(w, "anc") + _gcsf_evidence(w)
    elif rule == "H3":
        ev = _window_labs(w, "platelets") + _window_events(w, lambda e: e.kind == Kind.THROMBOCYTOPENIA) + _delay_evidence(w, today=today)
    elif rule == "H4":
        ev = _window_labs(w, "platelets") + _window_events(w, lambda e: e.kind in (Kind.BLEEDING, Kind.THROMBOCYTOPENIA))
    elif rule in ("H5", "N7"):
        ev = tuple(Evidence(f"Modification: {m.kind.replace('_', ' ')}", m.on, "cycle 1", f"mod:{m.id}") for m in w.modifications if m.in_cycle_1)
    elif rule in ("H6", "N8"):
        given = _d(w.c2d1_given) if w.c2d1_given else "not given yet"
        ev = (Evidence("Cycle 2 day 1", w.c2d1_planned_on, f"planned {_d(w.c2d1_planned_on)}, given {given}", "cycle:2"),)
    else:
        ev = _window_events(w, lambda e: not e.hematologic)
    return CriterionEvidence(rule, False, ev)
