"""One pure engine per design behind one interface (issue 18). Standard library only.

Each engine has `decide(state) -> Step` (the next move after the latest cohort) and
`select(state) -> Selection` (the MTD at the end). `engine_for(spec, labels)` gives the
engine the protocol's design names. The 3+3 engine wraps escalation.rules unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from functools import cached_property
from math import ceil, floor, log
from typing import Protocol

from cohorts.protocol import DesignSpec
from escalation import rules

from .core import DesignError, DesignState, LevelState, Move, Selection, Step, _target, elimination_count, select_closest


class Engine(Protocol):
    @property
    def spec(self) -> DesignSpec: ...

    @property
    def labels(self) -> tuple[str, ...]: ...

    def decide(self, state: DesignState) -> Step: ...

    def select(self, state: DesignState) -> Selection: ...


@dataclass(frozen=True)
class Boundary:
    n: int
    escalate_at_most: int  # escalate when DLTs <= this (-1: never)
    deescalate_at_least: int  # de-escalate when DLTs >= this (> n: never)
    eliminate_at_least: int | None  # eliminate when DLTs >= this (None: n < 3 or never)


def boin_lambdas(target: float, phi1: float, phi2: float) -> tuple[float, float]:
    """lambda_e and lambda_d of Liu & Yuan (2015), as BOIN's get.boundary computes them."""
    lam_e = log((1 - phi1) / (1 - target)) / log(target * (1 - phi1) / (phi1 * (1 - target)))
    lam_d = log((1 - target) / (1 - phi2)) / log(phi2 * (1 - target) / (target * (1 - phi2)))
    return lam_e, lam_d


def _s(k: int, word: str = "DLT") -> str:
    return f"{k} {word}{'s' if k != 1 else ''}"


