"""Writes for treatment: cycles and their plan, modifications, administrations, visits, off treatment.

Every service is keyword-only and atomic, locks the patient row first (so two
people cannot start two cycle 3s), validates, and records who and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.models import User
from accounts.roles import Perm, Role
from cohorts.models import DoseLevel, Drug, Enrolment, LevelDose, Patient
from cohorts.registration import check_registration
from cohorts.services import patient_change_status
from cohorts.services import patient_lock as _lock_patient
from cohorts.status import OFF_TREATMENT_REASONS, PatientStatus
from trialsite.audit import audit, audited_save, reason_missing
from trialsite.outbox import Kind, record_change

from . import schedule
from .models import Administration, Cycle, DoseModification, OffTreatment, PlannedDose, Visit

TREATABLE = (PatientStatus.ENROLLED, PatientStatus.ON_TREATMENT)


def _errors(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def _need_reason(text: str | None, field: str, message: str) -> dict[str, list[str]]:
    return {field: [message]} if reason_missing(text) else {}


# ---------------------------------------------------------------- locks


def _cycle_end(day1: date, next_day1: date | None, length: int) -> date:
    """The first day after a cycle: the next cycle's day 1, or day 1 + the cycle length for the last one."""
    return next_day1 or day1 + timedelta(days=length)


def cycle_end(cycle: Cycle) -> date:
    next_day1 = Cycle.objects.filter(patient_id=cycle.patient_id, number=cycle.number + 1).values_list("day1", flat=True).first()
    return _cycle_end(cycle.day1, next_day1, cycle.patient.trial.cycle_length_days)


def _cycle_containing(cycles: list[Cycle], on: date, length: int) -> Cycle | None:
    """The cycle whose days include `on` (from its day 1 to the day before the next one), `cycles` in order."""
    for i, c in enumerate(cycles):
        if c.day1 <= on < _cycle_end(c.day1, cycles[i + 1].day1 if i + 1 < len(cycles) else None, length):
            return c
    return None


def check_cycle_unlocked(cycle: Cycle, on: date, what: str) -> None:
    """Refuse a change to data of a locked cycle (data managers unlock it, with a reason)."""
    if cycle.locked_at:
        raise ValidationError({"__all__": [f"Cycle {cycle.number} is locked: {what} of {on.isoformat()} cannot change until a data manager unlocks it."]})


def check_unlocked(patient: Patient, what: str, *dates: date | None) -> None:
    """check_cycle_unlocked for the cycle each date falls in (one query, whatever the number of dates)."""
    dates = tuple(d for d in dates if d is not None)
    if not dates:
        return
    cycles = list(Cycle.objects.filter(patient=patient).order_by("number").only("id", "number", "day1", "locked_at", "patient_id"))
    for on in dates:
        cycle = _cycle_containing(cycles, on, patient.trial.cycle_length_days)
        if cycle is not None:
            check_cycle_unlocked(cycle, on, what)


# ---------------------------------------------------------------- the plan's inputs


def current_level(patient: Patient, *, on: date | None = None) -> DoseLevel:
    """The enrolment level, or the last level reduction in force on `on`."""
    reductions = DoseModification.objects.filter(patient=patient, kind=DoseModification.Kind.REDUCE_LEVEL)
    if on is not None:
        reductions = reductions.filter(effective_on__lte=on)
    last = reductions.select_related("to_level").order_by("-effective_on", "-id").first()
    if last is not None:
        return last.to_level
    return Enrolment.objects.select_related("level").get(patient=patient).level


def level_doses(level: DoseLevel) -> list[schedule.DrugDose]:
    """The level's dose of each drug with each of the drug's schedules (protocol data)."""
    doses = LevelDose.objects.filter(level=level).select_related("drug").prefetch_related("drug__schedules").order_by("drug__order")
    return [
        schedule.DrugDose(
            drug=d.drug.code,
            name=d.drug.name,
            route=s.route or d.drug.route,
            amount=d.amount,
            unit=d.unit,
            days=tuple(s.days),
            first_cycle=s.first_cycle,
            last_cycle=s.last_cycle,
        )
        for d in doses
        for s in d.drug.schedules.all()
    ]


def active_reductions(patient: Patient, *, on: date) -> list[schedule.DoseReduction]:
    """Stated-dose reductions in force on `on`, each from the cycle it was decided in."""
    mods = DoseModification.objects.filter(patient=patient, kind=DoseModification.Kind.REDUCE_DOSE, effective_on__lte=on)
    latest: dict[str, schedule.DoseReduction] = {}
    for mod in mods.select_related("drug", "cycle").order_by("effective_on", "id"):
        latest[mod.drug.code] = schedule.DoseReduction(drug=mod.drug.code, amount_mg=mod.dose_mg, from_cycle=mod.cycle.number)
    return list(latest.values())


