"""Safety pages: the patient's safety tab (AEs, labs, plots, DLTs), AE entry, the investigators' DLT review queue."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts.permissions import role_required
from accounts.roles import Perm
from cohorts import selectors as cohort_selectors
from cohorts.status import PatientStatus
from trialsite.forms import apply_errors
from trialsite.http import as_int
from trialsite.idempotency import form_once
from trialsite.signatures import signatures_of_many

from . import plots, selectors, services
from .forms import AdjudicationForm, AdverseEventForm, ConMedForm, LabForm, MissedDltForm, RetractForm
from .models import AdverseEvent, ConMed, Dlt, DltProposal

ENTERABLE = (PatientStatus.ENROLLED, PatientStatus.ON_TREATMENT, PatientStatus.OFF_TREATMENT)


def _forbidden(request):
    return render(request, "403.html", status=403)


def _plots(safety: selectors.Safety) -> dict[str, str]:
    w = safety.window
    window = (w.cycle1_day1, w.window_end) if w else None
    anc = [(r.lab.on, r.lab.anc) for r in safety.labs if r.lab.anc is not None]
    plt = [(r.lab.on, r.lab.platelets) for r in safety.labs if r.lab.platelets is not None]
    rows = [
        plots.EventRow(row.name, tuple(plots.Episode(e.grade, e.onset, e.resolved) for e in row.episodes if not e.in_error))
        for row in safety.events
        if any(not e.in_error for e in row.episodes)
    ]
    return {
        "anc": plots.lab_plot("ANC", anc, bands=plots.ANC_BANDS, window=window),
        "platelets": plots.lab_plot("Platelets", plt, bands=plots.PLATELET_BANDS, window=window),
        "timeline": plots.ae_timeline(rows, today=safety.today, window=window),
    }


def _safety_post(request, patient, action, lab_form, missed_form):
    """The safety tab's forms: a lab panel (coordinator), a missed DLT or a withdrawal (investigator).
    Returns a response, or None to draw the page again with the form's errors."""
    needed = Perm.ENTER_DATA if action == "lab" else Perm.ADJUDICATE
    if not request.user.can(needed):
        return _forbidden(request)
    back = reverse("patient_safety", args=[patient.study_id])
    if action == "withdraw":
        row = get_object_or_404(Dlt, pk=as_int(request.POST.get("dlt"), "The DLT"), patient=patient)
        try:
            services.dlt_withdraw(dlt_row=row, by=request.user, password=request.POST.get("password", ""), reason=request.POST.get("reason", ""))
        except ValidationError as exc:
            for m in exc.messages:
                messages.error(request, m)
        else:
            messages.success(request, f"DLT {row.rule} withdrawn.")
        return redirect(back + "#dlts")
    form = lab_form if action == "lab" else missed_form
    if action not in ("lab", "missed") or not form.is_valid():
        return None

    def write_lab():
        lab = services.lab_record(patient=patient, by=request.user, **lab_form.service_kwargs())
        messages.success(request, f"Labs of {lab.on.isoformat()} saved.")
        return redirect(back + "#labs"), back + "#labs"

    def write_missed():
        row = services.dlt_record_missed(patient=patient, by=request.user, **missed_form.cleaned_data)
        messages.success(request, f"DLT {row.rule} from {row.onset.isoformat()} recorded.")
        return redirect(back + "#dlts"), back + "#dlts"

    try:
        if action == "lab":
            return form_once(request, write_lab, again="These labs were already recorded (the form was sent twice): here they are.")
        return form_once(request, write_missed, again="This DLT was already recorded (the form was sent twice): here it is.")
    except ValidationError as exc:
        apply_errors(form, exc)
    return None


def _attach_signatures(rows, model) -> None:
    """Each row's electronic signatures (trialsite.signatures), in one query, for the history the page shows."""
    signed = signatures_of_many(model, [r.pk for r in rows])
    for r in rows:
        r.signatures = signed.get(r.pk, [])


