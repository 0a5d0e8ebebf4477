"""Myeloma assessments, follow-up (progression, death, next therapy, last contact), computed responses and endpoints.

Responses and endpoints are computed by Celery from the assessments (response/imwg.py,
response/endpoints.py) and stored with the rule version and the time of their inputs,
so dashboards read and never compute.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from trialsite.states import Machine

from . import imwg
from .stored import result_rows

SPURIOUS_PARAMETERS = {
    "spep": "Serum M-protein",
    "upep": "Urine M-protein",
    "kappa": "Kappa FLC",
    "lambda": "Lambda FLC",
    "marrow_pc": "Marrow plasma cells",
    "plasmacytoma_size": "Plasmacytoma size",
}


class MyelomaAssessment(models.Model):
    """One dated disease assessment, stored in g/dL, mg/24 h, mg/dL, %, cm2."""

    class Isotype(models.TextChoices):
        IGG_K = "IgG kappa"
        IGG_L = "IgG lambda"
        IGA_K = "IgA kappa"
        IGA_L = "IgA lambda"
        IGD = "IgD"
        KAPPA = "kappa light chain"
        LAMBDA = "lambda light chain"
        OTHER = "other"

    patient = models.ForeignKey("cohorts.Patient", on_delete=models.PROTECT, related_name="assessments")
    on = models.DateField("Date")
    spep = models.DecimalField("Serum M-protein (g/dL)", max_digits=6, decimal_places=2, null=True, blank=True)
    serum_ife = models.BooleanField("Serum immunofixation positive", null=True, blank=True)
    serum_isotype = models.CharField(max_length=20, choices=Isotype.choices, blank=True)
    upep = models.DecimalField("Urine M-protein (mg/24 h)", max_digits=8, decimal_places=1, null=True, blank=True)
    urine_ife = models.BooleanField("Urine immunofixation positive", null=True, blank=True)
    kappa = models.DecimalField("Kappa FLC (mg/dL)", max_digits=9, decimal_places=3, null=True, blank=True)
    lambda_flc = models.DecimalField("Lambda FLC (mg/dL)", max_digits=9, decimal_places=3, null=True, blank=True)
    marrow_pc = models.DecimalField("Marrow plasma cells (%)", max_digits=4, decimal_places=1, null=True, blank=True)
    marrow_clonal = models.BooleanField("Clonal marrow plasma cells", null=True, blank=True)
    plasmacytoma = models.BooleanField("Soft-tissue plasmacytoma present", null=True, blank=True)
    plasmacytoma_size = models.DecimalField("Plasmacytoma size (cm2)", max_digits=6, decimal_places=2, null=True, blank=True)
    new_lesions = models.BooleanField("New bone lesions", null=True, blank=True)
    spurious = models.JSONField(default=dict, blank=True, help_text="{parameter: reason}: a spurious value is never a nadir")
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "on"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "on"], name="one_assessment_per_day"),
            models.CheckConstraint(condition=Q(marrow_pc__isnull=True) | Q(marrow_pc__gte=0, marrow_pc__lte=100), name="assessment_marrow_pct_range"),
            models.CheckConstraint(
                condition=(Q(spep__isnull=True) | Q(spep__gte=0))
                & (Q(upep__isnull=True) | Q(upep__gte=0))
                & (Q(kappa__isnull=True) | Q(kappa__gte=0))
                & (Q(lambda_flc__isnull=True) | Q(lambda_flc__gte=0)),
                name="assessment_values_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} assessment {self.on}"

    @property
    def ratio(self):
        return self.kappa / self.lambda_flc if self.kappa is not None and self.lambda_flc else None

    def dflc(self, involved: str | None):
        """Involved minus uninvolved light chain, the involved one fixed at baseline (imwg.dflc; None before it is known)."""
        chains = (self.kappa, self.lambda_flc) if self.kappa is not None and self.lambda_flc is not None else None
        return imwg.dflc(chains, involved)


class FollowUp(models.Model):
    """What the endpoints need beyond assessments: death, the next line of therapy, the last contact."""

    patient = models.OneToOneField("cohorts.Patient", on_delete=models.PROTECT, related_name="follow_up")
    death_on = models.DateField("Date of death", null=True, blank=True)
    death_cause = models.CharField("Cause of death", max_length=200, blank=True)
    # A grade 5 adverse event is the death record's source or is linked to it (response.services.followup_death_sync):
    # death_from_event when the date and cause were written from the event, not entered on the follow-up.
    death_event = models.ForeignKey(
        "toxicity.AdverseEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="The grade 5 adverse event of the death"
    )
    death_from_event = models.BooleanField(default=False, help_text="Date and cause of death written from the grade 5 adverse event")
    next_therapy_on = models.DateField("Next therapy started", null=True, blank=True)
    next_therapy_regimen = models.CharField("Next therapy regimen", max_length=200, blank=True)
    last_contact_on = models.DateField("Last contact", null=True, blank=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.patient} follow-up"


class ResponseResult(models.Model):
    """A patient's computed IMWG course (what the dashboards read)."""

    patient = models.OneToOneField("cohorts.Patient", on_delete=models.PROTECT, related_name="response")
    driver = models.CharField(max_length=20, blank=True)
    baseline = models.JSONField(default=dict)
    results = models.JSONField(default=dict, help_text="Per assessment, by column: date, id, category, reason, changes, confirmation")
    best = models.CharField(max_length=4)
    best_on = models.DateField(null=True, blank=True)
    best_reason = models.TextField(blank=True)
    best_change_pct = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    first_response_on = models.DateField(null=True, blank=True)
    progression_on = models.DateField(null=True, blank=True)
    confirmed = models.JSONField(default=list, blank=True)
    flags = models.JSONField(default=list, blank=True)
    rule_version = models.CharField(max_length=40)
    inputs_at = models.DateTimeField(null=True, blank=True, help_text="When its inputs last changed")
    inputs_version = models.BigIntegerField(
        default=0, help_text="The patient's newest outbox change (trialsite.models.Change) when its inputs were read: newer ones make it stale"
    )
    computed_at = models.DateTimeField()
    digest = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.patient}: {self.best}"

    def rows(self) -> list[dict]:
        """The per-assessment results (stored by column: response.stored) one dict per assessment."""
        return result_rows(self.results)


