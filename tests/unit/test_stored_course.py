"""The stored form of an IMWG course (response.services._json) and its digest (_digest) are written apart for
speed: every field stored must be a field written back, and a change to anything stored must change the digest
(an unchanged digest means the row is not rewritten)."""

import dataclasses
from datetime import date, timedelta
from decimal import Decimal as D

from response import services
from response.imwg import Assessment, Category, evaluate

C1 = date(2026, 1, 1)
CHECKED = 23  # 25 changes, less the two fields _json does not store (the baseline plasmacytoma, the nadirs)


def course():
    days = [(-2, "3.0"), (28, "1.4"), (56, "1.3"), (84, "0.2"), (112, "0.1")]
    return evaluate([Assessment(on=C1 + timedelta(days=d), id=d, spep=D(v), upep=D(0)) for d, v in days], cycle1_day1=C1)


def test_the_stored_fields_are_the_fields_written_back():
    stored = set(services._json(course()))
    assert stored | {"inputs_at", "computed_at", "digest"} == set(services.RESULT_FIELDS)


def test_every_part_of_a_stored_course_changes_the_digest():
    r = course()
    digest = services._digest(r)
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
    stored = services._json(r)
    checked = 0
    for v in variants:
        if services._json(v) != stored:  # what the row would hold changed
            assert services._digest(v) != digest, v
            checked += 1
    assert checked == CHECKED
    assert services._digest(course()) == digest
