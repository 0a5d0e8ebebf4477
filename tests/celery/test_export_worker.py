"""A worker killed in the middle of an export zip (issue #14 point 4), with a real Celery worker on Redis.

The worker builds slowly (TRIALSITE_EXPORT_ROW_DELAY, read only here) so the test can SIGKILL it while the
zip is being written. A whole worker killed leaves the job running with a `.part` file and its message
unacknowledged in Redis: the reaper, a few minutes later, fails it with a message and deletes the `.part`
file, and the retry builds the same export as a new job. A pool child killed under a prefork worker is
seen by its parent: the message goes back to the queue (reject_on_worker_lost) and the zip is built again.
"""

import json
import os
import signal
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from datamanagement import services
from datamanagement.exports import Filters
from datamanagement.models import ExportLog
from datamanagement.tasks import export_zip, reap_exports

from .conftest import DEFAULT_BROKER, wait_for

ROW_DELAY = 0.5  # seconds per row in the worker: the plan of cycle 1 (about 30 rows) takes a quarter of a minute


@pytest.fixture
def exports_dir(tmp_path, settings):
    path = tmp_path / "exports"
    path.mkdir()
    settings.TRIALSITE_EXPORT_DIR = str(path)
    return path


@pytest.fixture
def celery_worker_env(exports_dir) -> dict:
    return {"EXPORT_DIR": str(exports_dir), "TRIALSITE_EXPORT_ROW_DELAY": str(ROW_DELAY)}


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def unacked(broker: str, queue: str) -> dict:
    """The messages Redis holds for `queue` as delivered but not acknowledged (kombu's `unacked` hash)."""
    client = redis.Redis.from_url(broker)
    return {tag: json.loads(raw) for tag, raw in client.hgetall("unacked").items() if json.loads(raw)[2] == queue}


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_zip_leaves_a_failed_job_with_a_retry_and_no_part_file(celery_worker_process, on_c1, dana, exports_dir, time_machine):
    worker, queue = celery_worker_process["process"], celery_worker_process["queue"]
    log = services.export_zip_start(user=dana, trial=on_c1.trial, filters=Filters(site="01"), cdisc=True)
    part = services._part_path(log)

    def mid_build():
        current = ExportLog.objects.get(pk=log.pk)
        return current.status == "running" and current.progress_done >= 2 and part.exists()

    assert wait_for(mid_build, timeout=60), celery_worker_process["log"].read_text()[-3000:]
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)

    log.refresh_from_db()
    assert (log.status, log.file_path) == ("running", "")  # nobody else will ever finish it
    assert 2 <= log.progress_done < log.progress_total
    assert part.exists()
    broker = os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER
    lost = unacked(broker, queue)
    assert len(lost) == 1  # acks_late: the message is not acknowledged before the task ends
    redis.Redis.from_url(broker).hdel("unacked", *lost)  # no other test's worker should ever get it back
    redis.Redis.from_url(broker).zrem("unacked_index", *lost)

    time_machine.move_to(log.heartbeat_at + timedelta(minutes=2), tick=False)
    assert reap_exports.apply().get() == {"failed": []}  # a heartbeat two minutes old may be a slow query
    time_machine.move_to(log.heartbeat_at + services.STALE_AFTER + timedelta(minutes=1), tick=False)
    assert reap_exports.apply().get() == {"failed": [log.pk]}
    log.refresh_from_db()
    assert (log.status, log.message) == ("failed", "the worker stopped while building this export")
    assert list(exports_dir.iterdir()) == []  # neither the .part file nor a zip

    retry = services.export_zip_retry(user=dana, log=log)
    assert (retry.status, retry.format, retry.filters) == ("queued", "zip_cdisc", log.filters)
    assert export_zip.apply(args=[retry.pk]).get()["status"] == "done"  # the worker is gone: built in this process
    retry.refresh_from_db()
    assert zipfile.ZipFile(retry.file_path).testzip() is None
    assert [p.name for p in exports_dir.iterdir()] == [f"{on_c1.trial.code}-export-{retry.pk}.zip"]
    assert ExportLog.objects.get(pk=log.pk).status == "failed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("celery_worker_pool", [["-P", "prefork", "-c", "1"]])
def test_a_pool_child_killed_mid_zip_has_its_job_built_again_from_scratch(celery_worker_process, on_c1, dana, exports_dir):
    worker = celery_worker_process["process"]
    log = services.export_zip_start(user=dana, trial=on_c1.trial, filters=Filters(), cdisc=False)
    part = services._part_path(log)
    assert wait_for(lambda: ExportLog.objects.get(pk=log.pk).progress_done >= 2 and part.exists(), timeout=60), celery_worker_process["log"].read_text()[-3000:]
    (child,) = children(worker.pid)
    os.kill(child, signal.SIGKILL)

    done = wait_for(lambda: ExportLog.objects.filter(pk=log.pk, status="done").first(), timeout=90)
    assert done is not None, celery_worker_process["log"].read_text()[-3000:]
    assert "WorkerLostError" in celery_worker_process["log"].read_text()
    assert child not in children(worker.pid)  # built by a new pool child
    assert zipfile.ZipFile(done.file_path).testzip() is None
    assert (done.progress_done, done.row_counts["patients.csv"]) == (done.progress_total, 1)
    assert [p.name for p in exports_dir.iterdir()] == [f"{on_c1.trial.code}-export-{log.pk}.zip"]  # no .part file left
