from django import forms
from django.core.exceptions import ValidationError

ISO_DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"


class IsoDateInput(forms.DateInput):
    """The project's date entry: a text input for YYYY-MM-DD, as the tables show dates (issue #16).

    Not <input type="date">: Chromium draws that in the browser's locale (mm/dd/yyyy in en-US), so the
    same day would be typed one way and read another. The pattern and the placeholder say the format;
    the server accepts ISO only (trialsite/formats)."""

    input_type = "text"

    def __init__(self, attrs=None):
        defaults = {
            "placeholder": "YYYY-MM-DD",
            "pattern": ISO_DATE_PATTERN,
            "inputmode": "numeric",
            "maxlength": "10",
            "autocomplete": "off",
            "title": "A date as YYYY-MM-DD, e.g. 2026-03-14",
            "class": "date",
        }
        super().__init__(attrs={**defaults, **(attrs or {})}, format="%Y-%m-%d")


def apply_errors(form, error: ValidationError) -> None:
    """A service's field errors onto the form's fields (others become form errors)."""
    for name, messages in error.message_dict.items():
        for message in messages:
            form.add_error(name if name in form.fields else None, message)


def signature_password(*, required: bool = False) -> forms.CharField:
    """The re-entered password of an electronic signature (checked by the service: trialsite.signatures)."""
    return forms.CharField(
        label="Your password (electronic signature)",
        required=required,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
