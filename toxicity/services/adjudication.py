"""The investigators' adjudication: confirm, reject, record a DLT the rules missed, withdraw it; and the
reopening of adjudicated proposals when the data behind them change."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import Perm
from cohorts.models import Patient
from trialsite.audit import audited_save, reason_missing
from trialsite.outbox import Kind, record_change
from trialsite.states import move

from .. import dlt, selectors
from ..models import Dlt, DltProposal
from ._common import _add, _raise


def _reopen(patient: Patient, matches, *, by: User, why: str) -> int:
    """Reopen the patient's adjudicated proposals that `matches`. The write that reopens them records its
    change, and the pipeline re-evaluates the escalation (signed decisions that counted them get flagged)."""
    adjudicated = DltProposal.objects.select_for_update(no_key=True).filter(
        patient=patient, status__in=[DltProposal.Status.CONFIRMED, DltProposal.Status.REJECTED]
    )
    n = 0
    for p in adjudicated:
        if matches(p):
            move(p, DltProposal.Status.REOPENED, machine=DltProposal.MOVES, by=by, reason=f"Reopened: {why}", review_note=why)
            n += 1
    return n


def _reopen_for_events(patient: Patient, event_ids: list[int], *, by: User, why: str) -> int:
    ids = set(event_ids)
    return _reopen(patient, lambda p: ids & set(p.event_ids), by=by, why=why)


def _reopen_for_labs(patient: Patient, on: date, *, by: User, why: str) -> int:
    ref = f"lab:{on.isoformat()}"
    return _reopen(patient, lambda p: any(e.get("ref") == ref for e in p.evidence), by=by, why=why)


def _check_adjudicator(by: User) -> None:
    if not by.can(Perm.ADJUDICATE):
        raise PermissionDenied("DLTs are adjudicated by an investigator.")


def _check_open(proposal: DltProposal, target: str, what: str) -> None:
    """A proposal is adjudicated only where its table allows (proposed or reopened), before anything is written."""
    if target not in DltProposal.MOVES.allowed(proposal.status):
        raise ValidationError({"__all__": [f"This proposal is {proposal.get_status_display().lower()}: nothing to {what}."]})


def _adjudicate(proposal: DltProposal, target: str, *, by: User, now, note: str, reason: str) -> None:
    """Move the proposal to the investigator's decision, validated and saved with who and why (as audited_save)."""
    move(
        proposal,
        target,
        machine=DltProposal.MOVES,
        by=by,
        reason=reason,
        save=False,
        adjudicated_by=by,
        adjudicated_at=now,
        adjudication_reason=note,
        review_note="",
    )
    proposal.full_clean()
    proposal.save()


@transaction.atomic
def dlt_confirm(*, proposal: DltProposal, by: User, reason: str = "") -> Dlt:
    """An investigator confirms a proposed (or reopened) DLT: the DLT-flagged event the escalation engine reads."""
    _check_adjudicator(by)
    patient = Patient.objects.select_for_update(no_key=True).get(pk=proposal.patient_id)
    proposal = DltProposal.objects.select_for_update(no_key=True).get(pk=proposal.pk)
    _check_open(proposal, DltProposal.Status.CONFIRMED, "confirm")
    if not proposal.attribution_recorded and reason_missing(reason):
        raise ValidationError({"reason": ["No adverse event records the attribution of these values: give the reason you judge them related."]})
    now = timezone.now()
    note = (reason or "").strip()
    existing = Dlt.objects.select_for_update(no_key=True).filter(proposal=proposal).first()
    dlt_row = existing or Dlt(patient_id=proposal.patient_id, proposal=proposal)
    dlt_row.rule, dlt_row.onset, dlt_row.sentence = proposal.rule, proposal.onset, proposal.sentence
    dlt_row.evidence = proposal.evidence
    dlt_row.reason = note
    dlt_row.confirmed_by, dlt_row.confirmed_at = by, now
    dlt_row.withdrawn_at, dlt_row.withdrawn_reason = None, ""
    audited_save(dlt_row, by=by, reason=f"DLT {proposal.rule} confirmed" + (" again after review" if existing else "") + (f": {note}" if note else ""))
    _adjudicate(proposal, DltProposal.Status.CONFIRMED, by=by, now=now, note=note, reason="Confirmed" + (f": {note}" if note else ""))
    record_change(patient, Kind.ADJUDICATION)
    return dlt_row


