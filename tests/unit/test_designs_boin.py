"""BOIN and i3+3 engines (issue 18) against the publications and the R package BOIN's tables (TITE-BOIN: test_designs_tite.py)."""

import pytest

from cohorts.protocol import DesignSpec
from escalation.designs import DesignState, LevelState, Move, engine_for
from escalation.designs.core import beta_sf, elimination_count, pava
from escalation.designs.engines import boin_lambdas
from escalation.designs.tables import decision_table, look_ahead, path_text

LABELS = ("1", "2", "3", "4", "5")


def boin(target=0.3, **kw):
    kw.setdefault("max_n", 30)
    return engine_for(DesignSpec(name="boin", target=target, phi1=0.6 * target, phi2=1.4 * target, cohort_size=3, **kw), LABELS)


def state(*counts, current=0, elim=None, pending=None):
    levels = [LevelState(n, y) for n, y in counts] + [LevelState() for _ in range(5 - len(counts))]
    if pending:
        i, fr = pending
        levels[i] = LevelState(levels[i].n, levels[i].dlt, fr)
    return DesignState(tuple(levels), current, elim)


# Liu & Yuan (2015) Table 1 / BOIN::get.boundary with phi1 = 0.6 target, phi2 = 1.4 target
@pytest.mark.parametrize(("target", "lam_e", "lam_d"), [(0.20, 0.157, 0.238), (0.25, 0.197, 0.298), (0.30, 0.2365, 0.3585)])
def test_boundaries_match_the_published_values(target, lam_e, lam_d):
    e, d = boin_lambdas(target, 0.6 * target, 1.4 * target)
    assert round(e, len(str(lam_e)) - 2) == lam_e
    assert round(d, len(str(lam_d)) - 2) == lam_d


