"""Data queries, edit checks raising them, and cycle locks on the database."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from cohorts.models import Drug
from datamanagement.models import DataQuery
from datamanagement.quality import cycle_lock, cycle_unlock, edit_checks_run, open_counts, query_answer, query_close, query_raise, query_reopen
from dosing.models import Cycle
from dosing.services import cycle_start, diary_record
from response.services import assessment_mark_spurious, assessment_record
from tests.factories import PASSWORD
from toxicity.ctcae import meddra
from toxicity.services import ae_record, ae_retract, lab_record

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=390)
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}


def test_a_query_is_raised_answered_closed_and_reopened(on_c1, dana, alice, bob):
    ae = ae_record(patient=on_c1, by=alice, term=meddra("Nausea"), grade=2, onset=C1 + timedelta(days=3), attribution=RELATED)
    q = query_raise(patient=on_c1, by=dana, record_type="adverse_event", object_id=ae.pk, field="grade", text="Source says grade 3?")
    with pytest.raises(PermissionDenied):
        query_raise(patient=on_c1, by=alice, record_type="adverse_event", object_id=ae.pk, field="grade", text="x" * 5)
    with pytest.raises(PermissionDenied):
        query_answer(query=q, by=bob, answer="not my site")
    q = query_answer(query=q, by=alice, answer="Corrected to grade 3 per source")
    assert (q.status, q.answered_by) == ("answered", alice)
    q = query_close(query=q, by=dana)
    assert q.status == "closed"
    with pytest.raises(ValidationError):
        query_reopen(query=q, by=dana, note="")
    assert query_reopen(query=q, by=dana, note="grade still 2 in the eCRF").status == "open"
    assert [h.history_change_reason for h in q.history.order_by("history_date")][:2] == ["Query raised", "Answered: Corrected to grade 3 per source"]


def test_a_query_on_another_patients_record_is_refused(on_c1, dana, patient_b, alice):
    ae = ae_record(patient=on_c1, by=alice, term=meddra("Nausea"), grade=2, onset=C1 + timedelta(days=3), attribution=RELATED)
    with pytest.raises(ValidationError) as info:
        query_raise(patient=patient_b, by=dana, record_type="adverse_event", object_id=ae.pk, field="grade", text="check")
    assert "object_id" in info.value.message_dict


def test_each_edit_check_raises_its_query_once(on_c1, alice, trial):
    cycle_start(patient=on_c1, by=alice, day1=C1 + timedelta(days=28), weight_kg=Decimal("95.0"))  # +18.75% from 80 kg
    lab_record(patient=on_c1, by=alice, on=C1 + timedelta(days=9), anc="0.6")  # grade 3 without a neutropenia event
    created = edit_checks_run(trial=trial)
    checks = sorted(DataQuery.objects.values_list("edit_check", flat=True))
    assert created == 2
    assert checks == ["ANC_NO_AE", "DAY1_WEIGHT"]
    reasons = sorted(q.history.get().history_change_reason for q in DataQuery.objects.all())  # created in bulk, each audited
    assert reasons == ["Raised by the edit check ANC_NO_AE", "Raised by the edit check DAY1_WEIGHT"]
    assert edit_checks_run(trial=trial) == 0  # no duplicates while open
    assert open_counts(trial)["by_site"] == {"01": 2}


def test_a_locked_cycle_refuses_changes_until_unlocked(on_c1, alice, dana):
    cycle = Cycle.objects.get(patient=on_c1, number=1)
    nausea = ae_record(patient=on_c1, by=alice, term=meddra("Nausea"), grade=1, onset=C1 + timedelta(days=5), attribution=RELATED)
    assessment = assessment_record(patient=on_c1, by=alice, on=C1 + timedelta(days=6), values={"spep": "1.0"})
    with pytest.raises(PermissionDenied):
        cycle_lock(cycle=cycle, by=alice, password=PASSWORD)
    cycle_lock(cycle=cycle, by=dana, password=PASSWORD, reason="clean")
    with pytest.raises(ValidationError, match="Cycle 1 is locked"):
        ae_retract(ae=nausea, by=alice, reason="wrong patient")
    pomalidomide = Drug.objects.get(trial=on_c1.trial, code="pomalidomide")
    with pytest.raises(ValidationError, match="Cycle 1 is locked: a dose"):
        diary_record(cycle=cycle, by=alice, drug=pomalidomide, entries={1: {"status": "given"}, 2: {"status": "given"}})
    with pytest.raises(ValidationError, match="Cycle 1 is locked"):
        assessment_mark_spurious(assessment=assessment, by=alice, parameter="spep", reason="haemolysed")
    with pytest.raises(ValidationError) as info:
        lab_record(patient=on_c1, by=alice, on=C1 + timedelta(days=8), anc="1.5")
    assert "Cycle 1 is locked" in info.value.messages[0]
    with pytest.raises(ValidationError):
        ae_record(patient=on_c1, by=alice, term=meddra("Nausea"), grade=1, onset=C1 + timedelta(days=8), attribution=RELATED)
    with pytest.raises(ValidationError):
        assessment_record(patient=on_c1, by=alice, on=C1 + timedelta(days=8), values={"spep": "1.0"})
    lab_record(patient=on_c1, by=alice, on=C1 + timedelta(days=40), anc="1.5")  # after the cycle: allowed
    with pytest.raises(ValidationError):
        cycle_unlock(cycle=cycle, by=dana, password=PASSWORD, reason="")
    cycle_unlock(cycle=cycle, by=dana, password=PASSWORD, reason="late lab from the site")
    lab_record(patient=on_c1, by=alice, on=C1 + timedelta(days=8), anc="1.5")
    reasons = [h.history_change_reason for h in cycle.history.order_by("history_date")]
    assert reasons[-2:] == ["Locked: clean", "Unlocked: late lab from the site"]


def test_a_cycle_with_open_queries_cannot_be_locked(on_c1, dana, alice):
    cycle = Cycle.objects.get(patient=on_c1, number=1)
    query_raise(patient=on_c1, by=dana, record_type="cycle", object_id=cycle.pk, field="weight_kg", text="confirm weight")
    with pytest.raises(ValidationError) as info:
        cycle_lock(cycle=cycle, by=dana, password=PASSWORD)
    assert "1 open query" in info.value.messages[0]


def test_the_nightly_edit_checks_task_raises_queries_once(on_c1, alice, trial):
    from datamanagement.tasks import edit_checks_nightly

    lab_record(patient=on_c1, by=alice, on=C1 + timedelta(days=9), anc="0.6")
    assert edit_checks_nightly.delay().get() == {trial.code: 1}
    assert edit_checks_nightly.delay().get() == {trial.code: 0}


def test_a_query_moves_only_as_its_table_allows_with_the_pages_messages(on_c1, dana, alice):
    ae = ae_record(patient=on_c1, by=alice, term=meddra("Nausea"), grade=2, onset=C1 + timedelta(days=3), attribution=RELATED)
    q = query_raise(patient=on_c1, by=dana, record_type="adverse_event", object_id=ae.pk, field="grade", text="Source says grade 3?")
    with pytest.raises(ValidationError) as info:
        query_reopen(query=q, by=dana, note="still open")
    assert info.value.messages == ["Only a closed query can be re-opened."]
    query_answer(query=q, by=alice, answer="Checked: grade 2")
    q = query_answer(query=q, by=alice, answer="Corrected to grade 3")  # a second answer replaces the first
    assert (q.status, q.answer) == ("answered", "Corrected to grade 3")
    q = query_close(query=q, by=dana, note="resolved")
    for refused, message in (
        (lambda: query_close(query=q, by=dana), "This query is already closed."),
        (lambda: query_answer(query=q, by=alice, answer="late answer"), "This query is closed."),
    ):
        with pytest.raises(ValidationError) as info:
            refused()
        assert info.value.messages == [message]
    q.refresh_from_db()
    assert (q.status, q.answer, q.note) == ("closed", "Corrected to grade 3", "resolved")
    reasons = [h.history_change_reason for h in q.history.order_by("history_date", "history_id")]
    assert reasons == ["Query raised", "Answered: Checked: grade 2", "Answered: Corrected to grade 3", "Closed: resolved"]
