"""Writes for data management: the export log and the zip of all domains.

Every export is logged (who, when, what, filters, rows per file). A streamed CSV
is logged when it starts and completed with its row count when its last row is
out; the zip is built by the Celery task `datamanagement.export_zip`, which calls
`export_zip_build` and records its progress on the same log row.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.models import User
from accounts.roles import Perm
from cohorts.models import Trial
from trialsite.tasks import delay_on_commit_once

from . import exports
from .exports import CDISC, DOMAINS, Domain, Filters
from .models import ExportLog


def export_dir() -> Path:
    """Where finished zips are kept (shared by the web and worker processes); git ignores /media/."""
    path = Path(getattr(settings, "TRIALSITE_EXPORT_DIR", "") or Path(settings.BASE_DIR) / "media" / "exports")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check(user: User) -> None:
    if not user.can(Perm.EXPORT):
        raise PermissionDenied("Your role does not allow exports.")


def export_stream(*, user: User, trial: Trial, domain: Domain, filters: Filters, cdisc: bool = False) -> tuple[ExportLog, Iterator[str]]:
    """Log the export, then return the CSV text as a generator (constant memory); the log gets its row count at the end."""
    _check(user)
    log = ExportLog.objects.create(
        trial=trial,
        user=user,
        created_at=timezone.now(),
        format=ExportLog.Format.CDISC if cdisc else ExportLog.Format.CSV,
        domains=[domain.name],
        filters=filters.as_json(),
        status=ExportLog.Status.RUNNING,
        progress_total=1,
    )

    def done(rows: int) -> None:
        ExportLog.objects.filter(pk=log.pk).update(
            row_counts={domain.file_name: rows}, status=ExportLog.Status.DONE, progress_done=1, finished_at=timezone.now()
        )

    columns = domain.columns(trial)
    return log, exports.csv_stream([c.name for c in columns], domain.rows(user, trial, filters, columns), on_done=done)


def export_zip_start(*, user: User, trial: Trial, filters: Filters, cdisc: bool = False) -> ExportLog:
    """Queue the zip of all domains (and the CDISC-style datasets if asked); the job runs after commit."""
    from .tasks import export_zip

    _check(user)
    names = list(DOMAINS) + ([f"cdisc/{name}" for name in CDISC] if cdisc else [])
    log = ExportLog.objects.create(
        trial=trial,
        user=user,
        created_at=timezone.now(),
        format=ExportLog.Format.ZIP_CDISC if cdisc else ExportLog.Format.ZIP,
        domains=names,
        filters=filters.as_json(),
        status=ExportLog.Status.QUEUED,
        progress_total=len(names),
    )
    delay_on_commit_once(export_zip, log.pk)
    return log


def _domains_of(log: ExportLog) -> list[Domain]:
    return [CDISC[name.removeprefix("cdisc/")] if name.startswith("cdisc/") else DOMAINS[name] for name in log.domains]


def export_zip_build(*, log: ExportLog) -> ExportLog:
    """Write every file into a zip on disk, one row at a time (constant memory); idempotent once done."""
    if log.status == ExportLog.Status.DONE and log.file_path and Path(log.file_path).exists():
        return log
    trial, user, filters = log.trial, log.user, Filters.from_json(log.filters)
    domains = _domains_of(log)
    ExportLog.objects.filter(pk=log.pk).update(status=ExportLog.Status.RUNNING, progress_done=0, progress_total=len(domains), message="")
    target = export_dir() / f"{trial.code}-export-{log.pk}.zip"
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}-", suffix=".part")
    os.close(fd)
    cdisc = any(name.startswith("cdisc/") for name in log.domains)

    def readme(files: list[tuple[Domain, int]]) -> str:
        return exports.readme_text(trial=trial, user=user, filters=filters, generated_at=log.created_at, files=files, cdisc=cdisc)

    def file_done(done: int, counts: dict[str, int]) -> None:
        ExportLog.objects.filter(pk=log.pk).update(progress_done=done, row_counts=counts)

    try:
        counts = exports.write_zip(Path(tmp), domains, user=user, trial=trial, filters=filters, readme=readme, on_file=file_done, on_rows=lambda n: None)
        os.replace(tmp, target)
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        ExportLog.objects.filter(pk=log.pk).update(status=ExportLog.Status.FAILED, finished_at=timezone.now(), message=str(exc)[:500])
        raise
    total = sum(counts.values())
    ExportLog.objects.filter(pk=log.pk).update(
        status=ExportLog.Status.DONE,
        file_path=str(target),
        row_counts=counts,
        progress_done=len(domains),
        finished_at=timezone.now(),
        message=f"{len(domains)} files, {total} rows",
    )
    log.refresh_from_db()
    return log
