"""Concomitant medications: record, correct and retract one, and the checks on its values.

A conmed of a supportive-care category linked to adverse events is what the DLT rules read as
that event's supportive care (protocol s.3 H2, N2, N6; toxicity.dlt.supportive_from_conmeds), so
each write records a toxicity change in the outbox and reopens adjudicated proposals on those events.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from cohorts.models import Patient
from dosing.services import check_unlocked
from trialsite.audit import audited_save, reason_missing
from trialsite.outbox import Kind, record_change

from ..models import AdverseEvent, ConMed
from ._common import _add, _lock_patient, _raise
from .adjudication import _reopen_for_events

CONMED_FIELDS = ("drug", "indication", "dose", "dose_unit", "frequency", "route", "start", "stop", "ongoing", "category", "adverse_events", "notes")
_TEXT = ("drug", "indication", "dose_unit", "frequency", "notes")


def check_conmed(values: dict, *, today: date) -> dict[str, list[str]]:
    """Every problem with one conmed's own values, at once (the linked events are checked by _linked_events)."""
    errors: dict[str, list[str]] = {}
    for name, label in (("drug", "the drug"), ("indication", "the indication")):
        if not values.get(name):
            _add(errors, name, f"Give {label}.")
    if values.get("route") not in ConMed.Route.values:
        _add(errors, "route", f"The route must be one of {', '.join(ConMed.Route.values)}.")
    if values.get("category") not in ConMed.Category.values:
        _add(errors, "category", f"The category must be one of {', '.join(ConMed.Category.values)}.")
    dose, unit = values.get("dose"), values.get("dose_unit")
    if dose is not None and Decimal(dose) <= 0:
        _add(errors, "dose", "The dose must be above zero.")
    if dose is not None and not unit:
        _add(errors, "dose_unit", "Give the unit of the dose.")
    start, stop, ongoing = values.get("start"), values.get("stop"), values.get("ongoing")
    if start is None:
        _add(errors, "start", "Give the start date.")
    elif start > today:
        _add(errors, "start", "The start cannot be in the future.")
    if stop is not None:
        if start is not None and stop < start:
            _add(errors, "stop", f"The stop ({stop.isoformat()}) cannot be before the start ({start.isoformat()}).")
        if stop > today:
            _add(errors, "stop", "The stop cannot be in the future: leave it empty and tick ongoing.")
        if ongoing:
            _add(errors, "ongoing", "An ongoing medication has no stop date: clear one of them.")
    elif not ongoing:
        _add(errors, "stop", "Give the stop date, or tick ongoing.")
    return errors


def _normalise(values: dict) -> dict:
    out = dict(values)
    for name in _TEXT:
        if name in out:
            out[name] = (out[name] or "").strip()
    if "adverse_events" in out:
        out["adverse_events"] = sorted({a.pk if isinstance(a, AdverseEvent) else int(a) for a in out["adverse_events"] or ()})
    return out


def _linked_events(patient: Patient, values: dict, errors: dict[str, list[str]]) -> list[AdverseEvent]:
    """The events the conmed treats: the patient's current ones, whose dates the conmed's overlap."""
    ids = values.get("adverse_events") or []
    events = list(AdverseEvent.objects.filter(pk__in=ids, patient=patient, in_error=False))
    if len(events) != len(ids):
        _add(errors, "adverse_events", "Link only current adverse events of this patient.")
    start, stop = values.get("start"), values.get("stop")
    for e in events:
        if start is not None and e.resolved is not None and start > e.resolved:
            _add(errors, "adverse_events", f"{e} resolved on {e.resolved.isoformat()}, before the medication started.")
        if stop is not None and stop < e.onset:
            _add(errors, "adverse_events", f"{e} began on {e.onset.isoformat()}, after the medication stopped.")
    return events


def _episodes_of(patient: Patient, event_ids: Iterable[int]) -> list[int]:
    """Every episode of the events those episodes belong to (a proposal names the episodes it rests on)."""
    ids = set(event_ids)
    if not ids:
        return []
    roots = {root or pk for pk, root in AdverseEvent.objects.filter(pk__in=ids).values_list("pk", "event_id")}
    return list(AdverseEvent.objects.filter(Q(pk__in=roots) | Q(event_id__in=roots), patient=patient).values_list("pk", flat=True))


