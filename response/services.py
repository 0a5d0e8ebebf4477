"""Writes for response: assessments (units converted), spurious values, follow-up, and the computed results.

Every write is atomic, validated and audited; one that changes what the IMWG rules
read records the change in the outbox in its transaction (trialsite.outbox), and the
pipeline (pipeline/flow.py) recomputes the patient's course and then the trial's endpoints.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from accounts.roles import Perm
from cohorts.models import DoseLevel, Enrolment, Patient, Trial
from cohorts.services import patient_lock as _lock_patient
from dosing.models import Cycle
from dosing.services import check_unlocked
from trialsite.audit import audited_save, reason_missing
from trialsite.models import Change
from trialsite.outbox import Kind, record_change
from trialsite.states import move_rows
from trialsite.tasks import delay_on_commit
from trialsite.units import to_stored_places

from . import endpoints, imwg, selectors, stored
from .models import RECOMPUTE_MOVES, SPURIOUS_PARAMETERS, EndpointSnapshot, FollowUp, MyelomaAssessment, RecomputeJob, ResponseResult

# value name -> {unit: factor to the stored unit}
UNITS = {
    "spep": {"g/dL": Decimal(1), "g/L": Decimal("0.1")},
    "upep": {"mg/24h": Decimal(1), "g/24h": Decimal(1000)},
    "kappa": {"mg/dL": Decimal(1), "mg/L": Decimal("0.1")},
    "lambda_flc": {"mg/dL": Decimal(1), "mg/L": Decimal("0.1")},
    "marrow_pc": {"%": Decimal(1)},
    "plasmacytoma_size": {"cm2": Decimal(1)},
}
PLACES = {"spep": Decimal("0.01"), "upep": Decimal("0.1"), "kappa": Decimal("0.001"), "lambda_flc": Decimal("0.001")}
PLACES |= {"marrow_pc": Decimal("0.1"), "plasmacytoma_size": Decimal("0.01")}
FLAGS = ("serum_ife", "urine_ife", "marrow_clonal", "plasmacytoma", "new_lesions")
LABELS = {
    "spep": "Serum M-protein",
    "upep": "Urine M-protein",
    "kappa": "Kappa FLC",
    "lambda_flc": "Lambda FLC",
    "marrow_pc": "Marrow plasma cells",
    "plasmacytoma_size": "Plasmacytoma size",
}


def _add(errors: dict[str, list[str]], field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


# ---------------------------------------------------------------- assessments


def convert(values: dict, units: dict[str, str]) -> tuple[dict, dict[str, list[str]]]:
    """Values as entered into stored units; every problem at once."""
    out, errors = {}, {}
    for name, factors in UNITS.items():
        raw = values.get(name)
        if raw is None or raw == "":
            out[name] = None
            continue
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            _add(errors, name, "Enter a number.")
            continue
        if not value.is_finite():  # NaN and Infinity are no measurement (and NaN cannot be compared: a 500)
            _add(errors, name, "Enter a number.")
            continue
        unit = units.get(name) or next(iter(factors))
        if unit not in factors:
            _add(errors, name, f"Unit must be one of {', '.join(factors)}.")
            continue
        if value < 0:
            _add(errors, name, f"{LABELS[name]} cannot be negative.")
            continue
        column = MyelomaAssessment._meta.get_field(name)
        largest = Decimal(10) ** (column.max_digits - column.decimal_places)
        # 1e400 or 10**30 would not fit the column (quantize raised: a 500); nor would 9999.999 once rounded.
        in_units = to_stored_places(value * factors[unit], PLACES[name]) if value * factors[unit] < largest else largest
        if in_units is not None and in_units >= largest:
            _add(errors, name, f"{LABELS[name]} must be below {largest} {next(u for u, f in factors.items() if f == 1)}.")
            continue
        if in_units is None:
            _add(errors, name, f"{LABELS[name]} {value} {unit} rounds to 0 in stored units: check the unit.")
            continue
        if name == "marrow_pc" and in_units > 100:
            _add(errors, name, "Marrow plasma cells are a percentage: at most 100%.")
            continue
        out[name] = in_units
    ku, lu = units.get("kappa") or "mg/dL", units.get("lambda_flc") or "mg/dL"
    if values.get("kappa") not in (None, "") and values.get("lambda_flc") not in (None, "") and ku != lu:
        _add(errors, "lambda_flc", f"Kappa is in {ku} and lambda in {lu}: enter both light chains in the same unit (are they swapped?).")
    for name in FLAGS:
        out[name] = values.get(name)
    out["serum_isotype"] = values.get("serum_isotype") or ""
    return out, errors


def _check_assessment(patient: Patient, on: date | None, values: dict, today: date) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if on is None:
        _add(errors, "on", "Give the date of the assessment.")
    elif on > today:
        _add(errors, "on", "The assessment date cannot be in the future.")
    elif patient.consent_date is not None and on < patient.consent_date:
        _add(errors, "on", f"The assessment is dated before consent ({patient.consent_date.isoformat()}).")
    if values.get("plasmacytoma_size") is not None and values.get("plasmacytoma") is False:
        _add(errors, "plasmacytoma_size", "A size is given but no plasmacytoma is present.")
    if all(values.get(k) is None for k in (*UNITS, *FLAGS)):
        _add(errors, "__all__", "Enter at least one result.")
    return errors


@transaction.atomic
def assessment_record(
    *,
    patient: Patient,
    by: User,
    on: date,
    values: dict,
    units: dict[str, str] | None = None,
    reason_for_change: str = "",
    today: date | None = None,
) -> MyelomaAssessment:
    """Record (or, with a reason, correct) the myeloma assessment of one date. Units are converted:
    serum M-protein g/L -> g/dL, urine g/24 h -> mg/24 h, free light chains mg/L -> mg/dL."""
    today = today or timezone.localdate()
    patient = _lock_patient(patient, by)
    converted, errors = convert(values, units or {})
    check_unlocked(patient, "an assessment", on)
    errors.update({k: v for k, v in _check_assessment(patient, on, converted, today).items() if k not in errors})
    if errors:
        raise ValidationError(errors)
    existing = MyelomaAssessment.objects.select_for_update(no_key=True).filter(patient=patient, on=on).first()
    if existing is not None:
        changed = {k: v for k, v in converted.items() if getattr(existing, k) != v and not (v is None and k not in values)}
        if not changed:
            return existing
        if reason_missing(reason_for_change):
            raise ValidationError({"reason_for_change": [f"The assessment of {on.isoformat()} is already recorded: give a reason for the change."]})
        for k, v in changed.items():
            setattr(existing, k, v)
        audited_save(existing, by=by, reason=reason_for_change.strip())
        record_change(patient, Kind.ASSESSMENT)
        return existing
    assessment = MyelomaAssessment(patient=patient, on=on, entered_by=by, **converted)
    audited_save(assessment, by=by, reason="Recorded")
    record_change(patient, Kind.ASSESSMENT)
    return assessment


@transaction.atomic
def assessment_mark_spurious(*, assessment: MyelomaAssessment, by: User, parameter: str, reason: str) -> MyelomaAssessment:
    """Mark one value as spurious (kept, shown, never a nadir), with the reason."""
    patient = _lock_patient(assessment.patient, by)
    assessment = MyelomaAssessment.objects.select_for_update(no_key=True).get(pk=assessment.pk)
    check_unlocked(patient, "an assessment", assessment.on)
    errors: dict[str, list[str]] = {}
    if parameter not in SPURIOUS_PARAMETERS:
        _add(errors, "parameter", f"Choose one of {', '.join(SPURIOUS_PARAMETERS)}.")
    if reason_missing(reason):
        _add(errors, "reason", "Give the reason the value is spurious.")
    if errors:
        raise ValidationError(errors)
    assessment.spurious = {**assessment.spurious, parameter: reason.strip()}
    audited_save(assessment, by=by, reason=f"{SPURIOUS_PARAMETERS[parameter]} marked spurious: {reason.strip()}")
    record_change(patient, Kind.ASSESSMENT)
    return assessment


@transaction.atomic
def followup_record(*, patient: Patient, by: User, reason: str = "", today: date | None = None, **values) -> FollowUp:
    """Death (date, cause), next therapy (start, regimen), last contact; corrections need a reason."""
    today = today or timezone.localdate()
    allowed = {"death_on", "death_cause", "next_therapy_on", "next_therapy_regimen", "last_contact_on"}
    unknown = set(values) - allowed
    if unknown:
        raise ValidationError({name: ["Not a follow-up field."] for name in sorted(unknown)})
    patient = _lock_patient(patient, by)
    follow = FollowUp.objects.select_for_update(no_key=True).filter(patient=patient).first() or FollowUp(patient=patient)
    merged = {k: values.get(k, getattr(follow, k)) for k in allowed}
    merged["death_cause"] = (merged["death_cause"] or "").strip()
    merged["next_therapy_regimen"] = (merged["next_therapy_regimen"] or "").strip()
    errors: dict[str, list[str]] = {}
    for k in ("death_on", "next_therapy_on", "last_contact_on"):
        if merged[k] is not None and merged[k] > today:
            _add(errors, k, "The date cannot be in the future.")
        if merged[k] is not None and patient.consent_date and merged[k] < patient.consent_date:
            _add(errors, k, f"The date is before consent ({patient.consent_date.isoformat()}).")
    if merged["death_on"] and not merged["death_cause"]:
        _add(errors, "death_cause", "Give the cause of death.")
    if merged["next_therapy_on"] and not merged["next_therapy_regimen"]:
        _add(errors, "next_therapy_regimen", "Give the regimen of the next therapy.")
    if merged["death_on"] and merged["last_contact_on"] and merged["last_contact_on"] > merged["death_on"]:
        _add(errors, "last_contact_on", "The last contact cannot be after death.")
    changed = {k: v for k, v in merged.items() if getattr(follow, k) != v}
    correcting = follow.pk and any(getattr(follow, k) not in (None, "") for k in changed)
    if correcting and reason_missing(reason):
        _add(errors, "reason", "A reason for change is required when correcting follow-up data.")
    if errors:
        raise ValidationError(errors)
    if not changed:
        return follow
    for k, v in changed.items():
        setattr(follow, k, v)
    if {"death_on", "death_cause"} & set(changed):
        follow.death_from_event = False  # entered here: the follow-up's own record (a grade 5 event stays linked)
    audited_save(follow, by=by, reason=(reason or "").strip() or "Follow-up recorded")
    record_change(patient, Kind.FOLLOW_UP)
    return follow


@transaction.atomic
def followup_death_sync(*, patient_ids: Iterable[int]) -> int:
    """Link each patient's death record to their grade 5 adverse event (toxicity, the layer below): idempotent.

    - A current grade 5 event and no date of death recorded: the follow-up's death is written from it (the
      event's end is the date of death, its term the cause).
    - A date of death already recorded: it is kept and linked to the event (a differing date is for a data query).
    - The event retracted or regraded: the link goes, and a death written only from it goes with it.
    The pipeline calls it in the responses stage (a grade 5 event records a follow-up change); returns the rows written.
    """
    from toxicity.models import AdverseEvent

    ids = list(patient_ids)
    fatal: dict[int, AdverseEvent] = {}
    for ae in AdverseEvent.objects.filter(patient_id__in=ids, grade=5, in_error=False).select_related("entered_by").order_by("resolved", "onset", "pk"):
        fatal.setdefault(ae.patient_id, ae)
    follows = {f.patient_id: f for f in FollowUp.objects.select_for_update(no_key=True).filter(patient_id__in=ids)}
    written = 0
    for pid in ids:
        ae, follow = fatal.get(pid), follows.get(pid)
        if ae is not None:
            follow = follow or FollowUp(patient_id=pid)
            if follow.death_on is None or follow.death_from_event:
                values = {"death_on": ae.resolved or ae.onset, "death_cause": ae.term_name[:200], "death_event": ae, "death_from_event": True}
            else:
                values = {"death_event": ae}
            reason = f"Death record from the grade 5 adverse event {ae} (event {ae.pk})"
        elif follow is not None and follow.death_event_id is not None:
            values = {"death_event": None, "death_from_event": False}
            if follow.death_from_event:
                values |= {"death_on": None, "death_cause": ""}
            reason = "The grade 5 adverse event behind the death record was retracted or regraded"
        else:
            continue
        if all(getattr(follow, k) == v for k, v in values.items()):
            continue
        for k, v in values.items():
            setattr(follow, k, v)
        audited_save(follow, by=ae.entered_by if ae is not None else None, reason=reason)
        written += 1
    return written


# ---------------------------------------------------------------- computing responses


ENDPOINT_RULES = f"{imwg.RULE_VERSION}+{endpoints.RULE_VERSION}"  # what an endpoint snapshot was computed with
RESULT_FIELDS = (*stored.STORED_FIELDS, "inputs_at", "computed_at", "digest")
# The model's names for the fields of `imwg.Assessment` (the model field for `lambda_` is `lambda_flc`).
ASSESSMENT_FIELDS = {name: {"lambda_": "lambda_flc"}.get(name, name) for name in imwg.Assessment._fields}
INPUT_COLUMNS = tuple(field for field in ASSESSMENT_FIELDS.values() if field != "spurious")


def _assessment(values: dict) -> imwg.Assessment:
    """An assessment as the IMWG rules read it, from the model's values."""
    fields = {name: values[field] for name, field in ASSESSMENT_FIELDS.items()}
    return imwg.Assessment(**{**fields, "spurious": frozenset(fields["spurious"])})


