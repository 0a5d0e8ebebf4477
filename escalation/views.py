"""The escalation page: the engine's proposal and answer, the sign, reject and re-review forms (house style point 7)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.permissions import role_required
from accounts.roles import Perm
from cohorts import selectors as cohort_selectors
from trialsite.forms import apply_errors

from . import selectors, services
from .designs import DesignError
from .forms import RejectDecisionForm, ScenarioForm, SignForm
from .models import EscalationDecision
from .plots import oc_svg, path_svg


def _decision_post(request, trial, sign_form, reject_form):
    """Sign, reject or re-review a decision; returns a redirect, or None to show the form errors."""
    if not request.user.can(Perm.SIGN):
        return render(request, "403.html", status=403)
    decision = get_object_or_404(EscalationDecision, pk=request.POST.get("decision"), trial=trial)
    op = request.POST.get("op")
    back = redirect("trial_escalation", code=trial.code)
    try:
        if op == "sign" and sign_form.is_valid():
            services.decision_sign(decision=decision, by=request.user, password=sign_form.cleaned_data["password"])
            messages.success(request, f"Signed: {decision.action}{f' at level {decision.level.label}' if decision.level else ''}.")
            return back
        if op == "reject" and reject_form.is_valid():
            services.decision_reject(decision=decision, by=request.user, **reject_form.cleaned_data)
            messages.success(request, "Proposal rejected.")
            return back
        if op == "rereview":
            services.decision_rereview(decision=decision, by=request.user, password=request.POST.get("password", ""), note=request.POST.get("note", ""))
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
    trial = cohort_selectors.trial_get(code)
    op = request.POST.get("op") if request.method == "POST" else None
    sign_form = SignForm(request.POST if op == "sign" else None)
    reject_form = RejectDecisionForm(request.POST if op == "reject" else None)
    if op is not None:
        response = _decision_post(request, trial, sign_form, reject_form)
        if response is not None:
            return response
    full = selectors.escalation_state(trial)
    state = selectors.state_for_user(full, request.user)
    history = selectors.decisions_for_page(trial, request.user)
    # What is true now: the open proposal (a `wait` is one to read, not to sign), the last decision carried out,
    # and what the engine expects next; superseded proposals fold away under the history.
    proposal = next((d for d in history if d.status == EscalationDecision.Status.PROPOSED), None)
    carried_out = next((d for d in history if d.status == EscalationDecision.Status.SIGNED), None)
    open_cohort = cohort_selectors.open_cohort(trial)
    return render(
        request,
        "escalation/escalation.html",
        {
            "trial": trial,
            "state": state,
            "levels": state.levels(),
            "proposal": proposal,
            "to_sign": proposal is not None and proposal.action not in selectors.NOT_SIGNED,
            "look_ahead": selectors.look_ahead_rows(state),
            "carried_out": carried_out,
            "decisions": [d for d in history if d.status != EscalationDecision.Status.SUPERSEDED],
            "superseded": [d for d in history if d.status == EscalationDecision.Status.SUPERSEDED],
            "flagged": [d for d in history if d.needs_review],
            "path": path_svg(state.ladder.labels, selectors.path_marks(full)),  # counts only: every site's outcomes
            "open_cohort": open_cohort,
            "open_slots": cohort_selectors.free_slots(open_cohort, cohort_selectors.enrolment_caps(trial)),  # as the trial home counts them
            "sign_form": sign_form,
            "reject_form": reject_form,
            "can_sign": request.user.can(Perm.SIGN),
            "reject_meaning": services.REJECT_MEANING,
            "rereview_meaning": services.REREVIEW_MEANING,
        },
    )


def _scenario(request, sheet: selectors.DesignSheet, *, run_default: bool = False):
    """The scenario form from the query string (GET: no clinical write) and its operating characteristics, or None
    with the form's errors. Unsubmitted, the form holds the default scenario, computed only when `run_default`."""
    scenario = selectors.default_scenario(sheet)
    submitted = "method" in request.GET
    form = ScenarioForm(request.GET if submitted else None, labels=sheet.labels, scenario=scenario, tite=sheet.tite)
    if not submitted and not run_default:
        return form, None, scenario
    if submitted and not form.is_valid():
        return form, None, scenario
    if submitted:
        tox, method = form.true_tox(), form.cleaned_data["method"]
        trials, seed, arrivals = form.cleaned_data["trials"], form.cleaned_data["seed"], form.cleaned_data.get("arrivals")
    else:
        tox, method, trials, seed, arrivals = scenario, "mc" if sheet.tite else "exact", 1000, 1, None
    try:
        oc = selectors.design_oc(sheet, tox, method=method, trials=trials, seed=1 if seed is None else seed, arrivals=arrivals or 2.0)
    except DesignError as exc:
        form.add_error(None, str(exc))
        return form, None, tox
    return form, oc, tox


@role_required(Perm.VIEW)
@require_GET
def trial_design(request, code):
    """The statistician's page: the design, its decision table, and a scenario's operating characteristics
    (no patient data: every role that views the trial, coordinators too)."""
    trial = cohort_selectors.trial_get(code)
    sheet = selectors.design_sheet(trial)
    form, oc, tox = _scenario(request, sheet)
    return render(
        request,
        "escalation/design.html",
        {
            "trial": trial,
            "sheet": sheet,
            "form": form,
            "oc": oc,
            **(selectors.oc_table(oc, tox) if oc is not None else {}),
            "plot": oc_svg(oc.labels, tox, oc.p_select, oc.p_none, oc.expected_n) if oc is not None else "",
            "plot_query": request.GET.urlencode(),
            "max_trials": selectors.MAX_TRIALS,
        },
    )


@role_required(Perm.VIEW)
@require_GET
def trial_design_plot(request, code):
    """The page's plot as a file (the same query string; without one, the default scenario)."""
    trial = cohort_selectors.trial_get(code)
    sheet = selectors.design_sheet(trial)
    form, oc, tox = _scenario(request, sheet, run_default=True)
    if oc is None:
        message = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()) or sheet.error
        return render(request, "400.html", {"message": message}, status=400)
    svg = oc_svg(oc.labels, tox, oc.p_select, oc.p_none, oc.expected_n)
    response = HttpResponse('<?xml version="1.0" encoding="UTF-8"?>\n' + svg, content_type="image/svg+xml")
    response["Content-Disposition"] = f'attachment; filename="{trial.code}-design-oc-{timezone.localdate().isoformat()}.svg"'
    return response
