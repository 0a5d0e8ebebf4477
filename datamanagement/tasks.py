"""Celery tasks for data management: thin, named, idempotent.

- datamanagement.export_zip: build the zip of an export log (progress on the log).
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="datamanagement.export_zip", acks_late=True)
def export_zip(log_id: int) -> dict:
    from .models import ExportLog
    from .services import export_zip_build

    log = ExportLog.objects.select_related("trial", "user").filter(pk=log_id).first()
    if log is None:
        return {"log": log_id, "status": "gone"}
    log = export_zip_build(log=log)
    return {"log": log.pk, "status": log.status, "rows": log.total_rows}
