"""The query pages: roles, counts on the trial home and the patient tabs, edit checks from the page, locks."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from datamanagement.models import DataQuery
from datamanagement.quality import query_raise
from dosing.models import Cycle
from tests.factories import PASSWORD
from toxicity.services import lab_record

pytestmark = pytest.mark.django_db
C1 = timezone.localdate() - timedelta(days=390)


@pytest.fixture
def lab_query(on_c1, alice, dana):
    lab = lab_record(patient=on_c1, by=alice, on=C1 + timedelta(days=8), anc="0.8")
    return query_raise(patient=on_c1, by=dana, record_type="lab", object_id=lab.pk, field="anc", text="ANC 0.8: confirm")


@pytest.mark.parametrize(("persona", "status"), [("alice", 200), ("dana", 200), ("ivan", 200), ("mona", 200), ("bob", 404), ("olga", 403)])
def test_patient_queries_per_persona(client, personas, on_c1, persona, status):
    client.force_login(personas[persona])
    assert client.get(reverse("patient_queries", args=[on_c1.study_id])).status_code == status


def test_open_queries_are_counted_on_the_trial_home_and_the_patient_tabs(client, alice, trial, lab_query):
    client.force_login(alice)
    home = client.get(reverse("trial_home", args=[trial.code])).content.decode()
    assert "Open data queries: " in home
    assert "site 01: 1" in home
    assert "Queries (1)" in client.get(reverse("patient_detail", args=[lab_query.patient.study_id])).content.decode()


def test_coordinator_answers_and_data_manager_closes(client, alice, dana, lab_query):
    url = reverse("patient_queries", args=[lab_query.patient.study_id])
    client.force_login(alice)
    assert client.post(url, {"op": "close", "query": lab_query.pk}).status_code == 403
    client.post(url, {"op": "answer", "query": lab_query.pk, "answer": "Confirmed with the lab"})
    client.force_login(dana)
    client.post(url, {"op": "close", "query": lab_query.pk, "note": "ok"})
    lab_query.refresh_from_db()
    assert (lab_query.status, lab_query.answer) == ("closed", "Confirmed with the lab")


def test_data_manager_runs_edit_checks_and_locks_a_cycle_from_the_pages(client, dana, trial, on_c1, alice):
    lab_record(patient=on_c1, by=alice, on=C1 + timedelta(days=9), anc="0.6")
    client.force_login(dana)
    client.post(reverse("trial_queries", args=[trial.code]))
    assert DataQuery.objects.get().edit_check == "ANC_NO_AE"
    assert "check ANC_NO_AE" in client.get(reverse("trial_queries", args=[trial.code])).content.decode()
    cycle = Cycle.objects.get(patient=on_c1, number=1)
    url = reverse("patient_queries", args=[on_c1.study_id])
    response = client.post(url, {"op": "lock", "cycle": cycle.pk, "password": PASSWORD}, follow=True)
    assert "close them before locking" in response.content.decode()
    DataQuery.objects.update(status="closed")
    page = client.post(url, {"op": "lock", "cycle": cycle.pk, "password": "wrong"}, follow=True).content.decode()
    assert "The password is not correct" in page
    assert "Signing means: <em>I confirm the data of cycle 1 are complete and verified, and I lock them</em>" in page
    cycle.refresh_from_db()
    assert cycle.locked_by is None
    client.post(url, {"op": "lock", "cycle": cycle.pk, "password": PASSWORD})
    cycle.refresh_from_db()
    assert cycle.locked_by == dana
    assert f"Signed by {escape(dana.get_full_name())} on " in client.get(url).content.decode()


@pytest.mark.parametrize(("op", "field"), [("lock", "cycle"), ("close", "query"), ("raise", "record")])
def test_a_non_numeric_id_on_the_queries_page_is_a_clear_400(client, dana, lab_query, op, field):
    from datamanagement.models import DataQuery

    url = reverse("patient_queries", args=[lab_query.patient.study_id])
    client.force_login(dana)
    before = DataQuery.objects.count()
    value = "lab:x" if field == "record" else "x"
    response = client.post(url, {"op": op, field: value, "text": "check", "field": "anc", "note": "n", "password": "p"})
    assert response.status_code == 400
    assert "must be a whole number" in response.content.decode()
    assert DataQuery.objects.count() == before
