"""make bench: the figures in docs/benchmarks.md, measured on a throwaway database.

Issue #2: the patient list and the trial home at 50 and at 5,000 patients:
SQL queries per request (must be equal) and the time ratio 5,000 : 50 (goal <= 3).

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
        for code, n in SIZES:
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
    failed += treatment_tab(client, measure)
    print()
    for problem in failed:
        print("FAIL", problem)
    print("all goals met" if not failed else f"{len(failed)} goal(s) missed")
    return 1 if failed else 0


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


if __name__ == "__main__":
    sys.exit(main())