@dataclass(frozen=True)
class _Interval(ABC):
    """Common frame of the interval designs (BOIN, TITE-BOIN, i3+3): stopping, elimination, waiting on pending outcomes."""

    spec: DesignSpec
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        _target(self.spec)
        if not self.labels:
            raise DesignError("A ladder needs at least one level.")

    def label(self, i: int) -> str:
        return self.labels[i]

    def select(self, state: DesignState) -> Selection:
        sel = select_closest(self.spec, state, self.eliminate_at)
        if sel.mtd is None:
            return sel
        return Selection(sel.mtd, sel.rule, sel.reason.replace(f"level index {sel.mtd}", f"level {self.label(sel.mtd)}"), sel.estimates)

    @cached_property
    def _elim(self) -> tuple[int | None, ...]:
        return tuple(elimination_count(n, _target(self.spec), self.spec.cutoff_eli) for n in range(self.spec.max_n + 1))

    def eliminate_at(self, n: int) -> int | None:
        return self._elim[n] if n < len(self._elim) else elimination_count(n, _target(self.spec), self.spec.cutoff_eli)

    @abstractmethod
    def move(self, d: int, y: int, n: int, elim: int | None) -> Step:
        """The design's own step at level `d` with `y` DLTs in `n` (`elim`: the elimination count at n)."""

    def decide(self, state: DesignState) -> Step:
        if len(state.levels) != len(self.labels):
            raise DesignError(f"The state has {len(state.levels)} levels, the ladder {len(self.labels)}.")
        return self._decide(state)

    def _decide(self, state: DesignState) -> Step:
        d, x = state.current, state.levels[state.current]
        if x.pending:
            return self._with_pending(state)
        return self._complete(state, d, x.dlt, x.n)

    def _complete(self, state: DesignState, d: int, y: int, n: int) -> Step:
        """get.oc's order after a cohort: the maximum sample size ends the trial (the last cohort truncated to the
        patients left); else elimination (the lowest level: stop, no MTD); else the early stop at n_stop, only when
        the decision would be to stay; else escalate / de-escalate / stay."""
        spec, elim, here = self.spec, state.eliminated_from, self.label(state.current)
        if n == 0 and state.treated < spec.max_n:
            step = Step(Move.STAY, d, "START", f"No patient yet at level {here}: treat a cohort of {spec.cohort_size}.", elim, spec.cohort_size)
            return self._truncate(state, step)
        if state.treated >= spec.max_n:
            return Step(
                Move.STOP, None, "MAXN", f"{state.treated} patients treated: the maximum sample size {spec.max_n} is reached; the MTD is selected.", elim
            )
        cut = self.eliminate_at(n)
        if cut is not None and y >= cut and (d > 0 or spec.stop_if_lowest_eliminated):
            text = f"{_s(y)} in {n} at level {here}: P(rate > {spec.target:g}) > {spec.cutoff_eli:g} (eliminate at {cut} or more in {n})"
            text += f": level {here} and above are eliminated"
            new = d if elim is None else min(d, elim)
            if d == 0:
                return Step(Move.STOP, None, "ELIM0", text + "; the lowest level is too toxic: the trial stops with no MTD.", new)
            step = Step(Move.ELIMINATE, d - 1, "ELIM", text + f"; the next patients go to level {self.label(d - 1)}.", new, spec.cohort_size)
            return self._truncate(state, step)
        step = self.move(d, y, n, elim)
        if spec.n_stop is not None and n >= spec.n_stop and step.move == Move.STAY:
            return Step(
                Move.STOP,
                None,
                "NSTOP",
                f"{n} patients at level {here} reach the stopping number {spec.n_stop} and the decision is to stay ({step.reason}); the MTD is selected.",
                elim,
            )
        return self._truncate(state, step)

    def _truncate(self, state: DesignState, step: Step) -> Step:
        """get.oc: the last cohort is cut to the patients left under the maximum sample size."""
        left = self.spec.max_n - state.treated
        return replace(step, slots=left) if 0 < left < step.slots else step

    def _can_escalate(self, d: int, elim: int | None) -> bool:
        return d + 1 < len(self.labels) and (elim is None or d + 1 < elim)

    def _with_pending(self, state: DesignState) -> Step:
        """Decide before the pending outcomes only if every way they can turn out leads to the same step."""
        d, x = state.current, state.levels[state.current]
        m = len(x.pending)
        outcomes = [self._complete(state, d, x.dlt + k, x.n + m) for k in range(m + 1)]
        first = outcomes[0]
        if all((o.move, o.level, o.eliminated_from) == (first.move, first.level, first.eliminated_from) for o in outcomes):
            return Step(
                first.move,
                first.level,
                first.rule,
                first.reason + f" (decided with {m} pending: any outcome of theirs gives the same step)",
                first.eliminated_from,
                first.slots,
            )
        return Step(
            Move.WAIT,
            d,
            "WAIT",
            f"Level {self.label(d)}: {_s(x.dlt)} in {x.n} with {m} pending; their outcomes can change the decision "
            f"({', '.join(sorted({o.move.value for o in outcomes}))}): waiting.",
            state.eliminated_from,
        )


@dataclass(frozen=True)
class Boin(_Interval):
    """BOIN (Liu & Yuan 2015) as the R package BOIN (get.boundary, get.oc, select.mtd) runs it."""

    @cached_property
    def lambdas(self) -> tuple[float, float]:
        s = self.spec
        if s.phi1 is None or s.phi2 is None:
            raise DesignError("BOIN needs phi1 and phi2.")
        return boin_lambdas(_target(s), s.phi1, s.phi2)

    def boundary(self, n: int) -> Boundary:
        lam_e, lam_d = self.lambdas
        elim = self.eliminate_at(n)
        b_d = ceil(n * lam_d)  # get.boundary: ceiling(lambda_d n), capped at the elimination count
        return Boundary(n, floor(n * lam_e), b_d if elim is None else min(b_d, elim), elim)

    def move(self, d: int, y: int, n: int, elim: int | None) -> Step:
        """get.oc: escalate when y <= b.e (not above the top, not into an eliminated level), de-escalate when y >= b.d
        (not below the lowest), otherwise stay; b.e = floor(n lambda_e), b.d = ceiling(n lambda_d)."""
        lam_e, lam_d = self.lambdas
        b = self.boundary(n)
        rate, here, size = y / n, self.label(d), self.spec.cohort_size
        head = f"{_s(y)} in {n} at level {here}: {rate:.2f}"
        if y <= b.escalate_at_most:
            if self._can_escalate(d, elim):
                return Step(Move.ESCALATE, d + 1, "BOIN-E", f"{head} <= lambda_e {lam_e:.4f}? yes: escalate to level {self.label(d + 1)}", elim, size)
            why = "the top level" if d + 1 == len(self.labels) else f"level {self.label(d + 1)} is eliminated"
            return Step(Move.STAY, d, "BOIN-E-TOP", f"{head} <= lambda_e {lam_e:.4f}? yes, but {why}: stay", elim, size)
        if y >= b.deescalate_at_least and d > 0:
            return Step(Move.DE_ESCALATE, d - 1, "BOIN-D", f"{head} >= lambda_d {lam_d:.4f}? yes: de-escalate to level {self.label(d - 1)}", elim, size)
        if y >= b.deescalate_at_least:
            return Step(Move.STAY, d, "BOIN-D-LOW", f"{head} >= lambda_d {lam_d:.4f}? yes, but it is the lowest level: stay", elim, size)
        return Step(Move.STAY, d, "BOIN-S", f"{head} > lambda_e {lam_e:.4f} and < lambda_d {lam_d:.4f}: stay", elim, size)


