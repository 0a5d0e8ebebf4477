"""DLT rules H1-H6 and N1-N8 on both sides of each boundary (protocol s.3), and evaluability."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toxicity.ctcae import Kind, meddra, shipped
from toxicity.dlt import RULE_VERSION, AdverseEvent, DltError, LabValue, Modification, PatientWindow, Status, assess, episodes

D1 = date(2026, 1, 5)


def day(n: int) -> date:
    """Cycle 1 day n."""
    return D1 + timedelta(days=n - 1)


AFTER = day(60)  # well after the window and cycle 2 day 1 + 14
POSSIBLE = {"pomalidomide": "possible"}


def window(**kw) -> PatientWindow:
    base = {
        "cycle1_day1": D1,
        "baseline_anc": D("2.0"),
        "baseline_platelets": D(180),
        "baseline_marrow_pct": D(20),
        "c2d1_planned": day(29),
        "c2d1_given": day(29),
    }
    return PatientWindow(**(base | kw))


TERMS = shipped("5.0")
NEUTROPENIA = meddra("Neutrophil count decreased")


def ae(id=1, term=NEUTROPENIA, kind=Kind.NEUTROPENIA, grade=4, onset=3, resolved=None, attribution=None, **kw) -> AdverseEvent:
    return AdverseEvent(
        id=id,
        term=term,
        name=TERMS.by_code[term].name if term in TERMS.by_code else term,
        kind=kind,
        grade=grade,
        onset=day(onset),
        resolved=day(resolved) if resolved else None,
        attribution=POSSIBLE if attribution is None else attribution,
        **kw,
    )


def rules(w, today=AFTER):
    return [p.rule for p in assess(w, today=today).proposals]


def anc(*pairs):
    return tuple(LabValue(on=day(n), anc=D(v)) for n, v in pairs)


def plt(*pairs):
    return tuple(LabValue(on=day(n), platelets=D(v)) for n, v in pairs)


# ---------------------------------------------------------------- H1


def test_h1_febrile_neutropenia_event_in_cycle_1():
    assert rules(window(events=(ae(term=meddra("Febrile neutropenia"), kind=Kind.FEBRILE_NEUTROPENIA, grade=3, onset=10),))) == ["H1"]


@pytest.mark.parametrize(("anc_value", "temp", "dlt"), [("0.9", "38.5", True), ("1.0", "38.5", False), ("0.9", "38.4", False)])
def test_h1_by_values_anc_below_1_with_fever_from_38_5(anc_value, temp, dlt):
    w = window(labs=(LabValue(on=day(9), anc=D(anc_value), temperature=D(temp)),), events=(ae(grade=3, onset=8),))
    assert (rules(w) == ["H1"]) is dlt


def test_h1_on_day_28_counts_and_day_29_does_not():
    fn = ae(term=meddra("Febrile neutropenia"), kind=Kind.FEBRILE_NEUTROPENIA, grade=3, onset=28)
    assert rules(window(events=(fn,))) == ["H1"]
    assert rules(window(events=(replace(fn, onset=day(29)),))) == []


def test_h1_not_assessed_with_low_baseline_anc_and_marrow_above_30():
    fn = ae(term=meddra("Febrile neutropenia"), kind=Kind.FEBRILE_NEUTROPENIA, grade=3, onset=5)
    assert rules(window(events=(fn,), baseline_anc=D("0.9"), baseline_marrow_pct=D("31"))) == []
    assert rules(window(events=(fn,), baseline_anc=D("0.9"), baseline_marrow_pct=D("30"))) == ["H1"]
    assert rules(window(events=(fn,), baseline_anc=D("1.0"), baseline_marrow_pct=D("31"))) == ["H1"]


@pytest.mark.parametrize("attribution", [{"pomalidomide": "unrelated"}, {"pomalidomide": "unlikely", "bendamustine": "unlikely"}])
def test_unrelated_events_never_count(attribution):
    fn = ae(term=meddra("Febrile neutropenia"), kind=Kind.FEBRILE_NEUTROPENIA, grade=3, onset=5, attribution=attribution)
    assert rules(window(events=(fn,))) == []


def test_an_event_attributed_to_progression_never_counts():
    fn = ae(term=meddra("Febrile neutropenia"), kind=Kind.FEBRILE_NEUTROPENIA, grade=4, onset=5, progression=True)
    assert rules(window(events=(fn,))) == []


# ---------------------------------------------------------------- H2 and the 7-day count

GCSF_AE = ae(grade=4, onset=3, supportive=frozenset({"gcsf"}))


@pytest.mark.parametrize(("recovery_day", "dlt"), [(10, False), (11, True)])
def test_h2_grade_4_neutropenia_7_days_is_not_a_dlt_8_days_is(recovery_day, dlt):
    w = window(labs=anc((3, "0.4"), (7, "0.3"), (recovery_day, "0.6")), events=(GCSF_AE,))
    assert (rules(w) == ["H2"]) is dlt


def test_h2_without_recovery_value_counts_when_a_low_value_is_8_days_later():
    w = window(labs=anc((3, "0.4"), (11, "0.45")), events=(GCSF_AE,))
    a = assess(w, today=AFTER)
    assert [p.rule for p in a.proposals] == ["H2"]
    assert "still 0.45 on" in a.proposals[0].sentence


def test_h2_is_pending_while_the_values_cannot_decide_yet():
    w = window(labs=anc((20, "0.4"), (26, "0.3")), events=(replace(GCSF_AE, onset=day(20)),))
    a = assess(w, today=day(27))
    assert a.proposals == ()
    assert a.evaluability.status == Status.PENDING
    assert "H2" in a.pending_rules


def test_h2_needs_gcsf():
    w = window(labs=anc((3, "0.4"), (12, "0.6")), events=(ae(grade=4, onset=3),))
    assert rules(w) == []


def test_h2_grade_3_is_not_grade_4():
    w = window(labs=anc((3, "0.5"), (12, "0.6")), events=(GCSF_AE,))
    assert rules(w) == []


def test_a_lab_episode_without_an_event_is_proposed_with_attribution_not_recorded():
    a = assess(window(labs=plt((5, "20"), (14, "40"))), today=AFTER)
    [p] = a.proposals
    assert (p.rule, p.attribution_recorded, p.event_ids) == ("H3", False, ())
    assert "9 days" in p.sentence


def test_gcsf_recorded_only_outside_the_window_does_not_satisfy_h2_which_is_proposed_as_not_recorded():
    w = window(labs=anc((3, "0.4"), (12, "0.6")), events=(replace(GCSF_AE, kind=Kind.FEBRILE_NEUTROPENIA, grade=3, onset=day(40)),))
    [p] = assess(w, today=AFTER).proposals
    assert (p.rule, p.attribution_recorded, p.event_ids) == ("H2", False, ())
    assert "attribution and G-CSF not recorded" in p.sentence


def test_episodes_count_from_the_first_low_value_to_the_first_recovery_value():
    [ep] = episodes([(day(3), D("0.4")), (day(5), D("0.2")), (day(11), D("0.7")), (day(15), D("0.9"))], D("0.5"), start_from=D1, end=day(28))
    assert (ep.start, ep.recovery, ep.days, ep.lowest) == (day(3), day(11), 8, D("0.2"))


# ---------------------------------------------------------------- H3, H4


@pytest.mark.parametrize(("recovery_day", "dlt"), [(12, False), (13, True)])
def test_h3_platelets_below_25_for_more_than_7_days(recovery_day, dlt):
    w = window(labs=plt((5, "20"), (9, "15"), (recovery_day, "40")), events=(ae(term=meddra("Platelet count decreased"), kind=Kind.THROMBOCYTOPENIA, onset=5),))
    assert (rules(w) == ["H3"]) is dlt


def test_h3_baseline_exemption_uses_platelets_below_50():
    w = window(labs=plt((5, "20"), (14, "40")), baseline_platelets=D(45), baseline_marrow_pct=D(40))
    assert rules(w) == []
    assert rules(replace(w, baseline_platelets=D(50))) == ["H3"]


@pytest.mark.parametrize(("plt_value", "plt_day", "dlt"), [("49", 10, True), ("50", 10, False), ("30", 12, True), ("30", 13, False)])
def test_h4_bleeding_with_platelets_below_50_within_2_days(plt_value, plt_day, dlt):
    bleed = ae(id=2, term=meddra("Epistaxis"), kind=Kind.BLEEDING, grade=2, onset=10)
    w = window(labs=plt((plt_day, plt_value)), events=(bleed,))
    assert (rules(w) == ["H4"]) is dlt


# ---------------------------------------------------------------- H5, N7, H6, N8


def test_h5_and_n7_reductions_in_cycle_1_by_the_toxicity_that_required_them():
    neut = ae(id=1, grade=3, onset=8)
    rash = ae(id=2, term=meddra("Rash maculo-papular"), kind=Kind.RASH, grade=2, onset=9)
    mods = (
        Modification(id=1, on=day(10), kind="reduce_level", in_cycle_1=True, event_id=1),
        Modification(id=2, on=day(12), kind="reduce_dose", in_cycle_1=True, event_id=2),
    )
    assert rules(window(events=(neut, rash), modifications=mods)) == ["H5", "N7"]


def test_a_hold_is_not_a_reduction_and_a_cycle_2_reduction_is_not_in_cycle_1():
    neut = ae(id=1, grade=3, onset=8)
    mods = (
        Modification(id=1, on=day(10), kind="hold", in_cycle_1=True, event_id=1),
        Modification(id=2, on=day(30), kind="reduce_level", in_cycle_1=False, event_id=1),
    )
    assert rules(window(events=(neut,), modifications=mods)) == []


@pytest.mark.parametrize(("given_day", "dlt"), [(29 + 14, False), (29 + 15, True)])
def test_h6_cycle_2_day_1_more_than_14_days_late_with_a_hematologic_toxicity(given_day, dlt):
    neut = ae(grade=3, onset=20, resolved=45)
    assert (rules(window(events=(neut,), c2d1_given=day(given_day))) == ["H6"]) is dlt


def test_n8_is_the_same_for_a_non_hematologic_toxicity_and_a_resolved_one_does_not_count():
    fatigue = ae(term=meddra("Fatigue"), kind=Kind.OTHER, grade=2, onset=20)
    assert rules(window(events=(fatigue,), c2d1_given=day(45))) == ["N8"]
    assert rules(window(events=(replace(fatigue, resolved=day(43)),), c2d1_given=day(45))) == []


def test_h6_when_cycle_2_never_starts():
    neut = ae(grade=3, onset=20)
    assert rules(window(events=(neut,), c2d1_given=None), today=day(43)) == []  # planned day 29 + 14
    assert rules(window(events=(neut,), c2d1_given=None), today=day(44)) == ["H6"]


# ---------------------------------------------------------------- N1-N6


@pytest.mark.parametrize(
    ("grade", "attribution", "dlt"),
    [
        (3, {"pomalidomide": "possible"}, True),
        (2, {"pomalidomide": "definite"}, False),
        (3, {"bendamustine": "probable"}, True),
        (3, {"dexamethasone": "definite"}, False),
        (3, {"pomalidomide": "unlikely"}, False),
    ],
)
def test_n1_grade_3_related_to_pomalidomide_or_bendamustine(grade, attribution, dlt):
    infection = ae(term=meddra("Lung infection"), kind=Kind.INFECTION, grade=grade, onset=12, attribution=attribution)
    assert (rules(window(events=(infection,))) == ["N1"]) is dlt


@pytest.mark.parametrize(
    ("term", "support", "grade", "dlt"),
    [
        (meddra("Nausea"), "max_antiemetic", 3, True),
        (meddra("Nausea"), "max_antiemetic", 2, False),
        (meddra("Vomiting"), "", 3, False),
        (meddra("Diarrhea"), "max_antidiarrheal", 3, True),
        (meddra("Diarrhea"), "max_antiemetic", 3, False),
    ],
)
def test_n2_gi_toxicity_despite_maximal_therapy(term, support, grade, dlt):
    kind = Kind.DIARRHEA if term == meddra("Diarrhea") else Kind.NAUSEA_VOMITING
    e = ae(term=term, kind=kind, grade=grade, onset=6, supportive=frozenset({support} if support else ()))
    assert (rules(window(events=(e,))) == ["N2"]) is dlt


@pytest.mark.parametrize(("grade", "pain", "dlt"), [(3, True, True), (3, False, False), (2, True, False)])
def test_n3_neuropathy_with_pain(grade, pain, dlt):
    e = ae(term=meddra("Peripheral sensory neuropathy"), kind=Kind.NEUROPATHY, grade=grade, onset=6, with_pain=pain)
    assert (rules(window(events=(e,))) == ["N3"]) is dlt


@pytest.mark.parametrize(("grade", "dlt"), [(3, True), (2, False)])
def test_n4_venous_thromboembolism_and_not_n1(grade, dlt):
    e = ae(term=meddra("Thromboembolic event"), kind=Kind.THROMBOEMBOLIC, grade=grade, onset=6)
    assert rules(window(events=(e,))) == (["N4"] if dlt else [])


@pytest.mark.parametrize("name", ["Arterial thromboembolism", "Superficial thrombophlebitis"])
def test_a_thrombotic_event_n4_does_not_rule_on_is_excepted_from_n1(name):
    e = ae(term=meddra(name), kind=Kind.OTHER_THROMBOTIC, grade=3, onset=6, attribution={"pomalidomide": "definite"})
    assert rules(window(events=(e,))) == []


def test_n5_any_grade_4_rash():
    e = ae(term=meddra("Erythema multiforme"), kind=Kind.RASH, grade=4, onset=6)
    assert rules(window(events=(e,))) == ["N5"]


@pytest.mark.parametrize(("below_2_on", "dlt"), [(16, False), (17, True)])
def test_n6_grade_3_rash_back_below_2_within_10_days(below_2_on, dlt):
    steroids = frozenset({"steroids"})
    g3 = ae(id=1, term=meddra("Rash maculo-papular"), kind=Kind.RASH, grade=3, onset=6, resolved=below_2_on - 3, supportive=steroids, event=1)
    g2 = ae(id=2, term=meddra("Rash maculo-papular"), kind=Kind.RASH, grade=2, onset=below_2_on - 3, resolved=below_2_on, supportive=steroids, event=1)
    g1 = ae(id=3, term=meddra("Rash maculo-papular"), kind=Kind.RASH, grade=1, onset=below_2_on, supportive=steroids, event=1)
    assert (rules(window(events=(g3, g2, g1))) == ["N6"]) is dlt


def test_n6_needs_steroids():
    g3 = ae(term=meddra("Rash maculo-papular"), kind=Kind.RASH, grade=3, onset=6)
    assert rules(window(events=(g3,))) == []


# ---------------------------------------------------------------- evaluability


def test_evaluable_without_dlt_after_the_window_and_cycle_2_day_1():
    a = assess(window(), today=day(30))
    assert a.evaluability.status == Status.EVALUABLE
    assert "without a DLT" in a.evaluability.reason


def test_pending_until_cycle_2_day_1_or_its_planned_date_plus_14():
    w = window(c2d1_given=None)
    a = assess(w, today=day(30))
    assert (a.evaluability.status, a.evaluability.until) == (Status.PENDING, day(44))
    assert assess(w, today=day(44)).evaluability.status == Status.EVALUABLE


def test_a_dlt_on_day_5_makes_the_patient_evaluable_at_once():
    fn = ae(term=meddra("Febrile neutropenia"), kind=Kind.FEBRILE_NEUTROPENIA, grade=3, onset=5)
    a = assess(window(events=(fn,), c2d1_given=None), today=day(6))
    assert a.evaluability.status == Status.EVALUABLE
    assert "H1" in a.evaluability.reason


@pytest.mark.parametrize(("reason", "status"), [("withdrawal", Status.NOT_EVALUABLE), ("progression", Status.NOT_EVALUABLE), ("toxicity", Status.PENDING)])
def test_withdrawal_or_progression_in_cycle_1_without_dlt_is_not_evaluable(reason, status):
    a = assess(window(c2d1_given=None, stopped_on=day(12), stopped_reason=reason), today=day(13))
    assert a.evaluability.status == status


def test_resolution_before_onset_is_refused():
    with pytest.raises(DltError, match="resolution before onset"):
        assess(window(events=(ae(onset=10, resolved=9),)), today=AFTER)


# ---------------------------------------------------------------- invariants


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.tuples(st.integers(1, 40), st.decimals("0.0", "3.0", places=1)), max_size=12), today=st.integers(1, 80))
def test_h2_proposals_always_rest_on_a_grade_4_run_of_more_than_7_days(values, today):
    by_day = dict(values)
    w = window(labs=anc(*sorted(by_day.items())), events=(GCSF_AE,))
    for p in assess(w, today=day(today)).proposals:
        assert p.rule == "H2"
        lows = [e for e in p.evidence if e.what == "ANC" and D(e.value.split()[0]) < D("0.5")]
        assert (max(e.on for e in lows) - min(e.on for e in lows)).days > 7 or any(
            D(e.value.split()[0]) >= D("0.5") and (e.on - p.onset).days > 7 for e in p.evidence if e.what == "ANC"
        )
        assert D1 <= p.onset <= day(28)


# ---------------------------------------------------------------- settled readings of s.3 (rule version 2)

THROMBO = {"term": meddra("Platelet count decreased"), "kind": Kind.THROMBOCYTOPENIA}
FN = {"term": meddra("Febrile neutropenia"), "kind": Kind.FEBRILE_NEUTROPENIA, "grade": 3}
UNRELATED = {"pomalidomide": "unrelated", "bendamustine": "unrelated"}
H3_LABS = plt((5, "20"), (14, "40"))  # 9 days below 25


def proposal(w, today=AFTER):
    [p] = assess(w, today=today).proposals
    return p


def test_rule_version_is_2():
    assert RULE_VERSION == 2


@pytest.mark.parametrize(("onset", "resolved", "covers"), [(-5, None, True), (-5, 5, True), (-5, 4, False), (9, None, True), (10, None, False)])
def test_h3_takes_the_attribution_of_the_event_whose_dates_cover_a_low_value(onset, resolved, covers):
    # day -5 is before cycle 1: such an event counts too; an event that covers no low value does not attribute.
    t = AdverseEvent(
        id=7,
        term=meddra("Platelet count decreased"),
        name="Platelet count decreased",
        kind=Kind.THROMBOCYTOPENIA,
        grade=4,
        onset=day(onset),
        resolved=day(resolved) if resolved else None,
        attribution=UNRELATED,
    )
    a = assess(window(labs=plt((5, "20"), (9, "15"), (14, "40")), events=(t,)), today=AFTER)
    if covers:
        assert a.proposals == ()  # the covering event is unrelated: no H3
    else:
        [p] = a.proposals
        assert (p.rule, p.attribution_recorded, p.event_ids) == ("H3", False, ())


def test_an_event_that_began_before_cycle_1_gives_its_attribution():
    t = ae(id=7, **THROMBO, grade=3, onset=-10, attribution={"bendamustine": "probable"})
    p = proposal(window(labs=H3_LABS, events=(t,)))
    assert (p.rule, p.attribution_recorded, p.event_ids) == ("H3", True, (7,))


def test_the_strongest_attribution_counts_not_the_nearest_onset():
    far = ae(id=1, **THROMBO, grade=3, onset=1, attribution={"pomalidomide": "possible"})
    near = ae(id=2, **THROMBO, grade=4, onset=5, attribution=UNRELATED)
    assert proposal(window(labs=H3_LABS, events=(far, near))).event_ids == (1,)
    weaker = replace(far, attribution={"pomalidomide": "unlikely"})
    assert rules(window(labs=H3_LABS, events=(weaker, near))) == []


def test_an_event_attributed_to_progression_is_the_weakest_attribution():
    progression = ae(id=1, **THROMBO, grade=4, onset=4, attribution={"pomalidomide": "definite"}, progression=True)
    related = ae(id=2, **THROMBO, grade=3, onset=2, attribution={"bendamustine": "possible"})
    assert rules(window(labs=H3_LABS, events=(progression,))) == []
    assert proposal(window(labs=H3_LABS, events=(progression, related))).event_ids == (2,)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ((), ("H2", False, (), "attribution and G-CSF not recorded")),
        ((ae(id=1, grade=4, onset=3),), None),  # recorded without G-CSF: no H2
        ((ae(id=1, grade=4, onset=3, supportive=frozenset({"gcsf"})),), ("H2", True, (1,), "G-CSF given")),
        ((ae(id=1, grade=4, onset=3, supportive=frozenset({"gcsf"}), attribution=UNRELATED),), None),
        ((ae(id=1, grade=3, onset=1, resolved=2, supportive=frozenset({"gcsf"})),), ("H2", False, (), "attribution and G-CSF not recorded")),
        ((ae(id=1, grade=4, onset=-3, supportive=frozenset({"gcsf"})),), ("H2", True, (1,), "G-CSF given")),
    ],
)
def test_h2_attribution_and_gcsf_as_for_h3(events, expected):
    a = assess(window(labs=anc((3, "0.4"), (7, "0.3"), (12, "0.6")), events=events), today=AFTER)
    if expected is None:
        assert a.proposals == ()
        assert a.evaluability.status == Status.EVALUABLE
    else:
        [p] = a.proposals
        assert (p.rule, p.attribution_recorded, p.event_ids) == expected[:3]
        assert expected[3] in p.sentence


def test_h2_the_strongest_covering_neutropenia_event_attributes_it():
    near = ae(id=1, grade=4, onset=3, supportive=frozenset({"gcsf"}), attribution=UNRELATED)
    strong = ae(id=2, grade=3, onset=1, supportive=frozenset({"gcsf"}), attribution={"bendamustine": "definite"})
    assert proposal(window(labs=anc((3, "0.4"), (12, "0.6")), events=(near, strong))).event_ids == (2,)


@pytest.mark.parametrize(("fn_onset", "h1_onset"), [(8, 8), (9, 9), (10, 9)])
def test_h1_from_the_event_and_the_values_is_one_dlt_dated_at_the_earliest_evidence(fn_onset, h1_onset):
    fn = ae(id=5, **FN, onset=fn_onset)
    p = proposal(window(labs=(LabValue(on=day(9), anc=D("0.8"), temperature=D("38.9")),), events=(fn,)))
    assert (p.rule, p.onset, p.event_ids, p.attribution_recorded) == ("H1", day(h1_onset), (5,), True)


@pytest.mark.parametrize("attribution", [UNRELATED, {"pomalidomide": "unlikely"}])
def test_an_unrelated_febrile_neutropenia_event_gives_no_h1_from_the_values(attribution):
    fn = ae(id=5, **FN, onset=10, attribution=attribution)
    assert rules(window(labs=(LabValue(on=day(9), anc=D("0.8"), temperature=D("38.9")),), events=(fn,))) == []


def test_febrile_values_without_a_febrile_neutropenia_event_are_h1_with_attribution_not_recorded():
    p = proposal(window(labs=(LabValue(on=day(9), anc=D("0.8"), temperature=D("38.9")),)))
    assert (p.rule, p.onset, p.attribution_recorded) == ("H1", day(9), False)
    assert "attribution not recorded" in p.sentence


def test_febrile_values_of_an_earlier_episode_are_not_given_a_later_events_attribution():
    labs = (LabValue(on=day(5), anc=D("0.8"), temperature=D("38.6")), LabValue(on=day(7), anc=D("1.6")))
    fn = ae(id=5, **FN, onset=10, attribution=UNRELATED)
    p = proposal(window(labs=labs, events=(fn,)))
    assert (p.rule, p.onset, p.attribution_recorded) == ("H1", day(5), False)


def test_a_febrile_neutropenia_event_before_cycle_1_dates_h1_at_its_first_febrile_value_in_the_window():
    fn = ae(id=5, **FN, onset=-2)
    p = proposal(window(labs=(LabValue(on=day(3), anc=D("0.7"), temperature=D("39.0")),), events=(fn,)))
    assert (p.rule, p.onset, p.event_ids) == ("H1", day(3), (5,))
    assert rules(window(events=(fn,))) == []  # no evidence in cycle 1


BLEED = {"term": meddra("Epistaxis"), "kind": Kind.BLEEDING, "grade": 2}


@pytest.mark.parametrize("bleeding", [{"attribution": UNRELATED}, {"progression": True}, {}])
def test_h4_bleeding_of_any_attribution_completes_the_thrombocytopenias_dlt(bleeding):
    b = ae(id=2, **BLEED, onset=10, **bleeding)
    t = ae(id=3, **THROMBO, grade=3, onset=8, attribution={"bendamustine": "probable"})
    p = proposal(window(labs=plt((9, "30")), events=(b, t)))
    assert (p.rule, p.onset, p.event_ids, p.attribution_recorded) == ("H4", day(10), (2, 3), True)
    assert "Epistaxis grade 2" in p.sentence
    assert ("attributed to progression" if bleeding.get("progression") else "bendamustine probable") in p.sentence


@pytest.mark.parametrize(("thrombo_resolved", "recorded"), [(None, True), (8, False)])
def test_h4_takes_the_attribution_of_the_thrombocytopenia_on_the_date_of_the_low_count(thrombo_resolved, recorded):
    b = ae(id=2, **BLEED, onset=10)
    t = ae(id=3, **THROMBO, grade=3, onset=6, resolved=thrombo_resolved, attribution={"pomalidomide": "possible"})
    p = proposal(window(labs=plt((9, "30")), events=(b, t)))
    assert (p.rule, p.attribution_recorded) == ("H4", recorded)


def test_h4_an_unrelated_thrombocytopenia_gives_no_h4():
    b = ae(id=2, **BLEED, onset=10)
    t = ae(id=3, **THROMBO, grade=3, onset=6, attribution=UNRELATED)
    assert rules(window(labs=plt((9, "30")), events=(b, t))) == []


@pytest.mark.parametrize(("grade", "bleed_day", "dlt"), [(3, 12, True), (4, 20, True), (3, 21, False), (2, 12, False)])
def test_h4_bleeding_inside_a_grade_3_4_thrombocytopenia_events_dates(grade, bleed_day, dlt):
    b = ae(id=2, **BLEED, onset=bleed_day)
    t = ae(id=3, **THROMBO, grade=grade, onset=8, resolved=20)
    w = window(labs=plt((4, "120"), (22, "140")), events=(b, t))
    assert rules(w) == (["H4"] if dlt else [])


@pytest.mark.parametrize(
    ("grade", "attribution", "expected"),
    [
        (3, {"pomalidomide": "possible"}, ["N1"]),
        (2, {"pomalidomide": "definite"}, []),
        (3, {"dexamethasone": "definite"}, []),
        (3, {"bendamustine": "probable"}, ["N1"]),
    ],
)
def test_n1_includes_grade_3_bleeding_related_to_pomalidomide_or_bendamustine(grade, attribution, expected):
    b = ae(id=2, term=meddra("Upper gastrointestinal hemorrhage"), kind=Kind.BLEEDING, grade=grade, onset=10, attribution=attribution)
    assert rules(window(events=(b,))) == expected
    assert sorted(rules(window(events=(b,), labs=plt((10, "30"))))) == sorted([*expected, "H4"])


STEROIDS = frozenset({"steroids"})


@pytest.mark.parametrize(("today", "status", "found"), [(35, Status.PENDING, []), (36, Status.EVALUABLE, ["N6"])])
def test_n6_only_once_onset_plus_10_days_has_passed_and_pending_until_then(today, status, found):
    rash = ae(term=meddra("Rash maculo-papular"), kind=Kind.RASH, grade=3, onset=25, supportive=STEROIDS)
    a = assess(window(events=(rash,)), today=day(today))
    assert ([p.rule for p in a.proposals], a.evaluability.status) == (found, status)
    if status == Status.PENDING:
        assert (a.pending_rules, a.evaluability.until) == (("N6",), day(36))


@pytest.mark.parametrize(("resolved", "found"), [(35, []), (36, ["N6"])])
def test_n6_a_rash_back_below_2_by_onset_plus_10_is_not_pending(resolved, found):
    rash = ae(term=meddra("Rash maculo-papular"), kind=Kind.RASH, grade=3, onset=25, resolved=resolved, supportive=STEROIDS)
    a = assess(window(events=(rash,)), today=day(40))
    assert ([p.rule for p in a.proposals], a.evaluability.status) == (found, Status.EVALUABLE)


def test_a_rash_without_steroids_or_unrelated_keeps_no_patient_pending():
    rash = ae(term=meddra("Rash maculo-papular"), kind=Kind.RASH, grade=3, onset=25)
    assert assess(window(events=(rash,)), today=day(30)).evaluability.status == Status.EVALUABLE
    unrelated = replace(rash, supportive=STEROIDS, attribution=UNRELATED)
    assert assess(window(events=(unrelated,)), today=day(30)).evaluability.status == Status.EVALUABLE


def test_a_reduction_in_cycle_1_linked_to_no_event_is_proposed_not_linked():
    mods = (Modification(id=4, on=day(10), kind="reduce_dose", in_cycle_1=True),)
    p = proposal(window(modifications=mods))
    assert (p.rule, p.onset, p.attribution_recorded, p.event_ids) == ("N7", day(10), False, ())
    assert "not linked" in p.sentence


@pytest.mark.parametrize("reason", ["toxicity", "death", "investigator"])
def test_a_stop_in_cycle_1_for_toxicity_death_or_investigator_is_evaluable_after_planned_c2d1_plus_14(reason):
    w = window(c2d1_given=None, stopped_on=day(12), stopped_reason=reason)
    a = assess(w, today=day(43))
    assert (a.evaluability.status, a.evaluability.until) == (Status.PENDING, day(44))
    assert assess(w, today=day(44)).evaluability.status == Status.EVALUABLE
    neut = ae(grade=3, onset=10)
    assert rules(replace(w, events=(neut,)), today=day(43)) == []
    assert rules(replace(w, events=(neut,)), today=day(44)) == ["H6"]
    assert rules(replace(w, events=(replace(neut, resolved=day(43)),)), today=day(44)) == []


@pytest.mark.parametrize("reason", ["withdrawal", "progression"])
def test_a_stop_for_withdrawal_or_progression_gives_no_h6_and_is_not_evaluable(reason):
    w = window(c2d1_given=None, stopped_on=day(12), stopped_reason=reason, events=(ae(grade=3, onset=10),))
    a = assess(w, today=day(50))
    assert (a.proposals, a.evaluability.status) == ((), Status.NOT_EVALUABLE)


@pytest.mark.parametrize(
    "events",
    [
        (ae(id=1, **THROMBO, grade=4, onset=20, progression=True),),
        (ae(id=1, **THROMBO, grade=4, onset=20, attribution=UNRELATED),),
    ],
)
def test_a_lab_episode_that_cannot_count_never_keeps_a_patient_pending(events):
    w = window(labs=plt((22, "20"), (26, "15")), events=events)
    a = assess(w, today=day(50))
    assert (a.proposals, a.pending_rules, a.evaluability.status) == ((), (), Status.EVALUABLE)
    pending = assess(replace(w, events=()), today=day(50))  # the same values with no event: may count, pending
    assert (pending.pending_rules, pending.evaluability.status, pending.evaluability.until) == (("H3",), Status.PENDING, day(50))


def test_an_h2_episode_recorded_without_gcsf_never_keeps_a_patient_pending():
    w = window(labs=anc((22, "0.3"), (26, "0.2")), events=(ae(grade=4, onset=22),))
    assert assess(w, today=day(50)).evaluability.status == Status.EVALUABLE


def test_h4_inside_the_thrombocytopenia_event_names_the_low_count_near_the_bleeding():
    b = ae(id=2, **BLEED, onset=10)
    t = ae(id=3, **THROMBO, grade=3, onset=9, attribution={"pomalidomide": "possible"})
    p = proposal(window(labs=plt((8, "30")), events=(b, t)))
    assert (p.rule, p.event_ids, p.attribution_recorded) == ("H4", (2, 3), True)
    assert "platelets 30 x10^9/L (< 50)" in p.sentence


LEVELS = st.sampled_from(["unrelated", "unlikely", "possible", "probable", "definite"])
KINDS = st.sampled_from([Kind.NEUTROPENIA, Kind.FEBRILE_NEUTROPENIA, Kind.THROMBOCYTOPENIA, Kind.BLEEDING, Kind.RASH, Kind.INFECTION])


@st.composite
def events_strategy(draw):
    out = []
    for i in range(draw(st.integers(0, 4))):
        onset = draw(st.integers(-5, 30))
        resolved = draw(st.one_of(st.none(), st.integers(onset, 45)))
        out.append(
            AdverseEvent(
                id=i + 1,
                term="t",
                name="T",
                kind=draw(KINDS),
                grade=draw(st.integers(1, 4)),
                onset=day(onset),
                resolved=day(resolved) if resolved is not None else None,
                attribution={"pomalidomide": draw(LEVELS)},
                progression=draw(st.booleans()),
                supportive=frozenset(draw(st.sets(st.sampled_from(["gcsf", "steroids"])))),
            )
        )
    return tuple(out)


@settings(max_examples=300, deadline=None)
@given(
    events=events_strategy(),
    labs=st.lists(st.tuples(st.integers(1, 35), st.decimals("0.1", "2.0", places=1), st.decimals("5", "120", places=0), st.booleans()), max_size=8),
)
def test_every_event_a_proposal_rests_on_counts_except_the_bleeding_that_completes_h4(events, labs):
    by_day = {n: (a, p, fever) for n, a, p, fever in labs}
    lab_values = tuple(LabValue(on=day(n), anc=a, platelets=p, temperature=D("39.0") if fever else D("37.0")) for n, (a, p, fever) in sorted(by_day.items()))
    w = window(events=events, labs=lab_values)
    by_id = {e.id: e for e in events}
    a = assess(w, today=AFTER)
    for p in a.proposals:
        for eid in p.event_ids:
            e = by_id[eid]
            if p.rule == "H4" and e.kind == Kind.BLEEDING:
                continue
            assert e.related(), (p.rule, e)
            assert not e.progression, (p.rule, e)
    assert a.evaluability.status == Status.EVALUABLE or a.pending_rules  # long after everything, only a pending rule waits
