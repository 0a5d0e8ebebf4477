"""Decision tables and look-ahead paths of any design (issue 18). Pure Python."""

from __future__ import annotations

from dataclasses import dataclass

from .core import DesignState, LevelState, Move, Step
from .engines import Boin, Engine, I3plus3, ThreePlusThree, TiteBoin, TiteCell


@dataclass(frozen=True)
class TableRow:
    n: int  # patients treated at the level
    escalate: str  # the DLT counts that escalate, e.g. "<= 1"
    stay: str
    deescalate: str
    eliminate: str

    def as_json(self) -> dict[str, object]:
        return {"n": self.n, "escalate": self.escalate, "stay": self.stay, "de-escalate": self.deescalate, "eliminate": self.eliminate}


def _span(ys: list[int]) -> str:
    if not ys:
        return "-"
    return str(ys[0]) if len(ys) == 1 else f"{ys[0]}-{ys[-1]}"


def decision_table(engine: Engine, *, step: int | None = None) -> list[TableRow]:
    """For each number treated at a level (multiples of the cohort size up to the maximum sample size), the DLT counts
    that escalate, stay, de-escalate and eliminate (a middle level of the ladder with both neighbours open).
    For 3+3 the rows are its two cohort sizes."""
    spec = engine.spec
    if isinstance(engine, ThreePlusThree):
        sizes = [engine.ladder.cohort_size, engine.ladder.expanded_size]
    else:
        k = step or spec.cohort_size
        sizes = list(range(k, spec.max_n + 1, k))
    k_levels = len(engine.labels)
    mid = 1 if k_levels >= 3 else 0
    rows = []
    for n in sizes:
        moves: dict[str, list[int]] = {"escalate": [], "stay": [], "de-escalate": [], "eliminate": [], "expand": [], "stop": []}
        for y in range(n + 1):
            levels = [LevelState() for _ in range(k_levels)]
            if isinstance(engine, ThreePlusThree):
                levels = [LevelState(engine.ladder.expanded_size, 0) if i < mid else LevelState() for i in range(k_levels)]
            levels[mid] = LevelState(n, y)
            state = DesignState(tuple(levels), mid)
            if isinstance(engine, Boin | I3plus3):
                s = engine.move(mid, y, n, None)
                cut = engine.eliminate_at(n)
                if cut is not None and y >= cut:
                    s = Step(Move.ELIMINATE, None, "ELIM", "")
            else:
                s = engine.decide(state)
            name = {Move.ELIMINATE: "eliminate", Move.DE_ESCALATE: "de-escalate", Move.ESCALATE: "escalate", Move.EXPAND: "expand"}.get(s.move, "stay")
            if s.move == Move.STOP:
                name = "stop" if isinstance(engine, ThreePlusThree) else "stay"
            if isinstance(engine, ThreePlusThree) and s.move == Move.STOP and s.rule == "MTD":
                name = "de-escalate"
            moves[name].append(y)
        stay = _span(moves["stay"] + moves["expand"]) + (" (expand)" if moves["expand"] else "")
        rows.append(TableRow(n, _span(moves["escalate"]), stay, _span(moves["de-escalate"] + moves["stop"]), _span(moves["eliminate"])))
    return rows


@dataclass(frozen=True)
class TiteRow:
    """One printed row of the TITE-BOIN decision table, laid out as Table 1 of Yuan et al. (2018): the patients treated
    at the level, the DLTs observed, the patients pending, and for each decision "Y", "Suspend", "Y & Elim" or the
    condition on STFT (the standardized total follow-up time of the pending patients) under which it is taken."""

    n: int
    dlts: str  # "1", "3, 4", ">= 5"
    pending: str  # "0", "3", "<= 4", ">= 5"
    escalate: str
    stay: str
    deescalate: str
    cell: TiteCell

    def as_json(self) -> dict[str, object]:
        return {"n": self.n, "dlts": self.dlts, "pending": self.pending, "escalate": self.escalate, "stay": self.stay, "de-escalate": self.deescalate}


_TITE_COLUMNS = {
    "E": ("Y", "", ""),
    "S": ("", "Y", ""),
    "D": ("", "", "Y"),
    "DE": ("", "", "Y & Elim"),
    "SUS": ("Suspend", "Suspend", "Suspend"),
}


def _tite_columns(cell: TiteCell) -> tuple[str, str, str]:
    if cell.decision == "E/S" and cell.escalate_from is not None:
        return f">= {cell.escalate_from:.2f}", f"< {cell.escalate_from:.2f}", ""
    if cell.decision == "S/D" and cell.deescalate_to is not None:
        return "", f"> {cell.deescalate_to:.2f}", f"<= {cell.deescalate_to:.2f}"
    return _TITE_COLUMNS[cell.decision]


