"""The patient casebook (issue #16 point 9): one read-only, printable page per patient with registration, treatment,
safety, response and the record's history; coordinators see only their own site's patients."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from toxicity.ctcae import meddra
from toxicity.models import AdverseEvent
from toxicity.services import ae_record, lab_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def casebook_url(on_c1):
    return reverse("patient_casebook", args=[on_c1.study_id])


@pytest.mark.parametrize(("persona", "status"), [("alice", 200), ("bob", 404), ("ivan", 200), ("dana", 200), ("mona", 200), ("olga", 403)])
def test_casebook_is_shown_to_whom_the_patient_is_shown(client, personas, casebook_url, persona, status):
    client.force_login(personas[persona])
    assert client.get(casebook_url).status_code == status


def test_casebook_requires_login(client, casebook_url):
    response = client.get(casebook_url)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_casebook_holds_every_section_of_the_patients_record(client, alice, on_c1, casebook_url):
    c1 = timezone.localdate() - timedelta(days=390)
    lab_record(patient=on_c1, by=alice, on=c1 + timedelta(days=8), anc=Decimal("0.42"))
    ae_record(
        patient=on_c1,
        by=alice,
        term=meddra("Neutrophil count decreased"),
        grade=4,
        onset=c1 + timedelta(days=8),
        outcome=AdverseEvent.Outcome.NOT_RECOVERED,
        attribution={"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"},
        action=AdverseEvent.Action.NONE,
    )
    client.force_login(alice)
    html = client.get(casebook_url).content.decode()
    for section in ("cb-registration", "cb-treatment", "cb-safety", "cb-response", "cb-history"):
        assert f'id="{section}"' in html
    assert on_c1.initials in html
    assert 'data-cycle="1"' in html
    assert "Neutrophil count decreased" in html
    assert "0.42" in html
    assert "No assessment recorded." in html
    # read-only: no form but the header's (search, log out)
    main = html.split('<main id="main">', 1)[1]
    assert "<form" not in main
    assert "<input" not in main


def test_patient_overview_links_the_casebook(client, alice, on_c1, casebook_url):
    client.force_login(alice)
    html = client.get(reverse("patient_detail", args=[on_c1.study_id])).content.decode()
    assert f'href="{casebook_url}"' in html
