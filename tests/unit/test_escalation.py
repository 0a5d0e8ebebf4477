"""The 3+3 engine (protocol s.2): every outcome of 3 and of 6 patients at a level, de-escalation,
the top level, early decisions, replacement, the cap; invariants; exact characteristics."""

from datetime import date
from itertools import product
from math import comb
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohorts.protocol import read_protocol
from escalation.rules import (
    Action,
    EscalationError,
    Ladder,
    Outcome,
    Patient,
    decide,
    ladder_of,
    parse_outcomes,
    simulate_exact,
    simulate_trials,
)

L = ladder_of(read_protocol(Path(__file__).resolve().parents[2] / "protocols" / "bpd.toml"))  # levels -1..4, start 1, 3/6, cap 24


def run(outcomes: str, ladder: Ladder = L):
    patients, current = parse_outcomes(outcomes, ladder)
    return decide(ladder, patients, current=current)


def answer(outcomes: str):
    d = run(outcomes)
    return d.action.value, d.level, d.mtd, d.rule


# ---------------------------------------------------------------- every outcome of 3 patients at a level

THREE = {
    0: ("escalate", "3", None, "E0of3"),
    1: ("expand", "2", None, "E1of3"),
    2: ("de-escalate", "1", None, "BELOW3"),
    3: ("de-escalate", "1", None, "BELOW3"),
}


@pytest.mark.parametrize("marks", ["".join(p) for p in product("NT", repeat=3)])
def test_every_outcome_of_3_patients_at_level_2(marks):
    assert answer(f"1NNN 2{marks}") == THREE[marks.count("T")]


@pytest.mark.parametrize("marks", ["".join(p) for p in product("NT", repeat=3)])
def test_every_outcome_of_3_patients_at_the_starting_level(marks):
    expected = {0: ("escalate", "2", None, "E0of3"), 1: ("expand", "1", None, "E1of3")}.get(marks.count("T"), ("de-escalate", "-1", None, "DOWN"))
    assert answer(f"1{marks}") == expected


# ---------------------------------------------------------------- every outcome of 6 patients at a level


@pytest.mark.parametrize("marks", ["".join(p) for p in product("NT", repeat=6) if "T" in p[:3] and p[:3].count("T") == 1])
def test_every_outcome_of_6_patients_after_1_dlt_in_3(marks):
    d = run(f"1NNN 2{marks[:3]} 2{marks[3:]}")
    if marks.count("T") <= 1:
        assert (d.action, d.level, d.rule) == (Action.ESCALATE, "3", "E1of6")
    else:
        assert (d.action, d.level, d.rule) == (Action.DE_ESCALATE, "1", "BELOW3")


@pytest.mark.parametrize("dlts", range(2))  # 2 or more: the level would be closed itself, covered by the de-escalation tests
def test_six_at_the_level_below_a_closed_level(dlts):
    marks = "T" * dlts + "N" * (6 - dlts)
    d = run(f"1{marks[:3]} 1{marks[3:]} 2TTN")
    assert (d.action, d.mtd, d.rule) == (Action.MTD, "1", "MTD")


# ---------------------------------------------------------------- de-escalation, -1, the top level


def test_two_dlts_at_the_start_go_to_minus_1_then_its_outcomes():
    assert answer("1TTN") == ("de-escalate", "-1", None, "DOWN")
    assert answer("1TTN -1NNN") == ("expand", "-1", None, "BELOW3")  # never back up into 1: -1 needs 6
    assert answer("1TTN -1NTN") == ("expand", "-1", None, "BELOW3")
    assert answer("1TTN -1NNN -1NTN") == ("mtd", "-1", "-1", "MTD")
    assert answer("1TTN -1NTN -1NTN") == ("stop", None, None, "NONE")
    assert answer("1TTN -1TTN") == ("stop", None, None, "NONE")


def test_going_down_expands_a_level_that_had_only_3():
    assert answer("1NNN 2NNN 3TTT") == ("de-escalate", "2", None, "BELOW3")
    assert answer("1NNN 2NNN 3TTT 2NNT") == ("mtd", "2", "2", "MTD")
    assert answer("1NNN 2NNN 3TTT 2NTT") == ("de-escalate", "1", None, "BELOW3")
    assert answer("1NNN 2NNN 3TTT 2NTT 1NNN") == ("mtd", "1", "1", "MTD")


