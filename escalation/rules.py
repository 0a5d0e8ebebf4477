"""The 3+3 dose-escalation rules (protocol s.2) and their exact operating characteristics. Pure Python.

Input: the ladder (dose level labels from lowest to highest, the starting level,
cohort size 3, expansion to 6, the escalation cap) and, per level, its patients,
each with a DLT, no DLT and evaluable, pending (until a date), or not evaluable.
Output: one Decision: the action, the level where the next patients go, the
MTD where declared, the rule that fired and a sentence a clinician can check.

The level the trial is at is derived from the tallies: with no level at 2 or
more DLTs it is the highest level with patients (escalation only goes up);
otherwise it is the level just below the lowest level with 2 or more DLTs
(that level is above the MTD, and the trial never escalates back into it).

Counting at a level: patients with a DLT or without one (evaluable) and pending
patients hold a place in the cohort; a not-evaluable patient (withdrew or
progressed in cycle 1 without a DLT) does not, so the slot reopens and the
patient is replaced. Every patient treated counts toward the escalation cap.

Decisions taken before a cohort is complete: only when the pending patients
cannot change them, i.e. 2 or more DLTs at a level (its later patients cannot
remove a DLT). A level is never declared safe early: a pending patient may yet
turn out not evaluable and need replacing.

Rules (codes in Decision.rule):
  ENROL   the cohort at the level still needs patients (first 3, the expansion to 6, or replacements)
  WAIT    the cohort is full; pending patients decide; enrolment at the level is on hold
  E0of3   0 DLTs in 3: escalate
  E1of3   1 DLT in 3: expand the level to 6
  E1of6   at most 1 DLT in 6: escalate
  TOP3    0 DLTs in 3 at the top level: expand to 6 (an MTD needs 6 evaluable patients)
  TOP6    at most 1 DLT in 6 at the top level: it is the MTD
  DOWN    2 or more DLTs: the level is above the MTD; the next patients go one level down
  BELOW3  the level below has 3 (or fewer) patients: expand it to 6 (never back up)
  MTD     the level below has 6 evaluable patients with at most 1 DLT: it is the MTD
  NONE    2 or more DLTs at the lowest level: no tolerable dose
  CAP     the next step would take the patients treated in escalation above the cap
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cache, lru_cache
from math import comb

from cohorts.protocol import ProtocolSpec


class EscalationError(Exception):
    """Inputs the rules cannot be applied to."""


class Outcome(StrEnum):
    DLT = "dlt"
    NO_DLT = "no_dlt"
    PENDING = "pending"
    NOT_EVALUABLE = "not_evaluable"


class Action(StrEnum):
    ENROL = "enrol"
    WAIT = "wait"
    ESCALATE = "escalate"
    EXPAND = "expand"
    DE_ESCALATE = "de-escalate"
    MTD = "mtd"
    STOP = "stop"
    ELIMINATE = "eliminate"  # the model-assisted designs (issue 18): the level and all above close, the next go one down
    SUSPEND = "suspend"  # tite-boin: too many pending at the level; like wait, nothing to sign


@dataclass(frozen=True)
class Patient:
    outcome: Outcome
    who: str = ""
    until: date | None = None  # a pending patient's evaluability date


@dataclass(frozen=True)
class Ladder:
    labels: tuple[str, ...]  # lowest first
    start: str
    cohort_size: int = 3
    expanded_size: int = 6
    escalation_cap: int = 24

    def __post_init__(self) -> None:
        if len(set(self.labels)) != len(self.labels) or not self.labels:
            raise EscalationError("Dose level labels must be distinct and at least one.")
        if self.start not in self.labels:
            raise EscalationError(f"The starting level {self.start} is not a level of the ladder.")


@dataclass(frozen=True)
class Tally:
    label: str
    dlt: int = 0
    no_dlt: int = 0
    pending: int = 0
    not_evaluable: int = 0
    waiting: tuple[Patient, ...] = ()

    @property
    def evaluable(self) -> int:
        return self.dlt + self.no_dlt

    @property
    def placed(self) -> int:
        """Patients holding a place in the level's cohort (not-evaluable ones are replaced)."""
        return self.dlt + self.no_dlt + self.pending

    @property
    def treated(self) -> int:
        return self.placed + self.not_evaluable

    def text(self) -> str:
        out = f"{self.dlt} DLT{'s' if self.dlt != 1 else ''} in {self.evaluable} evaluable"
        if self.pending:
            out += f", {self.pending} pending"
        if self.not_evaluable:
            out += f", {self.not_evaluable} not evaluable (replaced)"
        return out


