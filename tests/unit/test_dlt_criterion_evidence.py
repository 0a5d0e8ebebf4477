"""What the rules see for one criterion (toxicity.dlt.criterion_evidence), shown with a DLT the rules missed."""

from datetime import timedelta

import pytest

from toxicity.ctcae import Kind, meddra
from toxicity.dlt import DltError, LabValue, Modification, criterion_evidence

from .test_dlt import AFTER, D, ae, anc, day, plt, window


def test_h4_without_bleeding_shows_the_platelet_counts_in_the_window_and_is_not_supported():
    w = window(labs=plt((10, "30"), (40, "20")))  # day 40 is after the 28-day window
    seen = criterion_evidence(w, "H4", today=AFTER)
    assert seen.supported is False
    assert [(e.what, e.on, e.value) for e in seen.evidence] == [("Platelets", day(10), "30 x10^9/L")]


def test_h4_with_bleeding_is_supported_with_the_proposals_evidence():
    bleed = ae(id=2, term=meddra("Epistaxis"), kind=Kind.BLEEDING, grade=2, onset=10)
    seen = criterion_evidence(window(labs=plt((10, "30")), events=(bleed,)), "H4", today=AFTER)
    assert seen.supported is True
    assert {e.what for e in seen.evidence} >= {"Platelets"}


@pytest.mark.parametrize(("rule", "whats"), [("H1", {"ANC", "Temperature"}), ("H2", {"ANC"}), ("H3", {"Platelets"})])
def test_hematologic_criteria_show_the_counts_they_read(rule, whats):
    labs = (LabValue(on=day(8), anc=D("0.8"), platelets=D(120), temperature=D("37.0")),)
    seen = criterion_evidence(window(labs=labs), rule, today=AFTER)
    assert seen.supported is False
    assert {e.what for e in seen.evidence} == whats


def test_reduction_and_cycle_2_criteria_show_the_modifications_and_day_1():
    w = window(modifications=(Modification(id=3, on=day(12), kind="reduce_dose", in_cycle_1=True),), c2d1_given=day(29) + timedelta(days=3))
    assert [e.ref for e in criterion_evidence(w, "N7", today=AFTER).evidence] == ["mod:3"]
    assert criterion_evidence(w, "H6", today=AFTER).evidence[0].value == f"planned {day(29).isoformat()}, given {(day(32)).isoformat()}"


def test_an_unknown_criterion_is_an_error():
    with pytest.raises(DltError):
        criterion_evidence(window(labs=anc((5, "1.0"))), "X9", today=AFTER)
