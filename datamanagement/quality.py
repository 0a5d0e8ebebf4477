"""Data quality: data queries (raised, answered, closed, re-opened), edit checks that raise them, and cycle locks.

Writes are atomic and audited (django-simple-history on DataQuery and Cycle).
Data managers raise, close and re-open queries and lock cycles; coordinators
answer their own site's queries (correcting the value itself through the usual
form, with its reason for change).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.models import User
from accounts.roles import Perm
from cohorts.models import Patient, Trial
from dosing.models import Administration, Cycle
from dosing.services import cycle_end
from response.models import FollowUp
from toxicity.models import AdverseEvent, ConMed, LabResult
from trialsite.audit import audited_save, reason_missing
from trialsite.signatures import password_errors, sign, signed
from trialsite.states import move

from . import audit, editchecks
from .models import DataQuery


def _need(by: User, perm: Perm, what: str) -> None:
    if not by.can(perm):
        raise PermissionDenied(what)


def _may_move(query: DataQuery, target: str, refusal: str) -> None:
    """Refuse, with the page's message, a move the query's table (DataQuery.MOVES) does not list."""
    if target not in DataQuery.MOVES.allowed(query.status):
        raise ValidationError({"__all__": [refusal]})


def _text(value: str, field: str, message: str) -> str:
    if reason_missing(value):
        raise ValidationError({field: [message]})
    return value.strip()


def record_exists(patient: Patient, record_type: str, object_id: int) -> bool:
    """The record (of a type the audit trail knows) belongs to the patient."""
    if record_type not in audit.RECORDS:
        return False
    model, path = audit.RECORDS[record_type]
    if path is None:
        return False
    if path == "id":
        return object_id == patient.pk
    return model.objects.filter(pk=object_id, **{path: patient.pk}).exists()


@transaction.atomic
def query_raise(*, patient: Patient, by: User, record_type: str, object_id: int, field: str, text: str) -> DataQuery:
    _need(by, Perm.QUERY, "Data queries are raised by a data manager.")
    errors: dict[str, list[str]] = {}
    if not record_exists(patient, record_type, object_id):
        errors["object_id"] = [f"No {record_type.replace('_', ' ')} #{object_id} for {patient.study_id}."]
    if not field or not field.strip():
        errors["field"] = ["Name the field the query is about."]
    if reason_missing(text):
        errors["text"] = ["Write the query."]
    if errors:
        raise ValidationError(errors)
    query = DataQuery(
        patient=patient, record_type=record_type, object_id=object_id, field=field.strip(), text=text.strip(), raised_by=by, raised_at=timezone.now()
    )
    audited_save(query, by=by, reason="Query raised")
    return query


@transaction.atomic
def query_answer(*, query: DataQuery, by: User, answer: str) -> DataQuery:
    """The site answers (after correcting the value, with its reason, where it was wrong)."""
    _need(by, Perm.ENTER_DATA, "Queries are answered by the site.")
    query = DataQuery.objects.select_for_update(no_key=True).select_related("patient").get(pk=query.pk)
    if by.site_scoped and by.site_id != query.patient.site_id:
        raise PermissionDenied("Coordinators answer their own site's queries only.")
    _may_move(query, DataQuery.Status.ANSWERED, "This query is closed.")
    text = _text(answer, "answer", "Write the answer (what was checked or corrected).")
    move(
        query,
        DataQuery.Status.ANSWERED,
        machine=DataQuery.MOVES,
        by=by,
        reason=f"Answered: {text}",
        save=False,
        answer=text,
        answered_by=by,
        answered_at=timezone.now(),
    )
    audited_save(query, by=by, reason=f"Answered: {text}")
    return query


@transaction.atomic
def query_close(*, query: DataQuery, by: User, note: str = "") -> DataQuery:
    _need(by, Perm.QUERY, "Queries are closed by a data manager.")
    query = DataQuery.objects.select_for_update(no_key=True).get(pk=query.pk)
    _may_move(query, DataQuery.Status.CLOSED, "This query is already closed.")
    note = (note or "").strip()
    reason = "Closed" + (f": {note}" if note else "")
    move(query, DataQuery.Status.CLOSED, machine=DataQuery.MOVES, by=by, reason=reason, save=False, closed_by=by, closed_at=timezone.now(), note=note)
    audited_save(query, by=by, reason=reason)
    return query


@transaction.atomic
def query_reopen(*, query: DataQuery, by: User, note: str) -> DataQuery:
    _need(by, Perm.QUERY, "Queries are re-opened by a data manager.")
    query = DataQuery.objects.select_for_update(no_key=True).get(pk=query.pk)
    _may_move(query, DataQuery.Status.OPEN, "Only a closed query can be re-opened.")
    note = _text(note, "note", "Say why the query is re-opened.")
    move(query, DataQuery.Status.OPEN, machine=DataQuery.MOVES, by=by, reason=f"Re-opened: {note}", save=False, note=note, closed_by=None, closed_at=None)
    audited_save(query, by=by, reason=f"Re-opened: {note}")
    return query


def edit_checks_run(*, trial: Trial) -> int:
    """Run every edit check on the trial; each new finding becomes an open query (no duplicates). Returns how many."""
    patients = Patient.objects.filter(trial=trial)
    events = [
        editchecks.Event(pk, pid, term, onset, resolved, grade, tuple(supportive or ()), event_id)
        for pk, pid, term, onset, resolved, grade, supportive, event_id in AdverseEvent.objects.filter(patient__in=patients, in_error=False).values_list(
            "pk", "patient_id", "term", "onset", "resolved", "grade", "supportive", "event_id"
        )
    ]
    conmeds: dict[int, set[str]] = {}
    for ae_id, root, category in ConMed.adverse_events.through.objects.filter(conmed__patient__in=patients, conmed__in_error=False).values_list(
        "adverseevent_id", "adverseevent__event_id", "conmed__category"
    ):
        conmeds.setdefault(root or ae_id, set()).add(category)
    cycles = [editchecks.CycleRow(*row) for row in Cycle.objects.filter(patient__in=patients).values_list("pk", "patient_id", "number", "day1", "weight_kg")]
    doses = [
        editchecks.Dose(*row)
        for row in Administration.objects.filter(cycle__patient__in=patients, status__in=["given", "other_dose"]).values_list(
            "pk", "cycle__patient_id", "cycle_id", "given_on", "drug__name"
        )
    ]
    labs = [editchecks.Lab(*row) for row in LabResult.objects.filter(patient__in=patients).values_list("pk", "patient_id", "on", "anc")]
    deaths = dict(FollowUp.objects.filter(patient__in=patients, death_on__isnull=False).values_list("patient_id", "death_on"))
    findings = editchecks.run_all(events=events, cycles=cycles, doses=doses, labs=labs, deaths=deaths, conmeds=conmeds)
    open_keys = set(
        DataQuery.objects.filter(patient__trial=trial)
        .exclude(edit_check="")
        .exclude(status=DataQuery.Status.CLOSED)
        .values_list("edit_check", "record_type", "object_id", "field")
    )
    now, new = timezone.now(), []
    for f in findings:
        if (f.check, f.record_type, f.object_id, f.field) in open_keys:
            continue
        open_keys.add((f.check, f.record_type, f.object_id, f.field))
        q = DataQuery(patient_id=f.patient_id, record_type=f.record_type, object_id=f.object_id, field=f.field, text=f.text, edit_check=f.check, raised_at=now)
        q._change_reason = f"Raised by the edit check {f.check}"  # read by bulk_create_with_history, row by row
        new.append(q)
    with transaction.atomic():
        bulk_create_with_history(new, DataQuery, batch_size=500)
    return len(new)


def open_counts(trial: Trial, patients=None) -> dict:
    """Open (and answered, awaiting closure) queries per site and in all."""
    qs = DataQuery.objects.filter(patient__trial=trial).exclude(status=DataQuery.Status.CLOSED)
    if patients is not None:
        qs = qs.filter(patient__in=patients)
    by_site = dict(qs.values_list("patient__site__number").annotate(n=Count("id")).order_by("patient__site__number"))
    answered = qs.filter(status=DataQuery.Status.ANSWERED).count()
    return {"total": sum(by_site.values()), "by_site": by_site, "answered": answered}


# ---------------------------------------------------------------- locks


def lock_meaning(cycle: Cycle) -> str:
    return f"I confirm the data of cycle {cycle.number} are complete and verified, and I lock them"


def unlock_meaning(cycle: Cycle) -> str:
    return f"I unlock cycle {cycle.number} so that its data can be corrected"


def _cycle_content(cycle: Cycle, reason: str) -> dict:
    return {"patient": cycle.patient_id, "cycle": cycle.number, "day1": cycle.day1, "reason": reason}


@signed
def cycle_lock(*, cycle: Cycle, by: User, password: str, reason: str = "") -> Cycle:
    """Lock a clean cycle: its doses, modifications, visits, adverse events, labs and assessments dated in it cannot change.
    Signed (password re-entered)."""
    _need(by, Perm.LOCK, "Cycles are locked by a data manager.")
    errors = password_errors(by, password)
    if errors:
        raise ValidationError(errors)
    cycle = Cycle.objects.select_for_update(no_key=True).get(pk=cycle.pk)
    if cycle.locked_at is not None:
        raise ValidationError({"__all__": [f"Cycle {cycle.number} is already locked."]})
    open_here = _open_queries_in(cycle)
    if open_here:
        raise ValidationError({"__all__": [f"Cycle {cycle.number} has {open_here} open quer{'y' if open_here == 1 else 'ies'}: close them before locking."]})
    cycle.locked_at, cycle.locked_by = timezone.now(), by
    audited_save(cycle, by=by, reason="Locked" + (f": {reason.strip()}" if reason and reason.strip() else ""))
    sign(record=cycle, by=by, meaning=lock_meaning(cycle), at=cycle.locked_at, content=_cycle_content(cycle, (reason or "").strip()))
    return cycle


@signed
def cycle_unlock(*, cycle: Cycle, by: User, password: str, reason: str) -> Cycle:
    """Unlock a cycle for correction, with the reason. Signed (password re-entered)."""
    _need(by, Perm.LOCK, "Cycles are unlocked by a data manager.")
    errors = password_errors(by, password)
    if reason_missing(reason):
        errors["reason"] = ["Give the reason for unlocking."]
    if errors:
        raise ValidationError(errors)
    reason = reason.strip()
    cycle = Cycle.objects.select_for_update(no_key=True).get(pk=cycle.pk)
    if cycle.locked_at is None:
        raise ValidationError({"__all__": [f"Cycle {cycle.number} is not locked."]})
    cycle.locked_at, cycle.locked_by = None, None
    audited_save(cycle, by=by, reason=f"Unlocked: {reason}")
    sign(record=cycle, by=by, meaning=f"{unlock_meaning(cycle)}: {reason}", content=_cycle_content(cycle, reason))
    return cycle


def _open_queries_in(cycle: Cycle) -> int:
    end = cycle_end(cycle)
    qs = DataQuery.objects.filter(patient_id=cycle.patient_id).exclude(status=DataQuery.Status.CLOSED)
    in_cycle = Q(record_type="cycle", object_id=cycle.pk) | Q(
        record_type="administration", object_id__in=Administration.objects.filter(cycle=cycle).values("pk")
    )
    in_cycle |= Q(record_type="lab", object_id__in=LabResult.objects.filter(patient_id=cycle.patient_id, on__gte=cycle.day1, on__lt=end).values("pk"))
    in_cycle |= Q(
        record_type="adverse_event", object_id__in=AdverseEvent.objects.filter(patient_id=cycle.patient_id, onset__gte=cycle.day1, onset__lt=end).values("pk")
    )
    return qs.filter(in_cycle).count()
