"""The outbox: one row for each clinical write that changes what a derived result reads.

A service writes its row in its own transaction (trialsite.outbox.record_change),
so the fact that a patient's data changed is committed with the data or not at
all. The pipeline (pipeline/flow.py) drains the rows in the order the data flows
and marks them done; a row stays pending, with its last error, until it is.
"""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone


class Change(models.Model):
    class Kind(models.TextChoices):
        REGISTRATION = "registration", "Registration (baselines)"
        ENROLMENT = "enrolment", "Enrolment"
        DOSING = "dosing", "Treatment (cycles, doses, stops)"
        TOXICITY = "toxicity", "Adverse events and labs"
        ADJUDICATION = "adjudication", "DLT adjudication"
        ASSESSMENT = "assessment", "Myeloma assessment"
        FOLLOW_UP = "follow_up", "Follow-up (death, next therapy, contact)"

    # Ids, not foreign keys: the core layer sits below the apps that own trials and patients.
    trial_id = models.BigIntegerField()
    patient_id = models.BigIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["trial_id", "id"], name="change_pending", condition=models.Q(done_at__isnull=True)),
            models.Index(fields=["patient_id", "id"], name="change_patient"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of patient {self.patient_id} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class IdempotencyKey(models.Model):
    """An API write answered once (issue #17, point 5): the same `Idempotency-Key` from the same user on the same
    endpoint within trialsite.idempotency.WINDOW gets the stored answer, never a second record."""

    # The user's id, not a foreign key: the core layer sits below accounts.
    user_id = models.BigIntegerField()
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=300, help_text="Method and path, e.g. POST /api/v1/adverse-events/")
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the request body: a key reused for another body is refused")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user_id", "key", "endpoint"], name="idempotency_key_unique_per_user_endpoint")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key} (user {self.user_id})"


class Signature(models.Model):
    """An electronic signature (21 CFR 11.50, 11.200): who signed, when, what the signature means, and what was signed.

    Written by trialsite.signatures.sign in the same transaction as the decision it signs, after the
    signer re-entered their password (trialsite.signatures.check_password). Never changed or deleted.
    """

    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signatures")
    signer_name = models.CharField(max_length=300, help_text="The signer's full name as printed with the signature")
    signed_at = models.DateTimeField(default=timezone.now)
    meaning = models.TextField(help_text="What the signature means, e.g. approval, review, responsibility")
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.BigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    digest = models.CharField(max_length=64, help_text="SHA-256 of what was signed (record, meaning, signer, time, content)")

    class Meta:
        ordering = ["signed_at", "id"]
        indexes = [models.Index(fields=["content_type", "object_id"], name="signature_record")]

    def __str__(self) -> str:
        return f"Signed by {self.signer_name} on {timezone.localtime(self.signed_at):%Y-%m-%d %H:%M %Z}: {self.meaning}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("A signature cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("A signature cannot be deleted.")
