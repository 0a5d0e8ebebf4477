"""Pages run a bounded number of queries whatever the number of patients (house style 17)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cohorts.services import patient_update
from portal.demo.seed import seed_synthetic

pytestmark = pytest.mark.django_db


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("page", ["trial_home", "patient_list"])
def test_page_queries_do_not_grow_with_patients(client, dana, trial, site_a, site_b, page, settings, django_assert_max_num_queries):
    settings.TRIALSITE_SESSION_RENEW_SECONDS = 24 * 3600  # a slow seed must not put a session renewal between the counts
    client.force_login(dana)
    url = reverse(page, args=[trial.code])
    seed_synthetic(trial=trial, patients=5, seed=1)
    assert client.get(url).status_code == 200  # the first page after signing in renews the session (its one write a minute)
    few = _queries(client, url)
    seed_synthetic(trial=trial, patients=120, seed=2)
    with django_assert_max_num_queries(few):
        assert client.get(url).status_code == 200
    assert _queries(client, url) == few


def test_patient_page_queries_are_bounded(client, alice, patient_a, django_assert_max_num_queries):
    for weight in ("69.0", "70.0", "71.0", "72.0"):
        patient_update(patient=patient_a, by=alice, reason="re-weighed", weight_kg=Decimal(weight))
    client.force_login(alice)
    # 16, and one for the pending derived results (trialsite.outbox.pending); the session is saved at most once a
    # minute (trialsite.middleware.RenewSessionMiddleware, issue #17), not on this request
    assert client.get(reverse("home")).status_code in (200, 302)  # the session's renewal, at most once a minute
    with django_assert_max_num_queries(17):
        assert client.get(reverse("patient_detail", args=[patient_a.study_id])).status_code == 200
