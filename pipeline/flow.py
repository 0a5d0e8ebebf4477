"""The derived-results pipeline, top to bottom: the one place where one app's results feed the next.

    data written (any service)  ->  outbox row (trialsite.outbox.record_change, same transaction)
    outbox drained per trial    ->  1. DLT evaluation     toxicity.services.dlt_evaluate_many
                                    2. escalation proposal escalation_reevaluate (reads the stored evaluations)
                                    3. responses           response.services.response_compute_many
                                    4. endpoints           response.services.endpoints_compute (reads the stored responses)

Which stages a change needs is data (STAGES); a patient stage is followed by its trial stage
(FOLLOWED_BY). Every stage is idempotent, so a drain that stops half-way is simply run again:
the rows it claimed stay pending (with the error) until a drain completes them.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date
from enum import StrEnum

from django.db import transaction
from django.utils import timezone

from cohorts.models import Trial
from escalation.services import escalation_reevaluate
from response.services import endpoints_compute, followup_death_sync, response_compute_many, stale_patients
from toxicity.selectors import patients_in_window, patients_under_other_rules
from toxicity.services import dlt_evaluate_many
from trialsite import outbox
from trialsite.models import Change

log = logging.getLogger(__name__)

BATCH = 500  # changes claimed per transaction


class Stage(StrEnum):
    DLT = "DLT evaluation"
    ESCALATION = "escalation proposal"
    RESPONSE = "responses"
    ENDPOINTS = "endpoints"


Kind = Change.Kind
# What each kind of change feeds first: the DLT rules read registration baselines, doses, cycles, stops,
# adverse events and labs; the escalation engine reads enrolments and adjudicated DLTs; the IMWG rules read
# assessments, cycle 1 day 1 and the next therapy; the endpoints also read enrolments, cycles and follow-up.
STAGES: dict[str, frozenset[Stage]] = {
    Kind.REGISTRATION: frozenset({Stage.DLT}),
    Kind.ENROLMENT: frozenset({Stage.ESCALATION, Stage.ENDPOINTS}),
    Kind.DOSING: frozenset({Stage.DLT, Stage.RESPONSE}),
    Kind.TOXICITY: frozenset({Stage.DLT}),
    Kind.ADJUDICATION: frozenset({Stage.ESCALATION}),
    Kind.ASSESSMENT: frozenset({Stage.RESPONSE}),
    Kind.FOLLOW_UP: frozenset({Stage.RESPONSE}),
}
# A patient stage is followed by the trial stage that reads its results.
FOLLOWED_BY = {Stage.DLT: Stage.ESCALATION, Stage.RESPONSE: Stage.ENDPOINTS}


def stages_for(changes: list[Change]) -> dict[Stage, list[int]]:
    """The stages these changes need, each with its patients (the trial stages with every changed patient)."""
    needed: dict[Stage, set[int]] = {}
    for change in changes:
        for stage in STAGES[change.kind]:
            needed.setdefault(stage, set()).add(change.patient_id)
            if stage in FOLLOWED_BY:
                needed.setdefault(FOLLOWED_BY[stage], set()).add(change.patient_id)
    return {stage: sorted(needed[stage]) for stage in Stage if stage in needed}


def run(trial: Trial, stages: dict[Stage, list[int]], *, today: date | None = None) -> dict[str, int]:
    """Bring the trial's derived results up to date, stage after stage, in the order the data flows."""
    counts: Counter[str] = Counter()
    if Stage.DLT in stages:
        counts.update({f"dlt {k}": v for k, v in dlt_evaluate_many(stages[Stage.DLT], today=today).items()})
    if Stage.ESCALATION in stages:
        escalation_reevaluate(trial=trial, today=today)
        counts["escalation"] += 1
    if Stage.RESPONSE in stages:
        # A grade 5 adverse event records a follow-up change: its death record first, then what reads it.
        deaths = followup_death_sync(patient_ids=stages[Stage.RESPONSE])
        if deaths:
            counts["response deaths"] += deaths
        counts.update({f"response {k}": v for k, v in response_compute_many(stages[Stage.RESPONSE]).items()})
    if Stage.ENDPOINTS in stages:
        endpoints_compute(trial=trial)
        counts["endpoints"] += 1
    return dict(counts)


def drain(*, today: date | None = None, batch: int = BATCH) -> dict[str, int]:
    """Drain the outbox: each trial's pending changes in one transaction with the results they lead to.

    A trial whose run fails keeps its changes pending with the error (shown on the pages) and is tried
    again by the next drain; the other trials go on."""
    totals: Counter[str] = Counter()
    for trial_id in outbox.pending_trials():
        while _drain_trial(trial_id, batch=batch, today=today, totals=totals) == batch:
            pass
    return dict(totals)


def _drain_trial(trial_id: int, *, batch: int, today: date | None, totals: Counter[str]) -> int:
    """One batch of the trial's pending changes and the results they lead to, in one transaction.
    Returns how many changes it completed (0 when there were none, or when the run failed)."""
    claimed: list[int] = []
    try:
        with transaction.atomic():
            changes = outbox.claim(trial_id, limit=batch)
            claimed = [c.pk for c in changes]
            if changes:
                trial = Trial.objects.get(pk=trial_id)
                totals.update(run(trial, stages_for(changes), today=today))
                outbox.mark_done(changes)
                totals["changes"] += len(changes)
            return len(changes)
    except Exception as exc:
        log.exception("The pipeline failed for trial %s; its changes stay pending", trial_id)
        outbox.mark_failed(claimed, f"{type(exc).__name__}: {exc}")
        totals["failed trials"] += 1
        return 0


def nightly(*, today: date | None = None) -> dict[str, int]:
    """What the passage of time alone changes: DLT windows and cycle 2 deadlines that complete (and with
    them the escalation), and the endpoints' censoring; also every patient whose stored DLT evaluation was
    made under another version of the rules (a corrected rule reopens the decided proposals it changes), and
    every course stored by other IMWG rules or missing (`stale_patients`: one query a trial).
    Every trial, in the same order as the drain."""
    today = today or timezone.localdate()
    found: dict[int, set[int]] = {}
    for patient_id, trial_id in [*patients_in_window(today).values_list("pk", "trial_id"), *patients_under_other_rules()]:
        found.setdefault(trial_id, set()).add(patient_id)
    waiting = {trial_id: sorted(ids) for trial_id, ids in found.items()}
    totals: Counter[str] = Counter()
    for trial in Trial.objects.order_by("pk"):
        stages: dict[Stage, list[int]] = {Stage.ENDPOINTS: []}
        if trial.pk in waiting:
            stages |= {Stage.DLT: waiting[trial.pk], Stage.ESCALATION: waiting[trial.pk]}
        if stale := stale_patients(trial=trial):
            stages[Stage.RESPONSE] = stale
        with transaction.atomic():
            totals.update(run(trial, stages, today=today))
    return dict(totals)