def _inputs(patient_ids: list[int]) -> dict[int, list[imwg.Assessment]]:
    """Each patient's assessments as `imwg.Assessment`s, in date order (one query)."""
    out: dict[int, list[imwg.Assessment]] = {}
    rows = MyelomaAssessment.objects.filter(patient_id__in=patient_ids).order_by("patient_id", "on").values("patient_id", *ASSESSMENT_FIELDS.values())
    for values in rows:
        out.setdefault(values["patient_id"], []).append(_assessment(values))
    return out


def stale_patients(*, trial: Trial | None = None, patient_ids: Iterable[int] | None = None) -> list[int]:
    """The patients (of the trial, or among these ids) whose stored course is missing, from other rules, or older
    than their newest outbox change: the only ones a recompute evaluates. One query: each patient's input
    version is the id of their newest change (trialsite.models.Change), written in the same transaction as
    any data the rules read; patients without cycle 1 or without an assessment have no course to compute."""
    newest = Change.objects.filter(patient_id=OuterRef("pk")).order_by("-id").values("id")[:1]
    patients = Patient.objects.filter(trial=trial) if trial is not None else Patient.objects.filter(pk__in=list(patient_ids or ()))
    stale = (
        patients.filter(Exists(Cycle.objects.filter(patient=OuterRef("pk"), number=1)), Exists(MyelomaAssessment.objects.filter(patient=OuterRef("pk"))))
        .annotate(version=Coalesce(Subquery(newest), 0))
        .filter(Q(response__isnull=True) | ~Q(response__rule_version=imwg.RULE_VERSION) | Q(response__inputs_version__lt=F("version")))
    )
    return sorted(stale.values_list("pk", flat=True))


