"""Reads for escalation: the 3+3 engine (escalation/rules.py) on the trial's stored, adjudicated facts.

The engine reads, per escalation-phase patient: a confirmed DLT (toxicity.Dlt, not
withdrawn) -> DLT; a stored DLT proposal awaiting adjudication (proposed or
reopened) -> pending; otherwise the stored evaluability of the patient's DLT window
without a proposal (toxicity.DltEvaluation.window_*): evaluable -> no DLT, pending
until a date, not evaluable -> replaced. No evaluation stored yet -> pending. The
DLT rules are never run here: toxicity.services.dlt_evaluate_many stores what they say.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import date

from django.db.models import Count, Max, Min
from django.utils import timezone

from accounts.models import User
from cohorts.models import Cohort, DoseLevel, Enrolment, Trial
from cohorts.protocol import DesignSpec
from cohorts.selectors import SiteMask, open_cohort, site_mask
from dosing.models import Cycle
from toxicity.models import Dlt, DltEvaluation, DltProposal
from toxicity.selectors import OPEN_PROPOSALS
from trialsite.signatures import signatures_of_many

from . import rules
from .designs import Boin, DesignError, DesignState, Engine, LevelState, Move, engine_for
from .designs.oc import OperatingCharacteristics, TiteAssumptions, simulate_exact, simulate_tite, simulate_trials
from .designs.tables import Path, TableRow, decision_table, look_ahead
from .models import EscalationDecision
from .plots import CohortMark

OPENS_A_COHORT = (rules.Action.ENROL, rules.Action.ESCALATE, rules.Action.EXPAND, rules.Action.DE_ESCALATE, rules.Action.ELIMINATE)
NOT_SIGNED = EscalationDecision.NOT_SIGNED  # the engine waits (or TITE-BOIN suspends accrual): nothing to sign
WINDOW_OUTCOME = {
    DltEvaluation.Status.EVALUABLE: rules.Outcome.NO_DLT,
    DltEvaluation.Status.PENDING: rules.Outcome.PENDING,
    DltEvaluation.Status.NOT_EVALUABLE: rules.Outcome.NOT_EVALUABLE,
}


@dataclass(frozen=True)
class PatientRow:
    study_id: str
    level: str
    outcome: rules.Outcome
    why: str
    until: date | None
    dlts: tuple[Dlt, ...]
    window_end: date | None
    days_left: int | None


@dataclass(frozen=True)
class SiteCount:
    """Another site's patients at a level, counted without identifiers ("site 02: 2 patients, 0 DLTs")."""

    level: str
    site: str
    patients: int
    dlts: int
    outcomes: dict[str, int]

    def __str__(self) -> str:
        return f"site {self.site}: {self.patients} patient{'s' if self.patients != 1 else ''}, {self.dlts} DLT{'s' if self.dlts != 1 else ''}"

    def as_json(self) -> dict:
        return {"site": self.site, "patients": self.patients, "dlts": self.dlts, "outcomes": self.outcomes}


def _count(level: str, site: str, outcomes: list[str]) -> SiteCount:
    tally: dict[str, int] = {}
    for o in outcomes:
        tally[o] = tally.get(o, 0) + 1
    return SiteCount(level, site, len(outcomes), tally.get(rules.Outcome.DLT.value, 0), dict(sorted(tally.items())))


@dataclass(frozen=True)
class State:
    trial: Trial
    ladder: rules.Ladder
    decision: rules.Decision
    patients: tuple[PatientRow, ...]
    current: str | None
    dlt_snapshot: dict[str, str]
    others: tuple[SiteCount, ...] = ()  # other sites' patients, counted (a coordinator's view: state_for_user)
    design: DesignSpec = field(default_factory=DesignSpec)  # the trial's design (issue 18); 3+3 unless the protocol names another
    design_state: DesignState | None = None  # the design engine's input (per level: known outcomes, DLTs, pending fractions)

    def by_level(self) -> list[tuple[DoseLevel | str, list[PatientRow]]]:
        return [(label, [p for p in self.patients if p.level == label]) for label in reversed(self.ladder.labels)]

    def levels(self) -> list[tuple[str, list[PatientRow], list[SiteCount], int]]:
        """Per level (top first) with patients or counts: its identified patients, the other sites' counts, the rows."""
        rows = [(str(label), ps, [c for c in self.others if c.level == str(label)]) for label, ps in self.by_level()]
        return [(label, ps, cs, len(ps) + len(cs)) for label, ps, cs in rows if ps or cs]


