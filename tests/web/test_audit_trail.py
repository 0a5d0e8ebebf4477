"""The audit trail browser: every record type's changes with old and new values, filters, CSV, roles."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from toxicity.ctcae import meddra
from toxicity.services import ae_record, ae_update, lab_record

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}


@pytest.fixture
def edited(on_c1, alice):
    day = TODAY - timedelta(days=380)
    ae = ae_record(patient=on_c1, by=alice, term=meddra("Nausea"), grade=2, onset=day, attribution=RELATED)
    ae_update(ae=ae, by=alice, reason="per source document", grade=3)
    lab_record(patient=on_c1, by=alice, on=day, anc="1.2")
    lab_record(patient=on_c1, by=alice, on=day, anc="1.4", reason_for_change="transcription error")
    return on_c1


@pytest.mark.parametrize(("persona", "status"), [("dana", 200), ("ivan", 200), ("mona", 200), ("alice", 403), ("olga", 403)])
def test_audit_trail_per_persona(client, personas, trial, persona, status):
    client.force_login(personas[persona])
    assert client.get(reverse("trial_audit", args=[trial.code])).status_code == status


def test_changes_show_old_and_new_values_with_the_reason(client, dana, trial, edited):
    client.force_login(dana)
    html = client.get(reverse("trial_audit", args=[trial.code]), {"patient": edited.study_id}).content.decode()
    assert "grade: <del>2</del> → <ins>3</ins>" in html
    assert "per source document" in html
    assert "<del>1.20</del> → <ins>1.40</ins>" in html
    assert "transcription error" in html


def test_filters_by_record_type_user_and_date(client, dana, alice, trial, edited):
    client.force_login(dana)
    url = reverse("trial_audit", args=[trial.code])
    only_labs = client.get(url, {"type": "lab"}).content.decode()
    assert 'data-type="lab"' in only_labs
    assert 'data-type="adverse_event"' not in only_labs
    assert "No change matches." in client.get(url, {"user": "dana"}).content.decode()
    future = (TODAY + timedelta(days=1)).isoformat()
    assert "No change matches." in client.get(url, {"since": future}).content.decode()
    assert 'data-type="cycle"' in client.get(url, {"user": alice.username}).content.decode()


def test_csv_export_has_one_line_per_changed_field(client, dana, trial, edited):
    client.force_login(dana)
    response = client.get(reverse("trial_audit", args=[trial.code]), {"type": "adverse_event", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    change = next(r for r in rows if r["action"] == "Changed")
    assert (change["field"], change["old"], change["new"], change["reason"], change["patient"]) == ("grade", "2", "3", "per source document", edited.study_id)
    assert {r["action"] for r in rows} == {"Created", "Changed"}


def test_the_browser_runs_a_bounded_number_of_queries(client, dana, trial, edited, alice, django_assert_max_num_queries):
    client.force_login(dana)
    url = reverse("trial_audit", args=[trial.code])
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for n in range(120):
        lab_record(patient=edited, by=alice, on=TODAY - timedelta(days=370 - n), platelets=Decimal(100 + n))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


def test_records_reached_through_their_cycle_name_the_patient_and_a_user_filter_keeps_earlier_versions(trial, edited, alice, dana, patient_b):
    """Planned doses reach their patient through the cycle (in SQL); filtering by user keeps every version of
    an object one of whose versions matches, so the change still shows old and new values."""
    from datamanagement.audit import trail
    from toxicity.models import LabResult

    entries = list(trail(trial, record_types=["planned_dose"]))
    assert entries
    assert {e.patient for e in entries} == {edited.study_id}
    lab = LabResult.objects.get(patient=edited)
    by_alice = [e for e in trail(trial, user=alice, record_types=["lab"]) if e.object_id == lab.pk]
    assert [e.action for e in by_alice] == ["Changed", "Created"]
    assert [(c.old, c.new) for c in by_alice[0].changes] == [("1.20", "1.40")]
    assert list(trail(trial, user=dana, record_types=["lab"])) == []
    assert list(trail(trial, patient=patient_b, record_types=["lab", "planned_dose"])) == []


def _html(client, user, trial, **params) -> str:
    client.force_login(user)
    return client.get(reverse("trial_audit", args=[trial.code]), params).content.decode()


def test_users_are_named_and_never_shown_by_id(client, dana, alice, trial, edited):
    html = _html(client, dana, trial, type="lab")
    assert f"<td>{alice.get_full_name()}</td>" in html
    assert f"<td>{alice.pk}</td>" not in html
    assert f'<option value="{alice.username}" >{alice.get_full_name()}</option>' in html


def test_records_are_named_by_their_clinical_identity_with_a_link(client, dana, trial, edited):
    day = (TODAY - timedelta(days=380)).isoformat()
    labs = _html(client, dana, trial, type="lab")
    safety = reverse("patient_safety", args=[edited.study_id])
    assert f'<a href="{safety}">ANC {day}, {edited.study_id}</a>' in labs
    doses = _html(client, dana, trial, type="planned_dose")
    treatment = reverse("patient_treatment", args=[edited.study_id])
    assert f'<a href="{treatment}">Cycle 1 bendamustine day 1, planned, {edited.study_id}</a>' in doses
    events = _html(client, dana, trial, type="adverse_event")
    assert f"Nausea grade 3, onset {day}, {edited.study_id}</a>" in events
    assert "#" + str(edited.pk) not in events


def test_a_created_record_shows_its_values_with_names_for_its_links(client, dana, alice, trial, edited):
    html = _html(client, dana, trial, type="lab")
    created = html.split('data-action="created"')[1].split("</tr>")[0]
    assert "ANC (x10^9/L): <ins>1.20</ins>" in created
    assert f"<ins>{alice.get_full_name()}</ins>" in created  # entered by: a name, not an id
    assert "patient:" not in created.lower()


def test_entries_are_grouped_by_day_and_patient(client, dana, trial, edited, patient_b):
    html = _html(client, dana, trial)
    day = TODAY.isoformat()
    assert f'data-day="{day}" data-patient="{edited.study_id}"' in html
    assert f'data-day="{day}" data-patient="{patient_b.study_id}"' in html
    assert f"{day}</time> · {edited.study_id}</h2>" in html


def test_filters_are_plain_selects_and_inputs(client, dana, trial, edited):
    html = _html(client, dana, trial)
    assert '<select name="type">' in html
    assert "multiple" not in html.split('<select name="type">')[1].split("</select>")[0]
    assert '<select name="user">' in html
    assert 'name="patient"' in html
    assert 'name="since" value="" placeholder="YYYY-MM-DD"' in html  # ISO entry, as every date input (issue #16)


def test_pages_go_older_by_keyset_without_gaps_or_repeats(trial, edited, alice):
    from datamanagement.audit import Cursor, trail_page

    everything = [(e.record_type, e.history_id) for e in trail_page(trial, limit=10_000).entries]
    seen, cursor = [], None
    while True:
        page = trail_page(trial, cursor=cursor, limit=7)
        assert len(page.entries) <= 7
        seen += [(e.record_type, e.history_id) for e in page.entries]
        cursor = Cursor.parse(page.older)
        if cursor is None:
            break
    assert seen == everything
    assert len(set(seen)) == len(seen) > 14


def test_the_older_link_leads_to_the_next_page(client, dana, alice, trial, edited):
    from datamanagement import audit

    for n in range(audit.PAGE_SIZE):
        lab_record(patient=edited, by=alice, on=TODAY - timedelta(days=300 - n), platelets=Decimal(100 + n))
    first = _html(client, dana, trial)
    assert 'id="audit-older"' in first
    href = first.split('id="audit-older"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    older = client.get(reverse("trial_audit", args=[trial.code]) + href).content.decode()
    assert "Back to the newest" in older
    assert older.count('<tr data-type="') >= 1


@pytest.mark.parametrize("params", [{}, {"type": "lab"}, {"user": "alice"}])
def test_a_page_runs_the_same_bounded_queries_at_two_trial_sizes(client, dana, trial, site_a, site_b, params, django_assert_max_num_queries):
    from portal.demo.seed import seed_synthetic

    client.force_login(dana)
    url = reverse("trial_audit", args=[trial.code])
    seed_synthetic(trial=trial, patients=5, seed=1, cycles=1)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(url, params).status_code == 200
    seed_synthetic(trial=trial, patients=120, seed=2, cycles=1)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url, params)
    assert response.status_code == 200
    assert response.content.decode().count('<tr data-type="') <= 100