def _plan(cycle: Cycle, *, on: date) -> list[schedule.PlannedDose]:
    return schedule.cycle_plan(
        cycle=cycle.number,
        day1=cycle.day1,
        doses=level_doses(current_level(cycle.patient, on=on)),
        height_cm=cycle.height_cm,
        weight_kg=cycle.weight_kg,
        reductions=active_reductions(cycle.patient, on=on),
        cycle_length_days=cycle.patient.trial.cycle_length_days,
    )


# ---------------------------------------------------------------- cycles


@transaction.atomic
def cycle_start(
    *,
    patient: Patient,
    by: User,
    day1: date,
    weight_kg: Decimal,
    delay_reason: str = "",
    number: int | None = None,
    today: date | None = None,
) -> Cycle:
    """Open the patient's next cycle on its actual day 1 and store its plan and visits.

    Protocol s.1: day 1 of cycle n+1 is planned at day 1 of cycle n + 28; a later
    start is a delay with its reason; cycles never overlap, skip or go backwards.
    Cycle 1 day 1 starts treatment and the DLT window.
    """
    today = today or timezone.localdate()
    patient = _lock_patient(patient, by)
    trial = patient.trial
    if patient.status not in TREATABLE:
        raise ValidationError({"__all__": [f"{patient.study_id} is {patient.status_label.lower()}: no cycle can start."]})
    enrolment = Enrolment.objects.get(patient=patient)
    last = Cycle.objects.filter(patient=patient).order_by("-number").first()
    expected = last.number + 1 if last else 1
    planned = schedule.planned_day1(last.day1, trial.cycle_length_days) if last else day1
    errors = _cycle_start_errors(
        expected=expected,
        number=number,
        day1=day1,
        planned=planned,
        not_before=enrolment.enrolled_on if last is None else None,
        cycle_length_days=trial.cycle_length_days,
        delay_reason=delay_reason,
        today=today,
    )
    errors.update(check_registration({"weight_kg": weight_kg}, today=today))
    _errors(errors)

    level = current_level(patient, on=day1)
    cycle = Cycle(
        patient=patient,
        number=expected,
        planned_day1=planned,
        day1=day1,
        delay_reason=(delay_reason or "").strip() if day1 > planned else "",
        level=level,
        height_cm=patient.height_cm,
        weight_kg=Decimal(weight_kg).quantize(Decimal("0.1")),
        bsa_m2=schedule.bsa_recorded(patient.height_cm, Decimal(weight_kg).quantize(Decimal("0.1"))),
        started_by=by,
    )
    record_change(patient, Kind.DOSING)
    audited_save(cycle, by=by, reason=f"Cycle {expected} started" + (f" {cycle.delay_days} days late: {cycle.delay_reason}" if cycle.delay_days else ""))
    _store_plan_and_visits(cycle, by=by)
    if patient.status == PatientStatus.ENROLLED:
        patient_change_status(patient=patient, by=by, to_status=PatientStatus.ON_TREATMENT, on_date=day1, note="Cycle 1 day 1", today=today)
    return cycle


def _cycle_start_errors(
    *,
    expected: int,
    number: int | None,
    day1: date,
    planned: date,
    not_before: date | None,
    cycle_length_days: int,
    delay_reason: str,
    today: date,
) -> dict[str, list[str]]:
    """The cycle's number and day 1 against the previous cycle (or, for cycle 1, the enrolment date `not_before`)."""
    errors: dict[str, list[str]] = {}
    if number is not None and number != expected:
        message = f"Cycle {number} already exists." if number < expected else f"Cycles cannot be skipped: the next cycle is {expected}."
        errors["number"] = [message]
    if day1 > today:
        errors.setdefault("day1", []).append("Day 1 cannot be in the future.")
    if not_before is not None and day1 < not_before:
        errors.setdefault("day1", []).append(f"Cycle 1 cannot start before enrolment ({not_before.isoformat()}).")
    if day1 < planned:
        errors.setdefault("day1", []).append(
            f"Cycle {expected} cannot start before {planned.isoformat()} (cycle {expected - 1} day 1 + {cycle_length_days} days): cycles never overlap."
        )
    elif day1 > planned:
        errors.update(
            _need_reason(
                delay_reason, "delay_reason", f"Day 1 is {(day1 - planned).days} days after the planned {planned.isoformat()}: give the reason for the delay."
            )
        )
    return errors


def _store_plan_and_visits(cycle: Cycle, *, by: User) -> None:
    """The new cycle's planned doses and its treatment visits, with their history."""
    patient, trial = cycle.patient, cycle.patient.trial
    drugs = {d.code: d for d in Drug.objects.filter(trial=trial)}
    plan = [
        PlannedDose(cycle=cycle, drug=drugs[p.drug], day=p.day, planned_on=p.on, dose_mg=p.dose_mg, basis=p.basis[:300]) for p in _plan(cycle, on=cycle.day1)
    ]
    bulk_create_with_history(plan, PlannedDose, default_user=by, default_change_reason=f"Plan of cycle {cycle.number}")
    visits = [
        Visit(patient=patient, cycle=cycle, kind=Visit.Kind.TREATMENT, day=day, expected_on=on, window_days=trial.visit_window_days)
        for day, on in schedule.visit_dates(cycle.day1, trial.visit_days)
    ]
    bulk_create_with_history(visits, Visit, default_user=by, default_change_reason=f"Visits of cycle {cycle.number}")


