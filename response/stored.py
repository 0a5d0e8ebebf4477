"""The stored form of an IMWG course, and what the endpoints read of one. Pure Python (compiled by mypyc with
response/imwg.py: `make native`).

- `row`: a course as the database stores it (response.models.ResponseResult: the values of STORED_FIELDS, the
  JSON fields as JSON text) and its digest. The per-assessment results are stored by column (RESULT_COLUMNS:
  one list per column in date order; change_pct one list per parameter with a change, None where an assessment
  has none): a whole-trial recompute writes 100,000 of them, and columns are half the JSON of one object per
  assessment. Each course is serialized once, for the digest and for the write: a course whose stored values
  would not change is not rewritten.
- `result_rows`: the stored columns back as one dict per assessment (the pages, the API, the exports).
- `course_inputs`, `course_text`, `course_from_text`: what the endpoints read of a course just computed, and the
  compact text a Celery result carries it in from a chunk of the recompute to the endpoints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from .endpoints import CourseResponse
from .imwg import CHANGES, Category, Response, Result

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
_VALUE = {c: c.value for c in Category}
_dumps = json.JSONEncoder(separators=(",", ":")).encode
_string: Callable[[str], str] = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]  # a JSON string, as _dumps writes it


def _pct(value: Decimal) -> str:
    return str(round(value, 2))


def _listed(items: list[str]) -> str:
    """A JSON list of items already in JSON."""
    return "[" + ",".join(items) + "]"


def _results_json(results: tuple[Result, ...]) -> str:
    """The per-assessment results by column (RESULT_COLUMNS, in that order) as JSON text, exactly as `_dumps` would
    write the dict of lists (test_stored_course checks it). Written directly, since 100,000 results are written per
    recompute and all but the reasons and string ids are dates, categories, numbers and booleans that need no escaping."""
    value = _VALUE
    changes = [
        f'"{name}":' + _listed(['"' + _pct(r.change_pct[name]) + '"' if name in r.change_pct else "null" for r in results])
        for name in CHANGES
        if any(name in r.change_pct for r in results)
    ]
    columns = {
        "on": _listed(['"' + r.on.isoformat() + '"' for r in results]),
        "id": _listed([str(r.id) if isinstance(r.id, int) else _string(r.id) for r in results]),
        "category": _listed(['"' + value[r.category] + '"' for r in results]),
        "reason": _listed([_string(r.reason) for r in results]),
        "change_pct": "{" + ",".join(changes) + "}",
        "confirmed": _listed(['"' + value[r.confirmed] + '"' if r.confirmed is not None else "null" for r in results]),
        "confirmed_from": _listed(['"' + r.confirmed_from.isoformat() + '"' if r.confirmed_from is not None else "null" for r in results]),
        "after_next_therapy": _listed(["true" if r.after_next_therapy else "false" for r in results]),
    }
    return "{" + ",".join([f'"{name}":{columns[name]}' for name in RESULT_COLUMNS]) + "}"


def row(response: Response) -> tuple[list[Any], str]:
    """A course as stored (the values of STORED_FIELDS; the JSON fields as JSON text) and their sha256."""
    b = response.baseline
    value = _VALUE
    baseline = {
        "values": {k: (str(v) if v is not None else None) for k, v in b.values.items()},
        "ratio": str(round(b.ratio, 4)) if b.ratio is not None else None,
        "involved": b.involved,
        "measurable": list(b.measurable),
        "reason": b.reason,
    }
    best_change = response.best_change_pct
    stored: list[Any] = [
        b.driver or "",
        _dumps(baseline),
        _results_json(response.results),
        value[response.best],
        response.best_on,
        response.best_reason,
        round(best_change, 2) if best_change is not None else None,
        response.first_response_on,
        response.progression_on,
        _dumps([[value[c], on.isoformat()] for c, on in response.confirmed]),
        _dumps(list(response.flags)),
        response.rule_version,
    ]
    text = "\x1f".join([str(STORED_FORM), *[str(v) for v in stored]])
    return stored, hashlib.sha256(text.encode()).hexdigest()


def result_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored course's per-assessment results, one dict per assessment (keys RESULT_COLUMNS)."""
    if not results:
        return []
    changes: dict[str, list[str | None]] = results["change_pct"]
    return [
        {name: {k: v[i] for k, v in changes.items() if v[i] is not None} if name == "change_pct" else results[name][i] for name in RESULT_COLUMNS}
        for i in range(len(results["on"]))
    ]


def course_inputs(response: Response) -> CourseResponse:
    """What the endpoints read of a course just computed (services.courses_for reads the same from a stored one)."""
    value = _VALUE
    return CourseResponse(
        tuple((r.on, value[r.category]) for r in response.results if not r.after_next_therapy),
        tuple((value[c], on) for c, on in response.confirmed),
        value[response.best],
        response.progression_on,
        response.first_response_on,
    )


def course_text(course: CourseResponse) -> str:
    """A course's inputs to the endpoints as one string ("on cat,on cat|cat on,...|best|progression|first
    response"): a Celery result carries 5,000 of them, and JSON decodes one string per patient far faster
    than nested lists."""
    assessments, confirmed, best, progression_on, first_response_on = course
    return "|".join(
        (
            ",".join([f"{on} {cat}" for on, cat in assessments]),
            ",".join([f"{cat} {on}" for cat, on in confirmed]),
            best,
            str(progression_on or ""),
            str(first_response_on or ""),
        )
    )


def course_from_text(text: str) -> CourseResponse:
    fromiso = date.fromisoformat
    assessments, confirmed, best, progression_on, first_response_on = text.split("|")
    return CourseResponse(
        tuple([(fromiso(item[:10]), item[11:]) for item in assessments.split(",")]) if assessments else (),  # "YYYY-MM-DD cat"
        tuple([(item[:-11], fromiso(item[-10:])) for item in confirmed.split(",")]) if confirmed else (),  # "cat YYYY-MM-DD"
        best,
        fromiso(progression_on) if progression_on else None,
        fromiso(first_response_on) if first_response_on else None,
    )
