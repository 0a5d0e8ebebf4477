"""The audit trail browser: who changed what, when and why, across every clinical record (django-simple-history).

Per patient or trial-wide, filtered by user, record type and date; each entry
shows the old and new value of every changed field (choice labels, ISO dates).
Each object's versions are diffed against that object's previous version, so the
rows of many records of one type never get mixed up.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import F, IntegerField, Model, Value
from django.utils import timezone

from accounts.models import User
from cohorts.models import Cohort, Enrolment, Patient, Trial
from cohorts.selectors import FieldChange, history_differ
from dosing.models import Administration, Cycle, DoseModification, OffTreatment, PlannedDose, Visit
from escalation.models import EscalationDecision
from response.models import FollowUp, MyelomaAssessment
from toxicity.models import AdverseEvent, ConMed, Dlt, DltProposal, LabResult

from .exports import csv_stream

# record type -> (model, path from the history row to the patient id, or None for trial-level records)
RECORDS: dict[str, tuple[type[Model], str | None]] = {
    "patient": (Patient, "id"),  # paths are followed in SQL: the history tables keep their foreign keys
    "enrolment": (Enrolment, "patient_id"),
    "cycle": (Cycle, "patient_id"),
    "planned_dose": (PlannedDose, "cycle__patient_id"),
    "administration": (Administration, "cycle__patient_id"),
    "modification": (DoseModification, "patient_id"),
    "visit": (Visit, "patient_id"),
    "off_treatment": (OffTreatment, "patient_id"),
    "adverse_event": (AdverseEvent, "patient_id"),
    "lab": (LabResult, "patient_id"),
    "conmed": (ConMed, "patient_id"),
    "dlt_proposal": (DltProposal, "patient_id"),
    "dlt": (Dlt, "patient_id"),
    "assessment": (MyelomaAssessment, "patient_id"),
    "follow_up": (FollowUp, "patient_id"),
    "cohort": (Cohort, None),
    "decision": (EscalationDecision, None),
}
ACTIONS = {"+": "Created", "~": "Changed", "-": "Deleted"}


@dataclass(frozen=True)
class Entry:
    when: datetime
    who: str
    username: str
    record_type: str
    record: str
    object_id: int
    patient: str
    action: str
    reason: str
    changes: tuple[FieldChange, ...]


def record_label(key: str) -> str:
    return str(RECORDS[key][0]._meta.verbose_name).capitalize()


def _history_rows(key: str, trial: Trial, patient: Patient | None, visible, *, user: User | None, since: date | None, until: date | None):
    """The history rows of one record type for the visible patients (or the trial), each with `pid`, its patient.

    Every version of an object is loaded when one of its versions matches the user and dates (the
    differ compares each version with the one before), and no other object."""
    model, path = RECORDS[key]
    rows = model.history.all()
    if path is None:
        if patient is not None:
            return rows.none()
        rows = rows.filter(trial_id=trial.pk).annotate(pid=Value(None, output_field=IntegerField()))
    else:
        rows = rows.filter(**{f"{path}__in": visible}).annotate(pid=F(path))
        if patient is not None:
            rows = rows.filter(**{path: patient.pk})
    matching = rows
    if user is not None:
        matching = matching.filter(history_user=user)
    if since is not None:
        matching = matching.filter(history_date__date__gte=since)
    if until is not None:
        matching = matching.filter(history_date__date__lte=until)
    return rows if matching is rows else rows.filter(id__in=matching.values("id"))


def trail(
    trial: Trial,
    *,
    patient: Patient | None = None,
    user: User | None = None,
    record_types: list[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    visible_patients=None,
) -> list[Entry]:
    """Entries newest first (one query per record type, whatever the number of records)."""
    keys = [k for k in RECORDS if not record_types or k in record_types]
    visible = visible_patients if visible_patients is not None else Patient.objects.filter(trial=trial).values("pk")
    study_ids = dict(Patient.objects.filter(pk__in=visible).values_list("pk", "study_id"))
    out: list[Entry] = []
    for key in keys:
        rows = _history_rows(key, trial, patient, visible, user=user, since=since, until=until)
        out += _entries(key, RECORDS[key][0], list(rows.select_related("history_user").order_by("id", "history_date", "history_id")), study_ids)
    if user is not None:
        out = [e for e in out if e.username == user.username]
    if since is not None:
        out = [e for e in out if timezone.localtime(e.when).date() >= since]
    if until is not None:
        out = [e for e in out if timezone.localtime(e.when).date() <= until]
    return sorted(out, key=lambda e: e.when, reverse=True)


def _entries(key: str, model, rows: list, study_ids: dict[int, str]) -> list[Entry]:
    differ = history_differ(model)
    out, previous = [], {}
    for rec in rows:
        changes = tuple(differ(rec, previous.get(rec.id)))  # each object against its own previous version
        previous[rec.id] = rec
        who = rec.history_user
        out.append(
            Entry(
                when=rec.history_date,
                who=(who.get_full_name() or who.username) if who else "system",
                username=who.username if who else "",
                record_type=key,
                record=str(model._meta.verbose_name).capitalize(),
                object_id=rec.id,
                patient=study_ids.get(rec.pid, "") if rec.pid else "",
                action=ACTIONS.get(rec.history_type, rec.history_type),
                reason=rec.history_change_reason or "",
                changes=changes,
            )
        )
    return out


def csv_rows(entries: list[Entry]) -> Iterator[str]:
    """The trail as CSV text (exports.csv_stream): one line per changed field (a creation is one line)."""
    header = ["when", "user", "record_type", "record_id", "patient", "action", "field", "old", "new", "reason"]
    rows = (
        [e.when.isoformat(), e.username or "system", e.record_type, e.object_id, e.patient, e.action, c.field, c.old or "", c.new or "", e.reason]
        for e in entries
        for c in e.changes or (FieldChange("", None, None),)
    )
    return csv_stream(header, rows)
