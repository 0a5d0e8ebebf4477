"""Trial endpoints as protocol section 5 defines them. Pure Python (Kaplan-Meier from response/survival.py).

Each endpoint carries its definition beside its number. Times are in months
(days / 30.4375) from the origin each definition names.

- Initial response rate (primary, phase II): patients with a confirmed PR or
  better dated by the end of cycle 2 (cycle 2 day 1 + 27 days, or cycle 1 day 1 +
  55 days without a cycle 2), over evaluable patients (at least one dose and a
  post-baseline assessment).
- Overall response rate as the protocol defines it, SD or better: a disease
  control rate, labelled so; beside it the conventional ORR, PR or better; and the
  best overall response counts.
- PFS: cycle 1 day 1 to confirmed PD or death, whichever first; censored at the
  last adequate assessment (a category other than NE), and at the last assessment
  before any new anticancer therapy when that came first.
- TTP (the protocol's definition): from the first confirmed response (PR or
  better) to confirmed PD; patients without a response are not in it; censored
  like PFS (death is not an event).
- Time to next therapy: cycle 1 day 1 to the start of the next line; censored at
  the last contact (the latest of last contact, death and the last assessment).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

from .imwg import RESPONSES, Category
from .survival import Curve, kaplan_meier

RULE_VERSION = "endpoints-bpd-1"
DAYS_PER_MONTH = 30.4375
RESPONSE = {str(c) for c in RESPONSES}  # PR or better: the IMWG rules' own list
CONTROL = RESPONSE | {str(Category.MR), str(Category.SD)}
CATEGORIES = [c.value for c in Category]
AT_RISK_MONTHS = [0, 3, 6, 9, 12, 18, 24]

DEFINITIONS = {
    "initial_response_rate": "Confirmed PR or better dated by the end of cycle 2, over evaluable patients (at least one dose and a post-baseline assessment).",
    "disease_control_rate": "The protocol's 'overall response rate': best confirmed response SD or better, over evaluable: a disease control rate.",
    "orr": "Conventional overall response rate: best confirmed response PR or better, over evaluable patients.",
    "pfs": "Cycle 1 day 1 to confirmed PD or death; censored at the last adequate assessment, or at the last assessment before a new therapy.",
    "ttp": "First confirmed response (PR or better) to confirmed PD; responders only; censored at the last adequate assessment (before any new therapy).",
    "ttnt": "Cycle 1 day 1 to the start of the next line of therapy; censored at the last contact.",
}


class CourseResponse(NamedTuple):
    """What the endpoints read of a patient's IMWG course (the defaults: no stored course)."""

    assessments: tuple[tuple[date, str], ...] = ()  # post-baseline (date, unconfirmed category) before any next therapy
    confirmed: tuple[tuple[str, date], ...] = ()  # (category, dated at the first of the pair)
    best: str = "NE"
    progression_on: date | None = None
    first_response_on: date | None = None


@dataclass(frozen=True)
class Course:
    """One patient's inputs to the endpoints."""

    patient: str
    level: str
    start: date | None  # cycle 1 day 1 (None: never dosed)
    end_of_cycle2: date | None
    assessments: tuple[tuple[date, str], ...] = ()  # post-baseline (date, unconfirmed category)
    confirmed: tuple[tuple[str, date], ...] = ()  # (category, dated at the first of the pair)
    best: str = "NE"
    progression_on: date | None = None
    first_response_on: date | None = None
    death_on: date | None = None
    next_therapy_on: date | None = None
    last_contact_on: date | None = None

    @property
    def evaluable(self) -> bool:
        return self.start is not None and bool(self.assessments)


def months(a: date, b: date) -> float:
    return max((b - a).days, 0) / DAYS_PER_MONTH


def _rate(numerator: int, denominator: int) -> dict[str, Any]:
    return {"n": numerator, "of": denominator, "pct": round(100 * numerator / denominator, 1) if denominator else None}


def _adequate_before(c: Course, until: date | None) -> date | None:
    """The last adequate assessment (not NE), before `until` (the next therapy) when given."""
    dates = [d for d, cat in c.assessments if cat != "NE" and (until is None or d < until)]
    return max(dates) if dates else None


