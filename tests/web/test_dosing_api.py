"""Treatment endpoints: roles, site scoping, field errors in the one format."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from dosing.models import Administration, Cycle

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
START = TODAY - timedelta(days=390)


@pytest.fixture
def api():
    return APIClient()


def start(api, patient, **overrides):
    body = {"patient": patient.study_id, "day1": START.isoformat(), "weight_kg": "80"} | overrides
    return api.post("/api/v1/cycles/", body, format="json")


def test_start_cycle_then_read_its_plan(api, alice, treated):
    api.force_authenticate(alice)
    response = start(api, treated)
    assert response.status_code == 201, response.content
    assert (response.json()["number"], response.json()["bsa_m2"]) == (1, "2.0000")
    plan = api.get("/api/v1/planned-doses/", {"patient": treated.study_id, "page_size": 100}).json()
    assert len(plan["results"]) == 26
    assert plan["next"] is None
    benda = next(p for p in plan["results"] if p["drug"] == "bendamustine")
    assert benda["dose_mg"] == "240.00"


def test_two_cycle_ones_and_bad_weight_are_400(api, alice, treated):
    api.force_authenticate(alice)
    assert start(api, treated).status_code == 201
    response = start(api, treated, day1=(START + timedelta(days=28)).isoformat(), number=1)
    assert response.status_code == 400
    assert response.json()["errors"]["number"] == ["Cycle 1 already exists."]
    response = start(api, treated, day1=(START + timedelta(days=28)).isoformat(), weight_kg="500")
    assert response.status_code == 400
    assert "weight_kg" in response.json()["errors"]
    assert Cycle.objects.count() == 1


def test_record_doses_and_refuse_an_unscheduled_day(api, alice, treated):
    api.force_authenticate(alice)
    start(api, treated)
    body = {"patient": treated.study_id, "cycle": 1, "drug": "bendamustine", "day": 1, "status": "given"}
    response = api.post("/api/v1/administrations/", body, format="json")
    assert response.status_code == 201
    assert (response.json()["dose_mg"], response.json()["planned_dose_mg"]) == ("240.00", "240.00")
    response = api.post("/api/v1/administrations/", body | {"day": 8, "dose_mg": "240"}, format="json")
    assert response.status_code == 400
    assert "not scheduled on day 8" in response.json()["errors"]["day"][0]
    response = api.post("/api/v1/administrations/", body | {"drug": "pomalidomide", "day": 2, "status": "held"}, format="json")
    assert "reason" in response.json()["errors"]
    assert Administration.objects.count() == 1


def test_modification_by_investigator_and_list(api, alice, ivan, treated):
    api.force_authenticate(alice)
    start(api, treated)
    body = {
        "patient": treated.study_id,
        "kind": "reduce_level",
        "to_level": -1,
        "effective_on": (START + timedelta(days=5)).isoformat(),
        "decided_by": ivan.username,
        "reason": "grade 3 thrombocytopenia",
    }
    response = api.post("/api/v1/modifications/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["in_cycle_1"] is True
    assert len(api.get("/api/v1/modifications/", {"patient": treated.study_id}).json()["results"]) == 1


def test_off_treatment_endpoint(api, alice, treated):
    api.force_authenticate(alice)
    start(api, treated)
    api.post("/api/v1/administrations/", {"patient": treated.study_id, "cycle": 1, "drug": "bendamustine", "day": 1, "status": "given"}, format="json")
    response = api.post(
        "/api/v1/off-treatment/",
        {"patient": treated.study_id, "reason_code": "toxicity", "decided_on": (START + timedelta(days=20)).isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["last_dose_on"] == START.isoformat()


def test_other_site_and_read_only_roles(api, alice, bob, mona, treated):
    api.force_authenticate(alice)
    start(api, treated)
    api.force_authenticate(bob)
    assert api.get("/api/v1/cycles/").json()["results"] == []
    assert start(api, treated, day1=(START + timedelta(days=28)).isoformat()).status_code == 404
    api.force_authenticate(mona)
    assert len(api.get("/api/v1/cycles/").json()["results"]) == 1
    assert start(api, treated, day1=(START + timedelta(days=28)).isoformat()).status_code == 403


def test_worklist_endpoint(api, alice, treated):
    api.force_authenticate(alice)
    start(api, treated, day1=(TODAY - timedelta(days=14)).isoformat())
    items = api.get("/api/v1/worklist/").json()
    assert {(i["what"], i["bucket"]) for i in items} >= {("Cycle 1 day 15 visit", "today"), ("Cycle 1 day 22 visit", "week")}