@dataclass(frozen=True)
class Decision:
    action: Action
    level: str | None  # where the next patients go (enrol/escalate/expand/de-escalate), or the waiting level
    mtd: str | None
    rule: str
    reason: str
    slots: int = 0  # patients needed at `level` now
    waiting_for: tuple[Patient, ...] = ()
    tallies: tuple[Tally, ...] = field(default=(), compare=False)

    def as_json(self) -> dict[str, object]:
        return {"action": self.action.value, "level": self.level, "mtd": self.mtd, "reason": self.reason}


def tally(label: str, patients: Iterable[Patient]) -> Tally:
    counts = dict.fromkeys(Outcome, 0)
    waiting = []
    for p in patients:
        counts[p.outcome] += 1
        if p.outcome == Outcome.PENDING:
            waiting.append(p)
    return Tally(label, counts[Outcome.DLT], counts[Outcome.NO_DLT], counts[Outcome.PENDING], counts[Outcome.NOT_EVALUABLE], tuple(waiting))


# ---------------------------------------------------------------- the decision


def decide(ladder: Ladder, patients: Mapping[str, Sequence[Patient]], *, current: str | None = None) -> Decision:
    """The next step of the 3+3 given every level's patients.

    `current` (optional) is the level of the latest cohort; it changes only the
    wording between "de-escalate" and "expand"/"enrol" below a closed level.
    """
    unknown = set(patients) - set(ladder.labels)
    if unknown:
        raise EscalationError(f"Unknown dose level(s): {', '.join(sorted(unknown))}.")
    t = [tally(label, patients.get(label, ())) for label in ladder.labels]
    for x in t:
        if x.placed > ladder.expanded_size:
            raise EscalationError(f"Level {x.label} has {x.placed} patients: more than {ladder.expanded_size} in escalation.")
    d = _decide(ladder, t, current)
    return Decision(d.action, d.level, d.mtd, d.rule, d.reason, d.slots, d.waiting_for, tuple(t))


def _treated(t: list[Tally]) -> int:
    return sum(x.treated for x in t)


def _needs(ladder: Ladder, t: list[Tally], action: Action, i: int, slots: int, rule: str, reason: str) -> Decision:
    """A step that needs `slots` more patients at level i, unless the escalation cap forbids it."""
    return within_cap(ladder, _treated(t), Decision(action, ladder.labels[i], None, rule, reason, slots))


def within_cap(ladder: Ladder, treated: int, d: Decision) -> Decision:
    """`d`, or a stop when the `d.slots` more patients it needs would take the escalation (`treated` so far, the
    not-evaluable included) past its cap: the one cap rule of every design."""
    if treated + d.slots > ladder.escalation_cap:
        return Decision(
            Action.STOP,
            d.level,
            None,
            "CAP",
            f"Escalation cap reached: {treated} patients treated in escalation, the cap is {ladder.escalation_cap}; "
            f"the next step ({d.reason[0].lower() + d.reason[1:].rstrip('.')}) would need {d.slots} more at level {d.level}. "
            "Raising the cap is a protocol amendment.",
        )
    return d


def _wait(ladder: Ladder, x: Tally, size: int) -> Decision:
    names = ", ".join(f"{p.who or 'a patient'}" + (f" (until {p.until.isoformat()})" if p.until else "") for p in x.waiting)
    return Decision(
        Action.WAIT,
        x.label,
        None,
        "WAIT",
        f"Level {x.label} cohort is full ({x.placed} of {size}: {x.text()}); waiting for {names}. Enrolment at level {x.label} is on hold.",
        0,
        x.waiting,
    )


def _cohort_in_progress(ladder: Ladder, t: list[Tally], i: int) -> Decision | None:
    """Enrol or wait while the level's cohort (3, or 6 once expansion began) is not complete."""
    x = t[i]
    size = ladder.expanded_size if x.placed > ladder.cohort_size else ladder.cohort_size
    if x.placed < size:
        what = "its cohort" if size == ladder.cohort_size else "its expansion to 6"
        if x.not_evaluable and x.placed >= (size - x.not_evaluable):
            what += " (replacing patients not evaluable)"
        return _needs(ladder, t, Action.ENROL, i, size - x.placed, "ENROL", f"Level {x.label} needs {size - x.placed} more patient(s) for {what} ({x.text()}).")
    if x.pending:
        return _wait(ladder, x, size)
    return None


