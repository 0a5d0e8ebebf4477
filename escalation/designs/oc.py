"""Operating characteristics of any engine (issue 18): exact by enumeration, and seeded Monte Carlo. Pure Python.

Exact: from the start, every cohort's number of DLTs is Binomial(slots, p) at the level the engine
sends it to; the expectation of every characteristic is memoised on the state (the counts per level,
the current level and the elimination), so each state is visited once. 3+3: escalation.rules.simulate_exact
(the one exact 3+3 enumeration), its result in this module's terms.
Monte Carlo: the same walk with a seeded generator; TITE-BOIN with arrivals and DLT times (`simulate_tite`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from math import sqrt

from escalation import rules

from .core import DesignError, DesignState, LevelState, Move, binom_pmf
from .engines import Engine, ThreePlusThree


@dataclass(frozen=True)
class OperatingCharacteristics:
    labels: tuple[str, ...]
    p_select: tuple[float, ...]  # P(select each level as the MTD)
    p_none: float  # P(no level selected: stopped for toxicity, or no MTD)
    expected_n: tuple[float, ...]  # E[patients per level]
    expected_dlt: tuple[float, ...]  # E[DLTs per level]
    p_overdose60: float  # get.oc: P(N at levels whose true rate exceeds the target > 0.6 x max_n); 3+3: > 0.6 x the patients treated
    p_overdose80: float
    overdose_threshold: float
    overdose_reported: bool = True  # get.oc reports overdose60/80 only when a level's true rate equals the target
    states: int = 0  # exact: the number of states enumerated
    trials: int | None = None  # Monte Carlo: the number of simulated trials
    se_select: tuple[float, ...] = ()  # Monte Carlo: standard errors of p_select
    se_n: tuple[float, ...] = ()  # Monte Carlo: standard errors of expected_n

    def as_json(self) -> dict[str, object]:
        return {
            "levels": list(self.labels),
            "p_select": dict(zip(self.labels, self.p_select, strict=True)),
            "p_none": self.p_none,
            "expected_n": dict(zip(self.labels, self.expected_n, strict=True)),
            "expected_n_total": sum(self.expected_n),
            "expected_dlt": dict(zip(self.labels, self.expected_dlt, strict=True)),
            "expected_dlt_total": sum(self.expected_dlt),
            "p_overdose60": self.p_overdose60,
            "p_overdose80": self.p_overdose80,
            "overdose_threshold": self.overdose_threshold,
            "overdose_reported": self.overdose_reported,
            "states": self.states,
            "trials": self.trials,
        }


def _check(engine: Engine, true_tox: Sequence[float]) -> tuple[float, ...]:
    if len(true_tox) != len(engine.labels):
        raise DesignError(f"Give one true DLT probability per level ({len(engine.labels)}), not {len(true_tox)}.")
    if any(not 0 <= p <= 1 for p in true_tox):
        raise DesignError("True DLT probabilities lie between 0 and 1.")
    return tuple(float(p) for p in true_tox)


def _threshold(engine: Engine) -> float:
    return engine.spec.target if engine.spec.target is not None else rules.OVERDOSE_RATE


def _terminal(engine: Engine, state: DesignState, above: tuple[bool, ...]) -> list[float]:
    """[select per level..., none, n per level..., dlt per level..., over60, over80] of a finished trial."""
    k = len(state.levels)
    sel = engine.select(state)
    out = [0.0] * (3 * k + 3)
    out[k if sel.mtd is None else sel.mtd] = 1.0
    total = over = 0
    for i, x in enumerate(state.levels):
        out[k + 1 + i] = x.n
        out[2 * k + 1 + i] = x.dlt
        total += x.n
        over += x.n if above[i] else 0
    # get.oc: the denominator is npts = ncohort x cohortsize (the maximum sample size), not the patients treated;
    # the 3+3 (no max_n) keeps the patients treated
    npts = engine.spec.max_n if engine.spec.max_n else total
    out[3 * k + 1] = 1.0 if npts and over > 0.6 * npts else 0.0
    out[3 * k + 2] = 1.0 if npts and over > 0.8 * npts else 0.0
    return out


def _result(engine: Engine, v: Sequence[float], tox: Sequence[float], **extra: object) -> OperatingCharacteristics:
    k = len(engine.labels)
    target = engine.spec.target
    return OperatingCharacteristics(
        labels=engine.labels,
        p_select=tuple(v[:k]),
        p_none=v[k],
        expected_n=tuple(v[k + 1 : 2 * k + 1]),
        expected_dlt=tuple(v[2 * k + 1 : 3 * k + 1]),
        p_overdose60=v[3 * k + 1],
        p_overdose80=v[3 * k + 2],
        overdose_threshold=_threshold(engine),
        overdose_reported=target is None or any(p == target for p in tox),
        **extra,  # type: ignore[arg-type]
    )


def simulate_exact(engine: Engine, true_tox: Sequence[float], *, start: int = 0) -> OperatingCharacteristics:
    """Exact operating characteristics by enumeration of every cohort outcome, memoised on the state.
    3+3: escalation.rules.simulate_exact, the one exact 3+3 enumeration, in this module's terms."""
    tox = _check(engine, true_tox)
    if isinstance(engine, ThreePlusThree):
        return _three_plus_three_exact(engine, tox, start)
    above = tuple(p > _threshold(engine) for p in tox)
    memo: dict[tuple[tuple[tuple[int, int], ...], int, int | None], list[float]] = {}
    width = 3 * len(tox) + 3
    weights: dict[tuple[int, int], list[float]] = {}

    def walk(counts: tuple[tuple[int, int], ...], current: int, elim: int | None) -> list[float]:
        key = (counts, current, elim)
        hit = memo.get(key)
        if hit is not None:
            return hit
        state = DesignState(tuple(LevelState(n, y) for n, y in counts), current, elim)
        step = engine.decide(state)
        if step.move == Move.STOP:
            out = _terminal(engine, state, above)
        elif step.level is None or step.slots < 1:
            raise DesignError(f"The engine's step {step.move.value} ({step.rule}) treats nobody: the walk cannot go on.")
        else:
            out = [0.0] * width
            i, slots = step.level, step.slots
            ws = weights.get((i, slots))
            if ws is None:
                ws = weights[(i, slots)] = [binom_pmf(y, slots, tox[i]) for y in range(slots + 1)]
            n0, y0 = counts[i]
            head, tail = counts[:i], counts[i + 1 :]
            for y, w in enumerate(ws):
                if w == 0.0:
                    continue
                sub = walk((*head, (n0 + slots, y0 + y), *tail), i, step.eliminated_from)
                out = [a + w * b for a, b in zip(out, sub, strict=True)]
        memo[key] = out
        return out

    v = walk(tuple((0, 0) for _ in tox), start, None)
    return _result(engine, v, tox, states=len(memo))


