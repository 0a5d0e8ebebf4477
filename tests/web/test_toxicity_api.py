"""Toxicity endpoints: roles, site scoping, field errors in the one error format."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import PASSWORD
from toxicity.ctcae import meddra
from toxicity.models import AdverseEvent, Dlt, LabResult
from toxicity.services import dlt_evaluate_many

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=390)
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}


def day(n):
    return (C1 + timedelta(days=n - 1)).isoformat()


@pytest.fixture
def api():
    return APIClient()


def post_ae(api, patient, **overrides):
    body = {
        "patient": patient.study_id,
        "term": meddra("Neutrophil count decreased"),
        "grade": 4,
        "onset": day(10),
        "resolved": day(19),
        "outcome": "recovered",
        "attribution": RELATED,
        "supportive": ["gcsf"],
    } | overrides
    return api.post("/api/v1/adverse-events/", body, format="json")


def test_terms_are_searchable_with_their_grades(api, mona):
    api.force_authenticate(mona)
    terms = api.get("/api/v1/ctcae-terms/", {"q": "neutro"}).json()
    codes = [t["code"] for t in terms]
    assert meddra("Neutrophil count decreased") in codes
    assert meddra("Febrile neutropenia") in codes
    neutrophils = next(t for t in terms if t["code"] == meddra("Neutrophil count decreased"))
    assert neutrophils["grades"]["4"] == "<500/mm3; <0.5 x 10e9 /L"


def test_record_an_event_and_labs_then_the_proposal_is_adjudicated(api, alice, ivan, on_c1):
    api.force_authenticate(alice)
    response = post_ae(api, on_c1)
    assert response.status_code == 201, response.content
    for n, anc in ((10, "400"), (14, "300"), (19, "900")):
        r = api.post("/api/v1/labs/", {"patient": on_c1.study_id, "on": day(n), "anc": anc, "units": {"anc": "/uL"}}, format="json")
        assert r.status_code == 201, r.content
    assert api.get("/api/v1/labs/", {"patient": on_c1.study_id}).json()["results"][0]["grades"] == {"anc": 4}
    dlt_evaluate_many([on_c1.pk])
    proposals = api.get("/api/v1/dlt-proposals/", {"status": "proposed"}).json()["results"]
    assert [p["rule"] for p in proposals] == ["H2"]
    pid = proposals[0]["id"]
    denied = api.post(f"/api/v1/dlt-proposals/{pid}/confirm/", {}, format="json")
    assert denied.status_code == 403
    api.force_authenticate(ivan)
    missing = api.post(f"/api/v1/dlt-proposals/{pid}/confirm/", {}, format="json")
    assert missing.status_code == 400
    assert "password" in str(missing.json())
    wrong = api.post(f"/api/v1/dlt-proposals/{pid}/confirm/", {"password": "wrong"}, format="json")
    assert wrong.status_code == 400
    assert "The password is not correct" in str(wrong.json())
    assert api.get("/api/v1/dlts/").json()["results"] == []
    confirmed = api.post(f"/api/v1/dlt-proposals/{pid}/confirm/", {"password": PASSWORD}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    assert (confirmed.json()["status"], confirmed.json()["adjudicated_by"]) == ("confirmed", "ivan")
    dlts = api.get("/api/v1/dlts/").json()["results"]
    assert [(d["rule"], d["needs_review"]) for d in dlts] == [("H2", False)]
    evaluation = api.get("/api/v1/dlt-evaluations/", {"patient": on_c1.study_id}).json()["results"][0]
    assert (evaluation["status"], evaluation["rule_version"]) == ("evaluable", 2)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"grade": 6}, "grade", "CTCAE grades are 1 to 5"),
        ({"term": "made_up"}, "term", "Unknown CTCAE v5.0 term"),
        ({"resolved": day(5)}, "resolved", "cannot be before the onset"),
        ({"onset": (C1 - timedelta(days=90)).isoformat(), "resolved": None, "outcome": "not_recovered"}, "onset", "before consent"),
        ({"term": meddra("Nausea"), "grade": 4, "supportive": []}, "grade", "Nausea has no grade 4 in CTCAE v5.0 (grades 1, 2, 3)"),
        ({"term": meddra("Vaginal stricture"), "grade": 4, "supportive": []}, "grade", "Vaginal stricture has no grade 4"),
        ({"term": meddra("Death NOS"), "grade": 3, "supportive": []}, "grade", "Death NOS has no grade 3"),
        ({"term": meddra("Investigations - Other, specify"), "grade": 2, "supportive": []}, "verbatim", "give the verbatim term"),
        ({"term": meddra("Nausea"), "grade": 5, "outcome": "fatal", "supportive": []}, "grade", "Nausea has no grade 5"),
    ],
)
def test_bad_events_are_400_with_field_errors(api, alice, on_c1, overrides, field, message):
    api.force_authenticate(alice)
    response = post_ae(api, on_c1, **overrides)
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], message in " ".join(body["errors"][field])) == ("invalid", True)
    assert AdverseEvent.objects.count() == 0


def test_an_anc_of_1500_as_10_9_per_litre_is_a_400_asking_for_per_microlitre(api, alice, on_c1):
    api.force_authenticate(alice)
    response = api.post("/api/v1/labs/", {"patient": on_c1.study_id, "on": day(8), "anc": "1500"}, format="json")
    assert response.status_code == 400
    assert "did you mean /uL?" in response.json()["errors"]["anc"][0]
    assert LabResult.objects.count() == 0


def test_correcting_an_event_needs_a_reason(api, alice, on_c1):
    api.force_authenticate(alice)
    ae_id = post_ae(api, on_c1).json()["id"]
    assert api.patch(f"/api/v1/adverse-events/{ae_id}/", {"grade": 3, "reason": ""}, format="json").status_code == 400
    response = api.patch(f"/api/v1/adverse-events/{ae_id}/", {"grade": 3, "reason": "source document"}, format="json")
    assert (response.status_code, response.json()["grade"]) == (200, 3)
    retracted = api.post(f"/api/v1/adverse-events/{ae_id}/retract/", {"reason": "duplicate"}, format="json")
    assert retracted.json()["in_error"] is True


def test_another_sites_coordinator_cannot_see_or_write(api, alice, bob, on_c1):
    api.force_authenticate(alice)
    post_ae(api, on_c1)
    api.force_authenticate(bob)
    assert api.get("/api/v1/adverse-events/").json()["results"] == []
    assert post_ae(api, on_c1).status_code == 404  # the same answer as for a patient that does not exist


def test_investigator_records_a_missed_dlt_and_monitor_cannot(api, ivan, mona, on_c1):
    body = {"patient": on_c1.study_id, "rule": "N1", "onset": day(12), "description": "grade 3 hepatitis", "reason": "free text only", "password": PASSWORD}
    api.force_authenticate(mona)
    assert api.post("/api/v1/dlts/", body, format="json").status_code == 403
    api.force_authenticate(ivan)
    unsupported = api.post("/api/v1/dlts/", body, format="json")
    assert unsupported.status_code == 400
    assert "confirm_unsupported" in str(unsupported.json())
    response = api.post("/api/v1/dlts/", body | {"confirm_unsupported": True}, format="json")
    assert response.status_code == 201, response.content
    assert Dlt.objects.get().proposal is None
    withdrawn = api.post(f"/api/v1/dlts/{response.json()['id']}/withdraw/", {"reason": "duplicate"}, format="json")
    assert withdrawn.status_code == 400
    assert "password" in str(withdrawn.json())
    withdrawn = api.post(f"/api/v1/dlts/{response.json()['id']}/withdraw/", {"reason": "duplicate", "password": PASSWORD}, format="json")
    assert withdrawn.status_code == 200, withdrawn.content


def test_the_terms_endpoint_gives_meddra_code_soc_grades_and_other_specify(api, mona):
    api.force_authenticate(mona)
    everything = api.get("/api/v1/ctcae-terms/").json()
    assert len(everything) == 837
    [stricture] = api.get("/api/v1/ctcae-terms/", {"q": "vaginal stricture"}).json()
    assert stricture["meddra_code"] == stricture["code"] == meddra("Vaginal stricture")
    assert (stricture["soc"], stricture["version"], sorted(stricture["grades"]), stricture["generic_texts"]) == (
        "Reproductive system and breast disorders",
        "5.0",
        ["1", "2", "3", "5"],
        True,
    )
    [other] = api.get("/api/v1/ctcae-terms/", {"q": "cardiac other"}).json()
    assert (other["other_specify"], other["kind"]) == (True, "other")
    assert api.get("/api/v1/ctcae-terms/", {"q": "hemorrhage", "limit": 5}).json()[0]["kind"] == "bleeding"
    assert api.get("/api/v1/ctcae-terms/", {"limit": "many"}).status_code == 400


def test_an_event_in_the_api_carries_its_meddra_code_soc_and_verbatim_term(api, alice, on_c1):
    api.force_authenticate(alice)
    other = meddra("Gastrointestinal disorders - Other, specify")
    response = post_ae(api, on_c1, term=other, verbatim="Anal fissure", grade=2, supportive=[], resolved=None, outcome="not_recovered")
    assert response.status_code == 201, response.content
    body = api.get(f"/api/v1/adverse-events/{response.json()['id']}/").json()
    assert (body["term"], body["meddra_code"], body["soc"], body["verbatim"], body["ctcae_version"]) == (
        other,
        other,
        "Gastrointestinal disorders",
        "Anal fissure",
        "5.0",
    )
    assert body["term_name"] == "Gastrointestinal disorders - Other, specify: Anal fissure"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/dlt-proposals/{id}/confirm/",
        "/api/v1/dlt-proposals/{id}/reject/",
        "/api/v1/dlts/",
        "/api/v1/dlts/{id}/withdraw/",
        "/api/v1/decisions/{id}/sign/",
        "/api/v1/decisions/{id}/reject/",
    ],
)
def test_the_schema_says_every_signed_write_needs_the_password(api, ivan, path):
    api.force_authenticate(ivan)
    schema = api.get("/api/schema/", {"format": "json"}).json()
    ref = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert "password" in component["required"]
    assert component["properties"]["password"]["type"] == "string"


def test_a_confirmation_retried_with_its_idempotency_key_is_one_dlt(api, alice, ivan, on_c1):
    api.force_authenticate(alice)
    assert post_ae(api, on_c1).status_code == 201
    for n, anc in ((10, "400"), (14, "300"), (19, "900")):
        assert api.post("/api/v1/labs/", {"patient": on_c1.study_id, "on": day(n), "anc": anc, "units": {"anc": "/uL"}}, format="json").status_code == 201
    dlt_evaluate_many([on_c1.pk])
    pid = api.get("/api/v1/dlt-proposals/", {"status": "proposed"}).json()["results"][0]["id"]
    api.force_authenticate(ivan)
    first = api.post(f"/api/v1/dlt-proposals/{pid}/confirm/", {"password": PASSWORD}, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    again = api.post(f"/api/v1/dlt-proposals/{pid}/confirm/", {"password": PASSWORD}, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (200, 200, "true"), first.content
    assert again.json() == first.json()
    assert len(api.get("/api/v1/dlts/").json()["results"]) == 1
