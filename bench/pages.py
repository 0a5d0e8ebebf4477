"""Issue #16 (after issue #2): every page and every API list at 50 and at 5,000 synthetic patients.

Two phases on one database: a synthetic trial of the small size is seeded and every URL measured, then one of
the large size is seeded and every URL measured again. A page of one trial (or one of its patients) is measured
on that phase's trial; a page over every trial (the worklist, the DLT review queue, the API lists) sees the
demo and the small trial in the first phase and, in the second, 5,000 patients more. Per URL: the SQL queries
of one GET after one warm-up, the median of PAGES_REPEAT GETs after it, the body's size, as a logged-in data manager.
Goals: the same queries at both sizes, time(large) : time(small) at most 3, body(large) : body(small) at most 3
(an API page: at most its 50 rows).

Sizes: BENCH_PAGES_SIZES (default "50,5000"); each trial with 2 cycles, 6 myeloma assessments and synthetic
toxicity a treated patient (`seed_demo --synthetic SYNP<n> ... --cycles 2 --assessments 6 --toxicity`), its
responses, endpoints and DLT evaluations computed once before measuring. The visit page (C1D8 of the trial's
measured patient, whose visits the bench stores as a cycle's start does) has a goal of its own: at most
GOAL_VISIT_MS at the median at either size.
"""

from __future__ import annotations

import base64
import io
import os
import statistics
import time
from contextlib import redirect_stdout
from urllib.parse import urlencode

from .harness import REPEAT, WARMUP, QueryCounter

SIZES = tuple(int(n) for n in (os.environ.get("BENCH_PAGES_SIZES") or "50,5000").split(","))
PAGES_REPEAT = 3  # the "median of 3"
GOAL_RATIO = 3.0
GOAL_BODY_RATIO = 3.0
PAGE_ROWS = 50  # an API page's rows: trialsite.api.KeysetPagination.page_size
GOAL_VISIT_MS = 150  # the visit page's median at either size (issue #16, point 1)
VISIT_PAGE = "visit page (C1D8)"

# Every page, by what it needs: {code} a trial, {study_id} one of its patients, {last} beyond the last page.
PAGES = {
    "home": "/",
    "trial home": "/trials/{code}/",
    "patient list": "/trials/{code}/patients/",
    "patient list, last page": "/trials/{code}/patients/?page={last}",
    "patient summary": "/patients/{study_id}/",
    "patient treatment": "/patients/{study_id}/treatment/",
    "patient safety": "/patients/{study_id}/safety/",
    "patient response": "/patients/{study_id}/response/",
    "patient queries": "/patients/{study_id}/queries/",
    "visit page (C1D8)": "/visits/{visit}/",
    "worklist": "/worklist/",
    "DLT review": "/dlt-review/",
    "escalation": "/trials/{code}/escalation/",
    "design": "/trials/{code}/design/",
    "design, exact OC": "/trials/{code}/design/?tox_0=0.05&tox_1=0.1&tox_2=0.2&tox_3=0.33&tox_4=0.5&method=exact&seed=1",
    "response dashboard": "/trials/{code}/response/",
    "response dashboard, last page of plots": "/trials/{code}/response/?page={last}",
    "response dashboard, one level": "/trials/{code}/response/?level=1",
    "waterfall.svg": "/trials/{code}/response/waterfall.svg",
    "swimmer.svg": "/trials/{code}/response/swimmer.svg",
    "waterfall-summary.svg": "/trials/{code}/response/waterfall-summary.svg",
    "swimmer-summary.svg": "/trials/{code}/response/swimmer-summary.svg",
    "pfs.svg": "/trials/{code}/response/pfs.svg",
    "ttnt.svg": "/trials/{code}/response/ttnt.svg",
    "ttp.svg": "/trials/{code}/response/ttp.svg",
    "trial queries": "/trials/{code}/queries/",
    "exports page": "/trials/{code}/exports/",
    "audit trail": "/trials/{code}/audit/",
}
# The API's lists that are not a router's (every router list is measured, first and last page).
API_PAGES = {
    "api worklist": "/api/v1/worklist/",
    "api endpoints": "/api/v1/trials/{code}/endpoints/",
    "api escalation": "/api/v1/trials/{code}/escalation/",
    "api design": "/api/v1/trials/{code}/design/",
    "api ctcae-terms": "/api/v1/ctcae-terms/?q=neut",
}


def page_measure(client):
    """A function of a URL: the SQL queries of one GET by `client`, and the median seconds of REPEAT GETs after WARMUP
    (issues #2 and #3: the treatment tab)."""

    def measure(url: str) -> tuple[int, float]:
        queries, seconds, *_ = measure_page(client, url, repeat=REPEAT, warmup=WARMUP)
        return queries, seconds

    return measure