# ---------------------------------------------------------------- modifications


def _cycle_on(patient: Patient, on: date) -> Cycle | None:
    return Cycle.objects.filter(patient=patient, day1__lte=on).order_by("-number").first()


def _active_hold(patient: Patient, drug: Drug | None, on: date) -> DoseModification | None:
    events = DoseModification.objects.filter(
        patient=patient, drug=drug, kind__in=[DoseModification.Kind.HOLD, DoseModification.Kind.RESUME], effective_on__lte=on
    )
    last = events.order_by("-effective_on", "-id").first()
    return last if last is not None and last.kind == DoseModification.Kind.HOLD else None


def _check_modification(patient, cycle, *, kind, on, drug, to_level, dose_mg):
    """What each kind of modification needs; returns errors and the fields it keeps."""
    errors: dict[str, list[str]] = {}
    level_now = current_level(patient, on=on)
    if kind == DoseModification.Kind.REDUCE_LEVEL:
        if to_level is None or to_level.trial_id != patient.trial_id or to_level.order >= level_now.order:
            errors["to_level"] = [f"Choose a level below the current level {level_now.label}."]
        drug, dose_mg = None, None
    elif kind == DoseModification.Kind.REDUCE_DOSE:
        if drug is None:
            errors["drug"] = ["Choose the drug to reduce."]
        elif dose_mg is None or dose_mg <= 0:
            errors["dose_mg"] = ["Give the reduced dose in mg."]
        elif drug.reduced_dose_mg is not None:
            allowed = schedule.DoseReduction(drug=drug.code, amount_mg=drug.reduced_dose_mg, from_cycle=drug.reduction_from_cycle or 1)
            try:
                schedule.check_reduction(schedule.DoseReduction(drug.code, Decimal(dose_mg), cycle.number), allowed=allowed, cycle=cycle.number)
            except schedule.ScheduleError as exc:
                errors["dose_mg"] = [str(exc)]
        else:
            current = PlannedDose.objects.filter(cycle=cycle, drug=drug).order_by("-day").values_list("dose_mg", flat=True).first()
            if current is not None and Decimal(dose_mg) >= current:
                errors["dose_mg"] = [f"A reduction must be below the planned {current} mg."]
        to_level = None
    elif kind == DoseModification.Kind.HOLD:
        if _active_hold(patient, drug, on):
            errors["drug"] = [f"{drug or 'Treatment'} is already on hold."]
        to_level, dose_mg = None, None
    elif kind == DoseModification.Kind.RESUME:
        if not _active_hold(patient, drug, on):
            errors["drug"] = [f"{drug or 'Treatment'} is not on hold."]
        to_level, dose_mg = None, None
    else:
        errors["kind"] = ["Unknown modification."]
    return errors, drug, to_level, dose_mg


@transaction.atomic
def dose_modify(
    *,
    patient: Patient,
    by: User,
    kind: str,
    effective_on: date,
    reason: str,
    decided_by: User,
    drug: Drug | None = None,
    to_level: DoseLevel | None = None,
    dose_mg: Decimal | None = None,
    adverse_event=None,
    today: date | None = None,
) -> DoseModification:
    """Record an investigator's reduction, hold or resume, and re-plan what is not yet given."""
    today = today or timezone.localdate()
    patient = _lock_patient(patient, by)
    errors: dict[str, list[str]] = {}
    if not (decided_by.is_superuser or decided_by.role in (Role.INVESTIGATOR, Role.ADMIN)) or not decided_by.can(Perm.SIGN):
        errors["decided_by"] = ["Dose modifications are decided by an investigator."]
    errors.update(_need_reason(reason, "reason", "Give the reason for the modification."))
    if effective_on > today:
        errors["effective_on"] = ["The date cannot be in the future."]
    if patient.status != PatientStatus.ON_TREATMENT:
        errors.setdefault("__all__", []).append(f"{patient.study_id} is {patient.status_label.lower()}: doses can be modified only on treatment.")
    check_unlocked(patient, "a dose modification", effective_on)
    cycle = _cycle_on(patient, effective_on)
    if cycle is None:
        errors.setdefault("effective_on", []).append("No cycle had started on that date.")
    if adverse_event is not None and (adverse_event.patient_id != patient.pk or adverse_event.in_error):
        errors["adverse_event"] = ["Link an adverse event of this patient."]
    _errors(errors)
    errors, drug, to_level, dose_mg = _check_modification(patient, cycle, kind=kind, on=effective_on, drug=drug, to_level=to_level, dose_mg=dose_mg)
    _errors(errors)
    first = Cycle.objects.get(patient=patient, number=1)
    in_cycle_1 = cycle.number == 1 and effective_on <= first.day1 + timedelta(days=patient.trial.dlt_window_days - 1)
    mod = DoseModification(
        patient=patient,
        cycle=cycle,
        kind=kind,
        drug=drug,
        effective_on=effective_on,
        to_level=to_level,
        dose_mg=dose_mg,
        reason=reason.strip(),
        in_cycle_1=in_cycle_1,
        adverse_event=adverse_event,
        decided_by=decided_by,
        entered_by=by,
    )
    audited_save(mod, by=by, reason=f"{mod.get_kind_display()}: {reason.strip()}" + (" (within cycle 1)" if in_cycle_1 else ""))
    record_change(patient, Kind.DOSING)
    if kind in (DoseModification.Kind.REDUCE_LEVEL, DoseModification.Kind.REDUCE_DOSE):
        _replan(cycle, from_day=(effective_on - cycle.day1).days + 1, by=by, reason=f"Re-planned after: {mod}")
    return mod