def ladder_for(trial: Trial) -> rules.Ladder:
    labels = tuple(str(label) for label in DoseLevel.objects.filter(trial=trial).order_by("order").values_list("label", flat=True))
    start = str(trial.starting_level.label) if trial.starting_level_id else labels[0]
    return rules.Ladder(labels=labels, start=start, cohort_size=trial.cohort_size, expanded_size=trial.cohort_max_size, escalation_cap=trial.cap_escalation)


def _outcome(dlts: list[Dlt], proposals: list[DltProposal], evaluation: DltEvaluation | None, started: bool) -> tuple[rules.Outcome, str, date | None]:
    """A patient's outcome for the engine. `proposals`: the patient's stored proposals, whatever their status."""
    if dlts:
        first = min(dlts, key=lambda d: d.onset)
        return rules.Outcome.DLT, f"DLT {first.rule} from {first.onset.isoformat()}", None
    open_proposals = [p for p in proposals if p.status in OPEN_PROPOSALS]
    if open_proposals:
        return rules.Outcome.PENDING, f"DLT proposal {open_proposals[0].rule} awaits adjudication", None
    if evaluation is None or not evaluation.window_status:
        return rules.Outcome.PENDING, "DLT evaluation pending" if started else "cycle 1 not started", None
    return WINDOW_OUTCOME[evaluation.window_status], evaluation.window_reason, evaluation.window_until


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
    evaluations = {e.patient_id: e for e in DltEvaluation.objects.filter(patient_id__in=ids)}
    started = set(Cycle.objects.filter(patient_id__in=ids, number=1).values_list("patient_id", flat=True))
    rows, patients = [], {}
    placed: list[tuple[Enrolment, rules.Outcome]] = []
    for e in enrolments:
        evaluation = evaluations.get(e.patient_id)
        outcome, why, until = _outcome(dlts.get(e.patient_id, []), proposals.get(e.patient_id, []), evaluation, e.patient_id in started)
        label = str(e.level.label)
        end = evaluation.window_end if evaluation else None
        rows.append(
            PatientRow(
                e.patient.study_id, label, outcome, why, until, tuple(dlts.get(e.patient_id, [])), end, (end - today).days if end and end >= today else None
            )
        )
        patients.setdefault(label, []).append(rules.Patient(outcome, e.patient.study_id, until))
        placed.append((e, outcome))
    cohort = Cohort.objects.filter(trial=trial, status=Cohort.Status.OPEN).select_related("level").first()
    last_signed = EscalationDecision.objects.filter(trial=trial, status=EscalationDecision.Status.SIGNED).select_related("level").first()
    current = str(cohort.level.label) if cohort else (str(last_signed.level.label) if last_signed and last_signed.level else None)
    snapshot = {str(d.pk): f"{d.rule} {d.onset.isoformat()}" for ds in dlts.values() for d in ds}
    design = design_of(trial)
    if design.name == "3+3":
        decision = rules.decide(ladder, patients, current=current)
        ds = _design_state(ladder, placed, current, {}, None, today, 1)
        return State(trial, ladder, decision, tuple(rows), current, snapshot, design=design, design_state=ds)
    days1 = dict(Cycle.objects.filter(patient_id__in=ids, number=1).values_list("patient_id", "day1"))
    eliminated = EscalationDecision.objects.filter(trial=trial, status=EscalationDecision.Status.SIGNED, action=rules.Action.ELIMINATE)
    above = [ladder.labels.index(str(lb)) + 1 for lb in eliminated.values_list("level__label", flat=True) if str(lb) in ladder.labels]
    window = design.window_days or trial.dlt_window_days
    ds = _design_state(ladder, placed, current, days1, min(above) if above else None, today, window)
    decision = _cohort_to_fill(design, cohort, placed) or _design_decision(engine_for(design, ladder.labels, ladder), ds)
    if decision.action in NEEDS_PATIENTS:
        decision = rules.within_cap(ladder, len(placed), decision)  # every escalation patient counts, as for 3+3
    return State(trial, ladder, decision, tuple(rows), current, snapshot, design=design, design_state=ds)


