"""Pages that show several apps: the trial home (cohorts, escalation decisions, open queries), the
patient's overview (cohorts, open queries), the worklist (visits, open queries) and the visit page
(doses, labs, vital signs and adverse events of one visit). They live above every app they read (house style point 0)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.permissions import role_required
from accounts.roles import Perm
from cohorts import selectors
from cohorts.forms import EnrolForm, StatusForm
from datamanagement.models import DataQuery
from datamanagement.quality import open_counts
from dosing import selectors as dosing_selectors
from dosing import services as dosing_services
from dosing.forms import VisitDoseForm, VisitForm, VisitMissedForm
from dosing.models import Administration
from dosing.selectors import treatment_overview
from escalation.models import EscalationDecision
from escalation.selectors import decisions_for_home
from response.selectors import patient_response
from toxicity import selectors as toxicity_selectors
from toxicity import services as toxicity_services
from toxicity.forms import AdverseEventForm, VisitLabForm
from toxicity.selectors import safety_overview
from trialsite.idempotency import form_once

from .selectors import patient_calendar as calendar_selector


@role_required(Perm.VIEW)
def trial_home(request, code):
    trial = selectors.trial_get(code)
    decisions = decisions_for_home(trial, request.user)
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


# ---------------------------------------------------------------- the worklist and the visit page

WORKLIST_SECTIONS = (("overdue", "Overdue"), ("today", "Due today (within the window)"), ("week", "This week"))


@role_required(Perm.VIEW)
def worklist(request):
    """Visits and cycle starts due (dosing), with each patient's open queries (data management)."""
    today = timezone.localdate()
    site = request.GET.get("site") or None
    items = dosing_selectors.worklist(request.user, today=today, site_number=site)
    patient_ids = {i.patient.pk for rows in items.values() for i in rows}
    open_queries = dict(
        DataQuery.objects.filter(patient_id__in=patient_ids, status=DataQuery.Status.OPEN).values_list("patient_id").annotate(n=Count("id")).order_by()
    )
    return render(
        request,
        "dosing/worklist.html",
        {
            "sections": [(key, title, items[key], [(i, open_queries.get(i.patient.pk, 0)) for i in items[key]]) for key, title in WORKLIST_SECTIONS],
            "today": today,
            "sites": selectors.sites_for_user(request.user),
            "site": site,
            "trial": selectors.trials_for_user(request.user).first(),
        },
    )


def _visit_forms(day: toxicity_selectors.VisitDay, data=None):
    visit = day.visit
    initial = {"done_on": visit.done_on or visit.expected_on, "note": visit.note}  # the planned date, never today (issue #16)
    initial.update({k: getattr(visit, k) for k in ("weight_kg", "pulse_bpm", "systolic_mmhg", "diastolic_mmhg")})
    dose_forms = []
    for planned, given in day.doses:
        first = {"status": Administration.Status.GIVEN}
        if given is not None:
            first = {"status": given.status, "dose_mg": given.dose_mg if given.status == Administration.Status.OTHER_DOSE else None, "reason": given.reason}
        dose_forms.append((planned, given, VisitDoseForm(data, prefix=f"dose-{planned.drug.code}", initial=first, drug_name=planned.drug.name)))
    lab = day.lab
    lab_initial = {k: getattr(lab, k) for k in ("anc", "platelets", "hemoglobin", "wbc", "temperature")} if lab else {}
    ae_data = data if data is not None and (data.get("ae-term") or "").strip() else None
    return {
        "visit": VisitForm(data, initial=initial),
        "doses": dose_forms,
        "lab": VisitLabForm(data, prefix="lab", initial=lab_initial),
        "ae": AdverseEventForm(ae_data, prefix="ae", trial=visit.patient.trial, initial={"onset": initial["done_on"]}),
        "ae_bound": ae_data is not None,
    }


def _dose_entries(dose_forms) -> list[toxicity_services.DoseEntry]:
    """The doses whose entry is new or changed (an unchanged recorded dose is not written again)."""
    entries = []
    for planned, given, form in dose_forms:
        d = form.cleaned_data
        status = d.get("status")
        if not status:
            continue  # left "not recorded": nothing to write
        dose_mg = d.get("dose_mg") if status == Administration.Status.OTHER_DOSE else None
        reason = (d.get("reason") or "").strip()
        if given is not None and (given.status, given.reason, given.dose_mg if status == Administration.Status.OTHER_DOSE else None) == (
            status,
            reason,
            dose_mg,
        ):
            continue
        entries.append(toxicity_services.DoseEntry(planned.drug, status, dose_mg, reason, d.get("reason_for_change") or ""))
    return entries


def _visit_errors(forms, exc: ValidationError) -> None:
    """The service's `section.field` errors beside their inputs."""
    by_drug = {planned.drug.code: form for planned, _, form in forms["doses"]}
    for key, texts in exc.message_dict.items():
        section, _, rest = key.partition(".")
        if section == "dose":
            code, _, name = rest.partition(".")
            form = by_drug.get(code, forms["visit"])
        elif section == "ae":
            form, name = forms["ae"], rest.partition(".")[2]
        else:
            form, name = {"lab": forms["lab"]}.get(section, forms["visit"]), rest
        for m in texts:
            form.add_error(name if name in form.fields else None, m)


