"""Endpoint definitions (protocol s.5) on small hand-made cohorts."""

from datetime import date, timedelta

import pytest

from response.endpoints import Course, compute, end_of_cycle2, months, pfs, ttnt, ttp

C1 = date(2026, 1, 1)


def d(days: int) -> date:
    return C1 + timedelta(days=days)


def course(name, level="1", **kw):
    values = {"start": C1, "end_of_cycle2": end_of_cycle2(C1, d(28)), "assessments": ((d(28), "SD"), (d(56), "SD"))}
    values.update(kw)
    return Course(name, level, **values)


def test_pfs_event_censoring_and_new_therapy():
    assert pfs(course("a", progression_on=d(120))) == (pytest.approx(120 / 30.4375), True)
    assert pfs(course("b", death_on=d(90))) == (pytest.approx(90 / 30.4375), True)
    assert pfs(course("c")) == (pytest.approx(56 / 30.4375), False)  # last adequate assessment
    new_therapy = course("d", assessments=((d(28), "PR"), (d(56), "PR"), (d(84), "NE")), next_therapy_on=d(70), progression_on=d(100))
    assert pfs(new_therapy) == (pytest.approx(56 / 30.4375), False)  # last assessment before the new therapy
    assert pfs(Course("e", "1", start=None, end_of_cycle2=None)) is None


def test_ttp_counts_responders_only_and_death_is_not_an_event():
    assert ttp(course("a")) is None
    r = course("b", first_response_on=d(28), progression_on=d(150), confirmed=(("PR", d(28)),))
    assert ttp(r) == (pytest.approx(122 / 30.4375), True)
    dead = course("c", first_response_on=d(28), death_on=d(60))
    assert ttp(dead) == (pytest.approx(28 / 30.4375), False)


def test_ttnt_is_censored_at_the_last_contact():
    assert ttnt(course("a", next_therapy_on=d(200))) == (pytest.approx(200 / 30.4375), True)
    assert ttnt(course("b", last_contact_on=d(300))) == (pytest.approx(300 / 30.4375), False)


def test_rates_and_best_response_by_level():
    cohort = [
        course("a", best="PR", confirmed=(("PR", d(28)),), first_response_on=d(28)),
        course("b", best="VGPR", confirmed=(("PR", d(60)), ("VGPR", d(90))), first_response_on=d(60)),  # PR after cycle 2
        course("c", level="2", best="SD", confirmed=(("SD", d(28)),)),
        course("d", level="2", best="PD", progression_on=d(40)),
        course("e", level="2", assessments=()),  # dosed, no post-baseline assessment: not evaluable
    ]
    result = compute(cohort, levels=["-1", "1", "2"])
    overall = result["overall"]
    assert (overall["patients"], overall["evaluable"]) == (5, 4)
    assert overall["initial_response_rate"] == {"n": 1, "of": 4, "pct": 25.0}
    assert overall["orr"] == {"n": 2, "of": 4, "pct": 50.0}
    assert overall["disease_control_rate"] == {"n": 3, "of": 4, "pct": 75.0}
    assert overall["best_response"]["PD"] == 1
    assert set(result["by_level"]) == {"1", "2"}
    assert result["by_level"]["1"]["orr"]["pct"] == 100.0
    assert "a disease control rate" in result["definitions"]["disease_control_rate"]


def test_kaplan_meier_summary_of_an_endpoint():
    cohort = [course(str(i), progression_on=d(30 * i)) for i in range(1, 5)] + [course("x")]
    pfs_summary = compute(cohort, levels=["1"])["overall"]["pfs"]
    assert (pfs_summary["n"], pfs_summary["events"]) == (5, 4)
    assert pfs_summary["median"] == pytest.approx(months(C1, d(90)))  # S: 0.8 at 30 d, censored 56 d, 0.533 at 60 d, 0.267 at 90 d
    assert pfs_summary["curve"]["at_risk"]["0"] == 5


def test_end_of_cycle_2():
    assert end_of_cycle2(C1, None) == d(55)
    assert end_of_cycle2(C1, d(35)) == d(62)
