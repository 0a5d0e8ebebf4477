"""Issue #16: the trial-wide audit trail, the escalation page and the DLT review queue at 50 and at 5,000 patients.

Each size is a synthetic trial with two cycles where due, cycle-1 toxicity and its DLT proposals (the nightly
DLT evaluation run once, then the escalation engine): `seed_demo --synthetic CODE --patients N --seed 1 --cycles 2
--toxicity --span-days 10`. The DLT review queue is not per trial: it is measured after the small trial alone,
then after the large one is added. BENCH_AUDIT_SIZES=50,1000 for a smaller run.
"""

from __future__ import annotations

import io
import os
import statistics
import time
from contextlib import redirect_stdout

GOAL_RATIO = 3.0
AUDIT_WARMUP, AUDIT_REPEAT = 1, 3
PAGES = {"audit trail": "/trials/{code}/audit/", "escalation page": "/trials/{code}/escalation/", "DLT review queue": "/dlt-review/"}


def sizes() -> list[tuple[str, int]]:
    small, large = (int(n) for n in os.environ.get("BENCH_AUDIT_SIZES", "50,5000").split(","))
    return [("SYAS", small), ("SYAL", large)]


def _seed(code: str, patients: int) -> float:
    from django.core.management import call_command
    from django.utils import timezone

    from cohorts.models import Trial
    from escalation.services import escalation_reevaluate
    from toxicity.selectors import patients_in_window
    from toxicity.services import dlt_evaluate_many

    t0 = time.perf_counter()
    with redirect_stdout(io.StringIO()):
        call_command("seed_demo", patients=patients, seed=1, synthetic=code, cycles=2, toxicity=True, span_days=10)
    today = timezone.localdate()
    trial = Trial.objects.get(code=code)
    dlt_evaluate_many(list(patients_in_window(today)), today=today)  # the nightly run; the trials seeded before are steady
    escalation_reevaluate(trial=trial, today=today)
    return time.perf_counter() - t0


def _measure(client, url: str) -> tuple[int, float, int]:
    """Queries of one GET, median seconds of AUDIT_REPEAT GETs after AUDIT_WARMUP, and the body's bytes."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    size = len(response.content)
    for _ in range(AUDIT_WARMUP):
        client.get(url)
    times = []
    for _ in range(AUDIT_REPEAT):
        t0 = time.perf_counter()
        client.get(url)
        times.append(time.perf_counter() - t0)
    return len(ctx.captured_queries), statistics.median(times), size


def audit_pages(client) -> list[str]:
    """The three pages at both sizes: queries, median ms, body size, ratio; returns the goals missed."""
    from toxicity.models import DltProposal

    (small_code, small), (large_code, large) = sizes()
    results: dict[str, list[tuple[int, float, int]]] = {name: [] for name in PAGES}
    seeded = []
    for code, n in sizes():
        seeded.append(_seed(code, n))
        for name, pattern in PAGES.items():
            results[name].append(_measure(client, pattern.format(code=code)))
    proposals = DltProposal.objects.filter(patient__trial__code__in=(small_code, large_code)).count()
    print(
        f"audit trail, escalation page, DLT review: synthetic trials {small_code} {small:,} and {large_code} {large:,} patients "
        f"(seed_demo --synthetic CODE --patients N --seed 1 --cycles 2 --toxicity --span-days 10, then the DLT evaluation and the engine; "
        f"seeded in {seeded[0]:.1f} s and {seeded[1]:.1f} s; {proposals} DLT proposals); median of {AUDIT_REPEAT} requests after {AUDIT_WARMUP} warm-up"
    )
    print()
    print(f"| page | queries at {small:,} | queries at {large:,} | ms at {small:,} | ms at {large:,} | KB at {small:,} | KB at {large:,} | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    failed = []
    for name, ((qs, ts, bs), (ql, tl, bl)) in results.items():
        ratio = tl / ts
        print(f"| {name} | {qs} | {ql} | {ts * 1000:.1f} | {tl * 1000:.1f} | {bs / 1024:.0f} | {bl / 1024:.0f} | {ratio:.2f} |")
        if qs != ql:
            failed.append(f"{name}: queries differ ({qs} vs {ql})")
        if ratio > GOAL_RATIO:
            failed.append(f"{name}: time ratio {ratio:.2f} above the goal {GOAL_RATIO}")
    return failed