def _decide(ladder: Ladder, t: list[Tally], current: str | None) -> Decision:
    labels = ladder.labels
    closed = [i for i, x in enumerate(t) if x.dlt >= 2]
    if closed:
        return _below_closed(ladder, t, min(closed), current)
    placed = [i for i, x in enumerate(t) if x.treated]
    i = max(placed) if placed else labels.index(ladder.start)  # escalation only goes up
    x = t[i]
    step = _cohort_in_progress(ladder, t, i)
    if step is not None:
        return step
    top = i == len(labels) - 1
    if x.placed == ladder.cohort_size:
        if x.dlt == 1:
            return _needs(ladder, t, Action.EXPAND, i, ladder.expanded_size - x.placed, "E1of3", f"1 DLT in 3 at level {x.label}: expand the level to 6.")
        if top:
            return _needs(
                ladder, t, Action.EXPAND, i, ladder.expanded_size - x.placed, "TOP3", f"0 DLTs in 3 at the top level {x.label}: expand to 6 (an MTD needs 6)."
            )
        return _needs(ladder, t, Action.ESCALATE, i + 1, ladder.cohort_size, "E0of3", f"0 DLTs in 3 at level {x.label}: escalate to level {labels[i + 1]}.")
    if top:
        return Decision(Action.MTD, x.label, x.label, "TOP6", f"{x.dlt} DLT in 6 at the top level {x.label}: it is the MTD.")
    return _needs(ladder, t, Action.ESCALATE, i + 1, ladder.cohort_size, "E1of6", f"{x.dlt} DLT in 6 at level {x.label}: escalate to level {labels[i + 1]}.")


def _below_closed(ladder: Ladder, t: list[Tally], k: int, current: str | None) -> Decision:
    labels = ladder.labels
    above = t[k]
    if k == 0:
        return Decision(Action.STOP, None, None, "NONE", f"{above.text()} at the lowest level {above.label}: no tolerable dose.")
    b = k - 1
    x = t[b]
    why = f"level {above.label} had {above.dlt} DLTs ({above.text()})"
    why_cap = why[0].upper() + why[1:]
    if x.placed >= ladder.expanded_size and not x.pending:
        return Decision(
            Action.MTD, x.label, x.label, "MTD", f"Level {x.label} has {x.dlt} DLT in {x.evaluable} evaluable and {why}: level {x.label} is the MTD."
        )
    came_down = current is None or current == above.label or current not in labels
    if x.placed in (0, ladder.cohort_size) and not x.pending and (came_down or x.placed == 0):
        slots = ladder.cohort_size if x.placed == 0 else ladder.expanded_size - x.placed
        rule = "DOWN" if x.placed == 0 else "BELOW3"
        what = "a cohort of 3" if x.placed == 0 else f"expand it to 6 ({x.text()})"
        return _needs(ladder, t, Action.DE_ESCALATE, b, slots, rule, f"{why_cap}, above the MTD: de-escalate to level {x.label}, {what}.")
    if x.placed == ladder.cohort_size and not x.pending:
        return _needs(
            ladder,
            t,
            Action.EXPAND,
            b,
            ladder.expanded_size - x.placed,
            "BELOW3",
            f"Level {x.label}: {x.text()}; {why} and is never re-entered: expand level {x.label} to 6.",
        )
    step = _cohort_in_progress(ladder, t, b)
    if step is not None:
        return step
    raise EscalationError(f"Level {x.label} is in a state the rules do not reach ({x.text()}).")  # pragma: no cover


# ---------------------------------------------------------------- operating characteristics


@dataclass(frozen=True)
class Characteristics:
    p_mtd: dict[str, float]
    p_stop: float
    expected_n: float
    expected_n_by_level: dict[str, float]
    expected_dlt: float
    p_cap: float = 0.0  # part of p_stop: stopped by the escalation cap
    trials: int | None = None  # Monte Carlo: number of simulated trials
    expected_dlt_by_level: dict[str, float] = field(default_factory=dict)
    # P(more than 60% / 80% of the patients treated are at levels whose true DLT rate exceeds 1/3)
    p_overdose60: float = 0.0
    p_overdose80: float = 0.0
    states: int = 0  # exact: the number of states enumerated

    def as_json(self) -> dict[str, object]:
        return {
            "p_mtd": self.p_mtd,
            "p_stop": self.p_stop,
            "expected_n": self.expected_n,
            "expected_n_by_level": self.expected_n_by_level,
            "expected_dlt": self.expected_dlt,
        }


