"""make bench (python -m bench [--only AREA ...]): the figures in docs/benchmarks.md, measured on a throwaway database.

Issue #2, widened by issue #16: every page and every API list at 50 and at 5,000 patients (BENCH_PAGES_SIZES):
SQL queries per request (must be equal), the time ratio 5,000 : 50 (goal <= 3) and the body's (goal <= 3)
(bench/pages.py, --only pages).
Issue #3: the treatment tab at 1 and at 24 cycles (equal queries, ratio <= 2).
Issue #16: the visit page (median <= 150 ms, bounded queries) and the submissions to record cycle 1.
Issue #4: the nightly DLT re-evaluation of 5,000 synthetic patients in their window
(first run, steady-state second run) against one query reading the same rows
(goal: the second run writes nothing and its queries do not grow per patient).
Issue #5: the 3+3 operating characteristics of the 5-level ladder, exact against Monte
Carlo with 10,000 trials (time ratio; goal: they agree within 4 standard errors), and
the latency from an investigator confirming a DLT to the engine's new proposal stored
by a real Celery worker on Redis (goal: the proposal appears in every round).
Issue #6's ratio of a full recompute to one query reading the same rows is retired by issue #14 (a benchmark
shape no site needs); the recompute figures are issue #14's (bench/recompute.py).
Issue #7: the labs CSV export of 1,000,000 lab rows through the download URL, rows per second
against PostgreSQL's own COPY ... TO STDOUT (FORMAT csv) of the same query (goal: ratio >= 0.5),
and the export's peak memory in a fresh process (goal: peak RSS under 150 MB). PostgreSQL only:
on SQLite this part is reported as "needs PostgreSQL" and skipped (not a missed goal).
Issue #14: the save-to-result latency (an assessment saved until the patient's response and a new endpoint
snapshot are stored by a real worker; goal: median <= 2 s at 5,000 patients), and with the broker down the time
of a save (goal < 1 s) and from a worker's start to a drained outbox (bench/pipeline.py, --only pipeline); the
whole-trial recompute when nothing changed (goal <= 1x the one query that reads the input versions) and after a rule
change at 5,000 and 20,000 patients (goal: linear, <= 4.5x) (bench/recompute.py, --only recompute).
Issue #15: the AE term search over the 837 terms of CTCAE v5.0 through its endpoint, p95 of one-word and two-word
searches (goal <= 50 ms) and the SQL queries per search (goal: the same for every search) (bench/terms.py, --only terms).

Default database: a fresh SQLite file in a temporary folder. With
BENCH_DATABASE_URL=postgres://user@host:port/name, a PostgreSQL database of
that name is dropped and created for the run. The developer's db.sqlite3 is
never touched. The workers (issues #5 and #14) use BENCH_CELERY_BROKER_URL (default
redis://127.0.0.1:6379/14) and a queue of its own, deleted at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from contextlib import redirect_stdout

from .dlt import dlt_nightly
from .escalation import escalation_characteristics, escalation_latency
from .exports import exports_child, labs_export
from .harness import prepare_database, print_goals
from .pages import every_page, page_measure
from .pipeline import PIPE_PATIENTS, pipeline_figures
from .recompute import recompute_figures
from .terms import terms_search
from .treatment import treatment_tab, visit_page

AREAS = ("pages", "treatment", "dlt", "escalation", "exports", "pipeline", "recompute", "terms", "audit")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="The figures in docs/benchmarks.md, on a throwaway database.")
    parser.add_argument("--only", nargs="+", action="extend", choices=AREAS, metavar="AREA", help=f"only these areas ({', '.join(AREAS)})")
    parser.add_argument("--patients", type=int, default=None, help="patients of the pipeline area (default 5,000; smaller for a smoke run)")
    parser.add_argument("--exports-child", choices=("rss", "trace"), help=argparse.SUPPRESS)  # issue #7's memory run, in a fresh process
    return parser.parse_args(argv)


def setup(areas: set[str]):
    """The bench database migrated, the demo loaded (and the pages' synthetic trials); returns (seconds, user, client)."""
    os.environ["DATABASE_URL"] = prepare_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.models import User
    from accounts.roles import Role

    setup_test_environment()  # lets the test client run against this settings module
    started = time.perf_counter()
    with redirect_stdout(io.StringIO()):
        call_command("migrate", verbosity=0)
        call_command("seed_demo", demo=True)
    seeded = time.perf_counter() - started
    user = User.objects.create(username="bench-dm", role=Role.DATA_MANAGER)
    client = Client()
    client.force_login(user)
    return seeded, user, client


def run(areas: set[str], args: argparse.Namespace) -> list[str]:
    """Every area asked for, in order; returns the goals missed."""
    import django
    from django.db import connection

    _, user, client = setup(areas)
    measure = page_measure(client)
    print(f"Trialsite benchmark: {connection.vendor}, Python {platform.python_version()}, Django {django.get_version()}, {os.cpu_count()} CPUs")
    failed: list[str] = []
    if "pages" in areas:
        failed += every_page(client)
    steps = (
        ("treatment", lambda: treatment_tab(client, measure)),
        ("treatment", lambda: visit_page(client, measure)),
        ("dlt", dlt_nightly),
        ("escalation", escalation_characteristics),
        ("escalation", escalation_latency),
        ("exports", lambda: labs_export(client, user)),
        ("pipeline", lambda: pipeline_figures(args.patients or PIPE_PATIENTS)),
        ("recompute", recompute_figures),
        ("terms", lambda: terms_search(client)),
        ("audit", lambda: __import__("bench.audit", fromlist=["audit_pages"]).audit_pages(client)),  # issue #16 (bench/audit.py)
    )
    for area, step in steps:
        if area in areas:
            failed += step()
            print()
    return failed


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.exports_child:
        return exports_child(args.exports_child)
    failed = run(set(args.only or AREAS), args)
    print_goals(failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
