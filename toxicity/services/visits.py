"""A visit day at the site: the doses of that day, the hematology panel, weight and vital signs, new adverse events.

One submission, one transaction: every part goes through its own service (dosing's
administrations_record for the day's doses, in one call, and visit_record, lab_record, ae_record), each in a savepoint so
that every error of every part is collected; any error rolls the whole visit back, so
nothing is half-saved. It lives in toxicity, the lowest layer that sees both what it
writes (dosing's doses and visits, toxicity's labs and events).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from cohorts.models import Drug
from dosing import services as dosing
from dosing.models import Administration, Visit

from ..models import AdverseEvent, LabResult
from .events import ae_record
from .labs import lab_record


@dataclass(frozen=True)
class DoseEntry:
    """One scheduled dose of the visit's day: what happened to it."""

    drug: Drug
    status: str
    dose_mg: Decimal | None = None
    reason: str = ""
    reason_for_change: str = ""


@dataclass
class VisitSaved:
    visit: Visit
    doses: list[Administration] = field(default_factory=list)
    lab: LabResult | None = None
    adverse_events: list[AdverseEvent] = field(default_factory=list)


def _collect(errors: dict[str, list[str]], section: str, exc: ValidationError) -> None:
    """A part's field errors under `section.field` (the page puts each beside its input)."""
    for name, messages in exc.message_dict.items():
        errors.setdefault(f"{section}.{name}" if name != "__all__" else f"{section}.__all__", []).extend(messages)


def _part(errors: dict[str, list[str]], section: str, write):
    try:
        with transaction.atomic():
            return write()
    except ValidationError as exc:
        _collect(errors, section, exc)
        return None


def _doses(visit: Visit, *, by: User, doses: list[DoseEntry], today: date) -> list[Administration]:
    """The day's doses in one call of dosing's batch service; its errors keyed `<drug code>.<field>` (one day)."""
    entries = [
        dosing.DoseEntry(drug=d.drug, day=visit.day, status=d.status, dose_mg=d.dose_mg, reason=d.reason, reason_for_change=d.reason_for_change) for d in doses
    ]
    try:
        return dosing.administrations_record(cycle=visit.cycle, by=by, entries=entries, today=today)
    except dosing.DoseErrors as exc:
        raise ValidationError({f"{code}.{name}": texts for (code, _), fields in exc.by_dose.items() for name, texts in fields.items()}) from None


@transaction.atomic
def visit_day_record(
    *,
    visit: Visit,
    by: User,
    done_on: date,
    doses: list[DoseEntry] = (),  # type: ignore[assignment]
    labs: dict | None = None,
    adverse_events: list[dict] = (),  # type: ignore[assignment]
    vitals: dict | None = None,
    confirm_out_of_window: bool = False,
    note: str = "",
    reason_for_change: str = "",
    today: date | None = None,
) -> VisitSaved:
    """Record what happened at one visit, all or nothing.

    `doses` are the drugs scheduled on the visit's cycle day (recorded against that
    day's plan); `labs` the panel of `done_on` ({values..., units, reason_for_change}),
    empty values skipped; `adverse_events` the new events (ae_record's arguments);
    `vitals` weight_kg, pulse_bpm, systolic_mmhg, diastolic_mmhg (temperature is in
    the lab panel, which DLT rule H1 reads). Errors are keyed `visit.<field>`,
    `dose.<drug code>.<field>`, `lab.<field>`, `ae.<n>.<field>`.
    """
    today = today or timezone.localdate()
    visit = Visit.objects.select_related("patient__trial", "cycle").get(pk=visit.pk)
    errors: dict[str, list[str]] = {}
    saved_visit = _part(
        errors,
        "visit",
        lambda: dosing.visit_record(
            visit=visit,
            by=by,
            done_on=done_on,
            confirm_out_of_window=confirm_out_of_window,
            note=note,
            reason_for_change=reason_for_change,
            today=today,
            **(vitals or {}),
        ),
    )
    saved = VisitSaved(visit=saved_visit or visit)
    if visit.cycle_id is not None and visit.day is not None and doses:
        saved.doses = _part(errors, "dose", lambda: _doses(visit, by=by, doses=doses, today=today)) or []
    lab_values = {k: v for k, v in (labs or {}).items() if k not in ("units", "reason_for_change") and v not in (None, "")}
    if lab_values and done_on is not None:
        saved.lab = _part(
            errors,
            "lab",
            lambda: lab_record(
                patient=visit.patient,
                by=by,
                on=done_on,
                units=(labs or {}).get("units") or {},
                reason_for_change=(labs or {}).get("reason_for_change") or "",
                today=today,
                **lab_values,
            ),
        )
    for n, values in enumerate(adverse_events):
        ae = _part(errors, f"ae.{n}", lambda values=values: ae_record(patient=visit.patient, by=by, today=today, **values))
        if ae is not None:
            saved.adverse_events.append(ae)
    if errors:
        raise ValidationError(errors)  # rolls back every part of the visit
    return saved