@role_required(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def patient_safety(request, study_id):
    patient = cohort_selectors.patient_get_for_user(request.user, study_id)
    today = timezone.localdate()
    action = request.POST.get("action") if request.method == "POST" else None
    lab_form = LabForm(request.POST if action == "lab" else None, prefix="lab", initial={"on": today})
    missed_form = MissedDltForm(request.POST if action == "missed" else None, prefix="missed")
    if action is not None:
        response = _safety_post(request, patient, action, lab_form, missed_form)
        if response is not None:
            return response
    safety = selectors.safety_overview(patient, today=today)
    _attach_signatures(safety.dlts, Dlt)
    selectors.attach_proposal_signatures(safety.proposals)  # the proposal's and its DLT's, as on the review queue
    return render(
        request,
        "toxicity/safety.html",
        {
            "patient": patient,
            "trial": patient.trial,
            "s": safety,
            "plots": _plots(safety),
            "lab_form": lab_form,
            "missed_form": missed_form,
            "missed_evidence": selectors.missed_dlt_evidence(patient, missed_form.data.get("missed-rule", ""), today=today) if missed_form.is_bound else None,
            "missed_meaning": services.adjudication.missed_meaning("chosen above"),
            "withdraw_meaning": services.adjudication.WITHDRAW_MEANING,
            "adjudication_form": AdjudicationForm(),
            "can_enter": request.user.can(Perm.ENTER_DATA) and patient.status in ENTERABLE,
            "can_adjudicate": request.user.can(Perm.ADJUDICATE),
            "open_statuses": selectors.OPEN_PROPOSALS,
        },
    )


@role_required(Perm.ENTER_DATA)
@require_http_methods(["GET", "POST"])
def ae_new(request, study_id):
    patient = cohort_selectors.patient_get_for_user(request.user, study_id)
    previous = None
    source = request.POST if request.method == "POST" else request.GET
    if source.get("continues"):
        previous = get_object_or_404(AdverseEvent, pk=source.get("continues"), patient=patient, in_error=False)
    initial = {"onset": timezone.localdate()}
    if previous is not None:
        initial.update(AdverseEventForm.initial_from(previous))
        initial.update({"onset": timezone.localdate(), "resolved": None, "grade": None})
    elif request.GET.get("term"):
        initial["term"] = request.GET["term"]
    form = AdverseEventForm(request.POST or None, trial=patient.trial, initial=initial)
    if request.method == "POST" and form.is_valid():

        def write():
            ae = services.ae_record(patient=patient, by=request.user, continues=previous, **form.values())
            messages.success(request, f"{ae.term_name} grade {ae.grade} from {ae.onset.isoformat()} recorded.")
            return redirect(reverse("patient_safety", args=[study_id]) + "#events"), reverse("ae_edit", args=[study_id, ae.pk])

        try:
            return form_once(request, write, again="This adverse event was already recorded (the form was sent twice): here it is.")
        except ValidationError as exc:
            apply_errors(form, exc)
    return render(request, "toxicity/ae_form.html", _ae_context(patient, form, previous=previous))


def _ae_context(patient, form, **extra):
    return {"patient": patient, "trial": patient.trial, "form": form, **extra}


@role_required(Perm.ENTER_DATA)
@require_http_methods(["GET", "POST"])
def ae_edit(request, study_id, pk):
    patient = cohort_selectors.patient_get_for_user(request.user, study_id)
    ae = get_object_or_404(AdverseEvent, pk=pk, patient=patient)
    action = request.POST.get("op") if request.method == "POST" else None  # "action" is a field of the event
    form = AdverseEventForm(request.POST if action == "edit" else None, trial=patient.trial, editing=True, initial=AdverseEventForm.initial_from(ae))
    retract = RetractForm(request.POST if action == "retract" else None, prefix="retract")
    if action == "edit" and form.is_valid():
        try:
            services.ae_update(ae=ae, by=request.user, reason=form.cleaned_data["reason"], **form.values())
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"{ae.term_name} corrected.")
            return redirect(reverse("patient_safety", args=[study_id]) + "#events")
    if action == "retract" and retract.is_valid():
        try:
            services.ae_retract(ae=ae, by=request.user, reason=retract.cleaned_data["reason"])
        except ValidationError as exc:
            apply_errors(retract, exc)
        else:
            messages.success(request, f"{ae.term_name} marked as entered in error.")
            return redirect(reverse("patient_safety", args=[study_id]) + "#events")
    return render(request, "toxicity/ae_form.html", _ae_context(patient, form, ae=ae, retract=retract, conmeds=selectors.event_conmeds(ae)))


