"""Response pages: the patient's response tab (assessments, categories, follow-up) and the trial's dashboard."""

from urllib.parse import parse_qsl

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.permissions import role_required
from accounts.roles import Perm
from cohorts import selectors as cohort_selectors
from trialsite.forms import apply_errors
from trialsite.idempotency import form_once

from . import selectors, services
from .forms import AssessmentForm, FollowUpForm, SpuriousForm
from .models import MyelomaAssessment

PLOTS = ("waterfall", "swimmer", *selectors.SUMMARY_PLOTS, *selectors.KM_PLOTS)


def _post(request, patient, action, forms):
    """The response tab's forms; returns a redirect, or None to show errors."""
    if not request.user.can(Perm.ENTER_DATA):
        return render(request, "403.html", status=403)
    back = reverse("patient_response", args=[patient.study_id])
    form = forms.get(action)
    if form is None or not form.is_valid():
        return None
    try:
        if action == "assessment":

            def write():
                a = services.assessment_record(patient=patient, by=request.user, **form.service_kwargs())
                messages.success(request, f"Assessment of {a.on.isoformat()} saved.")
                return redirect(back + "#assessment"), back + "#assessment"

            return form_once(request, write, again="This assessment was already recorded (the form was sent twice): here it is.")
        if action == "spurious":
            a = get_object_or_404(MyelomaAssessment, pk=form.cleaned_data["assessment"], patient=patient)
            services.assessment_mark_spurious(assessment=a, by=request.user, parameter=form.cleaned_data["parameter"], reason=form.cleaned_data["reason"])
            messages.success(request, f"Value of {a.on.isoformat()} marked spurious.")
        else:
            services.followup_record(patient=patient, by=request.user, **form.cleaned_data)
            messages.success(request, "Follow-up saved.")
    except ValidationError as exc:
        apply_errors(form, exc)
        return None
    return redirect(back + f"#{action}")


@role_required(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def patient_response(request, study_id):
    patient = cohort_selectors.patient_get_for_user(request.user, study_id)
    action = request.POST.get("action") if request.method == "POST" else None
    data = request.POST if action else None
    context = selectors.patient_response(patient)
    follow = context["follow_up"]
    initial_follow = (
        {k: getattr(follow, k) for k in ("death_on", "death_cause", "next_therapy_on", "next_therapy_regimen", "last_contact_on")} if follow else {}
    )
    forms = {
        "assessment": AssessmentForm(data if action == "assessment" else None, prefix="a", initial={"on": timezone.localdate()}),
        "spurious": SpuriousForm(data if action == "spurious" else None, prefix="s"),
        "follow_up": FollowUpForm(data if action == "follow_up" else None, prefix="f", initial=initial_follow),
    }
    if action:
        response = _post(request, patient, action, forms)
        if response is not None:
            return response
    return render(
        request,
        "response/patient.html",
        {
            "patient": patient,
            "trial": patient.trial,
            **context,
            "forms": forms,
            "can_enter": request.user.can(Perm.ENTER_DATA),
        },
    )


@role_required(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def trial_dashboard(request, code):
    trial = cohort_selectors.trial_get(code)
    if request.method == "POST":
        if not services.can_recompute(request.user):
            return render(request, "403.html", status=403)
        services.trial_recompute_start(trial=trial, by=request.user)
        messages.success(request, "Recompute of the whole trial queued.")
        return redirect("trial_response", code=code)
    if request.htmx:  # the recompute box's own poll while a recompute runs: the box alone, not the plots and tables
        data = {"snapshot": selectors.latest_snapshot(trial), "job": selectors.latest_job(trial)}
    else:
        data = selectors.dashboard(trial, request.user, today=timezone.localdate(), view=selectors.PlotView.from_query(request.GET))
    running = data["job"] is not None and data["job"].is_running
    finished = bool(request.htmx) and not running  # the poll that finds the recompute finished says so
    context = {"trial": trial, **data, "running": running, "finished": finished, "can_recompute": services.can_recompute(request.user)}
    return render(request, "response/_recompute.html" if request.htmx else "response/dashboard.html", context)


@role_required(Perm.VIEW)
def plot_download(request, code, plot):
    if plot not in PLOTS:
        raise Http404("No such plot")
    trial = cohort_selectors.trial_get(code)
    view = selectors.PlotView.from_query(request.GET)
    svg = selectors.plot_svg(trial, request.user, plot, today=timezone.localdate(), view=view)
    if not svg:
        raise Http404("Nothing to draw yet")
    response = HttpResponse('<?xml version="1.0" encoding="UTF-8"?>\n' + svg, content_type="image/svg+xml")
    which = "".join(f"-{k}-{v}" for k, v in parse_qsl(view.query()))  # the level, site and page drawn
    response["Content-Disposition"] = f'attachment; filename="{trial.code}-{plot}{which}-{timezone.localdate().isoformat()}.svg"'
    return response
