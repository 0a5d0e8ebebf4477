"""Writes for trials, patients and enrolment (house style point 4).

Every service is keyword-only, runs in one transaction, validates before it
saves, and records who made the change and why in the model's history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from accounts.models import Site, User
from trialsite.audit import audit, audited_save, reason_missing
from trialsite.errors import CapReached, NoOpenSlot
from trialsite.outbox import Kind, record_change

from .models import Cohort, DoseLevel, Drug, DrugSchedule, Enrolment, LevelDose, Patient, Trial
from .protocol import ProtocolError, ProtocolSpec
from .registration import check_enrolment, check_registration
from .status import REASONS, PatientStatus, StatusError, check_transition

EDITABLE_FIELDS = (
    "initials",
    "date_of_birth",
    "sex",
    "height_cm",
    "weight_kg",
    "consent_date",
    "eligibility",
    "baseline_anc",
    "baseline_platelets",
    "baseline_marrow_pc_pct",
)


_audit = audit
_save = audited_save


# ---------------------------------------------------------------- protocol


@dataclass
class LoadResult:
    trial: Trial
    created: bool
    changes: list[str] = field(default_factory=list)


def _upsert(model, lookup: dict, values: dict, *, by, reason: str, changes: list[str], what: str):
    """Create or update one row, saving (and so writing history) only when something differs."""
    instance = model.objects.filter(**lookup).first()
    if instance is None:
        instance = model(**lookup, **values)
        _save(instance, by=by, reason=reason)
        changes.append(f"added {what}")
        return instance
    differing = [name for name, value in values.items() if getattr(instance, name) != value]
    if differing:
        for name in differing:
            setattr(instance, name, values[name])
        _save(instance, by=by, reason=reason)
        changes.append(f"changed {what}: {', '.join(differing)}")
    return instance


@transaction.atomic
def protocol_load(*, spec: ProtocolSpec, by: User | None = None, today: date | None = None) -> LoadResult:
    """Load a protocol idempotently: a second load of the same file changes nothing.

    A changed file must carry a new `version` (an amendment); levels that
    patients are enrolled at cannot disappear from it.
    """
    today = today or timezone.localdate()
    t = spec.trial
    reason = f"Protocol {t.code} version {t.version} loaded"
    trial = Trial.objects.select_for_update(no_key=True).filter(code=t.code).first()
    created = trial is None
    previous_version = None if created else trial.protocol_version
    changes: list[str] = []
    trial = _upsert(Trial, {"code": t.code}, _trial_values(spec), by=by, reason=reason, changes=changes, what="trial")
    drugs = _load_drugs(trial, spec, by=by, reason=reason, changes=changes)
    levels = _load_levels(trial, spec, drugs, by=by, reason=reason, changes=changes)
    _load_schedules(spec, drugs, by=by, reason=reason, changes=changes)
    start = levels[t.starting_level]
    if trial.starting_level_id != start.id:
        trial.starting_level = start
        _save(trial, by=by, reason=reason)
        if not created:
            changes.append("changed starting level")
    if not created and changes and previous_version == t.version:
        raise ProtocolError(
            [f"the file differs from the loaded protocol ({'; '.join(changes)}) but its version is still {t.version}: an amendment needs a new version"]
        )
    if not trial.cohorts.exists():
        cohort = Cohort(trial=trial, level=start, number=1, phase=Cohort.Phase.ESCALATION, capacity=trial.cohort_size, opened_on=today)
        _save(cohort, by=by, reason=f"{reason}: first cohort opened at the starting level")
        changes.append("opened cohort 1")
    return LoadResult(trial=trial, created=created, changes=changes)


def _trial_values(spec: ProtocolSpec) -> dict:
    t = spec.trial
    return {
        "nct_id": t.nct_id,
        "title": t.title,
        "phase": t.phase,
        "design": t.design,
        "design_params": spec.design.as_json() if spec.design.name != "3+3" else {},
        "protocol_version": t.version,
        "ctcae_version": t.ctcae,
        "cycle_length_days": t.cycle_length_days,
        "dlt_window_days": t.dlt_window_days,
        "cohort_size": t.cohort_size,
        "cohort_max_size": t.cohort_max_size,
        "cap_escalation": t.cap_escalation,
        "cap_expansion": t.cap_expansion,
        "cap_total": t.cap_total,
        "visit_window_days": t.visit_window_days,
        "visit_days": list(t.visit_days),
        "follow_up_years": t.follow_up_years,
        "follow_up_interval_days": t.follow_up_interval_days,
        "eligibility_criteria": [{"code": c.code, "text": c.text} for c in spec.eligibility],
    }


def _load_drugs(trial: Trial, spec: ProtocolSpec, *, by: User | None, reason: str, changes: list[str]) -> dict[str, Drug]:
    drugs = {}
    for order, d in enumerate(spec.drugs, start=1):
        drugs[d.code] = _upsert(
            Drug,
            {"trial": trial, "code": d.code},
            {"name": d.name, "route": d.route, "order": order, "reduced_dose_mg": d.reduced_dose_mg, "reduction_from_cycle": d.reduction_from_cycle},
            by=by,
            reason=reason,
            changes=changes,
            what=f"drug {d.code}",
        )
    return drugs


def _load_levels(trial: Trial, spec: ProtocolSpec, drugs: dict[str, Drug], *, by: User | None, reason: str, changes: list[str]) -> dict[int, DoseLevel]:
    """The dose levels and their doses; a level in the database cannot be missing from the file."""
    file_labels = {lv.label for lv in spec.levels}
    for gone in DoseLevel.objects.filter(trial=trial).exclude(label__in=file_labels):
        raise ProtocolError([f"level {gone.label} is in the database but not in the file; levels cannot be removed"])
    levels = {}
    for lv in spec.levels:
        levels[lv.label] = _upsert(
            DoseLevel,
            {"trial": trial, "label": lv.label},
            {"order": lv.order},
            by=by,
            reason=reason,
            changes=changes,
            what=f"level {lv.label}",
        )
        for dose in lv.doses:
            _upsert(
                LevelDose,
                {"level": levels[lv.label], "drug": drugs[dose.drug]},
                {"amount": dose.amount, "unit": dose.unit},
                by=by,
                reason=reason,
                changes=changes,
                what=f"level {lv.label} {dose.drug} dose",
            )
    return levels


def _load_schedules(spec: ProtocolSpec, drugs: dict[str, Drug], *, by: User | None, reason: str, changes: list[str]) -> None:
    for s in spec.schedules:
        _upsert(
            DrugSchedule,
            {"drug": drugs[s.drug], "first_cycle": s.first_cycle},
            {"route": s.route, "days": list(s.days), "last_cycle": s.last_cycle},
            by=by,
            reason=reason,
            changes=changes,
            what=f"{s.drug} schedule from cycle {s.first_cycle}",
        )


# ---------------------------------------------------------------- patients


def patient_lock(patient: Patient, by: User) -> Patient:
    """Lock the patient row for a clinical write (two writers queue, never interleave); coordinators only at their site."""
    patient = Patient.objects.select_for_update(no_key=True).select_related("trial", "site").get(pk=patient.pk)
    if by.site_scoped and by.site_id != patient.site_id:
        raise PermissionDenied("Coordinators enter data for their own site's patients only.")
    return patient


def _check_site_access(by: User, site: Site) -> None:
    if by.site_scoped and by.site_id != site.id:
        raise PermissionDenied("Coordinators register and edit patients of their own site only.")


def _raise_if(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def _to_model_precision(values: dict) -> dict:
    """Round decimals to what the model stores (0.1 cm, 0.1 kg), half up, after the plausibility checks."""
    out = dict(values)
    for f in Patient._meta.fields:
        if isinstance(f, models.DecimalField) and out.get(f.name) is not None:
            out[f.name] = Decimal(out[f.name]).quantize(Decimal(1).scaleb(-f.decimal_places), rounding=ROUND_HALF_UP)
    return out


def _clean_eligibility(trial: Trial, eligibility: dict | None) -> dict[str, bool]:
    eligibility = eligibility or {}
    unknown = set(eligibility) - set(trial.criteria_codes)
    if unknown:
        raise ValidationError({"eligibility": [f"Unknown eligibility criteria: {', '.join(sorted(unknown))}."]})
    return {code: bool(eligibility.get(code)) for code in trial.criteria_codes}


@transaction.atomic
def patient_register(
    *,
    trial: Trial,
    site: Site,
    by: User,
    initials: str,
    date_of_birth: date,
    sex: str,
    height_cm: Decimal,
    weight_kg: Decimal,
    consent_date: date | None,
    eligibility: dict[str, bool] | None,
    baseline_anc: Decimal,
    baseline_platelets: Decimal,
    baseline_marrow_pc_pct: Decimal,
    study_id: str | None = None,
    today: date | None = None,
) -> Patient:
    """Register a patient in screening; the study id is the next one of the site."""
    _check_site_access(by, site)
    today = today or timezone.localdate()
    values = {
        "initials": (initials or "").strip().upper(),
        "date_of_birth": date_of_birth,
        "sex": sex,
        "height_cm": height_cm,
        "weight_kg": weight_kg,
        "consent_date": consent_date,
        "baseline_anc": baseline_anc,
        "baseline_platelets": baseline_platelets,
        "baseline_marrow_pc_pct": baseline_marrow_pc_pct,
    }
    _raise_if(check_registration(values, today=today))
    values = _to_model_precision(values)
    values["eligibility"] = _clean_eligibility(trial, eligibility)
    # Lock the site row: study ids are numbered per site without gaps or races.
    Site.objects.select_for_update(no_key=True).get(pk=site.pk)
    same_person = (
        Patient.objects.filter(trial=trial, site=site, initials=values["initials"], date_of_birth=date_of_birth).values_list("study_id", flat=True).first()
    )
    if same_person:
        raise ValidationError({"initials": [f"A patient with these initials and date of birth is already registered at this site: {same_person}."]})
    if study_id:
        sequence = _parse_study_id(trial, site, study_id)
        if Patient.objects.filter(study_id=study_id).exists():
            raise ValidationError({"study_id": [f"Study id {study_id} is already taken."]})
    else:
        last = Patient.objects.filter(trial=trial, site=site).aggregate(last=Max("site_sequence"))["last"] or 0
        sequence = last + 1
        study_id = f"{trial.code}-{site.number}-{sequence:03d}"
    patient = Patient(trial=trial, site=site, study_id=study_id, site_sequence=sequence, registered_by=by, **values)
    _save(patient, by=by, reason="Registered")
    return patient


def _parse_study_id(trial: Trial, site: Site, study_id: str) -> int:
    match = re.fullmatch(rf"{re.escape(trial.code)}-{re.escape(site.number)}-(\d{{3,}})", study_id)
    if not match or int(match[1]) < 1:
        raise ValidationError({"study_id": [f"Study id must read {trial.code}-{site.number}-NNN for this trial and site."]})
    return int(match[1])


@transaction.atomic
def patient_update(*, patient: Patient, by: User, reason: str, today: date | None = None, **changes) -> Patient:
    """Edit registration data; a reason for change is required and kept in the history."""
    today = today or timezone.localdate()
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be edited here."] for name in sorted(unknown)})
    patient = Patient.objects.select_for_update(no_key=True).select_related("trial", "site").get(pk=patient.pk)
    _check_site_access(by, patient.site)
    if patient.status == PatientStatus.OFF_STUDY:
        raise ValidationError({"__all__": ["The patient is off study: registration data can no longer be edited."]})
    if "initials" in changes:
        changes["initials"] = (changes["initials"] or "").strip().upper()
    if "eligibility" in changes:
        changes["eligibility"] = _clean_eligibility(patient.trial, changes["eligibility"])
    pending_errors = check_registration(changes, today=today)
    if pending_errors:
        raise ValidationError(pending_errors)
    changes = _to_model_precision(changes)
    changed = {name: value for name, value in changes.items() if getattr(patient, name) != value}
    if not changed:
        return patient
    if reason_missing(reason):
        raise ValidationError({"reason": ["A reason for change is required when editing clinical data."]})
    merged = {name: changed.get(name, getattr(patient, name)) for name in EDITABLE_FIELDS}
    errors = check_registration(merged, today=today)
    enrolment = Enrolment.objects.filter(patient=patient).first()
    if enrolment is not None:
        if merged["consent_date"] is None:
            errors.setdefault("consent_date", []).append("An enrolled patient's consent date cannot be removed.")
        elif merged["consent_date"] > enrolment.enrolled_on:
            errors.setdefault("consent_date", []).append(f"Consent cannot be after enrolment ({enrolment.enrolled_on.isoformat()}).")
        unmet = [c for c in patient.trial.criteria_codes if not merged["eligibility"].get(c)]
        if unmet:
            errors.setdefault("eligibility", []).append(
                f"An enrolled patient's eligibility cannot be withdrawn here ({', '.join(unmet)}); raise it with the investigator."
            )
    _raise_if(errors)
    for name, value in changed.items():
        setattr(patient, name, value)
    _save(patient, by=by, reason=reason.strip())
    if changed.keys() & {"baseline_anc", "baseline_platelets", "baseline_marrow_pc_pct"}:
        record_change(patient, Kind.REGISTRATION)  # the DLT rules read the baselines
    return patient


@transaction.atomic
def patient_enroll(*, patient: Patient, by: User, enrolled_on: date | None = None, today: date | None = None) -> Enrolment:
    """Put a screened, consented, eligible patient in the next slot of the open cohort.

    Lock, re-check, write (house style point 5): the patient row and the trial's
    open cohort are locked, slots and caps recounted, then the enrolment is
    written; the unique (cohort, slot) constraint backs the count.
    """
    today = today or timezone.localdate()
    enrolled_on = enrolled_on or today
    patient = Patient.objects.select_for_update(no_key=True).get(pk=patient.pk)
    trial = Trial.objects.get(pk=patient.trial_id)
    site = Site.objects.get(pk=patient.site_id)
    _check_site_access(by, site)
    if patient.status != PatientStatus.SCREENING or Enrolment.objects.filter(patient=patient).exists():
        raise ValidationError({"__all__": [f"{patient.study_id} is {patient.status_label.lower()}: only a patient in screening can be enrolled."]})
    _raise_if(
        check_enrolment(
            consent_date=patient.consent_date,
            enrolled_on=enrolled_on,
            today=today,
            eligibility=patient.eligibility,
            criteria=trial.criteria_codes,
        )
    )
    cohort = Cohort.objects.select_for_update(no_key=True).filter(trial=trial, status=Cohort.Status.OPEN).first()
    if cohort is None:
        raise NoOpenSlot("No open slot: no cohort is open for enrolment in this trial.")
    level = DoseLevel.objects.get(pk=cohort.level_id)
    taken = Enrolment.objects.filter(cohort=cohort).count()
    if taken >= cohort.capacity:
        raise NoOpenSlot(
            f"No open slot: cohort {cohort.number} at level {level.label} is full "
            f"({taken} of {cohort.capacity}); enrolment is on hold until the next escalation decision."
        )
    _check_caps(trial, cohort)
    enrolment = Enrolment(patient=patient, cohort=cohort, level=level, slot=taken + 1, enrolled_on=enrolled_on, enrolled_by=by)
    enrolment.full_clean(validate_constraints=False)
    _audit(enrolment, by=by, reason=f"Enrolled at level {level.label}, cohort {cohort.number}, slot {taken + 1}")
    try:
        with transaction.atomic():
            enrolment.save()
    except IntegrityError as exc:  # the constraint behind the count; the lock makes this unreachable
        raise NoOpenSlot(f"No open slot: slot {taken + 1} of cohort {cohort.number} was just taken.") from exc
    check_transition(patient.status, PatientStatus.ENROLLED, None, by_service=True)
    patient.status = PatientStatus.ENROLLED
    patient.status_reason = ""
    patient.status_date = enrolled_on
    _save(patient, by=by, reason=f"Enrolled at level {level.label}")
    record_change(patient, Kind.ENROLMENT)
    return enrolment


def _check_caps(trial: Trial, cohort: Cohort) -> None:
    """Protocol s.2: escalation <= 24, expansion <= 38, total <= 56; all three enforced."""
    counts = Enrolment.objects.filter(cohort__trial=trial).aggregate(
        total=Count("id"),
        escalation=Count("id", filter=Q(cohort__phase=Cohort.Phase.ESCALATION)),
        expansion=Count("id", filter=Q(cohort__phase=Cohort.Phase.EXPANSION)),
    )
    phase_cap = trial.cap_escalation if cohort.phase == Cohort.Phase.ESCALATION else trial.cap_expansion
    if counts[cohort.phase] >= phase_cap:
        raise CapReached(f"Enrolment cap reached: the {cohort.phase} phase has {counts[cohort.phase]} of {phase_cap} patients.")
    if counts["total"] >= trial.cap_total:
        raise CapReached(f"Enrolment cap reached: the trial has {counts['total']} of {trial.cap_total} patients.")


@transaction.atomic
def patient_change_status(
    *,
    patient: Patient,
    by: User,
    to_status: str,
    reason_code: str | None = None,
    on_date: date,
    note: str = "",
    today: date | None = None,
) -> Patient:
    """Move a patient along the declared transitions (cohorts/status.py)."""
    today = today or timezone.localdate()
    patient = Patient.objects.select_for_update(no_key=True).select_related("site").get(pk=patient.pk)
    _check_site_access(by, patient.site)
    try:
        check_transition(patient.status, to_status, reason_code or None)
    except StatusError as exc:
        raise ValidationError({"to_status": [str(exc)]}) from exc
    errors: dict[str, list[str]] = {}
    if on_date > today:
        errors["on_date"] = ["The date of a status change cannot be in the future."]
    elif patient.status_date and on_date < patient.status_date:
        errors["on_date"] = [f"The date cannot be before the current status began ({patient.status_date.isoformat()})."]
    _raise_if(errors)
    target = PatientStatus(to_status)
    label = REASONS.get(target, {}).get(reason_code or "", "")
    text = f"{patient.status_label} -> {target.label}" + (f": {label}" if label else "") + (f". {note.strip()}" if note.strip() else "")
    patient.status = target
    patient.status_reason = reason_code or ""
    patient.status_date = on_date
    _save(patient, by=by, reason=text)
    return patient