def response_compute_many(
    patient_ids: Iterable[int], *, chunk: int = 500, progress=None, courses: dict[int, endpoints.CourseResponse] | None = None
) -> dict[str, int]:
    """Recompute and store the IMWG course of these patients where it is stale (`stale_patients`): the others
    are not read, and are counted as skipped (with those that have no course to compute). Idempotent: a course the rules give again is not rewritten. A fixed
    number of queries per chunk; `progress(done)` is called after each chunk. With `courses` (a dict), each
    computed patient's inputs to the endpoints are put in it (`stored.course_inputs`), so the trial's endpoints
    need not read the stored courses again."""
    asked = set(patient_ids)
    ids = stale_patients(patient_ids=asked)
    stats = {"patients": 0, "changed": 0, "skipped": len(asked) - len(ids)}
    for start in range(0, len(ids), chunk):
        _compute_chunk(ids[start : start + chunk], stats, courses)
        if progress is not None:
            progress(min(start + chunk, len(ids)))
    return stats


def _stored_digests(part: list[int]) -> dict[int, tuple[int, str]]:
    """Each stored course of these patients: its id and digest (locked until the chunk's transaction ends)."""
    rows = ResponseResult.objects.select_for_update(no_key=True).filter(patient_id__in=part).values_list("patient_id", "pk", "digest")
    return {pid: (pk, digest) for pid, pk, digest in rows}


