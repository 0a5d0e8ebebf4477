"""The investigators' adjudication: confirm, reject, record a DLT the rules missed, withdraw it; and the
reopening of adjudicated proposals when the data behind them change."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.models import User
from accounts.roles import Perm
from cohorts.models import Patient
from trialsite.audit import audited_save, reason_missing
from trialsite.outbox import Kind, record_change
from trialsite.signatures import password_errors, sign, signed
from trialsite.states import move

from .. import dlt, selectors
from ..models import Dlt, DltProposal
from ._common import _add, _raise

# What each adjudication signature means (shown on the form before signing and in the history).
WITHDRAW_MEANING = "I withdraw this dose-limiting toxicity: it no longer counts for the escalation"


def confirm_meaning(rule: str) -> str:
    return f"I confirm this toxicity is a dose-limiting toxicity (criterion {rule})"


def reject_meaning(rule: str) -> str:
    return f"I confirm this toxicity is not a dose-limiting toxicity (criterion {rule} proposed by the rules)"


def missed_meaning(rule: str, *, supported: bool = True) -> str:
    meaning = f"I record this toxicity as a dose-limiting toxicity the rules did not propose (criterion {rule})"
    return meaning if supported else f"{meaning}, although the data the rules read do not meet it"


def unsupported_message(rule: str) -> str:
    return f'The data do not meet criterion {rule}: tick "record it anyway" to record it with your reason.'


def _signed_content(row: Dlt) -> dict:
    return {"patient": row.patient_id, "rule": row.rule, "onset": row.onset, "sentence": row.sentence, "evidence": row.evidence, "reason": row.reason}


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


@signed
def dlt_confirm(*, proposal: DltProposal, by: User, password: str, reason: str = "") -> Dlt:
    """An investigator confirms a proposed (or reopened) DLT: the DLT-flagged event the escalation engine reads.
    Signed (password re-entered) with the meaning CONFIRM_MEANING."""
    _check_adjudicator(by)
    patient = Patient.objects.select_for_update(no_key=True).get(pk=proposal.patient_id)
    proposal = DltProposal.objects.select_for_update(no_key=True).get(pk=proposal.pk)
    _check_open(proposal, DltProposal.Status.CONFIRMED, "confirm")
    errors = password_errors(by, password)
    if not proposal.attribution_recorded and reason_missing(reason):
        errors["reason"] = ["No adverse event records the attribution of these values: give the reason you judge them related."]
    _raise(errors)
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
    sign(record=dlt_row, by=by, meaning=confirm_meaning(proposal.rule), at=now, content=_signed_content(dlt_row))
    record_change(patient, Kind.ADJUDICATION)
    return dlt_row


@signed
def dlt_reject(*, proposal: DltProposal, by: User, password: str, reason: str) -> DltProposal:
    """An investigator rejects a proposal with the reason; a DLT confirmed on it before is withdrawn. Signed."""
    _check_adjudicator(by)
    errors = password_errors(by, password)
    if reason_missing(reason):
        errors["reason"] = ["Give the reason this is not a DLT."]
    _raise(errors)
    patient = Patient.objects.select_for_update(no_key=True).get(pk=proposal.patient_id)
    proposal = DltProposal.objects.select_for_update(no_key=True).get(pk=proposal.pk)
    _check_open(proposal, DltProposal.Status.REJECTED, "reject")
    now = timezone.now()
    existing = Dlt.objects.select_for_update(no_key=True).filter(proposal=proposal, withdrawn_at__isnull=True).first()
    if existing is not None:
        existing.withdrawn_at, existing.withdrawn_reason = now, reason.strip()
        audited_save(existing, by=by, reason=f"Withdrawn on review: {reason.strip()}")
    _adjudicate(proposal, DltProposal.Status.REJECTED, by=by, now=now, note=reason.strip(), reason=f"Rejected: {reason.strip()}")
    content = {"rule": proposal.rule, "onset": proposal.onset, "sentence": proposal.sentence, "evidence": proposal.evidence, "reason": reason.strip()}
    sign(record=proposal, by=by, meaning=reject_meaning(proposal.rule), at=now, content=content)
    record_change(patient, Kind.ADJUDICATION)
    return proposal


@signed
def dlt_record_missed(
    *,
    patient: Patient,
    by: User,
    password: str,
    rule: str,
    onset: date,
    description: str,
    reason: str,
    confirm_unsupported: bool = False,
    today: date | None = None,
) -> Dlt:
    """A DLT the rules did not propose, recorded by an investigator with the reason. Signed.

    The evidence the rules see for the criterion in the window (toxicity.dlt.criterion_evidence) is stored
    with it; when the data do not meet the criterion, recording it needs `confirm_unsupported`."""
    _check_adjudicator(by)
    today = today or timezone.localdate()
    patient = Patient.objects.select_for_update(no_key=True).get(pk=patient.pk)
    errors: dict[str, list[str]] = password_errors(by, password)
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
    seen = dlt.criterion_evidence(window, rule, today=today) if window is not None and rule in dlt.RULE_TITLES else None
    if seen is not None and not seen.supported and not confirm_unsupported:
        _add(errors, "confirm_unsupported", unsupported_message(rule))
    _raise(errors)
    if seen is None:  # no window or no known rule: errors were raised above
        raise ValidationError({"__all__": ["There is no DLT window for this criterion."]})
    row = Dlt(
        patient=patient,
        rule=rule,
        onset=onset,
        sentence=description.strip(),
        evidence=[{"what": e.what, "on": e.on.isoformat(), "value": e.value, "ref": e.ref} for e in seen.evidence],
        reason=reason.strip(),
        confirmed_by=by,
        confirmed_at=timezone.now(),
    )
    audited_save(row, by=by, reason=f"DLT recorded by the investigator (not proposed by the rules): {reason.strip()}")
    sign(record=row, by=by, meaning=missed_meaning(rule, supported=seen.supported), at=row.confirmed_at, content=_signed_content(row))
    record_change(patient, Kind.ADJUDICATION)
    return row


@signed
def dlt_withdraw(*, dlt_row: Dlt, by: User, password: str, reason: str) -> Dlt:
    """Withdraw a DLT recorded by an investigator (a proposed one is withdrawn by rejecting its proposal). Signed."""
    _check_adjudicator(by)
    errors = password_errors(by, password)
    if reason_missing(reason):
        errors["reason"] = ["Give the reason the DLT is withdrawn."]
    _raise(errors)
    dlt_row = Dlt.objects.select_for_update(no_key=True).select_related("patient").get(pk=dlt_row.pk)
    if dlt_row.proposal_id is not None:
        raise ValidationError({"__all__": ["This DLT came from a proposal: reject the reopened proposal instead."]})
    if dlt_row.withdrawn_at is not None:
        raise ValidationError({"__all__": ["This DLT is already withdrawn."]})
    dlt_row.withdrawn_at, dlt_row.withdrawn_reason = timezone.now(), reason.strip()
    audited_save(dlt_row, by=by, reason=f"Withdrawn: {reason.strip()}")
    sign(record=dlt_row, by=by, meaning=WITHDRAW_MEANING, at=dlt_row.withdrawn_at, content={**_signed_content(dlt_row), "withdrawn": reason.strip()})
    record_change(dlt_row.patient, Kind.ADJUDICATION)
    return dlt_row
