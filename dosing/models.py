"""Treatment: cycles, the plan of each cycle, dose modifications, administrations, visits.

A cycle's plan is computed by dosing/schedule.py when the cycle starts and
stored with what it came from (BSA, weight, level), so it can be checked later.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords


class Cycle(models.Model):
    patient = models.ForeignKey("cohorts.Patient", on_delete=models.PROTECT, related_name="cycles")
    number = models.PositiveSmallIntegerField()
    planned_day1 = models.DateField(help_text="Previous day 1 + cycle length; for cycle 1, the day it started")
    day1 = models.DateField("Day 1")
    delay_reason = models.CharField(max_length=300, blank=True)
    level = models.ForeignKey("cohorts.DoseLevel", on_delete=models.PROTECT, related_name="+")
    height_cm = models.DecimalField("Height (cm)", max_digits=5, decimal_places=1)
    weight_kg = models.DecimalField("Day-1 weight (kg)", max_digits=5, decimal_places=1)
    bsa_m2 = models.DecimalField("BSA (m2)", max_digits=6, decimal_places=4)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    locked_at = models.DateTimeField(null=True, blank=True, help_text="Locked by a data manager once clean: its data cannot change")
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "number"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "number"], name="one_cycle_number_per_patient"),
            models.CheckConstraint(condition=Q(number__gte=1), name="cycle_number_positive"),
            models.CheckConstraint(condition=Q(day1__gte=F("planned_day1")), name="cycle_never_earlier_than_planned"),
            models.CheckConstraint(condition=Q(day1=F("planned_day1")) | ~Q(delay_reason=""), name="cycle_delay_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.patient} cycle {self.number}"

    @property
    def delay_days(self) -> int:
        return (self.day1 - self.planned_day1).days


class PlannedDose(models.Model):
    cycle = models.ForeignKey(Cycle, on_delete=models.PROTECT, related_name="planned")
    drug = models.ForeignKey("cohorts.Drug", on_delete=models.PROTECT, related_name="+")
    day = models.PositiveSmallIntegerField()
    planned_on = models.DateField()
    dose_mg = models.DecimalField(max_digits=8, decimal_places=2)
    basis = models.CharField(max_length=300, help_text="How the dose was reached, e.g. 120 mg/m2 x BSA 1.82 m2")
    history = HistoricalRecords()

    class Meta:
        ordering = ["cycle", "day", "drug__order"]
        constraints = [models.UniqueConstraint(fields=["cycle", "drug", "day"], name="one_plan_per_drug_day")]

    def __str__(self) -> str:
        return f"{self.cycle} day {self.day} {self.drug} {self.dose_mg} mg"


class DoseModification(models.Model):
    class Kind(models.TextChoices):
        REDUCE_LEVEL = "reduce_level", "Reduce to a lower level"
        REDUCE_DOSE = "reduce_dose", "Reduce to a stated dose"
        HOLD = "hold", "Hold"
        RESUME = "resume", "Resume"

    patient = models.ForeignKey("cohorts.Patient", on_delete=models.PROTECT, related_name="dose_modifications")
    cycle = models.ForeignKey(Cycle, on_delete=models.PROTECT, related_name="modifications")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    drug = models.ForeignKey("cohorts.Drug", null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Empty: every drug")
    effective_on = models.DateField()
    to_level = models.ForeignKey("cohorts.DoseLevel", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    dose_mg = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    reason = models.TextField()
    in_cycle_1 = models.BooleanField(default=False, help_text="Decided within cycle 1: the DLT rules H5/N7 read it")
    adverse_event = models.ForeignKey(
        "toxicity.AdverseEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="modifications", help_text="The toxicity that required it"
    )
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", help_text="The investigator who decided")
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "effective_on", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="modification_has_reason"),
            models.CheckConstraint(condition=~Q(kind="reduce_level") | Q(to_level__isnull=False), name="level_reduction_names_level"),
            models.CheckConstraint(condition=~Q(kind="reduce_dose") | Q(dose_mg__gt=0, drug__isnull=False), name="dose_reduction_names_dose"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.drug or 'all drugs'} from {self.effective_on}"


class Administration(models.Model):
    class Status(models.TextChoices):
        GIVEN = "given", "Given as planned"
        OTHER_DOSE = "other_dose", "Given at another dose"
        HELD = "held", "Held"
        MISSED = "missed", "Missed"

    cycle = models.ForeignKey(Cycle, on_delete=models.PROTECT, related_name="administrations")
    planned = models.OneToOneField(PlannedDose, null=True, blank=True, on_delete=models.PROTECT, related_name="administration")
    drug = models.ForeignKey("cohorts.Drug", on_delete=models.PROTECT, related_name="+")
    day = models.PositiveSmallIntegerField()
    given_on = models.DateField()
    status = models.CharField(max_length=12, choices=Status.choices)
    dose_mg = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    route = models.CharField(max_length=20, blank=True)
    reason = models.TextField(blank=True)
    deviation = models.BooleanField(default=False, help_text="Given on a day the schedule does not have: a protocol deviation")
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["cycle", "day", "drug__order"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "drug", "day"], name="one_administration_per_drug_day"),
            models.CheckConstraint(
                condition=Q(status__in=["given", "other_dose"], dose_mg__gt=0) | Q(status__in=["held", "missed"], dose_mg__isnull=True),
                name="administration_dose_matches_status",
            ),
            models.CheckConstraint(condition=Q(status="given", deviation=False) | ~Q(reason=""), name="administration_reason_unless_as_planned"),
            models.CheckConstraint(condition=Q(deviation=True) | Q(planned__isnull=False), name="administration_planned_or_deviation"),
        ]

    def __str__(self) -> str:
        return f"{self.cycle} day {self.day} {self.drug}: {self.get_status_display()}"


class Visit(models.Model):
    """An expected visit (cycle days 1, 8, 15, 22 or a follow-up visit) and when it happened."""

    class Kind(models.TextChoices):
        TREATMENT = "treatment", "Treatment visit"
        FOLLOW_UP = "follow_up", "Follow-up visit"

    patient = models.ForeignKey("cohorts.Patient", on_delete=models.PROTECT, related_name="visits")
    cycle = models.ForeignKey(Cycle, null=True, blank=True, on_delete=models.PROTECT, related_name="visits")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TREATMENT)
    day = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Cycle day of a treatment visit")
    expected_on = models.DateField()
    window_days = models.PositiveSmallIntegerField()
    done_on = models.DateField(null=True, blank=True)
    cancelled = models.BooleanField(default=False, help_text="No longer expected (treatment stopped); kept for the record")
    out_of_window = models.BooleanField(default=False, help_text="Done outside its window: a protocol deviation, confirmed when recorded")
    weight_kg = models.DecimalField("Weight (kg)", max_digits=5, decimal_places=1, null=True, blank=True)
    pulse_bpm = models.PositiveSmallIntegerField("Pulse (/min)", null=True, blank=True)
    systolic_mmhg = models.PositiveSmallIntegerField("Systolic BP (mmHg)", null=True, blank=True)
    diastolic_mmhg = models.PositiveSmallIntegerField("Diastolic BP (mmHg)", null=True, blank=True)
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["expected_on", "id"]
        constraints = [models.UniqueConstraint(fields=["patient", "kind", "expected_on"], name="one_expected_visit_per_day")]
        indexes = [models.Index(fields=["done_on", "cancelled", "expected_on"])]

    def __str__(self) -> str:
        return f"{self.patient} {self.get_kind_display()} {self.expected_on}"


class OffTreatment(models.Model):
    patient = models.OneToOneField("cohorts.Patient", on_delete=models.PROTECT, related_name="off_treatment")
    reason = models.CharField(max_length=20)
    decided_on = models.DateField()
    last_dose_on = models.DateField(help_text="Start of the follow-up period")
    follow_up_until = models.DateField()
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.patient} off treatment {self.decided_on}"
