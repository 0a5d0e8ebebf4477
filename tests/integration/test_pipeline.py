"""The outbox and the pipeline that drains it (trialsite/outbox.py, pipeline/flow.py)."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from cohorts.models import Trial
from cohorts.protocol import read_protocol
from cohorts.services import protocol_load
from pipeline import flow
from pipeline.flow import Stage
from response.models import EndpointSnapshot, ResponseResult
from response.services import assessment_record
from toxicity.ctcae import meddra
from toxicity.models import DltEvaluation, DltProposal
from toxicity.services import ae_record
from trialsite import outbox
from trialsite.models import Change

from ..conftest import PROTOCOLS

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=390)
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}
NAUSEA = {"term": meddra("Nausea"), "grade": 3, "onset": C1 + timedelta(days=3), "attribution": RELATED, "supportive": ["max_antiemetic"]}


def pending(patient) -> list[str]:
    return list(Change.objects.filter(patient_id=patient.pk, done_at__isnull=True).values_list("kind", flat=True))


def test_a_write_records_its_change_in_the_same_transaction(on_c1, alice):
    Change.objects.all().delete()
    ae_record(patient=on_c1, by=alice, **NAUSEA)
    change = Change.objects.get()
    assert (change.trial_id, change.patient_id, change.kind, change.done_at) == (on_c1.trial_id, on_c1.pk, "toxicity", None)


def test_a_refused_write_records_no_change(on_c1, alice):
    Change.objects.all().delete()
    with pytest.raises(Exception, match="grade"):
        ae_record(patient=on_c1, by=alice, **(NAUSEA | {"grade": 4}))  # nausea has no grade 4
    assert not Change.objects.exists()


def test_the_pipeline_is_kicked_once_per_commit(on_c1, alice, monkeypatch, django_capture_on_commit_callbacks):
    from trialsite.celery import app

    sent = []
    monkeypatch.setattr(app.tasks["pipeline.drain"], "delay", lambda: sent.append(1))
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        ae_record(patient=on_c1, by=alice, **NAUSEA)
        assessment_record(patient=on_c1, by=alice, on=C1 - timedelta(days=2), values={"spep": "3.0"})
    assert len(callbacks) == 2  # one per write
    assert sent == [1]  # one kick for the commit


def test_the_drain_runs_the_stages_in_the_order_the_data_flows_and_marks_the_changes_done(on_c1, alice):
    ae_record(patient=on_c1, by=alice, **NAUSEA)
    for day, spep in ((-2, "3.0"), (28, "1.5"), (56, "1.4")):
        assessment_record(patient=on_c1, by=alice, on=C1 + timedelta(days=day), values={"spep": spep, "upep": "0"})
    assert set(pending(on_c1)) >= {"toxicity", "assessment"}
    assert not DltProposal.objects.exists()  # nothing derived until the drain (no commit in this test)

    counts = flow.drain()

    assert pending(on_c1) == []
    assert counts["changes"] == Change.objects.filter(patient_id=on_c1.pk).count()
    assert DltProposal.objects.filter(patient=on_c1, rule="N2").exists()  # grade 3 nausea despite maximal antiemetics
    assert DltEvaluation.objects.filter(patient=on_c1).exists()
    assert ResponseResult.objects.get(patient=on_c1).best == "PR"
    assert EndpointSnapshot.objects.filter(trial=on_c1.trial, data__overall__orr__n=1).exists()
    assert outbox.pending(trial_id=on_c1.trial_id) is None


def test_a_second_drain_has_nothing_to_do(on_c1, alice):
    ae_record(patient=on_c1, by=alice, **NAUSEA)
    flow.drain()
    history = DltProposal.history.count() + DltEvaluation.history.count()
    assert flow.drain() == {}
    assert DltProposal.history.count() + DltEvaluation.history.count() == history


def test_a_failing_stage_keeps_the_changes_pending_with_the_error_and_other_trials_go_on(on_c1, alice, monkeypatch):
    ae_record(patient=on_c1, by=alice, **NAUSEA)
    other = protocol_load(spec=read_protocol(PROTOCOLS / "example-3plus3.toml")).trial
    Change.objects.create(trial_id=other.pk, patient_id=0, kind=Change.Kind.ENROLMENT)
    ran = []
    real_run = flow.run

    def run(trial, stages, *, today=None):
        if trial.pk == on_c1.trial_id:
            raise RuntimeError("the rules broke")
        ran.append(trial.pk)
        return {}

    monkeypatch.setattr(flow, "run", run)
    counts = flow.drain()
    assert counts["failed trials"] == 1
    assert ran == [other.pk]
    assert not Change.objects.filter(trial_id=other.pk, done_at__isnull=True).exists()
    state = outbox.pending(trial_id=on_c1.trial_id, patient_id=on_c1.pk)
    assert state is not None
    assert sorted(pending(on_c1)) == ["dosing", "enrolment", "toxicity"]  # the fixture's enrolment and cycle 1, and the event
    assert (state.changes, state.error) == (3, "RuntimeError: the rules broke")
    assert set(Change.objects.filter(patient_id=on_c1.pk).values_list("attempts", flat=True)) == {1}
    assert not DltProposal.objects.exists()  # the failed run wrote nothing

    monkeypatch.setattr(flow, "run", real_run)
    flow.drain()  # the next drain completes it
    assert outbox.pending(trial_id=on_c1.trial_id) is None
    assert DltProposal.objects.filter(patient=on_c1, rule="N2").exists()


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (["toxicity"], [Stage.DLT, Stage.ESCALATION]),
        (["assessment"], [Stage.RESPONSE, Stage.ENDPOINTS]),
        (["dosing"], [Stage.DLT, Stage.ESCALATION, Stage.RESPONSE, Stage.ENDPOINTS]),
        (["adjudication"], [Stage.ESCALATION]),
        (["enrolment"], [Stage.ESCALATION, Stage.ENDPOINTS]),
        (["follow_up", "registration"], [Stage.DLT, Stage.ESCALATION, Stage.RESPONSE, Stage.ENDPOINTS]),
    ],
)
def test_each_kind_of_change_feeds_its_stages_and_the_ones_after_them(kinds, expected):
    changes = [Change(trial_id=1, patient_id=7, kind=k) for k in kinds]
    assert list(flow.stages_for(changes)) == expected


def test_every_kind_of_change_has_its_stages():
    assert set(flow.STAGES) == set(Change.Kind.values)


def test_the_pending_banner_shows_on_the_patient_page_until_the_drain(client, on_c1, alice):
    ae_record(patient=on_c1, by=alice, **NAUSEA)
    client.force_login(alice)
    html = client.get(f"/patients/{on_c1.study_id}/safety/").content.decode()
    assert "Derived results for" in html
    assert "are pending: " in html
    flow.drain()
    assert "Derived results for" not in client.get(f"/patients/{on_c1.study_id}/safety/").content.decode()


def test_the_nightly_run_evaluates_waiting_patients_and_the_endpoints(trial, site_a, alice):
    from tests.factories import treat_patient

    patient = treat_patient(trial, site_a, alice, day1=TODAY - timedelta(days=10), cycle2_after=None)
    flow.drain()
    evaluation = DltEvaluation.objects.get(patient=patient)
    assert evaluation.status == "pending"
    counts = flow.nightly(today=TODAY + timedelta(days=40))  # the window and the cycle 2 deadline have passed
    assert counts["dlt changed"] == 1
    assert DltEvaluation.objects.get(patient=patient).status == "evaluable"
    assert counts["endpoints"] == Trial.objects.count()


def test_the_nightly_run_recomputes_the_courses_stored_by_other_imwg_rules(on_c1, alice):
    """After a deploy that corrects the IMWG rules, the nightly run brings the stored courses up to date."""
    for day, spep in ((-2, "3.0"), (28, "1.5"), (56, "1.4")):
        assessment_record(patient=on_c1, by=alice, on=C1 + timedelta(days=day), values={"spep": spep, "upep": "0"})
    flow.drain()
    assert "response patients" not in flow.nightly()  # nothing stale: the night computes no course
    ResponseResult.objects.filter(patient=on_c1).update(rule_version="imwg-2016/bpd-1", best="VGPR", digest="")  # as stored before the correction
    counts = flow.nightly()
    result = ResponseResult.objects.get(patient=on_c1)
    assert (counts["response patients"], result.rule_version, result.best) == (1, "imwg-2016/bpd-2", "PR")
    assert "response patients" not in flow.nightly()  # up to date again
