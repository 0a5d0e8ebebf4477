"""Writes for data management: the export log and the zip of all domains.

Every export is logged (who, when, what, filters, rows per file). A streamed CSV
is logged when it starts and completed with its row count when its last row is
out; the zip is built by the Celery task `datamanagement.export_zip`, which calls
`export_zip_build` and records its progress on the same log row.

A worker can die in the middle of a zip (killed, out of memory, the machine
restarted). The build keeps a heartbeat on its log row; `export_zip_reap` (the
task `datamanagement.reap_exports`, every minute) fails a running job whose
heartbeat is older than STALE_AFTER, with a message and a Retry on the page
(`export_zip_retry`: a new job with the same parameters), and deletes its
`.part` file. The build writes to that `.part` file and renames it into place,
so a zip in the folder is always whole.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from accounts.roles import Perm
from cohorts.models import Trial
from trialsite.states import move_rows
from trialsite.tasks import delay_on_commit

from . import exports
from .exports import CDISC, DOMAINS, Domain, Filters
from .models import ExportLog

HEARTBEAT_EVERY = 30  # seconds between heartbeats while one file of a zip is written (and after each file)
STALE_AFTER = timedelta(minutes=5)  # a running zip without a heartbeat for this long has lost its worker
REAPED_MESSAGE = "the worker stopped while building this export"


class ExportAbandoned(Exception):
    """The job was failed (by the reaper) while this build ran: the build stops and keeps nothing."""


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

    def done(rows: int) -> None:  # a job the reaper failed meanwhile stays failed (ExportLog.MOVES)
        move_rows(
            ExportLog.objects.filter(pk=log.pk),
            ExportLog.Status.DONE,
            machine=ExportLog.MOVES,
            row_counts={domain.file_name: rows},
            progress_done=1,
            finished_at=timezone.now(),
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
    delay_on_commit(export_zip, log.pk)
    return log


def export_zip_retry(*, user: User, log: ExportLog) -> ExportLog:
    """Start a new zip with the parameters of a failed one (filters, CDISC datasets or not), through `export_zip_start`."""
    if log.status != ExportLog.Status.FAILED or not log.is_zip:
        raise ValidationError("Only a failed zip export can be retried.")
    return export_zip_start(user=user, trial=log.trial, filters=Filters.from_json(log.filters), cdisc=log.format == ExportLog.Format.ZIP_CDISC)


def _domains_of(log: ExportLog) -> list[Domain]:
    return [CDISC[name.removeprefix("cdisc/")] if name.startswith("cdisc/") else DOMAINS[name] for name in log.domains]


def _zip_path(log: ExportLog) -> Path:
    return export_dir() / f"{log.trial.code}-export-{log.pk}.zip"


def _part_path(log: ExportLog) -> Path:
    """Where the zip is written until it is whole: one name per job, so a rebuild or the reaper finds a dead build's file."""
    target = _zip_path(log)
    return target.with_name(f".{target.name}.part")


class _Heartbeat:
    """Progress and a sign of life on the job's row: after each file, and every HEARTBEAT_EVERY seconds within one.

    A beat after a file finds the row no longer running when the reaper has failed the job: the build is abandoned.
    TRIALSITE_EXPORT_ROW_DELAY (seconds per row, 0 but in the killed-worker test) slows the build down."""

    def __init__(self, log: ExportLog) -> None:
        self.pk = log.pk
        self.row_delay = float(getattr(settings, "TRIALSITE_EXPORT_ROW_DELAY", 0) or 0)
        self.last = time.monotonic()
        self.side: BaseDatabaseWrapper | None = None

    def rows(self, n: int) -> None:
        if self.row_delay:
            time.sleep(self.row_delay * n)
        if time.monotonic() - self.last >= HEARTBEAT_EVERY:
            self.beat()

    def file_done(self, done: int, counts: dict[str, int]) -> None:
        self.beat(progress_done=done, row_counts=counts)

    def beat(self, **progress) -> None:
        self.last = time.monotonic()
        if not progress and connection.vendor == "postgresql":
            self._beat_aside()
        elif not ExportLog.objects.filter(pk=self.pk, status=ExportLog.Status.RUNNING).update(heartbeat_at=timezone.now(), **progress):
            raise ExportAbandoned

    def _beat_aside(self) -> None:
        """PostgreSQL streams a file's rows inside a transaction (exports.engine, Domain.rows): a heartbeat written
        there would be seen only once the file is done, so it goes through a connection of its own (autocommit)."""
        if self.side is None:
            self.side = connections.create_connection(DEFAULT_DB_ALIAS)
        qn = self.side.ops.quote_name
        sql = f"UPDATE {qn(ExportLog._meta.db_table)} SET {qn('heartbeat_at')} = %s WHERE {qn('id')} = %s AND {qn('status')} = %s"  # noqa: S608 - names from the model
        with self.side.cursor() as cursor:
            cursor.execute(sql, [timezone.now(), self.pk, ExportLog.Status.RUNNING.value])

    def close(self) -> None:
        if self.side is not None:
            self.side.close()


