"""The escalation decisions: proposed by the 3+3 engine, signed (or rejected) by an investigator.

The tables keep the names they had in the cohorts app (moved by state-only migrations, no data copied).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from cohorts.models import DoseLevel, Trial
from trialsite.states import Machine


class EscalationDecision(models.Model):
    """A decision the design's engine proposes on the adjudicated DLTs (3+3, BOIN, TITE-BOIN, i3+3), then signed (or
    rejected) by an investigator.

    Signed decisions are immutable: a later change to a DLT they counted raises
    `needs_review` (with the note), it never rewrites the decision.
    """

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed: awaiting signature"
        SIGNED = "signed", "Signed"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded by a newer proposal"

    # The allowed moves (house style 11), made by escalation/services.py: a proposal is signed or rejected by an
    # investigator, or superseded by the engine when the data behind it changed; the three outcomes are final.
    # `needs_review` is a flag on a signed decision, not a status: the engine raises it (signed, not flagged) and
    # a re-review clears it (flagged), each guarded in its service; a table of two values would refuse no more.
    MOVES = Machine(
        "escalation decision",
        {
            Status.PROPOSED: frozenset({Status.SIGNED, Status.REJECTED, Status.SUPERSEDED}),
            Status.SIGNED: frozenset(),
            Status.REJECTED: frozenset(),
            Status.SUPERSEDED: frozenset(),
        },
        labels=dict(Status.choices),
    )

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="decisions")
    # The design whose engine proposed it (cohorts.protocol.DESIGNS), as it was then: a protocol amendment that
    # changes the design leaves the earlier decisions' name as they were taken (issue 18).
    design = models.CharField(max_length=20, default="3+3")
    action = models.CharField(max_length=12)
    level = models.ForeignKey(DoseLevel, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    mtd = models.ForeignKey(DoseLevel, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    rule = models.CharField(max_length=16)
    reason = models.TextField()
    slots = models.PositiveSmallIntegerField(default=0)
    tally = models.JSONField(default=list, help_text="Per level, each patient's outcome as the engine saw it")
    dlts = models.JSONField(default=dict, blank=True, help_text="{DLT id: rule onset} of the DLTs counted")
    inputs_digest = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    proposed_at = models.DateTimeField()
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(null=True, blank=True)
    signature_meaning = models.CharField(max_length=300, blank=True)
    rejection_reason = models.TextField(blank=True)
    needs_review = models.BooleanField(default=False)
    review_note = models.TextField(blank=True)
    history = HistoricalRecords(table_name="cohorts_historicalescalationdecision")

    class Meta:
        db_table = "cohorts_escalationdecision"  # the table it had in the cohorts app
        ordering = ["trial", "-proposed_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["trial"], condition=Q(status="proposed"), name="one_proposed_decision_per_trial")]

    SIGNED_CONTENT = (
        "design",
        "action",
        "level_id",
        "mtd_id",
        "rule",
        "reason",
        "slots",
        "tally",
        "dlts",
        "inputs_digest",
        "status",
        "signed_by_id",
        "signed_at",
        "signature_meaning",
    )

    NOT_SIGNED = ("wait", "suspend")  # the engine waits (TITE-BOIN: suspends accrual): read, never signed (rules.Action)

    def __str__(self) -> str:
        return f"{self.trial.code}: {self.action} {self.level.label if self.level else ''} ({self.get_status_display()})"

    def save(self, *args, **kwargs):
        """A signed decision is immutable: only its re-review flag and note may change."""
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk, status=self.Status.SIGNED).values(*self.SIGNED_CONTENT).first()
            if stored is not None and any(stored[name] != getattr(self, name) for name in self.SIGNED_CONTENT):
                raise ValueError(f"Escalation decision {self.pk} is signed and cannot be changed.")
        super().save(*args, **kwargs)

    @property
    def waits(self) -> bool:
        """A proposal to read, not to sign (a wait, or a suspension of accrual)."""
        return self.status == self.Status.PROPOSED and self.action in self.NOT_SIGNED
