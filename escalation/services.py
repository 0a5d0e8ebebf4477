"""Writes for escalation: the engine's proposal, signatures, rejections and re-reviews (house style point 4).

escalation_reevaluate stores what the engine answers on the stored facts (escalation/selectors.py) and
flags signed decisions whose counted DLTs changed; decision_sign, decision_reject and decision_rereview
are the investigators' electronic signatures (password re-entered).
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import Perm
from cohorts.models import Cohort, DoseLevel, Trial
from toxicity.models import Dlt, DltProposal
from trialsite.audit import audit, audited_save, reason_missing
from trialsite.signatures import password_errors, sign, signed, signer_name
from trialsite.states import move

from . import rules
from .models import EscalationDecision
from .selectors import NOT_SIGNED, OPENS_A_COHORT, State, covered_by_open_cohort, escalation_state, state_digest, tally_json


@transaction.atomic
def escalation_reevaluate(*, trial: Trial, today: date | None = None) -> tuple[EscalationDecision | None, int]:
    """What escalation.propose does, on one computation of the state under the trial's lock: flag the
    signed decisions whose counted DLTs changed, and store the engine's proposal. Returns (proposal, flagged)."""
    trial = Trial.objects.select_for_update(no_key=True).get(pk=trial.pk)
    state = escalation_state(trial, today=today)
    flagged = _flag_for_review(trial, state)
    return _propose(trial, state), flagged


def _propose(trial: Trial, state: State) -> EscalationDecision | None:
    digest = state_digest(state)
    current = EscalationDecision.objects.select_for_update(no_key=True).filter(trial=trial, status=EscalationDecision.Status.PROPOSED).first()
    if current is not None and current.inputs_digest == digest:
        return current
    if current is not None:
        move(current, EscalationDecision.Status.SUPERSEDED, machine=EscalationDecision.MOVES, by=None, reason="Superseded: the data behind it changed")
    d = state.decision
    if covered_by_open_cohort(trial, d):
        return None
    levels = {str(lv.label): lv for lv in DoseLevel.objects.filter(trial=trial)}
    decision = EscalationDecision(
        trial=trial,
        design=state.design.name,
        action=d.action.value,
        level=levels.get(d.level) if d.level else None,
        mtd=levels.get(d.mtd) if d.mtd else None,
        rule=d.rule,
        reason=d.reason,
        slots=d.slots,
        tally=tally_json(state),
        dlts=state.dlt_snapshot,
        inputs_digest=digest,
        proposed_at=timezone.now(),
    )
    audit(decision, by=None, reason=f"Proposed by the {state.design.name} engine ({d.rule})")
    decision.save()
    return decision


def _check_signer(by: User, refusal: str) -> None:
    if not by.can(Perm.SIGN):
        raise PermissionDenied(refusal)


REJECT_MEANING = "I reject this escalation proposal"
REREVIEW_MEANING = "I have re-reviewed this signed decision after the DLTs it counted changed"


def sign_meaning(decision: EscalationDecision) -> str:
    return f"I approve: {decision.reason}"[:300]


def _signed_content(decision: EscalationDecision) -> dict:
    return {"action": decision.action, "rule": decision.rule, "reason": decision.reason, "slots": decision.slots, "inputs": decision.inputs_digest}


@signed
def decision_sign(*, decision: EscalationDecision, by: User, password: str, today: date | None = None) -> EscalationDecision:
    """An investigator's electronic signature (password re-entered): name, date-time and meaning.

    The signed decision moves the trial: the open cohort closes and the next one
    opens at the decided level with the decided slots (or the expansion at the MTD).
    """
    today = today or timezone.localdate()
    _check_signer(by, "Escalation decisions are signed by an investigator.")
    trial = Trial.objects.select_for_update(no_key=True).get(pk=decision.trial_id)
    decision = EscalationDecision.objects.select_for_update(no_key=True).get(pk=decision.pk)
    errors = password_errors(by, password)
    if errors:
        raise ValidationError(errors)
    if EscalationDecision.Status.SIGNED not in EscalationDecision.MOVES.allowed(decision.status):
        raise ValidationError({"__all__": [f"This decision is {decision.get_status_display().lower()}: only the current proposal can be signed."]})
    if decision.action in NOT_SIGNED:
        raise ValidationError({"__all__": ["The engine is waiting for pending patients: there is nothing to sign yet."]})
    latest = escalation_state(trial, today=today)
    if state_digest(latest) != decision.inputs_digest:
        raise ValidationError({"__all__": ["The data changed since this proposal: review the new proposal."]})
    now = timezone.now()
    meaning = sign_meaning(decision)
    reason = f"Signed by {signer_name(by)}: {decision.action}"
    changes = {"signed_by": by, "signed_at": now, "signature_meaning": meaning}
    move(decision, EscalationDecision.Status.SIGNED, machine=EscalationDecision.MOVES, by=by, reason=reason, save=False, **changes)
    audited_save(decision, by=by, reason=reason)
    sign(record=decision, by=by, meaning=meaning, at=now, content=_signed_content(decision))
    _apply(trial, decision, by=by, today=today)
    return decision


