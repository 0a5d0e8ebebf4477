"""Protocol files (TOML) turned into checked, immutable data. No Django here.

`parse_protocol(dict)` validates a whole protocol and returns a `ProtocolSpec`;
every problem is collected into one `ProtocolError`, so an author sees them all.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

UNITS = ("mg/m2", "mg")
DOSE_RE = re.compile(r"^\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>mg/m2|mg)\s*$")


class ProtocolError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class DrugSpec:
    code: str
    name: str
    route: str
    reduced_dose_mg: Decimal | None = None  # a flat-dose reduction the investigator may make
    reduction_from_cycle: int | None = None


@dataclass(frozen=True)
class DoseSpec:
    drug: str
    amount: Decimal
    unit: str


@dataclass(frozen=True)
class LevelSpec:
    label: int
    order: int
    doses: tuple[DoseSpec, ...]


@dataclass(frozen=True)
class ScheduleSpec:
    drug: str
    route: str
    days: tuple[int, ...]
    first_cycle: int
    last_cycle: int | None


@dataclass(frozen=True)
class CriterionSpec:
    code: str
    text: str


@dataclass(frozen=True)
class TrialSpec:
    code: str
    nct_id: str
    title: str
    phase: str
    design: str
    version: str
    cycle_length_days: int
    dlt_window_days: int
    cohort_size: int
    cohort_max_size: int
    cap_escalation: int
    cap_expansion: int
    cap_total: int
    visit_window_days: int
    starting_level: int
    follow_up_years: int
    follow_up_interval_days: int
    visit_days: tuple[int, ...]
    ctcae: str = "5.0"  # the CTCAE version the protocol grades adverse events by (a terminology loaded by `load_ctcae`)


DESIGNS = ("3+3", "boin", "tite-boin", "i3+3")
_COMMON_KEYS = {"target", "cohort_size", "max_n", "n_stop", "cutoff_eli", "stop_if_lowest_eliminated"}
DESIGN_KEYS = {
    "3+3": set[str](),
    "boin": _COMMON_KEYS | {"phi1", "phi2"},
    "tite-boin": _COMMON_KEYS | {"phi1", "phi2", "window_days", "max_pending_fraction"},
    "i3+3": _COMMON_KEYS | {"equivalence"},
}


@dataclass(frozen=True)
class DesignSpec:
    """The dose-finding design and its parameters (trial.design names it; the [design] table sets it).

    3+3 needs no [design] table (its sizes and cap are the trial's). For boin / tite-boin / i3+3:
    target (the target DLT rate), cohort_size and max_n are required; the rest have the defaults
    of the publications and of the R package BOIN.
    """

    name: str = "3+3"
    target: float | None = None
    phi1: float | None = None  # boin: the highest rate deemed sub-therapeutic (default 0.6 x target)
    phi2: float | None = None  # boin: the lowest rate deemed overly toxic (default 1.4 x target)
    cohort_size: int = 3
    max_n: int = 0  # boin / i3+3: the maximum sample size (0 for 3+3: the trial's escalation cap governs)
    n_stop: int | None = None  # stop when the number treated at the current level reaches this (R: n.earlystop)
    cutoff_eli: float = 0.95  # eliminate a level when P(p > target | data) > cutoff, Beta(1, 1) prior
    stop_if_lowest_eliminated: bool = True
    window_days: int | None = None  # tite-boin: the DLT assessment window
    max_pending_fraction: float = 0.5  # tite-boin: suspend accrual when more of the level's patients are pending
    ei_low: float | None = None  # i3+3: the equivalence interval [ei_low, ei_high] around the target
    ei_high: float | None = None

    def as_json(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DesignSpec:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ProtocolSpec:
    trial: TrialSpec
    drugs: tuple[DrugSpec, ...]
    levels: tuple[LevelSpec, ...]
    schedules: tuple[ScheduleSpec, ...]
    eligibility: tuple[CriterionSpec, ...]
    design: DesignSpec = DesignSpec()


INT_FIELDS = (
    "cycle_length_days",
    "dlt_window_days",
    "cohort_size",
    "cohort_max_size",
    "cap_escalation",
    "cap_expansion",
    "cap_total",
    "visit_window_days",
    "starting_level",
    "follow_up_years",
    "follow_up_interval_days",
)
STR_FIELDS = ("code", "nct_id", "title", "phase", "design", "version")


def parse_days(value: object) -> tuple[int, ...]:
    """Days of a cycle: a list of ints or a range string such as "1-21"."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value)
        if not match:
            raise ValueError(f'days {value!r}: use a list such as [1, 8] or a range such as "1-21"')
        first, last = int(match[1]), int(match[2])
        if first > last:
            raise ValueError(f"days {value!r}: the range goes backwards")
        return tuple(range(first, last + 1))
    if isinstance(value, list) and value and all(isinstance(d, int) for d in value):
        return tuple(sorted(set(value)))
    raise ValueError(f'days {value!r}: use a list such as [1, 8] or a range such as "1-21"')


def parse_dose(drug: str, text: object) -> DoseSpec:
    match = DOSE_RE.match(str(text))
    if not match:
        raise ValueError(f'dose {text!r} for {drug}: write an amount and a unit ({" or ".join(UNITS)}), e.g. "120 mg/m2"')
    try:
        amount = Decimal(match["amount"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
        raise ValueError(f"dose {text!r}") from exc
    return DoseSpec(drug=drug, amount=amount, unit=match["unit"])


def parse_protocol(data: dict[str, Any]) -> ProtocolSpec:
    """The whole protocol checked section by section; every problem found is collected, in the file's order."""
    problems: list[str] = []
    raw_trial = data.get("trial") or {}
    trial_values = _trial_values(raw_trial, problems)
    drugs = _drugs(data.get("drugs") or [], problems)
    drug_codes = {d.code for d in drugs}
    levels = _levels(data.get("levels") or [], drug_codes, trial_values, problems)
    schedules = _schedules(data.get("schedules") or [], drug_codes, trial_values.get("cycle_length_days"), problems)
    criteria = _criteria(data.get("eligibility") or [], problems)
    _check_trial_numbers(trial_values, problems)
    _visit_days(raw_trial, trial_values, problems)
    design = parse_design(raw_trial.get("design"), data.get("design"), trial_values, problems)
    if problems:
        raise ProtocolError(problems)
    return ProtocolSpec(
        trial=TrialSpec(**trial_values),  # type: ignore[arg-type]
        drugs=tuple(drugs),
        levels=tuple(levels),
        schedules=tuple(schedules),
        eligibility=tuple(criteria),
        design=design,
    )


def _trial_values(raw_trial: dict[str, Any], problems: list[str]) -> dict[str, object]:
    trial_values: dict[str, object] = {}
    for name in STR_FIELDS:
        value = raw_trial.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"trial.{name} is required (text)")
        trial_values[name] = value
    for name in INT_FIELDS:
        value = raw_trial.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"trial.{name} is required (a whole number)")
        trial_values[name] = value
    ctcae = raw_trial.get("ctcae", "5.0")
    if not isinstance(ctcae, str) or not re.fullmatch(r"\d+\.\d+", ctcae):
        problems.append('trial.ctcae must be a CTCAE version such as "5.0" (text)')
    trial_values["ctcae"] = ctcae
    if isinstance(trial_values.get("code"), str) and not re.fullmatch(r"[A-Z][A-Z0-9]{1,9}", str(trial_values["code"])):
        problems.append("trial.code must be 2-10 capital letters or digits (it starts every study id)")
    return trial_values


def _drugs(raw_drugs: list[Any], problems: list[str]) -> list[DrugSpec]:
    drugs = []
    for raw in raw_drugs:
        if not raw.get("code") or not raw.get("name"):
            problems.append(f"drug {raw!r}: code and name are required")
            continue
        reduced, from_cycle = None, None
        if raw.get("reduction") is not None:
            reduction = raw["reduction"]
            try:
                dose = parse_dose(raw["code"], reduction.get("dose"))
            except ValueError as exc:
                problems.append(f"drug {raw['code']} reduction: {exc}")
                continue
            from_cycle = reduction.get("from_cycle")
            if dose.unit != "mg" or not isinstance(from_cycle, int) or from_cycle < 1:
                problems.append(f"drug {raw['code']} reduction: a flat dose in mg and a from_cycle >= 1 are required")
                continue
            reduced = dose.amount
        drugs.append(DrugSpec(code=raw["code"], name=raw["name"], route=raw.get("route", ""), reduced_dose_mg=reduced, reduction_from_cycle=from_cycle))
    if not drugs:
        problems.append("at least one [[drugs]] entry is required")
    if len({d.code for d in drugs}) != len(drugs):
        problems.append("drug codes must be unique")
    return drugs


def _levels(raw_levels: list[Any], drug_codes: set[str], trial_values: dict[str, object], problems: list[str]) -> list[LevelSpec]:
    levels = []
    for order, raw in enumerate(raw_levels, start=1):
        label = raw.get("label")
        if not isinstance(label, int) or isinstance(label, bool):
            problems.append(f"level #{order}: label must be a whole number")
            continue
        levels.append(LevelSpec(label=label, order=order, doses=_level_doses(label, raw.get("doses") or {}, drug_codes, problems)))
    labels = [lv.label for lv in levels]
    if not levels:
        problems.append("at least one [[levels]] entry is required")
    if len(set(labels)) != len(labels):
        problems.append("level labels must be unique")
    if labels != sorted(labels):
        problems.append("levels must be listed from the lowest dose to the highest")
    if isinstance(trial_values.get("starting_level"), int) and trial_values["starting_level"] not in labels:
        problems.append(f"trial.starting_level {trial_values['starting_level']} is not one of the levels {labels}")
    return levels


def _level_doses(label: int, raw_doses: dict[str, Any], drug_codes: set[str], problems: list[str]) -> tuple[DoseSpec, ...]:
    doses = []
    for drug, text in raw_doses.items():
        if drug not in drug_codes:
            problems.append(f"level {label}: unknown drug {drug!r}")
            continue
        try:
            doses.append(parse_dose(drug, text))
        except ValueError as exc:
            problems.append(f"level {label}: {exc}")
    missing = drug_codes - set(raw_doses)
    if missing:
        problems.append(f"level {label}: no dose for {', '.join(sorted(missing))}")
    return tuple(doses)


def _schedules(raw_schedules: list[Any], drug_codes: set[str], cycle_length: object, problems: list[str]) -> list[ScheduleSpec]:
    schedules = []
    for raw in raw_schedules:
        drug = raw.get("drug")
        if drug not in drug_codes:
            problems.append(f"schedule: unknown drug {drug!r}")
            continue
        try:
            days = parse_days(raw.get("days"))
        except ValueError as exc:
            problems.append(f"schedule for {drug}: {exc}")
            continue
        if isinstance(cycle_length, int) and (days[0] < 1 or days[-1] > cycle_length):
            problems.append(f"schedule for {drug}: days must lie within 1-{cycle_length}")
        first, last = raw.get("first_cycle", 1), raw.get("last_cycle")
        if not isinstance(first, int) or first < 1 or (last is not None and (not isinstance(last, int) or last < first)):
            problems.append(f"schedule for {drug}: cycles must be whole numbers with first_cycle >= 1 and last_cycle >= first_cycle")
            continue
        schedules.append(ScheduleSpec(drug=drug, route=raw.get("route", ""), days=days, first_cycle=first, last_cycle=last))
    return schedules


def _criteria(raw_criteria: list[Any], problems: list[str]) -> list[CriterionSpec]:
    criteria = []
    for raw in raw_criteria:
        if not raw.get("code") or not raw.get("text"):
            problems.append(f"eligibility {raw!r}: code and text are required")
            continue
        criteria.append(CriterionSpec(code=raw["code"], text=raw["text"]))
    if len({c.code for c in criteria}) != len(criteria):
        problems.append("eligibility codes must be unique")
    return criteria


def _check_trial_numbers(trial_values: dict[str, object], problems: list[str]) -> None:
    """Cohort size, caps, cycle length and DLT window against each other (once each is a whole number)."""
    ints = {k: v for k, v in trial_values.items() if k in INT_FIELDS and isinstance(v, int)}
    if len(ints) == len(INT_FIELDS):
        if not 1 <= ints["cohort_size"] <= ints["cohort_max_size"]:
            problems.append("trial.cohort_size must be at least 1 and at most cohort_max_size")
        if ints["cap_total"] > ints["cap_escalation"] + ints["cap_expansion"]:
            problems.append("trial.cap_total cannot exceed cap_escalation + cap_expansion")
        if min(ints["cap_escalation"], ints["cap_total"], ints["cycle_length_days"], ints["dlt_window_days"]) < 1:
            problems.append("caps, cycle length and DLT window must be positive")


def _visit_days(raw_trial: dict[str, Any], trial_values: dict[str, object], problems: list[str]) -> None:
    """trial.visit_days into trial_values, within the cycle."""
    try:
        days = parse_days(raw_trial.get("visit_days"))
    except ValueError:
        problems.append("trial.visit_days is required: the days of a cycle with a visit, e.g. [1, 8, 15, 22]")
    else:
        trial_values["visit_days"] = days
        cycle_length = trial_values.get("cycle_length_days")
        if isinstance(cycle_length, int) and not all(1 <= d <= cycle_length for d in days):
            problems.append(f"trial.visit_days must lie within 1-{cycle_length}")


def _number(raw: dict[str, Any], key: str, problems: list[str], *, default: float | None = None) -> float | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"design.{key} must be a number")
        return None
    return float(value)


