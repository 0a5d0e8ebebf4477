"""TITE-BOIN (issue 18) against the published decision tables of Yuan, Lin, Li, Nie, Warren (2018), "Time-to-event
Bayesian optimal interval design to accelerate phase I trials", Clin Cancer Res 24(20):4921-4930: Table 1 (target 0.2)
and Table S1 of its supplementary appendix (target 0.3), cohorts of 3, up to 15 patients at a level, phi1 / phi2 =
0.6 / 1.4 x target, elimination cutoff 0.95, at most 50% pending.

Each row: n treated, DLTs observed (lowest, highest; + = and more), patients pending (lowest, highest; + = and more),
the decision (E escalate, S stay, D de-escalate, DE de-escalate and eliminate, SUS suspend accrual, ES escalate when
STFT >= the threshold else stay, SD de-escalate when STFT <= the threshold else stay) and the STFT threshold as printed
(two decimals). STFT = the standardized total follow-up time of the pending patients. The rows are the publication's,
as transcribed in the test fixture yuan2018-tables.csv of the R package simFastBOIN (github.com/gosukehommaEX/simFastBOIN);
the rows up to 9 treated of Table 1 are also reprinted in Table 1 of PMC9260438 (Contemp Clin Trials Commun, 2022).
"""

import pytest

from cohorts.protocol import DesignSpec
from escalation.designs import DesignState, LevelState, Move, engine_for
from escalation.designs.tables import tite_decision_table

TABLE_1 = """
 3 0 0 0  1 E   -
 3 0 0 2  + SUS -
 3 1 1 0  2 D   -
 3 2 + 0  1 DE  -
 6 0 0 0  3 E   -
 6 0 0 4  + SUS -
 6 1 1 0  3 S   -
 6 1 1 4  + SUS -
 6 2 2 0  4 D   -
 6 3 + 0  3 DE  -
 9 0 0 0  4 E   -
 9 0 0 5  + SUS -
 9 1 1 0  2 E   -
 9 1 1 3  3 ES  0.77
 9 1 1 4  4 ES  2.15
 9 1 1 5  + SUS -
 9 2 2 0  0 S   -
 9 2 2 1  1 SD  0.52
 9 2 2 2  2 SD  1.59
 9 2 2 3  3 SD  2.66
 9 2 2 4  4 SD  3.73
 9 2 2 5  + SUS -
 9 3 3 0  6 D   -
 9 4 + 0  5 DE  -
12 0 0 0  6 E   -
12 0 0 7  + SUS -
12 1 1 0  5 E   -
12 1 1 6  6 ES  1.24
12 1 1 7  + SUS -
12 2 2 0  6 S   -
12 2 2 7  + SUS -
12 3 4 0  9 D   -
12 5 + 0  7 DE  -
15 0 0 0  7 E   -
15 0 0 8  + SUS -
15 1 1 0  7 E   -
15 1 1 8  + SUS -
15 2 2 0  2 E   -
15 2 2 3  3 ES  1.14
15 2 2 4  4 ES  2.31
15 2 2 5  5 ES  3.48
15 2 2 6  6 ES  4.65
15 2 2 7  7 ES  5.82
15 2 2 8  + SUS -
15 3 3 0  2 S   -
15 3 3 3  3 SD  1.16
15 3 3 4  4 SD  2.34
15 3 3 5  5 SD  3.53
15 3 3 6  6 SD  4.72
15 3 3 7  7 SD  5.90
15 3 3 8  + SUS -
15 4 5 0 11 D   -
15 6 + 0  9 DE  -
"""