@dataclass(frozen=True)
class TiteBoin(Boin):
    """TITE-BOIN (Yuan et al. 2018): pending patients count by their follow-up fraction in the effective sample size
    ESS = completed + sum of follow-up fractions (Lin & Yuan 2020's approximation); phat = DLTs / ESS on BOIN's boundaries.
    Accrual is suspended when more than max_pending_fraction of the level's patients are pending and the DLTs seen do
    not already de-escalate or eliminate."""

    def _with_pending(self, state: DesignState) -> Step:
        """In the order of the TITE-BOIN decision table (Yuan et al. 2018): DLTs already at or above the de-escalation
        (or elimination) count of all the patients treated de-escalate (eliminate) now, whatever is pending; a step that
        no pending outcome can change is taken; otherwise accrual is suspended when more than max_pending_fraction of
        the level's patients are pending; otherwise phat = DLTs / ESS on BOIN's boundaries."""
        d, x = state.current, state.levels[state.current]
        m, treated = len(x.pending), x.treated
        observed = self._complete(state, d, x.dlt, treated)
        if observed.move in (Move.DE_ESCALATE, Move.ELIMINATE) or observed.rule == "ELIM0":
            return replace(observed, reason=observed.reason + f" ({m} pending count as without a DLT: more DLTs cannot change this)")
        sure = super()._with_pending(state)
        if sure.move != Move.WAIT:
            return sure
        if m / treated > self.spec.max_pending_fraction:
            return Step(
                Move.SUSPEND,
                d,
                "TITE-SUSPEND",
                f"Level {self.label(d)}: {m} of {treated} patients pending ({m / treated:.0%} > {self.spec.max_pending_fraction:.0%}): accrual suspended.",
                state.eliminated_from,
            )
        ess = ess_of(x)
        lam_e, lam_d = self.lambdas
        rate, here, elim, size = x.dlt / ess, self.label(d), state.eliminated_from, self.spec.cohort_size
        head = f"{_s(x.dlt)} in ESS {ess:.2f} ({x.n} complete + {m} pending, follow-up {sum(x.pending):.2f}) at level {here}: {rate:.2f}"
        if rate <= lam_e and self._can_escalate(d, elim):
            step = Step(Move.ESCALATE, d + 1, "TITE-E", f"{head} <= lambda_e {lam_e:.4f}? yes: escalate to level {self.label(d + 1)}", elim, size)
            return self._truncate(state, step)
        if rate >= lam_d and d > 0:
            step = Step(Move.DE_ESCALATE, d - 1, "TITE-D", f"{head} >= lambda_d {lam_d:.4f}? yes: de-escalate to level {self.label(d - 1)}", elim, size)
            return self._truncate(state, step)
        text = f"{head} between the boundaries (lambda_e {lam_e:.4f}, lambda_d {lam_d:.4f}) or no move possible: stay"
        return self._truncate(state, Step(Move.STAY, d, "TITE-S", text, elim, size))


def ess_of(x: LevelState) -> float:
    """Effective sample size of a level: patients with a known outcome + the follow-up fraction of each pending one."""
    return x.n + sum(x.pending)


