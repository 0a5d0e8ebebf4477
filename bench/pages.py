"""Issue #2: the patient list and the trial home at 50 and at 5,000 patients."""

from __future__ import annotations

import statistics
import time

from .harness import REPEAT, WARMUP

SIZES = (("SYNA", 50), ("SYNB", 5000))
GOAL_RATIO = 3.0
PAGES = {"patient list": "/trials/{code}/patients/", "trial home": "/trials/{code}/"}


def page_measure(client):
    """A function of a URL: the SQL queries of one GET by `client`, and the median seconds of REPEAT GETs after WARMUP."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

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

    return measure


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