@role_required(Perm.ENTER_DATA)
@require_http_methods(["GET", "POST"])
def conmed_new(request, study_id):
    """Record a concomitant medication; `?event=<id>` ticks the adverse event it treats (from the AE form)."""
    patient = cohort_selectors.patient_get_for_user(request.user, study_id)
    initial: dict = {"start": timezone.localdate()}
    event = as_int(request.GET.get("event"), "The adverse event")
    if event is not None:
        initial["adverse_events"] = [event]
    form = ConMedForm(request.POST or None, patient=patient, initial=initial)
    if request.method == "POST" and form.is_valid():

        def write():
            conmed = services.conmed_record(patient=patient, by=request.user, **form.values())
            messages.success(request, f"{conmed.drug} from {conmed.start.isoformat()} recorded.")
            return redirect(reverse("patient_safety", args=[study_id]) + "#conmeds"), reverse("conmed_edit", args=[study_id, conmed.pk])

        try:
            return form_once(request, write, again="This concomitant medication was already recorded (the form was sent twice): here it is.")
        except ValidationError as exc:
            apply_errors(form, exc)
    return render(request, "toxicity/conmed_form.html", {"patient": patient, "trial": patient.trial, "form": form})


@role_required(Perm.ENTER_DATA)
@require_http_methods(["GET", "POST"])
def conmed_edit(request, study_id, pk):
    """Correct a concomitant medication (with a reason), or retract it as entered in error."""
    patient = cohort_selectors.patient_get_for_user(request.user, study_id)
    conmed = get_object_or_404(ConMed, pk=pk, patient=patient)
    op = request.POST.get("op") if request.method == "POST" else None
    form = ConMedForm(request.POST if op == "edit" else None, patient=patient, editing=True, initial=ConMedForm.initial_from(conmed))
    retract = RetractForm(request.POST if op == "retract" else None, prefix="retract")
    if op == "edit" and form.is_valid():
        try:
            services.conmed_update(conmed=conmed, by=request.user, reason=form.cleaned_data["reason"], **form.values())
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"{conmed.drug} corrected.")
            return redirect(reverse("patient_safety", args=[study_id]) + "#conmeds")
    if op == "retract" and retract.is_valid():
        try:
            services.conmed_retract(conmed=conmed, by=request.user, reason=retract.cleaned_data["reason"])
        except ValidationError as exc:
            apply_errors(retract, exc)
        else:
            messages.success(request, f"{conmed.drug} marked as entered in error.")
            return redirect(reverse("patient_safety", args=[study_id]) + "#conmeds")
    return render(request, "toxicity/conmed_form.html", {"patient": patient, "trial": patient.trial, "form": form, "conmed": conmed, "retract": retract})


@role_required(Perm.VIEW)
def dlt_review(request):
    page = selectors.review_queue_page(request.user, request.GET.get("after"))
    return render(
        request,
        "toxicity/review.html",
        {
            "queue": page.proposals,
            "page": page,
            "first_page": not request.GET.get("after"),
            "recent": selectors.recent_adjudications(request.user),
            "form": AdjudicationForm(),
            "can_adjudicate": request.user.can(Perm.ADJUDICATE),
            "open_statuses": selectors.OPEN_PROPOSALS,
            "trial": cohort_selectors.trials_for_user(request.user).first(),
        },
    )


@role_required(Perm.ADJUDICATE)
@require_http_methods(["POST"])
def dlt_adjudicate(request, pk):
    visible = cohort_selectors.patients_for_user(request.user).values("pk")
    proposal = get_object_or_404(DltProposal.objects.select_related("patient"), pk=pk, patient__in=visible)
    form = AdjudicationForm(request.POST)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("dlt_review")
    if not form.is_valid():
        messages.error(request, "Choose confirm or reject.")
        return redirect(back)
    reason, password = form.cleaned_data["reason"], form.cleaned_data["password"]
    try:
        if form.cleaned_data["decision"] == "confirm":
            services.dlt_confirm(proposal=proposal, by=request.user, password=password, reason=reason)
            messages.success(request, f"{proposal.patient.study_id}: DLT {proposal.rule} from {proposal.onset.isoformat()} confirmed.")
        else:
            services.dlt_reject(proposal=proposal, by=request.user, password=password, reason=reason)
            messages.success(request, f"{proposal.patient.study_id}: proposal {proposal.rule} rejected.")
    except ValidationError as exc:
        for m in exc.messages:
            messages.error(request, f"{proposal.patient.study_id} {proposal.rule}: {m}")
    return redirect(back)