def _body(response) -> int:
    if response.streaming:
        return sum(len(chunk) for chunk in response.streaming_content)
    return len(response.content)


def measure_page(client, url: str, *, repeat: int = PAGES_REPEAT, warmup: int = 1) -> tuple[int, float, int, int | None]:
    """The SQL queries of one GET, the median seconds of `repeat` GETs after `warmup`, the body's bytes, and the
    rows of an API page (None for anything else)."""
    return measure_pages(client, [url], repeat=repeat, warmup=warmup)[0]


def measure_pages(client, urls: list[str], *, repeat: int = PAGES_REPEAT, warmup: int = 1) -> list[tuple[int, float, int, int | None]]:
    """measure_page of several URLs, their GETs interleaved (a, b, a, b, ...) so that the machine's drift
    (a third within minutes) falls on all of them alike."""
    from django.db import connection

    for _ in range(warmup):  # first, so that what a process loads once (the CTCAE terms, the protocol) is counted on no page
        for url in urls:
            _body(client.get(url))
    first = []
    for url in urls:
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        size = _body(response)
        rows = None
        if response.get("Content-Type", "").startswith("application/json"):
            page = response.json()
            rows = len(page["results"]) if isinstance(page, dict) and isinstance(page.get("results"), list) else None
        first.append((counter.total, size, rows))
    times: list[list[float]] = [[] for _ in urls]
    for _ in range(repeat):
        for url, spent in zip(urls, times, strict=True):
            t0 = time.perf_counter()
            _body(client.get(url))
            spent.append(time.perf_counter() - t0)
    return [(q, statistics.median(spent), size, rows) for (q, size, rows), spent in zip(first, times, strict=True)]


def _cursor(position: str) -> str:
    """A cursor of trialsite.api.KeysetPagination (DRF's encoding) at `position`: the page after it."""
    return base64.b64encode(urlencode({"p": position}).encode("ascii")).decode("ascii")


def api_lists() -> dict[str, str]:
    """Every router list: its first page, and its last page (a cursor at the 51st key from the end) when it has more than a page."""
    from portal.urls import router
    from trialsite.api import KeysetPagination

    out = {}
    for prefix, viewset, _ in router.registry:
        out[f"api {prefix}"] = f"/api/v1/{prefix}/"
        key = getattr(viewset, "cursor_ordering", KeysetPagination.ordering)
        queryset = getattr(viewset, "queryset", None)
        model = queryset.model if queryset is not None else None
        if model is None and prefix == "patients":
            from cohorts.models import Patient

            model = Patient
        if model is None or not isinstance(key, str) or key.startswith("-"):
            continue
        keys = list(model.objects.order_by(f"-{key}").values_list(key, flat=True)[: KeysetPagination.page_size + 1])
        if len(keys) > KeysetPagination.page_size:
            out[f"api {prefix}, last page"] = f"/api/v1/{prefix}/?cursor={_cursor(str(keys[-1]))}"
    return out


def seed_pages_trial(patients: int) -> tuple[str, str, int, float]:
    """A synthetic trial of `patients` with its derived results computed: (code, a patient's study id, the pk of
    that patient's C1D8 visit, seconds)."""
    from django.core.management import call_command
    from django.utils import timezone

    from cohorts.models import Patient, Trial
    from response.models import ResponseResult
    from response.services import endpoints_compute, response_compute_many
    from toxicity.services import dlt_evaluate_many

    code = f"SYNP{patients}"
    t0 = time.perf_counter()
    with redirect_stdout(io.StringIO()):
        call_command("seed_demo", patients=patients, seed=1, synthetic=code, cycles=2, assessments=6, toxicity=True, span_days=140, latest_days_ago=200)
    trial = Trial.objects.get(code=code)
    ids = list(Patient.objects.filter(trial=trial).values_list("pk", flat=True))
    response_compute_many(ids)
    endpoints_compute(trial=trial)
    dlt_evaluate_many(ids, today=timezone.localdate())
    course = ResponseResult.objects.filter(patient__trial=trial, patient__cycles__number=1).order_by("patient__study_id").first()
    patient = course.patient if course else Patient.objects.filter(trial=trial, cycles__number=1).order_by("study_id").first()
    return code, patient.study_id, _visits_of(patient), time.perf_counter() - t0


