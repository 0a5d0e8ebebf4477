"""Synthetic toxicity for synthetic patients: cycle-1 lab panels and adverse events, bulk-written.

For benchmarks and load tests only (never a real patient). The same seed and
the same patients in the same order give the same values. About one patient in
five has a pattern one of the DLT rules proposes (protocol s.3); the others
have the ordinary myelosuppression and low-grade events of the regimen, kept
clear of every rule's threshold so that the fraction is the one chosen here:

- H2: ANC < 0.5 x10^9/L for 8-12 days, neutropenia grade 4 treated with G-CSF;
- H1: ANC < 1.0 with a temperature >= 38.5 C, febrile neutropenia grade 3;
- H3: platelets < 25 x10^9/L for 8-12 days, thrombocytopenia grade 4;
- N2: nausea grade 3 despite maximal antiemetic therapy.

Every event is resolved by day 35 of cycle 1 (or still open when that day is
after `today`), so none is left unresolved at cycle 2 day 1 + 14 days (H6/N8).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from simple_history.utils import bulk_create_with_history

from accounts.models import User
from cohorts.models import Drug, Patient
from dosing.models import Cycle
from toxicity import ctcae
from toxicity.ctcae import meddra, shipped
from toxicity.dlt import ANC_FN, MARROW_EXEMPT_PCT
from toxicity.models import AdverseEvent, LabResult

VISIT_DAYS = (1, 8, 15, 22)  # the protocol's cycle-1 panels
EXTRA_DAYS = (4, 11, 18, 25)  # panels some patients also have
PATTERNS = (("ordinary", 80), ("H2", 6), ("H1", 5), ("H3", 4), ("N2", 5))
LAST_RESOLUTION_DAY = 35  # before cycle 2 day 1 + 14 days (day 43): no H6/N8 from synthetic data
REASON = "Synthetic data"

# Attribution choices by term and drug; a drug not named is unrelated or unlikely.
HEME = {"bendamustine": ("possible", "probable"), "pomalidomide": ("possible", "probable"), "dexamethasone": ("unrelated", "unlikely")}
ATTRIBUTION = {
    meddra("Neutrophil count decreased"): HEME,
    meddra("Febrile neutropenia"): HEME,
    meddra("Platelet count decreased"): HEME,
    meddra("Anemia"): HEME,
    meddra("White blood cell decreased"): HEME,
    meddra("Nausea"): {"bendamustine": ("possible", "probable"), "pomalidomide": ("unlikely", "possible")},
    meddra("Constipation"): {"pomalidomide": ("possible",), "bendamustine": ("unlikely", "possible")},
    meddra("Fatigue"): {"bendamustine": ("possible",), "pomalidomide": ("possible",), "dexamethasone": ("unlikely", "possible")},
    meddra("Rash maculo-papular"): {"bendamustine": ("possible",), "pomalidomide": ("possible", "probable")},
    meddra("Peripheral sensory neuropathy"): {"pomalidomide": ("unlikely", "possible")},
    meddra("Insomnia"): {"dexamethasone": ("possible", "probable")},
    meddra("Hyperglycemia"): {"dexamethasone": ("probable",)},
    meddra("Edema limbs"): {"dexamethasone": ("possible",), "pomalidomide": ("unlikely", "possible")},
}
# Low-grade events of the regimen: (term, highest grade drawn). Grade <= 2 never meets an N rule.
ORDINARY_EVENTS = (
    (meddra("Fatigue"), 2),
    (meddra("Nausea"), 2),
    (meddra("Constipation"), 2),
    (meddra("Rash maculo-papular"), 2),
    (meddra("Peripheral sensory neuropathy"), 2),
    (meddra("Insomnia"), 1),
    (meddra("Hyperglycemia"), 2),
    (meddra("Edema limbs"), 1),
)


@dataclass
class Summary:
    patients: int = 0
    labs: int = 0
    events: int = 0
    patterns: Counter = field(default_factory=Counter)


@dataclass
class _Patient:
    """One patient's synthetic cycle 1, built before anything is written."""

    patient: Patient
    day1: date
    today: date
    drugs: list[str]
    rng: random.Random
    panels: dict[int, dict[str, Decimal]] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)

    def on(self, day: int) -> date:
        return self.day1 + timedelta(days=day - 1)

    def seen(self, day: int) -> bool:
        return self.on(day) <= self.today

    def attribution(self, term: str) -> dict[str, str]:
        choices = ATTRIBUTION.get(term, {})
        return {drug: self.rng.choice(choices.get(drug, ("unrelated", "unlikely"))) for drug in self.drugs}

    def event(self, term: str, grade: int, onset_day: int, resolved_day: int | None, **extra) -> None:
        """An adverse event as known on `today`: not recorded before its onset, open until its resolution."""
        ctcae.check_grade(shipped("5.0").term(term), grade)
        if not self.seen(onset_day):
            return
        resolved_day = min(resolved_day, LAST_RESOLUTION_DAY) if resolved_day is not None else None
        resolved = self.on(resolved_day) if resolved_day is not None and self.seen(resolved_day) else None
        self.events.append(
            {
                "term": term,
                "grade": grade,
                "onset": self.on(onset_day),
                "resolved": resolved,
                "outcome": AdverseEvent.Outcome.RECOVERED if resolved else AdverseEvent.Outcome.NOT_RECOVERED,
                "attribution": self.attribution(term),
                **extra,
            }
        )


