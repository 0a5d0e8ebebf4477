"""Synthetic myeloma courses for synthetic patients: dated assessments and follow-up, bulk-written.

For benchmarks and load tests only (never a real patient). The same seed and the
same patients in the same order give the same values. Every patient who started
cycle 1 gets a baseline assessment a few days before cycle 1 day 1, then one on
each cycle's day 1 by the trial's schedule (cycle 1 day 1 + k x cycle length: the
recorded cycle's day 1 where it exists, the same rhythm in follow-up after the
last recorded cycle), up to `per_patient` in all and never after `today`.

Disease at baseline (protocol s.4, IMWG 2016 measurability):
- serum (about 3 in 4): M-protein 1.0-6.0 g/dL, urine mostly below 200 mg/24 h;
- urine only: M-protein 200-2000 mg/24 h with serum below 1.0 g/dL;
- free light chains only: involved FLC 15-150 mg/dL with an abnormal ratio,
  serum below 1.0 g/dL and urine below 200 mg/24 h.

Every parameter follows one burden fraction of its baseline value (the involved
FLC towards a normal level), along a trajectory drawn per patient: deep responses
(CR or sCR: immunofixation negative, a marrow below 5%, clonal or not), VGPR, PR,
MR, stable disease, progression after a nadir (IMWG: +25% and the absolute rise
from the nadir, reached in 2-3 assessments; most start a next therapy after it,
a few die) and early progression. Values are rounded as entered (serum 2
decimals, urine 1, FLC 3, marrow 1) and within the model's constraints.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from simple_history.utils import bulk_create_with_history

from accounts.models import User
from cohorts.models import Patient
from dosing.models import Cycle
from response.models import FollowUp, MyelomaAssessment

REASON = "Synthetic data"
KINDS = (("serum", 75), ("urine", 12), ("flc", 13))
TRAJECTORIES = (("cr", 12), ("vgpr", 12), ("pr", 22), ("mr", 6), ("stable", 13), ("progression", 25), ("early_pd", 10))
SERUM_ISOTYPES = (("IgG kappa", 35), ("IgG lambda", 20), ("IgA kappa", 12), ("IgA lambda", 8))
# IMWG 2016 progression from the nadir: +25% and at least this much (serum g/dL, urine mg/24 h, dFLC "> 10" mg/dL).
PD_RISE = {"serum": 0.5, "urine": 200.0, "flc": 10.0}
NEXT_REGIMENS = (
    "daratumumab-pomalidomide-dexamethasone",
    "carfilzomib-dexamethasone",
    "isatuximab-carfilzomib-dexamethasone",
    "selinexor-bortezomib-dexamethasone",
)
DEATH_CAUSES = ("progressive myeloma", "pneumonia", "sepsis")


@dataclass
class Summary:
    patients: int = 0
    assessments: int = 0
    follow_ups: int = 0
    kinds: Counter = field(default_factory=Counter)
    trajectories: Counter = field(default_factory=Counter)


def _q(value: float, places: str) -> Decimal:
    return Decimal(repr(round(max(value, 0.0), 6))).quantize(Decimal(places))


@dataclass
class _Disease:
    """One patient's baseline values (the burden fraction 1.0) and how each parameter scales."""

    kind: str
    isotype: str
    spep: float
    upep: float
    involved: str  # "kappa" or "lambda"
    inv0: float  # involved FLC at baseline, mg/dL
    inv_normal: float  # where the involved FLC settles with no disease
    uninvolved: float
    marrow0: float
    plasmacytoma0: float | None  # cm2, when a soft-tissue plasmacytoma is present at baseline

    def driver_scale(self) -> float:
        """How much the driving parameter moves per unit of burden fraction."""
        return {"serum": self.spep, "urine": self.upep, "flc": self.inv0 - self.inv_normal}[self.kind]


def _disease(rng: random.Random, patient: Patient) -> _Disease:
    kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
    if kind == "serum":
        isotype = rng.choices([i for i, _ in SERUM_ISOTYPES], [w for _, w in SERUM_ISOTYPES])[0]
        spep = rng.uniform(1.0, 6.0)
        upep = rng.choice((0.0, rng.uniform(20, 180), rng.uniform(20, 180), rng.uniform(220, 1500)))
        inv0 = rng.uniform(2.5, 60.0)
    elif kind == "urine":
        isotype = rng.choice(("kappa light chain", "lambda light chain"))
        spep, upep, inv0 = rng.uniform(0.0, 0.9), rng.uniform(200, 2000), rng.uniform(5.0, 80.0)
    else:
        isotype = rng.choice(("kappa light chain", "lambda light chain"))
        spep, upep, inv0 = rng.uniform(0.0, 0.6), rng.uniform(0, 150), rng.uniform(15.0, 150.0)
    involved = "lambda" if "lambda" in isotype else "kappa"
    return _Disease(
        kind=kind,
        isotype=isotype,
        spep=spep,
        upep=upep,
        involved=involved,
        inv0=inv0,
        inv_normal=rng.uniform(0.9, 1.5),
        uninvolved=rng.uniform(0.5, 1.2),  # often suppressed, so the baseline ratio is abnormal
        marrow0=float(patient.baseline_marrow_pc_pct or rng.randint(10, 70)),
        plasmacytoma0=rng.uniform(2.0, 20.0) if rng.random() < 0.05 else None,
    )


