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


# ---------------------------------------------------------------- electronic signatures (issue #17)


@pytest.fixture
def signed(on_c1, alice, ivan, dana):
    """A proposed DLT confirmed, a missed one recorded then withdrawn by the investigator, and cycle 1 locked by the
    data manager: four signatures."""
    from datamanagement.quality import cycle_lock
    from dosing.models import Cycle
    from tests.factories import PASSWORD
    from tests.integration.test_toxicity_services import anc_series, neutropenia
    from toxicity.models import DltProposal
    from toxicity.services import dlt_confirm, dlt_evaluate_many, dlt_record_missed, dlt_withdraw

    ivan.first_name, ivan.last_name = "Ivan", "Petrov"
    ivan.save()
    neutropenia(on_c1, alice)
    anc_series(on_c1, alice, [(10, "0.4"), (19, "0.9")])
    dlt_evaluate_many([on_c1.pk])
    row = dlt_confirm(proposal=DltProposal.objects.get(patient=on_c1), by=ivan, password=PASSWORD, reason="typical H2")
    missed = dlt_record_missed(
        patient=on_c1,
        by=ivan,
        password=PASSWORD,
        rule="N1",
        onset=TODAY - timedelta(days=370),
        description="grade 3 hepatitis",
        reason="free text",
        confirm_unsupported=True,
    )
    dlt_withdraw(dlt_row=missed, by=ivan, password=PASSWORD, reason="duplicate entry")
    cycle_lock(cycle=Cycle.objects.get(patient=on_c1, number=1), by=dana, password=PASSWORD, reason="source-verified")
    return row


def _signature_rows(html: str) -> list[str]:
    return [r.split("</tr>")[0] for r in html.split('<tr data-type="signature" data-action="signed">')[1:]]


def test_every_signature_is_an_entry_with_signer_time_meaning_and_the_record_signed(client, dana, trial, on_c1, signed):
    from trialsite.models import Signature

    html = _html(client, dana, trial, type="signature")
    rows = _signature_rows(html)
    assert len(rows) == Signature.objects.count() == 4
    safety = reverse("patient_safety", args=[on_c1.study_id])
    treatment = reverse("patient_treatment", args=[on_c1.study_id])
    onset = signed.onset.isoformat()
    confirm, withdraw = (next(r for r in rows if text in r) for text in ("I confirm this toxicity", "I withdraw"))
    assert "<td>Ivan Petrov</td>" in confirm
    assert f'<a href="{safety}">DLT H2 from {onset}, {on_c1.study_id}</a>' in confirm
    assert "meaning: <ins>I confirm this toxicity is a dose-limiting toxicity (criterion H2)</ins>" in confirm
    assert "<td>Signed</td>" in withdraw
    assert f"DLT N1 from {(TODAY - timedelta(days=370)).isoformat()}, {on_c1.study_id}</a>" in withdraw
    lock = next(r for r in rows if "lock them" in r)
    assert f"<td>{dana.get_full_name()}</td>" in lock
    assert f'<a href="{treatment}">Cycle 1, {on_c1.study_id}</a>' in lock
    at = timezone.localtime(Signature.objects.get(meaning__contains="lock them").signed_at)
    assert f"<td>{at:%H:%M:%S}</td>" in lock
    assert f'data-patient="{on_c1.study_id}"' in html
    assert '<option value="signature" ' in html  # a record type of the filter


def test_signatures_are_filtered_by_patient_user_and_date(client, dana, ivan, trial, on_c1, patient_b, signed):
    both = _signature_rows(_html(client, dana, trial))
    assert len(both) == 4  # among the other changes, without a type filter
    assert len(_signature_rows(_html(client, dana, trial, patient=on_c1.study_id))) == 4
    assert _signature_rows(_html(client, dana, trial, patient=patient_b.study_id)) == []
    client.force_login(dana)
    by_ivan = _signature_rows(client.get(reverse("trial_audit", args=[trial.code]), {"user": ivan.username}).content.decode())
    assert len(by_ivan) == 3
    assert all("Ivan Petrov" in r for r in by_ivan)
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    assert _signature_rows(_html(client, dana, trial, since=tomorrow)) == []
    assert len(_signature_rows(_html(client, dana, trial, since=TODAY.isoformat(), until=TODAY.isoformat()))) == 4


def test_a_coordinator_scoped_trail_never_shows_another_sites_signatures(trial, on_c1, patient_b, signed):
    from cohorts.models import Patient
    from datamanagement.audit import trail

    other_site = Patient.objects.filter(pk=patient_b.pk).values("pk")
    assert list(trail(trial, record_types=["signature"], visible_patients=other_site)) == []
    assert len(list(trail(trial, record_types=["signature"]))) == 4


def test_an_escalation_decisions_signature_is_a_trial_entry_linked_to_the_escalation_page(client, dana, ivan, trial, site_a, alice):
    from escalation.services import decision_sign, escalation_reevaluate
    from tests.factories import PASSWORD, treat_patient
    from toxicity.services import dlt_evaluate_many

    patients = [treat_patient(trial, site_a, alice, day1=TODAY - timedelta(days=90), cycle2_after=28) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in patients])
    decision = decision_sign(decision=escalation_reevaluate(trial=trial)[0], by=ivan, password=PASSWORD)
    [row] = _signature_rows(_html(client, dana, trial, type="signature"))
    assert f'<a href="{reverse("trial_escalation", args=[trial.code])}">Escalation decision {decision.action}' in row
    assert f"meaning: <ins>{decision.signature_meaning}</ins>" in row
    # trial-level: not a patient's
    assert _signature_rows(_html(client, dana, trial, type="signature", patient=patients[0].study_id)) == []


def test_the_csv_export_has_a_line_per_signature_with_its_meaning(client, dana, ivan, trial, on_c1, signed):
    client.force_login(dana)
    response = client.get(reverse("trial_audit", args=[trial.code]), {"format": "csv"})
    rows = [r for r in csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())) if r["record_type"] == "signature"]
    assert len(rows) == 4
    withdraw = next(r for r in rows if r["new"].startswith("I withdraw"))
    assert (withdraw["user"], withdraw["action"], withdraw["field"], withdraw["patient"]) == (ivan.username, "Signed", "meaning", on_c1.study_id)
    assert withdraw["record"] == f"DLT N1 from {(TODAY - timedelta(days=370)).isoformat()}, {on_c1.study_id}"


def test_signatures_page_by_keyset_with_the_other_entries(trial, signed):
    from datamanagement.audit import Cursor, trail_page

    everything = [(e.record_type, e.history_id) for e in trail_page(trial, limit=10_000).entries]
    seen, cursor = [], None
    while True:
        page = trail_page(trial, cursor=cursor, limit=2)
        seen += [(e.record_type, e.history_id) for e in page.entries]
        cursor = Cursor.parse(page.older)
        if cursor is None:
            break
    assert seen == everything
    assert sum(1 for k, _ in seen if k == "signature") == 4


def test_signatures_keep_the_page_query_count_flat(client, dana, ivan, trial, on_c1, signed, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from datamanagement.quality import cycle_lock, cycle_unlock
    from dosing.models import Cycle
    from tests.factories import PASSWORD

    client.force_login(dana)
    url = reverse("trial_audit", args=[trial.code])
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    cycle = Cycle.objects.get(patient=on_c1, number=1)
    for n in range(5):
        cycle_unlock(cycle=cycle, by=dana, password=PASSWORD, reason=f"late lab {n}")
        cycle_lock(cycle=cycle, by=dana, password=PASSWORD, reason="verified")
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(url).content.decode()
    assert len(_signature_rows(html)) == 14