def test_a_level_with_6_and_one_dlt_below_a_closed_level_is_the_mtd_at_once():
    assert answer("1NTN 1NNN 2TTN") == ("mtd", "1", "1", "MTD")


def test_top_level():
    assert answer("1NNN 2NNN 3NNN 4NNN") == ("expand", "4", None, "TOP3")
    assert answer("1NNN 2NNN 3NNN 4NTN") == ("expand", "4", None, "E1of3")
    assert answer("1NNN 2NNN 3NNN 4NNN 4NNT") == ("mtd", "4", "4", "TOP6")
    assert answer("1NNN 2NNN 3NNN 4NNN 4NTT") == ("de-escalate", "3", None, "BELOW3")


# ---------------------------------------------------------------- pending, early decisions, replacement


def test_pending_patients_make_the_engine_wait_and_name_them():
    patients = {"1": [Patient(Outcome.NO_DLT, "BPD-01-001"), Patient(Outcome.NO_DLT, "BPD-01-002"), Patient(Outcome.PENDING, "BPD-02-001", date(2026, 12, 9))]}
    d = decide(L, patients)
    assert (d.action, d.level, d.slots) == (Action.WAIT, "1", 0)
    assert "waiting for BPD-02-001 (until 2026-12-09)" in d.reason
    assert "Enrolment at level 1 is on hold" in d.reason


def test_two_dlts_among_the_first_two_decide_before_the_third():
    assert answer("1TT") == ("de-escalate", "-1", None, "DOWN")
    assert answer("1TTP") == ("de-escalate", "-1", None, "DOWN")
    assert answer("1NTP")[0] == "wait"  # 1 or 2 DLTs: the pending patient decides


def test_a_level_is_never_declared_safe_early():
    assert answer("1NNP")[0] == "wait"
    assert answer("1NTN 1NNP")[0] == "wait"


def test_not_evaluable_patients_are_replaced():
    d = run("1NXN")
    assert (d.action, d.level, d.slots, d.rule) == (Action.ENROL, "1", 1, "ENROL")
    assert answer("1NXNN") == ("escalate", "2", None, "E0of3")


def test_an_incomplete_cohort_needs_its_patients():
    assert (run("1N").action, run("1N").slots) == (Action.ENROL, 2)
    assert decide(L, {}).as_json() == {
        "action": "enrol",
        "level": "1",
        "mtd": None,
        "reason": "Level 1 needs 3 more patient(s) for its cohort (0 DLTs in 0 evaluable).",
    }


# ---------------------------------------------------------------- the escalation cap


def test_the_cap_stops_escalation_naming_the_level_it_needed():
    small = Ladder(labels=("-1", "1", "2", "3", "4"), start="1", escalation_cap=9)
    d = run("1NNN 2NNN 3NNN", small)
    assert (d.action, d.level, d.rule) == (Action.STOP, "4", "CAP")
    assert "9 patients treated in escalation, the cap is 9" in d.reason
    assert "protocol amendment" in d.reason


def test_the_bpd_cap_of_24_is_reached_going_down_level_by_level():
    path = "1NNN 2NNN 3NNN 4TTN 3TTN 2TTN 1TTN"  # 21 treated, every level from 4 down closed
    assert answer(path) == ("de-escalate", "-1", None, "DOWN")
    d = run(path + " -1NNN")  # 24 treated; -1 would need 3 more to reach 6
    assert (d.action, d.level, d.rule) == (Action.STOP, "-1", "CAP")
    assert "24 patients treated in escalation, the cap is 24" in d.reason


# ---------------------------------------------------------------- the notation


def test_the_statisticians_notation_and_its_errors():
    assert answer("1NNN 2NTN 2NNN") == ("escalate", "3", None, "E1of6")
    with pytest.raises(EscalationError, match="'7' is not a dose level"):
        run("7NNN")
    with pytest.raises(EscalationError, match="a letter per patient"):
        run("1")
    with pytest.raises(EscalationError, match="more than 6"):
        run("1NNN 1NTN 1N")


# ---------------------------------------------------------------- invariants (hypothesis)