def _replan(cycle: Cycle, *, from_day: int, by: User, reason: str) -> None:
    """Re-plan the doses of `cycle` from `from_day` that have not been recorded yet."""
    cycle = Cycle.objects.select_related("patient__trial").get(pk=cycle.pk)
    new = {(p.drug, p.day): p for p in _plan(cycle, on=cycle.day1 + timedelta(days=from_day - 1))}
    for planned in PlannedDose.objects.filter(cycle=cycle, day__gte=from_day, administration__isnull=True).select_related("drug"):
        target = new.get((planned.drug.code, planned.day))
        if target is not None and (target.dose_mg != planned.dose_mg or target.basis != planned.basis):
            planned.dose_mg, planned.basis = target.dose_mg, target.basis[:300]
            audited_save(planned, by=by, reason=reason)


# ---------------------------------------------------------------- administrations


def _check_dose(status, planned, dose_mg, reason):
    """The dose each status needs against the plan; returns errors and the dose to store."""
    errors: dict[str, list[str]] = {}
    if status == Administration.Status.GIVEN:
        if planned is None:
            if dose_mg is None or dose_mg <= 0:
                errors["dose_mg"] = ["Give the dose that was given."]
        else:
            if dose_mg is not None and Decimal(dose_mg) != planned.dose_mg:
                errors["dose_mg"] = [f"The planned dose is {planned.dose_mg} mg: record another dose as 'given at another dose' with its reason."]
            dose_mg = planned.dose_mg
    elif status == Administration.Status.OTHER_DOSE:
        if dose_mg is None or dose_mg <= 0:
            errors["dose_mg"] = ["Give the dose that was given."]
        elif planned is not None and Decimal(dose_mg) == planned.dose_mg:
            errors["dose_mg"] = ["This is the planned dose: record it as given as planned."]
        elif planned is not None and Decimal(dose_mg) > planned.dose_mg:
            errors.update(_need_reason(reason, "reason", f"{dose_mg} mg is above the planned {planned.dose_mg} mg: give the reason."))
        else:
            errors.update(_need_reason(reason, "reason", "Give the reason for the other dose."))
    elif status in (Administration.Status.HELD, Administration.Status.MISSED):
        errors.update(_need_reason(reason, "reason", f"A {Administration.Status(status).label.lower()} dose needs its reason."))
        dose_mg = None
    else:
        errors["status"] = ["Unknown status."]
    return errors, dose_mg


@dataclass(frozen=True)
class DoseEntry:
    """One drug on one day of a cycle and what happened to it (administrations_record)."""

    drug: Drug
    day: int
    status: str
    dose_mg: Decimal | None = None
    route: str = ""
    reason: str = ""
    deviation: bool = False
    reason_for_change: str = ""


class DoseErrors(ValidationError):
    """administrations_record's errors dose by dose: `by_dose[(drug code, day)]` is that dose's {field: [messages]};
    as a ValidationError its keys are `<drug code>.<day>.<field>`."""

    def __init__(self, by_dose: dict[tuple[str, int], dict[str, list[str]]]):
        self.by_dose = by_dose
        super().__init__({f"{code}.{day}.{name}": texts for (code, day), fields in by_dose.items() for name, texts in fields.items()})


@dataclass(frozen=True)
class _Context:
    """What every dose of one call is checked against, read once under the patient lock."""

    patient: Patient
    cycle: Cycle
    off: OffTreatment | None
    today: date


