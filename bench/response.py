"""Issue #6: a full recompute of responses and endpoints for 5,000 synthetic patients with 20 assessments each."""

from __future__ import annotations

import io
import os
import statistics
import time
from contextlib import redirect_stdout
from pathlib import Path

from .harness import BROKER, WARMUP, QueryCounter, bench_worker, timed_fetch

RESP_TRIAL, RESP_PATIENTS, RESP_ASSESSMENTS, RESP_CYCLES = "SYNR", 5000, 20, 2
# Consents 560-700 days ago: every treated patient has had 20 cycle days 1 (a baseline + 19 assessments) by today.
RESP_SPAN_DAYS, RESP_LATEST_DAYS_AGO = 140, 560
RESP_REPEAT, RESP_GOAL = 3, 5.0


def response_rows_sql(ids: list[int], *, also_stored: bool = False) -> str:
    """One UNION ALL over the rows a full recompute reads for these patients: every myeloma assessment,
    cycles 1-2, follow-up, the enrolment (study id and dose level). With `also_stored`, also what the
    service reads besides the inputs: each assessment history row's date (the inputs' time) and the
    stored results. The ids are integers from the database."""
    from django.db import connection

    from cohorts.models import DoseLevel, Enrolment, Patient
    from dosing.models import Cycle
    from response.models import FollowUp, MyelomaAssessment, ResponseResult

    q = connection.ops.quote_name
    t = {m.__name__: q(m._meta.db_table) for m in (Patient, DoseLevel, Enrolment, Cycle, FollowUp, MyelomaAssessment, ResponseResult)}
    history = q(MyelomaAssessment.history.model._meta.db_table)
    values = ", ".join(f"({int(i)})" for i in ids)
    text = "varchar" if connection.vendor == "postgresql" else "text"
    within = "IN (SELECT id FROM ids)"
    # kind, patient, id, date1, date2, date3, n1..n6, flag1..flag5, text1, text2, json (as text, in one column with the other texts)
    branches = [
        # The first branch types every column (PostgreSQL resolves the NULLs of the others from it).
        f"SELECT 'assessment', a.patient_id, a.id, a.{q('on')}, CAST(NULL AS date), CAST(NULL AS date), a.spep, a.upep, a.kappa, a.lambda_flc, "
        f"a.marrow_pc, a.plasmacytoma_size, a.serum_ife, a.urine_ife, a.marrow_clonal, a.plasmacytoma, a.new_lesions, a.serum_isotype, "
        f"CAST(NULL AS {text}), CAST(a.spurious AS {text}) FROM {t['MyelomaAssessment']} a WHERE a.patient_id {within}",
        f"SELECT 'cycle', c.patient_id, c.id, c.day1, NULL, NULL, c.number, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
        f"FROM {t['Cycle']} c WHERE c.patient_id {within} AND c.number IN (1, 2)",
        f"SELECT 'follow_up', f.patient_id, f.id, f.death_on, f.next_therapy_on, f.last_contact_on, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
        f"NULL, NULL, NULL, f.death_cause, f.next_therapy_regimen, NULL FROM {t['FollowUp']} f WHERE f.patient_id {within}",
        f"SELECT 'enrolment', e.patient_id, e.id, e.enrolled_on, NULL, NULL, l.label, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
        f"p.study_id, NULL, NULL FROM {t['Enrolment']} e JOIN {t['Patient']} p ON p.id = e.patient_id JOIN {t['DoseLevel']} l ON l.id = e.level_id "
        f"WHERE e.patient_id {within}",
    ]
    if also_stored:
        branches += [
            f"SELECT 'history', h.patient_id, h.history_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            f"CAST(h.history_date AS {text}), NULL, NULL FROM {history} h WHERE h.patient_id {within}",
            f"SELECT 'result', r.patient_id, r.id, r.best_on, r.first_response_on, r.progression_on, r.best_change_pct, NULL, NULL, NULL, NULL, NULL, "
            f"NULL, NULL, NULL, NULL, NULL, r.best, r.digest, CAST(r.results AS {text}) FROM {t['ResponseResult']} r WHERE r.patient_id {within}",
        ]
    return f"WITH ids(id) AS (VALUES {values}) " + " UNION ALL ".join(branches)


