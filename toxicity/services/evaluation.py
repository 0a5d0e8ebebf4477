"""The DLT evaluation: run the rules for many patients and sync what they say into proposals and evaluations."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from cohorts.models import Patient
from trialsite.audit import audit
from trialsite.states import move

from .. import dlt, selectors
from ..models import DltEvaluation, DltProposal


def _evidence(p: dlt.Proposal) -> list[dict]:
    return [{"what": e.what, "on": e.on.isoformat(), "value": e.value, "ref": e.ref} for e in p.evidence]


def _digest(a: dlt.Assessment) -> str:
    """Fingerprint of an assessment: the repr of frozen dataclasses of dates, Decimals and strings is exact and stable."""
    return hashlib.sha256(repr(a).encode()).hexdigest()


PROPOSAL_FIELDS = ["rule", "onset", "sentence", "evidence", "event_ids", "attribution_recorded", "status", "proposed_at", "review_note"]
EVALUATION_FIELDS = [
    "status",
    "reason",
    "until",
    "window_status",
    "window_reason",
    "window_until",
    "window_end",
    "evaluated_on",
    "evaluated_at",
    "inputs_digest",
    "rule_version",
]


@dataclass
class _Writes:
    """One chunk's writes, flushed in bulk (each row keeps its own reason in the history)."""

    new_proposals: list[DltProposal] = field(default_factory=list)
    changed_proposals: list[DltProposal] = field(default_factory=list)
    new_evaluations: list[DltEvaluation] = field(default_factory=list)
    changed_evaluations: list[DltEvaluation] = field(default_factory=list)

    def flush(self) -> None:
        if self.new_proposals:
            bulk_create_with_history(self.new_proposals, DltProposal, default_change_reason="Proposed by the DLT rules")
        if self.changed_proposals:
            bulk_update_with_history(self.changed_proposals, DltProposal, PROPOSAL_FIELDS, default_change_reason="DLT rules re-evaluated")
        if self.new_evaluations:
            bulk_create_with_history(self.new_evaluations, DltEvaluation, default_change_reason="DLT rules evaluated")
        if self.changed_evaluations:
            bulk_update_with_history(self.changed_evaluations, DltEvaluation, EVALUATION_FIELDS, default_change_reason="DLT rules re-evaluated")


def _rules_move(row: DltProposal, target: str, why: str, **changes) -> None:
    """A move the rules make (no user): refused if the proposal's table does not list it; the chunk saves it in bulk with its history."""
    move(row, target, machine=DltProposal.MOVES, by=None, reason=why, save=False, **changes)


ADJUDICATED = (DltProposal.Status.CONFIRMED, DltProposal.Status.REJECTED)
GONE = "The rules no longer propose it: confirm it as a DLT the rules missed, or reject it."


def corrected_note(detail: str) -> str:
    """Why a decided proposal awaits review again after the rules themselves changed (toxicity.dlt.RULE_VERSION)."""
    return f"rules corrected (version {dlt.RULE_VERSION}): {detail}"


def _sync_proposals(patient_id: int, a: dlt.Assessment, existing: list[DltProposal], writes: _Writes, *, now, corrected: bool = False) -> None:
    """The assessment's proposals into the stored ones, by key. `corrected`: the stored evaluation was made under another
    rule version, so a decided (confirmed or rejected) proposal the new rules change or no longer make is reopened with
    "rules corrected (version N)", never silently changed; new proposals are simply proposed."""
    by_key = {p.key: p for p in existing}
    seen = set()
    for prop in a.proposals:
        seen.add(prop.key)
        fields = {
            "rule": prop.rule,
            "onset": prop.onset,
            "sentence": prop.sentence,
            "evidence": _evidence(prop),
            "event_ids": sorted(prop.event_ids),
            "attribution_recorded": prop.attribution_recorded,
        }
        row = by_key.get(prop.key)
        if row is None:
            row = DltProposal(patient_id=patient_id, key=prop.key, proposed_at=now, **fields)
            audit(row, by=None, reason=f"Proposed by rule {prop.rule}")
            writes.new_proposals.append(row)
            continue
        changed = [k for k, v in fields.items() if getattr(row, k) != v]
        if row.status == DltProposal.Status.WITHDRAWN:
            _rules_move(row, DltProposal.Status.PROPOSED, f"Proposed again by rule {prop.rule}", proposed_at=now)
        elif changed and row.status in ADJUDICATED:
            note = corrected_note(f"its {', '.join(changed)} changed.") if corrected else f"The data behind it changed ({', '.join(changed)})."
            _rules_move(row, DltProposal.Status.REOPENED, f"Reopened: {note}", review_note=note)
        elif changed:
            audit(row, by=None, reason=f"Evidence updated ({', '.join(changed)})")
        else:
            continue
        for k, v in fields.items():
            setattr(row, k, v)
        writes.changed_proposals.append(row)
    gone = corrected_note(GONE[0].lower() + GONE[1:]) if corrected else GONE
    for row in existing:
        if row.key in seen or row.status == DltProposal.Status.WITHDRAWN:
            continue
        if row.status == DltProposal.Status.REJECTED and not corrected:  # the rules agree with the investigator
            continue
        if row.status == DltProposal.Status.PROPOSED:
            _rules_move(row, DltProposal.Status.WITHDRAWN, "No longer proposed by the rules")
        elif row.review_note not in (gone, GONE):  # confirmed, rejected under other rules, or reopened for another reason
            _rules_move(row, DltProposal.Status.REOPENED, f"Reopened: {gone}", review_note=gone)
        else:
            continue
        writes.changed_proposals.append(row)


