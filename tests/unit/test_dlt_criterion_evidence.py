"""What the rules see for one criterion (toxicity.dlt.criterion_evidence), shown with a DLT the rules missed."""

from datetime import timedelta

import pytest

from toxicity.ctcae import Kind, meddra
from toxicity.dlt import ConMed, DltError, LabValue, Modification, criterion_evidence

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


@pytest.mark.parametrize(
    ("rule", "whats"),
    [("H1", {"ANC", "Temperature"}), ("H2", {"ANC", "Neutropenia event"}), ("H3", {"Platelets", "Cycle 1 day 1", "Cycle 2 day 1"})],
)
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


# ---------------------------------------------------------------- H2 "despite G-CSF", H3 "despite dose delay"


def _seen(w, rule):
    return [(e.what, e.on, e.value, e.ref) for e in criterion_evidence(w, rule, today=AFTER).evidence]


def test_h2_without_a_neutropenia_event_says_attribution_and_gcsf_are_not_recorded():
    seen = _seen(window(labs=anc((8, "0.4"))), "H2")
    assert seen[-1] == ("Neutropenia event", day(1), "none recorded in the window: attribution and G-CSF not recorded", "")


def test_h2_lists_each_neutropenia_event_with_the_gcsf_conmeds_linked_to_it():
    """Settled reading s.3: H2 needs G-CSF. The evidence names the linked G-CSF, and says when one was not given
    within the event's dates (the rules do not count it)."""
    neutropenia = ae(id=4, onset=8, resolved=12, grade=3, supportive=frozenset({"gcsf"}))
    given = ConMed(category="gcsf", start=day(9), stop=day(13), events=frozenset({4}), id=7, drug="filgrastim 300 ug")
    later = ConMed(category="gcsf", start=day(20), events=frozenset({4}), id=8, drug="pegfilgrastim 6 mg")
    other = ConMed(category="gcsf", start=day(9), events=frozenset({99}), id=9, drug="lenograstim")
    seen = _seen(window(labs=anc((8, "0.6")), events=(neutropenia,), conmeds=(given, later, other)), "H2")
    assert [r[3] for r in seen] == [f"lab:{day(8).isoformat()}", "ae:4", "conmed:7", "conmed:8"]
    assert seen[2] == ("G-CSF filgrastim 300 ug", day(9), f"from {day(9).isoformat()} to {day(13).isoformat()}, for {neutropenia.name} grade 3", "conmed:7")
    assert seen[3][2] == f"from {day(20).isoformat()}, ongoing, for {neutropenia.name} grade 3; not given within the event's dates"


@pytest.mark.parametrize(
    ("supportive", "text"), [(frozenset({"gcsf"}), "given (recorded on the event, no G-CSF medication linked)"), (frozenset(), "not recorded for this event")]
)
def test_h2_without_a_linked_conmed_says_whether_the_event_records_gcsf(supportive, text):
    neutropenia = ae(id=5, onset=8, grade=3, supportive=supportive)
    seen = _seen(window(labs=anc((8, "0.6")), events=(neutropenia,)), "H2")
    assert seen[-1] == ("G-CSF", day(8), f"{text}, for {neutropenia.name} grade 3", "ae:5")


@pytest.mark.parametrize(
    ("supportive", "text"),
    [(frozenset({"gcsf"}), "given (recorded on the event; no linked G-CSF within its dates)"), (frozenset(), "not counted: no G-CSF within the event's dates")],
)
def test_h2_with_only_a_linked_gcsf_outside_the_event_says_what_the_rules_count(supportive, text):
    neutropenia = ae(id=5, onset=8, grade=3, supportive=supportive, resolved=12)
    later = ConMed(category="gcsf", start=day(20), events=frozenset({5}), id=8, drug="pegfilgrastim 6 mg")
    seen = _seen(window(labs=anc((8, "0.6")), events=(neutropenia,), conmeds=(later,)), "H2")
    assert [r[3] for r in seen][-2:] == ["conmed:8", "ae:5"]
    assert seen[-1] == ("G-CSF", day(8), f"{text}, for {neutropenia.name} grade 3", "ae:5")


def test_h3_shows_the_cycle_start_dates_with_the_delay_and_cycle_1_holds():
    thrombo = ae(id=6, term=meddra("Platelet count decreased"), kind=Kind.THROMBOCYTOPENIA, grade=3, onset=10)
    hold = Modification(id=3, on=day(15), kind="hold", in_cycle_1=True)
    w = window(labs=plt((10, "40")), events=(thrombo,), modifications=(hold,), c2d1_given=day(29) + timedelta(days=9))
    seen = _seen(w, "H3")
    assert [r[3] for r in seen] == [f"lab:{day(10).isoformat()}", "ae:6", "cycle:1", "mod:3", "cycle:2"]
    assert seen[2] == ("Cycle 1 day 1", day(1), f"given {day(1).isoformat()}", "cycle:1")
    assert seen[4][2] == f"planned {day(29).isoformat()}, given {day(38).isoformat()}: delayed 9 days"


def test_h3_with_cycle_2_not_given_says_how_long_it_is_delayed_so_far():
    seen = _seen(window(labs=plt((10, "40")), c2d1_given=None), "H3")
    assert seen[-1][2] == f"planned {day(29).isoformat()}, not given yet: delayed {(AFTER - day(29)).days} days so far"
    on_time = _seen(window(labs=plt((10, "40"))), "H3")
    assert on_time[-1][2] == f"planned {day(29).isoformat()}, given {day(29).isoformat()}: not delayed"
