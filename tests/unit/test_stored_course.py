"""The stored form of an IMWG course (response.stored.row): every field of a course reaches the stored row,
the digest changes with the row (an unchanged digest means the row is not rewritten), and the per-assessment
results, stored by column, come back by assessment (response.stored.result_rows), as the migration converts them."""

import dataclasses
import importlib
from datetime import date, timedelta
from decimal import Decimal as D

from response import services, stored
from response.endpoints import Course, end_of_cycle2, pfs, ttp
from response.imwg import CHANGES, Assessment, Category, evaluate
from response.stored import RESULT_COLUMNS, result_rows

C1 = date(2026, 1, 1)
CHECKED = 23  # 25 changes, less the two fields the row does not store (the baseline plasmacytoma, the nadirs)
migration = importlib.import_module("response.migrations.0002_results_by_column")


def course():
    days = [(-2, "3.0"), (28, "1.4"), (56, "1.3"), (84, "0.2"), (112, "0.1")]
    return evaluate([Assessment(on=C1 + timedelta(days=d), id=d, spep=D(v), upep=D(0)) for d, v in days], cycle1_day1=C1)


def test_the_row_holds_every_field_but_the_times_and_the_digest():
    row, digest = stored.row(course())
    assert len(row) == len(stored.STORED_FIELDS) == len(services.RESULT_FIELDS) - 3
    assert services.RESULT_FIELDS[len(row) :] == ("inputs_at", "computed_at", "digest")
    assert row[stored.STORED_FIELDS.index("rule_version")] == course().rule_version
    assert len(digest) == 64


def test_every_part_of_a_stored_course_changes_the_row_and_the_digest():
    r = course()
    row, digest = stored.row(r)
    b, first = r.baseline, r.results[0]
    changed_baselines = [
        dataclasses.replace(b, **{f.name: v}) for f, v in zip(dataclasses.fields(b), ({}, D(9), "kappa", True, ("upep",), "upep", "x"), strict=True)
    ]
    changed_results = [
        first._replace(**{name: v}) for name, v in zip(first._fields, (C1, 99, Category.SD, "x", {"spep": D(1)}, {}, Category.SD, C1, True), strict=True)
    ]
    variants = [dataclasses.replace(r, baseline=cb) for cb in changed_baselines if cb != b]
    variants += [dataclasses.replace(r, results=(cr, *r.results[1:])) for cr in changed_results if cr != first]
    top = {"best": Category.MR, "best_on": C1, "best_reason": "x", "progression_on": C1, "first_response_on": C1}
    top |= {"best_change_pct": D(-1), "flags": ("x",), "rule_version": "x", "confirmed": ((Category.MR, C1),)}
    variants += [dataclasses.replace(r, **{k: v}) for k, v in top.items()]
    checked = 0
    for v in variants:
        v_row, v_digest = stored.row(v)
        if v_row != row:
            assert v_digest != digest, v
            checked += 1
    assert checked == CHECKED
    assert stored.row(course()) == (row, digest)


def test_the_results_stored_by_column_come_back_by_assessment():
    r = course()
    by_column = stored.row(r)[0][stored.STORED_FIELDS.index("results")]
    assert set(by_column) == set(RESULT_COLUMNS)
    assert set(by_column["change_pct"]) == {"spep"}  # urine 0 at baseline has no % change; no FLC
    rows = result_rows(by_column)
    assert [row["on"] for row in rows] == ["2026-01-29", "2026-02-26", "2026-03-26", "2026-04-23"]
    assert rows[0] == {
        "on": "2026-01-29",
        "id": 28,
        "category": "PR",
        "reason": r.results[0].reason,
        "change_pct": {"spep": "-53.33"},
        "confirmed": None,
        "confirmed_from": None,
        "after_next_therapy": False,
    }
    assert (rows[1]["category"], rows[1]["confirmed"], rows[1]["confirmed_from"]) == ("PR", "PR", "2026-01-29")
    assert [row["category"] for row in rows[2:]] == ["VGPR", "VGPR"]
    assert result_rows({}) == []


def test_the_migration_converts_both_ways():
    by_column = stored.row(course())[0][stored.STORED_FIELDS.index("results")]
    rows = result_rows(by_column)
    assert migration.by_column(rows) == by_column
    assert migration.by_row(by_column) == rows
    assert migration.COLUMNS == RESULT_COLUMNS


def by_column(results) -> dict:
    """The per-assessment results by column as a dict (what `row` stores)."""
    changes = {k: [str(round(r.change_pct[k], 2)) if k in r.change_pct else None for r in results] for k in CHANGES if any(k in r.change_pct for r in results)}
    return {
        "on": [r.on.isoformat() for r in results],
        "id": [r.id for r in results],
        "category": [r.category.value for r in results],
        "reason": [r.reason for r in results],
        "change_pct": changes,
        "confirmed": [r.confirmed.value if r.confirmed else None for r in results],
        "confirmed_from": [r.confirmed_from.isoformat() if r.confirmed_from else None for r in results],
        "after_next_therapy": [r.after_next_therapy for r in results],
    }


def stored_results(response) -> dict:
    return stored.row(response)[0][stored.STORED_FIELDS.index("results")]


def test_the_results_are_stored_by_column_for_any_text():
    r = course()
    odd = 'a "quoted" back\\slash, tab\t, line\nbreak, µ ≥ 5, \x00'
    results = tuple(x._replace(id=f"{odd}{i}", reason=odd) for i, x in enumerate(r.results))
    for variant in (r, dataclasses.replace(r, results=results), dataclasses.replace(r, results=())):
        assert stored_results(variant) == by_column(variant.results)


def test_progression_by_imaging_reaches_the_endpoints_dated_at_its_assessment_without_confirmation():
    values = [(-2, "3.0", False), (28, "1.4", False), (56, "1.3", False), (84, "1.3", True)]  # a new bone lesion at day 84
    r = evaluate([Assessment(on=C1 + timedelta(days=d), id=d, spep=D(v), upep=D(0), new_lesions=lesion) for d, v, lesion in values], cycle1_day1=C1)
    day84 = C1 + timedelta(days=84)
    assert (r.progression_on, r.best, r.first_response_on) == (day84, Category.PR, C1 + timedelta(days=28))
    row = dict(zip(stored.STORED_FIELDS, stored.row(r)[0], strict=True))
    columns = row["results"]
    from_row = stored.stored_course_inputs(
        columns["on"], columns["category"], columns["after_next_therapy"], row["confirmed"], row["best"], row["progression_on"], row["first_response_on"]
    )
    inputs = stored.course_inputs(r)
    assert from_row == inputs == stored.course_from_json(stored.course_json(inputs))
    assert ("PD", day84) in inputs.confirmed
    patient = Course("p", "1", start=C1, end_of_cycle2=end_of_cycle2(C1, None), **inputs._asdict())
    assert pfs(patient) == (84 / 30.4375, True)
    assert ttp(patient) == (56 / 30.4375, True)
