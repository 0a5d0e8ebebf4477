"""make bench: the figures in docs/benchmarks.md, measured on a throwaway database.

Issue #2: the patient list and the trial home at 50 and at 5,000 patients:
SQL queries per request (must be equal) and the time ratio 5,000 : 50 (goal <= 3).
Issue #3: the treatment tab at 1 and at 24 cycles (equal queries, ratio <= 2).
Issue #4: the nightly DLT re-evaluation of 5,000 synthetic patients in their window
(first run, steady-state second run) against one query reading the same rows
(goal: the second run writes nothing and its queries do not grow per patient).
Issue #5: the 3+3 operating characteristics of the 5-level ladder, exact against Monte
Carlo with 10,000 trials (time ratio; goal: they agree within 4 standard errors), and
the latency from an investigator confirming a DLT to the engine's new proposal stored
by a real Celery worker on Redis (goal: the proposal appears in every round).
Issue #6: a full recompute of responses and endpoints for 5,000 synthetic patients with 20
myeloma assessments each (first run, steady-state second run) against one query reading the
same rows (goal: time ratio <= 5, on PostgreSQL through a real Celery worker with one process
a core, as deployed; the same work in this one process is reported beside it, not checked).
Issue #7: the labs CSV export of 1,000,000 lab rows through the download URL, rows per second
against PostgreSQL's own COPY ... TO STDOUT (FORMAT csv) of the same query (goal: ratio >= 0.5),
and the export's peak memory in a fresh process (goal: peak RSS under 150 MB). PostgreSQL only:
on SQLite this part is reported as "needs PostgreSQL" and skipped (not a missed goal).

Default database: a fresh SQLite file in a temporary folder. With
BENCH_DATABASE_URL=postgres://user@host:port/name, a PostgreSQL database of
that name is dropped and created for the run. The developer's db.sqlite3 is
never touched. The worker of issue #5 uses BENCH_CELERY_BROKER_URL (default
redis://127.0.0.1:6379/14) and a queue of its own, deleted at the end.
"""

from __future__ import annotations

import io
import os
import platform
import statistics
import sys
import time
from contextlib import redirect_stdout

from .dlt import dlt_nightly
from .escalation import escalation_characteristics, escalation_latency
from .exports import exports_child, labs_export
from .harness import REPEAT, WARMUP, prepare_database
from .pages import SIZES, list_pages
from .response import response_recompute
from .treatment import treatment_tab


def main() -> int:
    if "--exports-child" in sys.argv:  # issue #7's memory run, in a fresh process on the bench database
        return exports_child(sys.argv[sys.argv.index("--exports-child") + 1])
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None  # pages, treatment, dlt, escalation, response or exports
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
    if only in (None, "escalation"):
        failed += escalation_characteristics()
        print()
        failed += escalation_latency()
        print()
    if only in (None, "response"):
        failed += response_recompute()
        print()
    if only in (None, "exports"):
        failed += labs_export(client, user)
        print()
    for problem in failed:
        print("FAIL", problem)
    print("all goals met" if not failed else f"{len(failed)} goal(s) missed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