def _whole(raw: dict[str, Any], key: str, problems: list[str], default: int | None) -> int | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.append(f"design.{key} must be a whole number of at least 1")
        return None
    return value


def _design_extras(name: str, raw: dict[str, Any], target: float | None, trial_values: dict[str, object], problems: list[str]) -> dict[str, object]:
    """The parameters particular to boin / tite-boin (phi1, phi2, the window, the pending fraction) and i3+3 (the interval)."""
    phi1 = phi2 = ei_low = ei_high = window = None
    pending = 0.5
    if name in ("boin", "tite-boin") and target is not None:
        phi1 = _number(raw, "phi1", problems, default=0.6 * target)
        phi2 = _number(raw, "phi2", problems, default=1.4 * target)
        if phi1 is not None and phi2 is not None and not 0 < phi1 < target < phi2 < 1:
            problems.append(f"design.phi1 and phi2 must satisfy 0 < phi1 < target ({target}) < phi2 < 1")
    if name == "tite-boin":
        window = _whole(raw, "window_days", problems, trial_values.get("dlt_window_days") if isinstance(trial_values.get("dlt_window_days"), int) else None)  # type: ignore[arg-type]
        if window is None:
            problems.append("design.window_days is required for tite-boin: the DLT assessment window in days")
        value = _number(raw, "max_pending_fraction", problems, default=0.5)
        if value is not None and not 0 <= value <= 1:
            problems.append("design.max_pending_fraction must lie between 0 and 1")
        pending = value if value is not None else 0.5
    if name == "i3+3":
        ei = raw.get("equivalence")
        if not (isinstance(ei, list) and len(ei) == 2 and all(isinstance(x, int | float) and not isinstance(x, bool) for x in ei)):
            problems.append("design.equivalence is required for i3+3: the equivalence interval as [low, high], e.g. [0.25, 0.35]")
        else:
            ei_low, ei_high = float(ei[0]), float(ei[1])
            if target is not None and not 0 <= ei_low <= target <= ei_high < 1:
                problems.append(f"design.equivalence must contain the target ({target}): 0 <= low <= target <= high < 1")
    return {"phi1": phi1, "phi2": phi2, "window_days": window, "max_pending_fraction": pending, "ei_low": ei_low, "ei_high": ei_high}


