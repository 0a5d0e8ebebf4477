"""Concurrency through real HTTP (issue #17, the figures in docs/benchmarks.md "## Issue #17 figures").

A live server (pytest-django's `live_server`: a threaded WSGI server, one database connection per request thread) and
client threads that send real HTTP requests with API tokens, released together by a barrier:
- twenty enrolments for the three open slots of a cohort: exactly three are enrolled, seventeen refused with 409;
- two investigators sign the same escalation decision at once, each with their password: one signature is stored.

Both must hold on either database the product runs on: PostgreSQL (CI, DATABASE_URL), where the services' row locks
serialise the writers, and the embedded SQLite, whose IMMEDIATE transactions take the write lock at the start of each
atomic block. Each test prints its figures and the database (`pytest -s`); the figures in docs/benchmarks.md are
PostgreSQL's.
"""

import threading
import time
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.roles import Role
from cohorts.models import Enrolment
from escalation.models import EscalationDecision
from escalation.services import escalation_reevaluate
from tests.factories import PASSWORD, UserFactory, register_patient, treat_patient
from toxicity.services import dlt_evaluate_many
from trialsite.models import Signature

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgresql(live_server):
    """The live server on the configured database (PostgreSQL in CI; the fixture keeps its name for the figures)."""
    print(f"\nconcurrency over HTTP on {connection.vendor}")
    return live_server


def _at_once(calls):
    """Send the requests from one thread each, released together; returns (status codes, bodies, seconds)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, send):
        with requests.Session() as s:
            barrier.wait()
            try:
                r = send(s)
                results[i] = (r.status_code, r.json() if r.headers.get("Content-Type", "").startswith("application/json") else r.text)
            except requests.RequestException as exc:  # any transport failure is the failure this test looks for
                results[i] = (None, repr(exc))

    threads = [threading.Thread(target=run, args=(i, send)) for i, send in enumerate(calls)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return [r[0] if r else None for r in results], [r[1] if r else None for r in results], time.perf_counter() - started


def _auth(user) -> dict[str, str]:
    return {"Authorization": f"Token {Token.objects.create(user=user).key}"}


def test_twenty_enrolments_over_http_for_three_slots_enrol_exactly_three(postgresql, trial, site_a, alice):
    patients = [register_patient(trial, site_a, alice) for _ in range(20)]
    headers = _auth(alice)

    def enrol(study_id):
        return lambda s: s.post(f"{postgresql.url}/api/v1/patients/{study_id}/enrol/", json={}, headers=headers, timeout=60)

    codes, bodies, seconds = _at_once([enrol(p.study_id) for p in patients])
    print(f"\nenrolments over HTTP: attempts 20, enrolled {codes.count(201)}, refused {codes.count(409)}, {seconds:.2f} s")
    assert codes.count(201) == 3, list(zip(codes, bodies, strict=True))
    assert codes.count(409) == 17, list(zip(codes, bodies, strict=True))
    assert all("No open slot" in str(b) for c, b in zip(codes, bodies, strict=True) if c == 409)
    assert Enrolment.objects.count() == 3
    assert sorted(Enrolment.objects.values_list("slot", flat=True)) == [1, 2, 3]


def test_two_investigators_signing_the_same_decision_over_http_store_one_signature(postgresql, trial, site_a, alice, ivan):
    day1 = timezone.localdate() - timedelta(days=90)
    treated = [treat_patient(trial, site_a, alice, day1=day1) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in treated])
    decision = escalation_reevaluate(trial=trial)[0]
    assert decision.status == EscalationDecision.Status.PROPOSED
    irene = UserFactory(username="irene", role=Role.INVESTIGATOR)
    url = f"{postgresql.url}/api/v1/decisions/{decision.pk}/sign/"

    def sign(user):
        headers = _auth(user)
        return lambda s: s.post(url, json={"password": PASSWORD}, headers=headers, timeout=60)

    codes, bodies, seconds = _at_once([sign(ivan), sign(irene)])
    stored = Signature.objects.filter(object_id=decision.pk, content_type__model="escalationdecision").count()
    refused = [b for c, b in zip(codes, bodies, strict=True) if c != 200]
    print(
        f"\nsignatures over HTTP: 2 attempts, signed {codes.count(200)}, refused {[c for c in codes if c != 200]} {refused},",
        f"stored {stored}, {seconds:.2f} s",
    )
    assert codes.count(200) == 1, list(zip(codes, bodies, strict=True))
    assert next(c for c in codes if c != 200) in (400, 409), list(zip(codes, bodies, strict=True))
    assert refused[0], refused
    assert stored == 1
    decision.refresh_from_db()
    assert decision.status == EscalationDecision.Status.SIGNED
    assert decision.signed_by_id in {ivan.pk, irene.pk}