def _window_fields(w: dlt.PatientWindow, a: dlt.Assessment, *, today: date) -> dict:
    """The evaluability if no proposal counted: what the escalation engine reads once every proposal is adjudicated."""
    e = dlt.evaluability(w, [], today=today, pending_rules=list(a.pending_rules), pending_until=a.pending_until)
    return {"window_status": e.status.value, "window_reason": e.reason, "window_until": e.until, "window_end": w.window_end}


def _sync(
    patient_id: int,
    w: dlt.PatientWindow,
    a: dlt.Assessment,
    existing: list[DltProposal],
    evaluation: DltEvaluation | None,
    writes: _Writes,
    *,
    today: date,
    now,
) -> bool:
    """One patient's assessment into proposals (by key) and the evaluability. Returns whether anything changed."""
    digest = _digest(a)
    window = _window_fields(w, a, today=today)
    corrected = evaluation is not None and evaluation.rule_version != dlt.RULE_VERSION
    if evaluation is not None and not corrected and evaluation.inputs_digest == digest and all(getattr(evaluation, k) == v for k, v in window.items()):
        return False
    _sync_proposals(patient_id, a, existing, writes, now=now, corrected=corrected)
    e = a.evaluability
    new = evaluation is None
    if new:
        evaluation = DltEvaluation(patient_id=patient_id)
    evaluation.status = e.status.value
    evaluation.reason = e.reason
    evaluation.until = e.until
    for k, v in window.items():
        setattr(evaluation, k, v)
    evaluation.evaluated_on = today
    evaluation.evaluated_at = now
    evaluation.inputs_digest = digest
    evaluation.rule_version = dlt.RULE_VERSION
    audit(evaluation, by=None, reason=f"DLT rules version {dlt.RULE_VERSION}: {e.status.value}" if corrected else f"DLT rules: {e.status.value}")
    (writes.new_evaluations if new else writes.changed_evaluations).append(evaluation)
    return True


def dlt_evaluate_many(patient_ids: Iterable[int], *, today: date | None = None, chunk: int = 500) -> dict[str, int]:
    """Run the DLT rules for these patients and store what changed (idempotent: a second run writes nothing).

    Patients are read in chunks with a fixed number of queries per chunk, locked
    in id order (a nightly run and an on-commit run cannot interleave), and each
    chunk's writes go to the database in bulk, each row with its own history reason.
    """
    today = today or timezone.localdate()
    ids = sorted(set(patient_ids))
    stats = {"patients": 0, "changed": 0, "skipped": 0}
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        with transaction.atomic():
            list(Patient.objects.select_for_update(no_key=True).filter(pk__in=part).order_by("pk").values_list("pk", flat=True))
            windows = selectors.dlt_windows(part)
            proposals: dict[int, list[DltProposal]] = {}
            for p in DltProposal.objects.select_for_update(no_key=True).filter(patient_id__in=part).order_by("pk"):
                proposals.setdefault(p.patient_id, []).append(p)
            evaluations = {e.patient_id: e for e in DltEvaluation.objects.select_for_update(no_key=True).filter(patient_id__in=part)}
            now = timezone.now()
            writes = _Writes()
            for pid in part:
                window = windows.get(pid)
                if window is None:
                    stats["skipped"] += 1
                    continue
                stats["patients"] += 1
                assessment = dlt.assess(window, today=today)
                if _sync(pid, window, assessment, proposals.get(pid, []), evaluations.get(pid), writes, today=today, now=now):
                    stats["changed"] += 1
            writes.flush()
    return stats
