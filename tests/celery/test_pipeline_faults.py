"""The pipeline when parts fail (issue #14 point 4): with the broker unreachable a save returns at once and
its data is kept, the pages say that derived results are pending, and a worker that comes back drains the
outbox (a real worker process, started after the writes)."""

import contextlib
import time

import pytest
from django.urls import reverse

from tests.web.test_safety_pages import ae_post
from toxicity.ctcae import meddra
from toxicity.models import AdverseEvent, DltProposal
from trialsite import outbox
from trialsite.celery import app
from trialsite.models import Change

from .conftest import _fresh_connections, running_worker, wait_for

UNREACHABLE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def broker_down():
    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager")}
    app.conf.update(broker_url=UNREACHABLE, result_backend=UNREACHABLE, task_always_eager=False)
    _fresh_connections(app)
    with contextlib.suppress(Exception):  # a web process that is up has loaded its broker client: warm it as one would be
        app.tasks["pipeline.drain"].delay()
    outbox._kick.failed_at = 0.0  # the measured save tries the broker itself (no back-off from the warm-up)
    yield
    app.conf.update(saved)
    _fresh_connections(app)
    outbox._kick.failed_at = 0.0


@pytest.mark.django_db(transaction=True)
def test_a_save_with_the_broker_down_returns_at_once_and_a_worker_that_comes_back_drains_it(on_c1, alice, client, tmp_path, broker_down):
    client.force_login(alice)
    assert client.get(reverse("ae_new", args=[on_c1.study_id])).status_code == 200  # the coordinator opens the form
    started = time.monotonic()
    response = client.post(reverse("ae_new", args=[on_c1.study_id]), ae_post())
    elapsed = time.monotonic() - started
    assert response.status_code == 302
    assert elapsed < 1.0, f"the save took {elapsed:.2f} s with the broker down"
    assert AdverseEvent.objects.filter(patient=on_c1, term=meddra("Nausea")).exists()  # the data is saved
    assert Change.objects.filter(patient_id=on_c1.pk, kind="toxicity", done_at__isnull=True).exists()
    assert not DltProposal.objects.filter(patient=on_c1).exists()
    page = client.get(reverse("patient_safety", args=[on_c1.study_id])).content.decode()
    assert "Derived results for" in page
    assert "are pending" in page

    started = time.monotonic()
    second = client.post(reverse("ae_new", args=[on_c1.study_id]), ae_post(term=meddra("Diarrhea"), grade="3", supportive=["max_antidiarrheal"]))
    assert second.status_code == 302
    assert time.monotonic() - started < 1.0  # a later save does not try the broker again for a while

    with running_worker(tmp_path) as worker:  # the broker and a worker are back: its start drains the outbox
        drained = wait_for(lambda: not Change.objects.filter(done_at__isnull=True).exists(), timeout=60)
        assert drained, worker["log"].read_text()[-3000:]
    assert set(DltProposal.objects.filter(patient=on_c1).values_list("rule", flat=True)) >= {"N2"}
    assert outbox.pending(trial_id=on_c1.trial_id) is None
    assert "Derived results for" not in client.get(reverse("patient_safety", args=[on_c1.study_id])).content.decode()
