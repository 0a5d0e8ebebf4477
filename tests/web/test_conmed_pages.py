"""Concomitant medications on the patient's safety tab and their own CRF page, per persona."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from toxicity.ctcae import meddra
from toxicity.models import ConMed, DltProposal
from toxicity.services import ae_record, conmed_record, lab_record

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=390)
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}


def day(n):
    return C1 + timedelta(days=n - 1)


@pytest.fixture
def neutropenia(on_c1, alice):
    values = {"term": meddra("Neutrophil count decreased"), "grade": 4, "onset": day(10), "resolved": day(19), "outcome": "recovered"}
    return ae_record(patient=on_c1, by=alice, attribution=RELATED, **values)


@pytest.fixture
def conmed(on_c1, alice, neutropenia):
    return conmed_record(
        patient=on_c1,
        by=alice,
        drug="filgrastim",
        indication="neutropenia",
        route="sc",
        start=day(11),
        stop=day(17),
        category="gcsf",
        adverse_events=[neutropenia],
    )


def conmed_post(**overrides):
    data = {
        "drug": "filgrastim",
        "indication": "grade 4 neutropenia",
        "category": "gcsf",
        "dose": "300",
        "dose_unit": "ug",
        "frequency": "once daily",
        "route": "sc",
        "start": day(11).isoformat(),
        "stop": day(17).isoformat(),
    }
    return data | overrides


@pytest.mark.parametrize(("persona", "status"), [("alice", 200), ("ivan", 403), ("dana", 403), ("mona", 403), ("bob", 404), ("olga", 403)])
def test_the_conmed_form_per_persona(client, personas, on_c1, persona, status):
    client.force_login(personas[persona])
    assert client.get(reverse("conmed_new", args=[on_c1.study_id])).status_code == status


@pytest.mark.parametrize(("persona", "status"), [("alice", 200), ("ivan", 403), ("mona", 403), ("bob", 404), ("olga", 403)])
def test_the_conmed_correction_page_per_persona(client, personas, on_c1, conmed, persona, status):
    client.force_login(personas[persona])
    assert client.get(reverse("conmed_edit", args=[on_c1.study_id, conmed.pk])).status_code == status


@pytest.mark.parametrize("persona", ["ivan", "mona", "bob"])
def test_who_may_not_enter_data_cannot_post_a_conmed(client, personas, on_c1, persona):
    client.force_login(personas[persona])
    assert client.post(reverse("conmed_new", args=[on_c1.study_id]), conmed_post()).status_code in (403, 404)
    assert ConMed.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_gcsf_conmed_linked_to_the_neutropenia_makes_the_rules_propose_h2(client, alice, on_c1, neutropenia):
    for n, anc in ((10, "0.4"), (14, "0.3"), (19, "0.9")):
        lab_record(patient=on_c1, by=alice, on=day(n), anc=anc)
    assert not DltProposal.objects.filter(patient=on_c1, rule="H2").exists()
    client.force_login(alice)
    form = client.get(reverse("conmed_new", args=[on_c1.study_id]) + f"?event={neutropenia.pk}").content.decode()
    assert f'value="{neutropenia.pk}"' in form
    assert "checked" in form
    response = client.post(reverse("conmed_new", args=[on_c1.study_id]), conmed_post(adverse_events=[str(neutropenia.pk)]))
    assert response.status_code == 302
    cm = ConMed.objects.get()
    assert (cm.drug, cm.dose, cm.category, list(cm.adverse_events.all())) == ("filgrastim", Decimal("300.000"), "gcsf", [neutropenia])
    assert DltProposal.objects.get(patient=on_c1, rule="H2").status == "proposed"
    html = client.get(reverse("patient_safety", args=[on_c1.study_id])).content.decode()
    assert f'id="conmed-{cm.pk}"' in html
    assert f'<a href="#conmed-{cm.pk}">filgrastim</a>' in html
    assert "css/conmeds.css" in html


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"stop": day(10).isoformat()}, "stop", "cannot be before the start"),
        ({"stop": ""}, "stop", "Give the stop date, or tick ongoing"),
        ({"ongoing": "on"}, "ongoing", "An ongoing medication has no stop date"),
        ({"dose_unit": ""}, "dose_unit", "unit of the dose"),
        ({"route": ""}, "route", "This field is required"),
        ({"drug": ""}, "drug", "This field is required"),
        ({"category": "vitamins"}, "category", "Select a valid choice"),
    ],
)
def test_bad_conmeds_show_the_error_on_the_form_and_save_nothing(client, alice, on_c1, overrides, field, message):
    client.force_login(alice)
    response = client.post(reverse("conmed_new", args=[on_c1.study_id]), conmed_post(**overrides))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert ConMed.objects.count() == 0


def test_a_conmed_stopped_before_the_event_cannot_be_linked_to_it(client, alice, on_c1, neutropenia):
    client.force_login(alice)
    response = client.post(
        reverse("conmed_new", args=[on_c1.study_id]), conmed_post(start=day(1).isoformat(), stop=day(5).isoformat(), adverse_events=[str(neutropenia.pk)])
    )
    assert response.status_code == 200
    assert "after the medication stopped" in " ".join(response.context["form"].errors["adverse_events"])


def test_a_correction_needs_a_reason_and_a_retraction_keeps_the_row(client, alice, on_c1, conmed):
    client.force_login(alice)
    url = reverse("conmed_edit", args=[on_c1.study_id, conmed.pk])
    response = client.post(url, conmed_post(op="edit", dose="480", reason=""))
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert client.post(url, conmed_post(op="edit", dose="480", reason="source says 480")).status_code == 302
    conmed.refresh_from_db()
    assert (conmed.dose, list(conmed.adverse_events.all())) == (Decimal("480.000"), [])  # the form's links replace the old ones
    assert client.post(url, {"op": "retract", "retract-reason": "wrong patient"}).status_code == 302
    conmed.refresh_from_db()
    assert conmed.in_error
    html = client.get(reverse("patient_safety", args=[on_c1.study_id])).content.decode()
    assert "<del><strong>filgrastim</strong></del>" in html


def test_the_ae_form_shows_and_links_the_events_conmeds(client, alice, on_c1, neutropenia, conmed):
    client.force_login(alice)
    html = client.get(reverse("ae_edit", args=[on_c1.study_id, neutropenia.pk])).content.decode()
    assert reverse("conmed_edit", args=[on_c1.study_id, conmed.pk]) in html
    assert f"{reverse('conmed_new', args=[on_c1.study_id])}?event={neutropenia.pk}" in html


@pytest.mark.parametrize("persona", ["ivan", "dana", "mona"])
def test_readers_see_the_conmeds_on_the_safety_tab_without_the_entry_links(client, personas, on_c1, conmed, persona):
    client.force_login(personas[persona])
    html = client.get(reverse("patient_safety", args=[on_c1.study_id])).content.decode()
    assert f'id="conmed-{conmed.pk}"' in html
    assert reverse("conmed_new", args=[on_c1.study_id]) not in html


def test_safety_tab_queries_do_not_grow_with_conmeds(client, alice, on_c1, conmed, neutropenia, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(alice)
    url = reverse("patient_safety", args=[on_c1.study_id])
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for n in range(2, 12):
        conmed_record(patient=on_c1, by=alice, drug=f"drug {n}", indication="x", route="oral", start=day(n), ongoing=True, adverse_events=[neutropenia])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


def test_the_conmeds_api_list_queries_do_not_grow(client, alice, on_c1, conmed, neutropenia, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(alice)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/api/v1/conmeds/").status_code == 200
    for n in range(2, 12):
        conmed_record(patient=on_c1, by=alice, drug=f"drug {n}", indication="x", route="oral", start=day(n), ongoing=True, adverse_events=[neutropenia])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get("/api/v1/conmeds/").json()["results"]) == 11
