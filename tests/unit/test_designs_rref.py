"""The BOIN engine and its exact simulator against a line-by-line replay of the R package BOIN (issue 18).

`r_get_oc_exact` follows get.oc's trial loop (CRAN: cohort added, truncated to the patients left and the trial
ended at npts; elimination with the lowest level stopping the trial; the conditional n.earlystop; escalate only
if the level above is not eliminated / de-escalate / stay) and `r_select_mtd` follows select.mtd, with R's pbeta
(scipy's beta distribution) instead of our own Beta tail; every cohort outcome is enumerated, so the replay gives
get.oc's expectations exactly and our engine must agree to rounding.
"""

import functools
import math

import pytest
from scipy.stats import beta

from cohorts.protocol import DesignSpec
from escalation.designs import DesignState, LevelState, Move, engine_for
from escalation.designs.core import pava
from escalation.designs.oc import simulate_exact


def r_get_boundary(target, npts, cutoff_eli=0.95):
    """get.boundary's full_boundary_tab, columns n = 1..npts: (b.e, b.d, elim)."""
    p_saf, p_tox = 0.6 * target, 1.4 * target
    lam1 = math.log((1 - p_saf) / (1 - target)) / math.log(target * (1 - p_saf) / (p_saf * (1 - target)))
    lam2 = math.log((1 - target) / (1 - p_tox)) / math.log(p_tox * (1 - target) / (target * (1 - p_tox)))
    be, bd, elim = {}, {}, {}
    for n in range(1, npts + 1):
        be[n], bd[n], elim[n] = math.floor(lam1 * n), math.ceil(lam2 * n), None
        if n >= 3:
            for ntox in range(1, n + 1):
                if 1 - beta.cdf(target, ntox + 1, n - ntox + 1) > cutoff_eli:
                    elim[n] = ntox
                    break
        if elim[n] is not None and bd[n] > elim[n]:
            bd[n] = elim[n]
    return be, bd, elim


def r_pava(x, wt):
    x = list(x)
    n = len(x)
    if n <= 1:
        return x
    lvlsets = list(range(n))
    while True:
        viol = [i for i in range(n - 1) if x[i + 1] - x[i] < 0]
        if not viol:
            return x
        i = viol[0]
        lvl1, lvl2 = lvlsets[i], lvlsets[i + 1]
        ilvl = [j for j in range(n) if lvlsets[j] in (lvl1, lvl2)]
        v = sum(x[j] * wt[j] for j in ilvl) / sum(wt[j] for j in ilvl)
        for j in ilvl:
            x[j] = v
            lvlsets[j] = lvl1


def r_select_mtd(target, n, y, cutoff_eli=0.95):
    """select.mtd(...)$MTD, 1-based, 99 for none (boundMTD = FALSE, extrasafe = FALSE)."""
    ndose = len(n)
    elimi = [0] * ndose
    for i in range(ndose):
        if n[i] >= 3 and 1 - beta.cdf(target, y[i] + 1, n[i] - y[i] + 1) > cutoff_eli:
            for j in range(i, ndose):
                elimi[j] = 1
            break
    if elimi[0] == 1 or sum(n[i] for i in range(ndose) if elimi[i] == 0) == 0:
        return 99
    adm = [i for i in range(ndose) if n[i] != 0 and elimi[i] == 0]
    phat = [(y[i] + 0.05) / (n[i] + 0.1) for i in adm]
    var = [(y[i] + 0.05) * (n[i] - y[i] + 0.05) / ((n[i] + 0.1) ** 2 * (n[i] + 0.1 + 1)) for i in adm]
    phat = r_pava(phat, [1 / v for v in var])
    phat = [p + (k + 1) * 1e-10 for k, p in enumerate(phat)]
    dist = [abs(p - target) for p in phat]
    best = sorted(range(len(dist)), key=lambda k: dist[k])[0]  # R's sort(index.return = TRUE): stable
    return adm[best] + 1


