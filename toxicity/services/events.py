"""Adverse events: record, correct and retract an episode, and the checks on its values."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from cohorts.models import Drug, Patient
from dosing.services import check_unlocked
from trialsite.audit import audited_save, reason_missing
from trialsite.outbox import Kind, record_change

from .. import ctcae, dlt, selectors
from ..models import SAE_CRITERIA, AdverseEvent
from ._common import _add, _lock_patient, _raise
from .adjudication import _reopen_for_events

ATTRIBUTION_LEVELS = dlt.ATTRIBUTIONS
SUPPORTIVE = {s.value for s in dlt.Supportive}

AE_FIELDS = (
    "term",
    "verbatim",
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


def _check_ae(patient: Patient, values: dict, *, today: date, drugs: list[str], version: str | None = None) -> dict[str, list[str]]:
    """Every problem with one adverse event's values, at once (the term in `version`, by default the trial's)."""
    errors = _check_term(patient, values, version=version)
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


def _check_term(patient: Patient, values: dict, *, version: str | None = None) -> dict[str, list[str]]:
    """The term in the CTCAE version (the trial's, or the event's own when corrected), a grade that term has,
    the verbatim term of an "Other, specify"."""
    errors: dict[str, list[str]] = {}
    terms = selectors.terminology(version or patient.trial.ctcae_version)
    code, grade, verbatim = values.get("term"), values.get("grade"), values.get("verbatim") or ""
    t = terms.by_code.get(code) if isinstance(code, str) else None
    if t is None:
        _add(errors, "term", f"Unknown CTCAE v{terms.version} term {code!r}: choose one from the list.")
        return errors
    if not isinstance(grade, int) or isinstance(grade, bool):
        _add(errors, "grade", "Give the grade (a whole number).")
    else:
        try:
            ctcae.check_grade(t, grade, version=terms.version)
        except ctcae.CtcaeError as exc:
            _add(errors, "grade", str(exc))
    if t.other_specify and not verbatim:
        _add(errors, "verbatim", f"{t.name}: give the verbatim term (what the event is).")
    if verbatim and not t.other_specify:
        _add(errors, "verbatim", f'A verbatim term is only for a "{t.soc} - Other, specify" term: {t.name} is a term of its own.')
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
    if grade == 5 and resolved is None:
        # The event ends with the death: its date is the patient's date of death (the follow-up's death record
        # is written from it by the pipeline, response.services.followup_death_sync).
        _add(errors, "resolved", "A grade 5 event ends with the death: give the date of death as its end.")
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
    if "verbatim" in out:
        out["verbatim"] = (out["verbatim"] or "").strip()
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
    verbatim: str = "",
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
            "verbatim": verbatim,
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
    previous = None if continues is None else _previous_episode(patient, continues, term=term, grade=grade, onset=onset, errors=errors)
    _raise(errors)
    ae = AdverseEvent(patient=patient, entered_by=by, ctcae_version=patient.trial.ctcae_version, **values)
    if previous is not None:
        ae.event_id = previous.event_id or previous.pk
        _close_previous_episode(previous, grade=grade, onset=onset, by=by)
    audited_save(ae, by=by, reason=f"Recorded: {ae.term_name} grade {grade}" + (" (new episode)" if previous else ""))
    _reopen_for_events(patient, [ae.pk] + ([previous.pk] if previous else []), by=by, why=f"{ae} recorded")
    _record_changes(patient, deaths=grade == 5)
    return ae


def _record_changes(patient: Patient, *, deaths: bool) -> None:
    """The outbox: toxicity for the DLT rules; a grade 5 event written or undone also changes the death
    record (the follow-up, kept by the response app above this one, reads grade 5 events)."""
    record_change(patient, Kind.TOXICITY)
    if deaths:
        record_change(patient, Kind.FOLLOW_UP)


def _previous_episode(patient: Patient, continues: AdverseEvent, *, term: str, grade: int, onset: date, errors: dict[str, list[str]]) -> AdverseEvent:
    """The episode a new one continues, locked; what forbids the continuation goes into `errors`."""
    previous = AdverseEvent.objects.select_for_update(no_key=True).get(pk=continues.pk)
    if previous.patient_id != patient.pk or previous.in_error:
        _add(errors, "continues", "The previous episode must be a current event of the same patient.")
    else:
        if previous.term != term:
            _add(errors, "term", f"A new episode keeps the event's term ({previous.term_name}).")
        if onset is not None and onset < previous.onset:
            _add(errors, "onset", f"A new episode cannot start before the previous one ({previous.onset.isoformat()}).")
        if grade == previous.grade:
            _add(errors, "grade", f"The previous episode is already grade {grade}: a new episode records a change of grade.")
    return previous


def _close_previous_episode(previous: AdverseEvent, *, grade: int, onset: date, by: User) -> None:
    """The previous episode, if still open on the new onset, ends there (recovering when the grade went down)."""
    if previous.resolved is None or previous.resolved > onset:
        previous.resolved = onset
        if previous.outcome == AdverseEvent.Outcome.NOT_RECOVERED:
            previous.outcome = AdverseEvent.Outcome.RECOVERING if grade < previous.grade else AdverseEvent.Outcome.NOT_RECOVERED
        audited_save(previous, by=by, reason=f"Grade changed to {grade} on {onset.isoformat()}: continues as a new episode")


@transaction.atomic
def ae_update(*, ae: AdverseEvent, by: User, reason: str, today: date | None = None, **changes) -> AdverseEvent:
    """Correct an adverse event; the reason for change is kept with the old and new values.
    A DLT confirmed on this event is reopened for adjudication."""
    today = today or timezone.localdate()
    unknown = set(changes) - set(AE_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be edited here."] for name in sorted(unknown)})
    patient = _lock_patient(ae.patient, by)
    ae = AdverseEvent.objects.select_for_update(no_key=True).get(pk=ae.pk)
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
    errors = _check_ae(patient, merged, today=today, drugs=_trial_drugs(patient), version=ae.ctcae_version)
    if "term" in changed and (ae.event_id or ae.episodes.exists()):
        _add(errors, "term", "The term of an event with several episodes cannot change; retract it and record it again.")
    _raise(errors)
    was_fatal = ae.grade == 5
    for k, v in changed.items():
        setattr(ae, k, v)
    audited_save(ae, by=by, reason=reason.strip())
    _reopen_for_events(patient, [ae.pk], by=by, why=f"{ae.term_name} corrected ({', '.join(sorted(changed))}): {reason.strip()}")
    _record_changes(patient, deaths=was_fatal or ae.grade == 5)
    return ae


@transaction.atomic
def ae_retract(*, ae: AdverseEvent, by: User, reason: str) -> AdverseEvent:
    """Mark an adverse event as entered in error: kept, shown struck through, ignored by the rules."""
    patient = _lock_patient(ae.patient, by)
    ae = AdverseEvent.objects.select_for_update(no_key=True).get(pk=ae.pk)
    if reason_missing(reason):
        raise ValidationError({"reason": ["Give the reason the event was entered in error."]})
    if ae.in_error:
        return ae
    check_unlocked(patient, "an adverse event", ae.onset)
    ae.in_error = True
    audited_save(ae, by=by, reason=f"Entered in error: {reason.strip()}")
    _reopen_for_events(patient, [ae.pk], by=by, why=f"{ae.term_name} retracted as entered in error: {reason.strip()}")
    _record_changes(patient, deaths=ae.grade == 5)
    return ae
