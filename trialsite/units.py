"""One rounding rule for values converted into the units a model stores (labs, myeloma assessments)."""

from decimal import ROUND_HALF_UP, Decimal


def to_stored_places(value: Decimal, places: Decimal) -> Decimal | None:
    """`value` rounded half up to the stored places; None when a value above 0 would be stored as 0 (a unit
    mistake more often than a real value)."""
    stored = value.quantize(places, rounding=ROUND_HALF_UP)
    return None if value > 0 and stored == 0 else stored
