"""Numbers read from a query string or a posted value outside a form (issue #17 point 3).

`str.isdigit()` is true of "²" and "①", which `int()` refuses (a 500), and a number of a thousand digits is
no id: a value that is not a plain decimal integer of at most 18 digits is a 400 with its reason
(django.core.exceptions.BadRequest: the product's 400 page, trialsite.api.bad_request)."""

from django.core.exceptions import BadRequest

MAX_DIGITS = 18  # fits a PostgreSQL bigint


def as_int(value: str | None, name: str) -> int | None:
    """None for a missing or empty value; the integer it spells; else BadRequest naming `name`."""
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdecimal() and len(value) <= MAX_DIGITS):
        raise BadRequest(f"{name} must be a whole number, not {value[:40]!r}.")
    return int(value)