# get.boundary's elimination row for cohorts of 3 (n = 3, 6, ..., 30), cutoff.eli = 0.95
@pytest.mark.parametrize(
    ("target", "counts"),
    [
        (0.20, [2, 3, 4, 5, 6, 7, 8, 8, 9, 10]),
        (0.25, [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
        (0.30, [3, 4, 5, 7, 8, 9, 10, 11, 12, 14]),
    ],
)
def test_elimination_counts_by_n(target, counts):
    assert [elimination_count(n, target, 0.95) for n in range(3, 31, 3)] == counts
    assert elimination_count(2, target, 0.95) is None


def test_boin_table_target_030():
    rows = {r.n: r for r in decision_table(boin())}
    assert (rows[3].escalate, rows[3].stay, rows[3].deescalate, rows[3].eliminate) == ("0", "1", "2", "3")
    assert (rows[6].escalate, rows[6].deescalate, rows[6].eliminate) == ("0-1", "3", "4-6")
    assert (rows[12].escalate, rows[12].stay, rows[12].deescalate, rows[12].eliminate) == ("0-2", "3-4", "5-6", "7-12")


def test_beta_tail_is_the_binomial_identity():
    # P(p > 0.3 | 3 of 3, Beta(1,1)) = P(Beta(4,1) > 0.3) = 1 - 0.3**4
    assert beta_sf(0.3, 4, 1) == pytest.approx(1 - 0.3**4)


def test_boin_moves_and_sentence():
    e = boin()
    s = e.decide(state((3, 0), (6, 2), current=1))
    assert s.move == Move.STAY
    assert s.reason == "2 DLTs in 6 at level 2: 0.33 > lambda_e 0.2365 and < lambda_d 0.3585: stay"
    assert e.decide(state((3, 0))).move == Move.ESCALATE
    assert e.decide(state((3, 0), (3, 2), current=1)).move == Move.DE_ESCALATE
    s = e.decide(state((3, 0), (3, 3), current=1))
    assert (s.move, s.level, s.eliminated_from) == (Move.ELIMINATE, 0, 1)
    s = e.decide(state((3, 3)))
    assert (s.move, s.level, s.rule) == (Move.STOP, None, "ELIM0")
    # never escalates into an eliminated level
    assert e.decide(state((6, 0), (3, 3), current=0, elim=1)).move == Move.STAY


def test_boin_stops_at_max_n_and_at_n_stop():
    assert boin(max_n=6).decide(state((3, 0), (3, 0), current=1)).rule == "MAXN"
    # get.oc's n.earlystop stops only when the decision would be to stay: 2 of 9 escalates (b.e = 2), 3 of 9 stays
    assert boin(n_stop=9).decide(state((9, 2))).rule == "BOIN-E"
    assert boin(n_stop=9).decide(state((9, 3))).rule == "NSTOP"


def test_pending_decides_early_only_when_no_outcome_changes_it():
    e = boin()
    # 2 DLTs in 2 with 1 pending: 2/3 or 3/3 both leave the level (de-escalate / eliminate differ): wait
    assert e.decide(state((3, 0), (2, 2), current=1, pending=(1, (0.5,)))).move == Move.WAIT
    # 2 DLTs of 2 at a middle level, 4 known + pending at n = 6: 2/6 stays, 3/6 de-escalates: wait
    assert e.decide(state((3, 0), (5, 2), current=1, pending=(1, (0.5,)))).move == Move.WAIT
    # 0 DLTs in 2 with 1 pending: 0/3 escalates, 1/3 stays: wait; 2 DLTs in 2 at the lowest level of 3 -> de-esc impossible
    assert e.decide(state((2, 0), pending=(0, (0.5,)))).move == Move.WAIT
    s = e.decide(state((3, 0), (5, 3), current=1, pending=(1, (0.2,))))  # 3/6 or 4/6: de-escalate vs eliminate -> wait
    assert s.move == Move.WAIT
    s = e.decide(state((3, 0), (8, 5), current=1, pending=(1, (0.2,))))  # 5/9 eliminates at 9 whatever the pending one does
    assert (s.move, s.level) == (Move.ELIMINATE, 0)
    assert "pending" in s.reason


def test_pava_pools_violators():
    assert pava([0.1, 0.3, 0.2, 0.4], [1, 1, 1, 1]) == pytest.approx([0.1, 0.25, 0.25, 0.4])
    assert pava([0.5, 0.1], [3, 1]) == pytest.approx([0.4, 0.4])


def test_selection_as_select_mtd():
    e = boin()
    sel = e.select(state((3, 0), (6, 1), (9, 3), (6, 3)))
    assert sel.mtd == 2  # 3/9 closest to 0.30 after PAVA
    # ties: two levels pooled to the same estimate above the target -> the lower one
    sel = e.select(state((3, 0), (6, 3), (6, 2)))
    assert sel.estimates[1] == pytest.approx(sel.estimates[2])
    assert sel.mtd == 1
    # ties below the target -> the higher one
    sel = e.select(state((6, 1), (6, 1)))
    assert sel.mtd == 1
    # an eliminated level is excluded, even if closest
    sel = e.select(state((6, 1), (3, 3)))
    assert sel.mtd == 0
    assert e.select(state((3, 3))).mtd is None


def test_i3plus3_rules_liu_2020():
    spec = DesignSpec(name="i3+3", target=0.25, cohort_size=3, max_n=30, ei_low=0.2, ei_high=0.3)
    e = engine_for(spec, LABELS)
    assert e.decide(state((3, 0))).move == Move.ESCALATE  # 0/3 below the interval
    assert e.decide(state((3, 0), (4, 1), current=1)).move == Move.STAY  # 1/4 = 0.25 inside
    assert e.decide(state((3, 0), (3, 1), current=1)).rule == "I3-S1"  # 1/3 above, but 0/3 below: stay (the i3+3 rule)
    assert e.decide(state((3, 0), (3, 2), current=1)).move == Move.DE_ESCALATE  # 2/3 above, 1/3 still above
    assert e.decide(state((3, 0), (6, 2), current=1)).rule == "I3-S1"  # 2/6 above, but 1/6 = 0.17 below: stay
    assert e.decide(state((3, 0), (6, 3), current=1)).move == Move.DE_ESCALATE  # 3/6 above, 2/6 still above
    assert e.decide(state((3, 3))).rule == "ELIM0"  # the safety rule as BOIN's


def test_look_ahead_two_cohorts():
    e = boin()
    paths = look_ahead(e, state((3, 0), current=0), cohorts=2)
    assert len(paths) == 16  # 4 outcomes x 4 outcomes
    assert path_text(e, paths[0]).startswith("now: escalate to level 2; 0/3 DLTs at level 2 -> escalate level 3")


def test_look_ahead_for_three_plus_three():
    from cohorts.protocol import read_protocol
    from escalation.designs import engine_of

    e, start = engine_of(read_protocol("protocols/bpd.toml"))
    paths = look_ahead(e, DesignState.start(5, start), cohorts=2)
    first = {p.outcomes[0][2] for p in paths}
    assert first == {0, 1, 2, 3}
    texts = [path_text(e, p) for p in paths]
    assert any("0/3 DLTs at level 1 -> escalate level 2" in t for t in texts)
    assert any("1/3 DLTs at level 1 -> expand level 1" in t for t in texts)


def test_three_plus_three_wrapped_decision_is_the_rules_decision():
    from cohorts.protocol import read_protocol
    from escalation.designs import engine_of

    e, _ = engine_of(read_protocol("protocols/bpd.toml"))
    s = e.decide(DesignState((LevelState(), LevelState(3, 0), LevelState(6, 2), LevelState(), LevelState()), 2))
    assert (s.move, s.level, s.rule, s.slots) == (Move.DE_ESCALATE, 1, "BELOW3", 3)  # as escalation.rules words it from level 3
    sel = e.select(DesignState((LevelState(), LevelState(6, 1), LevelState(6, 2), LevelState(), LevelState()), 2))
    assert (sel.mtd, sel.rule) == (1, "MTD")


def test_i3plus3_table():
    e = engine_for(DesignSpec(name="i3+3", target=0.25, cohort_size=3, max_n=12, ei_low=0.2, ei_high=0.3), LABELS)
    rows = {r.n: r for r in decision_table(e)}
    # n = 3: 0 escalates; 1/3 is above the interval but 0/3 below it: stay; 2 de-escalates; 3 eliminates
    assert (rows[3].escalate, rows[3].stay, rows[3].deescalate, rows[3].eliminate) == ("0", "1", "2", "3")
    # n = 6: 0-1 below (1/6 = 0.17), none inside, 2/6 stays by the (y-1)/n rule, 3 de-escalates
    assert (rows[6].escalate, rows[6].stay, rows[6].deescalate) == ("0-1", "2", "3")


# The i3+3 rule of Liu, Wang, Ji (2020), "The i3+3 design for phase I clinical trials", J Biopharm Stat 30(2):294-304,
# as its authors' R package FIND (Ji & Zhang; run_sim_i3plus3, get_decision) states it: y/n below the EI escalate,
# inside stay, above it stay if (y - 1)/n is below the EI, else de-escalate; DU (eliminate) when
# P(p > pT | y, n; Beta(1, 1)) > 0.95, n >= 3. Rows by n treated (cohorts of 3): the DLT counts of E / S / D / DU.
@pytest.mark.parametrize(
    ("target", "ei", "rows"),
    [
        (0.25, (0.2, 0.3), {3: ("0", "1", "2", "3"), 6: ("0-1", "2", "3", "4-6"), 9: ("0-1", "2", "3-4", "5-9"), 12: ("0-2", "3", "4-5", "6-12")}),
        (0.30, (0.25, 0.35), {3: ("0", "1", "2", "3"), 6: ("0-1", "2", "3", "4-6"), 9: ("0-2", "3", "4", "5-9"), 12: ("0-2", "3-4", "5-6", "7-12")}),
    ],
)
def test_i3plus3_decision_table_as_published(target, ei, rows):
    e = engine_for(DesignSpec(name="i3+3", target=target, cohort_size=3, max_n=12, ei_low=ei[0], ei_high=ei[1]), LABELS)
    table = {r.n: (r.escalate, r.stay, r.deescalate, r.eliminate) for r in decision_table(e)}
    assert table == rows


def test_i3plus3_selects_the_mtd_as_its_authors_package():
    """FIND::select_mtd (method "i3+3"): the dose exclusion, then PAVA on the Beta(0.05, 0.05) posterior means with
    weights 1 / variance, + i x 1e-10, the closest to pT: among ties the higher level below pT, the lower above."""
    e = engine_for(DesignSpec(name="i3+3", target=0.25, cohort_size=3, max_n=30, ei_low=0.2, ei_high=0.3), LABELS)
    assert e.select(state((6, 1), (6, 1))).mtd == 1  # tied below pT: the higher
    assert e.select(state((3, 0), (6, 3), (6, 2))).mtd == 1  # pooled above pT: the lower
    assert e.select(state((6, 1), (3, 3))).mtd == 0  # level 2 excluded (3 of 3)
    assert e.select(state((3, 3))).mtd is None