def _visits_of(patient) -> int:
    """The treatment visits of the patient's synthetic cycles (the synthetic seeder writes cycles and their plan,
    not their visits), as dosing.services stores them when a cycle starts; the pk of C1D8."""
    from simple_history.utils import bulk_create_with_history

    from dosing import schedule
    from dosing.models import Cycle, Visit

    trial = patient.trial
    visits = [
        Visit(patient=patient, cycle=cycle, kind=Visit.Kind.TREATMENT, day=day, expected_on=on, window_days=trial.visit_window_days)
        for cycle in Cycle.objects.filter(patient=patient).order_by("number")
        for day, on in schedule.visit_dates(cycle.day1, trial.visit_days)
    ]
    bulk_create_with_history(visits, Visit, default_change_reason="Synthetic data")
    return Visit.objects.get(patient=patient, cycle__number=1, day=8).pk


def _urls(code: str, study_id: str, visit: int) -> tuple[dict[str, str], dict[str, str]]:
    """The URLs of one trial and its patient, and those over every trial (with the API lists)."""
    own, every = {}, {}
    for name, pattern in (PAGES | API_PAGES).items():
        (own if "{" in pattern else every)[name] = pattern.format(code=code, study_id=study_id, visit=visit, last=10**6)
    return own, every | api_lists()


def _measure_all(client, urls: dict[str, str], notes: list[str], size: int) -> dict[str, tuple[int, float, int, int | None]]:
    out = {}
    for name, url in urls.items():
        try:
            out[name] = measure_page(client, url)
        except AssertionError as exc:
            notes.append(f"{name} at {size}: {exc}")
    return out


def every_page(client) -> list[str]:
    """Issue #16: every page and API list at each size; the goals missed. A trial's pages are measured with the
    two trials side by side once both are seeded (their GETs interleaved); the pages over every trial once
    after each seeding."""
    from django.db import connection

    measured: dict[int, dict[str, tuple[int, float, int, int | None]]] = {n: {} for n in SIZES}
    notes: list[str] = []
    trials = []
    for n in SIZES:
        code, study_id, visit, seeded = seed_pages_trial(n)
        notes.append(f"{code} {n:,} patients seeded and computed in {seeded:.0f} s")
        own, every = _urls(code, study_id, visit)
        trials.append(own)
        measured[n] |= _measure_all(client, every, notes, n)
    for name in trials[0]:
        try:
            for n, result in zip(SIZES, measure_pages(client, [own[name] for own in trials]), strict=True):
                measured[n][name] = result
        except AssertionError as exc:
            notes.append(f"{name}: {exc}")
    small, large = SIZES[0], SIZES[-1]
    print(f"every page and API list ({connection.vendor}): " + "; ".join(notes) + f"; median of {PAGES_REPEAT} after 1 warm-up")
    print()
    head = f"| page | queries at {small:,} | queries at {large:,} | ms at {small:,} | ms at {large:,} | ratio"
    head += f" | KB at {small:,} | KB at {large:,} | body ratio | met |"
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    failed = []
    named = [*PAGES, *API_PAGES]
    for name in sorted(measured[small], key=lambda k: (named.index(k) if k in named else len(named), k)):
        if name not in measured[large]:
            continue
        (qs, ts, bs, _), (ql, tl, bl, rows) = measured[small][name], measured[large][name]
        ratio, body_ratio = tl / ts if ts else float("inf"), bl / bs if bs else float("inf")
        problems = []
        if qs != ql:
            problems.append(f"queries differ ({qs} vs {ql})")
        if ratio > GOAL_RATIO:
            problems.append(f"time ratio {ratio:.2f} above {GOAL_RATIO}")
        if rows is not None and rows > PAGE_ROWS:  # an API page: bounded by its rows (a page less full at the small size is no growth)
            problems.append(f"{rows} rows in a page (at most {PAGE_ROWS})")
        elif rows is None and body_ratio > GOAL_BODY_RATIO:
            problems.append(f"body ratio {body_ratio:.2f} above {GOAL_BODY_RATIO}")
        if name == VISIT_PAGE and max(ts, tl) * 1000 > GOAL_VISIT_MS:
            problems.append(f"median {max(ts, tl) * 1000:.0f} ms above {GOAL_VISIT_MS} ms")
        failed += [f"{name}: {p}" for p in problems]
        row = (name, qs, ql, f"{ts * 1000:.1f}", f"{tl * 1000:.1f}", f"{ratio:.2f}", f"{bs / 1024:.1f}", f"{bl / 1024:.1f}", f"{body_ratio:.2f}")
        print("| " + " | ".join(str(c) for c in row) + f" | {'yes' if not problems else '**no**'} |")
    print()
    return failed
