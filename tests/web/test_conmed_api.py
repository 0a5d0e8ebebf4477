"""The conmeds endpoint: patient-scoped (a coordinator sees only their site), roles, field errors, reason, retract."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from toxicity.ctcae import meddra
from toxicity.models import ConMed
from toxicity.services import ae_record, conmed_record

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=390)
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}


def day(n):
    return C1 + timedelta(days=n - 1)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def neutropenia(on_c1, alice):
    values = {"term": meddra("Neutrophil count decreased"), "grade": 4, "onset": day(10), "resolved": day(19), "outcome": "recovered"}
    return ae_record(patient=on_c1, by=alice, attribution=RELATED, **values)


def body(patient, **overrides):
    return {
        "patient": patient.study_id,
        "drug": "filgrastim",
        "indication": "neutropenia",
        "dose": "300",
        "dose_unit": "ug",
        "route": "sc",
        "start": day(11).isoformat(),
        "stop": day(17).isoformat(),
        "category": "gcsf",
    } | overrides


def test_a_coordinator_records_a_gcsf_linked_to_the_event_and_corrects_it_with_a_reason(api, alice, on_c1, neutropenia):
    api.force_authenticate(alice)
    response = api.post("/api/v1/conmeds/", body(on_c1, adverse_events=[neutropenia.pk]), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["drug"], data["category"], data["adverse_events"], data["patient"]) == ("filgrastim", "gcsf", [neutropenia.pk], on_c1.study_id)
    url = f"/api/v1/conmeds/{data['id']}/"
    assert api.patch(url, {"dose": "480", "reason": ""}, format="json").status_code == 400
    patched = api.patch(url, {"dose": "480", "reason": "source document"}, format="json")
    assert (patched.status_code, patched.json()["dose"], patched.json()["adverse_events"]) == (200, "480.000", [neutropenia.pk])
    retracted = api.post(f"{url}retract/", {"reason": "wrong patient"}, format="json")
    assert (retracted.status_code, retracted.json()["in_error"]) == (200, True)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"stop": day(5).isoformat()}, "stop", "cannot be before the start"),
        ({"stop": None}, "stop", "Give the stop date, or tick ongoing"),
        ({"route": "nasal"}, "route", "is not a valid choice"),
        ({"adverse_events": [999999]}, "adverse_events", "current adverse events of this patient"),
    ],
)
def test_bad_conmeds_are_400_with_field_errors(api, alice, on_c1, overrides, field, message):
    api.force_authenticate(alice)
    response = api.post("/api/v1/conmeds/", body(on_c1, **overrides), format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()["errors"][field])
    assert ConMed.objects.count() == 0


def test_a_coordinator_sees_only_their_sites_conmeds(api, alice, bob, ivan, on_c1):
    conmed_record(patient=on_c1, by=alice, drug="ondansetron", indication="nausea", route="oral", start=day(3), ongoing=True, category="max_antiemetic")
    api.force_authenticate(bob)
    assert api.get("/api/v1/conmeds/").json()["results"] == []
    assert api.post("/api/v1/conmeds/", body(on_c1), format="json").status_code == 404
    api.force_authenticate(ivan)
    assert [c["drug"] for c in api.get("/api/v1/conmeds/", {"patient": on_c1.study_id}).json()["results"]] == ["ondansetron"]


@pytest.mark.parametrize("persona", ["ivan", "dana", "mona"])
def test_readers_cannot_write_conmeds(api, personas, on_c1, persona):
    api.force_authenticate(personas[persona])
    assert api.post("/api/v1/conmeds/", body(on_c1), format="json").status_code == 403
    assert api.get("/api/v1/conmeds/").status_code == 200
