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
def test_page_queries_do_not_grow_with_patients(client, dana, trial, site_a, site_b, page, django_assert_max_num_queries):
    client.force_login(dana)
    url = reverse(page, args=[trial.code])
    seed_synthetic(trial=trial, patients=5, seed=1)
    few = _queries(client, url)
    seed_synthetic(trial=trial, patients=120, seed=2)
    with django_assert_max_num_queries(few):
        assert client.get(url).status_code == 200
    assert _queries(client, url) == few


def test_patient_page_queries_are_bounded(client, alice, patient_a, django_assert_max_num_queries):
    for weight in ("69.0", "70.0", "71.0", "72.0"):
        patient_update(patient=patient_a, by=alice, reason="re-weighed", weight_kg=Decimal(weight))
    client.force_login(alice)
    # 16, one for the pending derived results (trialsite.outbox.pending), and the session saved on every request (a
    # savepoint, its UPDATE and the release) so that it ends after 30 minutes idle (SESSION_SAVE_EVERY_REQUEST, issue #17)
    with django_assert_max_num_queries(20):
        assert client.get(reverse("patient_detail", args=[patient_a.study_id])).status_code == 200
