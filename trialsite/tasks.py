"""One way to queue a long job's Celery task from a write: after the transaction commits.

Derived results never use this: they flow through the outbox (trialsite.outbox).
"""

from django.db import transaction


def delay_on_commit(task, *args) -> None:
    """task.delay(*args) once the current transaction commits. robust: a task that cannot be
    queued is logged, and never undoes or fails the data just saved."""
    transaction.on_commit(lambda: task.delay(*args), robust=True)
