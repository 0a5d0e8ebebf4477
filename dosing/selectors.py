"""Reads for treatment: the cycle grid, dose intensity, the worklist. Fixed query counts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Max, Q

from accounts.models import User
from cohorts.models import Drug, Patient
from cohorts.selectors import patients_for_user
from cohorts.status import PatientStatus

from . import schedule
from .models import Administration, Cycle, DoseModification, OffTreatment, PlannedDose, Visit


@dataclass
class Cell:
    day: int
    planned: PlannedDose | None = None
    given: Administration | None = None

    @property
    def state(self) -> str:
        if self.given is not None:
            return "deviation" if self.given.deviation else self.given.status
        if self.planned is not None:
            return "planned"
        return "none"

    @property
    def text(self) -> str:
        given = self.given
        if given is None:
            return "" if self.planned is None else f"{self.planned.dose_mg.normalize():f}"
        if given.status in (Administration.Status.HELD, Administration.Status.MISSED):
            return "H" if given.status == Administration.Status.HELD else "M"
        return f"{given.dose_mg.normalize():f}"

    @property
    def title(self) -> str:
        parts = []
        if self.planned is not None:
            parts.append(f"planned {self.planned.dose_mg.normalize():f} mg ({self.planned.basis})")
        if self.given is not None:
            g = self.given
            parts.append(f"{g.get_status_display().lower()}" + (f" {g.dose_mg.normalize():f} mg" if g.dose_mg else "") + (f": {g.reason}" if g.reason else ""))
        return "; ".join(parts)


@dataclass
class DrugRow:
    drug: Drug
    cells: list[Cell]


@dataclass
class CycleBlock:
    cycle: Cycle
    rows: list[DrugRow]
    days: list[int]
    recorded: int = 0
    planned_count: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def expanded(self) -> bool:
        return bool(self.rows)


@dataclass
class TreatmentOverview:
    patient: Patient
    cycles: list[CycleBlock]
    drugs: list[Drug]
    modifications: list[DoseModification]
    intensities: list[schedule.Intensity]
    cumulative: dict[str, Decimal]
    completed_cycles: int
    c2d1_delay_days: int | None
    next_cycle: int
    next_planned_day1: date | None
    off_treatment: OffTreatment | None
    holds: list[DoseModification] = field(default_factory=list)


GRID_CYCLES = 2  # the latest cycles drawn as day-by-day grids; older ones as one summary row each


def treatment_overview(patient: Patient, *, today: date, show: int | None = None) -> TreatmentOverview:
    """Cycle grids, intensity and delays: 8 queries whatever the cycles.

    The latest GRID_CYCLES cycles (and cycle `show`) are drawn day by day; the
    others as a summary row with their counts, so the page stays as fast at 24
    cycles as at 1.
    """
    trial = patient.trial
    length = trial.cycle_length_days
    drugs = list(Drug.objects.filter(trial=trial).order_by("order"))
    cycles = list(Cycle.objects.filter(patient=patient).select_related("level").order_by("number"))
    # Every dose as a light tuple (tallies, intensity); model rows only for the cycles drawn as grids.
    planned = list(PlannedDose.objects.filter(cycle__patient=patient).values_list("cycle_id", "drug_id", "dose_mg"))
    given = list(Administration.objects.filter(cycle__patient=patient).values_list("cycle_id", "drug_id", "status", "dose_mg", "deviation"))
    modifications = list(
        DoseModification.objects.filter(patient=patient).select_related("drug", "to_level", "decided_by", "cycle").order_by("effective_on", "id")
    )
    off = OffTreatment.objects.filter(patient=patient).first()
    drawn = {c.number for c in cycles[-GRID_CYCLES:]} | ({show} if show else set())
    blocks = _cycle_blocks(cycles, drugs, drawn, planned, given, length)

    # Intensity over completed cycles (all cycles once treatment has stopped).
    done = [c for c in cycles if off is not None or c.day1 + timedelta(days=length - 1) < today]
    intensities, cumulative = _intensities(drugs, done, planned, given, length)
    c2 = next((c for c in cycles if c.number == 2), None)
    last = cycles[-1] if cycles else None
    holds = _open_holds(modifications)
    return TreatmentOverview(
        patient=patient,
        cycles=list(reversed(blocks)),
        drugs=drugs,
        modifications=modifications,
        intensities=intensities,
        cumulative={d.name: cumulative[d.id] for d in drugs if d.id in cumulative},
        completed_cycles=len(done),
        c2d1_delay_days=c2.delay_days if c2 else None,
        next_cycle=(last.number + 1) if last else 1,
        next_planned_day1=schedule.planned_day1(last.day1, length) if last else None,
        off_treatment=off,
        holds=holds,
    )


def _cycle_blocks(cycles: list[Cycle], drugs: list[Drug], drawn: set[int], planned: list, given: list, length: int) -> list[CycleBlock]:
    """One block per cycle, oldest first: a day-by-day grid per drug for the cycles drawn, the dose counts for all (2 queries)."""
    cells = _grid_cells([c.id for c in cycles if c.number in drawn])
    days = list(range(1, length + 1))
    counts = _dose_counts(planned, given)
    blocks = []
    for c in cycles:
        rows = []
        if c.number in drawn:
            for d in drugs:
                row = [cells.get((c.id, d.id, day)) or Cell(day) for day in days]
                if any(cell.state != "none" for cell in row):
                    rows.append(DrugRow(d, row))
        tally = counts[c.id]
        blocks.append(CycleBlock(c, rows, days, recorded=tally["recorded"], planned_count=tally["planned"], counts=dict(tally)))
    return blocks


def _grid_cells(cycle_ids: list[int]) -> dict[tuple[int, int, int], Cell]:
    """The planned and given doses of these cycles by (cycle, drug, day)."""
    cells: dict[tuple[int, int, int], Cell] = {}
    for p in PlannedDose.objects.filter(cycle_id__in=cycle_ids):
        cells.setdefault((p.cycle_id, p.drug_id, p.day), Cell(p.day)).planned = p
    for a in Administration.objects.filter(cycle_id__in=cycle_ids):
        cells.setdefault((a.cycle_id, a.drug_id, a.day), Cell(a.day)).given = a
    return cells


def _dose_counts(planned: list, given: list) -> dict[int, dict[str, int]]:
    """Per cycle: doses planned, recorded, and recorded per status (deviations apart)."""
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for cycle_id, _, _ in planned:
        counts[cycle_id]["planned"] += 1
    for cycle_id, _, status, _, deviation in given:
        counts[cycle_id]["deviation" if deviation else status] += 1
        counts[cycle_id]["recorded"] += 1
    return counts


def _intensities(drugs: list[Drug], done: list[Cycle], planned: list, given: list, length: int) -> tuple[list[schedule.Intensity], dict[int, Decimal]]:
    """Dose intensity per drug over the completed cycles, and the cumulative dose given per drug id."""
    done_ids = {c.id for c in done}
    planned_by_drug: dict[int, Decimal] = defaultdict(Decimal)
    delivered_by_drug: dict[int, Decimal] = defaultdict(Decimal)
    cumulative: dict[int, Decimal] = defaultdict(Decimal)
    for cycle_id, drug_id, dose in planned:
        if cycle_id in done_ids:
            planned_by_drug[drug_id] += dose
    for cycle_id, drug_id, _, dose, _ in given:
        if dose is not None:
            cumulative[drug_id] += dose
            if cycle_id in done_ids:
                delivered_by_drug[drug_id] += dose
    intensities = [
        schedule.dose_intensity(
            drug=d.name,
            planned_mg=planned_by_drug[d.id],
            delivered_mg=delivered_by_drug[d.id],
            first_day1=done[0].day1,
            last_day1=done[-1].day1,
            cycles=len(done),
            cycle_length_days=length,
        )
        for d in drugs
        if done and planned_by_drug[d.id]
    ]
    return intensities, cumulative


def _open_holds(modifications: list[DoseModification]) -> list[DoseModification]:
    state: dict[int | None, DoseModification | None] = {}
    for m in modifications:
        if m.kind == DoseModification.Kind.HOLD:
            state[m.drug_id] = m
        elif m.kind == DoseModification.Kind.RESUME:
            state[m.drug_id] = None
    return [m for m in state.values() if m is not None]


# ---------------------------------------------------------------- worklist


@dataclass(frozen=True)
class WorkItem:
    patient: Patient
    what: str
    expected_on: date
    window_days: int
    visit: Visit | None
    bucket: str  # overdue, today, week


def worklist(user: User, *, today: date, site_number: str | None = None) -> dict[str, list[WorkItem]]:
    """Visits and cycle starts due: overdue, due today (within the window), this week. 2 queries."""
    visible = patients_for_user(user)
    if site_number:
        visible = visible.filter(site__number=site_number)
    horizon = today + timedelta(days=7)
    visits = (
        Visit.objects.filter(patient__in=visible.values("pk"), done_on__isnull=True, cancelled=False, expected_on__lte=horizon + timedelta(days=31))
        .select_related("patient__site", "cycle")
        .order_by("expected_on", "patient__study_id")
    )
    items: dict[str, list[WorkItem]] = {"overdue": [], "today": [], "week": []}
    for v in visits:
        if v.expected_on - timedelta(days=v.window_days) > horizon:
            continue
        bucket = _bucket(v.expected_on, v.window_days, today)
        what = f"Cycle {v.cycle.number} day {v.day} visit" if v.cycle_id else "Follow-up visit"
        items[bucket].append(WorkItem(v.patient, what, v.expected_on, v.window_days, v, bucket))
    starts = (
        visible.filter(status=PatientStatus.ON_TREATMENT)
        .annotate(last_day1=Max("cycles__day1"), last_number=Max("cycles__number"))
        .filter(Q(last_day1__isnull=False))
        .select_related("trial")
    )
    for p in starts:
        due = p.last_day1 + timedelta(days=p.trial.cycle_length_days)
        if due <= horizon:
            bucket = "overdue" if due < today else ("today" if due == today else "week")
            items[bucket].append(WorkItem(p, f"Cycle {p.last_number + 1} day 1", due, 0, None, bucket))
    for bucket in items.values():
        bucket.sort(key=lambda i: (i.expected_on, i.patient.study_id))
    return items


def _bucket(expected: date, window: int, today: date) -> str:
    if expected + timedelta(days=window) < today:
        return "overdue"
    if expected - timedelta(days=window) <= today:
        return "today"
    return "week"