def _count_label(lo: int, hi: int, open_ended: bool) -> str:
    if open_ended:
        return f">= {lo}"
    if lo == hi:
        return str(lo)
    return f"{lo}, {hi}" if hi == lo + 1 else f"{lo}-{hi}"


def _pending_label(lo: int, hi: int, end: int, cell: TiteCell) -> str:
    if cell.decision == "SUS" and hi == end:
        return f">= {lo}"
    if lo == hi:
        return str(lo)
    return f"<= {hi}" if lo == 0 else f"{lo}-{hi}"


def tite_decision_table(engine: TiteBoin, *, up_to: int | None = None) -> list[TiteRow]:
    """The TITE-BOIN decision table as the paper prints it (Yuan et al. 2018, Table 1): for n treated at a level
    (multiples of the cohort size up to `up_to`, default n_stop or the maximum sample size), each number of DLTs and of
    pending patients, with the decision or its STFT threshold. Runs of pending counts with one decision share a row
    (">= k" when they run to the end: suspension); DLT counts whose decision is the same for any number pending share a
    row (">= k" when they run to n)."""
    spec = engine.spec
    last = up_to or spec.n_stop or spec.max_n
    rows: list[TiteRow] = []
    for n in range(spec.cohort_size, last + 1, spec.cohort_size):
        per_y: list[list[tuple[int, int, TiteCell]]] = []
        for y in range(n + 1):
            runs: list[tuple[int, int, TiteCell]] = []
            for c in range(n - y + 1):
                cell = engine.cell(n, y, c)
                if runs and runs[-1][2] == cell and cell.decision not in ("E/S", "S/D"):
                    runs[-1] = (runs[-1][0], c, cell)
                else:
                    runs.append((c, c, cell))
            per_y.append(runs)
        y = 0
        while y <= n:
            runs = per_y[y]
            if len(runs) == 1:  # one decision whatever is pending: group the DLT counts that share it
                top = y
                while top + 1 <= n and len(per_y[top + 1]) == 1 and per_y[top + 1][0][2] == runs[0][2]:
                    top += 1
                cell = runs[0][2]
                rows.append(TiteRow(n, _count_label(y, top, top == n and top > y), _pending_label(0, n - y, n - y, cell), *_tite_columns(cell), cell))
                y = top + 1
                continue
            for lo, hi, cell in runs:
                rows.append(TiteRow(n, str(y), _pending_label(lo, hi, n - y, cell), *_tite_columns(cell), cell))
            y += 1
    return rows


@dataclass(frozen=True)
class Path:
    """One branch of the look-ahead: the DLTs in each next cohort and the step each leads to."""

    outcomes: tuple[tuple[int, int, int], ...]  # (level index, cohort size, DLTs) per cohort
    steps: tuple[Step, ...]


def look_ahead(engine: Engine, state: DesignState, *, cohorts: int = 2) -> list[Path]:
    """The dose paths of the next `cohorts` cohorts: every number of DLTs in each, and the decision it leads to.
    A branch ends early where the design stops or waits."""
    paths: list[Path] = []

    def grow_all(s: DesignState, outcomes: tuple[tuple[int, int, int], ...], steps: tuple[Step, ...], left: int) -> None:
        step = engine.decide(s)
        steps = (*steps, step)
        if left == 0 or step.move in (Move.STOP, Move.WAIT, Move.SUSPEND) or step.level is None or step.slots < 1:
            paths.append(Path(outcomes, steps))
            return
        for y in range(step.slots + 1):
            nxt = s.with_cohort(step.level, y, step.slots)
            grow_all(DesignState(nxt.levels, nxt.current, step.eliminated_from), (*outcomes, (step.level, step.slots, y)), steps, left - 1)

    grow_all(state, (), (), cohorts)
    return paths


def path_text(engine: Engine, path: Path) -> str:
    parts = [f"now: {path.steps[0].move.value}" + (f" to level {engine.labels[path.steps[0].level]}" if path.steps[0].level is not None else "")]
    for (level, size, y), step in zip(path.outcomes, path.steps[1:], strict=True):
        where = f" level {engine.labels[step.level]}" if step.level is not None else ""
        parts.append(f"{y}/{size} DLTs at level {engine.labels[level]} -> {step.move.value}{where} ({step.rule})")
    return "; ".join(parts)
