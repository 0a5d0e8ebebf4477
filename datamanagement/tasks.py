"""Celery tasks for data management: thin, named, idempotent.

- datamanagement.export_zip: build the zip of an export log (progress and heartbeat on the log). acks_late with
  reject_on_worker_lost: a worker that dies mid-build leaves the message to be delivered again, and the build
  starts again from scratch (idempotent). The message comes back at once when a pool child dies, after the
  broker's visibility timeout when the whole worker dies.
- datamanagement.reap_exports: every minute, fail the zips whose heartbeat stopped (with a Retry on the page).
- datamanagement.edit_checks_nightly: run the edit checks of every trial (new findings become open queries;
  a finding already queried and not closed is not raised twice).
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="datamanagement.export_zip", acks_late=True, reject_on_worker_lost=True)
def export_zip(log_id: int) -> dict:
    from .models import ExportLog
    from .services import export_zip_build

    log = ExportLog.objects.select_related("trial", "user").filter(pk=log_id).first()
    if log is None:
        return {"log": log_id, "status": "gone"}
    log = export_zip_build(log=log)
    return {"log": log.pk, "status": log.status, "rows": log.total_rows}


@shared_task(name="datamanagement.reap_exports")
def reap_exports() -> dict:
    from .services import export_zip_reap

    return {"failed": export_zip_reap()}


@shared_task(name="datamanagement.edit_checks_nightly", acks_late=True)
def edit_checks_nightly() -> dict:
    from cohorts.models import Trial

    from .quality import edit_checks_run

    return {trial.code: edit_checks_run(trial=trial) for trial in Trial.objects.all()}
