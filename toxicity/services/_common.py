"""What every toxicity service shares: collecting field errors, raising them at once, locking the patient."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from cohorts.services import patient_lock as _lock_patient

__all__ = ["_add", "_lock_patient", "_raise"]


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def _add(errors: dict[str, list[str]], field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)
