"""make bench: the figures in docs/benchmarks.md, measured on a throwaway database.

Issue #2: the patient list and the trial home at 50 and at 5,000 patients:
SQL queries per request (must be equal) and the time ratio 5,000 : 50 (goal <= 3).
Issue #3: the treatment tab at 1 and at 24 cycles (equal queries, ratio <= 2).
Issue #4: the nightly DLT re-evaluation of 5,000 synthetic patients in their window
(first run, steady-state second run) against one query reading the same rows
(goal: the second run writes nothing and its queries do not grow per patient).

Default database: a fresh SQLite file in a temporary folder. With
BENCH_DATABASE_URL=postgres://user@host:port/name, a PostgreSQL database of
that name is dropped and created for the run. The developer's db.sqlite3 is
never touched.
"""

from __future__ import annotations

import io
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WARMUP, REPEAT = 3, 30
SIZES = (("SYNA", 50), ("SYNB", 5000))
GOAL_RATIO = 3.0


def prepare_database() -> str:
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        folder = tempfile.mkdtemp(prefix="trialsite-bench-")
        return f"sqlite:///{folder}/bench.sqlite3"
    import psycopg2

    parts = urlparse(url)
    name = parts.path.lstrip("/") or "trialsite_bench"
    admin = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres", password=parts.password, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return url


def main() -> int:
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None  # pages, treatment or dlt: one part only
    os.environ["DATABASE_URL"] = prepare_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from accounts.models import User
    from accounts.roles import Role

    setup_test_environment()  # lets the test client run against this settings module
    started = time.perf_counter()
    with redirect_stdout(io.StringIO()):
        call_command("migrate", verbosity=0)
        call_command("seed_demo", demo=True)
        for code, n in SIZES if only in (None, "pages") else ():
            call_command("seed_demo", patients=n, seed=1, synthetic=code)
    seeded = time.perf_counter() - started

    user = User.objects.create(username="bench-dm", role=Role.DATA_MANAGER)
    client = Client()
    client.force_login(user)

    def measure(url: str) -> tuple[int, float]:
        reset_queries()  # DEBUG keeps a bounded log; start it empty so the capture is exact
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(ctx.captured_queries)
        for _ in range(WARMUP):
            client.get(url)
        times = []
        for _ in range(REPEAT):
            t0 = time.perf_counter()
            client.get(url)
            times.append(time.perf_counter() - t0)
        return queries, statistics.median(times)

    pages = {"patient list": "/trials/{code}/patients/", "trial home": "/trials/{code}/"}
    print(f"Trialsite benchmark: {connection.vendor}, Python {platform.python_version()}, Django {django.get_version()}, {os.cpu_count()} CPUs")
    failed: list[str] = []
    if only in (None, "pages"):
        failed += list_pages(pages, measure, seeded)
    if only in (None, "treatment"):
        failed += treatment_tab(client, measure)
        print()
    if only in (None, "dlt"):
        failed += dlt_nightly()
        print()
    for problem in failed:
        print("FAIL", problem)
    print("all goals met" if not failed else f"{len(failed)} goal(s) missed")
    return 1 if failed else 0


def list_pages(pages: dict[str, str], measure, seeded: float) -> list[str]:
    """Issue #2: the patient list and the trial home at 50 and 5,000 patients."""
    print(f"data: {', '.join(f'{code} {n} patients' for code, n in SIZES)} (seeded in {seeded:.1f} s); median of {REPEAT} requests after {WARMUP} warm-up")
    print()
    print("| page | queries at 50 | queries at 5,000 | ms at 50 | ms at 5,000 | ratio 5,000 : 50 |")
    print("| --- | --- | --- | --- | --- | --- |")
    failed = []
    for name, pattern in pages.items():
        (q_small, t_small), (q_large, t_large) = (measure(pattern.format(code=code)) for code, _ in SIZES)
        ratio = t_large / t_small
        print(f"| {name} | {q_small} | {q_large} | {t_small * 1000:.1f} | {t_large * 1000:.1f} | {ratio:.2f} |")
        if q_small != q_large:
            failed.append(f"{name}: queries differ ({q_small} vs {q_large})")
        if ratio > GOAL_RATIO:
            failed.append(f"{name}: time ratio {ratio:.2f} above the goal {GOAL_RATIO}")
    print()
    return failed


