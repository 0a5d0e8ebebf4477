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
    assert (result.best_on, result.rule_version) == (C1 + timedelta(days=28), "imwg-2016/bpd-1")
    snapshot = wait_for(lambda: EndpointSnapshot.objects.filter(trial=trial, data__overall__orr__n=1).first())
    assert snapshot is not None, log.read_text()[-3000:]
    assert "response.recompute_patient" in log.read_text()
    assert "response.recompute_endpoints" in log.read_text()
