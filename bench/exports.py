"""Issue #7: the labs CSV export of 1,000,000 rows against PostgreSQL's COPY, and its peak memory in a fresh process."""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

from .harness import ROOT

EXPORT_TRIAL, EXPORT_PATIENTS, EXPORT_DAYS = "SYNL", 5000, 200
EXPORT_REPEAT, EXPORT_GOAL_RATIO, EXPORT_GOAL_MB = 3, 0.5, 150.0
EXPORT_URL = f"/trials/{EXPORT_TRIAL}/exports/labs.csv"


def seed_lab_rows(trial, *, days: int) -> int:
    """`days` daily lab panels for every patient of `trial`, one set-based INSERT ... SELECT generate_series
    (PostgreSQL; no history rows: this is a read benchmark). Values are pseudo-random in plausible ranges
    (setseed: the same every run); hemoglobin is missing one day in 10 and temperature 3 days in 4."""
    from django.db import connection

    from cohorts.models import Patient
    from toxicity.models import LabResult

    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.7)")
        cursor.execute(
            f"INSERT INTO {q(LabResult._meta.db_table)} (patient_id, {q('on')}, anc, platelets, hemoglobin, wbc, temperature, entered_by_id) "
            "SELECT p.id, p.consent_date + 7 + d, round((0.2 + random() * 6)::numeric, 2), round((10 + random() * 390)::numeric, 1), "
            "CASE WHEN d %% 10 <> 3 THEN round((7 + random() * 9)::numeric, 1) END, round((0.5 + random() * 12)::numeric, 2), "
            "CASE WHEN d %% 4 = 0 THEN round((35.8 + random() * 4)::numeric, 1) END, p.registered_by_id "
            f"FROM {q(Patient._meta.db_table)} p CROSS JOIN generate_series(0, %s) AS d WHERE p.trial_id = %s ORDER BY d, p.id",
            [days - 1, trial.pk],
        )
        inserted = cursor.rowcount
        cursor.execute(f"ANALYZE {q(LabResult._meta.db_table)}")
    return inserted


def export_sql(user, trial) -> str:
    """The SQL of the labs export's own queryset (the view's: same columns, joins, scoping and order), parameters inlined."""
    from django.db import connection

    from datamanagement.exports import DOMAINS, Filters

    domain = DOMAINS["labs"]
    fields = domain.fetch_fields(domain.columns(trial))
    sql, params = domain.queryset(user, trial, Filters()).values_list(*fields).query.sql_with_params()
    with connection.cursor() as cursor:
        return cursor.mogrify(sql, params).decode()


class CopySink:
    """Where COPY writes: counts rows and bytes; with `digest`, hashes the text with the csv module's line ends."""

    def __init__(self, digest=None) -> None:
        self.rows, self.bytes, self.digest = 0, 0, digest

    def write(self, data: bytes) -> None:
        self.rows += 1  # psycopg2 writes one COPY row at a time
        self.bytes += len(data)
        if self.digest is not None:
            self.digest.update(data.replace(b"\n", b"\r\n"))


def consume(response, digest=None) -> tuple[int, int]:
    """Data rows and bytes of a streamed CSV response (the header line not counted)."""
    rows, size = 0, 0
    for chunk in response.streaming_content:
        rows += chunk.count(b"\n")
        size += len(chunk)
        if digest is not None:
            digest.update(chunk)
    return rows - 1, size