def make_treated_patient(cycles: int):
    """A patient with `cycles` cycles, every planned dose recorded through the services."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from accounts.models import Site, User
    from cohorts.models import Trial
    from cohorts.services import patient_enroll, patient_register
    from dosing.models import PlannedDose
    from dosing.services import administration_record, cycle_start

    today = timezone.localdate()
    trial = Trial.objects.get(code="BPD")
    site = Site.objects.get(number="01")
    coordinator = User.objects.get(username="coord01")
    start = today - timedelta(days=28 * cycles + 3)
    patient = patient_register(
        trial=trial,
        site=site,
        by=coordinator,
        initials=f"C{chr(64 + cycles % 26 + 1)}",
        date_of_birth=start.replace(year=start.year - 60),
        sex="F",
        height_cm=Decimal(165),
        weight_kg=Decimal(64),
        consent_date=start - timedelta(days=5),
        eligibility=dict.fromkeys(trial.criteria_codes, True),
        baseline_anc=Decimal(2),
        baseline_platelets=Decimal(150),
        baseline_marrow_pc_pct=Decimal(20),
    )
    cohort = trial.cohorts.get(status="open")
    cohort.capacity += 1  # room in the open demo cohort for the benchmark's patients
    cohort.save()
    patient_enroll(patient=patient, by=coordinator, enrolled_on=start - timedelta(days=1))
    for n in range(cycles):
        cycle = cycle_start(patient=patient, by=coordinator, day1=start + timedelta(days=28 * n), weight_kg=Decimal(64))
        for planned in PlannedDose.objects.filter(cycle=cycle).select_related("drug"):
            administration_record(cycle=cycle, by=coordinator, drug=planned.drug, day=planned.day, status="given")
    return patient


def treatment_tab(client, measure) -> list[str]:
    """Issue #3: the treatment tab for a patient with 1 and with 24 cycles (goal: equal queries, ratio <= 2)."""
    t0 = time.perf_counter()
    one, many = make_treated_patient(1), make_treated_patient(24)
    print(f"treatment tab: patients with 1 and 24 cycles, every dose recorded (built in {time.perf_counter() - t0:.1f} s)")
    (q1, t1), (q24, t24) = (measure(f"/patients/{p.study_id}/treatment/") for p in (one, many))
    ratio = t24 / t1
    print("| page | queries at 1 cycle | queries at 24 cycles | ms at 1 | ms at 24 | ratio 24 : 1 |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| treatment tab | {q1} | {q24} | {t1 * 1000:.1f} | {t24 * 1000:.1f} | {ratio:.2f} |")
    failed = []
    if q1 != q24:
        failed.append(f"treatment tab: queries differ ({q1} vs {q24})")
    if ratio > 2:
        failed.append(f"treatment tab: time ratio {ratio:.2f} above the goal 2")
    return failed


DLT_TRIAL, DLT_PATIENTS, DLT_SPAN_DAYS, DLT_REPEAT = "SYNT", 5000, 10, 5


class QueryCounter:
    """Every SQL statement sent, by kind. CaptureQueriesContext keeps at most 9,000 (Django's
    debug log is bounded), and the first nightly run sends more than that."""

    def __init__(self) -> None:
        self.total, self.writes = 0, 0

    def __call__(self, execute, sql, params, many, context):
        self.total += 1
        if sql.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.writes += 1
        return execute(sql, params, many, context)