def _walk(seq):
    """Follow the engine with DLT outcomes drawn from `seq`; yield each state's decision and tallies."""
    patients, current, it = {}, None, iter(seq)
    for _ in range(40):
        d = decide(L, patients, current=current)
        yield d, patients
        if d.action in (Action.MTD, Action.STOP):
            return
        for _ in range(d.slots):
            patients.setdefault(d.level, []).append(Patient(Outcome.DLT if next(it, False) else Outcome.NO_DLT))
        current = d.level


@settings(max_examples=300, deadline=None)
@given(st.lists(st.booleans(), min_size=0, max_size=40))
def test_invariants_over_random_trials(seq):
    closed = set()
    d = None
    for d, patients in _walk(seq):
        for label, ps in patients.items():
            assert len([p for p in ps if p.outcome != Outcome.NOT_EVALUABLE]) <= 6  # never more than 6 at a level
            if sum(p.outcome == Outcome.DLT for p in ps) >= 2:
                closed.add(label)
        if d.action in (Action.ESCALATE, Action.ENROL, Action.EXPAND, Action.DE_ESCALATE):
            assert d.level not in closed  # 2 or more DLTs at a level: never (re-)entered
        if d.action == Action.MTD:
            at_mtd = patients[d.mtd]
            assert len(at_mtd) >= 6  # a declared MTD has at least 6 evaluable patients
            assert sum(p.outcome == Outcome.DLT for p in at_mtd) <= 1  # with at most 1 DLT
        assert sum(len(ps) for ps in patients.values()) <= L.escalation_cap
    assert d is not None
    assert d.action in (Action.MTD, Action.STOP)  # every walk ends: the invariants held over a whole trial


# ---------------------------------------------------------------- operating characteristics


def test_exact_characteristics_of_a_one_level_ladder_match_the_closed_form():
    one = Ladder(labels=("1",), start="1")
    p, q = 0.2, 0.8
    c = simulate_exact(one, [p])
    # MTD after 0/3 then <=1/3, or after 1/3 then 0/3.
    expected = q**3 * (q**3 + 3 * p * q**2) + 3 * p * q**2 * q**3
    assert c.p_mtd["1"] == pytest.approx(expected, abs=1e-12)
    assert c.p_stop == pytest.approx(1 - expected, abs=1e-12)
    p_first_2 = sum(comb(3, d) * p**d * q ** (3 - d) for d in (2, 3))
    assert c.expected_n == pytest.approx(3 * p_first_2 + 6 * (1 - p_first_2), abs=1e-12)


def test_extreme_probabilities():
    safe = simulate_exact(L, [0, 0, 0, 0, 0])
    assert (safe.p_mtd["4"], safe.expected_n, safe.expected_dlt) == (1.0, 15.0, 0.0)  # 3+3+3 then 6 at the top
    toxic = simulate_exact(L, [1, 1, 1, 1, 1])
    assert (toxic.p_stop, toxic.expected_n, toxic.expected_dlt) == (1.0, 6.0, 6.0)


def test_exact_probabilities_sum_to_one_and_expected_counts_add_up():
    c = simulate_exact(L, [0.05, 0.1, 0.2, 0.3, 0.5])
    assert sum(c.p_mtd.values()) + c.p_stop == pytest.approx(1.0, abs=1e-12)
    assert sum(c.expected_n_by_level.values()) == pytest.approx(c.expected_n, abs=1e-12)


def test_monte_carlo_agrees_with_the_exact_answer_within_sampling_error():
    tox = [0.05, 0.1, 0.2, 0.3, 0.5]
    exact = simulate_exact(L, tox)
    mc = simulate_trials(L, tox, trials=20000, seed=7)
    for label, p in exact.p_mtd.items():
        se = (p * (1 - p) / mc.trials) ** 0.5
        assert abs(mc.p_mtd[label] - p) <= 4 * se + 1e-9, label
    assert abs(mc.expected_n - exact.expected_n) < 0.15
    assert mc == simulate_trials(L, tox, trials=20000, seed=7)  # seeded: reproducible


def test_one_probability_per_level():
    with pytest.raises(EscalationError, match="one true DLT probability per level"):
        simulate_exact(L, [0.1, 0.2])