def _q(value: float, places: str) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places))


def _curve(base: float, nadir: float, nadir_day: int, day: int, recovered_by: int = 28) -> float:
    """Down in a straight line from day 1 to the nadir, back up to the baseline by `recovered_by`."""
    if day <= nadir_day:
        return base - (base - nadir) * (day - 1) / max(nadir_day - 1, 1)
    return nadir + (base - nadir) * min(1.0, (day - nadir_day) / max(recovered_by - nadir_day, 1))


def _panels(s: _Patient, days: Iterable[int], anc: Callable[[int], float], platelets: Callable[[int], float], fever: dict[int, float]) -> None:
    rng, p = s.rng, s.patient
    hb0 = rng.uniform(9.5, 13.8)
    hb_nadir = hb0 - rng.uniform(0.3, 2.2)
    lymphocytes = rng.uniform(0.5, 1.8)
    for day in sorted(set(days)):
        if not s.seen(day) or (p.consent_date is not None and s.on(day) < p.consent_date):
            continue
        a = anc(day)
        s.panels[day] = {
            "anc": _q(a, "0.01"),
            "platelets": _q(platelets(day), "0.1"),
            "hemoglobin": _q(_curve(hb0, hb_nadir, 18, day), "0.1"),
            "wbc": _q(a + lymphocytes + rng.uniform(0.1, 0.6), "0.01"),
            "temperature": _q(fever.get(day, rng.uniform(36.2, 37.6)), "0.1"),
        }


def _lab_events(s: _Patient, name: str, term: str, grader, *, least: int, **extra) -> None:
    """The adverse event matching the worst graded value, from its first date to the first better panel."""
    days = sorted(s.panels)
    graded = [(d, grader(s.panels[d][name])) for d in days]
    worst = max((g for _, g in graded), default=0)
    if worst < least:
        return
    onset = next(d for d, g in graded if g == worst)
    better = next((d for d, g in graded if d > onset and g < worst), None)
    s.event(term, min(worst, shipped("5.0").term(term).max_grade), onset, better if better is not None else onset + s.rng.randint(4, 9), **extra)