# ---------------------------------------------------------------- the model-assisted designs on the loop (issue 18, point 5)
# For a trial whose protocol names BOIN, TITE-BOIN or i3+3, escalation_state counts the same patients as for 3+3 and
# hands them to the design's engine (escalation/designs); its Step becomes the Decision the 3+3 path gives, so the
# proposal, the signature, the enrolment into the decided level and the caps run unchanged.

ACTION_OF_MOVE = {
    Move.ESCALATE: rules.Action.ESCALATE,
    Move.STAY: rules.Action.ENROL,  # the next cohort at the same level
    Move.DE_ESCALATE: rules.Action.DE_ESCALATE,
    Move.ELIMINATE: rules.Action.ELIMINATE,  # the level and all above close; the next cohort one level down
    Move.EXPAND: rules.Action.EXPAND,
    Move.WAIT: rules.Action.WAIT,
    Move.SUSPEND: rules.Action.SUSPEND,
}


# The design's steps that need more escalation patients (the MTD opens the expansion, under its own cap).
NEEDS_PATIENTS = (rules.Action.ENROL, rules.Action.ESCALATE, rules.Action.DE_ESCALATE, rules.Action.ELIMINATE)


def design_of(trial: Trial) -> DesignSpec:
    """The trial's design as its protocol set it (`Trial.design_params`, empty for 3+3)."""
    return DesignSpec.from_json({"name": trial.design or "3+3", **(trial.design_params or {})})


def _design_state(
    ladder: rules.Ladder,
    placed: list[tuple[Enrolment, rules.Outcome]],
    current: str | None,
    days1: dict[int, date],
    eliminated_from: int | None,
    today: date,
    window: int,
) -> DesignState:
    """Per level: the patients with a known outcome (DLT or evaluable without), their DLTs, and each pending patient's
    follow-up fraction (days since cycle 1 day 1 / the DLT window, 0 before cycle 1); not-evaluable patients are left out."""
    n = {label: [0, 0] for label in ladder.labels}
    pending: dict[str, list[float]] = {label: [] for label in ladder.labels}
    for e, outcome in placed:
        label = str(e.level.label)
        if outcome in (rules.Outcome.DLT, rules.Outcome.NO_DLT):
            n[label][0] += 1
            n[label][1] += outcome == rules.Outcome.DLT
        elif outcome == rules.Outcome.PENDING:
            day1 = days1.get(e.patient_id)
            pending[label].append(min(1.0, max(0.0, (today - day1).days / window)) if day1 and window > 0 else 0.0)
    levels = tuple(LevelState(n[label][0], n[label][1], tuple(pending[label])) for label in ladder.labels)
    return DesignState(levels, ladder.labels.index(current if current in ladder.labels else ladder.start), eliminated_from)


def _cohort_to_fill(design: DesignSpec, cohort: Cohort | None, placed: list[tuple[Enrolment, rules.Outcome]]) -> rules.Decision | None:
    """The open escalation cohort still needs patients (its first ones, or replacements of the not-evaluable): enrol
    them before the design decides (the designs decide on complete cohorts)."""
    if cohort is None or cohort.phase != Cohort.Phase.ESCALATION:
        return None
    mine = [o for e, o in placed if e.cohort_id == cohort.pk]
    replaced = sum(o == rules.Outcome.NOT_EVALUABLE for o in mine)
    holding = len(mine) - replaced
    if holding >= cohort.capacity:
        return None
    label = str(cohort.level.label)
    slots = cohort.capacity - holding
    why = f", {replaced} not evaluable (replaced)" if replaced else ""
    reason = f"Cohort {cohort.number} at level {label}: {holding} of {cohort.capacity} placed{why}: enrol {slots} more before the {design.name} rule decides."
    return rules.Decision(rules.Action.ENROL, label, None, "ENROL", reason, slots)


