"""Treatment pages: the patient's treatment tab (grid and forms), a grid cell's dose, the diary.

The worklist and the visit page show several apps and live in portal."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.permissions import role_required
from accounts.roles import Perm
from cohorts import selectors as cohort_selectors
from cohorts.models import Drug
from cohorts.status import PatientStatus
from trialsite.forms import apply_errors

from . import selectors, services
from .forms import CycleStartForm, DiaryForm, DoseForm, ModificationForm, OffTreatmentForm
from .models import Administration, Cycle, PlannedDose

ACTIONS = ("cycle", "dose", "modify", "off")


def _forms(patient, data=None, action=None):
    today = timezone.localdate()
    trial = patient.trial
    last_cycle = Cycle.objects.filter(patient=patient).order_by("-number").values_list("number", flat=True).first()

    def bound(name):
        return data if action == name else None

    return {
        "cycle": CycleStartForm(bound("cycle"), prefix="cycle", initial={"day1": today, "weight_kg": patient.weight_kg}),
        "dose": DoseForm(bound("dose"), prefix="dose", trial=trial, initial={"status": Administration.Status.GIVEN, "cycle": last_cycle}),
        "modify": ModificationForm(bound("modify"), prefix="modify", trial=trial, patient=patient, initial={"effective_on": today}),
        "off": OffTreatmentForm(bound("off"), prefix="off", initial={"decided_on": today}),
    }


def _run(action, form, patient, user):
    data = form.cleaned_data
    if action == "cycle":
        cycle = services.cycle_start(patient=patient, by=user, **data)
        return f"Cycle {cycle.number} started on {cycle.day1.isoformat()}."
    if action == "dose":
        cycle = Cycle.objects.filter(patient=patient, number=data.pop("cycle")).first()
        if cycle is None:
            raise ValidationError({"cycle": ["No such cycle for this patient."]})
        record = services.administration_record(cycle=cycle, by=user, **data)
        return f"Cycle {cycle.number} day {record.day} {record.drug.name}: {record.get_status_display().lower()}."
    if action == "modify":
        mod = services.dose_modify(patient=patient, by=user, **data)
        return f"{mod.get_kind_display()} recorded."
    off = services.patient_off_treatment(patient=patient, by=user, **data)
    return f"Off treatment from {off.decided_on.isoformat()}; follow-up until {off.follow_up_until.isoformat()}."


@role_required(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def patient_treatment(request, study_id):
    patient = cohort_selectors.patient_get_for_user(request.user, study_id)
    action = request.POST.get("action") if request.method == "POST" else None
    if action is not None and not request.user.can(Perm.ENTER_DATA):
        return render(request, "403.html", status=403)
    forms = _forms(patient, request.POST if action else None, action)
    if action in ACTIONS and forms[action].is_valid():
        try:
            message = _run(action, forms[action], patient, request.user)
        except ValidationError as exc:
            apply_errors(forms[action], exc)
        else:
            messages.success(request, message)
            return redirect(reverse("patient_treatment", args=[study_id]) + f"#{action}")
    shown = request.GET.get("cycle", "")
    overview = selectors.treatment_overview(patient, today=timezone.localdate(), show=int(shown) if shown.isdigit() else None)
    return render(
        request,
        "dosing/treatment.html",
        {
            "patient": patient,
            "trial": patient.trial,
            "t": overview,
            "forms": forms,
            "action": action,
            "can_enter": request.user.can(Perm.ENTER_DATA) and patient.status in (PatientStatus.ENROLLED, PatientStatus.ON_TREATMENT),
        },
        status=200,
    )


@role_required(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def cycle_diary(request, study_id, number, drug):
    patient = cohort_selectors.patient_get_for_user(request.user, study_id)
    cycle = get_object_or_404(Cycle, patient=patient, number=number)
    drug = get_object_or_404(Drug, trial=patient.trial, code=drug)
    days = list(PlannedDose.objects.filter(cycle=cycle, drug=drug).order_by("day").values_list("day", flat=True))
    recorded = {
        a.day: {"status": a.status, "dose_mg": a.dose_mg, "reason": a.reason} for a in Administration.objects.filter(cycle=cycle, drug=drug, deviation=False)
    }
    form = DiaryForm(request.POST or None, days=days, day1=cycle.day1, initial_rows=recorded)
    if request.method == "POST":
        if not request.user.can(Perm.ENTER_DATA):
            return render(request, "403.html", status=403)
        if form.is_valid():
            try:
                saved = services.diary_record(cycle=cycle, by=request.user, drug=drug, entries=form.entries(recorded))
            except ValidationError as exc:
                for key, msgs in exc.message_dict.items():
                    day = key.removeprefix("day_")
                    target = f"status_{day}" if day.isdigit() and f"status_{day}" in form.fields else None
                    for m in msgs:
                        form.add_error(target, m)
            else:
                messages.success(request, f"{drug.name} diary of cycle {cycle.number}: {len(saved)} day(s) saved.")
                return redirect("patient_treatment", study_id=study_id)
    return render(request, "dosing/diary.html", {"patient": patient, "trial": patient.trial, "cycle": cycle, "drug": drug, "form": form})