def rss_mb(key: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process image, in MB (2**20 bytes). Not getrusage's ru_maxrss: Linux
    carries the peak of the process that spawned us (subprocess's vfork shares its memory) across exec into it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def exports_child(mode: str) -> int:
    """A fresh process: log in, GET the labs CSV and read it all, then print JSON with the peak RSS (VmHWM)
    and, with mode "trace", the peak of Python allocations during the export (tracemalloc)."""
    import hashlib
    import json
    import tracemalloc

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")
    import django

    django.setup()
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.models import User

    setup_test_environment()
    client = Client()
    client.force_login(User.objects.get(username="bench-dm"))
    # The same view with no rows: every module of the request path imported, the first queries made.
    empty = client.get(EXPORT_URL, {"date_from": "2999-01-01"})
    assert empty.status_code == 200, empty.status_code
    assert consume(empty)[0] == 0
    before = rss_mb("VmRSS")
    if mode == "trace":
        tracemalloc.start()
    digest = hashlib.md5(usedforsecurity=False)
    t0 = time.perf_counter()
    response = client.get(EXPORT_URL)
    assert response.status_code == 200, response.status_code
    rows, size = consume(response, digest)
    elapsed = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if mode == "trace" else None
    result = {"rows": rows, "bytes": size, "seconds": elapsed, "rss_before_mb": before, "rss_peak_mb": rss_mb("VmHWM"), "traced_peak_mb": traced}
    print(json.dumps(result | {"md5": digest.hexdigest()}))
    return 0


def export_profile(user, trial, top: int = 12) -> list[tuple[str, int, float, float]]:
    """cProfile of the generator the view streams (services.export_stream), read to the end:
    the `top` functions by own time as (function, calls, own seconds, cumulative seconds)."""
    import cProfile
    import pstats

    from datamanagement import services
    from datamanagement.exports import DOMAINS, Filters

    profile = cProfile.Profile()
    profile.enable()
    _log, chunks = services.export_stream(user=user, trial=trial, domain=DOMAINS["labs"], filters=Filters())
    for _ in chunks:
        pass
    profile.disable()
    stats = pstats.Stats(profile).stats
    rows = []
    for (path, line, name), (_cc, calls, own, cumulative, _callers) in stats.items():
        where = f"{Path(path).parent.name}/{Path(path).name}:{line}({name})" if line else name
        rows.append((where, calls, own, cumulative))
    return sorted(rows, key=lambda r: r[2], reverse=True)[:top]


def copy_runs(sql: str, header: list[str]) -> tuple[float, CopySink, list[float], str]:
    """(b) PostgreSQL's own CSV of the export's query into a sink, EXPORT_REPEAT times after a warm-up that also hashes
    it (with the app's header line). Returns (median seconds, the last sink, each run's seconds, the md5)."""
    import hashlib

    from django.db import connection

    copy = f"COPY ({sql}) TO STDOUT (FORMAT csv)"
    copy_digest = hashlib.md5(usedforsecurity=False)
    copy_digest.update((",".join(header) + "\r\n").encode())  # the app's header line
    copy_times, sink = [], None
    for i in range(1 + EXPORT_REPEAT):
        sink = CopySink(copy_digest if i == 0 else None)
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.copy_expert(copy, sink)
        if i:
            copy_times.append(time.perf_counter() - t0)
    return statistics.median(copy_times), sink, copy_times, copy_digest.hexdigest()


def app_runs(client) -> tuple[float, int, int, list[float]]:
    """(a) the app: GET of the download URL as a data manager, the streamed body read to the end, EXPORT_REPEAT times.
    Returns (median seconds, rows, bytes, each run's seconds)."""
    app_times, rows, size = [], 0, 0
    for _ in range(EXPORT_REPEAT):
        t0 = time.perf_counter()
        response = client.get(EXPORT_URL)
        assert response.status_code == 200, response.status_code
        rows, size = consume(response)
        app_times.append(time.perf_counter() - t0)
    return statistics.median(app_times), rows, size, app_times


def read_only_run(user, trial) -> float:
    """(a') what part of (a) is reading the rows: the export's values_list(...).iterator(chunk_size=2000) alone, seconds."""
    from datamanagement.exports import DOMAINS, Filters

    domain = DOMAINS["labs"]
    fields = domain.fetch_fields(domain.columns(trial))
    t0 = time.perf_counter()
    for _ in domain.queryset(user, trial, Filters()).values_list(*fields).iterator(chunk_size=2000):
        pass
    return time.perf_counter() - t0


def memory_runs() -> dict[str, dict]:
    """(c) memory: the same GET in a fresh process (peak RSS), and again under tracemalloc (Python allocations)."""
    import json

    env = os.environ | {"DATABASE_URL": os.environ["DATABASE_URL"], "DJANGO_SETTINGS_MODULE": "trialsite.settings"}
    child = {}
    for mode in ("rss", "trace"):
        done = subprocess.run([sys.executable, "-m", "bench", "--exports-child", mode], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"the export subprocess ({mode}) failed:\n{done.stderr[-3000:]}")
        child[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    return child


def print_memory(child: dict[str, dict]) -> None:
    print("| export in a fresh process | peak RSS (VmHWM) MB | RSS before the export MB | grown during it MB | tracemalloc peak during it MB | s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, run in (("without tracemalloc", child["rss"]), ("with tracemalloc", child["trace"])):
        grown = run["rss_peak_mb"] - run["rss_before_mb"]
        trace = f"{run['traced_peak_mb']:.1f}" if run["traced_peak_mb"] is not None else "-"
        print(f"| {name} | {run['rss_peak_mb']:.1f} | {run['rss_before_mb']:.1f} | {grown:.1f} | {trace} | {run['seconds']:.2f} |")


def export_goals(user, trial, *, labs: int, rows: int, copied: int, same: bool, ta: float, tb: float, mem: dict) -> list[str]:
    """The goals missed (rows, bytes, rows/s ratio, peak RSS); a cProfile of the export printed when the ratio is missed."""
    ratio = (rows / ta) / (copied / tb)
    failed = []
    if rows != labs or copied != labs:
        failed.append(f"labs export: {rows:,} rows exported and {copied:,} copied, {labs:,} stored")
    if not same:
        failed.append("labs export: the CSV differs from COPY's (formats)")
    if ratio < EXPORT_GOAL_RATIO:
        failed.append(f"labs export: {rows / ta:,.0f} rows/s is {ratio:.2f} of COPY's {copied / tb:,.0f} (goal >= {EXPORT_GOAL_RATIO:g})")
        print("cProfile of the export generator (services.export_stream, read to the end), by own time:")
        print("| function | calls | own s | cumulative s |")
        print("| --- | --- | --- | --- |")
        for where, calls, own, cumulative in export_profile(user, trial):
            print(f"| {where} | {calls:,} | {own:.2f} | {cumulative:.2f} |")
    if mem["rss_peak_mb"] >= EXPORT_GOAL_MB:
        grown = mem["rss_peak_mb"] - mem["rss_before_mb"]
        failed.append(f"labs export: peak RSS {mem['rss_peak_mb']:.0f} MB (goal < {EXPORT_GOAL_MB:g}), of which {grown:.0f} MB grown during the export")
    return failed


def labs_export(client, user) -> list[str]:
    """Issue #7: the labs CSV export of 1,000,000 rows through the download URL against PostgreSQL's COPY of the
    same query (rows/s ratio, goal >= 0.5), and the export's peak memory in a fresh process (goal < 150 MB)."""
    from django.core.management import call_command
    from django.db import connection

    from cohorts.models import Trial
    from datamanagement.exports import DOMAINS

    if connection.vendor != "postgresql":
        print("labs export of 1,000,000 rows against COPY: needs PostgreSQL (set BENCH_DATABASE_URL); not measured on", connection.vendor)
        return []
    t0 = time.perf_counter()
    with redirect_stdout(io.StringIO()):
        call_command("seed_demo", patients=EXPORT_PATIENTS, seed=1, synthetic=EXPORT_TRIAL)
    trial = Trial.objects.get(code=EXPORT_TRIAL)
    t1 = time.perf_counter()
    labs = seed_lab_rows(trial, days=EXPORT_DAYS)
    seeded, inserted = t1 - t0, time.perf_counter() - t1

    tb, sink, copy_times, copy_md5 = copy_runs(export_sql(user, trial), DOMAINS["labs"].header(trial))
    ta, rows, size, app_times = app_runs(client)
    t_read = read_only_run(user, trial)
    child = memory_runs()
    same = child["rss"]["md5"] == copy_md5  # the app's body is COPY's output with \r\n line ends and a header

    ratio = (rows / ta) / (sink.rows / tb)
    print(
        f"labs export: {EXPORT_TRIAL} {EXPORT_PATIENTS:,} synthetic patients (seed_demo --synthetic {EXPORT_TRIAL} --patients {EXPORT_PATIENTS} --seed 1, "
        f"{seeded:.1f} s) x {EXPORT_DAYS} daily lab panels, one INSERT ... SELECT generate_series ({labs:,} rows, {inserted:.1f} s, no history rows)"
    )
    print(
        f"GET {EXPORT_URL} as a data manager (test client, streaming_content read to the end) against COPY (<the export's own SQL>) TO STDOUT "
        f"(FORMAT csv) through psycopg2 copy_expert into a counting sink; median of {EXPORT_REPEAT} each (COPY after 1 warm-up); "
        f"{size / 2**20:.1f} MiB of CSV; the body is COPY's output plus the header: {'yes' if same else 'NO'}"
    )
    print("| step | rows | s | rows/s | ratio to COPY |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| (a) the app's CSV download | {rows:,} | {ta:.2f} | {rows / ta:,.0f} | {ratio:.2f} |")
    print(f"| (a') of which reading the rows (values_list iterator, chunk 2,000) | {rows:,} | {t_read:.2f} | {rows / t_read:,.0f} | - |")
    print(f"| (b) COPY ... TO STDOUT (FORMAT csv) | {sink.rows:,} | {tb:.2f} | {sink.rows / tb:,.0f} | 1.00 |")
    print(f"runs (s): app {', '.join(f'{x:.2f}' for x in app_times)}; COPY {', '.join(f'{x:.2f}' for x in copy_times)}")
    print_memory(child)
    return export_goals(user, trial, labs=labs, rows=rows, copied=sink.rows, same=same, ta=ta, tb=tb, mem=child["rss"])
