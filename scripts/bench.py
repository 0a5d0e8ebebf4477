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
    from django.db import connection
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
    for problem in failed:
        print("FAIL", problem)
    print("all goals met" if not failed else f"{len(failed)} goal(s) missed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