OVERDOSE_RATE = 1 / 3  # the 3+3's risk of overdosing counts the patients at levels whose true DLT rate exceeds this


def _overdosed(counts: Sequence[tuple[int, int]], above: Sequence[bool]) -> tuple[float, float]:
    """(1, 1), (1, 0) or (0, 0): whether more than 60% / 80% of the patients treated are at the levels above."""
    total = sum(n for n, _ in counts)
    over = sum(n for (n, _), a in zip(counts, above, strict=True) if a)
    return (1.0 if total and over > 0.6 * total else 0.0), (1.0 if total and over > 0.8 * total else 0.0)


def _check_tox(ladder: Ladder, true_tox: Sequence[float]) -> tuple[float, ...]:
    if len(true_tox) != len(ladder.labels):
        raise EscalationError(f"Give one true DLT probability per level ({len(ladder.labels)}), not {len(true_tox)}.")
    if any(not 0 <= p <= 1 for p in true_tox):
        raise EscalationError("True DLT probabilities lie between 0 and 1.")
    return tuple(float(p) for p in true_tox)


def _state_patients(ladder: Ladder, counts: tuple[tuple[int, int], ...]) -> dict[str, list[Patient]]:
    return {label: [Patient(Outcome.DLT)] * d + [Patient(Outcome.NO_DLT)] * (n - d) for label, (n, d) in zip(ladder.labels, counts, strict=True) if n}


def _step(ladder: Ladder, counts: tuple[tuple[int, int], ...], current: str) -> Decision:
    return decide(ladder, _state_patients(ladder, counts), current=current)


# What an exact walk returns from a state on: P(MTD per level), P(stop), P(stop at the cap), E[n per level],
# E[DLTs per level], P(overdose 60%), P(overdose 80%).
_Walk = tuple[tuple[float, ...], float, float, tuple[float, ...], tuple[float, ...], float, float]


def _named(label: str | None, decision: Decision) -> str:
    """The level a decision names (every action the simulators follow names one: the MTD, or where patients go)."""
    if label is None:
        raise EscalationError(f"The decision {decision.action.value} ({decision.rule}) names no level.")
    return label


def simulate_exact(ladder: Ladder, true_tox: Sequence[float]) -> Characteristics:
    """Exact operating characteristics by enumerating every cohort outcome (binomial), with memoisation.

    Each cohort's patients are all evaluable; the number of DLTs in k patients at a
    level with true probability p is Binomial(k, p). The one exact 3+3 enumeration: the designs'
    simulator (escalation.designs.oc) calls it for a 3+3 protocol.
    """
    tox = _check_tox(ladder, true_tox)
    labels = ladder.labels
    n_levels = len(labels)
    above = tuple(p > OVERDOSE_RATE for p in tox)

    @cache
    def walk(counts: tuple[tuple[int, int], ...], current: str) -> _Walk:
        """(P(mtd per level), P(stop), P(cap), E[n per level], E[dlt per level], P(over60), P(over80)) from this state on."""
        decision = _step(ladder, counts, current)
        zero = (0.0,) * n_levels
        if decision.action in (Action.MTD, Action.STOP):
            o60, o80 = _overdosed(counts, above)
            if decision.action == Action.MTD:
                return tuple(1.0 if label == decision.mtd else 0.0 for label in labels), 0.0, 0.0, zero, zero, o60, o80
            return zero, 1.0, 1.0 if decision.rule == "CAP" else 0.0, zero, zero, o60, o80
        level = _named(decision.level, decision)
        i = labels.index(level)
        k, p = decision.slots, tox[i]
        mtd, stop, cap, n_by, dlt_by, o60, o80 = [0.0] * n_levels, 0.0, 0.0, [0.0] * n_levels, [0.0] * n_levels, 0.0, 0.0
        for d in range(k + 1):
            w = comb(k, d) * p**d * (1 - p) ** (k - d)
            if w == 0.0:
                continue
            n, dd = counts[i]
            nxt = (*counts[:i], (n + k, dd + d), *counts[i + 1 :])
            m2, s2, c2, nb2, db2, a2, b2 = walk(nxt, level)
            for j in range(n_levels):
                mtd[j] += w * m2[j]
                n_by[j] += w * nb2[j]
                dlt_by[j] += w * db2[j]
            stop += w * s2
            cap += w * c2
            dlt_by[i] += w * d
            o60 += w * a2
            o80 += w * b2
        n_by[i] += k
        return tuple(mtd), stop, cap, tuple(n_by), tuple(dlt_by), o60, o80

    start = tuple((0, 0) for _ in labels)
    mtd, stop, cap, n_by, dlt_by, o60, o80 = walk(start, ladder.start)
    return Characteristics(
        p_mtd=dict(zip(labels, mtd, strict=True)),
        p_stop=stop,
        expected_n=sum(n_by),
        expected_n_by_level=dict(zip(labels, n_by, strict=True)),
        expected_dlt=sum(dlt_by),
        p_cap=cap,
        expected_dlt_by_level=dict(zip(labels, dlt_by, strict=True)),
        p_overdose60=o60,
        p_overdose80=o80,
        states=walk.cache_info().currsize,
    )