TABLE_S1 = """
 3 0 0 0  1 E   -
 3 0 0 2  + SUS -
 3 1 1 0  0 S   -
 3 1 1 1  1 SD  0.88
 3 1 1 2  + SUS -
 3 2 2 0  1 D   -
 3 3 3 0  0 DE  -
 6 0 0 0  3 E   -
 6 0 0 4  + SUS -
 6 1 1 0  1 E   -
 6 1 1 2  2 ES  0.60
 6 1 1 3  3 ES  1.96
 6 1 1 4  + SUS -
 6 2 2 0  0 S   -
 6 2 2 1  1 SD  0.73
 6 2 2 2  2 SD  1.80
 6 2 2 3  3 SD  2.87
 6 2 2 4  + SUS -
 6 3 3 0  3 D   -
 6 4 + 0  2 DE  -
 9 0 0 0  4 E   -
 9 0 0 5  + SUS -
 9 1 1 0  4 E   -
 9 1 1 5  + SUS -
 9 2 2 0  0 E   -
 9 2 2 1  1 ES  0.59
 9 2 2 2  2 ES  1.65
 9 2 2 3  3 ES  2.71
 9 2 2 4  4 ES  3.77
 9 2 2 5  + SUS -
 9 3 3 0  0 S   -
 9 3 3 1  1 SD  0.58
 9 3 3 2  2 SD  1.65
 9 3 3 3  3 SD  2.72
 9 3 3 4  4 SD  3.79
 9 3 3 5  + SUS -
 9 4 4 0  5 D   -
 9 5 + 0  4 DE  -
12 0 0 0  6 E   -
12 0 0 7  + SUS -
12 1 1 0  6 E   -
12 1 1 7  + SUS -
12 2 2 0  3 E   -
12 2 2 4  4 ES  1.33
12 2 2 5  5 ES  2.72
12 2 2 6  6 ES  4.11
12 2 2 7  + SUS -
12 3 3 0  6 S   -
12 3 3 7  + SUS -
12 4 4 0  0 S   -
12 4 4 1  1 SD  0.43
12 4 4 2  2 SD  1.50
12 4 4 3  3 SD  2.57
12 4 4 4  4 SD  3.65
12 4 4 5  5 SD  4.72
12 4 4 6  6 SD  5.79
12 4 4 7  + SUS -
12 5 6 0  7 D   -
12 7 + 0  5 DE  -
15 0 0 0  7 E   -
15 0 0 8  + SUS -
15 1 1 0  7 E   -
15 1 1 8  + SUS -
15 2 2 0  5 E   -
15 2 2 6  6 ES  0.35
15 2 2 7  7 ES  2.07
15 2 2 8  + SUS -
15 3 3 0  1 E   -
15 3 3 2  2 ES  0.11
15 3 3 3  3 ES  1.29
15 3 3 4  4 ES  2.46
15 3 3 5  5 ES  3.64
15 3 3 6  6 ES  4.81
15 3 3 7  7 ES  5.98
15 3 3 8  + SUS -
15 4 4 0  7 S   -
15 4 4 8  + SUS -
15 5 5 0  0 S   -
15 5 5 1  1 SD  0.28
15 5 5 2  2 SD  1.35
15 5 5 3  3 SD  2.42
15 5 5 4  4 SD  3.50
15 5 5 5  5 SD  4.57
15 5 5 6  6 SD  5.64
15 5 5 7  7 SD  6.72
15 5 5 8  + SUS -
15 6 7 0  9 D   -
15 8 + 0  7 DE  -
"""

CODES = {"E": "E", "S": "S", "D": "D", "DE": "DE", "SUS": "SUS", "ES": "E/S", "SD": "S/D"}
PUBLISHED = {0.2: TABLE_1, 0.3: TABLE_S1}


def tite(target, labels=("1", "2", "3"), **kw):
    kw.setdefault("max_n", 30)
    spec = DesignSpec(name="tite-boin", target=target, phi1=0.6 * target, phi2=1.4 * target, cohort_size=3, window_days=28, **kw)
    return engine_for(spec, labels)


def published(target):
    for line in PUBLISHED[target].strip().splitlines():
        n, y_lo, y_hi, c_lo, c_hi, decision, stft = line.split()
        yield int(n), int(y_lo), y_hi, int(c_lo), c_hi, decision, stft


def cells(target):
    """Every (n, DLTs, pending) state a published row covers, with its decision and printed threshold."""
    for n, y_lo, y_hi, c_lo, c_hi, decision, stft in published(target):
        for y in range(y_lo, n + 1 if y_hi == "+" else int(y_hi) + 1):
            for c in range(c_lo, (n - y if c_hi == "+" else min(int(c_hi), n - y)) + 1):
                yield n, y, c, decision, stft


@pytest.mark.parametrize("target", [0.2, 0.3])
def test_every_state_of_the_published_tables(target):
    e = tite(target)
    count = 0
    for n, y, c, decision, stft in cells(target):
        cell = e.cell(n, y, c)
        assert cell.decision == CODES[decision], (n, y, c)
        if decision == "ES":
            assert f"{cell.escalate_from:.2f}" == stft, (n, y, c)
        if decision == "SD":
            assert f"{cell.deescalate_to:.2f}" == stft, (n, y, c)
        count += 1
    assert count == sum(n - y + 1 for n in range(3, 16, 3) for y in range(n + 1))  # the tables cover every state


@pytest.mark.parametrize("target", [0.2, 0.3])
def test_the_printed_table_has_the_published_rows(target):
    ours = tite_decision_table(tite(target), up_to=15)
    rows = list(published(target))
    assert len(ours) == len(rows)
    for row, (n, y_lo, y_hi, c_lo, c_hi, decision, stft) in zip(ours, rows, strict=True):
        dlts = f">= {y_lo}" if y_hi == "+" else str(y_lo) if int(y_hi) == y_lo else f"{y_lo}, {y_hi}"
        pending = f">= {c_lo}" if c_hi == "+" else str(c_lo) if int(c_hi) == c_lo else f"<= {c_hi}"
        assert (row.n, row.dlts, row.pending, row.cell.decision) == (n, dlts, pending, CODES[decision])
        if decision == "ES":
            assert (row.escalate, row.stay, row.deescalate) == (f">= {stft}", f"< {stft}", "")
        if decision == "SD":
            assert (row.escalate, row.stay, row.deescalate) == ("", f"> {stft}", f"<= {stft}")
    if target == 0.2:
        nine = [r for r in ours if (r.n, r.dlts, r.pending) == (9, "1", "3")]
        assert [(r.escalate, r.stay, r.deescalate) for r in nine] == [(">= 0.77", "< 0.77", "")]


