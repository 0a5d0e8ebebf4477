"""The stored form of an IMWG course, and what the endpoints read of one. Pure Python (standard library only).

- `row`: a course as the database stores it (response.models.ResponseResult: the values of STORED_FIELDS, the
  JSON fields as lists and dicts of text, numbers and booleans) and its digest. The per-assessment results are
  stored by column (RESULT_COLUMNS: one list per column in date order; change_pct one list per parameter with a
  change, None where an assessment has none). A course whose digest has not changed is not rewritten.
- `result_rows`: the stored columns back as one dict per assessment (the pages, the API, the exports).
- `course_inputs`, `stored_course_inputs`: what the endpoints read of a course, just computed or as stored.
- `course_json`, `course_from_json`: a course's inputs to the endpoints in the JSON a Celery result carries
  from a chunk of the recompute to the endpoints.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from typing import Any

from .endpoints import CourseResponse
from .imwg import CHANGES, Baseline, Category, Response, Result

STORED_FORM = 3  # part of every digest: change it whenever `row` stores something else for the same course
STORED_FIELDS = (
    "driver",
    "baseline",
    "results",
    "best",
    "best_on",
    "best_reason",
    "best_change_pct",
    "first_response_on",
    "progression_on",
    "confirmed",
    "flags",
    "rule_version",
)
JSON_FIELDS = ("baseline", "results", "confirmed", "flags")
RESULT_COLUMNS = ("on", "id", "category", "reason", "change_pct", "confirmed", "confirmed_from", "after_next_therapy")
PCT_PLACES = 2  # % changes are stored rounded to 2 places
RATIO_PLACES = 4  # the baseline FLC ratio to 4


def _text(value: Decimal | None, places: int | None = None) -> str | None:
    """A decimal as stored in JSON: text (rounded to `places` when given), None when missing."""
    if value is None:
        return None
    return str(value if places is None else round(value, places))


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _category(value: Category | None) -> str | None:
    return None if value is None else str(value)


def _baseline(b: Baseline) -> dict[str, Any]:
    return {
        "values": {name: _text(value) for name, value in b.values.items()},
        "ratio": _text(b.ratio, RATIO_PLACES),
        "involved": b.involved,
        "measurable": list(b.measurable),
        "reason": b.reason,
    }


def _changes_by_column(results: tuple[Result, ...]) -> dict[str, list[str | None]]:
    """One list per parameter that has a % change at some assessment (None where an assessment has none)."""
    return {name: [_text(r.change_pct.get(name), PCT_PLACES) for r in results] for name in CHANGES if any(name in r.change_pct for r in results)}


def _results_by_column(results: tuple[Result, ...]) -> dict[str, Any]:
    """The per-assessment results as one list per column (RESULT_COLUMNS, in that order)."""
    return {
        "on": [r.on.isoformat() for r in results],
        "id": [r.id for r in results],
        "category": [str(r.category) for r in results],
        "reason": [r.reason for r in results],
        "change_pct": _changes_by_column(results),
        "confirmed": [_category(r.confirmed) for r in results],
        "confirmed_from": [_day(r.confirmed_from) for r in results],
        "after_next_therapy": [r.after_next_therapy for r in results],
    }


def digest(values: list[Any]) -> str:
    """The sha256 of a course's stored values (STORED_FIELDS' values, the JSON fields as compact JSON)."""
    texts = [json.dumps(v, separators=(",", ":")) if name in JSON_FIELDS else str(v) for name, v in zip(STORED_FIELDS, values, strict=True)]
    return hashlib.sha256("\x1f".join([str(STORED_FORM), *texts]).encode()).hexdigest()


def row(response: Response) -> tuple[list[Any], str]:
    """A course as stored (the values of STORED_FIELDS, in that order) and their digest."""
    values = [
        response.baseline.driver or "",
        _baseline(response.baseline),
        _results_by_column(response.results),
        str(response.best),
        response.best_on,
        response.best_reason,
        None if response.best_change_pct is None else round(response.best_change_pct, PCT_PLACES),
        response.first_response_on,
        response.progression_on,
        [[str(category), on.isoformat()] for category, on in response.confirmed],
        list(response.flags),
        response.rule_version,
    ]
    return values, digest(values)


def _changes_at(changes: dict[str, list[str | None]], i: int) -> dict[str, str | None]:
    """The % changes of the i-th assessment (the parameters it has one for)."""
    return {name: column[i] for name, column in changes.items() if column[i] is not None}


def result_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored course's per-assessment results, one dict per assessment (keys RESULT_COLUMNS)."""
    if not results:
        return []
    return [
        {name: _changes_at(results["change_pct"], i) if name == "change_pct" else results[name][i] for name in RESULT_COLUMNS}
        for i in range(len(results["on"]))
    ]


def course_inputs(response: Response) -> CourseResponse:
    """What the endpoints read of a course just computed (`stored_course_inputs` reads the same from a stored one)."""
    return CourseResponse(
        assessments=tuple((r.on, str(r.category)) for r in response.results if not r.after_next_therapy),
        confirmed=tuple((str(category), on) for category, on in response.confirmed),
        best=str(response.best),
        progression_on=response.progression_on,
        first_response_on=response.first_response_on,
    )


def stored_course_inputs(
    on: list[str],
    category: list[str],
    after_next_therapy: list[bool],
    confirmed: list[list[str]],
    best: str,
    progression_on: date | None,
    first_response_on: date | None,
) -> CourseResponse:
    """What the endpoints read of a stored course: three columns of its `results` (the assessments' dates,
    categories and whether each is after the next therapy) and its `confirmed` as stored."""
    assessed = zip(on, category, after_next_therapy, strict=True)
    return CourseResponse(
        assessments=tuple((date.fromisoformat(day), cat) for day, cat, after in assessed if not after),
        confirmed=tuple((cat, date.fromisoformat(day)) for cat, day in confirmed),
        best=best,
        progression_on=progression_on,
        first_response_on=first_response_on,
    )


def course_json(course: CourseResponse) -> dict[str, Any]:
    """A course's inputs to the endpoints as JSON-ready data (dates as ISO text)."""
    return {
        "assessments": [[on.isoformat(), category] for on, category in course.assessments],
        "confirmed": [[category, on.isoformat()] for category, on in course.confirmed],
        "best": course.best,
        "progression_on": _day(course.progression_on),
        "first_response_on": _day(course.first_response_on),
    }


def course_from_json(data: dict[str, Any]) -> CourseResponse:
    """`course_json` read back."""
    return CourseResponse(
        assessments=tuple((date.fromisoformat(on), category) for on, category in data["assessments"]),
        confirmed=tuple((category, date.fromisoformat(on)) for category, on in data["confirmed"]),
        best=data["best"],
        progression_on=None if data["progression_on"] is None else date.fromisoformat(data["progression_on"]),
        first_response_on=None if data["first_response_on"] is None else date.fromisoformat(data["first_response_on"]),
    )
