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

from django.db.models import Model

from accounts.models import User
from cohorts.models import Cohort, Enrolment, EscalationDecision, Patient, Trial
from cohorts.selectors import FieldChange, history_differ
from dosing.models import Administration, Cycle, DoseModification, OffTreatment, PlannedDose, Visit
from response.models import FollowUp, MyelomaAssessment
from toxicity.models import AdverseEvent, Dlt, DltProposal, LabResult

from .exports import csv_stream

# record type -> (model, path from the history row to the patient id, or None for trial-level records)
RECORDS: dict[str, tuple[type[Model], str | None]] = {
    "patient": (Patient, "id"),
    "enrolment": (Enrolment, "patient_id"),
    "cycle": (Cycle, "patient_id"),
    "planned_dose": (PlannedDose, "cycle__patient_id"),
    "administration": (Administration, "cycle__patient_id"),
    "modification": (DoseModification, "patient_id"),
    "visit": (Visit, "patient_id"),
    "off_treatment": (OffTreatment, "patient_id"),
    "adverse_event": (AdverseEvent, "patient_id"),
    "lab": (LabResult, "patient_id"),
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


def _history_rows(key: str, trial: Trial, patient: Patient | None, cycle_ids: list[int] | None):
    model, path = RECORDS[key]
    rows = model.history.all()
    if path is None:
        if patient is not None:
            return rows.none()
        return rows.filter(trial_id=trial.pk)
    if path == "cycle__patient_id":
        return rows.filter(cycle_id__in=cycle_ids)
    field = "id" if path == "id" else path
    if patient is not None:
        return rows.filter(**{field: patient.pk})
    return rows.filter(**{f"{field}__in": Patient.objects.filter(trial=trial).values("pk")})


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
    patient_ids = visible_patients if visible_patients is not None else Patient.objects.filter(trial=trial).values("pk")
    study_ids = dict(Patient.objects.filter(pk__in=patient_ids).values_list("pk", "study_id"))
    cycle_qs = Cycle.objects.filter(patient_id__in=[patient.pk] if patient else list(study_ids))
    cycle_patients = dict(cycle_qs.values_list("pk", "patient_id")) if {"planned_dose", "administration"} & set(keys) else {}
    out: list[Entry] = []
    for key in keys:
        model = RECORDS[key][0]
        rows = _history_rows(key, trial, patient, list(cycle_patients))
        if RECORDS[key][1] not in (None, "cycle__patient_id"):
            field = "id" if RECORDS[key][1] == "id" else RECORDS[key][1]
            rows = rows.filter(**{f"{field}__in": list(study_ids)})
        out += _entries(key, model, list(rows.select_related("history_user").order_by("id", "history_date", "history_id")), study_ids, cycle_patients)
    if user is not None:
        out = [e for e in out if e.username == user.username]
    if since is not None:
        out = [e for e in out if e.when.date() >= since]
    if until is not None:
        out = [e for e in out if e.when.date() <= until]
    return sorted(out, key=lambda e: e.when, reverse=True)


def _entries(key: str, model, rows: list, study_ids: dict[int, str], cycle_patients: dict[int, int]) -> list[Entry]:
    differ = history_differ(model)
    out, previous = [], {}
    for rec in rows:
        changes = tuple(differ(rec, previous.get(rec.id)))  # each object against its own previous version
        previous[rec.id] = rec
        pid = rec.id if key == "patient" else getattr(rec, "patient_id", None)
        if pid is None and hasattr(rec, "cycle_id"):
            pid = cycle_patients.get(rec.cycle_id)
        who = rec.history_user
        out.append(
            Entry(
                when=rec.history_date,
                who=(who.get_full_name() or who.username) if who else "system",
                username=who.username if who else "",
                record_type=key,
                record=str(model._meta.verbose_name).capitalize(),
                object_id=rec.id,
                patient=study_ids.get(pid, "") if pid else "",
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
