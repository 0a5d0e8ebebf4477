"""Celery tasks for response: thin, named, idempotent.

A patient's course and the trial's endpoints follow their inputs through the
pipeline (pipeline/flow.py), not through tasks of their own.

- response.recompute_trial: every patient of a trial and its endpoints, with the
  progress recorded on a RecomputeJob (shown on the dashboard): a chord of
  response.recompute_chunk (TRIALSITE_RECOMPUTE_CHUNK patients each, 500 by default,
  spread over the worker processes)
  and response.finish_trial_recompute (the endpoints from the courses computed). acks_late with
  reject_on_worker_lost: a chunk whose pool child dies is delivered again and recomputed (idempotent).
- response.reap_recomputes: every minute, fail the recomputes whose worker stopped (no heartbeat).
"""

from __future__ import annotations

from celery import chord, shared_task


@shared_task(name="response.recompute_trial", acks_late=True, reject_on_worker_lost=True)
def recompute_trial(job_id: int) -> dict:
    """Spread the trial's chunks of patients over the worker processes (a chord); the endpoints follow."""
    from .models import RecomputeJob
    from .services import trial_recompute_begin, trial_recompute_finish

    job = RecomputeJob.objects.get(pk=job_id)
    chunks = trial_recompute_begin(job)
    if not chunks:
        trial_recompute_finish(job_id, [])
    else:
        chord(recompute_chunk.s(job_id, part) for part in chunks)(finish_trial_recompute.s(job_id))
    return {"job": job_id, "chunks": len(chunks)}


@shared_task(name="response.recompute_chunk", acks_late=True, reject_on_worker_lost=True)
def recompute_chunk(job_id: int, patient_ids: list[int]) -> dict:
    """One chunk of a whole-trial recompute (its own transaction); a failure marks the job failed."""
    from .services import trial_recompute_chunk

    return trial_recompute_chunk(job_id, patient_ids)


@shared_task(name="response.finish_trial_recompute", acks_late=True, reject_on_worker_lost=True)
def finish_trial_recompute(chunks: list[dict], job_id: int) -> dict:
    """The chord's callback: the endpoints from the courses the chunks computed."""
    from .services import trial_recompute_finish

    job = trial_recompute_finish(job_id, chunks)
    return {"job": job.pk, "status": job.status, "done": job.done}


@shared_task(name="response.reap_recomputes")
def reap_recomputes() -> dict:
    """Every minute: fail the recomputes whose worker stopped (the dashboard offers to start them again)."""
    from .services import trial_recompute_reap

    return {"failed": trial_recompute_reap()}