def _three_plus_three_exact(engine: ThreePlusThree, tox: tuple[float, ...], start: int) -> OperatingCharacteristics:
    ladder = replace(engine.ladder, start=engine.labels[start])
    try:
        c = rules.simulate_exact(ladder, tox)
    except rules.EscalationError as exc:
        raise DesignError(str(exc)) from exc
    labels = engine.labels
    return OperatingCharacteristics(
        labels=labels,
        p_select=tuple(c.p_mtd[label] for label in labels),
        p_none=c.p_stop,
        expected_n=tuple(c.expected_n_by_level[label] for label in labels),
        expected_dlt=tuple(c.expected_dlt_by_level[label] for label in labels),
        p_overdose60=c.p_overdose60,
        p_overdose80=c.p_overdose80,
        overdose_threshold=rules.OVERDOSE_RATE,
        states=c.states,
    )


def simulate_trials(engine: Engine, true_tox: Sequence[float], *, trials: int, seed: int, start: int = 0) -> OperatingCharacteristics:
    """Monte Carlo of the same walk: `trials` seeded trials (the same seed gives the same answer)."""
    tox = _check(engine, true_tox)
    if trials < 2:
        raise DesignError("Simulate at least two trials.")
    rng = random.Random(seed)  # noqa: S311 (simulation, not security)
    above = tuple(p > _threshold(engine) for p in tox)
    width = 3 * len(tox) + 3
    sums, squares = [0.0] * width, [0.0] * width
    for _ in range(trials):
        state = DesignState.start(len(tox), start)
        while True:
            step = engine.decide(state)
            if step.move == Move.STOP:
                break
            if step.level is None or step.slots < 1:
                raise DesignError(f"The engine's step {step.move.value} ({step.rule}) treats nobody.")
            y = sum(rng.random() < tox[step.level] for _ in range(step.slots))
            nxt = state.with_cohort(step.level, y, step.slots)
            state = DesignState(nxt.levels, nxt.current, step.eliminated_from)
        for j, value in enumerate(_terminal(engine, state, above)):
            sums[j] += value
            squares[j] += value * value
    return _mc_result(engine, sums, squares, trials, tox)