def _before_next(c: Course, day: date | None) -> bool:
    return day is not None and (c.next_therapy_on is None or day <= c.next_therapy_on)


def pfs(c: Course) -> tuple[float, bool] | None:
    if c.start is None:
        return None
    events = [d for d in (c.progression_on, c.death_on) if d is not None and _before_next(c, d)]
    if events:
        return months(c.start, min(events)), True
    return months(c.start, _adequate_before(c, c.next_therapy_on) or c.start), False


def ttp(c: Course) -> tuple[float, bool] | None:
    if c.first_response_on is None:
        return None
    progression_on = c.progression_on
    if progression_on is not None and _before_next(c, progression_on):
        return months(c.first_response_on, progression_on), True
    censor = _adequate_before(c, c.next_therapy_on) or c.first_response_on
    return months(c.first_response_on, max(censor, c.first_response_on)), False


def ttnt(c: Course) -> tuple[float, bool] | None:
    if c.start is None:
        return None
    if c.next_therapy_on is not None:
        return months(c.start, c.next_therapy_on), True
    last = [d for d in (c.last_contact_on, c.death_on, *(d for d, _ in c.assessments)) if d is not None]
    return months(c.start, max(last) if last else c.start), False


def _km(points: list[tuple[float, bool]]) -> dict[str, Any]:
    if not points:
        return {"n": 0, "events": 0, "median": None, "median_ci": [None, None], "curve": None}
    curve: Curve = kaplan_meier([t for t, _ in points], [e for _, e in points])
    return {
        "n": curve.n,
        "events": curve.n_events,
        "median": curve.median,
        "median_ci": [curve.median_lower, curve.median_upper],
        "curve": {
            "times": list(curve.times),
            "survival": list(curve.survival),
            "lower": list(curve.lower),
            "upper": list(curve.upper),
            "events": list(curve.events),
            "censored_times": [t for t, c in zip(curve.times, curve.censored, strict=True) if c],
            "at_risk": {str(m): curve.at_risk_at(m) for m in AT_RISK_MONTHS},
        },
    }


def _initial_response(c: Course) -> bool:
    """A confirmed PR or better dated by the end of cycle 2."""
    return c.end_of_cycle2 is not None and any(cat in RESPONSE and on <= c.end_of_cycle2 for cat, on in c.confirmed)


def _times(courses: Sequence[Course], endpoint: Callable[[Course], tuple[float, bool] | None]) -> list[tuple[float, bool]]:
    """Each course's time to `endpoint` and whether it was an event (the courses the endpoint applies to)."""
    return [t for t in map(endpoint, courses) if t is not None]


def _group(courses: Sequence[Course]) -> dict[str, Any]:
    evaluable = [c for c in courses if c.evaluable]
    best = Counter(c.best for c in evaluable)
    return {
        "patients": len(courses),
        "evaluable": len(evaluable),
        "initial_response_rate": _rate(sum(_initial_response(c) for c in evaluable), len(evaluable)),
        "disease_control_rate": _rate(sum(best[k] for k in CONTROL), len(evaluable)),
        "orr": _rate(sum(best[k] for k in RESPONSE), len(evaluable)),
        "best_response": {k: best.get(k, 0) for k in CATEGORIES},
        "pfs": _km(_times(courses, pfs)),
        "ttp": _km(_times(courses, ttp)),
        "ttnt": _km(_times(courses, ttnt)),
    }


def compute(courses: Sequence[Course], *, levels: Sequence[str]) -> dict[str, Any]:
    """Every endpoint, overall and per dose level, with the definitions (JSON-ready)."""
    by_level = {level: _group([c for c in courses if c.level == level]) for level in levels}
    return {
        "rule_version": RULE_VERSION,
        "definitions": DEFINITIONS,
        "overall": _group(courses),
        "by_level": {k: v for k, v in by_level.items() if v["patients"]},
        "at_risk_months": AT_RISK_MONTHS,
    }


def end_of_cycle2(cycle1_day1: date | None, cycle2_day1: date | None, cycle_length: int = 28) -> date | None:
    if cycle1_day1 is None:
        return None
    return (cycle2_day1 or cycle1_day1 + timedelta(days=cycle_length)) + timedelta(days=cycle_length - 1)
