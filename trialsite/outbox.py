"""Writing to and reading the outbox (trialsite.models.Change).

record_change is called by every service that changes what the DLT rules, the
escalation engine, the IMWG rules or the endpoints read, inside the service's
transaction. Once the transaction commits, the pipeline is kicked: its task
(settings.TRIALSITE_PIPELINE_TASK, looked up by name because the pipeline sits
above every app) is sent once per commit. A kick that cannot reach the broker is
logged and forgotten: the data is saved, the row stays pending, and the beat
drains it within a minute of the broker's return (CELERY_BEAT_SCHEDULE).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Min
from django.utils import timezone

from .models import Change

log = logging.getLogger(__name__)
Kind = Change.Kind

# After a failed kick, later commits do not try the broker again for this long (the beat drains anyway).
KICK_BACKOFF_SECONDS = 30.0


class _KickState(threading.local):
    written = 0  # changes this thread has written
    kicked_at = 0  # `written` when the last kick was sent
    failed_at = 0.0  # monotonic time of the last failed kick


_kick = _KickState()


def record_change(patient, kind: str) -> Change:
    """Record, in the current transaction, that `patient`'s data changed (`kind`: a Change.Kind)."""
    change = Change.objects.create(trial_id=patient.trial_id, patient_id=patient.pk, kind=kind)
    _kick.written += 1
    transaction.on_commit(kick_pipeline, robust=True)
    return change


def kick_pipeline() -> None:
    """Send the pipeline's task once for the changes committed so far by this thread.

    Every write of a transaction registers this callback; they run one after the other
    when it commits, and only the first sends. (A rolled-back transaction's writes count
    too: the next commit's kick covers them, harmlessly.)"""
    if _kick.written == _kick.kicked_at:
        return
    if time.monotonic() - _kick.failed_at < KICK_BACKOFF_SECONDS:
        return
    _kick.kicked_at = _kick.written
    from trialsite.celery import app

    try:
        app.tasks[settings.TRIALSITE_PIPELINE_TASK].delay()
    except Exception:  # the broker is down: the beat drains the outbox when it is back
        if app.conf.task_always_eager:
            raise  # inline, a failure is the pipeline's own: let the caller's robust on_commit log it
        _kick.failed_at = time.monotonic()
        log.warning("The pipeline could not be kicked (broker unreachable); the outbox is drained by the beat", exc_info=True)


# ---------------------------------------------------------------- reads


@dataclass(frozen=True)
class Pending:
    """Derived results not yet brought up to date with the data: since when, how many changes, the last error."""

    since: datetime
    changes: int
    error: str

    @property
    def minutes(self) -> int:
        return int((timezone.now() - self.since).total_seconds() // 60)


def pending(*, trial_id: int, patient_id: int | None = None) -> Pending | None:
    """The trial's (or one patient's) pending changes, or None when every derived result is current (one query)."""
    rows = Change.objects.filter(trial_id=trial_id, done_at__isnull=True)
    if patient_id is not None:
        rows = rows.filter(patient_id=patient_id)
    summary = rows.aggregate(since=Min("created_at"), changes=Count("id"), failed=Max("attempts"))
    if not summary["changes"]:
        return None
    error = ""
    if summary["failed"]:
        error = rows.exclude(last_error="").order_by("-id").values_list("last_error", flat=True).first() or ""
    return Pending(summary["since"], summary["changes"], error)


def pending_trials() -> list[int]:
    """Trials with pending changes, the oldest change first."""
    rows = Change.objects.filter(done_at__isnull=True).values("trial_id").annotate(first=Min("id")).order_by("first")
    return [r["trial_id"] for r in rows]


def claim(trial_id: int, *, limit: int) -> list[Change]:
    """The trial's oldest pending changes, locked for this transaction (rows another drain holds are skipped)."""
    rows = Change.objects.filter(trial_id=trial_id, done_at__isnull=True).order_by("id")
    return list(rows.select_for_update(skip_locked=True, no_key=True)[:limit])


def mark_done(changes: list[Change]) -> None:
    Change.objects.filter(pk__in=[c.pk for c in changes]).update(done_at=timezone.now(), last_error="")


def mark_failed(change_ids: list[int], error: str) -> None:
    """Count a failed attempt on these changes (they stay pending and are tried again)."""
    with transaction.atomic():
        Change.objects.filter(pk__in=change_ids).update(attempts=F("attempts") + 1, last_error=error[:2000])