def _check_unknown(changes: dict) -> None:
    unknown = set(changes) - set(CONMED_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be edited here."] for name in sorted(unknown)})


@transaction.atomic
def conmed_record(
    *,
    patient: Patient,
    by: User,
    drug: str,
    indication: str,
    route: str,
    start: date,
    stop: date | None = None,
    ongoing: bool = False,
    dose: Decimal | None = None,
    dose_unit: str = "",
    frequency: str = "",
    category: str = ConMed.Category.OTHER,
    adverse_events: Iterable[AdverseEvent | int] = (),
    notes: str = "",
    today: date | None = None,
) -> ConMed:
    """Record a concomitant medication, linked to the adverse events it treats."""
    today = today or timezone.localdate()
    patient = _lock_patient(patient, by)
    values = _normalise(
        {
            "drug": drug,
            "indication": indication,
            "dose": dose,
            "dose_unit": dose_unit,
            "frequency": frequency,
            "route": route,
            "start": start,
            "stop": stop,
            "ongoing": ongoing,
            "category": category,
            "adverse_events": list(adverse_events),
            "notes": notes,
        }
    )
    check_unlocked(patient, "a concomitant medication", start)
    errors = check_conmed(values, today=today)
    events = _linked_events(patient, values, errors)
    _raise(errors)
    links = values.pop("adverse_events")
    conmed = ConMed(patient=patient, entered_by=by, **values)
    reason = f"Recorded: {conmed.drug} ({conmed.get_category_display()})" + (f" for events {', '.join(map(str, links))}" if links else "")
    audited_save(conmed, by=by, reason=reason)
    if events:
        conmed.adverse_events.set(events)
        _reopen_for_events(patient, _episodes_of(patient, links), by=by, why=f"{conmed} recorded")
    record_change(patient, Kind.TOXICITY)
    return conmed


@transaction.atomic
def conmed_update(*, conmed: ConMed, by: User, reason: str, today: date | None = None, **changes) -> ConMed:
    """Correct a conmed (its links included); the reason for change is kept with the old and new values."""
    today = today or timezone.localdate()
    _check_unknown(changes)
    patient = _lock_patient(conmed.patient, by)
    conmed = ConMed.objects.select_for_update(no_key=True).get(pk=conmed.pk)
    if conmed.in_error:
        raise ValidationError({"__all__": ["This medication was retracted as entered in error."]})
    changes = _normalise(changes)
    before = {name: getattr(conmed, name) for name in CONMED_FIELDS if name != "adverse_events"}
    before["adverse_events"] = sorted(conmed.adverse_events.values_list("pk", flat=True))
    changed = {k: v for k, v in changes.items() if before[k] != v}
    if not changed:
        return conmed
    check_unlocked(patient, "a concomitant medication", conmed.start, changed.get("start"))
    if reason_missing(reason):
        raise ValidationError({"reason": ["A reason for change is required when correcting a concomitant medication."]})
    merged = before | changed
    errors = check_conmed(merged, today=today)
    events = _linked_events(patient, merged, errors)
    _raise(errors)
    for k, v in changed.items():
        if k != "adverse_events":
            setattr(conmed, k, v)
    audited_save(conmed, by=by, reason=reason.strip())
    if "adverse_events" in changed:
        conmed.adverse_events.set(events)
    touched = set(before["adverse_events"]) | set(merged["adverse_events"])
    _reopen_for_events(patient, _episodes_of(patient, touched), by=by, why=f"{conmed.drug} corrected ({', '.join(sorted(changed))}): {reason.strip()}")
    record_change(patient, Kind.TOXICITY)
    return conmed


@transaction.atomic
def conmed_retract(*, conmed: ConMed, by: User, reason: str) -> ConMed:
    """Mark a conmed as entered in error: kept, shown struck through, ignored by the rules."""
    patient = _lock_patient(conmed.patient, by)
    conmed = ConMed.objects.select_for_update(no_key=True).get(pk=conmed.pk)
    if reason_missing(reason):
        raise ValidationError({"reason": ["Give the reason the medication was entered in error."]})
    if conmed.in_error:
        return conmed
    check_unlocked(patient, "a concomitant medication", conmed.start)
    conmed.in_error = True
    audited_save(conmed, by=by, reason=f"Entered in error: {reason.strip()}")
    linked = list(conmed.adverse_events.values_list("pk", flat=True))
    _reopen_for_events(patient, _episodes_of(patient, linked), by=by, why=f"{conmed.drug} retracted as entered in error: {reason.strip()}")
    record_change(patient, Kind.TOXICITY)
    return conmed