def response_recompute() -> list[str]:
    """Issue #6: a full recompute of responses and endpoints (trial_recompute's work) for 5,000 synthetic
    patients with 20 assessments each, against one query reading the same rows."""
    from collections import Counter

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from cohorts.models import Patient, Trial
    from response import services
    from response.models import MyelomaAssessment, RecomputeJob, ResponseResult

    t0 = time.perf_counter()
    with redirect_stdout(io.StringIO()):
        call_command(
            "seed_demo",
            patients=RESP_PATIENTS,
            seed=1,
            synthetic=RESP_TRIAL,
            cycles=RESP_CYCLES,
            assessments=RESP_ASSESSMENTS,
            span_days=RESP_SPAN_DAYS,
            latest_days_ago=RESP_LATEST_DAYS_AGO,
        )
    if connection.vendor == "postgresql":  # fresh statistics, as autovacuum would have them in production (for (c) too)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    seeded = time.perf_counter() - t0
    trial = Trial.objects.get(code=RESP_TRIAL)

    ids = list(Patient.objects.filter(trial=trial, cycles__number=1).values_list("pk", flat=True))

    def recompute() -> tuple[dict, list[int], QueryCounter, float, float]:
        """services.trial_recompute in this process (what the chord does across the workers, one chunk after the
        other): the patients with cycle 1 in chunks, their courses, then the endpoints from the courses computed."""
        counter = QueryCounter(bookkeeping=RecomputeJob._meta.db_table)  # the job's progress is not counted as a write
        endpoints_started = []
        real = services.endpoints_compute

        def timed_endpoints(**kwargs):  # to report the endpoints' share
            endpoints_started.append(time.perf_counter())
            return real(**kwargs)

        job = RecomputeJob.objects.create(trial=trial, requested_at=timezone.now())
        services.endpoints_compute = timed_endpoints
        try:
            with connection.execute_wrapper(counter):
                t0 = time.perf_counter()
                parts = [services.trial_recompute_chunk(job.pk, part) for part in services.trial_recompute_begin(job)]
                services.trial_recompute_finish(job.pk, parts)
                t2 = time.perf_counter()
        finally:
            services.endpoints_compute = real
        stats = Counter()
        for part in parts:
            stats.update(part["stats"])
        return dict(stats), ids, counter, t2 - t0, t2 - endpoints_started[0]

    # (a) the first run: every patient's course computed and stored, then the endpoints.
    first, ids, qa, ta, ea = recompute()
    assessments = MyelomaAssessment.objects.filter(patient_id__in=ids).count()
    best = Counter(ResponseResult.objects.filter(patient_id__in=ids).values_list("best", flat=True))
    # (c) one query over the same rows; (c') with what the service also reads (history dates, stored results).
    sql_c = response_rows_sql(ids)
    rows_c, tc, kinds = timed_fetch(sql_c, 5)
    rows_s, ts, kinds_s = timed_fetch(response_rows_sql(ids, also_stored=True), 5)
    # (b) again: nothing changed, nothing written (median of RESP_REPEAT runs).
    runs = [recompute() for _ in range(RESP_REPEAT)]
    second, _, qb, _, _ = runs[-1]
    tb = statistics.median(r[3] for r in runs)
    eb = statistics.median(r[4] for r in runs)

    print(
        f"full response recompute: {RESP_TRIAL} {RESP_PATIENTS:,} synthetic patients, {assessments:,} myeloma assessments "
        f"(seed_demo --synthetic {RESP_TRIAL} --patients {RESP_PATIENTS} --seed 1 --cycles {RESP_CYCLES} --assessments {RESP_ASSESSMENTS} "
        f"--span-days {RESP_SPAN_DAYS} --latest-days-ago {RESP_LATEST_DAYS_AGO}, "
        f"{'then VACUUM ANALYZE, ' if connection.vendor == 'postgresql' else ''}seeded in {seeded:.1f} s)"
    )
    print(f"best responses: {', '.join(f'{k} {best.get(k, 0):,}' for k in ('sCR', 'CR', 'VGPR', 'PR', 'MR', 'SD', 'PD', 'NE'))}")
    print(
        f"rows read: {rows_c:,} ({', '.join(f'{k} {v:,}' for k, v in sorted(kinds.items()))}); the service also reads "
        f"{kinds_s.get('history', 0):,} history dates and {kinds_s.get('result', 0):,} stored results (c'); "
        f"queries are the median of 5 after {WARMUP} warm-up, the second run the median of {RESP_REPEAT}"
    )
    print("| step | patients | queries | of which writes (not the job's progress) | rows | ms | of which endpoints ms | ratio to (c) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    rows_a = rows_s - kinds_s.get("result", 0)  # no results stored yet
    print(f"| (a) first run, in this process | {len(ids):,} | {qa.total:,} | {qa.writes:,} | {rows_a:,} | {ta * 1000:.0f} | {ea * 1000:.0f} | {ta / tc:.1f} |")
    second_row = f"| {len(ids):,} | {qb.total:,} | {qb.writes:,} | {rows_s:,} | {tb * 1000:.0f} | {eb * 1000:.0f} | {tb / tc:.1f} |"
    print(f"| (b) second run, in this process, nothing changed {second_row}")
    print(f"| (c) one UNION ALL query | {len(ids):,} | 1 | 0 | {rows_c:,} | {tc * 1000:.0f} | - | 1.0 |")
    print(f"| (c') the same with history dates and stored results | {len(ids):,} | 1 | 0 | {rows_s:,} | {ts * 1000:.0f} | - | {ts / tc:.1f} |")
    failed = []
    if first["changed"] != len(ids) or first["patients"] != len(ids):
        failed.append(f"response recompute: the first run stored {first['changed']} of {len(ids)} patients ({first})")
    if second["changed"] or qb.writes:
        failed.append(f"response recompute: the second run wrote ({second['changed']} patients changed, {qb.writes} write statements)")
    if connection.vendor != "postgresql":
        print(f"the time goal (<= {RESP_GOAL:g}) is checked on PostgreSQL, on a real worker: (a) and (b) run in one process, for reference")
        return failed
    # The goal is checked where sites run the recompute: the chord on a real worker, one process a core
    # (docker-compose's web, worker, PostgreSQL and Redis). (a) and (b) are its work done in this one process,
    # what the embedded mode does with no broker: reported for reference, not checked against the goal.
    worker_failed, ratios = response_recompute_worker(trial, len(ids), lambda: timed_fetch(sql_c, RESP_REPEAT)[1])
    failed += worker_failed
    for name, ratio in ratios:
        if ratio > RESP_GOAL:
            failed.append(f"response recompute: the {name} takes {ratio:.1f} times the one query (goal <= {RESP_GOAL:g})")
    return failed


def response_recompute_worker(trial, patients: int, one_query) -> tuple[list[str], list[tuple[str, float]]]:
    """Issue #6 through Celery as deployed: response.recompute_trial on a real prefork worker (one process a core) on
    Redis, its chord of chunks and the endpoints; timed from the task's dispatch to the job marked done. Each run
    is paired with the one query (`one_query()`, seconds) timed right after it, and the goal is checked on the median
    of the runs' ratios: this machine's speed drifts by a third within minutes, which a query timed once, minutes
    away from the runs, would carry into every ratio. Returns the missed goals and (name, median ratio)."""
    import redis
    from django.utils import timezone

    from response.models import RecomputeJob, ResponseResult
    from response.tasks import recompute_trial

    broker = os.environ.get("BENCH_CELERY_BROKER_URL") or BROKER
    try:
        redis.Redis.from_url(broker, socket_connect_timeout=2).ping()
    except redis.exceptions.RedisError as exc:
        return [f"response recompute: Redis is not reachable at {broker} ({exc}); the worker runs were not measured"], []
    processes = os.cpu_count() or 1

    def run(log: Path) -> tuple[float, str]:
        job = RecomputeJob.objects.create(trial=trial, requested_at=timezone.now())
        t0 = time.perf_counter()
        recompute_trial.delay(job.pk)
        deadline = time.monotonic() + 120
        while (state := RecomputeJob.objects.filter(pk=job.pk).values_list("status", "message").get())[0] not in ("done", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError("the recompute did not finish in 120 s:\n" + log.read_text()[-2000:])
            time.sleep(0.01)  # a poll every 10 ms: more often, the bench itself takes CPU from the worker processes
        elapsed = time.perf_counter() - t0
        if state[0] != "done":
            raise RuntimeError(f"the recompute failed: {state[1]}\n" + log.read_text()[-2000:])
        return elapsed, state[1]

    def paired(log: Path) -> tuple[float, str, float]:
        return (*run(log), one_query())

    failed: list[str] = []
    ratios: list[tuple[str, float]] = []
    try:
        with bench_worker(broker, pool="prefork", concurrency=processes) as log:
            run(log)  # warm-up: each worker process imports what the tasks use (scipy) once
            steady = [paired(log) for _ in range(RESP_REPEAT)]
            firsts = []
            for _ in range(RESP_REPEAT):
                ResponseResult.objects.filter(patient__trial=trial).delete()  # computed results only: the next run stores every course anew
                firsts.append(paired(log))
        print(f"through a real Celery worker ({processes} prefork processes, Redis {broker}): the chord and the endpoints, from dispatch to the job done;")
        print(f"each run followed by (c) timed again (median of {RESP_REPEAT} after {WARMUP} warm-up); medians of {RESP_REPEAT} runs")
        print("| step | patients | job message | ms, each run | (c) ms after each | ratio, each run | median ratio |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, label, runs in (
            ("first run on the worker", "(d) first run on the worker, all stored anew", firsts),
            ("second run on the worker", "(e) second run on the worker, nothing changed", steady),
        ):
            ratio = statistics.median(t / c for t, _, c in runs)
            times = ", ".join(f"{t * 1000:.0f}" for t, _, _ in runs)
            queries = ", ".join(f"{c * 1000:.0f}" for _, _, c in runs)
            each = ", ".join(f"{t / c:.1f}" for t, _, c in runs)
            print(f"| {label} | {patients:,} | {runs[-1][1]} | {times} | {queries} | {each} | {ratio:.1f} |")
            ratios.append((name, ratio))
        if any(m != f"{patients} patients, {patients} changed" for _, m, _ in firsts) or any(m != f"{patients} patients, 0 changed" for _, m, _ in steady):
            failed.append(f"response recompute on the worker: unexpected counts ({[m for _, m, _ in firsts]}; {[m for _, m, _ in steady]})")
    except Exception as exc:  # reported as a missed goal, with the worker's log
        failed.append(f"response recompute on the worker: {exc}")
        print(f"worker runs failed: {exc}")
    return failed, ratios