def at(n_complete, dlt, pending, current=1, levels=3):
    states = [LevelState(6, 0)] + [LevelState() for _ in range(levels - 1)]
    states[current] = LevelState(n_complete, dlt, pending)
    return DesignState(tuple(states), current)


def test_nine_treated_one_dlt_three_pending_escalates_from_stft_077():
    """Table 1: 9 treated, 1 DLT, 3 pending: escalate if STFT >= 0.77, else stay (DLTs / ESS would escalate at 0.37)."""
    e = tite(0.2)
    below = e.decide(at(6, 1, (0.25, 0.25, 0.26)))  # STFT 0.76
    above = e.decide(at(6, 1, (0.26, 0.26, 0.26)))  # STFT 0.78
    assert (below.move, below.rule) == (Move.STAY, "TITE-S")
    assert (above.move, above.level, above.rule) == (Move.ESCALATE, 2, "TITE-E")
    assert above.reason.startswith("1 DLT in 9 treated at level 2 (6 complete, 3 pending, STFT 0.78): imputed phat 0.157 <= lambda_e 0.1572")
    assert "escalate at STFT >= 0.77" in above.reason


def test_the_imputed_estimate_is_the_closed_form():
    """phat = (y + q (c - STFT)) / n, q = p / (1 - p), p = (y + target / 2) / (r + 1) (the Beta(target/2, 1 - target/2) prior)."""
    e = tite(0.2)
    p = (1 + 0.1) / (6 + 1)
    assert e.estimate(9, 1, 3, 0.78) == pytest.approx((1 + p / (1 - p) * (3 - 0.78)) / 9)
    assert e.estimate(9, 1, 0, 0.0) == pytest.approx(1 / 9)  # nobody pending: y / n


def test_de_escalation_whatever_is_pending_comes_before_the_suspension():
    e = tite(0.2)
    s = e.decide(at(2, 2, (0.1, 0.1, 0.1, 0.1)))  # 6 treated, 2 DLTs, 4 pending: Table 1 says D
    assert (s.move, s.level, s.rule) == (Move.DE_ESCALATE, 0, "TITE-D")
    assert "whatever the pending outcomes" in s.reason
    s = e.decide(at(1, 1, (0.9, 0.9, 0.9, 0.9, 0.9)))  # 6 treated, 1 DLT, 5 pending: suspend
    assert (s.move, s.rule) == (Move.SUSPEND, "TITE-SUSPEND")
    assert "5 of 6 patients pending (83% > 50%): accrual suspended" in s.reason


def test_elimination_counts_the_pending_as_without_a_dlt():
    e = tite(0.2)
    s = e.decide(at(2, 2, (0.5,)))  # 3 treated, 2 DLTs: eliminate (Table 1: >= 2 of 3, pending <= 1)
    assert (s.move, s.level, s.eliminated_from) == (Move.ELIMINATE, 0, 1)
    s = e.decide(at(2, 2, (0.5,), current=0))
    assert (s.move, s.rule) == (Move.STOP, "ELIM0")


def test_at_the_lowest_level_a_de_escalation_stays_unless_too_many_are_pending():
    e = tite(0.2)
    assert e.decide(at(2, 2, (0.1,) * 4, current=0)).move == Move.SUSPEND  # 6 treated, 2 DLTs, 4 pending
    s = e.decide(at(4, 2, (0.1, 0.1), current=0))  # 6 treated, 2 DLTs, 2 pending
    assert (s.move, s.level) == (Move.STAY, 0)


def test_the_top_level_and_an_eliminated_level_above_stop_an_escalation():
    e = tite(0.2)
    s = e.decide(at(5, 0, (0.5,), current=2))  # 6 treated, 0 DLTs, 1 pending at the top
    assert (s.move, s.rule) == (Move.STAY, "TITE-E-TOP")
    state = at(5, 0, (0.5,), current=0)
    s = e.decide(DesignState(state.levels, 0, eliminated_from=1))
    assert (s.move, s.level, s.rule) == (Move.STAY, 0, "TITE-E-TOP")


def test_without_pending_patients_the_engine_is_boin():
    e = tite(0.3)
    boin = engine_for(DesignSpec(name="boin", target=0.3, phi1=0.18, phi2=0.42, cohort_size=3, max_n=30), ("1", "2", "3"))
    for n in range(3, 16, 3):
        for y in range(n + 1):
            state = at(n, y, ())
            assert (e.decide(state).move, e.decide(state).level) == (boin.decide(state).move, boin.decide(state).level)


def test_the_maximum_sample_size_stops_with_patients_pending():
    s = tite(0.2, max_n=12).decide(at(5, 0, (0.5,)))  # 6 + 6 treated
    assert (s.move, s.rule) == (Move.STOP, "MAXN")