@transaction.atomic
def _compute_chunk(part: list[int], stats: dict[str, int], courses: dict[int, endpoints.CourseResponse] | None) -> None:
    """One chunk of `response_compute_many`: six queries to read; the new and the changed courses written in
    batches (one `bulk_create`, a changed course keeping its id), a course the rules give again only its version."""
    versions = _input_versions(part)  # read first: a change committed after it leaves the course stale, never current
    day1 = dict(Cycle.objects.filter(patient_id__in=part, number=1).values_list("patient_id", "day1"))
    next_therapy = dict(FollowUp.objects.filter(patient_id__in=part, next_therapy_on__isnull=False).values_list("patient_id", "next_therapy_on"))
    assessments = _inputs(part)
    latest = dict(
        MyelomaAssessment.history.filter(patient_id__in=part).order_by().values("patient_id").annotate(at=Max("history_date")).values_list("patient_id", "at")
    )
    existing = _stored_digests(part)
    now = timezone.now()
    new, changed, same = [], [], []
    for pid in part:
        if pid not in day1 or pid not in assessments:
            stats["skipped"] += 1
            continue
        stats["patients"] += 1
        try:
            response = imwg.evaluate(assessments[pid], cycle1_day1=day1[pid], next_therapy_on=next_therapy.get(pid))
        except imwg.ImwgError:
            stats["skipped"] += 1
            continue
        if courses is not None:
            courses[pid] = stored.course_inputs(response)
        values, digest = stored.row(response)
        pk, old_digest = existing.get(pid, (None, None))
        version = versions.get(pid, 0)
        if old_digest == digest:  # the same course: only the input version it is current for moves
            same.append(ResponseResult(pk=pk, inputs_version=version))
            continue
        fields = dict(zip(stored.STORED_FIELDS, values, strict=True))
        result = ResponseResult(pk=pk, patient_id=pid, **fields, inputs_at=latest.get(pid), inputs_version=version, computed_at=now, digest=digest)
        (new if pk is None else changed).append(result)
        stats["changed"] += 1
    # A changed course is written anew under its id (a derived row, without history): deleting and inserting a
    # chunk's rows takes a tenth of what bulk_update's CASE per column took (3 s for 500 courses on PostgreSQL).
    ResponseResult.objects.filter(pk__in=[r.pk for r in changed]).delete()
    ResponseResult.objects.bulk_create(new + changed)
    ResponseResult.objects.bulk_update(same, ["inputs_version"])


