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
class TiteCell:
    """The TITE-BOIN rule at a level with `treated` patients, `dlt` DLTs and `pending` pending, as in the published
    decision table (Yuan et al. 2018, Table 1): `decision` is E (escalate), S (stay), D (de-escalate), DE (de-escalate
    and eliminate), SUS (suspend accrual), or E/S (escalate when STFT >= `escalate_from`, else stay), S/D (de-escalate
    when STFT <= `deescalate_to`, else stay); STFT = the pending patients' standardized total follow-up time."""

    decision: str
    escalate_from: float | None = None
    deescalate_to: float | None = None

    def at(self, stft: float) -> str:
        """The decision at a given STFT: one of E, S, D, DE, SUS."""
        if self.decision == "E/S":
            return "E" if self.escalate_from is not None and stft >= self.escalate_from else "S"
        if self.decision == "S/D":
            return "D" if self.deescalate_to is not None and stft <= self.deescalate_to else "S"
        return self.decision


@dataclass(frozen=True)
class TiteBoin(Boin):
    """TITE-BOIN (Yuan, Lin, Li, Nie, Warren 2018, Clin Cancer Res 24(20):4921, Supplementary Appendix A and Table 1).

    With pending patients at the current level (n treated, y DLTs observed, r = n - c completed, c pending, STFT = the
    sum of the pending patients' follow-up fractions), each pending outcome is imputed by single mean imputation under a
    uniform time to DLT: phat = (y + q (c - STFT)) / n with q = p / (1 - p), p = (y + a) / (r + 1) the posterior mean
    under the Beta(a, 1 - a) prior, a = target / 2. BOIN's lambda_e / lambda_d apply to phat, with escalation only while
    y / n < target and de-escalation only once y / n >= target. In the order of the published table: elimination (all n
    treated, the pending counted as without a DLT); de-escalation when y / n >= lambda_d whatever the pending outcomes;
    suspension when more than max_pending_fraction of the n are pending; then the rule on phat (a pair of thresholds
    on STFT). No pending patient: BOIN."""

    @cached_property
    def prior_a(self) -> float:
        return _target(self.spec) / 2

    def estimate(self, treated: int, dlt: int, pending: int, stft: float) -> float:
        """phat = (y + q (c - STFT)) / n of the single mean imputation (the published closed form)."""
        p = (dlt + self.prior_a) / (treated - pending + 1)
        return (dlt + p / (1 - p) * (pending - stft)) / treated

    def cell(self, treated: int, dlt: int, pending: int) -> TiteCell:
        """The rule at a middle level (both neighbours open), as a row of the published decision table."""
        lam_e, lam_d = self.lambdas
        cut = self.eliminate_at(treated)
        if cut is not None and dlt >= cut:
            return TiteCell("DE")
        if pending == 0:
            b = self.boundary(treated)
            return TiteCell("E" if dlt <= b.escalate_at_most else "D" if dlt >= b.deescalate_at_least else "S")
        if dlt >= treated * lam_d:
            return TiteCell("D")
        if pending / treated > self.spec.max_pending_fraction:
            return TiteCell("SUS")
        p = (dlt + self.prior_a) / (treated - pending + 1)
        odds = (1 - p) / p  # phat <= lambda_e  <=>  STFT >= c - odds (n lambda_e - y); phat >= lambda_d  <=>  STFT <= c - odds (n lambda_d - y)
        if dlt / treated < _target(self.spec):
            esc = pending - odds * (treated * lam_e - dlt)
            if esc <= 0:
                return TiteCell("E")
            return TiteCell("E/S", escalate_from=esc) if esc <= pending else TiteCell("S")
        deesc = pending - odds * (treated * lam_d - dlt)
        return TiteCell("S/D", deescalate_to=deesc) if deesc >= 0 else TiteCell("S")

    def _with_pending(self, state: DesignState) -> Step:
        d, x = state.current, state.levels[state.current]
        spec, elim, here, size = self.spec, state.eliminated_from, self.label(d), self.spec.cohort_size
        m, treated, stft = len(x.pending), x.treated, sum(x.pending)
        if state.treated >= spec.max_n:
            return self._complete(state, d, x.dlt, treated)
        cell = self.cell(treated, x.dlt, m)
        decision = cell.at(stft)
        if decision == "DE":
            if d > 0 or spec.stop_if_lowest_eliminated:
                observed = self._complete(state, d, x.dlt, treated)
                return replace(observed, reason=observed.reason + f" ({m} pending counted as without a DLT: more DLTs cannot change this)")
            decision = "D"  # the lowest level, kept open by the protocol: as a de-escalation there
        lam_e, lam_d = self.lambdas
        if decision == "D" and cell.decision in ("D", "DE"):
            head = f"{_s(x.dlt)} in {treated} treated at level {here} ({m} pending): {x.dlt / treated:.2f} >= lambda_d {lam_d:.4f}"
            if d > 0:
                step = Step(Move.DE_ESCALATE, d - 1, "TITE-D", f"{head} whatever the pending outcomes: de-escalate to level {self.label(d - 1)}", elim, size)
                return self._truncate(state, step)
            decision = "SUS" if m / treated > spec.max_pending_fraction else "S"  # the lowest level: stay, unless too many pending
        if decision == "SUS":
            return Step(
                Move.SUSPEND,
                d,
                "TITE-SUSPEND",
                f"Level {here}: {m} of {treated} patients pending ({m / treated:.0%} > {spec.max_pending_fraction:.0%}): accrual suspended.",
                elim,
            )
        phat = self.estimate(treated, x.dlt, m, stft)
        head = f"{_s(x.dlt)} in {treated} treated at level {here} ({x.n} complete, {m} pending, STFT {stft:.2f}): imputed phat {phat:.3f}"
        if decision == "E":
            bound = f" (escalate at STFT >= {cell.escalate_from:.2f})" if cell.escalate_from is not None else ""
            if self._can_escalate(d, elim):
                step = Step(Move.ESCALATE, d + 1, "TITE-E", f"{head} <= lambda_e {lam_e:.4f}{bound}: escalate to level {self.label(d + 1)}", elim, size)
                return self._truncate(state, step)
            why = "the top level" if d + 1 == len(self.labels) else f"level {self.label(d + 1)} is eliminated"
            step = Step(Move.STAY, d, "TITE-E-TOP", f"{head} <= lambda_e {lam_e:.4f}{bound}, but {why}: stay", elim, size)
        elif decision == "D" and d > 0:
            bound = f" (de-escalate at STFT <= {cell.deescalate_to:.2f})" if cell.deescalate_to is not None else ""
            step = Step(Move.DE_ESCALATE, d - 1, "TITE-D", f"{head} >= lambda_d {lam_d:.4f}{bound}: de-escalate to level {self.label(d - 1)}", elim, size)
            return self._truncate(state, step)
        else:
            where = " (the lowest level)" if decision == "D" else ""
            text = f"{head} between lambda_e {lam_e:.4f} and lambda_d {lam_d:.4f}{where}: stay"
            if cell.decision == "E/S" and cell.escalate_from is not None:
                text = f"{head} > lambda_e {lam_e:.4f} (escalate at STFT >= {cell.escalate_from:.2f}): stay"
            elif cell.decision == "S/D" and cell.deescalate_to is not None and decision != "D":
                text = f"{head} < lambda_d {lam_d:.4f} (de-escalate at STFT <= {cell.deescalate_to:.2f}): stay"
            step = Step(Move.STAY, d, "TITE-S", text, elim, size)
        if spec.n_stop is not None and treated >= spec.n_stop:
            return Step(
                Move.STOP,
                None,
                "NSTOP",
                f"{treated} patients at level {here} reach the stopping number {spec.n_stop} and the decision is to stay ({step.reason}); the MTD is selected.",
                elim,
            )
        return self._truncate(state, step)


def stft_of(x: LevelState) -> float:
    """Standardized total follow-up time of a level's pending patients: the sum of their follow-up fractions."""
    return sum(x.pending)


@dataclass(frozen=True)
class I3plus3(_Interval):
    """i3+3 (Liu, Wang, Ji 2020, J Biopharm Stat 30(2):294-304, as its authors' R package FIND states the rule): below
    the equivalence interval escalate, inside stay, above it de-escalate unless one DLT fewer would fall below the
    interval (then stay); the dose exclusion (Beta(1, 1), n >= 3) eliminates as BOIN's; the MTD as FIND's select_mtd,
    which is BOIN's select.mtd."""

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
