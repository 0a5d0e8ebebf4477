"""Issue #18 figures: exact BOIN operating characteristics (5 levels, cohort 3, N = 30) against seeded Monte Carlo;
exact 3+3 (escalation.rules.simulate_exact, the one enumeration) against the engines' Monte Carlo of the wrapped 3+3
and, when the package clintrials is importable, against clintrials' 3+3 Monte Carlo (a different 3+3: see the docs).

.venv/bin/python bench/designs_oc.py [--trials 20000] [--seed 18]
PYTHONPATH=DIR_WITH_CLINTRIALS .venv/bin/python bench/designs_oc.py   # also the clintrials peer
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cohorts.protocol import DesignSpec
from escalation import rules
from escalation.designs import engine_for
from escalation.designs.oc import simulate_exact, simulate_trials

TOX = (0.05, 0.12, 0.30, 0.45, 0.60)
TOX_33 = (0.05, 0.1, 0.2, 0.3, 0.5)  # issue #5's scenario
LABELS = ("1", "2", "3", "4", "5")


def clintrials_three_plus_three():
    """clintrials' ThreePlusThree and its simulator, or the reason they cannot run. clintrials 0.1.4 (2016) imports
    collections.Iterable, gone since Python 3.10: the alias is restored for it here."""
    import collections
    import collections.abc

    if not hasattr(collections, "Iterable"):
        collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]
    try:
        from clintrials.dosefinding import ThreePlusThree, simulate_dose_finding_trial
    except ImportError as exc:
        return None, f"clintrials not importable ({exc})"
    return (ThreePlusThree, simulate_dose_finding_trial), ""


def clintrials_rule_exact(tox: tuple[float, ...]) -> tuple[list[float], list[float]]:
    """Exact P(MTD) per level and E[n] per level of clintrials' own 3+3 (its ThreePlusThree, read from its code): from
    the lowest dose, 3 patients; 0 DLTs escalate (at the top: MTD = top), 1 DLT 3 more, then <= 1 of 6 escalate (top:
    MTD = top); 2 or more (of 3 or 6) end the trial with MTD = the dose below (none below the lowest), never revisited."""
    from math import comb

    def pmf(k: int, p: float) -> float:
        return comb(3, k) * p**k * (1 - p) ** (3 - k)

    top = len(tox) - 1
    sel, n_by = [0.0] * len(tox), [0.0] * len(tox)

    def end(d: int, w: float) -> None:
        if d >= 0:
            sel[d] += w

    def walk(d: int, w: float) -> None:
        n_by[d] += 3 * w
        for y in range(4):
            w1 = w * pmf(y, tox[d])
            if y == 0:
                walk(d + 1, w1) if d < top else end(d, w1)
            elif y == 1:
                n_by[d] += 3 * w1
                for y2 in range(4):
                    w2 = w1 * pmf(y2, tox[d])
                    if y2 == 0:
                        walk(d + 1, w2) if d < top else end(d, w2)
                    else:
                        end(d - 1, w2)
            else:
                end(d - 1, w1)

    walk(0, 1.0)
    return sel, n_by


def three_plus_three(trials: int, seed: int) -> None:
    from math import sqrt

    ladder = rules.Ladder(labels=LABELS, start="1", escalation_cap=30)  # clintrials: 5 doses, at most 6 x 5 patients
    w, c = time.perf_counter(), time.process_time()
    exact = rules.simulate_exact(ladder, TOX_33)
    ew, ec = time.perf_counter() - w, time.process_time() - c
    engine = engine_for(DesignSpec(name="3+3"), LABELS, ladder)
    w, c = time.perf_counter(), time.process_time()
    mc = simulate_trials(engine, TOX_33, trials=trials, seed=seed)
    mw, mcpu = time.perf_counter() - w, time.process_time() - c
    print(f"\n3+3, 5 levels from the lowest, true rates {TOX_33}: exact {exact.states} states {ec:.3f} s CPU ({ew:.3f} s wall)")
    print(f"engines' Monte Carlo of the wrapped 3+3: {trials} trials seed {seed}: {mcpu:.3f} s CPU ({mw:.3f} s wall)")
    peer, why = clintrials_three_plus_three()
    cl_sel, cl_n, cw = None, None, 0.0
    if peer is not None:
        import numpy as np

        design_cls, simulate = peer
        np.random.seed(seed)
        sel, n_by = [0] * 5, [0.0] * 5
        w = time.process_time()
        for _ in range(trials):
            report = simulate(design_cls(5), list(TOX_33), cohort_size=3, calculate_optimal_decision=0)
            if report["TrialStatus"] == 100 and 1 <= report["RecommendedDose"] <= 5:
                sel[report["RecommendedDose"] - 1] += 1
            for d in report["Doses"]:
                n_by[d - 1] += 1
        cw = time.process_time() - w
        cl_sel, cl_n = [x / trials for x in sel], [x / trials for x in n_by]
        print(f"clintrials 3+3 Monte Carlo: {trials} trials (numpy seed {seed}): {cw:.3f} s CPU")
    else:
        print(f"clintrials peer not run: {why}")
    print("level true  exact P(MTD)  engines MC (z)    clintrials (z)   exact E[n]  engines MC (z)   clintrials")
    worst = 0.0
    for i, label in enumerate(LABELS):
        p = exact.p_mtd[label]
        z = (mc.p_select[i] - p) / max(mc.se_select[i], 1e-12)
        zn = (mc.expected_n[i] - exact.expected_n_by_level[label]) / max(mc.se_n[i], 1e-12)
        worst = max(worst, abs(z), abs(zn))
        peer_sel = peer_n = "-"
        if cl_sel is not None and cl_n is not None:
            se = sqrt(max(cl_sel[i] * (1 - cl_sel[i]), 1e-12) / trials)
            peer_sel = f"{cl_sel[i]:.4f} ({(cl_sel[i] - p) / se:+.1f})"
            peer_n = f"{cl_n[i]:.3f}"
        print(
            f"{label:>5} {TOX_33[i]:.2f} {p:>12.4f} {mc.p_select[i]:>9.4f} ({z:+.2f}) {peer_sel:>17} "
            f"{exact.expected_n_by_level[label]:>10.3f} {mc.expected_n[i]:>8.3f} ({zn:+.2f}) {peer_n:>10}"
        )
    print(f"engines' MC against the exact 3+3: largest |z| {worst:.2f} (within 4 SE: {worst <= 4}); ratio MC/exact (CPU) {mcpu / max(ec, 1e-9):.1f}")
    if cl_sel is not None and cl_n is not None:
        own_sel, own_n = clintrials_rule_exact(TOX_33)
        zs = [(cl_sel[i] - own_sel[i]) / sqrt(max(own_sel[i] * (1 - own_sel[i]), 1e-12) / trials) for i in range(5)]
        print(f"clintrials / exact CPU ratio {cw / max(ec, 1e-9):.1f}")
        print(
            "clintrials' rules enumerated exactly: P(MTD) "
            + ", ".join(f"{x:.4f}" for x in own_sel)
            + "; E[n] "
            + ", ".join(f"{x:.3f}" for x in own_n)
            + f"; its Monte Carlo within {max(abs(z) for z in zs):.2f} SE of them"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=18)
    a = parser.parse_args()
    spec = DesignSpec(name="boin", target=0.3, phi1=0.18, phi2=0.42, cohort_size=3, max_n=30)
    best = None
    for _ in range(3):
        engine = engine_for(spec, ("1", "2", "3", "4", "5"))
        w, c = time.perf_counter(), time.process_time()
        exact = simulate_exact(engine, TOX)
        w, c = time.perf_counter() - w, time.process_time() - c
        best = (w, c) if best is None or c < best[1] else best
    w, c = time.perf_counter(), time.process_time()
    mc = simulate_trials(engine_for(spec, ("1", "2", "3", "4", "5")), TOX, trials=a.trials, seed=a.seed)
    mw, mcpu = time.perf_counter() - w, time.process_time() - c
    print(f"exact: {exact.states} states, best of 3: {best[0]:.3f} s wall, {best[1]:.3f} s CPU")
    print(f"Monte Carlo: {a.trials} trials seed {a.seed}: {mw:.3f} s wall, {mcpu:.3f} s CPU; ratio MC/exact (CPU) {mcpu / best[1]:.1f}")
    worst = 0.0
    print("level  true  exact P(sel)  MC P(sel) (SE)   z    exact E[n]  MC E[n] (SE)   z")
    for i in range(5):
        z1 = (mc.p_select[i] - exact.p_select[i]) / max(mc.se_select[i], 1e-12)
        z2 = (mc.expected_n[i] - exact.expected_n[i]) / max(mc.se_n[i], 1e-12)
        worst = max(worst, abs(z1), abs(z2))
        sel = f"{exact.p_select[i]:>12.4f} {mc.p_select[i]:>9.4f} ({mc.se_select[i]:.4f}) {z1:+.2f}"
        print(f"{i + 1:>5} {TOX[i]:.2f} {sel} {exact.expected_n[i]:>10.3f} {mc.expected_n[i]:>8.3f} ({mc.se_n[i]:.3f}) {z2:+.2f}")
    print(f"P(no MTD): exact {exact.p_none:.5f}, MC {mc.p_none:.5f}; largest |z| {worst:.2f} (agreement within 4 SE: {worst <= 4})")
    three_plus_three(a.trials, a.seed)


if __name__ == "__main__":
    main()
