"""Responses and endpoints through a real Celery worker on Redis: saving assessments leads to a stored,
confirmed PR and an endpoint snapshot, computed by the worker."""

from datetime import timedelta

import pytest
from django.utils import timezone

from response.models import EndpointSnapshot, ResponseResult
from response.services import assessment_record

from .conftest import wait_for

TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=390)


@pytest.mark.django_db(transaction=True)
def test_assessments_saved_lead_to_a_confirmed_pr_and_endpoints_computed_by_the_worker(celery_worker_process, on_c1, alice, trial):
    for day, spep in ((-2, "3.0"), (28, "1.5"), (56, "1.4")):
        assessment_record(patient=on_c1, by=alice, on=C1 + timedelta(days=day), values={"spep": spep, "upep": "0"})
    log = celery_worker_process["log"]
    result = wait_for(lambda: ResponseResult.objects.filter(patient=on_c1, best="PR").first())
    assert result is not None, log.read_text()[-3000:]
    assert (result.best_on, result.rule_version) == (C1 + timedelta(days=28), "imwg-2016/bpd-2")
    snapshot = wait_for(lambda: EndpointSnapshot.objects.filter(trial=trial, data__overall__orr__n=1).first())
    assert snapshot is not None, log.read_text()[-3000:]
    assert "pipeline.drain" in log.read_text()


@pytest.fixture
def chunks_of_one(monkeypatch):
    """The worker subprocess reads its environment when it starts: chunks of one patient."""
    monkeypatch.setenv("TRIALSITE_RECOMPUTE_CHUNK", "1")


@pytest.mark.django_db(transaction=True)
def test_a_whole_trial_recompute_is_a_chord_over_the_worker(chunks_of_one, celery_worker_process, on_c1, site_a, alice, dana, trial):
    """Two patients, chunks of one: two response.recompute_chunk tasks, then the endpoints in the callback."""
    from decimal import Decimal

    from django.db import transaction

    from cohorts.models import Patient
    from cohorts.services import patient_enroll
    from dosing.services import cycle_start
    from response.models import RecomputeJob
    from response.services import trial_recompute_start
    from tests.factories import register_patient
    from trialsite.models import Change

    second = register_patient(trial, site_a, alice, consent_date=TODAY - timedelta(days=399), height_cm=Decimal("170.0"), weight_kg=Decimal("70.0"))
    patient_enroll(patient=second, by=alice, enrolled_on=TODAY - timedelta(days=394))
    cycle_start(patient=second, by=alice, day1=TODAY - timedelta(days=389), weight_kg=Decimal("70.0"))

    for patient in (on_c1, second):  # a patient without an assessment has no course to recompute
        for day, spep in ((-2, "3.0"), (28, "1.5"), (56, "1.4")):
            assessment_record(patient=patient, by=alice, on=C1 + timedelta(days=day), values={"spep": spep, "upep": "0"})
    log = celery_worker_process["log"]
    # The outbox drained for both patients: no drain still in flight could store results after the delete below.
    drained = wait_for(lambda: ResponseResult.objects.count() == 2 and not Change.objects.filter(done_at__isnull=True).exists())
    assert drained, log.read_text()[-3000:]
    ResponseResult.objects.all().delete()  # computed results only: the recompute must store them again
    with_cycle1 = Patient.objects.filter(trial=trial, cycles__number=1).count()
    with transaction.atomic():
        job = trial_recompute_start(trial=trial, by=dana)
    done = wait_for(lambda: RecomputeJob.objects.filter(pk=job.pk, status="done").first(), timeout=60)
    assert done is not None, log.read_text()[-3000:]
    assert (done.total, done.done) == (with_cycle1, with_cycle1) == (2, 2)
    assert ResponseResult.objects.filter(patient=on_c1, best="PR").exists()
    text = log.read_text()
    assert text.count("response.recompute_chunk[") >= 2 * with_cycle1  # received and succeeded, one per chunk
    assert "response.finish_trial_recompute" in text


@pytest.mark.django_db(transaction=True)
def test_a_recompute_whose_worker_is_killed_is_failed_by_the_reaper_and_started_again(on_c1, site_a, alice, dana, trial, tmp_path, client):
    """A real worker SIGKILLed between two chunks: the job would stay "running" for ever; the reaper fails it
    within minutes and the dashboard's button starts it again."""
    import os
    import signal
    from decimal import Decimal

    from django.db import transaction

    from cohorts.services import patient_enroll
    from dosing.services import cycle_start
    from response.models import RecomputeJob
    from response.services import WORKER_STOPPED, stale_patients, trial_recompute_reap, trial_recompute_start
    from tests.factories import register_patient

    from .conftest import running_worker

    second = register_patient(trial, site_a, alice, consent_date=TODAY - timedelta(days=399), height_cm=Decimal("170.0"), weight_kg=Decimal("70.0"))
    patient_enroll(patient=second, by=alice, enrolled_on=TODAY - timedelta(days=394))
    cycle_start(patient=second, by=alice, day1=TODAY - timedelta(days=389), weight_kg=Decimal("70.0"))
    for patient in (on_c1, second):
        for day, spep in ((-2, "3.0"), (28, "1.5"), (56, "1.4")):
            assessment_record(patient=patient, by=alice, on=C1 + timedelta(days=day), values={"spep": spep, "upep": "0"})
    ResponseResult.objects.update(rule_version="imwg-2016/bpd-0", digest="")  # as after a rule change: both courses are stale
    assert len(stale_patients(trial=trial)) == 2

    slow = {"TRIALSITE_RECOMPUTE_CHUNK": "1", "TRIALSITE_RECOMPUTE_CHUNK_PAUSE": "5"}  # chunks of one, 5 s after each
    with running_worker(tmp_path, env=slow) as worker:
        with transaction.atomic():
            job = trial_recompute_start(trial=trial, by=dana)
        started = wait_for(lambda: RecomputeJob.objects.filter(pk=job.pk, status="running", done=1).exists(), timeout=60)
        assert started, worker["log"].read_text()[-3000:]
        os.kill(worker["process"].pid, signal.SIGKILL)
        worker["process"].wait(timeout=10)
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == ("running", 1, 2)  # nobody is left to finish it

    assert trial_recompute_reap() == []  # its heartbeat is fresh: not yet
    assert trial_recompute_reap(now=timezone.now() + timedelta(minutes=6)) == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.message) == ("failed", WORKER_STOPPED)

    client.force_login(dana)
    page = client.get(f"/trials/{trial.code}/response/").content.decode()
    assert WORKER_STOPPED in page
    assert "Start the recompute again" in page
    assert client.post(f"/trials/{trial.code}/response/").status_code == 302  # inline now: no worker in this process
    again = RecomputeJob.objects.exclude(pk=job.pk).get()
    assert (again.status, again.total, again.done) == ("done", 1, 1)  # the course the killed job did not reach
    assert stale_patients(trial=trial) == []