def _input_versions(part: list[int]) -> dict[int, int]:
    """Each patient's newest outbox change id (their input version)."""
    rows = Change.objects.filter(patient_id__in=part).order_by().values("patient_id").annotate(version=Max("id"))
    return {r["patient_id"]: r["version"] for r in rows}


def courses_for(trial: Trial, computed: dict[int, endpoints.CourseResponse] | None = None) -> list[endpoints.Course]:
    """Every enrolled patient's inputs to the endpoints (a fixed number of queries). `computed` holds
    courses just computed (`response_compute_many(..., courses=...)`); the others are read from the
    stored results."""
    computed = computed or {}
    enrolments = list(
        Enrolment.objects.filter(cohort__trial=trial).order_by("patient__study_id").values_list("patient_id", "patient__study_id", "level__label")
    )
    ids = [pid for pid, _, _ in enrolments]
    cycles: dict[int, dict[int, date]] = {}
    # Filtered by the trial, not by a list of thousands of ids.
    for pid, number, day1 in Cycle.objects.filter(patient__trial=trial, number__in=(1, 2)).values_list("patient_id", "number", "day1"):
        cycles.setdefault(pid, {})[number] = day1
    results = dict(computed)
    unread = [pid for pid in ids if pid not in computed]
    stored_results = ResponseResult.objects.filter(patient_id__in=unread) if computed else ResponseResult.objects.filter(patient__trial=trial)
    # Only the three columns of the stored results the endpoints read (decoding whole courses, with their
    # reasons, was most of the time of a 5,000-patient trial's endpoints).
    columns = ("results__on", "results__category", "results__after_next_therapy", "confirmed", "best", "progression_on", "first_response_on")
    for pid, *course in stored_results.values_list("patient_id", *columns):
        results[pid] = stored.stored_course_inputs(*course)
    follow = {f[0]: f for f in FollowUp.objects.filter(patient__trial=trial).values_list("patient_id", "death_on", "next_therapy_on", "last_contact_on")}
    out = []
    none = endpoints.CourseResponse()
    for pid, study_id, label in enrolments:
        c = cycles.get(pid, {})
        f = follow.get(pid)
        out.append(
            endpoints.Course(
                patient=study_id,
                level=str(label),
                start=c.get(1),
                end_of_cycle2=endpoints.end_of_cycle2(c.get(1), c.get(2), trial.cycle_length_days),
                **results.get(pid, none)._asdict(),
                death_on=f[1] if f else None,
                next_therapy_on=f[2] if f else None,
                last_contact_on=f[3] if f else None,
            )
        )
    return out


