"""One way to queue a Celery task from a write: after the transaction commits, once per transaction."""

from django.db import connection, transaction


def delay_on_commit_once(task, *args) -> None:
    """task.delay(*args) once the current transaction commits; a second call with the same task and
    arguments in the same transaction is dropped (a diary of 21 doses queues one re-evaluation).
    robust: a task that cannot be queued is logged, never undoes or fails the data just saved."""
    key = (task.name, args)
    if any(getattr(callback, "task_args", None) == key for _sids, callback, *_ in getattr(connection, "run_on_commit", [])):
        return

    def send() -> None:
        task.delay(*args)

    send.task_args = key  # type: ignore[attr-defined]
    transaction.on_commit(send, robust=True)
