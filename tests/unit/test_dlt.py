"""DLT rules H1-H6 and N1-N8 on both sides of each boundary (protocol s.3), and evaluability."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toxicity.ctcae import Kind, meddra
from toxicity.dlt import AdverseEvent, DltError, LabValue, Modification, PatientWindow, Status, assess, episodes

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


NEUTROPENIA = meddra("Neutrophil count decreased")


def ae(id=1, term=NEUTROPENIA, kind=Kind.NEUTROPENIA, grade=4, onset=3, resolved=None, attribution=None, **kw) -> AdverseEvent:
    return AdverseEvent(
        id=id,
        term=term,
        name=term.replace("_", " ").capitalize(),
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


def test_gcsf_recorded_only_outside_the_window_does_not_satisfy_h2():
    w = window(labs=anc((3, "0.4"), (12, "0.6")), events=(replace(GCSF_AE, kind=Kind.FEBRILE_NEUTROPENIA, grade=3, onset=day(40)),))
    assert rules(w) == []


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
