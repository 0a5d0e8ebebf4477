"""DLT evaluation through a real Celery worker on Redis: saving an adverse event leads to a proposal."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from dosing.services import cycle_start
from pipeline.tasks import nightly
from toxicity.ctcae import meddra
from toxicity.models import DltEvaluation, DltProposal
from toxicity.services import ae_record, lab_record

from .conftest import wait_for

TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=390)
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}


def day(n):
    return C1 + timedelta(days=n - 1)


@pytest.mark.django_db(transaction=True)
def test_saving_an_adverse_event_leads_to_a_proposal_through_the_worker(celery_worker_process, treated, alice):
    cycle_start(patient=treated, by=alice, day1=C1, weight_kg=Decimal("80.0"))
    for n, anc in ((10, "0.4"), (14, "0.3"), (19, "0.9")):
        lab_record(patient=treated, by=alice, on=day(n), anc=anc)
    assert not DltProposal.objects.filter(patient=treated, rule="H2").exists()  # H2 needs the G-CSF of an event
    values = {"term": meddra("Neutrophil count decreased"), "grade": 4, "onset": day(10), "resolved": day(19), "outcome": "recovered"}
    ae_record(patient=treated, by=alice, attribution=RELATED, supportive=["gcsf"], **values)
    proposal = wait_for(lambda: DltProposal.objects.filter(patient=treated, rule="H2").first())
    assert proposal is not None, celery_worker_process["log"].read_text()[-3000:]
    assert (proposal.status, proposal.onset, proposal.evidence[0]["ref"]) == ("proposed", day(10), f"lab:{day(10).isoformat()}")
    evaluation = DltEvaluation.objects.get(patient=treated)
    assert evaluation.status == "evaluable"
    assert "pipeline.drain" in celery_worker_process["log"].read_text()


@pytest.mark.django_db(transaction=True)
def test_the_nightly_task_runs_on_the_worker_and_a_second_run_changes_nothing(celery_worker_process, treated, alice):
    cycle_start(patient=treated, by=alice, day1=C1, weight_kg=Decimal("80.0"))
    wait_for(lambda: DltEvaluation.objects.filter(patient=treated).exists())
    DltEvaluation.objects.all().delete()  # as if never evaluated: the nightly run must find the patient
    first = nightly.delay().get(timeout=30)
    assert (first["dlt patients"], first["dlt changed"]) == (1, 1)
    history = DltEvaluation.history.count()
    second = nightly.delay().get(timeout=30)
    assert second.get("dlt changed", 0) == 0  # the patient is final now: not even evaluated again
    assert DltEvaluation.history.count() == history