@transaction.atomic
def endpoints_compute(*, trial: Trial, computed: dict[int, endpoints.CourseResponse] | None = None) -> EndpointSnapshot:
    """Compute the trial's endpoints and store a snapshot (a new one only when the numbers or the rules changed:
    a snapshot keyed by older rules is replaced even when its numbers are the same, or every recompute would
    compute the endpoints again).
    `computed`: courses just computed by `response_compute_many` (not read back from the database)."""
    courses = courses_for(trial, computed)
    levels = [str(label) for label in DoseLevel.objects.filter(trial=trial).order_by("order").values_list("label", flat=True)]
    data = json.loads(json.dumps(endpoints.compute(courses, levels=levels), default=str))
    data["summary"] = selectors.summary_counts(trial)  # the dashboard's summary plots, counted here once (issue #16)
    inputs_at = ResponseResult.objects.filter(patient__trial=trial).order_by("-computed_at").values_list("computed_at", flat=True).first()
    latest = selectors.latest_snapshot(trial)
    if latest is not None and latest.data == data and latest.rule_version == ENDPOINT_RULES:
        return latest
    return EndpointSnapshot.objects.create(
        trial=trial,
        data=data,
        rule_version=ENDPOINT_RULES,
        inputs_at=inputs_at,
        computed_at=timezone.now(),
        patients=len(courses),
    )


def can_recompute(user: User) -> bool:
    """Who may start a whole-trial recompute: data managers and investigators (docs/response.md, README)."""
    return user.can(Perm.EXPORT) or user.can(Perm.SIGN)


def trial_recompute_start(*, trial: Trial, by: User | None) -> RecomputeJob:
    from .tasks import recompute_trial

    job = RecomputeJob.objects.create(trial=trial, requested_by=by, requested_at=timezone.now())
    delay_on_commit(recompute_trial, job.pk)
    return job


# A whole-trial recompute runs in three steps, so that Celery can spread the chunks over its worker
# processes (response.tasks.recompute_trial: a chord of chunks, then the endpoints):
# trial_recompute_begin -> trial_recompute_chunk for each chunk (independent transactions) -> trial_recompute_finish.
# Only stale courses are computed (`stale_patients`): after a rule change every course, when nothing changed none.
# Each step beats the job's heart; `trial_recompute_reap` fails a job whose worker stopped (response.reap_recomputes).
STALE_AFTER = timedelta(minutes=5)  # a chunk of 500 patients takes seconds: a job silent for this long lost its worker
WORKER_STOPPED = "The worker stopped during this recompute (no progress for 5 minutes): start it again."
NEVER_STARTED = "This recompute never started (was the broker down?): start it again."


def _job_move(job_id: int, target: str, **changes) -> bool:
    """Move the job to `target` if its table allows it from where it is now (one guarded UPDATE); False if not."""
    rows = RecomputeJob.objects.filter(pk=job_id)
    return bool(move_rows(rows, target, machine=RECOMPUTE_MOVES, heartbeat_at=timezone.now(), **changes))


