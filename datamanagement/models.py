"""Data management: the log of every export (who, when, what, filters, how many rows).

A zip of all domains is built by a Celery job; its progress, heartbeat and file live
on the same log row, so the status page and the log table read one model.
"""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from trialsite.states import Machine


class ExportLog(models.Model):
    class Format(models.TextChoices):
        CSV = "csv", "CSV (one domain)"
        CDISC = "cdisc", "CDISC-style CSV (one dataset)"
        ZIP = "zip", "Zip of all domains"
        ZIP_CDISC = "zip_cdisc", "Zip of all domains and CDISC-style datasets"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    # The allowed moves (house style 11), made by datamanagement/services.py with guarded updates (`move_rows`:
    # the worker, the stream and the reaper write the same row): a streamed CSV is created running, a zip queued.
    # A build starts a queued job, starts again a job found running (its worker died) and rebuilds a done zip
    # whose file is gone; it ends done or failed; the reaper fails a running job whose heartbeat stopped.
    # Failed is final: a retry is a new job.
    MOVES = Machine(
        "export job",
        {
            Status.QUEUED: frozenset({Status.RUNNING}),
            Status.RUNNING: frozenset({Status.RUNNING, Status.DONE, Status.FAILED}),
            Status.DONE: frozenset({Status.RUNNING}),
            Status.FAILED: frozenset(),
        },
        labels=dict(Status.choices),
    )

    trial = models.ForeignKey("cohorts.Trial", on_delete=models.PROTECT, related_name="export_logs")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="export_logs")
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    format = models.CharField(max_length=10, choices=Format.choices)
    domains = models.JSONField(default=list, help_text="Domain (or dataset) names exported")
    filters = models.JSONField(default=dict, blank=True, help_text="{site, level, date_from, date_to} as given")
    row_counts = models.JSONField(default=dict, blank=True, help_text="{file name: data rows written}")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    file_path = models.CharField(max_length=500, blank=True, help_text="The zip of a background job")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of the worker building the zip")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["trial", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_format_display()} by {self.user} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def is_zip(self) -> bool:
        return self.format in (self.Format.ZIP, self.Format.ZIP_CDISC)


class DataQuery(models.Model):
    """A question on one field of one record, raised by a data manager or an edit check, answered at the site."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ANSWERED = "answered", "Answered"
        CLOSED = "closed", "Closed"

    # The allowed moves (house style 11), made by datamanagement/quality.py: the site answers an open query (and
    # may answer an answered one again: the new answer replaces the old), a data manager closes an open or
    # answered query and re-opens a closed one (it is open again, its answer kept).
    MOVES = Machine(
        "data query",
        {
            Status.OPEN: frozenset({Status.ANSWERED, Status.CLOSED}),
            Status.ANSWERED: frozenset({Status.ANSWERED, Status.CLOSED}),
            Status.CLOSED: frozenset({Status.OPEN}),
        },
        labels=dict(Status.choices),
    )

    patient = models.ForeignKey("cohorts.Patient", on_delete=models.PROTECT, related_name="queries")
    record_type = models.CharField(max_length=20, help_text="A record type of the audit trail (adverse_event, lab, cycle, ...)")
    object_id = models.PositiveIntegerField()
    field = models.CharField(max_length=60)
    text = models.TextField("Query")
    edit_check = models.CharField(max_length=40, blank=True, help_text="The edit check that raised it (empty: raised by a person)")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField()
    answer = models.TextField(blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, help_text="The data manager's note on closing or re-opening")
    history = HistoricalRecords()

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [models.Index(fields=["patient", "status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["edit_check", "record_type", "object_id", "field"],
                condition=~models.Q(edit_check="") & ~models.Q(status="closed"),
                name="one_open_query_per_check_and_field",
            )
        ]

    def __str__(self) -> str:
        return f"Query on {self.record_type} {self.object_id} {self.field} ({self.get_status_display()})"