def _visit_post(request, day, forms):
    """Validate every part; one service call saves them all or nothing. Returns a redirect or None."""
    parts = [forms["visit"], forms["lab"]] + [f for _, _, f in forms["doses"]] + ([forms["ae"]] if forms["ae_bound"] else [])
    valid = [f.is_valid() for f in parts]  # every form validated, so each shows its errors
    if not all(valid):
        return None
    v = forms["visit"].cleaned_data

    def write():
        saved = toxicity_services.visit_day_record(
            visit=day.visit,
            by=request.user,
            done_on=v["done_on"],
            doses=_dose_entries(forms["doses"]),
            labs=forms["lab"].service_kwargs(),
            adverse_events=[forms["ae"].values()] if forms["ae_bound"] else [],
            vitals=forms["visit"].vitals(),
            confirm_out_of_window=v["confirm_out_of_window"],
            note=v.get("note") or "",
            reason_for_change=v.get("reason_for_change") or "",
        )
        visit = saved.visit
        label = f"C{visit.cycle.number}D{visit.day}" if visit.cycle_id else "Follow-up visit"
        flag = " outside its window (protocol deviation)" if visit.out_of_window else ""
        messages.success(
            request,
            f"{visit.patient.study_id} {label} done on {visit.done_on.isoformat()}{flag}: {len(saved.doses)} dose(s)"
            + (", labs" if saved.lab else "")
            + (f", {len(saved.adverse_events)} adverse event(s)" if saved.adverse_events else "")
            + " saved.",
        )
        url = reverse("visit_record", args=[visit.pk])
        return redirect(url), url

    try:
        return form_once(request, write, again="This visit was already recorded (the form was sent twice): here it is.")
    except ValidationError as exc:
        _visit_errors(forms, exc)
        return None


@role_required(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def visit_record(request, pk):
    """One visit, one page, one submission: the day's doses (prefilled with the plan), labs, vital signs, a new event."""
    visit = toxicity_selectors.visit_get_for_user(request.user, pk)
    day = toxicity_selectors.visit_day(visit)
    can_enter = request.user.can(Perm.ENTER_DATA) and not visit.cancelled
    data = None
    if request.method == "POST":
        if not request.user.can(Perm.ENTER_DATA):
            return render(request, "403.html", status=403)
        data = request.POST.copy()
        if "all_planned" in data:  # "all given as planned": one action for every dose of the day
            for planned, _ in day.doses:
                data[f"dose-{planned.drug.code}-status"] = Administration.Status.GIVEN
                data[f"dose-{planned.drug.code}-dose_mg"] = ""
                data[f"dose-{planned.drug.code}-reason"] = ""
    forms = _visit_forms(day, data)
    if data is not None:
        response = _visit_post(request, day, forms)
        if response is not None:
            return response
    return _visit_page(request, day, forms, can_enter=can_enter, posted=data is not None)


def _visit_page(request, day, forms, *, can_enter: bool, posted: bool, missed_form: VisitMissedForm | None = None):
    visit = day.visit
    data = request.POST if posted else None
    outside = visit.out_of_window or bool(forms["visit"].errors.get("done_on")) or bool(data and data.get("confirm_out_of_window"))
    return render(
        request,
        "portal/visit.html",
        {
            "patient": visit.patient,
            "trial": visit.patient.trial,
            "day": day,
            "visit": visit,
            "forms": forms,
            "missed_form": missed_form or VisitMissedForm(),
            "missed_open": missed_form is not None,
            "show_confirm": outside,
            "can_enter": can_enter,
            "can_mark": request.user.can(Perm.ENTER_DATA) and (visit.done_on is None or missed_form is not None),
            "has_errors": posted,
        },
    )


@role_required(Perm.ENTER_DATA)
@require_http_methods(["POST"])
def visit_missed(request, pk):
    """The visit did not take place, with its reason; or, recorded so in error, it is expected again."""
    visit = toxicity_selectors.visit_get_for_user(request.user, pk)
    form = VisitMissedForm(request.POST)
    form.is_valid()
    undo = "expected_again" in request.POST
    try:
        if undo:
            visit = dosing_services.visit_missed_undo(visit=visit, by=request.user, reason=form.cleaned_data.get("reason_for_change") or "")
        else:
            visit = dosing_services.visit_missed(visit=visit, by=request.user, reason=form.cleaned_data.get("missed_reason") or "")
    except ValidationError as exc:
        for name, texts in exc.message_dict.items():
            for m in texts:
                form.add_error(name if name in form.fields else None, m)
        day = toxicity_selectors.visit_day(visit)
        return _visit_page(request, day, _visit_forms(day, None), can_enter=not visit.cancelled, posted=False, missed_form=form)
    messages.success(request, f"{visit.patient.study_id} {visit}: " + ("expected again." if undo else "recorded as not taking place."))
    return redirect(reverse("visit_record", args=[visit.pk]))


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


@role_required(Perm.VIEW)
def patient_calendar(request, study_id):
    """The patient's calendar (issue #16 point 3): every planned and actual visit by cycle with its window and status,
    the DLT window and the cycle-2 deadline marked; read-only and printable. Scoped by the patient getter."""
    patient = selectors.patient_get_for_user(request.user, study_id)
    context = {
        "patient": patient,
        "trial": patient.trial,
        "tab": "calendar",
        "cal": calendar_selector(patient, today=timezone.localdate()),
        "can_enter": request.user.can(Perm.ENTER_DATA),
        "today": timezone.localdate(),
    }
    return render(request, "portal/calendar.html", context)