def window_rows_sql(ids: list[int]) -> str:
    """One UNION ALL over every row the nightly run reads for these patients: the patients (with
    their trial's window), cycles 1-2, adverse events, lab panels, cycle-1 dose modifications,
    off-treatment decisions, DLT proposals and evaluations. The ids are integers from the database."""
    from django.db import connection

    from cohorts.models import Patient, Trial
    from dosing.models import Cycle, DoseModification, OffTreatment
    from toxicity.models import AdverseEvent, DltEvaluation, DltProposal, LabResult

    q = connection.ops.quote_name
    t = {m.__name__: q(m._meta.db_table) for m in (Patient, Trial, Cycle, AdverseEvent, LabResult, DoseModification, OffTreatment, DltProposal, DltEvaluation)}
    values = ", ".join(f"({int(i)})" for i in ids)
    text, json = ("varchar", "jsonb") if connection.vendor == "postgresql" else ("text", "text")
    # kind, patient, id, date1, date2, n1, n2, n3, n4, text1, text2, flag1, flag2, json1, json2
    branches = [
        # The first branch types every column (PostgreSQL resolves the NULLs of the others from it).
        f"SELECT 'patient', p.id, p.id, CAST(NULL AS date), CAST(NULL AS date), p.baseline_anc, p.baseline_platelets, p.baseline_marrow_pc_pct, "
        f"t.dlt_window_days, CAST(NULL AS {text}), CAST(NULL AS {text}), CAST(NULL AS boolean), CAST(NULL AS boolean), CAST(NULL AS {json}), "
        f"CAST(NULL AS {json}) FROM {t['Patient']} p JOIN {t['Trial']} t ON t.id = p.trial_id WHERE p.id IN (SELECT id FROM ids)",
        f"SELECT 'cycle', c.patient_id, c.id, c.planned_day1, c.day1, c.number, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
        f"FROM {t['Cycle']} c WHERE c.patient_id IN (SELECT id FROM ids) AND c.number IN (1, 2)",
        f"SELECT 'ae', a.patient_id, a.id, a.onset, a.resolved, a.grade, a.event_id, NULL, NULL, a.term, NULL, a.progression, a.with_pain, "
        f"a.attribution, a.supportive FROM {t['AdverseEvent']} a WHERE a.patient_id IN (SELECT id FROM ids) AND NOT a.in_error",
        f"SELECT 'lab', l.patient_id, l.id, l.{q('on')}, NULL, l.anc, l.platelets, l.temperature, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
        f"FROM {t['LabResult']} l WHERE l.patient_id IN (SELECT id FROM ids)",
        f"SELECT 'mod', m.patient_id, m.id, m.effective_on, NULL, m.adverse_event_id, NULL, NULL, NULL, m.kind, NULL, m.in_cycle_1, NULL, NULL, NULL "
        f"FROM {t['DoseModification']} m JOIN {t['Cycle']} mc ON mc.id = m.cycle_id WHERE m.patient_id IN (SELECT id FROM ids) AND mc.number = 1",
        f"SELECT 'off', o.patient_id, o.id, o.decided_on, NULL, NULL, NULL, NULL, NULL, o.reason, NULL, NULL, NULL, NULL, NULL "
        f"FROM {t['OffTreatment']} o WHERE o.patient_id IN (SELECT id FROM ids)",
        f"SELECT 'proposal', r.patient_id, r.id, r.onset, NULL, NULL, NULL, NULL, NULL, r.{q('key')}, r.status, r.attribution_recorded, NULL, "
        f"r.evidence, r.event_ids FROM {t['DltProposal']} r WHERE r.patient_id IN (SELECT id FROM ids)",
        f"SELECT 'evaluation', e.patient_id, e.id, e.evaluated_on, e.until, NULL, NULL, NULL, NULL, e.status, e.inputs_digest, NULL, NULL, NULL, NULL "
        f"FROM {t['DltEvaluation']} e WHERE e.patient_id IN (SELECT id FROM ids)",
    ]
    return f"WITH ids(id) AS (VALUES {values}) " + " UNION ALL ".join(branches)


def one_query(ids: list[int]) -> tuple[int, float, dict[str, int]]:
    """Rows, median seconds and rows by kind of the single query over `ids`."""
    from collections import Counter

    from django.db import connection

    sql = window_rows_sql(ids)
    times, rows = [], []
    for i in range(WARMUP + DLT_REPEAT):
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall()
        if i >= WARMUP:
            times.append(time.perf_counter() - t0)
    return len(rows), statistics.median(times), dict(Counter(row[0] for row in rows))


