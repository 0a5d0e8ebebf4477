"""Escalation decisions: the 3+3 engine (cohorts/escalation.py) on the trial's DLT-flagged events.

Reads (escalation_state) and writes (escalation_propose, decision_sign,
decision_reject, decisions_flag_for_review) for the investigators' review. The
engine reads, per escalation-phase patient: a confirmed DLT (toxicity.Dlt, not
withdrawn) -> DLT; a DLT proposal awaiting adjudication -> pending; otherwise the
patient's DLT window without a DLT (toxicity.dlt.evaluability): evaluable ->
no DLT, pending until a date, not evaluable -> replaced.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import Perm
from toxicity import dlt as dlt_rules
from toxicity.models import Dlt, DltProposal
from toxicity.selectors import OPEN_PROPOSALS, dlt_windows
from trialsite.audit import audit, audited_save, reason_missing

from . import escalation
from .models import Cohort, DoseLevel, Enrolment, EscalationDecision, Trial
from .selectors import open_cohort

ADJUDICATED = (DltProposal.Status.CONFIRMED, DltProposal.Status.REJECTED)
OPENS_A_COHORT = (escalation.Action.ENROL, escalation.Action.ESCALATE, escalation.Action.EXPAND, escalation.Action.DE_ESCALATE)


@dataclass(frozen=True)
class PatientRow:
    study_id: str
    level: str
    outcome: escalation.Outcome
    why: str
    until: date | None
    dlts: tuple[Dlt, ...]
    window_end: date | None
    days_left: int | None


@dataclass(frozen=True)
class State:
    trial: Trial
    ladder: escalation.Ladder
    decision: escalation.Decision
    patients: tuple[PatientRow, ...]
    current: str | None
    dlt_snapshot: dict[str, str]

    def by_level(self) -> list[tuple[DoseLevel | str, list[PatientRow]]]:
        return [(label, [p for p in self.patients if p.level == label]) for label in reversed(self.ladder.labels)]


def ladder_for(trial: Trial) -> escalation.Ladder:
    labels = tuple(str(label) for label in DoseLevel.objects.filter(trial=trial).order_by("order").values_list("label", flat=True))
    start = str(trial.starting_level.label) if trial.starting_level_id else labels[0]
    return escalation.Ladder(
        labels=labels, start=start, cohort_size=trial.cohort_size, expanded_size=trial.cohort_max_size, escalation_cap=trial.cap_escalation
    )


def _outcome(patient_id: int, dlts, proposals: list[DltProposal], window, today) -> tuple[escalation.Outcome, str, date | None]:
    """A patient's outcome for the engine. `proposals`: the patient's stored proposals, whatever their status."""
    open_proposals = [p for p in proposals if p.status in OPEN_PROPOSALS]
    if dlts:
        first = min(dlts, key=lambda d: d.onset)
        return escalation.Outcome.DLT, f"DLT {first.rule} from {first.onset.isoformat()}", None
    if open_proposals:
        return escalation.Outcome.PENDING, f"DLT proposal {open_proposals[0].rule} awaits adjudication", None
    if window is None:
        return escalation.Outcome.PENDING, "cycle 1 not started", None
    a = dlt_rules.assess(window, today=today)
    e = dlt_rules.evaluability(window, [], today=today, pending_rules=list(a.pending_rules))
    outcome = {
        dlt_rules.Status.EVALUABLE: escalation.Outcome.NO_DLT,
        dlt_rules.Status.PENDING: escalation.Outcome.PENDING,
        dlt_rules.Status.NOT_EVALUABLE: escalation.Outcome.NOT_EVALUABLE,
    }[e.status]
    # A proposal the rules make that is not stored yet (the evaluation is queued) or not adjudicated keeps the patient
    # pending; one an investigator has confirmed (its DLT counted above, or withdrawn) or rejected does not.
    adjudicated = {p.key for p in proposals if p.status in ADJUDICATED}
    if outcome == escalation.Outcome.NO_DLT and any(p.key not in adjudicated for p in a.proposals):
        return escalation.Outcome.PENDING, "the rules propose a DLT not yet adjudicated", None
    return outcome, e.reason, e.until


def escalation_state(trial: Trial, *, today: date | None = None) -> State:
    """The engine's inputs and answer for the trial now (a bounded number of queries)."""
    today = today or timezone.localdate()
    ladder = ladder_for(trial)
    enrolments = list(
        Enrolment.objects.filter(cohort__trial=trial, cohort__phase=Cohort.Phase.ESCALATION).select_related("patient", "level").order_by("enrolled_on", "pk")
    )
    ids = [e.patient_id for e in enrolments]
    dlts: dict[int, list[Dlt]] = {}
    for d in Dlt.objects.filter(patient_id__in=ids, withdrawn_at__isnull=True).select_related("proposal").order_by("onset", "pk"):
        dlts.setdefault(d.patient_id, []).append(d)
    proposals: dict[int, list[DltProposal]] = {}
    for p in DltProposal.objects.filter(patient_id__in=ids).order_by("onset"):
        proposals.setdefault(p.patient_id, []).append(p)
    windows = dlt_windows(ids)
    rows, patients = [], {}
    for e in enrolments:
        window = windows.get(e.patient_id)
        outcome, why, until = _outcome(e.patient_id, dlts.get(e.patient_id, []), proposals.get(e.patient_id, []), window, today)
        label = str(e.level.label)
        end = window.window_end if window else None
        rows.append(
            PatientRow(
                e.patient.study_id, label, outcome, why, until, tuple(dlts.get(e.patient_id, [])), end, (end - today).days if end and end >= today else None
            )
        )
        patients.setdefault(label, []).append(escalation.Patient(outcome, e.patient.study_id, until))
    open_cohort = Cohort.objects.filter(trial=trial, status=Cohort.Status.OPEN).select_related("level").first()
    last_signed = EscalationDecision.objects.filter(trial=trial, status=EscalationDecision.Status.SIGNED).select_related("level").first()
    current = str(open_cohort.level.label) if open_cohort else (str(last_signed.level.label) if last_signed and last_signed.level else None)
    decision = escalation.decide(ladder, patients, current=current)
    snapshot = {str(d.pk): f"{d.rule} {d.onset.isoformat()}" for ds in dlts.values() for d in ds}
    return State(trial, ladder, decision, tuple(rows), current, snapshot)