def parse_design(name: object, raw: object, trial_values: dict[str, object], problems: list[str]) -> DesignSpec:
    """trial.design and the [design] table checked against each other; problems appended, a DesignSpec returned regardless."""
    if name not in DESIGNS:
        if isinstance(name, str):
            problems.append(f"trial.design {name!r} is not a design this system runs ({', '.join(DESIGNS)})")
        return DesignSpec()
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.append("[design] must be a table")
        return DesignSpec(name=str(name))
    known = DESIGN_KEYS[str(name)]
    for key in sorted(set(raw) - known):
        problems.append(f"design.{key} is not a parameter of the {name} design" + (f" (it takes {', '.join(sorted(known))})" if known else ""))
    if name == "3+3":
        size = trial_values.get("cohort_size")
        return DesignSpec(name="3+3", cohort_size=size if isinstance(size, int) else 3)
    before = len(problems)
    target = _number(raw, "target", problems)
    if target is None or not 0 < target < 1:
        problems.append(f"design.target is required for {name}: the target DLT rate, between 0 and 1 (e.g. 0.30)")
        target = None
    size = _whole(raw, "cohort_size", problems, trial_values.get("cohort_size") if isinstance(trial_values.get("cohort_size"), int) else None)  # type: ignore[arg-type]
    max_n = _whole(raw, "max_n", problems, None)
    if max_n is None:
        problems.append(f"design.max_n is required for {name}: the maximum sample size")
    n_stop = _whole(raw, "n_stop", problems, None)
    cutoff = _number(raw, "cutoff_eli", problems, default=0.95)
    if cutoff is not None and not 0.5 <= cutoff < 1:
        problems.append("design.cutoff_eli must lie in [0.5, 1) (the published default is 0.95)")
    lowest = raw.get("stop_if_lowest_eliminated", True)
    if not isinstance(lowest, bool):
        problems.append("design.stop_if_lowest_eliminated must be true or false")
    extras = _design_extras(str(name), raw, target, trial_values, problems)
    if size is not None and max_n is not None and max_n < size:
        problems.append("design.max_n must be at least the cohort size")
    cap = trial_values.get("cap_escalation")
    if max_n is not None and isinstance(cap, int) and max_n > cap:
        problems.append(f"design.max_n ({max_n}) cannot exceed trial.cap_escalation ({cap})")
    if len(problems) > before:
        return DesignSpec(name=str(name))
    return DesignSpec(
        name=str(name),
        target=target,
        cohort_size=size or 3,
        max_n=max_n or 0,
        n_stop=n_stop,
        cutoff_eli=cutoff if cutoff is not None else 0.95,
        stop_if_lowest_eliminated=bool(lowest),
        **extras,  # type: ignore[arg-type]
    )


def read_protocol(path: str | Path) -> ProtocolSpec:
    with open(path, "rb") as handle:
        try:
            data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ProtocolError([f"{path}: not valid TOML: {exc}"]) from exc
    return parse_protocol(data)
