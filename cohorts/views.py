"""Thin function views: selector -> form -> service -> response (house style point 7)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.permissions import role_required
from accounts.roles import Perm
from trialsite.errors import DomainError
from trialsite.forms import apply_errors
from trialsite.idempotency import form_once

from . import selectors, services
from .filters import PatientFilter
from .forms import EnrolForm, PatientEditForm, PatientRegisterForm, StatusForm

PAGE_SIZE = 50


@login_required
def home(request):
    trials = list(selectors.trials_for_user(request.user))
    if len(trials) == 1:
        return redirect("trial_home", code=trials[0].code)
    return render(request, "cohorts/trial_list.html", {"trials": trials})


@role_required(Perm.VIEW)
def patient_search(request):
    """The header's patient search: one patient by their exact study id opens their page, else a list."""
    text = request.GET.get("q", "").strip()[:40]
    patients = selectors.patient_search(request.user, text)
    exact = [p for p in patients if p.study_id.casefold() == text.casefold()]
    if len(exact) == 1:
        return redirect("patient_detail", study_id=exact[0].study_id)
    return render(request, "cohorts/patient_search.html", {"q": text, "patients": patients, "limit": selectors.SEARCH_LIMIT})


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

        def write():
            patient = services.patient_register(trial=trial, site=form.cleaned_data["site"], by=request.user, **form.values())
            messages.success(request, f"{patient.study_id} registered (screening).")
            url = reverse("patient_detail", args=[patient.study_id])
            return redirect(url), url

        try:
            return form_once(request, write, again="This patient was already registered (the form was sent twice): here they are.")
        except ValidationError as exc:
            apply_errors(form, exc)
    return render(request, "cohorts/patient_form.html", {"trial": trial, "form": form, "title": "Register a patient"})


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
