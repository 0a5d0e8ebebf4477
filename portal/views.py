"""Pages that show several apps: the trial home (cohorts, escalation decisions, open queries) and the
patient's overview (cohorts, open queries). They live above every app they read (house style point 0)."""

from django.shortcuts import render
from django.utils import timezone

from accounts.permissions import role_required
from accounts.roles import Perm
from cohorts import selectors
from cohorts.forms import EnrolForm, StatusForm
from datamanagement.models import DataQuery
from datamanagement.quality import open_counts
from dosing.selectors import treatment_overview
from escalation.models import EscalationDecision
from escalation.selectors import decisions_for_home
from response.selectors import patient_response
from toxicity.selectors import safety_overview


@role_required(Perm.VIEW)
def trial_home(request, code):
    trial = selectors.trial_get(code)
    decisions = decisions_for_home(trial)
    context = {
        "trial": trial,
        "o": selectors.trial_overview(trial, request.user),
        "proposal": next((d for d in decisions if d.status == EscalationDecision.Status.PROPOSED), None),
        "flagged": [d for d in decisions if d.needs_review],
        "queries": open_counts(trial, selectors.patients_for_user(request.user, trial).values("pk")),
    }
    return render(request, "portal/trial_home.html", context)


@role_required(Perm.VIEW)
def patient_detail(request, study_id):
    patient = selectors.patient_get_for_user(request.user, study_id)
    can_enter = request.user.can(Perm.ENTER_DATA)
    overview = selectors.trial_overview(patient.trial, request.user) if can_enter and patient.status == "screening" else None
    return render(
        request,
        "portal/patient_detail.html",
        {
            "patient": patient,
            "trial": patient.trial,
            "history": selectors.patient_history(patient),
            "enrol_form": EnrolForm(initial={"enrolled_on": timezone.localdate()}) if can_enter else None,
            "status_form": StatusForm(patient=patient, initial={"on_date": timezone.localdate()}) if can_enter else None,
            "overview": overview,
            "open_queries": DataQuery.objects.filter(patient=patient).exclude(status=DataQuery.Status.CLOSED).count(),
        },
    )


@role_required(Perm.VIEW)
def patient_casebook(request, study_id):
    """The patient's casebook: registration, treatment, safety, response and the record's history on one read-only
    page, laid out for print (issue #16 point 9; `@media print` in static/css/site.css). The selectors scope it
    (a coordinator sees only their site's patients) as on every patient tab."""
    patient = selectors.patient_get_for_user(request.user, study_id)
    today = timezone.localdate()
    context = {
        "patient": patient,
        "trial": patient.trial,
        "nav_section": "Casebook",
        "t": treatment_overview(patient, today=today),
        "s": safety_overview(patient, today=today),
        "r": patient_response(patient),
        "history": selectors.patient_history(patient),
        "printed": timezone.localtime(),
    }
    return render(request, "portal/casebook.html", context)