def _mc_result(engine: Engine, sums: list[float], squares: list[float], trials: int, tox: Sequence[float]) -> OperatingCharacteristics:
    k = len(engine.labels)
    mean = [s / trials for s in sums]
    se = [sqrt(max(q / trials - m * m, 0.0) / (trials - 1)) for q, m in zip(squares, mean, strict=True)]
    return _result(engine, mean, tox, trials=trials, se_select=tuple(se[: k + 1]), se_n=tuple(se[k + 1 : 2 * k + 1]))


@dataclass(frozen=True)
class TiteAssumptions:
    """Monte Carlo assumptions of TITE-BOIN: patients arrive as a Poisson process of `arrivals_per_window` patients per
    assessment window; a patient with a DLT has it at a time uniform over the window (the DLT times' assumption)."""

    arrivals_per_window: float = 2.0


def simulate_tite(
    engine: Engine, true_tox: Sequence[float], *, trials: int, seed: int, assumptions: TiteAssumptions | None = None, start: int = 0
) -> OperatingCharacteristics:
    """Monte Carlo of a time-to-event design (TITE-BOIN; BOIN runs here too, waiting whenever pending outcomes matter).

    Time in units of the assessment window, as the simulations of Yuan et al. (2018): a cohort's first patient enters
    at the decision time and the others one inter-arrival time apart; the next decision is taken when the next patient
    arrives, one more inter-arrival time later, on the data then known (each pending patient's follow-up fraction); on
    WAIT or SUSPEND that patient waits and time runs to the next outcome. At the maximum sample size the trial ends
    when every outcome is known.
    """
    tox = _check(engine, true_tox)
    a = assumptions or TiteAssumptions()
    if trials < 2 or a.arrivals_per_window <= 0:
        raise DesignError("Simulate at least two trials with a positive arrival rate.")
    rng = random.Random(seed)  # noqa: S311 (simulation, not security)
    above = tuple(p > _threshold(engine) for p in tox)
    width = 3 * len(tox) + 3
    sums, squares = [0.0] * width, [0.0] * width
    size = engine.spec.cohort_size
    for _ in range(trials):
        now, current, elim = 0.0, start, None
        patients: list[tuple[int, float, float | None]] = []  # (level, entry time, DLT time from entry or None)
        while True:
            state = _state_at(patients, len(tox), current, elim, now)
            step = engine.decide(state)
            if step.move == Move.STOP:
                # the trial ends when every patient's outcome is known
                state = _state_at(patients, len(tox), current, elim, float("inf"))
                break
            if step.move in (Move.WAIT, Move.SUSPEND):
                now = _next_event(patients, now)
                continue
            if step.level is None:
                raise DesignError(f"The engine's step {step.move.value} ({step.rule}) names no level.")
            elim, current = step.eliminated_from, step.level
            for k in range(step.slots or size):
                if k:
                    now += rng.expovariate(a.arrivals_per_window)
                dlt_time = rng.random() if rng.random() < tox[current] else None
                patients.append((current, now, dlt_time))
            now += rng.expovariate(a.arrivals_per_window)  # the next patient arrives: the next decision
        for j, value in enumerate(_terminal(engine, state, above)):
            sums[j] += value
            squares[j] += value * value
    return _mc_result(engine, sums, squares, trials, tox)


def _state_at(patients: list[tuple[int, float, float | None]], k: int, current: int, elim: int | None, now: float) -> DesignState:
    n, y, pending = [0] * k, [0] * k, [list[float]() for _ in range(k)]
    for level, entry, dlt in patients:
        followed = now - entry
        if dlt is not None and dlt <= followed:
            n[level] += 1
            y[level] += 1
        elif followed >= 1.0:
            n[level] += 1
        else:
            pending[level].append(max(0.0, min(1.0, followed)))
    return DesignState(tuple(LevelState(n[i], y[i], tuple(pending[i])) for i in range(k)), current, elim)


def _next_event(patients: list[tuple[int, float, float | None]], now: float) -> float:
    times = [entry + (dlt if dlt is not None else 1.0) for _, entry, dlt in patients]
    later = [t for t in times if t > now + 1e-12]
    if not later:
        raise DesignError("Waiting with nothing pending: the design cannot go on.")
    return min(later) + 1e-9