def _design_decision(engine: Engine, state: DesignState) -> rules.Decision:
    """The engine's Step as the Decision the 3+3 path gives: the action, the level (label), the MTD, the rule, its sentence."""
    step = engine.decide(state)
    labels = engine.labels
    if step.move == Move.STOP:
        selection = engine.select(state)
        if selection.mtd is not None:
            mtd = labels[selection.mtd]
            return rules.Decision(rules.Action.MTD, mtd, mtd, step.rule, f"{step.reason} {selection.reason}")
        return rules.Decision(rules.Action.STOP, None, None, step.rule, f"{step.reason} {selection.reason}")
    level = labels[step.level] if step.level is not None else None
    return rules.Decision(ACTION_OF_MOVE[step.move], level, None, step.rule, step.reason, step.slots)


def _look_ahead(state: State, cohorts: int) -> tuple[tuple[str, ...], list[Path]]:
    """The design's look-ahead paths on the state (tables.look_ahead) and the ladder's labels."""
    if state.design_state is None:
        return state.ladder.labels, []
    try:
        engine = engine_for(state.design, state.ladder.labels, state.ladder)
        return engine.labels, look_ahead(engine, state.design_state, cohorts=cohorts)
    except (DesignError, rules.EscalationError):  # a display aid: a state the rules refuse shows no paths, never a 500
        return state.ladder.labels, []


def look_ahead_json(state: State, *, cohorts: int = 2) -> list[dict]:
    """The paths the escalation page shows (look_ahead_rows), for the API: per path the step now, then per next cohort
    its level, size and DLTs and the step they lead to. Counts only: no patient is named."""
    labels, paths = _look_ahead(state, cohorts)

    def step_json(step) -> dict:
        level = labels[step.level] if step.level is not None and step.move != Move.STOP else None
        return {"move": step.move.value, "level": level, "rule": step.rule, "slots": step.slots}

    return [
        {
            "now": step_json(path.steps[0]),
            "cohorts": [
                {"level": labels[level], "size": size, "dlts": y, "then": step_json(step)}
                for (level, size, y), step in zip(path.outcomes, path.steps[1:], strict=True)
            ],
        }
        for path in paths
    ]


def look_ahead_rows(state: State, *, cohorts: int = 2) -> list[list[str]]:
    """The dose paths of the next `cohorts` cohorts for the page (every design, 3+3 included): per path, the step now,
    then for each next cohort its outcome and the step it leads to."""
    labels, paths = _look_ahead(state, cohorts)
    if not paths:
        return []

    def step_text(step) -> str:
        where = f" {labels[step.level]}" if step.level is not None and step.move != Move.STOP else ""
        return f"{step.move.value}{where} ({step.rule})"

    rows = []
    for path in paths:
        row = [step_text(path.steps[0])]
        for (level, size, y), step in zip(path.outcomes, path.steps[1:], strict=True):
            row += [f"{y}/{size} at {labels[level]}", step_text(step)]
        rows.append(row + [""] * (1 + 2 * cohorts - len(row)))
    return rows


def path_marks(state: State) -> list[CohortMark]:
    """One mark per escalation cohort, with its patients' outcomes as the engine sees them, then one per level for
    its expansion cohorts (counted in SQL: the expansion grows with the trial, the escalation stops at its cap)."""
    outcome = {p.study_id: p.outcome for p in state.patients}
    by_cohort: dict[int, tuple[Cohort, list[str]]] = {}
    escalation = Enrolment.objects.filter(cohort__trial=state.trial, cohort__phase=Cohort.Phase.ESCALATION)
    for e in escalation.select_related("cohort__level", "patient").order_by("cohort__number", "pk"):  # a cohort without patients has no mark
        by_cohort.setdefault(e.cohort_id, (e.cohort, []))[1].append(e.patient.study_id)
    marks = []
    for c, ids in by_cohort.values():
        dlts = sum(outcome.get(i) == rules.Outcome.DLT for i in ids)
        pending = sum(outcome.get(i) == rules.Outcome.PENDING for i in ids)
        marks.append(CohortMark(c.number, str(c.level.label), len(ids), dlts, pending, c.phase))
    expansion = (
        Enrolment.objects.filter(cohort__trial=state.trial, cohort__phase=Cohort.Phase.EXPANSION)
        .values("cohort__level__label")
        .annotate(first=Min("cohort__number"), last=Max("cohort__number"), patients=Count("pk"), cohorts=Count("cohort", distinct=True))
        .order_by("first")
    )
    for row in expansion:
        label = str(row["cohort__level__label"])
        marks.append(CohortMark(row["first"], label, row["patients"], 0, 0, Cohort.Phase.EXPANSION, cohorts=row["cohorts"], last=row["last"]))
    return marks