def _apply(trial: Trial, decision: EscalationDecision, *, by: User, today: date) -> None:
    for cohort in Cohort.objects.select_for_update(no_key=True).filter(trial=trial, status=Cohort.Status.OPEN):
        move(cohort, Cohort.Status.CLOSED, machine=Cohort.MOVES, by=by, reason=f"Closed by the signed decision: {decision.action}", closed_on=today)
    number = (Cohort.objects.filter(trial=trial).order_by("-number").values_list("number", flat=True).first() or 0) + 1
    if decision.action in OPENS_A_COHORT and decision.slots:
        cohort = Cohort(trial=trial, level=decision.level, number=number, phase=Cohort.Phase.ESCALATION, capacity=decision.slots, opened_on=today)
    elif decision.action == rules.Action.MTD:
        cohort = Cohort(trial=trial, level=decision.mtd, number=number, phase=Cohort.Phase.EXPANSION, capacity=trial.cap_expansion, opened_on=today)
    else:
        return
    audited_save(cohort, by=by, reason=f"Opened by the signed decision: {decision.action} at level {cohort.level.label}")


@signed
def decision_reject(*, decision: EscalationDecision, by: User, password: str, reason: str) -> EscalationDecision:
    """An investigator rejects the proposal, signed like a signature (password re-entered), with the reason."""
    _check_signer(by, "Escalation decisions are reviewed by an investigator.")
    errors = password_errors(by, password)
    if reason_missing(reason):
        errors["reason"] = ["Give the reason for rejecting the proposal."]
    if errors:
        raise ValidationError(errors)
    decision = EscalationDecision.objects.select_for_update(no_key=True).get(pk=decision.pk)
    if EscalationDecision.Status.REJECTED not in EscalationDecision.MOVES.allowed(decision.status):
        raise ValidationError({"__all__": [f"This decision is {decision.get_status_display().lower()}."]})
    reason = reason.strip()
    move(
        decision, EscalationDecision.Status.REJECTED, machine=EscalationDecision.MOVES, by=by, reason=f"Rejected: {reason}", save=False, rejection_reason=reason
    )
    audited_save(decision, by=by, reason=f"Rejected: {reason}")
    sign(record=decision, by=by, meaning=f"{REJECT_MEANING}: {reason}", content=_signed_content(decision))
    return decision


@signed
def decision_rereview(*, decision: EscalationDecision, by: User, password: str, note: str) -> EscalationDecision:
    """An investigator re-reviews a signed decision flagged after a DLT changed (signature, with the conclusion)."""
    _check_signer(by, "Escalation decisions are reviewed by an investigator.")
    decision = EscalationDecision.objects.select_for_update(no_key=True).get(pk=decision.pk)
    errors = password_errors(by, password)
    if reason_missing(note):
        errors["note"] = ["Give the conclusion of the re-review."]
    if not decision.needs_review:
        errors["__all__"] = ["This decision is not flagged for re-review."]
    if errors:
        raise ValidationError(errors)
    stamp = timezone.now().strftime("%Y-%m-%d %H:%M")
    decision.needs_review = False
    decision.review_note = f"{decision.review_note} Re-reviewed by {signer_name(by)} on {stamp}: {note.strip()}".strip()
    audited_save(decision, by=by, reason=f"Re-reviewed: {note.strip()}")
    sign(record=decision, by=by, meaning=f"{REREVIEW_MEANING}: {note.strip()}", content={**_signed_content(decision), "dlts": decision.dlts})
    return decision


def _flag_for_review(trial: Trial, state: State) -> int:
    reopened = {str(pk) for pk in Dlt.objects.filter(patient__trial=trial, proposal__status=DltProposal.Status.REOPENED).values_list("pk", flat=True)}
    flagged = 0
    for decision in EscalationDecision.objects.select_for_update(no_key=True).filter(trial=trial, status=EscalationDecision.Status.SIGNED, needs_review=False):
        counted = decision.dlts
        changed = [pk for pk, text in counted.items() if state.dlt_snapshot.get(pk) != text or pk in reopened]
        if changed:
            decision.needs_review = True
            decision.review_note = f"DLT(s) {', '.join(sorted(changed))} counted by this decision changed after it was signed: re-review."
            audit(decision, by=None, reason=decision.review_note)
            decision.save()
            flagged += 1
    return flagged
