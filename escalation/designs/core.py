"""The common interface of the dose-finding designs (issue 18). Pure Python, standard library only.

State in (per level: patients with a DLT, evaluable without one, pending with their follow-up
fraction; the current level; the lowest eliminated level), one `Step` out: the action, the level
where the next patients go, the rule that fired and a sentence with the numbers. At the end,
`Selection`: the MTD (or none) and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from math import comb

from cohorts.protocol import DesignSpec


class DesignError(Exception):
    """Inputs a design cannot be applied to."""


class Move(StrEnum):
    ESCALATE = "escalate"
    STAY = "stay"
    DE_ESCALATE = "de-escalate"
    ELIMINATE = "eliminate"  # the current level and all above are eliminated; the next patients go one level down
    EXPAND = "expand"  # 3+3 only: more patients at the level before deciding
    WAIT = "wait"  # pending outcomes could change the decision: enrolment waits
    SUSPEND = "suspend"  # tite-boin: too many pending at the level
    STOP = "stop"  # the trial ends; `select` gives the MTD


@dataclass(frozen=True)
class LevelState:
    """One dose level: `n` patients with a known outcome (DLT or completed without), `dlt` of them with a DLT,
    and the follow-up fraction (0..1 of the assessment window) of each pending patient."""

    n: int = 0
    dlt: int = 0
    pending: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.dlt <= self.n or (self.pending and any(not 0 <= f <= 1 for f in self.pending)):
            raise DesignError(f"A level has {self.dlt} DLTs in {self.n} patients and pending fractions {self.pending}: not possible.")

    @property
    def treated(self) -> int:
        return self.n + len(self.pending)


@dataclass(frozen=True)
class DesignState:
    levels: tuple[LevelState, ...]  # lowest first
    current: int  # index of the level of the latest cohort (the start before any patient)
    eliminated_from: int | None = None  # index of the lowest eliminated level (it and all above are closed)

    def __post_init__(self) -> None:
        if not 0 <= self.current < len(self.levels):
            raise DesignError(f"The current level index {self.current} is not one of the {len(self.levels)} levels.")
        if self.eliminated_from is not None and not 0 <= self.eliminated_from < len(self.levels):
            raise DesignError(f"The eliminated level index {self.eliminated_from} is not one of the levels.")

    @cached_property
    def treated(self) -> int:
        return sum(x.n + len(x.pending) for x in self.levels)

    @classmethod
    def start(cls, n_levels: int, start: int = 0) -> DesignState:
        return cls(tuple(LevelState() for _ in range(n_levels)), start)

    def key(self) -> tuple[tuple[tuple[int, int], ...], int, int | None]:
        return tuple((x.n, x.dlt) for x in self.levels), self.current, self.eliminated_from

    def with_cohort(self, level: int, dlts: int, size: int) -> DesignState:
        x = self.levels[level]
        levels = (*self.levels[:level], LevelState(x.n + size, x.dlt + dlts, x.pending), *self.levels[level + 1 :])
        return DesignState(levels, level, self.eliminated_from)


@dataclass(frozen=True)
class Step:
    move: Move
    level: int | None  # where the next patients go (None when stopping with no level)
    rule: str
    reason: str
    eliminated_from: int | None = None  # the elimination after this step
    slots: int = 0  # patients to enrol now at `level`
    numbers: dict[str, float] = field(default_factory=dict, compare=False)

    def as_json(self) -> dict[str, object]:
        return {
            "move": self.move.value,
            "level": self.level,
            "rule": self.rule,
            "reason": self.reason,
            "eliminated_from": self.eliminated_from,
            "slots": self.slots,
        }


@dataclass(frozen=True)
class Selection:
    mtd: int | None  # index of the selected level, None when no level is selected
    rule: str
    reason: str
    estimates: tuple[float | None, ...] = ()  # the isotonic estimate per level (None where not estimable)


# ---------------------------------------------------------------- numbers shared by the designs


def binom_pmf(k: int, n: int, p: float) -> float:
    return comb(n, k) * p**k * (1 - p) ** (n - k)


def beta_sf(x: float, a: int, b: int) -> float:
    """P(X > x) for X ~ Beta(a, b), integer a, b >= 1: P(Binomial(a + b - 1, x) <= a - 1)."""
    m = a + b - 1
    return sum(binom_pmf(j, m, x) for j in range(a))


def overly_toxic(y: int, n: int, target: float, cutoff: float) -> bool:
    """The safety rule (BOIN, i3+3): n >= 3 and P(p > target | y of n, Beta(1, 1) prior) > cutoff."""
    return n >= 3 and beta_sf(target, y + 1, n - y + 1) > cutoff


def elimination_count(n: int, target: float, cutoff: float) -> int | None:
    """The smallest number of DLTs in n that eliminates a level (None when n < 3 or none does), as BOIN's get.boundary."""
    if n < 3:
        return None
    for y in range(1, n + 1):  # get.boundary: for (ntox in 1:n)
        if overly_toxic(y, n, target, cutoff):
            return y
    return None


