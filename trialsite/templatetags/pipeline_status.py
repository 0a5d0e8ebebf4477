"""{% pending_results trial=... %} or {% pending_results patient=... %}: says plainly when derived results
(DLT proposals, the escalation proposal, responses, endpoints) are not yet up to date with saved data."""

from django import template

from trialsite import outbox

register = template.Library()


@register.inclusion_tag("trialsite/pending.html")
def pending_results(*, trial=None, patient=None) -> dict:
    if patient is not None:
        return {"pending": outbox.pending(trial_id=patient.trial_id, patient_id=patient.pk), "whose": patient.study_id}
    return {"pending": outbox.pending(trial_id=trial.pk) if trial is not None else None, "whose": "this trial"}
