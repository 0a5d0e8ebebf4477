"""REST API under /api/v1/: roles, site scoping, one error format, schema and docs."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cohorts.models import Enrolment, Patient
from cohorts.services import patient_enroll
from tests.factories import register_patient

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def api():
    return APIClient()


def body(trial, **overrides):
    data = {
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
    data.update(overrides)
    return data


def assert_error(response, status, code, fields=()):
    assert response.status_code == status, response.content
    data = response.json()
    assert set(data) == {"status", "code", "detail", "errors"}
    assert (data["status"], data["code"]) == (status, code)
    for name in fields:
        assert data["errors"][name], data
    return data


def test_anonymous_gets_401_in_the_error_format(api, trial):
    assert_error(api.get("/api/v1/patients/"), 401, "not_authenticated")


def test_outsider_gets_403(api, olga, trial):
    api.force_authenticate(olga)
    assert_error(api.get("/api/v1/patients/"), 403, "permission_denied")


def test_coordinator_lists_only_their_site(api, alice, patient_a, patient_b):
    api.force_authenticate(alice)
    ids = [p["study_id"] for p in api.get("/api/v1/patients/").json()["results"]]
    assert ids == [patient_a.study_id]
    assert_error(api.get(f"/api/v1/patients/{patient_b.study_id}/"), 404, "not_found")


def test_data_manager_lists_all_sites_with_filters(api, dana, patient_a, patient_b):
    api.force_authenticate(dana)
    ids = [p["study_id"] for p in api.get("/api/v1/patients/").json()["results"]]
    assert ids == [patient_a.study_id, patient_b.study_id]
    ids = [p["study_id"] for p in api.get("/api/v1/patients/", {"site": "02"}).json()["results"]]
    assert ids == [patient_b.study_id]


def test_register_returns_the_new_study_id(api, alice, trial, site_a):
    api.force_authenticate(alice)
    response = api.post("/api/v1/patients/", body(trial), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["study_id"] == "BPD-01-001"
    assert response.json()["status"] == "screening"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("weight_kg", "500"),
        ("weight_kg", "0"),
        ("height_cm", "1.62"),
        ("date_of_birth", "2999-01-01"),
        ("baseline_anc", "1500"),
        ("sex", "X"),
        ("height_cm", "tall"),
        ("baseline_marrow_pc_pct", "101"),
    ],
)
def test_register_bad_value_is_400_with_the_field_and_nothing_saved(api, alice, trial, site_a, field, value):
    api.force_authenticate(alice)
    assert_error(api.post("/api/v1/patients/", body(trial, **{field: value}), format="json"), 400, "invalid", [field])
    assert Patient.objects.count() == 0


def test_register_with_a_duplicate_study_id_is_400(api, alice, trial, site_a):
    api.force_authenticate(alice)
    assert api.post("/api/v1/patients/", body(trial, study_id="BPD-01-005"), format="json").status_code == 201
    data = assert_error(api.post("/api/v1/patients/", body(trial, initials="QQ", study_id="BPD-01-005"), format="json"), 400, "invalid", ["study_id"])
    assert "already taken" in data["errors"]["study_id"][0]


def test_register_at_another_site_is_403(api, alice, trial, site_b):
    api.force_authenticate(alice)
    assert_error(api.post("/api/v1/patients/", body(trial, site="02"), format="json"), 403, "permission_denied")


def test_malformed_json_is_400_not_500(api, alice, trial):
    api.force_authenticate(alice)
    response = api.post("/api/v1/patients/", "{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")


@pytest.mark.parametrize("persona", ["ivan", "dana", "mona"])
def test_read_only_roles_cannot_write(api, personas, trial, site_a, patient_a, persona):
    api.force_authenticate(personas[persona])
    assert_error(api.post("/api/v1/patients/", body(trial), format="json"), 403, "permission_denied")
    assert_error(api.post(f"/api/v1/patients/{patient_a.study_id}/enrol/", {}, format="json"), 403, "permission_denied")


def test_enrol_then_no_open_slot_is_409(api, alice, trial, site_a):
    api.force_authenticate(alice)
    for _ in range(3):
        patient = register_patient(trial, site_a, alice)
        response = api.post(f"/api/v1/patients/{patient.study_id}/enrol/", {}, format="json")
        assert response.status_code == 201
    assert response.json()["level"] == 1
    assert response.json()["slot"] == 3
    fourth = register_patient(trial, site_a, alice)
    data = assert_error(api.post(f"/api/v1/patients/{fourth.study_id}/enrol/", {}, format="json"), 409, "no_open_slot")
    assert "No open slot" in data["detail"]


def test_enrol_unconsented_is_400_on_consent(api, alice, trial, site_a):
    patient = register_patient(trial, site_a, alice, consent_date=None)
    api.force_authenticate(alice)
    assert_error(api.post(f"/api/v1/patients/{patient.study_id}/enrol/", {}, format="json"), 400, "invalid", ["consent_date"])
    assert not Enrolment.objects.exists()


def test_patch_needs_a_reason_and_is_audited(api, alice, patient_a):
    api.force_authenticate(alice)
    url = f"/api/v1/patients/{patient_a.study_id}/"
    assert_error(api.patch(url, {"weight_kg": "70"}, format="json"), 400, "invalid", ["reason_for_change"])
    response = api.patch(url, {"weight_kg": "70", "reason_for_change": "scale recalibrated"}, format="json")
    assert response.status_code == 200
    assert response.json()["weight_kg"] == "70.0"
    history = api.get(url + "history/").json()
    assert history[0]["reason"] == "scale recalibrated"
    assert history[0]["changes"] == [{"field": "Weight (kg)", "old": "68.0", "new": "70.0"}]


def test_status_endpoint_applies_the_transition_table(api, alice, trial, site_a):
    patient = register_patient(trial, site_a, alice)
    patient_enroll(patient=patient, by=alice)
    api.force_authenticate(alice)
    url = f"/api/v1/patients/{patient.study_id}/status/"
    assert_error(api.post(url, {"to_status": "follow_up", "on_date": TODAY.isoformat()}, format="json"), 400, "invalid", ["to_status"])
    response = api.post(url, {"to_status": "on_treatment", "on_date": TODAY.isoformat()}, format="json")
    assert response.json()["status"] == "on_treatment"


def test_token_auth_for_scripts(api, dana, patient_a):
    token = Token.objects.create(user=dana)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert len(api.get("/api/v1/patients/").json()["results"]) == 1


def test_session_auth_keeps_csrf(alice, patient_a, trial):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/api/v1/patients/", body(trial), format="json")
    assert_error(response, 403, "permission_denied")


def test_trials_dose_levels_and_sites(api, mona, trial, site_a, site_b):
    api.force_authenticate(mona)
    t = api.get("/api/v1/trials/BPD/").json()
    assert (t["cap_escalation"], t["cap_expansion"], t["cap_total"], t["starting_level"]) == (24, 38, 56, 1)
    assert [lv["label"] for lv in t["levels"]] == [-1, 1, 2, 3, 4]
    levels = api.get("/api/v1/dose-levels/", {"trial__code": "BPD"}).json()["results"]
    level3 = next(lv for lv in levels if lv["label"] == 3)
    assert {"drug": "bendamustine", "amount": "150.00", "unit": "mg/m2"} in level3["doses"]
    assert [s["number"] for s in api.get("/api/v1/sites/").json()["results"]] == ["01", "02"]


def test_coordinator_sees_only_their_site_in_sites_and_enrolments(api, alice, bob, trial, site_a, site_b):
    patient_enroll(patient=register_patient(trial, site_b, bob), by=bob)
    api.force_authenticate(alice)
    assert [s["number"] for s in api.get("/api/v1/sites/").json()["results"]] == ["01"]
    assert api.get("/api/v1/enrolments/").json()["results"] == []


def test_openapi_schema_is_generated_and_needs_login(api, client, alice):
    assert api.get("/api/schema/").status_code == 401
    api.force_authenticate(alice)
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/patients/{study_id}/enrol/" in paths
    assert "/api/v1/trials/" in paths


def test_swagger_ui_is_served_from_local_assets(client, alice):
    client.force_login(alice)
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "https://" not in html


def _walk(api, url, params, django_assert_max_num_queries, *, queries):
    """Every page of a list by its `next` links, each page within `queries` SQL queries; the rows in order."""
    rows, pages = [], 0
    while url:
        with django_assert_max_num_queries(queries):
            page = api.get(url, params).json()
        assert "count" not in page  # a keyset page never counts the whole list
        rows += page["results"]
        url, params, pages = page["next"], None, pages + 1
    return rows, pages


def test_api_lists_walk_by_cursor_without_gaps_or_repeats(api, dana, alice, trial, site_a, django_assert_max_num_queries):
    for i in range(7):
        patient = register_patient(trial, site_a, alice)
        if i < 3:  # the first cohort's three slots
            patient_enroll(patient=patient, by=alice)
    api.force_authenticate(dana)
    patients, pages = _walk(api, "/api/v1/patients/", {"page_size": 2}, django_assert_max_num_queries, queries=8)
    study_ids = [p["study_id"] for p in patients]
    assert (len(study_ids), pages) == (7, 4)
    assert study_ids == sorted(study_ids) == sorted(set(study_ids))  # the patient list's order, each once
    enrolments, _ = _walk(api, "/api/v1/enrolments/", {"page_size": 3}, django_assert_max_num_queries, queries=8)
    assert sorted(e["patient"] for e in enrolments) == study_ids[:3]
    first = api.get("/api/v1/patients/", {"page_size": 2}).json()
    assert first["previous"] is None
    assert "cursor=" in first["next"]


def test_api_list_page_queries_do_not_grow_with_the_trial(api, dana, alice, trial, site_a, django_assert_max_num_queries):
    api.force_authenticate(dana)
    for size in (3, 30):
        while Patient.objects.count() < size:
            register_patient(trial, site_a, alice)
        patients, pages = _walk(api, "/api/v1/patients/", {"page_size": 5}, django_assert_max_num_queries, queries=6)
        assert (len(patients), pages) == (size, -(-size // 5))