@dataclass(frozen=True)
class I3plus3(_Interval):
    """i3+3 (Liu, Wang, Ji 2020): below the equivalence interval escalate, inside stay, above it de-escalate unless one
    DLT fewer would fall below the interval (then stay); the safety rule eliminates as BOIN's."""

    def move(self, d: int, y: int, n: int, elim: int | None) -> Step:
        lo, hi = self.spec.ei_low, self.spec.ei_high
        if lo is None or hi is None:
            raise DesignError("i3+3 needs the equivalence interval.")
        rate, here, size = y / n, self.label(d), self.spec.cohort_size
        head = f"{_s(y)} in {n} at level {here}: {rate:.2f}"
        if rate < lo:
            if self._can_escalate(d, elim):
                return Step(Move.ESCALATE, d + 1, "I3-E", f"{head} below the interval [{lo:g}, {hi:g}]: escalate to level {self.label(d + 1)}", elim, size)
            return Step(Move.STAY, d, "I3-E-TOP", f"{head} below the interval [{lo:g}, {hi:g}], no higher level open: stay", elim, size)
        if rate <= hi:
            return Step(Move.STAY, d, "I3-S", f"{head} inside the interval [{lo:g}, {hi:g}]: stay", elim, size)
        if (y - 1) / n < lo:
            return Step(Move.STAY, d, "I3-S1", f"{head} above the interval [{lo:g}, {hi:g}] but (y-1)/n = {(y - 1) / n:.2f} < {lo:g}: stay", elim, size)
        if d == 0:
            return Step(Move.STAY, d, "I3-D-LOW", f"{head} above the interval [{lo:g}, {hi:g}], at the lowest level: stay", elim, size)
        return Step(Move.DE_ESCALATE, d - 1, "I3-D", f"{head} above the interval [{lo:g}, {hi:g}]: de-escalate to level {self.label(d - 1)}", elim, size)


_MOVES = {
    rules.Action.ENROL: Move.STAY,
    rules.Action.WAIT: Move.WAIT,
    rules.Action.ESCALATE: Move.ESCALATE,
    rules.Action.EXPAND: Move.EXPAND,
    rules.Action.DE_ESCALATE: Move.DE_ESCALATE,
    rules.Action.MTD: Move.STOP,
    rules.Action.STOP: Move.STOP,
}


@dataclass(frozen=True)
class ThreePlusThree:
    """Today's 3+3 (escalation.rules.decide), unchanged, behind the common interface."""

    spec: DesignSpec
    labels: tuple[str, ...]
    ladder: rules.Ladder

    def decision(self, state: DesignState) -> rules.Decision:
        patients = {}
        for label, x in zip(self.labels, state.levels, strict=True):
            ps = [rules.Patient(rules.Outcome.DLT)] * x.dlt + [rules.Patient(rules.Outcome.NO_DLT)] * (x.n - x.dlt)
            ps += [rules.Patient(rules.Outcome.PENDING)] * len(x.pending)
            if ps:
                patients[label] = ps
        return rules.decide(self.ladder, patients, current=self.labels[state.current])

    def decide(self, state: DesignState) -> Step:
        d = self.decision(state)
        level = self.labels.index(d.level) if d.level is not None and d.action not in (rules.Action.MTD, rules.Action.STOP) else None
        return Step(_MOVES[d.action], level, d.rule, d.reason, state.eliminated_from, d.slots)

    def select(self, state: DesignState) -> Selection:
        d = self.decision(state)
        if d.action == rules.Action.MTD and d.mtd is not None:
            return Selection(self.labels.index(d.mtd), d.rule, d.reason)
        return Selection(None, d.rule, d.reason if d.action == rules.Action.STOP else f"The 3+3 has not ended ({d.rule}): no MTD yet.")


def engine_for(spec: DesignSpec, labels: tuple[str, ...], ladder: rules.Ladder | None = None) -> Engine:
    """The engine of the protocol's design. 3+3 needs the trial's ladder (rules.ladder_of(protocol))."""
    if spec.name == "3+3":
        if ladder is None:
            raise DesignError("The 3+3 engine needs the trial's ladder.")
        return ThreePlusThree(spec, labels, ladder)
    if spec.name == "boin":
        return Boin(spec, labels)
    if spec.name == "tite-boin":
        return TiteBoin(spec, labels)
    if spec.name == "i3+3":
        return I3plus3(spec, labels)
    raise DesignError(f"Unknown design {spec.name!r}.")
