"""Every page for every persona: allowed, read-only and forbidden (house style 16)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cohorts.models import Enrolment, Patient
from tests.factories import register_patient

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def pages(trial, patient_a):
    return {
        "home": reverse("home"),
        "trial_home": reverse("trial_home", args=[trial.code]),
        "patient_list": reverse("patient_list", args=[trial.code]),
        "patient_register": reverse("patient_register", args=[trial.code]),
        "patient_detail": reverse("patient_detail", args=[patient_a.study_id]),
        "patient_edit": reverse("patient_edit", args=[patient_a.study_id]),
    }


VIEWERS = ["alice", "ivan", "dana", "mona"]
EXPECTED = {
    # page: {persona: status}
    "home": {"alice": 302, "bob": 302, "ivan": 302, "dana": 302, "mona": 302, "olga": 302},
    "trial_home": {"alice": 200, "bob": 200, "ivan": 200, "dana": 200, "mona": 200, "olga": 403},
    "patient_list": {"alice": 200, "bob": 200, "ivan": 200, "dana": 200, "mona": 200, "olga": 403},
    "patient_register": {"alice": 200, "bob": 200, "ivan": 403, "dana": 403, "mona": 403, "olga": 403},
    "patient_detail": {"alice": 200, "bob": 404, "ivan": 200, "dana": 200, "mona": 200, "olga": 403},
    "patient_edit": {"alice": 200, "bob": 404, "ivan": 403, "dana": 403, "mona": 403, "olga": 403},
}


@pytest.mark.parametrize("page", list(EXPECTED))
@pytest.mark.parametrize("persona", ["alice", "bob", "ivan", "dana", "mona", "olga"])
def test_each_persona_gets_what_their_role_allows(client, personas, pages, page, persona):
    client.force_login(personas[persona])
    assert client.get(pages[page]).status_code == EXPECTED[page][persona]


@pytest.mark.parametrize("page", list(EXPECTED))
def test_every_page_requires_login(client, pages, page):
    response = client.get(pages[page])
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_logs_a_user_in(client, alice, password):
    response = client.post(reverse("login"), {"username": "alice", "password": password})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.get(reverse("home")).context["user"] == alice


def test_wrong_password_is_told_plainly(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert "did not match" in response.content.decode()


def test_coordinator_sees_only_their_own_sites_patients(client, alice, patient_a, patient_b, trial):
    client.force_login(alice)
    html = client.get(reverse("patient_list", args=[trial.code])).content.decode()
    assert patient_a.study_id in html
    assert patient_b.study_id not in html


def test_investigator_sees_every_site(client, ivan, patient_a, patient_b, trial):
    client.force_login(ivan)
    html = client.get(reverse("patient_list", args=[trial.code])).content.decode()
    assert patient_a.study_id in html
    assert patient_b.study_id in html


def test_patient_list_filters_by_site_status_and_level(client, dana, trial, site_a, site_b, alice, bob):
    enrolled = register_patient(trial, site_a, alice)
    from cohorts.services import patient_enroll

    patient_enroll(patient=enrolled, by=alice)
    screening = register_patient(trial, site_b, bob)
    client.force_login(dana)
    url = reverse("patient_list", args=[trial.code])
    by_level = client.get(url, {"level": 1}).content.decode()
    assert enrolled.study_id in by_level
    assert screening.study_id not in by_level
    by_site = client.get(url, {"site": "02"}).content.decode()
    assert screening.study_id in by_site
    assert enrolled.study_id not in by_site
    by_status = client.get(url, {"status": "screening"}).content.decode()
    assert screening.study_id in by_status
    assert enrolled.study_id not in by_status


def _form(trial, **overrides):
    data = {
        "site": "",
        "initials": "JD",
        "date_of_birth": "1958-04-02",
        "sex": "M",
        "height_cm": "176",
        "weight_kg": "80",
        "consent_date": (TODAY - timedelta(days=3)).isoformat(),
        "baseline_anc": "2.1",
        "baseline_platelets": "190",
        "baseline_marrow_pc_pct": "20",
    }
    data.update({f"elig_{code}": "on" for code in trial.criteria_codes})
    data.update(overrides)
    return data


def test_registration_with_impossible_weight_shows_the_field_error_and_saves_nothing(client, alice, site_a, trial):
    client.force_login(alice)
    response = client.post(reverse("patient_register", args=[trial.code]), _form(trial, site=site_a.pk, weight_kg="500"))
    assert response.status_code == 200
    assert response.context["form"].errors["weight_kg"] == ["Weight must be between 25 and 300 kg."]
    assert 'id="error-weight_kg"' in response.content.decode()
    assert Patient.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("height_cm", "1.76", "looks like metres"),
        ("date_of_birth", (TODAY + timedelta(days=1)).isoformat(), "future"),
        ("consent_date", (TODAY + timedelta(days=1)).isoformat(), "future"),
        ("baseline_anc", "2100", "looks like /uL"),
        ("baseline_marrow_pc_pct", "130", "between 0 and 100"),
        ("initials", "J1", "2 to 4 letters"),
        ("weight_kg", "0", "between 25 and 300"),
    ],
)
def test_registration_bad_values_get_a_message_on_their_field(client, alice, site_a, trial, field, value, message):
    client.force_login(alice)
    response = client.post(reverse("patient_register", args=[trial.code]), _form(trial, site=site_a.pk, **{field: value}))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert Patient.objects.count() == 0


def test_registration_then_enrolment_through_the_pages(client, alice, site_a, trial):
    client.force_login(alice)
    response = client.post(reverse("patient_register", args=[trial.code]), _form(trial, site=site_a.pk))
    assert response.status_code == 302
    patient = Patient.objects.get()
    assert response["Location"] == reverse("patient_detail", args=[patient.study_id])
    response = client.post(reverse("patient_enrol", args=[patient.study_id]), {"enrolled_on": TODAY.isoformat()}, follow=True)
    assert "enrolled at level 1 (cohort 1, slot 1)" in response.content.decode()
    assert Enrolment.objects.get().patient == patient


def test_coordinator_cannot_register_at_the_other_site(client, alice, site_b, trial):
    client.force_login(alice)
    response = client.post(reverse("patient_register", args=[trial.code]), _form(trial, site=site_b.pk))
    assert response.status_code == 200
    assert "site" in response.context["form"].errors
    assert Patient.objects.count() == 0


def test_enrolling_an_unconsented_patient_explains_why(client, alice, site_a, trial):
    patient = register_patient(trial, site_a, alice, consent_date=None)
    client.force_login(alice)
    response = client.post(reverse("patient_enrol", args=[patient.study_id]), {"enrolled_on": TODAY.isoformat()}, follow=True)
    assert "has not consented" in response.content.decode()
    assert not Enrolment.objects.exists()


def test_no_open_slot_is_a_message_not_an_error(client, alice, site_a, trial):
    from cohorts.services import patient_enroll

    for _ in range(3):
        patient_enroll(patient=register_patient(trial, site_a, alice), by=alice)
    fourth = register_patient(trial, site_a, alice)
    client.force_login(alice)
    response = client.post(reverse("patient_enrol", args=[fourth.study_id]), {"enrolled_on": TODAY.isoformat()}, follow=True)
    assert response.status_code == 200
    assert "No open slot" in response.content.decode()


@pytest.mark.parametrize("persona", ["ivan", "dana", "mona", "olga", "bob"])
def test_only_the_sites_coordinator_can_post_clinical_writes(client, personas, patient_a, persona):
    client.force_login(personas[persona])
    for name in ("patient_enrol", "patient_status"):
        response = client.post(reverse(name, args=[patient_a.study_id]), {"enrolled_on": TODAY.isoformat()})
        assert response.status_code in (403, 404)
    patient_a.refresh_from_db()
    assert patient_a.status == "screening"


def test_edit_requires_a_reason_and_the_patient_page_shows_old_and_new(client, alice, patient_a):
    client.force_login(alice)
    url = reverse("patient_edit", args=[patient_a.study_id])
    data = _form(patient_a.trial, initials=patient_a.initials, date_of_birth=patient_a.date_of_birth.isoformat(), weight_kg="71.5")
    response = client.post(url, data)
    assert "reason" in response.context["form"].errors
    response = client.post(url, {**data, "reason": "Re-weighed at screening visit"}, follow=True)
    html = response.content.decode()
    assert "Re-weighed at screening visit" in html
    assert "68.0" in html
    assert "71.5" in html
    assert alice.get_full_name() in html


def test_status_change_through_the_page(client, alice, patient_a):
    client.force_login(alice)
    response = client.post(
        reverse("patient_status", args=[patient_a.study_id]),
        {"to_status": "off_study", "reason_code": "screen_failure", "on_date": TODAY.isoformat()},
        follow=True,
    )
    assert "Status of" in response.content.decode()
    patient_a.refresh_from_db()
    assert (patient_a.status, patient_a.status_reason) == ("off_study", "screen_failure")


def test_status_change_without_its_reason_is_refused(client, alice, patient_a):
    client.force_login(alice)
    response = client.post(
        reverse("patient_status", args=[patient_a.study_id]),
        {"to_status": "off_study", "reason_code": "", "on_date": TODAY.isoformat()},
        follow=True,
    )
    assert "Choose a reason" in response.content.decode()
    patient_a.refresh_from_db()
    assert patient_a.status == "screening"


def test_date_fields_are_prefilled_in_iso_so_date_inputs_show_them(client, alice, patient_a):
    client.force_login(alice)
    html = client.get(reverse("patient_edit", args=[patient_a.study_id])).content.decode()
    assert f'value="{patient_a.date_of_birth.isoformat()}"' in html
    detail = client.get(reverse("patient_detail", args=[patient_a.study_id])).content.decode()
    assert f'value="{TODAY.isoformat()}"' in detail
