"""Idempotent API writes (issue #17, point 5): the same Idempotency-Key answers with the first record, never a copy."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from toxicity.ctcae import meddra
from toxicity.models import AdverseEvent
from trialsite.models import IdempotencyKey

pytestmark = pytest.mark.django_db
C1 = timezone.localdate() - timedelta(days=390)


def ae_body(patient, **overrides):
    return {
        "patient": patient.study_id,
        "term": meddra("Nausea"),
        "grade": 2,
        "onset": (C1 + timedelta(days=3)).isoformat(),
        "outcome": "recovering",
        "attribution": {"bendamustine": "possible", "pomalidomide": "unlikely", "dexamethasone": "unlikely"},
    } | overrides


@pytest.fixture
def api(alice):
    client = APIClient()
    client.force_authenticate(alice)
    return client


def test_the_same_key_twice_answers_with_the_first_event_and_writes_one(api, on_c1):
    first = api.post("/api/v1/adverse-events/", ae_body(on_c1), format="json", HTTP_IDEMPOTENCY_KEY="ae-1")
    again = api.post("/api/v1/adverse-events/", ae_body(on_c1), format="json", HTTP_IDEMPOTENCY_KEY="ae-1")
    assert first.status_code == again.status_code == 201, first.content
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert AdverseEvent.objects.filter(patient=on_c1).count() == 1


def test_the_same_key_with_another_body_is_refused_and_writes_nothing(api, on_c1):
    assert api.post("/api/v1/adverse-events/", ae_body(on_c1), format="json", HTTP_IDEMPOTENCY_KEY="ae-2").status_code == 201
    other = api.post("/api/v1/adverse-events/", ae_body(on_c1, grade=3), format="json", HTTP_IDEMPOTENCY_KEY="ae-2")
    assert other.status_code == 422
    assert AdverseEvent.objects.filter(patient=on_c1).count() == 1


def test_a_refused_request_keeps_no_key_so_the_corrected_one_is_written(api, on_c1):
    bad = api.post("/api/v1/adverse-events/", ae_body(on_c1, grade=9), format="json", HTTP_IDEMPOTENCY_KEY="ae-3")
    assert bad.status_code == 400
    assert not IdempotencyKey.objects.exists()
    good = api.post("/api/v1/adverse-events/", ae_body(on_c1), format="json", HTTP_IDEMPOTENCY_KEY="ae-3")
    assert good.status_code == 201
    assert AdverseEvent.objects.filter(patient=on_c1).count() == 1


def test_keys_are_per_user_and_per_endpoint(api, on_c1, alice, ivan):
    assert api.post("/api/v1/adverse-events/", ae_body(on_c1), format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    lab = {"patient": on_c1.study_id, "on": (C1 + timedelta(days=3)).isoformat(), "anc": "1.5"}
    assert api.post("/api/v1/labs/", lab, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    assert IdempotencyKey.objects.filter(user_id=alice.pk, key="k").count() == 2


def test_a_key_older_than_a_day_starts_afresh(api, on_c1):
    with time_machine.travel(timezone.now() - timedelta(hours=25)):
        assert api.post("/api/v1/adverse-events/", ae_body(on_c1), format="json", HTTP_IDEMPOTENCY_KEY="old").status_code == 201
    again = api.post("/api/v1/adverse-events/", ae_body(on_c1, grade=1), format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    assert AdverseEvent.objects.filter(patient=on_c1).count() == 2


def test_a_dose_posted_twice_with_one_key_is_one_administration(api, on_c1):
    from dosing.models import Administration

    body = {"patient": on_c1.study_id, "cycle": 1, "drug": "bendamustine", "day": 1, "status": "given"}
    first = api.post("/api/v1/administrations/", body, format="json", HTTP_IDEMPOTENCY_KEY="dose-1")
    again = api.post("/api/v1/administrations/", body, format="json", HTTP_IDEMPOTENCY_KEY="dose-1")
    assert first.status_code == again.status_code == 201, first.content
    assert again.json() == first.json()
    assert Administration.objects.filter(cycle__patient=on_c1).count() == 1


def test_a_registration_posted_twice_with_one_key_is_one_patient(api, trial, site_a):
    from cohorts.models import Patient
    from tests.factories import registration_values

    values = registration_values(trial, initials="KQ")
    body = {k: (str(v) if not isinstance(v, dict) else v) for k, v in values.items()} | {"trial": trial.code, "site": site_a.number}
    first = api.post("/api/v1/patients/", body, format="json", HTTP_IDEMPOTENCY_KEY="reg-1")
    again = api.post("/api/v1/patients/", body, format="json", HTTP_IDEMPOTENCY_KEY="reg-1")
    assert first.status_code == again.status_code == 201, first.content
    assert again.json() == first.json()
    assert Patient.objects.filter(initials="KQ").count() == 1


def test_the_nightly_purge_deletes_only_the_keys_past_their_day(api, on_c1):
    from trialsite.tasks import purge_idempotency_keys

    with time_machine.travel(timezone.now() - timedelta(hours=25)):
        assert api.post("/api/v1/adverse-events/", ae_body(on_c1), format="json", HTTP_IDEMPOTENCY_KEY="old").status_code == 201
    assert api.post("/api/v1/adverse-events/", ae_body(on_c1, grade=1), format="json", HTTP_IDEMPOTENCY_KEY="new").status_code == 201
    assert purge_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_a_key_reused_for_another_body_is_refused_in_the_api_error_shape(api, on_c1):
    assert api.post("/api/v1/adverse-events/", ae_body(on_c1), format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    refused = api.post("/api/v1/adverse-events/", ae_body(on_c1, grade=1), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert refused.status_code == 422
    assert (refused.json()["status"], refused.json()["code"], refused.json()["errors"]) == (422, "idempotency_key_reused", {})