def tally_json(state: State) -> list[dict]:
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


def state_digest(state: State) -> str:
    d = state.decision
    return hashlib.sha256(
        repr((d.action, d.level, d.mtd, d.rule, d.reason, d.slots, tally_json(state), sorted(state.dlt_snapshot.items()))).encode()
    ).hexdigest()


def covered_by_open_cohort(trial: Trial, d: rules.Decision) -> bool:
    """The engine asks for patients where the open cohort (opened by a signed decision) still has the slots: nothing to sign."""
    cohort = open_cohort(trial)
    if cohort is None or cohort.phase != Cohort.Phase.ESCALATION or d.action not in OPENS_A_COHORT or str(cohort.level.label) != d.level:
        return False
    return cohort.capacity - cohort.taken >= d.slots


def decisions_for_page(trial: Trial, user: User, limit: int = 50) -> list[EscalationDecision]:
    """The trial's decisions, newest first, with what the pages show, as `user` may read them: each with its
    signatures' lines ("Signed by ... : meaning"), masked like the decision's own texts (a meaning quotes a reason)."""
    rows = list(EscalationDecision.objects.filter(trial=trial).select_related("trial", "level", "mtd", "signed_by")[:limit])
    mask = site_mask(user, trial)
    signed = signatures_of_many(EscalationDecision, [d.pk for d in rows])
    shown = [decision_for_mask(d, mask) for d in rows]
    for d in shown:
        d.signatures = [mask.text(str(s)) for s in signed.get(d.pk, [])]
    return shown


def decisions_for_home(trial: Trial, user: User) -> list[EscalationDecision]:
    """The trial home's decisions: the current proposal and the flagged ones among the last 20 (superseded left out)."""
    found = EscalationDecision.objects.filter(trial=trial).exclude(status=EscalationDecision.Status.SUPERSEDED).select_related("trial", "level")[:20]
    return decisions_for_user(list(found), user)


# ---------------------------------------------------------------- site scoping (issue #17, point 4)
# The escalation engine counts every site's patients; a coordinator reads their own site's by study id and the
# others' as counts and outcomes. These functions are the one place that turns a trial-wide read into a
# coordinator's: the page, the API and the decisions' tallies call them (the signed content itself is unchanged).


def state_for_user(state: State, user: User) -> State:
    """`state` as `user` may read it: other sites' patients folded into counts, their study ids gone from the reasons."""
    mask = site_mask(user, state.trial)
    if not mask.hidden:
        return state
    hidden = [p for p in state.patients if mask.hides(p.study_id)]
    groups: dict[tuple[str, str], list[str]] = {}
    for p in hidden:
        groups.setdefault((p.level, mask.site_of(p.study_id)), []).append(p.outcome.value)
    others = tuple(_count(level, site, outcomes) for (level, site), outcomes in sorted(groups.items()))
    d = state.decision
    decision = replace(d, reason=mask.text(d.reason))
    kept = tuple(p for p in state.patients if not mask.hides(p.study_id))
    return replace(state, decision=decision, patients=kept, others=others, dlt_snapshot={})


def tally_for_mask(tally: list[dict], mask: SiteMask) -> list[dict]:
    """A stored tally (tally_json's shape) with the hidden patients replaced by per-site counts (`other_sites`)."""
    if not mask.hidden:
        return tally
    out = []
    for level in tally:
        kept, groups = [], {}
        for p in level.get("patients", []):
            if mask.hides(p.get("study_id", "")):
                groups.setdefault(mask.site_of(p["study_id"]), []).append(p.get("outcome", ""))
            else:
                kept.append(p)
        counts = [_count(level.get("level", ""), site, outcomes).as_json() for site, outcomes in sorted(groups.items())]
        out.append({**level, "patients": kept, "other_sites": counts})
    return out