def _entry_errors(entry: DoseEntry, planned: PlannedDose | None, existing: Administration | None, ctx: _Context):
    """One dose against its plan (protocol s.1); returns its errors and the dose to store."""
    patient, cycle, drug, day = ctx.patient, ctx.cycle, entry.drug, entry.day
    if not 1 <= day <= patient.trial.cycle_length_days:
        return {"day": [f"The day must lie within 1-{patient.trial.cycle_length_days} of the cycle."]}, None
    given_on = cycle.day1 + timedelta(days=day - 1)
    try:
        check_cycle_unlocked(cycle, given_on, "a dose")  # a dose is its cycle's data
    except ValidationError as exc:
        return exc.message_dict, None
    errors: dict[str, list[str]] = {}
    if given_on > ctx.today:
        errors["day"] = [f"Day {day} of cycle {cycle.number} ({given_on.isoformat()}) is in the future."]
    if ctx.off is not None and given_on > ctx.off.last_dose_on:
        errors.setdefault("__all__", []).append(f"{patient.study_id} went off treatment after a last dose on {ctx.off.last_dose_on.isoformat()}.")
    elif patient.status not in (PatientStatus.ON_TREATMENT,) and ctx.off is None:
        errors.setdefault("__all__", []).append(f"{patient.study_id} is {patient.status_label.lower()}: no dose can be recorded.")
    if planned is None and not entry.deviation:
        errors.setdefault("day", []).append(
            f"{drug.name} is not scheduled on day {day} of cycle {cycle.number}: record it as a protocol deviation with its reason."
        )
    if planned is not None and entry.deviation:
        errors["deviation"] = [f"{drug.name} is scheduled on day {day}: this is not a deviation."]
    if entry.deviation:
        errors.update(_need_reason(entry.reason, "reason", "A protocol deviation needs its reason."))
    dose_errors, dose_mg = _check_dose(entry.status, planned, entry.dose_mg, entry.reason)
    errors.update(dose_errors)
    if not errors and existing is not None:
        errors.update(
            _need_reason(entry.reason_for_change, "reason_for_change", f"{drug.name} on day {day} is already recorded: give a reason for the change.")
        )
    return errors, dose_mg


ADMINISTRATION_FIELDS = ["planned", "given_on", "status", "dose_mg", "route", "reason", "deviation"]


@transaction.atomic
def administrations_record(*, cycle: Cycle, by: User, entries: Sequence[DoseEntry], today: date | None = None) -> list[Administration]:
    """Record doses of one cycle in one call, all or nothing: a visit's drugs of the day, a drug's diary, a cycle's doses.

    Each dose is checked as administration_record checks it (the day, the lock, off treatment, the plan, the
    dose its status needs, a reason for a change); any error saves nothing and raises DoseErrors, naming every
    dose in error. The patient is locked once, the plan and the recorded doses of those days read in one query
    each, the new doses written in one insert and their history rows in another, and one outbox change says that
    the patient's dosing changed, however many doses the call records (the pipeline evaluates once).
    """
    today = today or timezone.localdate()
    patient = _lock_patient(cycle.patient, by)
    cycle = Cycle.objects.get(pk=cycle.pk)
    cycle.patient = patient
    ctx = _Context(patient=patient, cycle=cycle, off=OffTreatment.objects.filter(patient=patient).first(), today=today)
    days = {e.day for e in entries}
    plan = PlannedDose.objects.filter(cycle=cycle, day__in=days).select_related("drug").prefetch_related("drug__schedules")
    planned_by_key = {(p.drug_id, p.day): p for p in plan}
    existing_by_key = {(a.drug_id, a.day): a for a in Administration.objects.filter(cycle=cycle, day__in=days)}
    by_dose: dict[tuple[str, int], dict[str, list[str]]] = {}
    checked, seen = [], set()
    for entry in entries:
        key = (entry.drug.pk, entry.day)
        if key in seen:
            by_dose[entry.drug.code, entry.day] = {"day": [f"{entry.drug.name} on day {entry.day} is entered twice."]}
            continue
        seen.add(key)
        planned, existing = planned_by_key.get(key), existing_by_key.get(key)
        errors, dose_mg = _entry_errors(entry, planned, existing, ctx)
        if errors:
            by_dose[entry.drug.code, entry.day] = errors
        checked.append((entry, planned, existing, dose_mg))
    if by_dose:
        raise DoseErrors(by_dose)
    created, changed, saved = [], [], []
    for entry, planned, existing, dose_mg in checked:
        record = existing or Administration(cycle=cycle, drug=entry.drug, day=entry.day, entered_by=by)
        record.planned = planned
        record.given_on = cycle.day1 + timedelta(days=entry.day - 1)
        record.status = entry.status
        record.dose_mg = Decimal(dose_mg).quantize(Decimal("0.01")) if dose_mg is not None else None
        record.route = entry.route or (planned and _route(planned, cycle.number)) or entry.drug.route
        record.reason = (entry.reason or "").strip()
        record.deviation = entry.deviation
        # The foreign keys are rows just read under the lock and the one dose per drug and day is checked above
        # against the recorded doses, so full_clean asks no existence or uniqueness query; the check constraints
        # (a dose for given, none for held or missed, a reason unless given as planned, planned or a deviation) are
        # the rules _entry_errors has just checked, and the database enforces them on the write.
        record.full_clean(exclude=["cycle", "planned", "drug", "entered_by"], validate_unique=False, validate_constraints=False)
        audit(record, by=by, reason=entry.reason_for_change.strip() if existing else f"Recorded: {record.get_status_display().lower()}")
        (changed if existing else created).append(record)
        saved.append(record)
    if created:
        bulk_create_with_history(created, Administration, default_user=by)
    if changed:
        bulk_update_with_history(changed, Administration, fields=ADMINISTRATION_FIELDS, default_user=by)
    if saved:
        record_change(patient, Kind.DOSING)
    return saved


