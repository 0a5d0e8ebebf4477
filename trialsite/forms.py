from django.core.exceptions import ValidationError


def apply_errors(form, error: ValidationError) -> None:
    """A service's field errors onto the form's fields (others become form errors)."""
    for name, messages in error.message_dict.items():
        for message in messages:
            form.add_error(name if name in form.fields else None, message)