def export_zip_build(*, log: ExportLog) -> ExportLog:
    """Build the zip from scratch into its `.part` file, then rename it into place (atomic); idempotent.

    A finished zip is kept as it is. A failed job stays failed: its message can come back from the
    broker after the reaper failed it, and its retry is a new job. A job found running lost its worker
    and is built again from the first file."""
    if log.status == ExportLog.Status.FAILED or (log.status == ExportLog.Status.DONE and log.file_path and Path(log.file_path).exists()):
        return log
    domains = _domains_of(log)
    target, part = _zip_path(log), _part_path(log)
    started = move_rows(
        ExportLog.objects.filter(pk=log.pk),
        ExportLog.Status.RUNNING,
        machine=ExportLog.MOVES,
        heartbeat_at=timezone.now(),
        progress_done=0,
        progress_total=len(domains),
        row_counts={},
        message="",
    )
    if not started:  # failed since it was read (the reaper): it stays failed
        log.refresh_from_db()
        return log
    part.unlink(missing_ok=True)  # left by a build whose worker died
    try:
        counts = _write_zip(log, domains, part)
        os.replace(part, target)
    except ExportAbandoned:
        part.unlink(missing_ok=True)
        log.refresh_from_db()
        return log
    except Exception as exc:
        part.unlink(missing_ok=True)
        # only a running job fails (ExportLog.MOVES): a reaped job keeps the reaper's message
        move_rows(ExportLog.objects.filter(pk=log.pk), ExportLog.Status.FAILED, machine=ExportLog.MOVES, finished_at=timezone.now(), message=str(exc)[:500])
        raise
    _finish(log, target, counts)
    log.refresh_from_db()
    return log


def _write_zip(log: ExportLog, domains: list[Domain], part: Path) -> dict[str, int]:
    trial, user, filters = log.trial, log.user, Filters.from_json(log.filters)
    heartbeat = _Heartbeat(log)
    cdisc = any(name.startswith("cdisc/") for name in log.domains)

    def readme(files: list[tuple[Domain, int]]) -> str:
        return exports.readme_text(trial=trial, user=user, filters=filters, generated_at=log.created_at, files=files, cdisc=cdisc)

    try:
        return exports.write_zip(part, domains, user=user, trial=trial, filters=filters, readme=readme, on_file=heartbeat.file_done, on_rows=heartbeat.rows)
    finally:
        heartbeat.close()


def _finish(log: ExportLog, target: Path, counts: dict[str, int]) -> None:
    """Done, unless the reaper failed the job since its last heartbeat: then its zip is not kept."""
    done = move_rows(
        ExportLog.objects.filter(pk=log.pk),
        ExportLog.Status.DONE,
        machine=ExportLog.MOVES,
        file_path=str(target),
        row_counts=counts,
        progress_done=len(counts),
        heartbeat_at=timezone.now(),
        finished_at=timezone.now(),
        message=f"{len(counts)} files, {sum(counts.values())} rows",
    )
    if not done:
        target.unlink(missing_ok=True)


def export_zip_reap() -> list[int]:
    """Fail every running zip whose heartbeat is older than STALE_AFTER (its worker stopped) and delete its `.part`
    file; the page then offers a retry. Returns the ids of the jobs failed."""
    now = timezone.now()
    cutoff = now - STALE_AFTER
    stale = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    reaped = []
    for log in ExportLog.objects.filter(stale, status=ExportLog.Status.RUNNING).select_related("trial"):
        # Only if nothing moved since it was read: a build that came back to life keeps its job.
        same = ExportLog.objects.filter(pk=log.pk, heartbeat_at=log.heartbeat_at)  # and still running: move_rows
        if move_rows(same, ExportLog.Status.FAILED, machine=ExportLog.MOVES, finished_at=now, message=REAPED_MESSAGE):
            _part_path(log).unlink(missing_ok=True)
            reaped.append(log.pk)
    return reaped