@transaction.atomic
def dlt_reject(*, proposal: DltProposal, by: User, reason: str) -> DltProposal:
    """An investigator rejects a proposal with the reason; a DLT confirmed on it before is withdrawn."""
    _check_adjudicator(by)
    if reason_missing(reason):
        raise ValidationError({"reason": ["Give the reason this is not a DLT."]})
    patient = Patient.objects.select_for_update(no_key=True).get(pk=proposal.patient_id)
    proposal = DltProposal.objects.select_for_update(no_key=True).get(pk=proposal.pk)
    _check_open(proposal, DltProposal.Status.REJECTED, "reject")
    now = timezone.now()
    existing = Dlt.objects.select_for_update(no_key=True).filter(proposal=proposal, withdrawn_at__isnull=True).first()
    if existing is not None:
        existing.withdrawn_at, existing.withdrawn_reason = now, reason.strip()
        audited_save(existing, by=by, reason=f"Withdrawn on review: {reason.strip()}")
    _adjudicate(proposal, DltProposal.Status.REJECTED, by=by, now=now, note=reason.strip(), reason=f"Rejected: {reason.strip()}")
    record_change(patient, Kind.ADJUDICATION)
    return proposal


@transaction.atomic
def dlt_record_missed(*, patient: Patient, by: User, rule: str, onset: date, description: str, reason: str, today: date | None = None) -> Dlt:
    """A DLT the rules did not propose, recorded by an investigator with the reason."""
    _check_adjudicator(by)
    today = today or timezone.localdate()
    patient = Patient.objects.select_for_update(no_key=True).get(pk=patient.pk)
    errors: dict[str, list[str]] = {}
    if rule not in dlt.RULE_TITLES:
        _add(errors, "rule", f"Choose the protocol criterion ({', '.join(dlt.RULE_TITLES)}).")
    window = selectors.dlt_windows([patient.pk]).get(patient.pk)
    if window is None:
        _add(errors, "__all__", f"{patient.study_id} has not started cycle 1: there is no DLT window yet.")
    elif onset is None or not window.in_window(onset):
        _add(errors, "onset", f"A DLT has its onset in cycle 1 ({window.cycle1_day1.isoformat()} to {window.window_end.isoformat()}).")
    if onset is not None and onset > today:
        _add(errors, "onset", "The onset cannot be in the future.")
    if reason_missing(description):
        _add(errors, "description", "Describe the toxicity.")
    if reason_missing(reason):
        _add(errors, "reason", "Give the reason the rules missed it.")
    _raise(errors)
    row = Dlt(
        patient=patient,
        rule=rule,
        onset=onset,
        sentence=description.strip(),
        evidence=[],
        reason=reason.strip(),
        confirmed_by=by,
        confirmed_at=timezone.now(),
    )
    audited_save(row, by=by, reason=f"DLT recorded by the investigator (not proposed by the rules): {reason.strip()}")
    record_change(patient, Kind.ADJUDICATION)
    return row


@transaction.atomic
def dlt_withdraw(*, dlt_row: Dlt, by: User, reason: str) -> Dlt:
    """Withdraw a DLT recorded by an investigator (a proposed one is withdrawn by rejecting its proposal)."""
    _check_adjudicator(by)
    if reason_missing(reason):
        raise ValidationError({"reason": ["Give the reason the DLT is withdrawn."]})
    dlt_row = Dlt.objects.select_for_update(no_key=True).select_related("patient").get(pk=dlt_row.pk)
    if dlt_row.proposal_id is not None:
        raise ValidationError({"__all__": ["This DLT came from a proposal: reject the reopened proposal instead."]})
    if dlt_row.withdrawn_at is not None:
        raise ValidationError({"__all__": ["This DLT is already withdrawn."]})
    dlt_row.withdrawn_at, dlt_row.withdrawn_reason = timezone.now(), reason.strip()
    audited_save(dlt_row, by=by, reason=f"Withdrawn: {reason.strip()}")
    record_change(dlt_row.patient, Kind.ADJUDICATION)
    return dlt_row