def path_marks(state: State) -> list:
    """One mark per cohort of the trial, with its patients' outcomes as the engine sees them."""
    from .pathplot import CohortMark

    outcome = {p.study_id: p.outcome for p in state.patients}
    by_cohort: dict[int, tuple[Cohort, list[str]]] = {}
    enrolments = Enrolment.objects.filter(cohort__trial=state.trial).select_related("cohort__level", "patient").order_by("cohort__number", "pk")
    for e in enrolments:  # one query; a cohort without patients has no mark
        by_cohort.setdefault(e.cohort_id, (e.cohort, []))[1].append(e.patient.study_id)
    marks = []
    for c, ids in by_cohort.values():
        dlts = sum(outcome.get(i) == escalation.Outcome.DLT for i in ids)
        pending = sum(outcome.get(i) == escalation.Outcome.PENDING for i in ids)
        marks.append(CohortMark(c.number, str(c.level.label), len(ids), dlts, pending, c.phase))
    return marks


def _tally_json(state: State) -> list[dict]:
    return [
        {
            "level": label,
            "patients": [
                {
                    "study_id": p.study_id,
                    "outcome": p.outcome.value,
                    "why": p.why,
                    "until": p.until.isoformat() if p.until else None,
                    "dlts": [d.pk for d in p.dlts],
                }
                for p in rows
            ],
        }
        for label, rows in state.by_level()
        if rows
    ]


def _digest(state: State) -> str:
    d = state.decision
    return hashlib.sha256(
        repr((d.action, d.level, d.mtd, d.rule, d.reason, d.slots, _tally_json(state), sorted(state.dlt_snapshot.items()))).encode()
    ).hexdigest()


def covered_by_open_cohort(trial: Trial, d: escalation.Decision) -> bool:
    """The engine asks for patients where the open cohort (opened by a signed decision) still has the slots: nothing to sign."""
    cohort = open_cohort(trial)
    if cohort is None or cohort.phase != Cohort.Phase.ESCALATION or d.action not in OPENS_A_COHORT or str(cohort.level.label) != d.level:
        return False
    return cohort.capacity - cohort.taken >= d.slots


