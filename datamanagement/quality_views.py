"""Pages for data quality: a patient's queries and cycle locks, the trial's query list and edit checks."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.permissions import role_required
from accounts.roles import Perm
from cohorts import selectors as cohort_selectors
from dosing.models import Administration, Cycle
from response.models import MyelomaAssessment
from toxicity.models import AdverseEvent, LabResult
from trialsite.http import as_int
from trialsite.signatures import signatures_of_many

from . import quality
from .models import DataQuery

OPS = {"raise": Perm.QUERY, "answer": Perm.ENTER_DATA, "close": Perm.QUERY, "reopen": Perm.QUERY, "lock": Perm.LOCK, "unlock": Perm.LOCK}


def _records(patient) -> list[tuple[str, str]]:
    """The patient's records a query can be raised on, as (type:id, label)."""
    out = [(f"patient:{patient.pk}", f"Registration of {patient.study_id}")]
    out += [(f"cycle:{c.pk}", f"Cycle {c.number} (day 1 {c.day1.isoformat()})") for c in Cycle.objects.filter(patient=patient).order_by("number")]
    out += [
        (f"administration:{a.pk}", f"Dose: {a.drug.name} cycle {a.cycle.number} day {a.day}")
        for a in Administration.objects.filter(cycle__patient=patient).select_related("drug", "cycle").order_by("given_on", "pk")
    ]
    out += [(f"adverse_event:{e.pk}", f"AE: {e}") for e in AdverseEvent.objects.filter(patient=patient).order_by("onset", "pk")]
    out += [(f"lab:{lab.pk}", f"Labs of {lab.on.isoformat()}") for lab in LabResult.objects.filter(patient=patient).order_by("on")]
    out += [(f"assessment:{a.pk}", f"Assessment of {a.on.isoformat()}") for a in MyelomaAssessment.objects.filter(patient=patient).order_by("on")]
    return out


def _run(request, patient, op):
    p = request.POST
    if op == "raise":
        record_type, _, object_id = p.get("record", "").partition(":")
        object_id = as_int(object_id, "The record") or 0
        quality.query_raise(patient=patient, by=request.user, record_type=record_type, object_id=object_id, field=p.get("field", ""), text=p.get("text", ""))
        return "Query raised."
    if op in ("lock", "unlock"):
        cycle = get_object_or_404(Cycle, pk=as_int(p.get("cycle"), "The cycle"), patient=patient)
        if op == "lock":
            quality.cycle_lock(cycle=cycle, by=request.user, password=p.get("password", ""), reason=p.get("reason", ""))
            return f"Cycle {cycle.number} locked."
        quality.cycle_unlock(cycle=cycle, by=request.user, password=p.get("password", ""), reason=p.get("reason", ""))
        return f"Cycle {cycle.number} unlocked."
    query = get_object_or_404(DataQuery, pk=as_int(p.get("query"), "The query"), patient=patient)
    if op == "answer":
        quality.query_answer(query=query, by=request.user, answer=p.get("answer", ""))
        return "Query answered."
    if op == "close":
        quality.query_close(query=query, by=request.user, note=p.get("note", ""))
        return "Query closed."
    quality.query_reopen(query=query, by=request.user, note=p.get("note", ""))
    return "Query re-opened."


def _cycles_signed(patient) -> list[Cycle]:
    """The patient's cycles with their lock and unlock signatures (one query for all), and what signing means."""
    cycles = list(Cycle.objects.filter(patient=patient).select_related("locked_by").order_by("number"))
    signed = signatures_of_many(Cycle, [c.pk for c in cycles])
    for c in cycles:
        c.signatures = signed.get(c.pk, [])
        c.sign_meaning = quality.unlock_meaning(c) if c.locked_at else quality.lock_meaning(c)
    return cycles


@role_required(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def patient_queries(request, study_id):
    patient = cohort_selectors.patient_get_for_user(request.user, study_id)
    if request.method == "POST":
        op = request.POST.get("op")
        if op not in OPS or not request.user.can(OPS[op]):
            return render(request, "403.html", status=403)
        try:
            messages.success(request, _run(request, patient, op))
        except ValidationError as exc:
            for m in exc.messages:
                messages.error(request, m)
        return redirect(reverse("patient_queries", args=[study_id]))
    queries = list(DataQuery.objects.filter(patient=patient).select_related("raised_by", "answered_by", "closed_by"))
    return render(
        request,
        "datamanagement/patient_queries.html",
        {
            "patient": patient,
            "trial": patient.trial,
            "queries": queries,
            "open": sum(q.status != DataQuery.Status.CLOSED for q in queries),
            "cycles": _cycles_signed(patient),
            "records": _records(patient) if request.user.can(Perm.QUERY) else [],
            "can": {"query": request.user.can(Perm.QUERY), "answer": request.user.can(Perm.ENTER_DATA), "lock": request.user.can(Perm.LOCK)},
        },
    )


@role_required(Perm.VIEW)
@require_http_methods(["GET", "POST"])
def trial_queries(request, code):
    trial = cohort_selectors.trial_get(code)
    if request.method == "POST":
        if not request.user.can(Perm.QUERY):
            return render(request, "403.html", status=403)
        created = quality.edit_checks_run(trial=trial)
        messages.success(request, f"Edit checks run: {created} new quer{'y' if created == 1 else 'ies'}.")
        return redirect("trial_queries", code=code)
    visible = cohort_selectors.patients_for_user(request.user, trial)
    status = request.GET.get("status") or "open"
    qs = DataQuery.objects.filter(patient__in=visible.values("pk")).select_related("patient__site", "raised_by")
    if status == "open":
        qs = qs.exclude(status=DataQuery.Status.CLOSED)
    elif status in DataQuery.Status.values:
        qs = qs.filter(status=status)
    if request.GET.get("site"):
        qs = qs.filter(patient__site__number=request.GET["site"])
    return render(
        request,
        "datamanagement/trial_queries.html",
        {
            "trial": trial,
            "queries": qs[:500],
            "counts": quality.open_counts(trial, visible.values("pk")),
            "status": status,
            "site": request.GET.get("site", ""),
            "sites": cohort_selectors.sites_for_user(request.user),
            "can_query": request.user.can(Perm.QUERY),
        },
    )
