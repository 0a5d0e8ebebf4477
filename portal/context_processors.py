"""The navigation every page shows (issue #16): the trial it points at, and where a patient page sits.

A page whose view passes `trial` uses it; any other page (a patient's queries tab, the worklist,
403 and 404, the account pages) gets the trial named in its URL, the trial of the patient in its URL,
or else the user's first trial, looked up only when the template reads it."""

from django.utils.functional import SimpleLazyObject

from accounts.roles import Perm
from cohorts import selectors
from cohorts.models import Trial

# Patient pages: the last breadcrumb, by URL name (the overview is the patient's own crumb).
PATIENT_SECTIONS = {
    "patient_treatment": "Treatment",
    "cycle_diary": "Treatment",
    "patient_calendar": "Calendar",
    "patient_safety": "Safety",
    "ae_new": "Safety",
    "ae_edit": "Safety",
    "patient_response": "Response",
    "patient_queries": "Queries",
    "patient_edit": "Edit registration",
    "patient_enrol": "Enrol",
    "patient_status": "Status",
}


def _nav_trial(request) -> Trial | None:
    user = request.user
    if not user.can(Perm.VIEW):
        return None
    match = request.resolver_match
    kwargs = match.kwargs if match else {}
    if "code" in kwargs:
        trial = Trial.objects.filter(code=kwargs["code"]).first()
        if trial is not None:
            return trial
    if "study_id" in kwargs:
        patient = selectors.patients_for_user(user).filter(study_id=kwargs["study_id"]).first()
        if patient is not None:
            return patient.trial
    return selectors.trials_for_user(user).first()


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    match = request.resolver_match
    return {
        "nav_trial": SimpleLazyObject(lambda: _nav_trial(request)),
        "nav_section": PATIENT_SECTIONS.get(match.url_name) if match else None,
        "nav_url": match.url_name if match else "",
    }