@transaction.atomic
def escalation_reevaluate(*, trial: Trial, today: date | None = None) -> tuple[EscalationDecision | None, int]:
    """What cohorts.propose_escalation does, on one computation of the state under the trial's lock: flag the
    signed decisions whose counted DLTs changed, and store the engine's proposal. Returns (proposal, flagged)."""
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    state = escalation_state(trial, today=today)
    flagged = _flag_for_review(trial, state)
    return _propose(trial, state), flagged


@transaction.atomic
def escalation_propose(*, trial: Trial, today: date | None = None) -> EscalationDecision | None:
    """Re-evaluate the trial and store the engine's proposal with the tally it saw (idempotent).

    Returns the proposal awaiting signature, or None when the open cohort already
    carries out what the engine asks (a signed decision is being followed).
    """
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    return _propose(trial, escalation_state(trial, today=today))


def _propose(trial: Trial, state: State) -> EscalationDecision | None:
    digest = _digest(state)
    current = EscalationDecision.objects.select_for_update().filter(trial=trial, status=EscalationDecision.Status.PROPOSED).first()
    if current is not None and current.inputs_digest == digest:
        return current
    if current is not None:
        current.status = EscalationDecision.Status.SUPERSEDED
        audit(current, by=None, reason="Superseded: the data behind it changed")
        current.save()
    d = state.decision
    if covered_by_open_cohort(trial, d):
        return None
    levels = {str(lv.label): lv for lv in DoseLevel.objects.filter(trial=trial)}
    decision = EscalationDecision(
        trial=trial,
        action=d.action.value,
        level=levels.get(d.level) if d.level else None,
        mtd=levels.get(d.mtd) if d.mtd else None,
        rule=d.rule,
        reason=d.reason,
        slots=d.slots,
        tally=_tally_json(state),
        dlts=state.dlt_snapshot,
        inputs_digest=digest,
        proposed_at=timezone.now(),
    )
    audit(decision, by=None, reason=f"Proposed by the 3+3 engine ({d.rule})")
    decision.save()
    return decision


def _check_signer(by: User, refusal: str) -> None:
    if not by.can(Perm.SIGN):
        raise PermissionDenied(refusal)


def _signature_errors(by: User, password: str) -> dict[str, list[str]]:
    """An electronic signature re-enters the signer's own password (21 CFR 11.200)."""
    if password and by.check_password(password):
        return {}
    return {"password": ["The password is not correct: the signature needs your own password."]}


@transaction.atomic
def decision_sign(*, decision: EscalationDecision, by: User, password: str, today: date | None = None) -> EscalationDecision:
    """An investigator's electronic signature (password re-entered): name, date-time and meaning.

    The signed decision moves the trial: the open cohort closes and the next one
    opens at the decided level with the decided slots (or the expansion at the MTD).
    """
    today = today or timezone.localdate()
    _check_signer(by, "Escalation decisions are signed by an investigator.")
    trial = Trial.objects.select_for_update().get(pk=decision.trial_id)
    decision = EscalationDecision.objects.select_for_update().get(pk=decision.pk)
    errors = _signature_errors(by, password)
    if errors:
        raise ValidationError(errors)
    if decision.status != EscalationDecision.Status.PROPOSED:
        raise ValidationError({"__all__": [f"This decision is {decision.get_status_display().lower()}: only the current proposal can be signed."]})
    if decision.action == escalation.Action.WAIT:
        raise ValidationError({"__all__": ["The engine is waiting for pending patients: there is nothing to sign yet."]})
    latest = escalation_state(trial, today=today)
    if _digest(latest) != decision.inputs_digest:
        raise ValidationError({"__all__": ["The data changed since this proposal: review the new proposal."]})
    now = timezone.now()
    meaning = f"I approve: {decision.reason}"[:300]
    decision.status = EscalationDecision.Status.SIGNED
    decision.signed_by, decision.signed_at, decision.signature_meaning = by, now, meaning
    audited_save(decision, by=by, reason=f"Signed by {by.get_full_name() or by.username}: {decision.action}")
    _apply(trial, decision, by=by, today=today)
    return decision