def simulate_trials(ladder: Ladder, true_tox: Sequence[float], *, trials: int, seed: int) -> Characteristics:
    """Monte Carlo: `trials` simulated trials with a seeded generator (the same seed gives the same answer)."""
    tox = _check_tox(ladder, true_tox)
    if trials < 1:
        raise EscalationError("Simulate at least one trial.")
    rng = random.Random(seed)  # noqa: S311 (simulation, not security)
    labels = ladder.labels
    above = tuple(p > OVERDOSE_RATE for p in tox)
    mtd = dict.fromkeys(labels, 0)
    stops = caps = 0
    o60 = o80 = 0.0
    n_by = dict.fromkeys(labels, 0)
    dlt_by = dict.fromkeys(labels, 0)
    step = lru_cache(maxsize=None)(lambda counts, current: _step(ladder, counts, current))
    for _ in range(trials):
        counts = tuple((0, 0) for _ in labels)
        current = ladder.start
        while True:
            decision = step(counts, current)
            if decision.action == Action.MTD:
                mtd[_named(decision.mtd, decision)] += 1
                break
            if decision.action == Action.STOP:
                stops += 1
                caps += decision.rule == "CAP"
                break
            level = _named(decision.level, decision)
            i = labels.index(level)
            d = sum(rng.random() < tox[i] for _ in range(decision.slots))
            n, dd = counts[i]
            counts = (*counts[:i], (n + decision.slots, dd + d), *counts[i + 1 :])
            n_by[level] += decision.slots
            dlt_by[level] += d
            current = level
        a, b = _overdosed(counts, above)
        o60 += a
        o80 += b
    return Characteristics(
        p_mtd={k: v / trials for k, v in mtd.items()},
        p_stop=stops / trials,
        expected_n=sum(n_by.values()) / trials,
        expected_n_by_level={k: v / trials for k, v in n_by.items()},
        expected_dlt=sum(dlt_by.values()) / trials,
        p_cap=caps / trials,
        trials=trials,
        expected_dlt_by_level={k: v / trials for k, v in dlt_by.items()},
        p_overdose60=o60 / trials,
        p_overdose80=o80 / trials,
    )


# ---------------------------------------------------------------- the statisticians' notation


def parse_outcomes(text: str, ladder: Ladder) -> tuple[dict[str, list[Patient]], str | None]:
    """ "1NNN 2NTN 2NNN": one token per cohort, the level label then a letter per patient
    (N no DLT, T DLT, P pending, X not evaluable). Returns the patients per level and the last cohort's level."""
    letters = {"N": Outcome.NO_DLT, "T": Outcome.DLT, "P": Outcome.PENDING, "X": Outcome.NOT_EVALUABLE}
    patients: dict[str, list[Patient]] = {}
    current = None
    for number, token in enumerate(text.split(), start=1):
        label = token.rstrip("NTPXntpx")
        marks = token[len(label) :].upper()
        if label not in ladder.labels:
            raise EscalationError(f"Cohort {number} ({token!r}): {label!r} is not a dose level ({', '.join(ladder.labels)}).")
        if not marks:
            raise EscalationError(f"Cohort {number} ({token!r}): give a letter per patient (N, T, P or X).")
        for k, mark in enumerate(marks, start=1):
            patients.setdefault(label, []).append(Patient(letters[mark], who=f"cohort {number} patient {k}"))
        current = label
    return patients, current


def ladder_of(spec: ProtocolSpec) -> Ladder:
    """The 3+3 ladder the protocol defines: its levels lowest first, the starting level, the cohort sizes, the escalation cap."""
    t = spec.trial
    labels = tuple(str(level.label) for level in sorted(spec.levels, key=lambda level: level.order))
    return Ladder(labels=labels, start=str(t.starting_level), cohort_size=t.cohort_size, expanded_size=t.cohort_max_size, escalation_cap=t.cap_escalation)