def pava(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Weighted isotonic (non-decreasing) regression, step for step as select.mtd's pava: repeatedly pool the level
    sets of the first adjacent violation (x[i + 1] < x[i]) into sum(x * w) / sum(w) over their members."""
    x, w = [float(v) for v in values], [float(v) for v in weights]
    if len(x) != len(w):
        raise ValueError("values and weights differ in length")
    n = len(x)
    if n <= 1:
        return x
    sets = list(range(n))
    while True:
        viol = [i for i in range(n - 1) if x[i + 1] - x[i] < 0]
        if not viol:
            return x
        i = viol[0]
        a, b = sets[i], sets[i + 1]
        members = [j for j in range(n) if sets[j] in (a, b)]
        pooled = sum(x[j] * w[j] for j in members) / sum(w[j] for j in members)
        for j in members:
            x[j] = pooled
            sets[j] = a


def select_closest(spec: DesignSpec, state: DesignState, eliminate_at: Callable[[int], int | None] | None = None) -> Selection:
    """The MTD as BOIN's select.mtd: levels eliminated by the safety rule (recomputed on the final data) are excluded;
    over the levels tried, phat = (y + 0.05) / (n + 0.1) smoothed by PAVA with weights 1 / var; the level closest to the
    target, ties broken as select.mtd does (phat + i x 1e-10, then the first in order): above the target the lower level,
    below it the higher one."""
    target = _target(spec)
    levels = state.levels
    eliminated = len(levels)
    for i, x in enumerate(levels):
        cut = eliminate_at(x.n) if eliminate_at is not None else elimination_count(x.n, target, spec.cutoff_eli)
        if cut is not None and x.dlt >= cut:
            eliminated = i
            break
    if state.eliminated_from is not None:
        eliminated = min(eliminated, state.eliminated_from)
    if eliminated == 0:
        return Selection(None, "NONE", f"The lowest level is eliminated (P(rate > {target:g}) > {spec.cutoff_eli:g}): no level is selected.")
    tried = [i for i in range(eliminated) if levels[i].n > 0]
    if not tried:
        return Selection(None, "NONE", "No level below the eliminated ones has a patient with a known outcome: no level is selected.")
    phat = [(levels[i].dlt + 0.05) / (levels[i].n + 0.1) for i in tried]
    var = [(levels[i].dlt + 0.05) * (levels[i].n - levels[i].dlt + 0.05) / ((levels[i].n + 0.1) ** 2 * (levels[i].n + 0.1 + 1)) for i in tried]
    iso = pava(phat, [1 / v for v in var])
    adjusted = [p + (k + 1) * 1e-10 for k, p in enumerate(iso)]
    best = min(range(len(tried)), key=lambda k: (abs(adjusted[k] - target), k))
    estimates: list[float | None] = [None] * len(levels)
    for k, i in enumerate(tried):
        estimates[i] = iso[k]
    i = tried[best]
    return Selection(
        i,
        "PAVA",
        f"Isotonic estimate {iso[best]:.3f} at level index {i} ({levels[i].dlt} DLTs in {levels[i].n}) is the closest to the target {target:g} "
        f"among the levels tried and not eliminated.",
        tuple(estimates),
    )


def _target(spec: DesignSpec) -> float:
    if spec.target is None:
        raise DesignError(f"The {spec.name} design needs a target DLT rate.")
    return spec.target