def _apply(trial: Trial, decision: EscalationDecision, *, by: User, today: date) -> None:
    for cohort in Cohort.objects.select_for_update().filter(trial=trial, status=Cohort.Status.OPEN):
        cohort.status, cohort.closed_on = Cohort.Status.CLOSED, today
        audit(cohort, by=by, reason=f"Closed by the signed decision: {decision.action}")
        cohort.save()
    number = (Cohort.objects.filter(trial=trial).order_by("-number").values_list("number", flat=True).first() or 0) + 1
    if decision.action in OPENS_A_COHORT and decision.slots:
        cohort = Cohort(trial=trial, level=decision.level, number=number, phase=Cohort.Phase.ESCALATION, capacity=decision.slots, opened_on=today)
    elif decision.action == escalation.Action.MTD:
        cohort = Cohort(trial=trial, level=decision.mtd, number=number, phase=Cohort.Phase.EXPANSION, capacity=trial.cap_expansion, opened_on=today)
    else:
        return
    audited_save(cohort, by=by, reason=f"Opened by the signed decision: {decision.action} at level {cohort.level.label}")


@transaction.atomic
def decision_reject(*, decision: EscalationDecision, by: User, password: str, reason: str) -> EscalationDecision:
    """An investigator rejects the proposal, signed like a signature (password re-entered), with the reason."""
    _check_signer(by, "Escalation decisions are reviewed by an investigator.")
    errors = _signature_errors(by, password)
    if reason_missing(reason):
        errors["reason"] = ["Give the reason for rejecting the proposal."]
    if errors:
        raise ValidationError(errors)
    decision = EscalationDecision.objects.select_for_update().get(pk=decision.pk)
    if decision.status != EscalationDecision.Status.PROPOSED:
        raise ValidationError({"__all__": [f"This decision is {decision.get_status_display().lower()}."]})
    decision.status, decision.rejection_reason = EscalationDecision.Status.REJECTED, reason.strip()
    audited_save(decision, by=by, reason=f"Rejected: {reason.strip()}")
    return decision


@transaction.atomic
def decision_rereview(*, decision: EscalationDecision, by: User, password: str, note: str) -> EscalationDecision:
    """An investigator re-reviews a signed decision flagged after a DLT changed (signature, with the conclusion)."""
    _check_signer(by, "Escalation decisions are reviewed by an investigator.")
    decision = EscalationDecision.objects.select_for_update().get(pk=decision.pk)
    errors = _signature_errors(by, password)
    if reason_missing(note):
        errors["note"] = ["Give the conclusion of the re-review."]
    if not decision.needs_review:
        errors["__all__"] = ["This decision is not flagged for re-review."]
    if errors:
        raise ValidationError(errors)
    stamp = timezone.now().strftime("%Y-%m-%d %H:%M")
    decision.needs_review = False
    decision.review_note = f"{decision.review_note} Re-reviewed by {by.get_full_name() or by.username} on {stamp}: {note.strip()}".strip()
    audited_save(decision, by=by, reason=f"Re-reviewed: {note.strip()}")
    return decision


@transaction.atomic
def decisions_flag_for_review(*, trial: Trial) -> int:
    """Mark signed decisions whose counted DLTs changed since (confirmed, withdrawn, reopened, added)."""
    return _flag_for_review(trial, escalation_state(trial))


def _flag_for_review(trial: Trial, state: State) -> int:
    reopened = {str(pk) for pk in Dlt.objects.filter(patient__trial=trial, proposal__status=DltProposal.Status.REOPENED).values_list("pk", flat=True)}
    flagged = 0
    for decision in EscalationDecision.objects.select_for_update().filter(trial=trial, status=EscalationDecision.Status.SIGNED, needs_review=False):
        counted = decision.dlts
        changed = [pk for pk, text in counted.items() if state.dlt_snapshot.get(pk) != text or pk in reopened]
        if changed:
            decision.needs_review = True
            decision.review_note = f"DLT(s) {', '.join(sorted(changed))} counted by this decision changed after it was signed: re-review."
            audit(decision, by=None, reason=decision.review_note)
            decision.save()
            flagged += 1
    return flagged
