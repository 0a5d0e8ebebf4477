"""Reads for the account pages: users with their site, and one account's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from .models import User

# The fields an account's history shows (the password is never kept in the history; its changes show by reason).
SHOWN = ("username", "first_name", "last_name", "email", "role", "site", "is_active", "is_staff", "is_superuser", "must_change_password")


def users_for_admin() -> QuerySet[User]:
    return User.objects.select_related("site").order_by("-is_active", "username")


@dataclass(frozen=True)
class AccountEvent:
    when: datetime
    by: str
    kind: str
    reason: str
    changes: list[tuple[str, str, str]]


def user_history(user: User) -> list[AccountEvent]:
    """Newest first: who changed what and why, from the user's history rows."""
    records = list(user.history.select_related("history_user").order_by("history_date", "history_id"))
    events = []
    previous = None
    for rec in records:
        changes = []
        if previous is not None:
            delta = rec.diff_against(previous, included_fields=list(SHOWN))
            changes = [(c.field, "" if c.old is None else str(c.old), "" if c.new is None else str(c.new)) for c in delta.changes]
        by = rec.history_user.username if rec.history_user else "system"
        events.append(AccountEvent(rec.history_date, by, rec.get_history_type_display(), rec.history_change_reason or "", changes))
        previous = rec
    return events[::-1]
