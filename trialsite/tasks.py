"""One way to queue a long job's Celery task from a write: after the transaction commits.

Derived results never use this: they flow through the outbox (trialsite.outbox).
"""

from celery import shared_task
from django.db import transaction


def delay_on_commit(task, *args) -> None:
    """task.delay(*args) once the current transaction commits. robust: a task that cannot be
    queued is logged, and never undoes or fails the data just saved."""
    transaction.on_commit(lambda: task.delay(*args), robust=True)


@shared_task(name="trialsite.purge_idempotency_keys", ignore_result=True)
def purge_idempotency_keys() -> int:
    """Nightly: the API idempotency keys and form tokens older than their window (trialsite.idempotency.WINDOW)."""
    from .idempotency import purge_expired

    return purge_expired()
