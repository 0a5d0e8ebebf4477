"""Treatment pages: the patient's treatment tab (grid and forms), a grid cell's dose, the diary.

The worklist and the visit page show several apps and live in portal."""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
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
from trialsite.http import as_int
from trialsite.idempotency import form_once

from . import schedule, selectors, services
from .forms import CellDoseForm, CycleStartForm, DiaryForm, ModificationForm, OffTreatmentForm
from .models import Administration, Cycle, PlannedDose

ACTIONS = ("cycle", "modify", "off")
AGAIN = {
    "cycle": "This cycle was already started (the form was sent twice): here it is.",
    "modify": "This dose modification was already recorded (the form was sent twice): here it is.",
    "off": "The end of treatment was already recorded (the form was sent twice): here it is.",
}


def _forms(patient, data=None, action=None, *, next_planned_day1=None):
    today = timezone.localdate()
    trial = patient.trial

    def bound(name):
        return data if action == name else None

    # The cycle form proposes the planned day 1 (cycle 1: today) and asks for that day's weight: never the registration weight.
    return {
        "cycle": CycleStartForm(bound("cycle"), prefix="cycle", initial={"day1": next_planned_day1 or today}),
        "modify": ModificationForm(bound("modify"), prefix="modify", trial=trial, patient=patient, initial={"effective_on": today}),
        "off": OffTreatmentForm(bound("off"), prefix="off", initial={"decided_on": today}),
    }


def _run(action, form, patient, user):
    data = form.cleaned_data
    if action == "cycle":
        cycle = services.cycle_start(patient=patient, by=user, **data)
        return f"Cycle {cycle.number} started on {cycle.day1.isoformat()}."
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
    last = Cycle.objects.filter(patient=patient).order_by("-number").only("day1").first()
    next_day1 = schedule.planned_day1(last.day1, patient.trial.cycle_length_days) if last else None
    forms = _forms(patient, request.POST if action else None, action, next_planned_day1=next_day1)
    if action in ACTIONS and forms[action].is_valid():
        back = reverse("patient_treatment", args=[study_id]) + f"#{action}"

        def write():
            messages.success(request, _run(action, forms[action], patient, request.user))
            return redirect(back), back

        try:
            return form_once(request, write, again=AGAIN[action])
        except ValidationError as exc:
            apply_errors(forms[action], exc)
    overview = selectors.treatment_overview(patient, today=timezone.localdate(), show=as_int(request.GET.get("cycle"), "The cycle"))
    return render(
        request,
        "dosing/treatment.html",
        {
            "patient": patient,
            "trial": patient.trial,
            "t": overview,
            "forms": forms,
            "action": action,
            "next_action": _next_action(overview, today=timezone.localdate()),
            "can_enter": request.user.can(Perm.ENTER_DATA) and patient.status in (PatientStatus.ENROLLED, PatientStatus.ON_TREATMENT),
        },
        status=200,
    )


def _next_action(overview, *, today):
    """The form left open: starting the next cycle when none has started or it is due within a week; else none."""
    if overview.off_treatment is not None:
        return None
    if overview.next_planned_day1 is None or overview.next_planned_day1 - timedelta(days=7) <= today:
        return "cycle"
    return None


@role_required(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def cycle_dose(request, study_id, number, drug, day):
    """One cell of the cycle grid: record or correct the dose of `drug` on `day` of cycle `number` (from the cell, never typed)."""
    patient = cohort_selectors.patient_get_for_user(request.user, study_id)
    cycle = get_object_or_404(Cycle, patient=patient, number=number)
    drug = get_object_or_404(Drug, trial=patient.trial, code=drug)
    if not 1 <= day <= patient.trial.cycle_length_days:
        raise Http404("No such day")
    planned = PlannedDose.objects.filter(cycle=cycle, drug=drug, day=day).first()
    given = Administration.objects.filter(cycle=cycle, drug=drug, day=day).first()
    initial = {"status": Administration.Status.GIVEN}
    if given is not None:
        initial = {"status": given.status, "dose_mg": given.dose_mg if given.status == Administration.Status.OTHER_DOSE or planned is None else None}
        initial["reason"] = given.reason
    form = CellDoseForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not request.user.can(Perm.ENTER_DATA):
            return render(request, "403.html", status=403)
        if form.is_valid():
            d = form.cleaned_data

            def write():
                record = services.administration_record(
                    cycle=cycle,
                    by=request.user,
                    drug=drug,
                    day=day,
                    status=d["status"],
                    dose_mg=d.get("dose_mg"),
                    reason=d.get("reason") or "",
                    deviation=planned is None,  # a day the schedule does not have: a protocol deviation, with its reason
                    reason_for_change=d.get("reason_for_change") or "",
                )
                verb = "corrected" if given is not None else "recorded"
                messages.success(request, f"Cycle {cycle.number} day {day} {drug.name} {verb}: {record.get_status_display().lower()}.")
                return redirect(reverse("patient_treatment", args=[study_id]) + f"#cycle-{cycle.number}"), request.path

            try:
                return form_once(request, write, again="This dose was already recorded (the form was sent twice): here it is.")
            except ValidationError as exc:
                apply_errors(form, exc)
    context = {"patient": patient, "trial": patient.trial, "cycle": cycle, "drug": drug, "day": day, "planned": planned, "given": given, "form": form}
    context["on"] = cycle.day1 + timedelta(days=day - 1)
    context["history"] = list(given.history.select_related("history_user").order_by("-history_date")[:10]) if given else []
    return render(request, "dosing/dose.html", context)


@role_required(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def cycle_diary(request, study_id, number, drug):
    patient = cohort_selectors.patient_get_for_user(request.user, study_id)
    cycle = get_object_or_404(Cycle, patient=patient, number=number)
    drug = get_object_or_404(Drug, trial=patient.trial, code=drug)
    plan = dict(PlannedDose.objects.filter(cycle=cycle, drug=drug).order_by("day").values_list("day", "dose_mg"))
    days = list(plan)
    recorded = {
        a.day: {"status": a.status, "dose_mg": a.dose_mg, "reason": a.reason} for a in Administration.objects.filter(cycle=cycle, drug=drug, deviation=False)
    }
    form = DiaryForm(request.POST or None, days=days, day1=cycle.day1, initial_rows=recorded, planned=plan, today=timezone.localdate())
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
