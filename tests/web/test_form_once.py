"""A form that creates a record, sent twice, makes one record (issue #17, point 5): the one-time form token."""

import re

import pytest
from django.urls import reverse

from tests.factories import PASSWORD
from toxicity.models import AdverseEvent, Dlt, LabResult

from .test_safety_pages import LAB_UNITS, ae_post, day
from .test_visit_pages import START, form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def d8(treated, alice):
    from decimal import Decimal

    from dosing.models import Visit
    from dosing.services import cycle_start

    return Visit.objects.get(cycle=cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0")), day=8)


def _token(html: str, form_id: str = "") -> str:
    """The form's one-time token (of the form with this id, where a page has several)."""
    inside = rf'id="{form_id}" novalidate>.*?' if form_id else ""
    return re.search(inside + r'name="form_token" value="([^"]+)"', html, re.S).group(1)


def test_the_same_token_twice_makes_one_event_and_redirects_to_it(client, alice, on_c1):
    client.force_login(alice)
    url = reverse("ae_new", args=[on_c1.study_id])
    token = _token(client.get(url).content.decode())
    first = client.post(url, ae_post(form_token=token))
    assert first.status_code == 302
    again = client.post(url, ae_post(form_token=token), follow=True)
    ae = AdverseEvent.objects.get(patient=on_c1)
    assert again.redirect_chain[0][0] == reverse("ae_edit", args=[on_c1.study_id, ae.pk])
    assert "already recorded" in again.content.decode()


def test_a_new_form_gets_a_new_token_and_records_a_second_event(client, alice, on_c1):
    client.force_login(alice)
    url = reverse("ae_new", args=[on_c1.study_id])
    one, two = (_token(client.get(url).content.decode()) for _ in range(2))
    assert one != two
    assert client.post(url, ae_post(form_token=one)).status_code == 302
    assert client.post(url, ae_post(form_token=two, onset=ae_post()["onset"], grade="2")).status_code == 302
    assert AdverseEvent.objects.filter(patient=on_c1).count() == 2


def test_a_refused_form_keeps_its_token_usable(client, alice, on_c1):
    client.force_login(alice)
    url = reverse("ae_new", args=[on_c1.study_id])
    token = _token(client.get(url).content.decode())
    refused = client.post(url, ae_post(form_token=token, grade="9"))
    assert refused.status_code == 200
    assert _token(refused.content.decode()) == token
    assert client.post(url, ae_post(form_token=token)).status_code == 302
    assert AdverseEvent.objects.filter(patient=on_c1).count() == 1


def test_a_token_is_per_user(client, alice, ivan, on_c1):
    """Another user's token is not theirs to replay: it is a fresh one for this user (the write is still refused by role)."""
    from trialsite.idempotency import form_once  # noqa: F401 - the mechanism under test

    client.force_login(alice)
    url = reverse("ae_new", args=[on_c1.study_id])
    token = _token(client.get(url).content.decode())
    assert client.post(url, ae_post(form_token=token)).status_code == 302
    from trialsite.models import IdempotencyKey

    assert IdempotencyKey.objects.get(key=token).user_id == alice.pk


# ---------------------------------------------------------------- every other form that creates a clinical record


def _twice(client, url, get_url, data, form_id: str = ""):
    """GET the form, POST it twice with its token: the first is a redirect, the second follows to the existing record."""
    token = _token(client.get(get_url).content.decode(), form_id)
    first = client.post(url, data | {"form_token": token})
    assert first.status_code == 302, first.context and [f.errors for f in first.context.get("forms", {}).values() if hasattr(f, "errors")]
    again = client.post(url, data | {"form_token": token}, follow=True)
    assert again.status_code == 200
    assert "already recorded" in again.content.decode() or "already registered" in again.content.decode()
    return first, again


def test_a_visit_sent_twice_records_one_new_event_and_redirects_to_the_visit(client, alice, d8, treated):
    from toxicity.ctcae import meddra

    client.force_login(alice)
    url = reverse("visit_record", args=[d8.pk])
    data = form_data(client, url)
    data.update({"ae-term": meddra("Nausea"), "ae-grade": "2", "ae-onset": d8.expected_on.isoformat(), "ae-action": "none", "ae-outcome": "not_recovered"})
    data.update({"ae-attr_bendamustine": "possible", "ae-attr_pomalidomide": "possible", "ae-attr_dexamethasone": "unlikely"})
    _, again = _twice(client, url, url, data)
    assert again.redirect_chain[0][0] == url
    assert "This visit was already recorded" in again.content.decode()
    assert AdverseEvent.objects.filter(patient=treated).count() == 1
    assert LabResult.objects.filter(patient=treated).count() <= 1


def test_a_conmed_sent_twice_is_one_row_and_the_second_shows_it(client, alice, on_c1):
    from toxicity.models import ConMed

    from .test_conmed_pages import conmed_post

    client.force_login(alice)
    url = reverse("conmed_new", args=[on_c1.study_id])
    _, again = _twice(client, url, url, conmed_post())
    row = ConMed.objects.get(patient=on_c1)
    assert again.redirect_chain[0][0] == reverse("conmed_edit", args=[on_c1.study_id, row.pk])
    assert "This concomitant medication was already recorded" in again.content.decode()


def test_a_lab_panel_sent_twice_is_one_panel(client, alice, on_c1):
    client.force_login(alice)
    url = reverse("patient_safety", args=[on_c1.study_id])
    data = LAB_UNITS | {"action": "lab", "lab-on": day(8).isoformat(), "lab-anc": "1.2", "lab-platelets": "140"}
    _, again = _twice(client, url, url, data, form_id="lab")
    assert again.redirect_chain[0][0] == url + "#labs"
    assert "These labs were already recorded" in again.content.decode()
    assert LabResult.objects.filter(patient=on_c1).count() == 1


def test_a_missed_dlt_sent_twice_is_one_dlt(client, ivan, on_c1):
    client.force_login(ivan)
    url = reverse("patient_safety", args=[on_c1.study_id])
    data = {"action": "missed", "missed-rule": "N1", "missed-onset": day(12).isoformat(), "missed-confirm_unsupported": "on"}
    data |= {"missed-description": "grade 3 hepatitis", "missed-reason": "free text", "missed-password": PASSWORD}
    _, again = _twice(client, url, url, data, form_id="missed")
    assert again.redirect_chain[0][0] == url + "#dlts"
    assert "This DLT was already recorded" in again.content.decode()
    assert Dlt.objects.filter(patient=on_c1).count() == 1


def test_the_two_safety_forms_carry_different_tokens(client, ivan, on_c1):
    client.force_login(ivan)
    html = client.get(reverse("patient_safety", args=[on_c1.study_id])).content.decode()
    assert len(set(re.findall(r'name="form_token" value="([^"]+)"', html))) == len(re.findall(r'name="form_token"', html))


def test_a_registration_sent_twice_is_one_patient_and_the_second_shows_them(client, alice, site_a, trial):
    from cohorts.models import Patient

    from .test_pages import _form

    client.force_login(alice)
    url = reverse("patient_register", args=[trial.code])
    _, again = _twice(client, url, url, _form(trial, site=site_a.pk))
    patient = Patient.objects.get()
    assert again.redirect_chain[0][0] == reverse("patient_detail", args=[patient.study_id])
    assert "This patient was already registered" in again.content.decode()


def test_an_assessment_sent_twice_is_one_assessment(client, alice, on_c1):
    from response.models import MyelomaAssessment

    from .test_response_pages import d

    client.force_login(alice)
    url = reverse("patient_response", args=[on_c1.study_id])
    data = {"action": "assessment", "a-on": d(84).isoformat(), "a-spep": "1.2", "a-spep_unit": "g/dL", "a-upep": "0", "a-upep_unit": "mg/24h"}
    data |= {"a-kappa_unit": "mg/dL", "a-lambda_flc_unit": "mg/dL"}
    data |= {"a-serum_ife": "unknown", "a-urine_ife": "unknown", "a-marrow_clonal": "unknown", "a-plasmacytoma": "unknown", "a-new_lesions": "unknown"}
    _, again = _twice(client, url, url, data)
    assert again.redirect_chain[0][0] == url + "#assessment"
    assert "This assessment was already recorded" in again.content.decode()
    assert MyelomaAssessment.objects.filter(patient=on_c1).count() == 1


def test_a_cycle_start_sent_twice_starts_one_cycle(client, alice, treated):
    from dosing.models import Cycle

    client.force_login(alice)
    url = reverse("patient_treatment", args=[treated.study_id])
    html = client.get(url).content.decode()
    token = re.search(r'id="cycle" novalidate>.*?name="form_token" value="([^"]+)"', html, re.S).group(1)
    data = {"action": "cycle", "cycle-day1": START.isoformat(), "cycle-weight_kg": "80", "form_token": token}
    assert client.post(url, data).status_code == 302
    again = client.post(url, data, follow=True)
    assert again.redirect_chain[0][0] == url + "#cycle"
    assert "This cycle was already started" in again.content.decode()
    assert Cycle.objects.filter(patient=treated).count() == 1
    tokens = re.findall(r'name="form_token" value="([^"]+)"', client.get(url).content.decode())
    assert len(tokens) == len(set(tokens)) == 3  # cycle 2, modification, off treatment: one token each


def test_a_dose_sent_twice_is_recorded_once_and_the_second_shows_it(client, alice, d8):
    from dosing.models import Administration

    client.force_login(alice)
    url = reverse("cycle_dose", args=[d8.patient.study_id, 1, "pomalidomide", 4])
    token = _token(client.get(url).content.decode())
    data = {"status": "held", "reason": "infection", "form_token": token}
    assert client.post(url, data).status_code == 302
    again = client.post(url, data, follow=True)
    assert again.redirect_chain[0][0] == url
    assert "This dose was already recorded" in again.content.decode()
    record = Administration.objects.get(cycle=d8.cycle, day=4)
    assert record.history.count() == 1  # the second POST wrote nothing, not even a correction


def test_a_wrong_signature_password_on_a_form_with_its_token_is_counted(client, ivan, on_c1):
    """The token's claim is not one transaction with the write: a refused signature still counts as a failed password."""
    from axes.models import AccessAttempt

    client.force_login(ivan)
    url = reverse("patient_safety", args=[on_c1.study_id])
    token = _token(client.get(url).content.decode(), "missed")
    data = {"action": "missed", "missed-rule": "N1", "missed-onset": day(12).isoformat(), "missed-confirm_unsupported": "on"}
    data |= {"missed-description": "grade 3 hepatitis", "missed-reason": "free text", "missed-password": "a-wrong-guess", "form_token": token}
    assert "The password is not correct" in client.post(url, data).content.decode()
    assert sum(AccessAttempt.objects.filter(username=ivan.username).values_list("failures_since_start", flat=True)) == 1
    assert not Dlt.objects.filter(patient=on_c1).exists()


# ---------------------------------------------------------------- {% form_token %}: one line per form


def test_a_refused_form_keeps_its_token_and_the_pages_other_forms_get_fresh_ones(client, alice, on_c1):
    """The tag keeps the posted token only in the form that was posted (named by its action)."""
    client.force_login(alice)
    url = reverse("patient_treatment", args=[on_c1.study_id])
    page = client.get(url).content.decode()
    cycle, off = _token(page, "cycle"), _token(page, "off")
    refused = client.post(url, {"action": "cycle", "cycle-day1": "not a date", "cycle-weight_kg": "80", "form_token": cycle})
    assert refused.status_code == 200
    html = refused.content.decode()
    assert _token(html, "cycle") == cycle
    assert _token(html, "off") not in (cycle, off)


def test_forms_that_change_a_record_carry_no_token(client, alice, on_c1):
    from toxicity.services import ae_record

    from .test_safety_pages import RELATED

    client.force_login(alice)
    ae = ae_record(patient=on_c1, by=alice, term=ae_post()["term"], grade=2, onset=day(5), attribution=RELATED)
    for page in (reverse("ae_edit", args=[on_c1.study_id, ae.pk]), reverse("patient_edit", args=[on_c1.study_id])):
        assert 'name="form_token"' not in client.get(page).content.decode()
    assert 'name="form_token"' in client.get(reverse("ae_new", args=[on_c1.study_id])).content.decode()