def r_after_cohort(d, nd, yd, elimi, be, bd, elim, n_earlystop):
    """get.oc's loop body after the cohort is added (elimi updated in place): ("stop", d) for the safety stop,
    ("break", d) for the early stop, ("", next d) otherwise."""
    ndose = len(elimi)
    if elim[nd] is not None and yd >= elim[nd]:
        for j in range(d, ndose):
            elimi[j] = 1
        if d == 0:
            return "stop", d
    top_or_closed = d == ndose - 1 or elimi[d + 1] == 1
    if nd >= n_earlystop and ((be[nd] < yd < bd[nd]) or (d == 0 and yd >= bd[nd]) or (top_or_closed and yd <= be[nd])):
        return "break", d
    if yd <= be[nd] and d != ndose - 1:
        if elimi[d + 1] == 0:
            return "", d + 1
    elif yd >= bd[nd] and d != 0:
        return "", d - 1
    return "", d


def r_get_oc_exact(target, p_true, ncohort, cohortsize, n_earlystop=100, startdose=1):
    """get.oc's expectations by enumerating its loop (memoised on the loop's state):
    {"sel": selpercent / 100 per dose + percentstop / 100, "n": npatients, "y": ntox, "o60", "o80": overdose / 100}."""
    ndose, npts = len(p_true), ncohort * cohortsize
    be, bd, elim = r_get_boundary(target, npts)
    above = [p > target for p in p_true]
    width = 3 * ndose + 3
    memo = {}
    selected = functools.lru_cache(maxsize=None)(lambda n, y: r_select_mtd(target, list(n), list(y)))

    def finish(n, y, earlystop):
        v = [0.0] * width
        mtd = 99 if earlystop else selected(n, y)
        v[ndose if mtd == 99 else mtd - 1] = 1.0
        for i in range(ndose):
            v[ndose + 1 + i] = n[i]
            v[2 * ndose + 1 + i] = y[i]
        over = sum(n[i] for i in range(ndose) if above[i])
        v[3 * ndose + 1] = float(over > 0.6 * npts)
        v[3 * ndose + 2] = float(over > 0.8 * npts)
        return v

    def cohort(i, d, n, y, elimi):
        key = (i, d, n, y, elimi)
        if key in memo:
            return memo[key]
        if i > ncohort:
            return finish(n, y, False)
        acc = [0.0] * width
        size = cohortsize
        last = sum(n) + cohortsize >= npts
        if last:
            size = npts - sum(n)
        for k in range(size + 1):
            wk = math.comb(size, k) * p_true[d] ** k * (1 - p_true[d]) ** (size - k)
            if wk == 0:
                continue
            n2, y2, el2 = list(n), list(y), list(elimi)
            n2[d] += size
            y2[d] += k
            if last:
                sub = finish(tuple(n2), tuple(y2), False)
                acc = [a + wk * b for a, b in zip(acc, sub, strict=True)]
                continue
            end, d2 = r_after_cohort(d, n2[d], y2[d], el2, be, bd, elim, n_earlystop)
            sub = finish(tuple(n2), tuple(y2), end == "stop") if end else cohort(i + 1, d2, tuple(n2), tuple(y2), tuple(el2))
            acc = [a + wk * b for a, b in zip(acc, sub, strict=True)]
        memo[key] = acc
        return acc

    z = (0,) * ndose
    v = cohort(1, startdose - 1, z, z, z)
    return {"sel": v[: ndose + 1], "n": v[ndose + 1 : 2 * ndose + 1], "y": v[2 * ndose + 1 : 3 * ndose + 1], "o60": v[3 * ndose + 1], "o80": v[3 * ndose + 2]}


def ours(target, p_true, ncohort, cohortsize, n_stop=None, start=0):
    labels = tuple(str(i + 1) for i in range(len(p_true)))
    spec = DesignSpec(name="boin", target=target, phi1=0.6 * target, phi2=1.4 * target, cohort_size=cohortsize, max_n=ncohort * cohortsize, n_stop=n_stop)
    return simulate_exact(engine_for(spec, labels), p_true, start=start)