def trial_recompute_begin(job: RecomputeJob, *, chunk: int | None = None) -> list[list[int]]:
    """Mark the job running and split the trial's stale patients into chunks (settings.TRIALSITE_RECOMPUTE_CHUNK).
    A job that is no longer queued (failed by the reaper, or started already) is not run again: []."""
    chunk = chunk or settings.TRIALSITE_RECOMPUTE_CHUNK
    ids = stale_patients(trial=job.trial)
    if not _job_move(job.pk, RecomputeJob.Status.RUNNING, total=len(ids), done=0):
        return []
    return [ids[i : i + chunk] for i in range(0, len(ids), chunk)]


def _fail(job_id: int, message: str) -> None:
    _job_move(job_id, RecomputeJob.Status.FAILED, finished_at=timezone.now(), message=message[:500])


def trial_recompute_chunk(job_id: int, patient_ids: list[int]) -> dict:
    """Recompute one chunk's courses; returns its counts and its patients' inputs to the endpoints (JSON-ready,
    since a Celery result carries them to `trial_recompute_finish`)."""
    computed: dict[int, endpoints.CourseResponse] = {}
    try:
        stats = response_compute_many(patient_ids, chunk=len(patient_ids) or 1, courses=computed)
    except Exception as exc:
        _fail(job_id, str(exc))
        raise
    RecomputeJob.objects.filter(pk=job_id, status=RecomputeJob.Status.RUNNING).update(done=F("done") + len(patient_ids), heartbeat_at=timezone.now())
    if settings.TRIALSITE_RECOMPUTE_CHUNK_PAUSE:  # the killed-worker test slows the chunks down; 0 everywhere else
        time.sleep(settings.TRIALSITE_RECOMPUTE_CHUNK_PAUSE)
    return {"stats": stats, "courses": {str(pid): stored.course_json(c) for pid, c in computed.items()}}


def trial_recompute_finish(job_id: int, chunks: list[dict]) -> RecomputeJob:
    """The endpoints from the courses the chunks computed; the job is done. When no course changed and the
    trial's endpoints are from the current rules, they are current already (the pipeline keeps them so)."""
    job = RecomputeJob.objects.select_related("trial").get(pk=job_id)
    stats = {"patients": 0, "changed": 0, "skipped": 0}
    computed: dict[int, endpoints.CourseResponse] = {}
    for part in chunks:
        for key, n in part["stats"].items():
            stats[key] += n
        computed.update((int(pid), stored.course_from_json(c)) for pid, c in part["courses"].items())
    try:
        latest = selectors.latest_snapshot(job.trial)
        if stats["changed"] or latest is None or latest.rule_version != ENDPOINT_RULES:
            endpoints_compute(trial=job.trial, computed=computed)
    except Exception as exc:
        _fail(job_id, str(exc))
        raise
    _job_move(job_id, RecomputeJob.Status.DONE, done=job.total, finished_at=timezone.now(), message=f"{stats['patients']} patients, {stats['changed']} changed")
    job.refresh_from_db()
    return job


def trial_recompute(*, job: RecomputeJob) -> RecomputeJob:
    """The three steps in this process, one chunk after the other (what the chord does across workers)."""
    chunks = trial_recompute_begin(job)
    return trial_recompute_finish(job.pk, [trial_recompute_chunk(job.pk, part) for part in chunks])


def trial_recompute_reap(*, now: datetime | None = None) -> list[int]:
    """Fail every recompute that lost its worker: running without a heartbeat for STALE_AFTER, or still queued
    that long after it was requested. The dashboard shows the message and the button to start it again."""
    now = now or timezone.now()
    cutoff = now - STALE_AFTER
    running = RecomputeJob.objects.filter(status=RecomputeJob.Status.RUNNING, heartbeat_at__lt=cutoff)
    queued = RecomputeJob.objects.filter(status=RecomputeJob.Status.QUEUED, requested_at__lt=cutoff)
    reaped = []
    for jobs, message in ((running, WORKER_STOPPED), (queued, NEVER_STARTED)):
        for pk in jobs.values_list("pk", flat=True):
            _fail(pk, message)
            reaped.append(pk)
    return reaped
