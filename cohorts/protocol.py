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


@dataclass(frozen=True)
class ProtocolSpec:
    trial: TrialSpec
    drugs: tuple[DrugSpec, ...]
    levels: tuple[LevelSpec, ...]
    schedules: tuple[ScheduleSpec, ...]
    eligibility: tuple[CriterionSpec, ...]


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
    if problems:
        raise ProtocolError(problems)
    return ProtocolSpec(
        trial=TrialSpec(**trial_values),  # type: ignore[arg-type]
        drugs=tuple(drugs),
        levels=tuple(levels),
        schedules=tuple(schedules),
        eligibility=tuple(criteria),
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


def read_protocol(path: str | Path) -> ProtocolSpec:
    with open(path, "rb") as handle:
        try:
            data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ProtocolError([f"{path}: not valid TOML: {exc}"]) from exc
    return parse_protocol(data)
