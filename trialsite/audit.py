"""Who and why on every write: read by django-simple-history when the row is saved."""

MIN_REASON = 3  # characters: a reason for change, a rejection, a retraction, a query


def reason_missing(text: str | None) -> bool:
    """A reason must say something: at least MIN_REASON characters once stripped."""
    return not text or len(text.strip()) < MIN_REASON


def audit(instance, *, by, reason: str) -> None:
    instance._history_user = by
    instance._change_reason = reason


def audited_save(instance, *, by, reason: str, validate_constraints: bool = True) -> None:
    """full_clean, then save with the author and the reason in the history row."""
    instance.full_clean(validate_constraints=validate_constraints)
    audit(instance, by=by, reason=reason)
    instance.save()