def decision_for_mask(decision: EscalationDecision, mask: SiteMask) -> EscalationDecision:
    """A read-only copy of `decision` for a masked reader (never saved): tally counted, free texts masked."""
    if not mask.hidden:
        return decision
    shown = copy.copy(decision)
    shown.tally = tally_for_mask(decision.tally, mask)
    for name in ("reason", "signature_meaning", "rejection_reason", "review_note"):
        setattr(shown, name, mask.text(getattr(decision, name)))
    shown.save = _refuse_save  # type: ignore[method-assign]
    return shown


def _refuse_save(*args, **kwargs):
    raise ValueError("A decision masked for a site-scoped reader is not saved.")


def decisions_for_user(decisions: list[EscalationDecision], user: User) -> list[EscalationDecision]:
    if not decisions:
        return []
    mask = site_mask(user, decisions[0].trial)
    return [decision_for_mask(d, mask) for d in decisions]


# ---------------------------------------------------------------- the statistician's design page and API (issue 18, points 3 and 4)
# No patient data: the protocol's design, its decision table and the operating characteristics of scenarios.

OC_METHODS = ("exact", "mc")
MAX_TRIALS = 2000  # Monte Carlo trials per request: TITE-BOIN, the slowest, takes about 1.5 s for 2,000 on 5 levels

PARAMETER_TEXT = {
    "target": "Target DLT rate",
    "phi1": "phi1: highest rate deemed sub-therapeutic",
    "phi2": "phi2: lowest rate deemed overly toxic",
    "cohort_size": "Cohort size",
    "max_n": "Maximum sample size",
    "n_stop": "Stop when the number treated at the current level reaches",
    "cutoff_eli": "Eliminate a level when P(rate > target | data) exceeds (Beta(1, 1) prior)",
    "stop_if_lowest_eliminated": "Stop the trial when the lowest level is eliminated",
    "window_days": "DLT assessment window (days)",
    "max_pending_fraction": "Suspend accrual when more of the level's patients than this fraction are pending",
    "ei_low": "Equivalence interval, lower end",
    "ei_high": "Equivalence interval, upper end",
}


@dataclass(frozen=True)
class DesignSheet:
    """A trial's design as the statistician reads it: parameters, the decision table, the 3+3's rules."""

    trial: Trial
    spec: DesignSpec
    ladder: rules.Ladder
    engine: Engine | None
    start: int  # index of the starting level
    parameters: tuple[tuple[str, str, object], ...]  # (name, meaning, value)
    lambdas: tuple[float, float] | None  # BOIN and TITE-BOIN: (lambda_e, lambda_d)
    rows: tuple[TableRow, ...]
    rule_texts: tuple[tuple[str, str], ...]  # 3+3: (code, what it does), from escalation/rules.py
    error: str = ""  # the design cannot be applied (its engine refuses the parameters)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.ladder.labels

    @property
    def tite(self) -> bool:
        return self.spec.name == "tite-boin"

    def as_json(self) -> dict[str, object]:
        return {
            "trial": self.trial.code,
            "design": self.spec.name,
            "levels": list(self.labels),
            "starting_level": self.labels[self.start],
            "parameters": {name: value for name, _, value in self.parameters},
            "lambda_e": round(self.lambdas[0], 4) if self.lambdas else None,
            "lambda_d": round(self.lambdas[1], 4) if self.lambdas else None,
            "decision_table": [{"n": r.n, "escalate": r.escalate, "stay": r.stay, "de_escalate": r.deescalate, "eliminate": r.eliminate} for r in self.rows],
            "rules": [{"rule": code, "text": text} for code, text in self.rule_texts],
            "error": self.error,
        }


def _three_plus_three_rules() -> tuple[tuple[str, str], ...]:
    """The 3+3 rules as escalation/rules.py documents them (its docstring's list of rule codes: one source)."""
    text = (rules.__doc__ or "").split("Rules (codes in Decision.rule):", 1)[-1]
    return tuple((m[1], m[2].strip()) for m in re.finditer(r"^  ([A-Z][A-Za-z0-9]+) +(\S.*)$", text, re.MULTILINE))


