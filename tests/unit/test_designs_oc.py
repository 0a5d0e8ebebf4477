"""Exact operating characteristics of the designs (issue 18): closed forms, Monte Carlo within 4 SE, invariants."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohorts.protocol import DesignSpec, read_protocol
from escalation import rules
from escalation.designs import DesignState, Move, engine_for, engine_of
from escalation.designs.oc import simulate_exact, simulate_tite, simulate_trials

LABELS = ("1", "2", "3", "4", "5")
TOX = (0.05, 0.12, 0.30, 0.45, 0.60)


def boin(labels=LABELS, max_n=30, **kw):
    return engine_for(DesignSpec(name="boin", target=0.3, phi1=0.18, phi2=0.42, cohort_size=3, max_n=max_n, **kw), labels)


def i3(labels=LABELS, max_n=30):
    return engine_for(DesignSpec(name="i3+3", target=0.3, cohort_size=3, max_n=max_n, ei_low=0.25, ei_high=0.35), labels)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_one_level_boin_closed_form(p):
    # one level, N = 6: the trial stops (no MTD) only if 3 of the first 3 (eliminated, the lowest level)
    # or, after 6, at least 4 of 6 (eliminated at n = 6); otherwise the level is selected.
    oc = simulate_exact(boin(("A",), max_n=6), [p])
    p_first = p**3
    p_then = sum(
        rules.comb(3, a) * p**a * (1 - p) ** (3 - a) * sum(rules.comb(3, b) * p**b * (1 - p) ** (3 - b) for b in range(4) if a + b >= 4) for a in range(3)
    )
    assert oc.p_none == pytest.approx(p_first + p_then)
    assert oc.p_select[0] == pytest.approx(1 - p_first - p_then)
    assert oc.expected_n[0] == pytest.approx(3 + 3 * (1 - p_first))
    assert oc.expected_dlt[0] == pytest.approx(p * oc.expected_n[0])


def test_one_level_i3plus3_closed_form():
    p = 0.3
    oc = simulate_exact(i3(("A",), max_n=3), [p])
    assert oc.p_none == pytest.approx(p**3)
    assert oc.expected_n[0] == pytest.approx(3)


@pytest.mark.parametrize("make", [boin, i3])
def test_exact_against_monte_carlo_within_4_se(make):
    exact = simulate_exact(make(), TOX)
    mc = simulate_trials(make(), TOX, trials=4000, seed=18)
    assert sum(exact.p_select) + exact.p_none == pytest.approx(1)
    for i in range(5):
        assert abs(exact.p_select[i] - mc.p_select[i]) <= 4 * max(mc.se_select[i], 1e-3)
        assert abs(exact.expected_n[i] - mc.expected_n[i]) <= 4 * max(mc.se_n[i], 1e-3)


def test_three_plus_three_exact_is_the_rules_enumeration_and_agrees_with_the_engines_monte_carlo():
    spec = read_protocol("protocols/bpd.toml")
    engine, start = engine_of(spec)
    tox = (0.05, 0.1, 0.2, 0.3, 0.5)
    ours = simulate_exact(engine, tox, start=start)
    theirs = rules.simulate_exact(rules.ladder_of(spec), tox)  # the one exact 3+3 enumeration
    assert ours.states == theirs.states > 0
    for i, label in enumerate(engine.labels):
        assert ours.p_select[i] == theirs.p_mtd[label]
        assert ours.expected_n[i] == theirs.expected_n_by_level[label]
    assert sum(ours.expected_dlt) == pytest.approx(theirs.expected_dlt)
    # the wrapped engine's own walk (Monte Carlo through ThreePlusThree.decide) agrees with the enumeration
    mc = simulate_trials(engine, tox, trials=4000, seed=18, start=start)
    for i in range(5):
        assert abs(ours.p_select[i] - mc.p_select[i]) <= 4 * max(mc.se_select[i], 1e-3)
        assert abs(ours.expected_n[i] - mc.expected_n[i]) <= 4 * max(mc.se_n[i], 1e-3)
    assert abs(ours.p_overdose60 - mc.p_overdose60) <= 0.03
    assert abs(sum(ours.expected_dlt) - sum(mc.expected_dlt)) <= 0.1


def test_three_plus_three_one_level_closed_form():
    """One level, 3+3: 3 patients, 3 more after 0 or 1 DLT (the top level is declared the MTD only on 6), so
    E[n] = 3 + 3 P(at most 1 of 3); E[DLTs] = p E[n]; overdosing is certain above 1/3 (every patient is there)."""
    spec = rules.Ladder(labels=("A",), start="A")
    for p in (0.1, 0.4):
        c = rules.simulate_exact(spec, [p])
        assert c.expected_n_by_level["A"] == pytest.approx(3 + 3 * ((1 - p) ** 3 + 3 * p * (1 - p) ** 2))
        assert c.expected_dlt_by_level["A"] == pytest.approx(p * c.expected_n_by_level["A"])
        assert c.p_overdose60 == (1.0 if p > 1 / 3 else 0.0)


def test_boin_exact_five_levels_n30_under_a_second():
    import time

    t = time.process_time()
    oc = simulate_exact(boin(), TOX)
    assert oc.states > 10000
    assert time.process_time() - t < 3  # the figure (under 1 s on an idle core) is in docs/benchmarks.md; slack for shared CI


def test_tite_boin_monte_carlo_runs_and_is_seeded():
    e = engine_for(DesignSpec(name="tite-boin", target=0.3, phi1=0.18, phi2=0.42, cohort_size=3, max_n=30, window_days=28), LABELS)
    a = simulate_tite(e, TOX, trials=300, seed=5)
    assert a == simulate_tite(e, TOX, trials=300, seed=5)
    assert sum(a.p_select) + a.p_none == pytest.approx(1)
    assert sum(a.expected_n) <= 30
    # close to BOIN's selection (TITE-BOIN decides with pending patients by the imputed estimate, Yuan et al. 2018)
    exact = simulate_exact(boin(), TOX)
    assert abs(a.p_select[2] - exact.p_select[2]) < 0.15


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=3, max_size=5), st.integers(0, 10_000), st.sampled_from(["boin", "i3+3"]), st.integers(2, 6))
def test_invariants(tox, seed, design, cohorts):
    import random

    labels = tuple(str(i) for i in range(len(tox)))
    e = boin(labels, max_n=3 * cohorts) if design == "boin" else i3(labels, max_n=3 * cohorts)
    rng = random.Random(seed)
    state = DesignState.start(len(tox))
    tried = set()
    while True:
        step = e.decide(state)
        if step.move == Move.STOP:
            break
        assert step.eliminated_from is None or step.level < step.eliminated_from  # never treat at or above an eliminated level
        tried.add(step.level)
        y = sum(rng.random() < tox[step.level] for _ in range(step.slots))
        nxt = state.with_cohort(step.level, y, step.slots)
        state = DesignState(nxt.levels, nxt.current, step.eliminated_from)
        assert state.treated <= 3 * cohorts
    sel = e.select(state)
    assert sel.mtd is None or sel.mtd in tried


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=5), st.integers(0, 10_000), st.floats(0.5, 10.0))
def test_tite_invariants(tox, seed, arrivals):
    from escalation.designs.oc import TiteAssumptions

    labels = tuple(str(i) for i in range(len(tox)))
    e = engine_for(DesignSpec(name="tite-boin", target=0.3, phi1=0.18, phi2=0.42, cohort_size=3, max_n=18, window_days=28), labels)
    oc = simulate_tite(e, tox, trials=3, seed=seed, assumptions=TiteAssumptions(arrivals))
    assert sum(oc.expected_n) <= 18
    assert sum(oc.p_select) + oc.p_none == pytest.approx(1)
    for i in range(len(tox)):
        assert oc.p_select[i] == 0 or oc.expected_n[i] > 0  # a selected level was tried