def _rise_per_assessment(rng: random.Random, d: _Disease, nadir: float) -> float:
    """A rise of the burden fraction that meets IMWG progression (from the nadir) in 2-3 assessments."""
    scale = max(d.driver_scale(), 1e-6)
    needed = max(PD_RISE[d.kind] * 1.15 / scale, 0.3 * nadir)
    return needed * rng.uniform(0.4, 0.6)


def _burden(rng: random.Random, d: _Disease, trajectory: str, n: int) -> tuple[list[float], int | None]:
    """The burden fraction at each of `n` assessments (0 = baseline) and the index where CR starts (if it does)."""
    f = [1.0]
    if trajectory in ("stable", "mr"):
        # Within 16% of the lowest value so far: never the +25% of progression.
        for k in range(1, n):
            f.append(rng.uniform(0.86, 1.0) if trajectory == "stable" else rng.uniform(0.7, 0.8) if k <= 2 else rng.uniform(0.56, 0.64))
        return f, None
    if trajectory == "early_pd":
        step = _rise_per_assessment(rng, d, 1.0)
        f += [min(1.0 + step * k, 6.0) for k in range(1, n)]
        return f, None
    nadir = {"cr": 0.004, "vgpr": rng.uniform(0.02, 0.08), "pr": rng.uniform(0.12, 0.42), "progression": rng.uniform(0.15, 0.6)}[trajectory]
    reach = rng.randint(2, 7)
    ratio = nadir ** (1 / reach)
    plateau = rng.randint(1, 5) if trajectory == "progression" else n
    step = _rise_per_assessment(rng, d, nadir) if trajectory == "progression" else 0.0
    for k in range(1, n):
        if k < reach:
            f.append(ratio**k * (1 + rng.uniform(-0.03, 0.03)))
        elif k <= reach + plateau:
            f.append(nadir * (1 + rng.uniform(0.0, 0.06)))
        else:
            f.append(nadir * 1.06 + step * (k - reach - plateau))
    return f, (reach + 1 if trajectory == "cr" and reach + 1 < n else None)


def _first_progression(d: _Disease, f: list[float]) -> int | None:
    """The first assessment whose driving parameter meets IMWG progression from the nadir (as drawn, before rounding)."""
    scale = d.driver_scale()
    for k in range(1, len(f)):
        nadir = min(f[:k])
        rise = f[k] - nadir
        if rise * scale >= PD_RISE[d.kind] * 1.05 and rise >= 0.25 * nadir:
            return k
    return None


def _values(d: _Disease, f: float, *, cr: bool) -> dict:
    """The laboratory values at burden `f`; in CR, no M-protein and negative immunofixation."""
    inv = d.inv_normal + (d.inv0 - d.inv_normal) * f
    uninvolved = d.uninvolved + (1.3 - d.uninvolved) * (1 - min(f, 1.0))  # recovers as the clone shrinks
    kappa, lam = (inv, uninvolved) if d.involved == "kappa" else (uninvolved, inv)
    spep = 0.0 if cr else d.spep * f
    upep = 0.0 if cr else d.upep * f
    return {
        "spep": _q(spep, "0.01"),
        "serum_ife": not cr,
        "serum_isotype": d.isotype if d.kind == "serum" else "",
        "upep": _q(upep, "0.1"),
        "urine_ife": False if cr else upep >= 5,
        "kappa": _q(kappa, "0.001"),
        "lambda_flc": _q(lam, "0.001"),
    }


