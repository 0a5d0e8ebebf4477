"""Dose-finding designs as protocol data (issue 18): 3+3, BOIN, TITE-BOIN and i3+3 behind one interface. Pure Python.

engine, start = engine_of(read_protocol(path))
step = engine.decide(state)            # DesignState -> Step (move, level, rule, reason with the numbers)
selection = engine.select(state)       # DesignState -> Selection (the MTD at the end)
"""

from __future__ import annotations

from cohorts.protocol import ProtocolSpec
from escalation.rules import ladder_of

from .core import DesignError, DesignState, LevelState, Move, Selection, Step
from .engines import Boin, Boundary, Engine, I3plus3, ThreePlusThree, TiteBoin, TiteCell, boin_lambdas, engine_for, stft_of

__all__ = [
    "Boin",
    "Boundary",
    "DesignError",
    "DesignState",
    "Engine",
    "I3plus3",
    "LevelState",
    "Move",
    "Selection",
    "Step",
    "ThreePlusThree",
    "TiteBoin",
    "TiteCell",
    "boin_lambdas",
    "engine_for",
    "engine_of",
    "stft_of",
]


def engine_of(spec: ProtocolSpec) -> tuple[Engine, int]:
    """The engine of a protocol's design over its ladder (lowest first), and the index of the starting level."""
    levels = sorted(spec.levels, key=lambda level: level.order)
    labels = tuple(str(level.label) for level in levels)
    start = labels.index(str(spec.trial.starting_level))
    return engine_for(spec.design, labels, ladder_of(spec)), start
