"""Writes for toxicity: adverse events, lab panels, DLT evaluation and the investigators' adjudication.

Every service is keyword-only and atomic, locks the patient row first, validates
everything before writing, and records who and why. A write that changes what
the DLT rules read queues the patient's re-evaluation once the transaction has
committed (the outbox: trialsite.outbox.record_change; the pipeline runs the rules).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.models import User
from accounts.roles import Perm
from cohorts.models import Drug, Patient
from cohorts.services import patient_lock as _lock_patient
from dosing.services import check_unlocked
from trialsite.audit import audit, audited_save, reason_missing
from trialsite.outbox import Kind, record_change
from trialsite.units import to_stored_places

from . import ctcae, dlt, selectors
from .models import SAE_CRITERIA, AdverseEvent, Dlt, DltEvaluation, DltProposal, LabResult

ATTRIBUTION_LEVELS = dlt.ATTRIBUTIONS
SUPPORTIVE = {s.value for s in dlt.Supportive}

# Counts are stored in x10^9/L. "/uL" is cells per microlitre: 1,500 /uL = 1.5 x10^9/L.
COUNT_UNITS = {"10^9/L": Decimal(1), "10^3/uL": Decimal(1), "/uL": Decimal("0.001")}
HB_UNITS = {"g/dL": Decimal(1), "g/L": Decimal("0.1")}
# Above these a value in x10^9/L is not plausible: it was almost certainly entered per microlitre.
PLAUSIBLE_MAX = {"anc": Decimal(100), "wbc": Decimal(500), "platelets": Decimal(2000)}
LAB_PLACES = {"anc": Decimal("0.01"), "wbc": Decimal("0.01"), "platelets": Decimal("0.1"), "hemoglobin": Decimal("0.1"), "temperature": Decimal("0.1")}
LAB_LABELS = {"anc": "ANC", "platelets": "Platelets", "hemoglobin": "Hemoglobin", "wbc": "WBC", "temperature": "Temperature"}


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def _add(errors: dict[str, list[str]], field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


# ---------------------------------------------------------------- adverse events

AE_FIELDS = (
    "term",
    "grade",
    "onset",
    "resolved",
    "serious",
    "sae_criteria",
    "attribution",
    "progression",
    "action",
    "outcome",
    "supportive",
    "with_pain",
    "notes",
)


def _check_ae(patient: Patient, values: dict, *, today: date, drugs: list[str]) -> dict[str, list[str]]:
    """Every problem with one adverse event's values, at once."""
    errors: dict[str, list[str]] = {}
    term, grade = values.get("term"), values.get("grade")
    try:
        ctcae.term(term)
    except ctcae.CtcaeError:
        _add(errors, "term", f"Unknown CTCAE v5.0 term {term!r}: choose one from the list.")
    else:
        try:
            ctcae.check_grade(term, grade)
        except ctcae.CtcaeError as exc:
            _add(errors, "grade", str(exc))
    onset, resolved = values.get("onset"), values.get("resolved")
    if onset is None:
        _add(errors, "onset", "Give the date of onset.")
    else:
        if onset > today:
            _add(errors, "onset", "The onset cannot be in the future.")
        if patient.consent_date is not None and onset < patient.consent_date:
            _add(
                errors,
                "onset",
                f"The onset is before consent ({patient.consent_date.isoformat()}): an event before consent is medical history, not an adverse event.",
            )
    if resolved is not None:
        if onset is not None and resolved < onset:
            _add(errors, "resolved", f"The resolution ({resolved.isoformat()}) cannot be before the onset ({onset.isoformat()}).")
        if resolved > today:
            _add(errors, "resolved", "The resolution cannot be in the future.")
    errors.update(_check_ae_details(values, drugs))
    return errors