def dlt_nightly() -> list[str]:
    """Issue #4: the nightly DLT re-evaluation of 5,000 synthetic patients in their window, against one query reading the same rows."""
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from cohorts.models import Patient
    from toxicity.models import DltProposal
    from toxicity.selectors import patients_in_window
    from toxicity.services import dlt_evaluate_many

    today = timezone.localdate()
    t0 = time.perf_counter()
    with redirect_stdout(io.StringIO()):
        call_command("seed_demo", patients=DLT_PATIENTS, seed=1, synthetic=DLT_TRIAL, cycles=2, toxicity=True, span_days=DLT_SPAN_DAYS)
    seeded = time.perf_counter() - t0

    def nightly(ids: list[int] | None = None) -> tuple[dict, list[int], QueryCounter, float]:
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            t0 = time.perf_counter()
            ids = list(patients_in_window(today)) if ids is None else ids
            stats = dlt_evaluate_many(ids, today=today)
            elapsed = time.perf_counter() - t0
        return stats, ids, counter, elapsed

    # (a) the first night: every patient in the window is evaluated and stored, once.
    first, ids, qa, ta = nightly()
    proposed = DltProposal.objects.filter(patient_id__in=ids).values("patient_id").distinct().count()
    rows_c, tc, kinds = one_query(ids)
    # (b) the same patients again: nothing changed, nothing written (median of DLT_REPEAT runs).
    runs = [nightly(ids) for _ in range(DLT_REPEAT)]
    second, _, qb, _ = runs[-1]
    tb = statistics.median(r[3] for r in runs)
    # (b') the real second night: patients whose evaluation became final (a DLT proposed, or the
    # window and cycle 2 day 1 settled) leave the window.
    night2, ids2, qn, tn = nightly()
    rows_c2, tc2, _ = one_query(ids2)
    inputs = rows_c - kinds.get("proposal", 0) - kinds.get("evaluation", 0)

    print(
        f"nightly DLT re-evaluation: {DLT_TRIAL} {DLT_PATIENTS:,} synthetic patients with cycle 1 started within about the last 30 days "
        f"(seed_demo --synthetic {DLT_TRIAL} --patients {DLT_PATIENTS} --seed 1 --cycles 2 --toxicity --span-days {DLT_SPAN_DAYS}, seeded in {seeded:.1f} s)"
    )
    print(
        f"in the window on the first night: {len(ids):,} patients (with the demo's); {proposed:,} get a DLT proposal; "
        f"the one query is the median of {DLT_REPEAT} after {WARMUP} warm-up, the second run the median of {DLT_REPEAT}"
    )
    print(
        f"rows read: {inputs:,} inputs ({', '.join(f'{k} {v:,}' for k, v in sorted(kinds.items()) if k not in ('proposal', 'evaluation'))}) "
        f"+ {kinds.get('proposal', 0):,} proposals and {kinds.get('evaluation', 0):,} evaluations once stored"
    )
    print("| step | patients | queries | of which writes | rows read | ms | ratio to one query |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(f"| (a) first nightly run | {len(ids):,} | {qa.total:,} | {qa.writes:,} | {inputs:,} | {ta * 1000:.0f} | {ta / tc:.1f} |")
    print(f"| (b) second run, same patients | {len(ids):,} | {qb.total:,} | {qb.writes:,} | {rows_c:,} | {tb * 1000:.0f} | {tb / tc:.1f} |")
    print(f"| (c) one UNION ALL query | {len(ids):,} | 1 | 0 | {rows_c:,} | {tc * 1000:.0f} | 1.0 |")
    print(f"| (b') second night, patients_in_window | {len(ids2):,} | {qn.total:,} | {qn.writes:,} | {rows_c2:,} | {tn * 1000:.0f} | {tn / tc2:.1f} |")
    print(f"| (c') one query for those | {len(ids2):,} | 1 | 0 | {rows_c2:,} | {tc2 * 1000:.0f} | 1.0 |")
    failed = []
    synthetic = Patient.objects.filter(trial__code=DLT_TRIAL, pk__in=ids).count()
    if first["changed"] < synthetic:  # the demo's patients were evaluated when the demo was loaded
        failed.append(f"dlt nightly: the first run stored {first['changed']} patients, fewer than the {synthetic} synthetic ones")
    for name, stats, counter in (("second run", second, qb), ("second night", night2, qn)):
        if stats["changed"] or counter.writes:
            failed.append(f"dlt nightly: the {name} wrote ({stats['changed']} patients changed, {counter.writes} write statements)")
    chunks = -(-len(ids) // 500)
    if qb.total > 1 + 10 * chunks:
        failed.append(f"dlt nightly: the second run sent {qb.total} queries for {chunks} chunks (more than 10 a chunk)")
    return failed


if __name__ == "__main__":
    sys.exit(main())
