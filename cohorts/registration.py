"""Plausibility checks for registration and enrolment: pure functions on values.

Each returns {field: [message, ...]}; an empty dict means the values are valid.
They catch unit slips a person makes at the keyboard (height in metres, counts
in /uL) with a message that says what was probably meant.
"""

from datetime import date
from decimal import Decimal
from typing import Any

HEIGHT_CM = (Decimal(100), Decimal(250))
WEIGHT_KG = (Decimal(25), Decimal(300))
ANC_1E9_L = (Decimal(0), Decimal(100))
PLATELETS_1E9_L = (Decimal(0), Decimal(2000))
MARROW_PCT = (Decimal(0), Decimal(100))
MIN_AGE_YEARS = 18


def _add(errors: dict[str, list[str]], field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def initials_error(value: str) -> str | None:
    """The one initials rule (issue #17, point 5): 2 to 4 letters, for the forms, the API and the services alike."""
    text = (value or "").strip()
    if not text.isalpha() or not 2 <= len(text) <= 4:
        return "Initials are 2 to 4 letters."
    return None


def check_registration(values: dict[str, Any], *, today: date) -> dict[str, list[str]]:
    """Check a registration's values; missing keys are skipped (the form requires them)."""
    errors: dict[str, list[str]] = {}
    if "initials" in values and (message := initials_error(values["initials"])):
        _add(errors, "initials", message)
    height = values.get("height_cm")
    if height is not None:
        if height < 3:
            _add(errors, "height_cm", f"Height is in centimetres: {height} looks like metres (did you mean {height * 100:.0f} cm?).")
        elif not HEIGHT_CM[0] <= height <= HEIGHT_CM[1]:
            _add(errors, "height_cm", f"Height must be between {HEIGHT_CM[0]} and {HEIGHT_CM[1]} cm.")
    weight = values.get("weight_kg")
    if weight is not None and not WEIGHT_KG[0] <= weight <= WEIGHT_KG[1]:
        _add(errors, "weight_kg", f"Weight must be between {WEIGHT_KG[0]} and {WEIGHT_KG[1]} kg.")
    born = values.get("date_of_birth")
    if born is not None and born > today:
        _add(errors, "date_of_birth", "Date of birth cannot be in the future.")
    consent = values.get("consent_date")
    if consent is not None:
        if consent > today:
            _add(errors, "consent_date", "Consent date cannot be in the future.")
        if born is not None and born <= today and age_on(born, consent) < MIN_AGE_YEARS:
            _add(errors, "date_of_birth", f"The patient must be at least {MIN_AGE_YEARS} years old at consent.")
    _check_counts(values, errors)
    return errors


def _check_counts(values: dict[str, Any], errors: dict[str, list[str]]) -> None:
    """Baseline counts in 10^9/L and marrow involvement in %."""
    anc = values.get("baseline_anc")
    if anc is not None:
        if anc > ANC_1E9_L[1]:
            _add(errors, "baseline_anc", f"ANC is in 10^9/L: {anc} looks like /uL (did you mean {anc / 1000} x10^9/L?).")
        elif anc < 0:
            _add(errors, "baseline_anc", "ANC cannot be negative.")
    platelets = values.get("baseline_platelets")
    if platelets is not None:
        if platelets > PLATELETS_1E9_L[1]:
            _add(errors, "baseline_platelets", f"Platelets are in 10^9/L: {platelets} looks like /uL (did you mean {platelets / 1000} x10^9/L?).")
        elif platelets < 0:
            _add(errors, "baseline_platelets", "Platelets cannot be negative.")
    marrow = values.get("baseline_marrow_pc_pct")
    if marrow is not None and not MARROW_PCT[0] <= marrow <= MARROW_PCT[1]:
        _add(errors, "baseline_marrow_pc_pct", "Marrow plasma cells are a percentage between 0 and 100.")


def check_enrolment(
    *,
    consent_date: date | None,
    enrolled_on: date,
    today: date,
    eligibility: dict[str, bool],
    criteria: list[str],
) -> dict[str, list[str]]:
    """Consent and eligibility must be in place on the day of enrolment."""
    errors: dict[str, list[str]] = {}
    if enrolled_on > today:
        _add(errors, "enrolled_on", "Enrolment date cannot be in the future.")
    if consent_date is None:
        _add(errors, "consent_date", "The patient has not consented: record the consent date first.")
    elif consent_date > enrolled_on:
        _add(errors, "enrolled_on", f"Enrolment ({enrolled_on.isoformat()}) cannot be before consent ({consent_date.isoformat()}).")
    unmet = [code for code in criteria if not eligibility.get(code)]
    if unmet:
        _add(errors, "eligibility", f"The patient is not eligible: criteria not confirmed: {', '.join(unmet)}.")
    return errors