def design_sheet(trial: Trial) -> DesignSheet:
    """The trial's design, its parameters and its printable decision table (as `manage.py design table` prints it)."""
    spec = design_of(trial)
    ladder = ladder_for(trial)
    start = ladder.labels.index(ladder.start)
    if spec.name == "3+3":
        parameters: list[tuple[str, str, object]] = [
            ("cohort_size", "Cohort size", ladder.cohort_size),
            ("expanded_size", "A level expands to", ladder.expanded_size),
            ("escalation_cap", "Escalation phase at most (patients)", ladder.escalation_cap),
        ]
    else:
        parameters = [(name, PARAMETER_TEXT.get(name, name), value) for name, value in spec.as_json().items() if name != "name"]
    try:
        engine = engine_for(spec, ladder.labels, ladder)
        rows = tuple(decision_table(engine))
        lambdas = engine.lambdas if isinstance(engine, Boin) else None
    except (DesignError, rules.EscalationError) as exc:  # parameters the engine refuses: said on the page, never a 500
        return DesignSheet(trial, spec, ladder, None, start, tuple(parameters), None, (), (), str(exc))
    texts = _three_plus_three_rules() if spec.name == "3+3" else ()
    return DesignSheet(trial, spec, ladder, engine, start, tuple(parameters), lambdas, rows, texts)


def default_scenario(sheet: DesignSheet) -> tuple[float, ...]:
    """A scenario to start from: the true DLT rate rising evenly to the design's target at the middle level
    (3+3: to 1/3, the rate its rules aim below), then 0.15 a level beyond it."""
    k = len(sheet.labels)
    target = sheet.spec.target if sheet.spec.target is not None else 1 / 3
    middle = (k - 1) // 2
    rates = [target * (i + 1) / (middle + 1) if i <= middle else target + 0.15 * (i - middle) for i in range(k)]
    return tuple(round(min(rate, 0.95), 2) for rate in rates)


def design_oc(
    sheet: DesignSheet, true_tox: tuple[float, ...], *, method: str, trials: int | None = None, seed: int = 1, arrivals: float = 2.0
) -> OperatingCharacteristics:
    """The operating characteristics of a scenario: exact enumeration, or `trials` seeded Monte Carlo trials
    (TITE-BOIN: Monte Carlo only, with `arrivals` patients per assessment window). DesignError on what the design refuses."""
    if sheet.engine is None:
        raise DesignError(sheet.error or "The design cannot be applied.")
    if method not in OC_METHODS:
        raise DesignError(f"The method is exact or mc, not {method!r}.")
    if method == "exact":
        if sheet.tite:
            raise DesignError("TITE-BOIN is simulated by Monte Carlo only.")
        return simulate_exact(sheet.engine, true_tox, start=sheet.start)
    if trials is None or not 2 <= trials <= MAX_TRIALS:
        raise DesignError(f"Simulate between 2 and {MAX_TRIALS} trials.")
    if sheet.tite:
        return simulate_tite(sheet.engine, true_tox, trials=trials, seed=seed, assumptions=TiteAssumptions(arrivals), start=sheet.start)
    return simulate_trials(sheet.engine, true_tox, trials=trials, seed=seed, start=sheet.start)


def oc_table(oc: OperatingCharacteristics, true_tox: tuple[float, ...]) -> dict:
    """The OC table of the design page and API: a row per level (true rate, P(select) and E[patients] with their Monte Carlo
    standard errors, E[DLTs]), the standard error of P(no MTD) and the totals."""
    rows = [
        {
            "level": label,
            "true_tox": true_tox[i],
            "p_select": oc.p_select[i],
            "se_select": oc.se_select[i] if oc.se_select else None,
            "expected_n": oc.expected_n[i],
            "se_n": oc.se_n[i] if oc.se_n else None,
            "expected_dlt": oc.expected_dlt[i],
        }
        for i, label in enumerate(oc.labels)
    ]
    return {
        "oc_rows": rows,
        "se_none": oc.se_select[-1] if oc.se_select else None,
        "n_total": sum(oc.expected_n),
        "dlt_total": sum(oc.expected_dlt),
    }
