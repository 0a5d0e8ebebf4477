"""The pipeline's Celery tasks: thin, named, idempotent (pipeline/flow.py does the work).

- pipeline.drain: kicked when a transaction that wrote to the outbox commits, run by the
  beat every minute (so a kick lost while the broker was down costs at most a minute),
  and when a worker starts.
- pipeline.nightly: what time alone changes (DLT windows, cycle 2 deadlines, censoring).
"""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready

from . import flow


@shared_task(name="pipeline.drain", acks_late=True, ignore_result=True)
def drain() -> dict:
    return flow.drain()


@shared_task(name="pipeline.nightly", acks_late=True)
def nightly() -> dict:
    return flow.nightly()


@worker_ready.connect
def _drain_when_a_worker_starts(sender=None, **_kwargs) -> None:
    """A worker that (re)starts drains what was written while none was running."""
    drain.delay()