def test_get_boundary_target_030_ncohort_10_cohortsize_3():
    # get.boundary(target = 0.3, ncohort = 10, cohortsize = 3)$boundary_tab, by hand from the R code
    spec = DesignSpec(name="boin", target=0.3, phi1=0.18, phi2=0.42, cohort_size=3, max_n=30)
    e = engine_for(spec, ("1", "2", "3"))
    rows = [e.boundary(n) for n in range(3, 31, 3)]
    assert [b.escalate_at_most for b in rows] == [0, 1, 2, 2, 3, 4, 4, 5, 6, 7]
    assert [b.deescalate_at_least for b in rows] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert [b.eliminate_at_least for b in rows] == [3, 4, 5, 7, 8, 9, 10, 11, 12, 14]


@pytest.mark.parametrize("target", [0.20, 0.25, 0.30])
def test_full_boundary_tab_as_r_computes_it(target):
    be, bd, elim = r_get_boundary(target, 36)
    e = engine_for(DesignSpec(name="boin", target=target, phi1=0.6 * target, phi2=1.4 * target, cohort_size=3, max_n=36), ("1", "2"))
    for n in range(1, 37):
        b = e.boundary(n)
        assert (b.escalate_at_most, b.deescalate_at_least, b.eliminate_at_least) == (be[n], bd[n], elim[n]), n


@pytest.mark.parametrize(
    ("target", "p_true", "ncohort", "cohortsize", "n_stop", "start"),
    [
        (0.3, (0.05, 0.15, 0.3, 0.45, 0.6), 10, 3, None, 1),  # get.oc's example design, N = 30
        (0.3, (0.05, 0.15, 0.3, 0.45, 0.6), 10, 3, 9, 1),  # n.earlystop = 9: conditional on a stay
        (0.25, (0.1, 0.25, 0.4, 0.55), 8, 3, 12, 2),  # target at the second level, start at level 2
        (0.2, (0.2, 0.35, 0.5), 6, 3, None, 1),  # the lowest level at the target
        (0.3, (0.5, 0.6, 0.7), 8, 3, 9, 1),  # every level too toxic
        (0.3, (0.02, 0.05, 0.1, 0.3), 7, 2, 8, 1),  # the target at the top level, cohorts of 2
        (0.25, (0.1, 0.2, 0.25, 0.5, 0.6), 12, 1, 10, 1),  # cohorts of 1 (b.elim as get.oc reads it)
        (0.3, (0.1, 0.2, 0.3, 0.5), 8, 3, None, 1),  # the target at the second highest level: get.oc's special case
    ],
)
def test_exact_oc_equal_get_oc_replay(target, p_true, ncohort, cohortsize, n_stop, start):
    ref = r_get_oc_exact(target, p_true, ncohort, cohortsize, n_earlystop=n_stop if n_stop is not None else 100, startdose=start)
    oc = ours(target, p_true, ncohort, cohortsize, n_stop=n_stop, start=start - 1)
    k = len(p_true)
    assert oc.p_select == pytest.approx(ref["sel"][:k], abs=1e-12)  # selpercent / 100
    assert oc.p_none == pytest.approx(ref["sel"][k], abs=1e-12)  # percentstop / 100
    assert oc.expected_n == pytest.approx(ref["n"], abs=1e-10)  # npatients
    assert oc.expected_dlt == pytest.approx(ref["y"], abs=1e-10)  # ntox
    assert sum(oc.expected_n) == pytest.approx(sum(ref["n"]), abs=1e-10)  # totaln
    assert oc.p_overdose60 == pytest.approx(ref["o60"], abs=1e-12)  # overdose60 / 100 (npts as the denominator)
    assert oc.p_overdose80 == pytest.approx(ref["o80"], abs=1e-12)
    assert oc.overdose_reported == (target in p_true)