class EndpointSnapshot(models.Model):
    """The trial's endpoints as last computed, with the rule version and the time of the inputs."""

    trial = models.ForeignKey("cohorts.Trial", on_delete=models.PROTECT, related_name="endpoint_snapshots")
    data = models.JSONField()
    rule_version = models.CharField(max_length=40)
    inputs_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField()
    patients = models.PositiveIntegerField()

    class Meta:
        ordering = ["trial", "-computed_at"]
        get_latest_by = "computed_at"

    def __str__(self) -> str:
        return f"{self.trial} endpoints {self.computed_at:%Y-%m-%d %H:%M}"


class RecomputeJob(models.Model):
    """A whole-trial recompute, with its progress shown on the dashboard."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    trial = models.ForeignKey("cohorts.Trial", on_delete=models.PROTECT, related_name="recompute_jobs")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="The last sign of life of the worker running it (a chunk done)")
    finished_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["trial", "-requested_at"]

    def __str__(self) -> str:
        return f"{self.trial} recompute {self.get_status_display()} {self.done}/{self.total}"

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


# A recompute job's moves (house style 11); a failed or done job is final: running it again is a new job.
RECOMPUTE_MOVES = Machine(
    "recompute",
    {
        RecomputeJob.Status.QUEUED: frozenset({RecomputeJob.Status.RUNNING, RecomputeJob.Status.FAILED}),
        RecomputeJob.Status.RUNNING: frozenset({RecomputeJob.Status.DONE, RecomputeJob.Status.FAILED}),
        RecomputeJob.Status.DONE: frozenset(),
        RecomputeJob.Status.FAILED: frozenset(),
    },
    labels=dict(RecomputeJob.Status.choices),
)
