"""The shared harness of the benchmarks: the bench database, timing, query counting, a real Celery worker."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
WARMUP, REPEAT = 3, 30
BROKER = "redis://127.0.0.1:6379/14"


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


class QueryCounter:
    """Every SQL statement sent, by kind. CaptureQueriesContext keeps at most 9,000 (Django's
    debug log is bounded), and the first nightly run sends more than that."""

    def __init__(self, *, bookkeeping: str = "") -> None:
        self.total, self.writes, self.bookkeeping = 0, 0, bookkeeping
        self.bookkeeping_writes = 0

    def __call__(self, execute, sql, params, many, context):
        self.total += 1
        if sql.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            if self.bookkeeping and self.bookkeeping in sql:  # e.g. a job's progress: not the data the run computes
                self.bookkeeping_writes += 1
            else:
                self.writes += 1
        return execute(sql, params, many, context)


def timed_fetch(sql: str, repeat: int) -> tuple[int, float, dict[str, int]]:
    """Rows, median seconds of `repeat` runs after WARMUP, and rows by kind (first column) of one query."""
    from collections import Counter

    from django.db import connection

    times, rows = [], []
    for i in range(WARMUP + repeat):
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql)
            rows = cursor.fetchall()
        if i >= WARMUP:
            times.append(time.perf_counter() - t0)
    return len(rows), statistics.median(times), dict(Counter(row[0] for row in rows))


def print_table(header: tuple[str, ...], rows: list[tuple]) -> None:
    """A Markdown table, as docs/benchmarks.md shows them."""
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def goal_row(name: str, seconds: list[float], goal: str, met: bool) -> tuple:
    """A row of timings against a goal: name, how many, median and max ms, the goal, met or MISSED, each in ms."""
    each = ", ".join(f"{v * 1000:.0f}" for v in seconds)
    return name, len(seconds), f"{statistics.median(seconds) * 1000:.0f}", f"{max(seconds) * 1000:.0f}", goal, "met" if met else "MISSED", each


def print_goals(failed: list[str]) -> None:
    """The goals missed, one a line, and the verdict."""
    for problem in failed:
        print("FAIL", problem)
    print("all goals met" if not failed else f"{len(failed)} goal(s) missed")


def redis_problem(broker: str) -> str:
    """Why Redis cannot be used at `broker`, or "" when it answers."""
    import redis

    try:
        redis.Redis.from_url(broker, socket_connect_timeout=2).ping()
    except redis.exceptions.RedisError as exc:
        return f"Redis is not reachable at {broker} ({exc})"
    return ""


def start_worker(broker: str, queue: str, log: Path, *, pool: str = "solo", concurrency: int = 1) -> subprocess.Popen:
    """A real Celery worker (solo pool unless told) on the bench database, taking only `queue`."""
    env = os.environ | {
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": broker,
        "CELERY_TASK_DEFAULT_QUEUE": queue,  # what the worker itself queues stays on this queue
        "DJANGO_SETTINGS_MODULE": "trialsite.settings",
    }
    command = [sys.executable, "-m", "celery", "-A", "trialsite", "worker", "-P", pool, "-c", str(concurrency), "-Q", queue, "-n", f"{queue}@%h"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"]
    with open(log, "w") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


@contextmanager
def bench_worker(broker: str, *, pool: str = "solo", concurrency: int = 1):
    """A real Celery worker on the bench database and a queue of its own, with this process's Celery app sending
    to it; yields the worker's log (a Path). On leaving: the worker stopped, the app restored, and nothing left in
    Redis (the queue, its bindings, the result of every task the worker ran)."""
    import re

    import redis

    from trialsite.celery import app

    queue = f"trialsite-bench-{uuid.uuid4().hex[:8]}"
    log = Path(tempfile.mkdtemp(prefix="trialsite-bench-worker-")) / "worker.log"
    worker = start_worker(broker, queue, log, pool=pool, concurrency=concurrency)
    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager", "task_default_queue")}
    app.conf.update(broker_url=broker, result_backend=broker, task_always_eager=False, task_default_queue=queue)
    # The demo ran its tasks inline: the app already holds a connection pool for the settings' broker and a
    # disabled result backend. Drop the pools (what Celery does after a fork) and read results from Redis.
    app._after_fork()
    try:
        deadline = time.monotonic() + 30
        while "ready." not in log.read_text():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Celery worker did not start:\n" + log.read_text()[-2000:])
            time.sleep(0.2)
        yield log
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        app.conf.update(saved)
        app._after_fork()
        ids = set(re.findall(r"Task [\w.]+\[([0-9a-f-]{36})\]", log.read_text()))
        redis.Redis.from_url(broker).delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}", *(f"celery-task-meta-{i}" for i in ids))


def seed_trial(code: str, patients: int, *, cycles: int, assessments: int, span_days: int, latest_days_ago: int):
    """A synthetic trial with myeloma assessments (`seed_demo --synthetic CODE ... --seed 1`), quietly; the Trial."""
    import io
    from contextlib import redirect_stdout

    from django.core.management import call_command

    from cohorts.models import Trial

    with redirect_stdout(io.StringIO()):
        call_command(
            "seed_demo",
            patients=patients,
            seed=1,
            synthetic=code,
            cycles=cycles,
            assessments=assessments,
            span_days=span_days,
            latest_days_ago=latest_days_ago,
        )
    return Trial.objects.get(code=code)