@pytest.mark.parametrize(
    ("n", "y"),
    [
        ((3, 3, 15, 9, 0), (0, 0, 4, 4, 0)),  # select.mtd's example: MTD 3
        ((3, 6, 6, 0, 0), (0, 3, 2, 0, 0)),  # pooled above the target: the lower one
        ((6, 6, 0, 0, 0), (1, 1, 0, 0, 0)),  # pooled below the target: the higher one
        ((6, 3, 0, 0, 0), (1, 3, 0, 0, 0)),  # level 2 eliminated on the final data
        ((3, 0, 0, 0, 0), (3, 0, 0, 0, 0)),  # the lowest eliminated: 99
        ((9, 12, 9, 3, 0), (1, 3, 5, 3, 0)),
        ((3, 9, 9, 6, 3), (0, 2, 4, 2, 2)),
    ],
)
def test_select_equals_select_mtd(n, y):
    e = engine_for(DesignSpec(name="boin", target=0.3, phi1=0.18, phi2=0.42, cohort_size=3, max_n=60), tuple("12345"))
    sel = e.select(DesignState(tuple(LevelState(a, b) for a, b in zip(n, y, strict=True)), 0))
    r = r_select_mtd(0.3, list(n), list(y))
    assert (99 if sel.mtd is None else sel.mtd + 1) == r


def test_select_mtd_example_is_level_3():
    assert r_select_mtd(0.3, [3, 3, 15, 9, 0], [0, 0, 4, 4, 0]) == 3


def test_pava_is_select_mtds():
    x, w = [0.5, 0.2, 0.4, 0.1, 0.6], [1.0, 2.0, 0.5, 3.0, 1.0]
    assert pava(x, w) == r_pava(x, w)


def test_n_stop_only_when_the_decision_is_stay():
    spec = DesignSpec(name="boin", target=0.3, phi1=0.18, phi2=0.42, cohort_size=3, max_n=30, n_stop=9)
    e = engine_for(spec, ("1", "2", "3"))
    # 9 at level 2: 0 DLTs escalate (level 3 open): no stop; 3 DLTs (between b.e 2 and b.d 4): stay -> stop
    assert e.decide(DesignState((LevelState(3, 0), LevelState(9, 0), LevelState()), 1)).move == Move.ESCALATE
    assert e.decide(DesignState((LevelState(3, 0), LevelState(9, 3), LevelState()), 1)).rule == "NSTOP"
    # 4 DLTs de-escalate: no stop; at the lowest level 4 of 9 stays (d == 1 and y >= b.d): stop
    assert e.decide(DesignState((LevelState(3, 0), LevelState(9, 4), LevelState()), 1)).move == Move.DE_ESCALATE
    assert e.decide(DesignState((LevelState(9, 4), LevelState(), LevelState()), 0)).rule == "NSTOP"
    # at the top (or under an eliminated level) with y <= b.e: stop
    assert e.decide(DesignState((LevelState(3, 0), LevelState(3, 0), LevelState(9, 1)), 2)).rule == "NSTOP"
    assert e.decide(DesignState((LevelState(9, 1), LevelState(3, 3), LevelState()), 0, 1)).rule == "NSTOP"
    # eliminated first: 5 of 9 at level 2 eliminates (no early stop), the next go to level 1
    s = e.decide(DesignState((LevelState(3, 0), LevelState(9, 5), LevelState()), 1))
    assert (s.move, s.level, s.eliminated_from) == (Move.ELIMINATE, 0, 1)


def test_last_cohort_truncated_to_max_n():
    spec = DesignSpec(name="boin", target=0.3, phi1=0.18, phi2=0.42, cohort_size=3, max_n=10)
    e = engine_for(spec, ("1", "2", "3", "4"))
    s = e.decide(DesignState((LevelState(3, 0), LevelState(3, 0), LevelState(3, 1), LevelState()), 2))
    assert (s.move, s.slots) == (Move.STAY, 1)
    assert e.decide(DesignState((LevelState(3, 0), LevelState(3, 0), LevelState(4, 1), LevelState()), 2)).rule == "MAXN"