@transaction.atomic
def administration_record(
    *,
    cycle: Cycle,
    by: User,
    drug: Drug,
    day: int,
    status: str,
    dose_mg: Decimal | None = None,
    route: str = "",
    reason: str = "",
    deviation: bool = False,
    reason_for_change: str = "",
    today: date | None = None,
) -> Administration:
    """Record one drug on one day of a cycle against its plan (protocol s.1): administrations_record for one dose,
    its errors keyed by field."""
    entry = DoseEntry(drug=drug, day=day, status=status, dose_mg=dose_mg, route=route, reason=reason, deviation=deviation, reason_for_change=reason_for_change)
    try:
        return administrations_record(cycle=cycle, by=by, entries=[entry], today=today)[0]
    except DoseErrors as exc:
        raise ValidationError(exc.by_dose[drug.code, day]) from None


def _route(planned: PlannedDose, cycle_number: int) -> str:
    """The route of the drug's schedule in force in the cycle (the drug's schedules prefetched)."""
    schedules = [s for s in planned.drug.schedules.all() if s.first_cycle <= cycle_number]
    latest = max(schedules, key=lambda s: s.first_cycle, default=None)
    return (latest.route if latest else "") or planned.drug.route


DIARY_FIELDS = ("__all__", "day", "status", "dose_mg", "reason", "reason_for_change")


@transaction.atomic
def diary_record(*, cycle: Cycle, by: User, drug: Drug, entries: dict[int, dict], today: date | None = None) -> list[Administration]:
    """A daily oral drug's diary for one cycle (pomalidomide days 1-21) in one transaction.

    `entries` maps each cycle day to {status, dose_mg?, reason?, reason_for_change?}; an
    error on any day saves nothing and names the day.
    """
    doses = [DoseEntry(drug=drug, day=day, **entry) for day, entry in sorted(entries.items())]
    try:
        return administrations_record(cycle=cycle, by=by, entries=doses, today=today)
    except DoseErrors as exc:
        errors: dict[str, list[str]] = {}
        for (_, day), fields in sorted(exc.by_dose.items(), key=lambda item: item[0][1]):
            for name, messages in fields.items():
                errors.setdefault(f"day_{day}" if name in DIARY_FIELDS else name, []).extend(f"Day {day}: {m}" for m in messages)
        raise ValidationError(errors) from None


# ---------------------------------------------------------------- visits and off treatment


def visit_window(visit: Visit) -> tuple[date, date]:
    """The first and last day a visit may be done on without a deviation (protocol: visit_window_days)."""
    return visit.expected_on - timedelta(days=visit.window_days), visit.expected_on + timedelta(days=visit.window_days)


VITALS = {"pulse_bpm": (20, 250, "Pulse"), "systolic_mmhg": (50, 260, "Systolic BP"), "diastolic_mmhg": (20, 160, "Diastolic BP")}


