"""Lab panels: the hematology panel of one day, and the units it is entered in."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from cohorts.models import Patient
from dosing.services import check_unlocked, visit_mark_done
from trialsite.audit import audited_save, reason_missing
from trialsite.outbox import Kind, record_change
from trialsite.units import to_stored_places

from ..models import LabResult
from ._common import _add, _lock_patient, _raise
from .adjudication import _reopen_for_labs

# Counts are stored in x10^9/L. "/uL" is cells per microlitre: 1,500 /uL = 1.5 x10^9/L.
COUNT_UNITS = {"10^9/L": Decimal(1), "10^3/uL": Decimal(1), "/uL": Decimal("0.001")}
HB_UNITS = {"g/dL": Decimal(1), "g/L": Decimal("0.1")}
# Above these a value in x10^9/L is not plausible: it was almost certainly entered per microlitre.
PLAUSIBLE_MAX = {"anc": Decimal(100), "wbc": Decimal(500), "platelets": Decimal(2000)}
LAB_PLACES = {"anc": Decimal("0.01"), "wbc": Decimal("0.01"), "platelets": Decimal("0.1"), "hemoglobin": Decimal("0.1"), "temperature": Decimal("0.1")}
LAB_LABELS = {"anc": "ANC", "platelets": "Platelets", "hemoglobin": "Hemoglobin", "wbc": "WBC", "temperature": "Temperature"}


def _to_decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(str(value)) from exc


def convert_labs(raw: dict, units: dict[str, str]) -> tuple[dict[str, Decimal | None], dict[str, list[str]]]:
    """Values as entered (with their units) into stored units, with "did you mean /uL?" for implausible counts."""
    values: dict[str, Decimal | None] = {}
    errors: dict[str, list[str]] = {}
    for name in LAB_LABELS:
        try:
            value = _to_decimal(raw.get(name))
        except ValueError:
            _add(errors, name, "Enter a number.")
            continue
        if value is None:
            values[name] = None
            continue
        unit = units.get(name) or ("g/dL" if name == "hemoglobin" else "C" if name == "temperature" else "10^9/L")
        if name in PLAUSIBLE_MAX:
            if unit not in COUNT_UNITS:
                _add(errors, name, f"Unit must be one of {', '.join(COUNT_UNITS)}.")
                continue
            if unit != "/uL" and value > PLAUSIBLE_MAX[name]:
                _add(
                    errors,
                    name,
                    f"{LAB_LABELS[name]} {value} x10^9/L is not plausible: did you mean /uL? ({value} /uL = {(value / 1000).normalize():f} x10^9/L)",
                )
                continue
            value = value * COUNT_UNITS[unit]
        elif name == "hemoglobin":
            if unit not in HB_UNITS:
                _add(errors, name, f"Unit must be one of {', '.join(HB_UNITS)}.")
                continue
            if unit == "g/dL" and value > 25:
                _add(errors, name, f"Hemoglobin {value} g/dL is not plausible: did you mean g/L? ({value} g/L = {value / 10} g/dL)")
                continue
            value = value * HB_UNITS[unit]
        elif name == "temperature" and not Decimal(30) <= value <= Decimal(45):
            _add(errors, name, "Temperature is in degrees Celsius (30-45).")
            continue
        if value < 0:
            _add(errors, name, "A count cannot be negative.")
            continue
        stored = to_stored_places(value, LAB_PLACES[name])
        if stored is None:
            _add(errors, name, f"{LAB_LABELS[name]} {value} rounds to 0 in stored units: check the unit.")
            continue
        values[name] = stored
    return values, errors


@transaction.atomic
def lab_record(
    *,
    patient: Patient,
    by: User,
    on: date,
    units: dict[str, str] | None = None,
    reason_for_change: str = "",
    today: date | None = None,
    **raw,
) -> LabResult:
    """Record the hematology panel of one day (ANC, platelets, hemoglobin, WBC, temperature).

    Counts are stored in x10^9/L; values per microlitre are converted. A second
    entry for the same day corrects the panel and needs a reason for change; a DLT
    confirmed on these values is reopened for adjudication.
    """
    today = today or timezone.localdate()
    unknown = set(raw) - set(LAB_LABELS)
    if unknown:
        raise ValidationError({name: ["Not a lab value of this panel."] for name in sorted(unknown)})
    patient = _lock_patient(patient, by)
    values, errors = convert_labs(raw, units or {})
    if on is None:
        _add(errors, "on", "Give the date of the sample.")
    elif on > today:
        _add(errors, "on", "The sample date cannot be in the future.")
    elif patient.consent_date is not None and on < patient.consent_date:
        _add(errors, "on", f"The sample is before consent ({patient.consent_date.isoformat()}): baseline counts belong to registration.")
    if on is not None and not errors:
        check_unlocked(patient, "a lab panel", on)
    if not errors and all(v is None for v in values.values()):
        _add(errors, "__all__", "Enter at least one value.")
    _raise(errors)
    lab = LabResult.objects.select_for_update(no_key=True).filter(patient=patient, on=on).first()
    if lab is None:
        lab = LabResult(patient=patient, on=on, entered_by=by, **values)
        audited_save(lab, by=by, reason="Recorded")
    else:
        changed = {k: v for k, v in values.items() if v is not None and getattr(lab, k) != v}
        if not changed:
            return lab
        corrected = [k for k in changed if getattr(lab, k) is not None]
        if corrected and reason_missing(reason_for_change):
            existing = ", ".join(f"{LAB_LABELS[k]} {getattr(lab, k)}" for k in corrected)
            _raise({"reason_for_change": [f"The panel of {on.isoformat()} is already recorded ({existing}): give a reason for the change."]})
        for k, v in changed.items():
            setattr(lab, k, v)
        audited_save(lab, by=by, reason=reason_for_change.strip() or "Values added")
        if corrected:
            _reopen_for_labs(
                patient, on, by=by, why=f"Labs of {on.isoformat()} corrected ({', '.join(LAB_LABELS[k] for k in corrected)}): {reason_for_change.strip()}"
            )
    visit_mark_done(patient=patient, by=by, on=on)  # a visit counts as done once its labs are recorded
    record_change(patient, Kind.TOXICITY)
    return lab
