"""Celery tasks for response: thin, named, idempotent.

- response.recompute_patient: a patient's IMWG course, queued on commit when their
  assessments or follow-up change; then the trial's endpoints are queued.
- response.recompute_endpoints: the trial's endpoints from the stored responses.
- response.recompute_trial: every patient of a trial and its endpoints, with the
  progress recorded on a RecomputeJob (shown on the dashboard): a chord of
  response.recompute_chunk (TRIALSITE_RECOMPUTE_CHUNK patients each, 500 by default,
  spread over the worker processes)
  and response.finish_trial_recompute (the endpoints from the courses computed).
- response.nightly: the endpoints of every trial (time alone changes censoring).
"""

from __future__ import annotations

from celery import chord, shared_task

from trialsite.tasks import delay_on_commit_once


@shared_task(name="response.recompute_patient", acks_late=True)
def recompute_patient(patient_id: int) -> dict:
    from cohorts.models import Patient

    from .services import response_compute_many

    stats = response_compute_many([patient_id])
    trial_id = Patient.objects.values_list("trial_id", flat=True).get(pk=patient_id)
    queue_endpoints(trial_id)
    return stats


@shared_task(name="response.recompute_endpoints", acks_late=True)
def recompute_endpoints(trial_id: int) -> dict:
    from cohorts.models import Trial

    from .services import endpoints_compute

    snapshot = endpoints_compute(trial=Trial.objects.get(pk=trial_id))
    return {"snapshot": snapshot.pk, "patients": snapshot.patients}


@shared_task(name="response.recompute_trial", acks_late=True)
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


@shared_task(name="response.recompute_chunk", acks_late=True)
def recompute_chunk(job_id: int, patient_ids: list[int]) -> dict:
    """One chunk of a whole-trial recompute (its own transaction); a failure marks the job failed."""
    from .services import trial_recompute_chunk

    return trial_recompute_chunk(job_id, patient_ids)


@shared_task(name="response.finish_trial_recompute", acks_late=True)
def finish_trial_recompute(chunks: list[dict], job_id: int) -> dict:
    """The chord's callback: the endpoints from the courses the chunks computed."""
    from .services import trial_recompute_finish

    job = trial_recompute_finish(job_id, chunks)
    return {"job": job.pk, "status": job.status, "done": job.done}


@shared_task(name="response.nightly", acks_late=True)
def nightly() -> dict:
    from cohorts.models import Trial

    from .services import endpoints_compute

    return {trial.code: endpoints_compute(trial=trial).pk for trial in Trial.objects.all()}


def queue_response_recompute(patient_id: int) -> None:
    """Once per transaction, after commit."""
    delay_on_commit_once(recompute_patient, patient_id)


def queue_endpoints(trial_id: int) -> None:
    delay_on_commit_once(recompute_endpoints, trial_id)
