"""Celery tasks for toxicity: thin, named, idempotent; each calls a service.

- toxicity.evaluate_patient: one patient's DLT evaluation, queued on commit by
  every write that changes what the rules read (AEs, labs, doses, cycles, stops).
- toxicity.evaluate_window_nightly: every patient whose DLT evaluation is not yet
  final (the passage of time alone can decide a window or a cycle 2 delay).
Running either twice writes nothing the second time.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from trialsite.tasks import delay_on_commit_once


@shared_task(name="toxicity.evaluate_patient", acks_late=True)
def evaluate_patient(patient_id: int) -> dict:
    from .services import dlt_evaluate_many

    return dlt_evaluate_many([patient_id])


@shared_task(name="toxicity.evaluate_window_nightly", acks_late=True)
def evaluate_window_nightly() -> dict:
    from .selectors import patients_in_window
    from .services import dlt_evaluate_many

    today = timezone.localdate()
    return dlt_evaluate_many(list(patients_in_window(today)), today=today)


def queue_dlt_evaluation(patient_id: int) -> None:
    """Queue the patient's re-evaluation once the current transaction commits (once per transaction)."""
    delay_on_commit_once(evaluate_patient, patient_id)