def _course(rng: random.Random, patient: Patient, dates: list[date], today: date) -> tuple[str, str, list[dict], dict | None]:
    """One patient's assessments as field dicts, and the follow-up (None when there is none)."""
    d = _disease(rng, patient)
    trajectory = rng.choices([t for t, _ in TRAJECTORIES], [w for _, w in TRAJECTORIES])[0]
    n = len(dates)
    burden, cr_from = _burden(rng, d, trajectory, n)
    pd_from = _first_progression(d, burden)
    next_therapy = None
    if pd_from is not None and pd_from + 1 < n and rng.random() < 0.7:  # a next line after confirmed progression
        confirmed_on = dates[pd_from + 1]
        next_therapy = confirmed_on + timedelta(days=rng.randint(3, 21))
        for k in range(pd_from + 2, n):
            if dates[k] > next_therapy:  # the next line works for a while
                burden[k] = burden[k - 1] * rng.uniform(0.75, 0.95)
    clonal_free = rng.random() < 0.6
    new_lesion = trajectory == "early_pd" and rng.random() < 0.3
    marrow_at = cr_from if cr_from is not None else (min(n - 1, 4) if trajectory in ("vgpr", "pr") else None)
    rows = []
    for k, (on, f) in enumerate(zip(dates, burden, strict=True)):
        in_cr = cr_from is not None and k >= cr_from
        row = {"on": on, **_values(d, f, cr=in_cr)}
        if k == 0:
            row |= {"marrow_pc": _q(min(d.marrow0, 100.0), "0.1"), "marrow_clonal": True, "new_lesions": False}
        elif k == marrow_at:
            pc = rng.uniform(0.4, 4.5) if in_cr else min(100.0, max(5.0, d.marrow0 * f * rng.uniform(0.6, 1.4)))
            row |= {"marrow_pc": _q(pc, "0.1"), "marrow_clonal": not (in_cr and clonal_free)}
        if d.plasmacytoma0 is not None:
            present = not in_cr
            row |= {"plasmacytoma": present, "plasmacytoma_size": _q(d.plasmacytoma0 * max(f, 0.1), "0.01") if present else None}
        elif k == 0 or k % 6 == 0:  # imaging: a skeletal survey and no soft-tissue disease
            row |= {"plasmacytoma": False, "new_lesions": False}
        if new_lesion and pd_from is not None and k in (pd_from, pd_from + 1):
            row["new_lesions"] = True
        rows.append(row)
    follow = None
    last = dates[-1]
    if next_therapy is not None and next_therapy <= today:
        follow = {"next_therapy_on": next_therapy, "next_therapy_regimen": rng.choice(NEXT_REGIMENS)}
    if pd_from is not None and rng.random() < 0.15:
        death = max(last, follow["next_therapy_on"] if follow else last) + timedelta(days=rng.randint(10, 90))
        if death <= today:
            follow = (follow or {}) | {"death_on": death, "death_cause": rng.choice(DEATH_CAUSES), "last_contact_on": death}
    if (follow is None or "death_on" not in follow) and (follow is not None or rng.random() < 0.5):
        follow = (follow or {}) | {"last_contact_on": min(last + timedelta(days=rng.randint(0, 20)), today)}
    return d.kind, trajectory, rows, follow


def synthetic_assessments(patients: Iterable[Patient], *, seed: int, by: User, today: date, per_patient: int = 20) -> Summary:
    """Myeloma assessments (and some follow-up) for each patient who has started cycle 1, as known on `today`."""
    patients = list(patients)
    rng = random.Random(f"response:{seed}")
    day1s: dict[int, dict[int, date]] = {}
    for pid, number, day1 in Cycle.objects.filter(patient__in=[p.pk for p in patients]).values_list("patient_id", "number", "day1"):
        day1s.setdefault(pid, {})[number] = day1
    length: dict[int, int] = {}
    summary = Summary()
    assessments, follow_ups = [], []
    for p in patients:
        cycles = day1s.get(p.pk, {})
        if 1 not in cycles or per_patient < 1:
            continue
        if p.trial_id not in length:
            length[p.trial_id] = p.trial.cycle_length_days
        c1 = cycles[1]
        baseline_on = c1 - timedelta(days=rng.randint(2, 7))
        if p.consent_date is not None:
            baseline_on = max(baseline_on, min(p.consent_date, c1))
        dates = [baseline_on]
        for k in range(1, per_patient):
            on = cycles.get(k + 1, c1 + timedelta(days=length[p.trial_id] * k))
            if on > today:
                break
            dates.append(on)
        if baseline_on > today:
            continue
        kind, trajectory, rows, follow = _course(rng, p, dates, today)
        summary.patients += 1
        summary.kinds[kind] += 1
        summary.trajectories[trajectory] += 1
        assessments += [MyelomaAssessment(patient=p, entered_by=by, **row) for row in rows]
        if follow is not None:
            follow_ups.append(FollowUp(patient=p, **follow))
    bulk_create_with_history(assessments, MyelomaAssessment, batch_size=2000, default_user=by, default_change_reason=REASON)
    bulk_create_with_history(follow_ups, FollowUp, batch_size=2000, default_user=by, default_change_reason=REASON)
    summary.assessments, summary.follow_ups = len(assessments), len(follow_ups)
    return summary