def _ordinary(s: _Patient, exempt: bool) -> None:
    """Myelosuppression of the regimen without a DLT: ANC >= 0.5 (a few dip below for 3 days), platelets >= 30, no fever below ANC 1.0."""
    rng, p = s.rng, s.patient
    anc0, plt0 = float(p.baseline_anc), float(p.baseline_platelets)
    nadir_day = rng.randint(12, 16)
    anc_nadir = max(0.55, anc0 * rng.uniform(0.2, 0.85))
    plt_nadir = max(30.0, plt0 * rng.uniform(0.3, 0.9))
    days = set(VISIT_DAYS) | set(rng.sample(EXTRA_DAYS, rng.randint(0, 2)))
    # Some dip below 0.5 on day 15 and are back above it on day 18: 3 days, not "more than 7 days" (H2).
    dip = rng.uniform(0.3, 0.49) if not exempt and rng.random() < 0.1 else None
    if dip is not None:
        days |= {15, 18}

    def anc(day: int) -> float:
        if dip is not None and day == 15:
            return dip
        return max(0.55, _curve(anc0, anc_nadir, nadir_day, day))

    fever = {}
    if rng.random() < 0.05:
        day = rng.choice(VISIT_DAYS[1:])
        if anc(day) >= 1.0:  # fever with ANC >= 1.0 is not febrile neutropenia (H1)
            fever[day] = rng.uniform(38.5, 39.2)
    _panels(s, days, anc, lambda d: max(30.0, _curve(plt0, plt_nadir, nadir_day + 1, d)), fever)
    _lab_events(s, "anc", meddra("Neutrophil count decreased"), ctcae.grade_anc, least=2)
    _lab_events(s, "platelets", meddra("Platelet count decreased"), ctcae.grade_platelets, least=2)
    _lab_events(s, "hemoglobin", meddra("Anemia"), ctcae.grade_hemoglobin, least=2)
    for term, top in rng.sample(ORDINARY_EVENTS, rng.randint(0, 3)):
        onset = rng.randint(2, 24)
        s.event(term, rng.randint(1, top), onset, onset + rng.randint(2, 12))


def _h2(s: _Patient) -> None:
    """Grade 4 neutropenia for more than 7 days despite G-CSF (H2)."""
    rng, p = s.rng, s.patient
    anc0, plt0 = float(p.baseline_anc), float(p.baseline_platelets)
    start, length = rng.randint(9, 13), rng.randint(8, 12)
    recovery = start + length
    recovered = rng.uniform(0.6, 1.2)
    plt_nadir = max(30.0, plt0 * rng.uniform(0.3, 0.8))

    def anc(day: int) -> float:
        if day < start:
            return max(0.6, _curve(anc0, 0.8, start - 1, day))
        if day < recovery:
            return rng.uniform(0.05, 0.45)
        return recovered + (max(anc0, recovered) - recovered) * min(1.0, (day - recovery) / 10)

    days = {*VISIT_DAYS, start - 2, *range(start, recovery, 2), recovery}
    _panels(s, days, anc, lambda d: max(30.0, _curve(plt0, plt_nadir, 14, d)), {})
    s.event(meddra("Neutrophil count decreased"), 4, start, recovery, supportive=["gcsf"], action=AdverseEvent.Action.INTERRUPTED)


def _h1(s: _Patient) -> None:
    """Febrile neutropenia: ANC 0.5-0.95 with a temperature of 38.5 C or more (H1)."""
    rng, p = s.rng, s.patient
    anc0, plt0 = float(p.baseline_anc), float(p.baseline_platelets)
    day_fever = rng.randint(8, 16)
    plt_nadir = max(30.0, plt0 * rng.uniform(0.3, 0.8))

    def anc(day: int) -> float:
        if day == day_fever:
            return rng.uniform(0.5, 0.95)
        return max(1.0, _curve(anc0, 1.0, day_fever, day))

    fever = {day_fever: rng.randint(385, 396) / 10}
    _panels(s, {*VISIT_DAYS, day_fever, day_fever + 3}, anc, lambda d: max(30.0, _curve(plt0, plt_nadir, 14, d)), fever)
    resolved = day_fever + rng.randint(3, 6)
    s.event(
        meddra("Febrile neutropenia"),
        3,
        day_fever,
        resolved,
        serious=True,
        sae_criteria=["hospitalisation"],
        supportive=["gcsf"],
        action=AdverseEvent.Action.INTERRUPTED,
    )
    s.event(meddra("Neutrophil count decreased"), 3, day_fever, day_fever + 3)


