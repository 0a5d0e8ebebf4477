"""Issue #18 figures: exact BOIN operating characteristics (5 levels, cohort 3, N = 30) against seeded Monte Carlo.

.venv/bin/python bench/designs_oc.py [--trials 20000] [--seed 18]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cohorts.protocol import DesignSpec
from escalation.designs import engine_for
from escalation.designs.oc import simulate_exact, simulate_trials

TOX = (0.05, 0.12, 0.30, 0.45, 0.60)


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


if __name__ == "__main__":
    main()
