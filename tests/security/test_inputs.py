"""Issue #17 points 3 and 7: inputs that once gave a 500, errors as JSON with DEBUG off, the schema of history and recompute."""

import json
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.specs.openapi.checks import response_schema_conformance

from cohorts.models import Patient
from response.models import RecomputeJob
from trialsite import api as api_errors

from .openapi import in_test_transaction, openapi_schema

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
LONG_REASON = "Corrected from the source document after the monitoring visit:" + " the scale at the clinic was recalibrated." * 6


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def openapi():
    return openapi_schema()


def call(operation, user, **path) -> object:
    """The operation sent by schemathesis to the WSGI app as `user`, its answer checked against the documented schema."""
    case = operation.Case(path_parameters=path)
    with in_test_transaction():
        response = case.call(headers={"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"})
    case.validate_response(response, checks=[response_schema_conformance])  # raises on a mismatch
    return response


def test_a_reason_for_change_longer_than_100_characters_is_kept_whole_by_the_api_and_the_page(api, client, alice, on_c1):
    assert len(LONG_REASON) > 250
    api.force_authenticate(alice)
    response = api.patch(f"/api/v1/patients/{on_c1.study_id}/", {"weight_kg": "79", "reason_for_change": LONG_REASON}, format="json")
    assert response.status_code == 200, response.content
    assert on_c1.history.latest().history_change_reason == LONG_REASON
    history = api.get(f"/api/v1/patients/{on_c1.study_id}/history/").json()
    assert history[0]["reason"] == LONG_REASON
    client.force_login(alice)
    form = {
        name: getattr(on_c1, name) for name in ("initials", "date_of_birth", "sex", "height_cm", "baseline_anc", "baseline_platelets", "baseline_marrow_pc_pct")
    }
    form |= {"weight_kg": "78", "consent_date": on_c1.consent_date, "reason": LONG_REASON + " Again."}
    form |= {f"elig_{code}": "on" for code, met in on_c1.eligibility.items() if met}
    assert client.post(reverse("patient_edit", args=[on_c1.study_id]), form).status_code == 302
    assert on_c1.history.latest().history_change_reason == LONG_REASON + " Again."


@pytest.mark.parametrize("left_out", [("consent_date",), ("eligibility",), ("consent_date", "eligibility")])
def test_optional_fields_may_be_left_out_of_a_registration(api, alice, trial, site_a, left_out):
    body = {
        "trial": "BPD",
        "site": "01",
        "initials": "KL",
        "date_of_birth": "1957-08-19",
        "sex": "F",
        "height_cm": "162.0",
        "weight_kg": "59.5",
        "consent_date": (TODAY - timedelta(days=2)).isoformat(),
        "eligibility": dict.fromkeys(trial.criteria_codes, True),
        "baseline_anc": "1.8",
        "baseline_platelets": "140",
        "baseline_marrow_pc_pct": "25",
    }
    api.force_authenticate(alice)
    response = api.post("/api/v1/patients/", {k: v for k, v in body.items() if k not in left_out}, format="json")
    assert response.status_code == 201, response.content
    patient = Patient.objects.get()
    assert patient.consent_date == (None if "consent_date" in left_out else TODAY - timedelta(days=2))
    assert set(patient.eligibility.values()) == ({False} if "eligibility" in left_out else {True})


def test_a_patch_that_leaves_the_optional_fields_out_keeps_them(api, alice, on_c1):
    api.force_authenticate(alice)
    consent, eligibility = on_c1.consent_date, on_c1.eligibility
    assert api.patch(f"/api/v1/patients/{on_c1.study_id}/", {"weight_kg": "79", "reason_for_change": "scale"}, format="json").status_code == 200
    on_c1.refresh_from_db()
    assert (on_c1.consent_date, on_c1.eligibility) == (consent, eligibility)


def test_huge_page_size_offset_and_limit_are_bounded(api, dana, on_c1, patient_b):
    api.force_authenticate(dana)
    response = api.get("/api/v1/patients/", {"page_size": "1" + "0" * 30, "offset": "1" + "0" * 30, "limit": "-1"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 2
    assert api.get("/api/v1/patients/", {"page_size": "1"}).json()["next"]


def test_with_debug_off_api_errors_are_json_and_pages_html(api, client, settings, dana):
    settings.DEBUG = False
    api.force_authenticate(dana)
    response = api.get("/api/v1/no-such-thing/")
    assert (response.status_code, response["Content-Type"]) == (404, "application/json")
    assert response.json() == {"status": 404, "code": "not_found", "detail": "Not found.", "errors": {}}
    client.force_login(dana)
    page = client.get("/no-such-page/")
    assert (page.status_code, page["Content-Type"].split(";")[0]) == (404, "text/html")
    request = RequestFactory().get("/api/v1/patients/")
    crash = api_errors.server_error(request)
    assert (crash.status_code, crash["Content-Type"], json.loads(crash.content)["code"]) == (500, "application/json", "server_error")
    assert api_errors.bad_request(request).status_code == 400
    assert json.loads(api_errors.permission_denied(request).content)["code"] == "permission_denied"
    assert api_errors.server_error(RequestFactory().get("/patients/")).status_code == 500


def test_patient_history_matches_its_schema(api, openapi, alice, on_c1):
    api.force_authenticate(alice)
    api.patch(f"/api/v1/patients/{on_c1.study_id}/", {"weight_kg": "79", "reason_for_change": "scale"}, format="json")
    operation = openapi["/api/v1/patients/{study_id}/history/"]["GET"]
    response = call(operation, alice, study_id=on_c1.study_id)  # it documented a page of results, and answers a list
    assert response.status_code == 200
    assert isinstance(response.json(), list)
    assert len(response.json()) >= 3
    assert [p["name"] for p in operation.definition.raw.get("parameters", []) if p["in"] == "query"] == []


def test_recompute_matches_its_schema_and_investigators_may_start_one(openapi, alice, ivan, dana, trial, django_capture_on_commit_callbacks):
    get, post = openapi["/api/v1/trials/{code}/recompute/"]["GET"], openapi["/api/v1/trials/{code}/recompute/"]["POST"]
    none_yet = call(get, alice, code=trial.code)  # it answered {} where a job was documented
    assert (none_yet.status_code, none_yet.json()["code"]) == (404, "not_found")
    assert call(post, alice, code=trial.code).status_code == 403
    for user in (ivan, dana):
        with django_capture_on_commit_callbacks(execute=True):
            started = call(post, user, code=trial.code)
        assert started.status_code == 202, started.content
        assert call(get, user, code=trial.code).status_code == 200
    assert RecomputeJob.objects.filter(trial=trial).count() == 2