def _h3(s: _Patient) -> None:
    """Grade 4 thrombocytopenia for more than 7 days (H3)."""
    rng, p = s.rng, s.patient
    anc0, plt0 = float(p.baseline_anc), float(p.baseline_platelets)
    start, length = rng.randint(10, 15), rng.randint(8, 12)
    recovery = start + length
    anc_nadir = max(0.6, anc0 * rng.uniform(0.3, 0.8))

    def platelets(day: int) -> float:
        if day < start:
            return max(30.0, _curve(plt0, 40.0, start - 1, day))
        if day < recovery:
            return rng.uniform(6.0, 24.0)
        return rng.uniform(30.0, 60.0)

    days = {*VISIT_DAYS, start, start + 3, start + 5, recovery}
    _panels(s, days, lambda d: max(0.6, _curve(anc0, anc_nadir, 14, d)), platelets, {})
    s.event(meddra("Platelet count decreased"), 4, start, recovery, action=AdverseEvent.Action.INTERRUPTED)


def _n2(s: _Patient, exempt: bool) -> None:
    """Grade 3 nausea despite maximal antiemetic therapy (N2), with ordinary labs."""
    _ordinary(s, exempt)
    s.events = [e for e in s.events if e["term"] != meddra("Nausea")]
    onset = s.rng.randint(2, 10)
    s.event(meddra("Nausea"), 3, onset, onset + s.rng.randint(3, 7), supportive=["max_antiemetic"], action=AdverseEvent.Action.INTERRUPTED)


def synthetic_toxicity(patients: Iterable[Patient], *, seed: int, by: User, today: date) -> Summary:
    """Cycle-1 lab panels and adverse events for each patient who has started cycle 1, as known on `today`."""
    patients = list(patients)
    rng = random.Random(f"toxicity:{seed}")
    day1s = dict(Cycle.objects.filter(patient__in=[p.pk for p in patients], number=1).values_list("patient_id", "day1"))
    drugs: dict[int, list[str]] = {}
    for trial_id, code in Drug.objects.filter(trial_id__in={p.trial_id for p in patients}).order_by("order").values_list("trial_id", "code"):
        drugs.setdefault(trial_id, []).append(code)
    names, weights = zip(*PATTERNS, strict=True)
    summary = Summary()
    labs, events = [], []
    for p in patients:
        if p.pk not in day1s:
            continue
        s = _Patient(p, day1s[p.pk], today, drugs.get(p.trial_id, []), rng)
        pattern = rng.choices(names, weights)[0]
        # Protocol s.3: H1 and H2 are not assessed for a low baseline ANC with heavy marrow involvement.
        exempt = p.baseline_anc < ANC_FN and p.baseline_marrow_pc_pct > MARROW_EXEMPT_PCT
        if exempt and pattern in ("H1", "H2"):
            pattern = "H3"
        if pattern == "ordinary":
            _ordinary(s, exempt)
        elif pattern == "N2":
            _n2(s, exempt)
        else:
            {"H1": _h1, "H2": _h2, "H3": _h3}[pattern](s)
        summary.patients += 1
        summary.patterns[pattern] += 1
        labs += [LabResult(patient=p, on=s.on(day), entered_by=by, **values) for day, values in sorted(s.panels.items())]
        events += [AdverseEvent(patient=p, entered_by=by, **values) for values in s.events]
    bulk_create_with_history(labs, LabResult, batch_size=2000, default_user=by, default_change_reason=REASON)
    bulk_create_with_history(events, AdverseEvent, batch_size=2000, default_user=by, default_change_reason=REASON)
    summary.labs, summary.events = len(labs), len(events)
    return summary