def _check_visit_values(visit: Visit, *, done_on: date, today: date, confirm_out_of_window: bool, note: str, vitals: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if done_on is None:
        return {"done_on": ["Give the date the visit took place."]}
    if done_on > today:
        errors["done_on"] = ["A visit cannot be recorded in the future."]
    if visit.cancelled:
        errors["__all__"] = ["This visit is no longer expected."]
    first, last = visit_window(visit)
    if not first <= done_on <= last:
        off_by = (done_on - visit.expected_on).days
        if not confirm_out_of_window:
            errors.setdefault("done_on", []).append(
                f"{done_on.isoformat()} is {abs(off_by)} days {'after' if off_by > 0 else 'before'} the planned {visit.expected_on.isoformat()}, "
                f"outside the +/-{visit.window_days}-day window ({first.isoformat()} to {last.isoformat()}): "
                "confirm to record it as a protocol deviation."
            )
        else:
            errors.update(_need_reason(note, "note", "A visit outside its window is a protocol deviation: give the reason."))
    weight = vitals.get("weight_kg")
    if weight is not None:
        errors.update(check_registration({"weight_kg": weight}, today=today))
    for name, (low, high, label) in VITALS.items():
        value = vitals.get(name)
        if value is not None and not low <= value <= high:
            errors[name] = [f"{label} {value} is not plausible ({low}-{high})."]
    if vitals.get("systolic_mmhg") is not None and vitals.get("diastolic_mmhg") is not None and vitals["diastolic_mmhg"] >= vitals["systolic_mmhg"]:
        errors.setdefault("diastolic_mmhg", []).append("The diastolic pressure must be below the systolic.")
    return errors


@transaction.atomic
def visit_record(
    *,
    visit: Visit,
    by: User,
    done_on: date,
    confirm_out_of_window: bool = False,
    note: str = "",
    weight_kg: Decimal | None = None,
    pulse_bpm: int | None = None,
    systolic_mmhg: int | None = None,
    diastolic_mmhg: int | None = None,
    reason_for_change: str = "",
    today: date | None = None,
) -> Visit:
    """Record that a visit took place on `done_on`, with its weight and vital signs.

    A date outside the protocol's window (visit_window_days) is refused unless
    confirmed, and then flagged as a protocol deviation with its reason. A visit
    already recorded is corrected only with a reason for change.
    """
    today = today or timezone.localdate()
    patient = _lock_patient(visit.patient, by)
    visit = Visit.objects.select_for_update(no_key=True).get(pk=visit.pk)
    vitals = {"weight_kg": weight_kg, "pulse_bpm": pulse_bpm, "systolic_mmhg": systolic_mmhg, "diastolic_mmhg": diastolic_mmhg}
    errors = _check_visit_values(visit, done_on=done_on, today=today, confirm_out_of_window=confirm_out_of_window, note=note, vitals=vitals)
    _errors(errors)
    check_unlocked(patient, "a visit", visit.expected_on, done_on)
    first, last = visit_window(visit)
    outside = not first <= done_on <= last
    if weight_kg is not None:
        vitals["weight_kg"] = Decimal(weight_kg).quantize(Decimal("0.1"))
    new = {"done_on": done_on, "out_of_window": outside, "note": (note or "").strip(), **{k: v for k, v in vitals.items() if v is not None}}
    changed = {k: v for k, v in new.items() if getattr(visit, k) != v}
    was_done = visit.done_on is not None
    if was_done:
        if not changed:
            return visit
        _errors(
            _need_reason(
                reason_for_change, "reason_for_change", f"This visit is already recorded on {visit.done_on.isoformat()}: give a reason for the change."
            )
        )
    for k, v in changed.items():
        setattr(visit, k, v)
    visit.recorded_by = visit.recorded_by or by
    why = "Visit done" + (f" outside its +/-{visit.window_days}-day window (protocol deviation): {visit.note}" if outside else "")
    audited_save(visit, by=by, reason=f"Corrected: {reason_for_change.strip()}" if was_done else why)
    record_change(patient, Kind.DOSING)
    return visit


@transaction.atomic
def visit_missed(*, visit: Visit, by: User, reason: str, today: date | None = None) -> Visit:
    """The visit did not take place (the patient did not come, the clinic was closed): no longer expected, with the
    reason, shown on the calendar and never again overdue on the worklist. A visit not yet due, or recorded as done,
    cannot be missed (a done visit's date is corrected instead)."""
    today = today or timezone.localdate()
    patient = _lock_patient(visit.patient, by)
    visit = Visit.objects.select_for_update(no_key=True).get(pk=visit.pk)
    errors = _need_reason(reason, "missed_reason", "Give the reason the visit did not take place.")
    if visit.done_on is not None:
        errors["__all__"] = [f"This visit is recorded as done on {visit.done_on.isoformat()}: correct its date instead."]
    elif visit.cancelled:
        errors["__all__"] = ["This visit is already recorded as not taking place."]
    elif visit_window(visit)[0] > today:
        errors["__all__"] = [f"This visit's window opens on {visit_window(visit)[0].isoformat()}: it cannot be missed before then."]
    _errors(errors)
    check_unlocked(patient, "a visit", visit.expected_on)
    visit.cancelled, visit.note, visit.recorded_by = True, reason.strip(), visit.recorded_by or by
    audited_save(visit, by=by, reason=f"Visit missed: {reason.strip()}")
    return visit


@transaction.atomic
def visit_missed_undo(*, visit: Visit, by: User, reason: str) -> Visit:
    """A visit recorded as missed in error is expected again (then recorded as usual). A treatment visit cancelled
    because treatment stopped stays cancelled."""
    patient = _lock_patient(visit.patient, by)
    visit = Visit.objects.select_for_update(no_key=True).get(pk=visit.pk)
    errors = _need_reason(reason, "reason_for_change", "Give the reason the visit is expected again.")
    stopped = OffTreatment.objects.filter(patient=patient, decided_on__lt=visit.expected_on).exists() and visit.kind == Visit.Kind.TREATMENT
    if not visit.cancelled:
        errors["__all__"] = ["This visit is not recorded as missed."]
    elif stopped:
        errors["__all__"] = ["Treatment stopped before this visit: it is no longer expected."]
    _errors(errors)
    check_unlocked(patient, "a visit", visit.expected_on)
    visit.cancelled, visit.note = False, ""
    audited_save(visit, by=by, reason=f"Expected again: {reason.strip()}")
    return visit


def visit_mark_done(*, patient: Patient, by: User, on: date) -> Visit | None:
    """Data recorded on `on` (a lab panel, a visit's doses) makes the open treatment visit whose window holds it done.

    A visit counts as done once its data is recorded (issue #16): it never shows as
    overdue after that. Called inside the writing service's transaction.
    """
    candidates = Visit.objects.select_for_update(no_key=True).filter(
        patient=patient, kind=Visit.Kind.TREATMENT, done_on__isnull=True, cancelled=False, expected_on__range=(on - timedelta(days=14), on + timedelta(days=14))
    )
    inside = [v for v in candidates if visit_window(v)[0] <= on <= visit_window(v)[1]]
    if not inside:
        return None
    visit = min(inside, key=lambda v: abs((v.expected_on - on).days))
    visit.done_on, visit.recorded_by = on, visit.recorded_by or by
    audited_save(visit, by=by, reason=f"Visit done: data of {on.isoformat()} recorded")
    return visit


@transaction.atomic
def patient_off_treatment(
    *,
    patient: Patient,
    by: User,
    reason_code: str,
    decided_on: date,
    last_dose_on: date | None = None,
    note: str = "",
    today: date | None = None,
) -> OffTreatment:
    """Stop treatment: reason, date of the last dose (start of follow-up), follow-up visits expected."""
    today = today or timezone.localdate()
    patient = _lock_patient(patient, by)
    errors: dict[str, list[str]] = {}
    if patient.status != PatientStatus.ON_TREATMENT:
        raise ValidationError({"__all__": [f"{patient.study_id} is {patient.status_label.lower()}, not on treatment."]})
    if reason_code not in OFF_TREATMENT_REASONS:
        errors["reason_code"] = [f"Choose a reason: {', '.join(OFF_TREATMENT_REASONS.values())}."]
    last_given = (
        Administration.objects.filter(cycle__patient=patient, status__in=[Administration.Status.GIVEN, Administration.Status.OTHER_DOSE])
        .order_by("-given_on")
        .values_list("given_on", flat=True)
        .first()
    )
    first = Cycle.objects.filter(patient=patient, number=1).first()
    last_dose_on = last_dose_on or last_given
    if last_dose_on is None:
        errors["last_dose_on"] = ["No dose is recorded: give the date of the last dose."]
    else:
        if last_given is not None and last_dose_on < last_given:
            errors["last_dose_on"] = [f"A dose is recorded on {last_given.isoformat()}, after this date."]
        if first is not None and last_dose_on < first.day1:
            errors["last_dose_on"] = [f"The last dose cannot be before cycle 1 day 1 ({first.day1.isoformat()})."]
        if last_dose_on > decided_on:
            errors["last_dose_on"] = ["The last dose cannot be after the decision to stop."]
    if decided_on > today:
        errors["decided_on"] = ["The date cannot be in the future."]
    _errors(errors)
    trial = patient.trial
    off = OffTreatment(
        patient=patient,
        reason=reason_code,
        decided_on=decided_on,
        last_dose_on=last_dose_on,
        follow_up_until=last_dose_on + timedelta(days=365 * trial.follow_up_years),
        entered_by=by,
    )
    audited_save(off, by=by, reason=f"Off treatment: {OFF_TREATMENT_REASONS[reason_code]}")
    _visits_after_treatment(patient, by=by, decided_on=decided_on, last_dose_on=last_dose_on)
    record_change(patient, Kind.DOSING)
    patient_change_status(patient=patient, by=by, to_status=PatientStatus.OFF_TREATMENT, reason_code=reason_code, on_date=decided_on, note=note, today=today)
    return off


def _visits_after_treatment(patient: Patient, *, by: User, decided_on: date, last_dose_on: date) -> None:
    """Treatment visits after the decision are no longer expected; the follow-up visits from the last dose are."""
    trial = patient.trial
    follow_up = schedule.follow_up_dates(last_dose_on, years=trial.follow_up_years, interval_days=trial.follow_up_interval_days)
    for visit in Visit.objects.filter(patient=patient, kind=Visit.Kind.TREATMENT, done_on__isnull=True, cancelled=False, expected_on__gt=decided_on):
        visit.cancelled = True
        visit.note = visit.note or f"Not expected: treatment stopped on {decided_on.isoformat()}"
        audit(visit, by=by, reason="Treatment stopped")
        visit.save()
    bulk_create_with_history(
        [Visit(patient=patient, kind=Visit.Kind.FOLLOW_UP, expected_on=d, window_days=trial.visit_window_days * 7) for d in follow_up],
        Visit,
        default_user=by,
        default_change_reason="Follow-up visits expected",
    )