def _check_ae_details(values: dict, drugs: list[str]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    grade, resolved = values.get("grade"), values.get("resolved")
    criteria = list(values.get("sae_criteria") or [])
    unknown = [c for c in criteria if c not in SAE_CRITERIA]
    if unknown:
        _add(errors, "sae_criteria", f"Unknown SAE criteria: {', '.join(map(str, unknown))}.")
    if values.get("serious") and not criteria:
        _add(errors, "sae_criteria", "A serious adverse event needs at least one seriousness criterion.")
    if not values.get("serious") and criteria:
        _add(errors, "serious", "Seriousness criteria are given: tick serious, or clear them.")
    attribution = values.get("attribution") or {}
    missing = [d for d in drugs if d not in attribution]
    if missing:
        _add(errors, "attribution", f"Give the attribution to each study drug (missing: {', '.join(missing)}).")
    for drug, level in attribution.items():
        if drug not in drugs:
            _add(errors, "attribution", f"{drug!r} is not a drug of this trial.")
        elif level not in ATTRIBUTION_LEVELS:
            _add(errors, "attribution", f"Attribution to {drug} must be one of {', '.join(ATTRIBUTION_LEVELS)}.")
    bad = [s for s in values.get("supportive") or [] if s not in SUPPORTIVE]
    if bad:
        _add(errors, "supportive", f"Unknown supportive care: {', '.join(map(str, bad))}.")
    if grade == 5 and values.get("outcome") != AdverseEvent.Outcome.FATAL:
        _add(errors, "outcome", "A grade 5 event is fatal: set the outcome to fatal.")
    if values.get("outcome") == AdverseEvent.Outcome.FATAL and grade != 5:
        _add(errors, "grade", "A fatal outcome is grade 5.")
    if values.get("outcome") in (AdverseEvent.Outcome.RECOVERED, AdverseEvent.Outcome.SEQUELAE) and resolved is None:
        _add(errors, "resolved", "A recovered event needs its date of resolution.")
    return errors


def _trial_drugs(patient: Patient) -> list[str]:
    return list(Drug.objects.filter(trial=patient.trial).order_by("order").values_list("code", flat=True))


def _normalise_ae(values: dict) -> dict:
    out = dict(values)
    if "sae_criteria" in out:
        out["sae_criteria"] = sorted(set(out["sae_criteria"] or []))
    if "supportive" in out:
        out["supportive"] = sorted(set(out["supportive"] or []))
    if "attribution" in out:
        out["attribution"] = dict(sorted((out["attribution"] or {}).items()))
    if "notes" in out:
        out["notes"] = (out["notes"] or "").strip()
    return out


@transaction.atomic
def ae_record(
    *,
    patient: Patient,
    by: User,
    term: str,
    grade: int,
    onset: date,
    attribution: dict[str, str],
    resolved: date | None = None,
    serious: bool = False,
    sae_criteria: Iterable[str] = (),
    progression: bool = False,
    action: str = AdverseEvent.Action.NONE,
    outcome: str = AdverseEvent.Outcome.NOT_RECOVERED,
    supportive: Iterable[str] = (),
    with_pain: bool = False,
    notes: str = "",
    continues: AdverseEvent | None = None,
    today: date | None = None,
) -> AdverseEvent:
    """Record an adverse event episode (protocol s.3).

    `continues` is the event's previous episode when the grade changed: the new
    episode joins the same event, its term must match, it starts on or after the
    previous onset, and the previous episode (if still open) is closed on this onset.
    """
    today = today or timezone.localdate()
    patient = _lock_patient(patient, by)
    values = _normalise_ae(
        {
            "term": term,
            "grade": grade,
            "onset": onset,
            "resolved": resolved,
            "serious": serious,
            "sae_criteria": list(sae_criteria),
            "attribution": attribution,
            "progression": progression,
            "action": action,
            "outcome": outcome,
            "supportive": list(supportive),
            "with_pain": with_pain,
            "notes": notes,
        }
    )
    check_unlocked(patient, "an adverse event", onset)
    errors = _check_ae(patient, values, today=today, drugs=_trial_drugs(patient))
    previous = None
    if continues is not None:
        previous = AdverseEvent.objects.select_for_update().get(pk=continues.pk)
        if previous.patient_id != patient.pk or previous.in_error:
            _add(errors, "continues", "The previous episode must be a current event of the same patient.")
        else:
            if previous.term != term:
                _add(errors, "term", f"A new episode keeps the event's term ({previous.get_term_display()}).")
            if onset is not None and onset < previous.onset:
                _add(errors, "onset", f"A new episode cannot start before the previous one ({previous.onset.isoformat()}).")
            if grade == previous.grade:
                _add(errors, "grade", f"The previous episode is already grade {grade}: a new episode records a change of grade.")
    _raise(errors)
    ae = AdverseEvent(patient=patient, entered_by=by, **values)
    if previous is not None:
        ae.event_id = previous.event_id or previous.pk
        if previous.resolved is None or previous.resolved > onset:
            previous.resolved = onset
            if previous.outcome == AdverseEvent.Outcome.NOT_RECOVERED:
                previous.outcome = AdverseEvent.Outcome.RECOVERING if grade < previous.grade else AdverseEvent.Outcome.NOT_RECOVERED
            audited_save(previous, by=by, reason=f"Grade changed to {grade} on {onset.isoformat()}: continues as a new episode")
    audited_save(ae, by=by, reason=f"Recorded: {ae.get_term_display()} grade {grade}" + (" (new episode)" if previous else ""))
    _reopen_for_events(patient, [ae.pk] + ([previous.pk] if previous else []), by=by, why=f"{ae} recorded")
    record_change(patient, Kind.TOXICITY)
    return ae


@transaction.atomic
def ae_update(*, ae: AdverseEvent, by: User, reason: str, today: date | None = None, **changes) -> AdverseEvent:
    """Correct an adverse event; the reason for change is kept with the old and new values.
    A DLT confirmed on this event is reopened for adjudication."""
    today = today or timezone.localdate()
    unknown = set(changes) - set(AE_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be edited here."] for name in sorted(unknown)})
    patient = _lock_patient(ae.patient, by)
    ae = AdverseEvent.objects.select_for_update().get(pk=ae.pk)
    if ae.in_error:
        raise ValidationError({"__all__": ["This event was retracted as entered in error."]})
    changes = _normalise_ae(changes)
    changed = {k: v for k, v in changes.items() if getattr(ae, k) != v}
    if changed:
        check_unlocked(patient, "an adverse event", ae.onset, changed.get("onset"))
    if not changed:
        return ae
    if reason_missing(reason):
        raise ValidationError({"reason": ["A reason for change is required when correcting an adverse event."]})
    merged = {k: changed.get(k, getattr(ae, k)) for k in AE_FIELDS}
    errors = _check_ae(patient, merged, today=today, drugs=_trial_drugs(patient))
    if "term" in changed and (ae.event_id or ae.episodes.exists()):
        _add(errors, "term", "The term of an event with several episodes cannot change; retract it and record it again.")
    _raise(errors)
    for k, v in changed.items():
        setattr(ae, k, v)
    audited_save(ae, by=by, reason=reason.strip())
    _reopen_for_events(patient, [ae.pk], by=by, why=f"{ae.get_term_display()} corrected ({', '.join(sorted(changed))}): {reason.strip()}")
    record_change(patient, Kind.TOXICITY)
    return ae


@transaction.atomic
def ae_retract(*, ae: AdverseEvent, by: User, reason: str) -> AdverseEvent:
    """Mark an adverse event as entered in error: kept, shown struck through, ignored by the rules."""
    patient = _lock_patient(ae.patient, by)
    ae = AdverseEvent.objects.select_for_update().get(pk=ae.pk)
    if reason_missing(reason):
        raise ValidationError({"reason": ["Give the reason the event was entered in error."]})
    if ae.in_error:
        return ae
    check_unlocked(patient, "an adverse event", ae.onset)
    ae.in_error = True
    audited_save(ae, by=by, reason=f"Entered in error: {reason.strip()}")
    _reopen_for_events(patient, [ae.pk], by=by, why=f"{ae.get_term_display()} retracted as entered in error: {reason.strip()}")
    record_change(patient, Kind.TOXICITY)
    return ae


# ---------------------------------------------------------------- labs


def _to_decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(str(value)) from exc


def convert_labs(raw: dict, units: dict[str, str]) -> tuple[dict[str, Decimal | None], dict[str, list[str]]]:
    """Values as entered (with their units) into stored units, with "did you mean /uL?" for implausible counts."""
    values: dict[str, Decimal | None] = {}
    errors: dict[str, list[str]] = {}
    for name in LAB_LABELS:
        try:
            value = _to_decimal(raw.get(name))
        except ValueError:
            _add(errors, name, "Enter a number.")
            continue
        if value is None:
            values[name] = None
            continue
        unit = units.get(name) or ("g/dL" if name == "hemoglobin" else "C" if name == "temperature" else "10^9/L")
        if name in PLAUSIBLE_MAX:
            if unit not in COUNT_UNITS:
                _add(errors, name, f"Unit must be one of {', '.join(COUNT_UNITS)}.")
                continue
            if unit != "/uL" and value > PLAUSIBLE_MAX[name]:
                _add(
                    errors,
                    name,
                    f"{LAB_LABELS[name]} {value} x10^9/L is not plausible: did you mean /uL? ({value} /uL = {(value / 1000).normalize():f} x10^9/L)",
                )
                continue
            value = value * COUNT_UNITS[unit]
        elif name == "hemoglobin":
            if unit not in HB_UNITS:
                _add(errors, name, f"Unit must be one of {', '.join(HB_UNITS)}.")
                continue
            if unit == "g/dL" and value > 25:
                _add(errors, name, f"Hemoglobin {value} g/dL is not plausible: did you mean g/L? ({value} g/L = {value / 10} g/dL)")
                continue
            value = value * HB_UNITS[unit]
        elif name == "temperature" and not Decimal(30) <= value <= Decimal(45):
            _add(errors, name, "Temperature is in degrees Celsius (30-45).")
            continue
        if value < 0:
            _add(errors, name, "A count cannot be negative.")
            continue
        stored = to_stored_places(value, LAB_PLACES[name])
        if stored is None:
            _add(errors, name, f"{LAB_LABELS[name]} {value} rounds to 0 in stored units: check the unit.")
            continue
        values[name] = stored
    return values, errors


@transaction.atomic
def lab_record(
    *,
    patient: Patient,
    by: User,
    on: date,
    units: dict[str, str] | None = None,
    reason_for_change: str = "",
    today: date | None = None,
    **raw,
) -> LabResult:
    """Record the hematology panel of one day (ANC, platelets, hemoglobin, WBC, temperature).

    Counts are stored in x10^9/L; values per microlitre are converted. A second
    entry for the same day corrects the panel and needs a reason for change; a DLT
    confirmed on these values is reopened for adjudication.
    """
    today = today or timezone.localdate()
    unknown = set(raw) - set(LAB_LABELS)
    if unknown:
        raise ValidationError({name: ["Not a lab value of this panel."] for name in sorted(unknown)})
    patient = _lock_patient(patient, by)
    values, errors = convert_labs(raw, units or {})
    if on is None:
        _add(errors, "on", "Give the date of the sample.")
    elif on > today:
        _add(errors, "on", "The sample date cannot be in the future.")
    elif patient.consent_date is not None and on < patient.consent_date:
        _add(errors, "on", f"The sample is before consent ({patient.consent_date.isoformat()}): baseline counts belong to registration.")
    if on is not None and not errors:
        check_unlocked(patient, "a lab panel", on)
    if not errors and all(v is None for v in values.values()):
        _add(errors, "__all__", "Enter at least one value.")
    _raise(errors)
    lab = LabResult.objects.select_for_update().filter(patient=patient, on=on).first()
    if lab is None:
        lab = LabResult(patient=patient, on=on, entered_by=by, **values)
        audited_save(lab, by=by, reason="Recorded")
    else:
        changed = {k: v for k, v in values.items() if v is not None and getattr(lab, k) != v}
        if not changed:
            return lab
        corrected = [k for k in changed if getattr(lab, k) is not None]
        if corrected and reason_missing(reason_for_change):
            existing = ", ".join(f"{LAB_LABELS[k]} {getattr(lab, k)}" for k in corrected)
            _raise({"reason_for_change": [f"The panel of {on.isoformat()} is already recorded ({existing}): give a reason for the change."]})
        for k, v in changed.items():
            setattr(lab, k, v)
        audited_save(lab, by=by, reason=reason_for_change.strip() or "Values added")
        if corrected:
            _reopen_for_labs(
                patient, on, by=by, why=f"Labs of {on.isoformat()} corrected ({', '.join(LAB_LABELS[k] for k in corrected)}): {reason_for_change.strip()}"
            )
    record_change(patient, Kind.TOXICITY)
    return lab


# ---------------------------------------------------------------- reopening adjudicated DLTs


def _reopen(patient: Patient, matches, *, by: User, why: str) -> int:
    """Reopen the patient's adjudicated proposals that `matches`. The write that reopens them records its
    change, and the pipeline re-evaluates the escalation (signed decisions that counted them get flagged)."""
    adjudicated = DltProposal.objects.select_for_update().filter(patient=patient, status__in=[DltProposal.Status.CONFIRMED, DltProposal.Status.REJECTED])
    n = 0
    for p in adjudicated:
        if matches(p):
            p.status = DltProposal.Status.REOPENED
            p.review_note = why
            audit(p, by=by, reason=f"Reopened: {why}")
            p.save()
            n += 1
    return n


def _reopen_for_events(patient: Patient, event_ids: list[int], *, by: User, why: str) -> int:
    ids = set(event_ids)
    return _reopen(patient, lambda p: ids & set(p.event_ids), by=by, why=why)


def _reopen_for_labs(patient: Patient, on: date, *, by: User, why: str) -> int:
    ref = f"lab:{on.isoformat()}"
    return _reopen(patient, lambda p: any(e.get("ref") == ref for e in p.evidence), by=by, why=why)


# ---------------------------------------------------------------- DLT evaluation


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


def _sync_proposals(patient_id: int, a: dlt.Assessment, existing: list[DltProposal], writes: _Writes, *, now) -> None:
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
            row.status = DltProposal.Status.PROPOSED
            row.proposed_at = now
            why = f"Proposed again by rule {prop.rule}"
        elif changed and row.status in (DltProposal.Status.CONFIRMED, DltProposal.Status.REJECTED):
            row.status = DltProposal.Status.REOPENED
            row.review_note = f"The data behind it changed ({', '.join(changed)})."
            why = f"Reopened: {row.review_note}"
        elif changed:
            why = f"Evidence updated ({', '.join(changed)})"
        else:
            continue
        for k, v in fields.items():
            setattr(row, k, v)
        audit(row, by=None, reason=why)
        writes.changed_proposals.append(row)
    gone = "The rules no longer propose it: confirm it as a DLT the rules missed, or reject it."
    for row in existing:
        if row.key in seen or row.status in (DltProposal.Status.WITHDRAWN, DltProposal.Status.REJECTED):
            continue
        if row.status == DltProposal.Status.PROPOSED:
            row.status = DltProposal.Status.WITHDRAWN
            why = "No longer proposed by the rules"
        elif row.review_note != gone:  # confirmed, or reopened for another reason
            row.status = DltProposal.Status.REOPENED
            row.review_note = gone
            why = f"Reopened: {gone}"
        else:
            continue
        audit(row, by=None, reason=why)
        writes.changed_proposals.append(row)


def _window_fields(w: dlt.PatientWindow, a: dlt.Assessment, *, today: date) -> dict:
    """The evaluability if no proposal counted: what the escalation engine reads once every proposal is adjudicated."""
    e = dlt.evaluability(w, [], today=today, pending_rules=list(a.pending_rules))
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
    if evaluation is not None and evaluation.inputs_digest == digest and all(getattr(evaluation, k) == v for k, v in window.items()):
        return False
    _sync_proposals(patient_id, a, existing, writes, now=now)
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
    audit(evaluation, by=None, reason=f"DLT rules: {e.status.value}")
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
            list(Patient.objects.select_for_update().filter(pk__in=part).order_by("pk").values_list("pk", flat=True))
            windows = selectors.dlt_windows(part)
            proposals: dict[int, list[DltProposal]] = {}
            for p in DltProposal.objects.select_for_update().filter(patient_id__in=part).order_by("pk"):
                proposals.setdefault(p.patient_id, []).append(p)
            evaluations = {e.patient_id: e for e in DltEvaluation.objects.select_for_update().filter(patient_id__in=part)}
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


def dlt_evaluate(*, patient: Patient, today: date | None = None) -> DltEvaluation | None:
    """One patient's evaluation (None before cycle 1 day 1)."""
    dlt_evaluate_many([patient.pk], today=today)
    return DltEvaluation.objects.filter(patient=patient).first()


# ---------------------------------------------------------------- adjudication


def _check_adjudicator(by: User) -> None:
    if not by.can(Perm.ADJUDICATE):
        raise PermissionDenied("DLTs are adjudicated by an investigator.")


@transaction.atomic
def dlt_confirm(*, proposal: DltProposal, by: User, reason: str = "") -> Dlt:
    """An investigator confirms a proposed (or reopened) DLT: the DLT-flagged event the escalation engine reads."""
    _check_adjudicator(by)
    patient = Patient.objects.select_for_update().get(pk=proposal.patient_id)
    proposal = DltProposal.objects.select_for_update().get(pk=proposal.pk)
    if proposal.status not in (DltProposal.Status.PROPOSED, DltProposal.Status.REOPENED):
        raise ValidationError({"__all__": [f"This proposal is {proposal.get_status_display().lower()}: nothing to confirm."]})
    if not proposal.attribution_recorded and reason_missing(reason):
        raise ValidationError({"reason": ["No adverse event records the attribution of these values: give the reason you judge them related."]})
    now = timezone.now()
    note = (reason or "").strip()
    existing = Dlt.objects.select_for_update().filter(proposal=proposal).first()
    dlt_row = existing or Dlt(patient_id=proposal.patient_id, proposal=proposal)
    dlt_row.rule, dlt_row.onset, dlt_row.sentence = proposal.rule, proposal.onset, proposal.sentence
    dlt_row.evidence = proposal.evidence
    dlt_row.reason = note
    dlt_row.confirmed_by, dlt_row.confirmed_at = by, now
    dlt_row.withdrawn_at, dlt_row.withdrawn_reason = None, ""
    audited_save(dlt_row, by=by, reason=f"DLT {proposal.rule} confirmed" + (" again after review" if existing else "") + (f": {note}" if note else ""))
    proposal.status = DltProposal.Status.CONFIRMED
    proposal.adjudicated_by, proposal.adjudicated_at, proposal.adjudication_reason = by, now, note
    proposal.review_note = ""
    audited_save(proposal, by=by, reason="Confirmed" + (f": {note}" if note else ""))
    record_change(patient, Kind.ADJUDICATION)
    return dlt_row


@transaction.atomic
def dlt_reject(*, proposal: DltProposal, by: User, reason: str) -> DltProposal:
    """An investigator rejects a proposal with the reason; a DLT confirmed on it before is withdrawn."""
    _check_adjudicator(by)
    if reason_missing(reason):
        raise ValidationError({"reason": ["Give the reason this is not a DLT."]})
    patient = Patient.objects.select_for_update().get(pk=proposal.patient_id)
    proposal = DltProposal.objects.select_for_update().get(pk=proposal.pk)
    if proposal.status not in (DltProposal.Status.PROPOSED, DltProposal.Status.REOPENED):
        raise ValidationError({"__all__": [f"This proposal is {proposal.get_status_display().lower()}: nothing to reject."]})
    now = timezone.now()
    existing = Dlt.objects.select_for_update().filter(proposal=proposal, withdrawn_at__isnull=True).first()
    if existing is not None:
        existing.withdrawn_at, existing.withdrawn_reason = now, reason.strip()
        audited_save(existing, by=by, reason=f"Withdrawn on review: {reason.strip()}")
    proposal.status = DltProposal.Status.REJECTED
    proposal.adjudicated_by, proposal.adjudicated_at, proposal.adjudication_reason = by, now, reason.strip()
    proposal.review_note = ""
    audited_save(proposal, by=by, reason=f"Rejected: {reason.strip()}")
    record_change(patient, Kind.ADJUDICATION)
    return proposal


@transaction.atomic
def dlt_record_missed(*, patient: Patient, by: User, rule: str, onset: date, description: str, reason: str, today: date | None = None) -> Dlt:
    """A DLT the rules did not propose, recorded by an investigator with the reason."""
    _check_adjudicator(by)
    today = today or timezone.localdate()
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
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
    dlt_row = Dlt.objects.select_for_update().select_related("patient").get(pk=dlt_row.pk)
    if dlt_row.proposal_id is not None:
        raise ValidationError({"__all__": ["This DLT came from a proposal: reject the reopened proposal instead."]})
    if dlt_row.withdrawn_at is not None:
        raise ValidationError({"__all__": ["This DLT is already withdrawn."]})
    dlt_row.withdrawn_at, dlt_row.withdrawn_reason = timezone.now(), reason.strip()
    audited_save(dlt_row, by=by, reason=f"Withdrawn: {reason.strip()}")
    record_change(dlt_row.patient, Kind.ADJUDICATION)
    return dlt_row
