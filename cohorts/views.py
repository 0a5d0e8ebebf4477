"""Thin function views: selector -> form -> service -> response (house style point 7)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.permissions import role_required
from accounts.roles import Perm
from trialsite.errors import DomainError
from trialsite.forms import apply_errors

from . import selectors, services
from .filters import PatientFilter
from .forms import EnrolForm, PatientEditForm, PatientRegisterForm, RejectDecisionForm, SignForm, StatusForm

PAGE_SIZE = 50


@login_required
def home(request):
    trials = list(selectors.trials_for_user(request.user))
    if len(trials) == 1:
        return redirect("trial_home", code=trials[0].code)
    return render(request, "cohorts/trial_list.html", {"trials": trials})


@role_required(Perm.VIEW)
def trial_home(request, code):
    trial = selectors.trial_get(code)
    overview = selectors.trial_overview(trial, request.user)
    from .models import EscalationDecision

    decisions = list(EscalationDecision.objects.filter(trial=trial).exclude(status=EscalationDecision.Status.SUPERSEDED).select_related("level")[:20])
    context = {
        "trial": trial,
        "o": overview,
        "proposal": next((d for d in decisions if d.status == EscalationDecision.Status.PROPOSED), None),
        "flagged": [d for d in decisions if d.needs_review],
        "queries": _query_counts(trial, request.user),
    }
    return render(request, "cohorts/trial_home.html", context)


def _query_counts(trial, user) -> dict:
    from datamanagement.quality import open_counts

    return open_counts(trial, selectors.patients_for_user(user, trial).values("pk"))


@role_required(Perm.VIEW)
def patient_list(request, code):
    trial = selectors.trial_get(code)
    patients = selectors.patients_for_user(request.user, trial)
    filterset = PatientFilter(request.GET, queryset=patients)
    sites = list(selectors.sites_for_user(request.user))
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "cohorts/patient_list.html",
        {
            "trial": trial,
            "filter": filterset,
            "page": page,
            "sites": sites,
            "levels": list(trial.levels.order_by("order")),
            "query": query.urlencode(),
        },
    )


@role_required(Perm.ENTER_DATA)
@require_http_methods(["GET", "POST"])
def patient_register(request, code):
    trial = selectors.trial_get(code)
    form = PatientRegisterForm(request.POST or None, trial=trial, sites=selectors.sites_for_user(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.patient_register(trial=trial, site=form.cleaned_data["site"], by=request.user, **form.values())
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"{patient.study_id} registered (screening).")
            return redirect("patient_detail", study_id=patient.study_id)
    return render(request, "cohorts/patient_form.html", {"trial": trial, "form": form, "title": "Register a patient"})


@role_required(Perm.VIEW)
def patient_detail(request, study_id):
    patient = selectors.patient_get_for_user(request.user, study_id)
    can_enter = request.user.can(Perm.ENTER_DATA)
    overview = selectors.trial_overview(patient.trial, request.user) if can_enter and patient.status == "screening" else None
    return render(
        request,
        "cohorts/patient_detail.html",
        {
            "patient": patient,
            "trial": patient.trial,
            "history": selectors.patient_history(patient),
            "enrol_form": EnrolForm(initial={"enrolled_on": timezone.localdate()}) if can_enter else None,
            "status_form": StatusForm(patient=patient, initial={"on_date": timezone.localdate()}) if can_enter else None,
            "overview": overview,
            "open_queries": _open_queries(patient),
        },
    )


def _open_queries(patient) -> int:
    from datamanagement.models import DataQuery  # data management reads every app; the patient page shows its count

    return DataQuery.objects.filter(patient=patient).exclude(status=DataQuery.Status.CLOSED).count()


@role_required(Perm.ENTER_DATA)
@require_http_methods(["GET", "POST"])
def patient_edit(request, study_id):
    patient = selectors.patient_get_for_user(request.user, study_id)
    form = PatientEditForm(request.POST or None, trial=patient.trial, initial=PatientEditForm.initial_for(patient))
    if request.method == "POST" and form.is_valid():
        try:
            services.patient_update(patient=patient, by=request.user, reason=form.cleaned_data["reason"], **form.values())
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"{patient.study_id} updated.")
            return redirect("patient_detail", study_id=patient.study_id)
    return render(
        request,
        "cohorts/patient_form.html",
        {
            "trial": patient.trial,
            "form": form,
            "patient": patient,
            "title": f"Edit {patient.study_id}",
        },
    )


@role_required(Perm.ENTER_DATA)
@require_http_methods(["POST"])
def patient_enrol(request, study_id):
    patient = selectors.patient_get_for_user(request.user, study_id)
    form = EnrolForm(request.POST)
    if form.is_valid():
        try:
            enrolment = services.patient_enroll(patient=patient, by=request.user, enrolled_on=form.cleaned_data["enrolled_on"])
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            where = f"level {enrolment.level.label} (cohort {enrolment.cohort.number}, slot {enrolment.slot})"
            messages.success(request, f"{patient.study_id} enrolled at {where}.")
    else:
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
    return redirect("patient_detail", study_id=patient.study_id)


@role_required(Perm.ENTER_DATA)
@require_http_methods(["POST"])
def patient_status(request, study_id):
    patient = selectors.patient_get_for_user(request.user, study_id)
    form = StatusForm(request.POST, patient=patient)
    if form.is_valid():
        try:
            services.patient_change_status(patient=patient, by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, f"Status of {patient.study_id} changed.")
    else:
        for field, errors in form.errors.items():
            for message in errors:
                messages.error(request, f"{form.fields[field].label if field in form.fields else ''}: {message}".lstrip(": "))
    return redirect("patient_detail", study_id=patient.study_id)


def _decision_post(request, trial, sign_form, reject_form):
    """Sign, reject or re-review a decision; returns a redirect, or None to show the form errors."""
    from . import decisions
    from .models import EscalationDecision

    if not request.user.can(Perm.SIGN):
        return render(request, "403.html", status=403)
    decision = get_object_or_404(EscalationDecision, pk=request.POST.get("decision"), trial=trial)
    op = request.POST.get("op")
    back = redirect("trial_escalation", code=trial.code)
    try:
        if op == "sign" and sign_form.is_valid():
            decisions.decision_sign(decision=decision, by=request.user, password=sign_form.cleaned_data["password"])
            messages.success(request, f"Signed: {decision.action}{f' at level {decision.level.label}' if decision.level else ''}.")
            return back
        if op == "reject" and reject_form.is_valid():
            decisions.decision_reject(decision=decision, by=request.user, **reject_form.cleaned_data)
            messages.success(request, "Proposal rejected.")
            return back
        if op == "rereview":
            decisions.decision_rereview(decision=decision, by=request.user, password=request.POST.get("password", ""), note=request.POST.get("note", ""))
            messages.success(request, "Decision re-reviewed.")
            return back
    except ValidationError as exc:
        if op == "rereview":
            for m in exc.messages:
                messages.error(request, m)
            return back
        apply_errors(sign_form if op == "sign" else reject_form, exc)
    return None


@role_required(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def trial_escalation(request, code):
    from . import decisions
    from .models import EscalationDecision
    from .pathplot import path_svg

    trial = selectors.trial_get(code)
    op = request.POST.get("op") if request.method == "POST" else None
    sign_form = SignForm(request.POST if op == "sign" else None)
    reject_form = RejectDecisionForm(request.POST if op == "reject" else None)
    if op is not None:
        response = _decision_post(request, trial, sign_form, reject_form)
        if response is not None:
            return response
    state = decisions.escalation_state(trial)
    history = list(EscalationDecision.objects.filter(trial=trial).select_related("level", "mtd", "signed_by")[:50])
    proposal = next((d for d in history if d.status == EscalationDecision.Status.PROPOSED), history[0] if history else None)
    open_cohort = selectors.open_cohort(trial)
    return render(
        request,
        "cohorts/escalation.html",
        {
            "trial": trial,
            "state": state,
            "levels": [(label, rows) for label, rows in state.by_level() if rows],
            "proposal": proposal,
            "decisions": history,
            "flagged": [d for d in history if d.needs_review],
            "path": path_svg(state.ladder.labels, decisions.path_marks(state)),
            "open_cohort": open_cohort,
            "open_slots": selectors.free_slots(open_cohort, selectors.enrolment_caps(trial)),  # as the trial home counts them
            "sign_form": sign_form,
            "reject_form": reject_form,
            "can_sign": request.user.can(Perm.SIGN),
        },
    )
