"""What the registration form refuses, the API refuses with the same message (issue #17, point 5)."""

import pytest
from rest_framework.test import APIClient

from cohorts.models import Patient
from tests.factories import registration_values

pytestmark = pytest.mark.django_db


def _api_body(trial, site, **overrides):
    values = registration_values(trial, **overrides)
    body = {k: (str(v) if not isinstance(v, dict) else v) for k, v in values.items()}
    return body | {"trial": trial.code, "site": site.number}


@pytest.mark.parametrize("initials", ["A1", "J-D", "X", "ABCDE"])
def test_bad_initials_are_refused_by_form_and_api_alike(client, trial, site_a, alice, initials):
    client.force_login(alice)
    values = registration_values(trial, initials=initials)
    form = {k: v for k, v in values.items() if k != "eligibility"} | {f"elig_{c}": "on" for c in trial.criteria_codes} | {"site": site_a.pk}
    page = client.post(f"/trials/{trial.code}/patients/new/", form)
    assert page.status_code == 200
    api = APIClient()
    api.force_authenticate(alice)
    response = api.post("/api/v1/patients/", _api_body(trial, site_a, initials=initials), format="json")
    assert response.status_code == 400, response.content
    message = "Initials are 2 to 4 letters." if len(initials) <= 4 else None
    errors = response.json()["errors"]["initials"]
    if message:
        assert message in errors
        assert message in page.content.decode()
    assert not Patient.objects.exists()


def test_good_initials_are_accepted_by_the_api(trial, site_a, alice):
    api = APIClient()
    api.force_authenticate(alice)
    response = api.post("/api/v1/patients/", _api_body(trial, site_a, initials="jd"), format="json")
    assert response.status_code == 201, response.content
    assert Patient.objects.get().initials == "JD"
