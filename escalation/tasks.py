"""Celery tasks for escalation: thin, named, idempotent.

escalation.propose re-evaluates a trial with the 3+3 engine whenever a DLT is
confirmed, rejected, recorded, withdrawn or reopened, a patient's DLT evaluation
changes (a window completes), or a patient is enrolled; queued on commit.
"""

from __future__ import annotations

from celery import shared_task

from trialsite.tasks import delay_on_commit_once


@shared_task(name="escalation.propose", acks_late=True)
def propose_escalation(trial_id: int) -> dict:
    from cohorts.models import Trial

    from .services import escalation_reevaluate

    trial = Trial.objects.filter(pk=trial_id).first()
    if trial is None:
        return {"decision": None, "flagged": 0}
    decision, flagged = escalation_reevaluate(trial=trial)
    if decision is None:
        return {"decision": None, "flagged": flagged}
    return {"decision": decision.pk, "action": decision.action, "level": decision.level.label if decision.level else None, "flagged": flagged}


def queue_escalation(trial_id: int) -> None:
    """Queue the trial's re-evaluation once the current transaction commits (once per transaction)."""
    delay_on_commit_once(propose_escalation, trial_id)
