"""Protocol as data (Trial, Drug, DoseLevel, DrugSchedule), patients, cohorts, enrolment.

Every clinical model keeps a full history (django-simple-history); services set
who made the change and the reason on each write.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from trialsite.states import Machine

from .protocol import UNITS
from .status import STATUS_LABELS, PatientStatus


class Trial(models.Model):
    code = models.CharField(max_length=10, unique=True)
    nct_id = models.CharField("NCT id", max_length=20, blank=True)
    title = models.CharField(max_length=300)
    phase = models.CharField(max_length=20)
    design = models.CharField(max_length=20, default="3+3")
    design_params = models.JSONField(default=dict, blank=True, help_text="The design's parameters from the protocol's [design] table (issue 18); empty for 3+3")
    protocol_version = models.CharField(max_length=20)
    ctcae_version = models.CharField("CTCAE version", max_length=10, default="5.0", help_text="The terminology of adverse events")
    cycle_length_days = models.PositiveSmallIntegerField()
    dlt_window_days = models.PositiveSmallIntegerField()
    cohort_size = models.PositiveSmallIntegerField()
    cohort_max_size = models.PositiveSmallIntegerField()
    cap_escalation = models.PositiveSmallIntegerField()
    cap_expansion = models.PositiveSmallIntegerField()
    cap_total = models.PositiveSmallIntegerField()
    visit_window_days = models.PositiveSmallIntegerField()
    visit_days = models.JSONField(default=list, help_text="Days of a cycle with an expected visit")
    follow_up_years = models.PositiveSmallIntegerField(default=2)
    follow_up_interval_days = models.PositiveSmallIntegerField(default=84)
    starting_level = models.ForeignKey("DoseLevel", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    eligibility_criteria = models.JSONField(default=list, help_text="[{code, text}], all confirmed before enrolment")
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.nct_id})" if self.nct_id else self.code

    @property
    def criteria_codes(self) -> list[str]:
        return [c["code"] for c in self.eligibility_criteria]


class Drug(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="drugs")
    code = models.SlugField(max_length=40)
    name = models.CharField(max_length=100)
    route = models.CharField(max_length=20, blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    reduced_dose_mg = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True, help_text="Flat-dose reduction the investigator may make")
    reduction_from_cycle = models.PositiveSmallIntegerField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["trial", "order"]
        constraints = [models.UniqueConstraint(fields=["trial", "code"], name="drug_code_unique_in_trial")]

    def __str__(self) -> str:
        return self.name


class DoseLevel(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="levels")
    label = models.SmallIntegerField(help_text="-1, 1, 2, ...: as the protocol names it")
    order = models.PositiveSmallIntegerField(help_text="1 = lowest dose")
    history = HistoricalRecords()

    class Meta:
        ordering = ["trial", "order"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "label"], name="level_label_unique_in_trial"),
            models.UniqueConstraint(fields=["trial", "order"], name="level_order_unique_in_trial"),
        ]

    def __str__(self) -> str:
        return f"Level {self.label}"


class LevelDose(models.Model):
    level = models.ForeignKey(DoseLevel, on_delete=models.PROTECT, related_name="doses")
    drug = models.ForeignKey(Drug, on_delete=models.PROTECT, related_name="level_doses")
    amount = models.DecimalField(max_digits=8, decimal_places=2)
    unit = models.CharField(max_length=10, choices=[(u, u) for u in UNITS])
    history = HistoricalRecords()

    class Meta:
        ordering = ["level", "drug__order"]
        constraints = [
            models.UniqueConstraint(fields=["level", "drug"], name="one_dose_per_drug_and_level"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="level_dose_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.drug.name} {self.amount.normalize():f} {self.unit}"


class DrugSchedule(models.Model):
    drug = models.ForeignKey(Drug, on_delete=models.PROTECT, related_name="schedules")
    route = models.CharField(max_length=20, blank=True)
    days = models.JSONField(help_text="Days of the cycle on which the drug is given")
    first_cycle = models.PositiveSmallIntegerField(default=1)
    last_cycle = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty: every cycle from first_cycle")
    history = HistoricalRecords()

    class Meta:
        ordering = ["drug__order", "first_cycle"]
        constraints = [
            models.UniqueConstraint(fields=["drug", "first_cycle"], name="one_schedule_per_drug_start"),
            models.CheckConstraint(condition=Q(last_cycle__isnull=True) | Q(last_cycle__gte=models.F("first_cycle")), name="schedule_cycles_forward"),
        ]

    def __str__(self) -> str:
        return f"{self.drug.name} {self.days_display}, {self.cycles_display}"

    @property
    def days_display(self) -> str:
        days = list(self.days)
        if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
            return f"days {days[0]}-{days[-1]}"
        return "day " + ", ".join(str(d) for d in days) if len(days) == 1 else "days " + ", ".join(str(d) for d in days)

    @property
    def cycles_display(self) -> str:
        if self.last_cycle is None:
            return "every cycle" if self.first_cycle == 1 else f"from cycle {self.first_cycle}"
        return f"cycles {self.first_cycle}-{self.last_cycle}"


class Cohort(models.Model):
    """A group of patients enrolled at one level. One open cohort per trial at a time."""

    class Phase(models.TextChoices):
        ESCALATION = "escalation", "Escalation"
        EXPANSION = "expansion", "Expansion"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    # The allowed moves (house style 11): a cohort opens when it is created (the protocol's first cohort,
    # cohorts/services.py; the next one, by a signed decision) and closes once, when a decision is signed
    # (escalation/services.py `_apply`); a closed cohort is never reopened, the next one is a new row.
    MOVES = Machine("cohort", {Status.OPEN: frozenset({Status.CLOSED}), Status.CLOSED: frozenset()}, labels=dict(Status.choices))

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="cohorts")
    level = models.ForeignKey(DoseLevel, on_delete=models.PROTECT, related_name="cohorts")
    number = models.PositiveSmallIntegerField()
    phase = models.CharField(max_length=12, choices=Phase.choices, default=Phase.ESCALATION)
    capacity = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    opened_on = models.DateField()
    closed_on = models.DateField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["trial", "number"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "number"], name="cohort_number_unique_in_trial"),
            models.UniqueConstraint(fields=["trial"], condition=Q(status="open"), name="one_open_cohort_per_trial"),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="cohort_capacity_positive"),
        ]

    def __str__(self) -> str:
        return f"Cohort {self.number} at level {self.level.label}"


class Patient(models.Model):
    class Sex(models.TextChoices):
        FEMALE = "F", "Female"
        MALE = "M", "Male"

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="patients")
    site = models.ForeignKey("accounts.Site", on_delete=models.PROTECT, related_name="patients")
    study_id = models.CharField("Study id", max_length=20, unique=True)
    site_sequence = models.PositiveIntegerField()
    initials = models.CharField(max_length=4)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=1, choices=Sex.choices)
    height_cm = models.DecimalField("Height (cm)", max_digits=5, decimal_places=1)
    weight_kg = models.DecimalField("Weight (kg)", max_digits=5, decimal_places=1)
    consent_date = models.DateField(null=True, blank=True)
    eligibility = models.JSONField(default=dict, blank=True, help_text="{criterion code: confirmed}")
    baseline_anc = models.DecimalField("Baseline ANC (x10^9/L)", max_digits=6, decimal_places=2)
    baseline_platelets = models.DecimalField("Baseline platelets (x10^9/L)", max_digits=6, decimal_places=1)
    baseline_marrow_pc_pct = models.DecimalField("Baseline marrow plasma cells (%)", max_digits=4, decimal_places=1)
    status = models.CharField(max_length=16, choices=[(s.value, STATUS_LABELS[s]) for s in PatientStatus], default=PatientStatus.SCREENING)
    status_reason = models.CharField(max_length=40, blank=True)
    status_date = models.DateField(null=True, blank=True)
    registered_at = models.DateTimeField(auto_now_add=True)
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["study_id"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "site", "site_sequence"], name="patient_sequence_unique_per_site"),
            models.CheckConstraint(condition=Q(height_cm__gte=100, height_cm__lte=250), name="patient_height_cm_plausible"),
            models.CheckConstraint(condition=Q(weight_kg__gte=25, weight_kg__lte=300), name="patient_weight_kg_plausible"),
            models.CheckConstraint(condition=Q(baseline_marrow_pc_pct__gte=0, baseline_marrow_pc_pct__lte=100), name="patient_marrow_pct_range"),
        ]
        indexes = [models.Index(fields=["trial", "site", "status"])]

    def __str__(self) -> str:
        return self.study_id

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[PatientStatus(self.status)]

    @property
    def eligibility_rows(self) -> list[tuple[str, str, bool]]:
        return [(c["code"], c["text"], bool(self.eligibility.get(c["code"]))) for c in self.trial.eligibility_criteria]

    @property
    def is_eligible(self) -> bool:
        return all(self.eligibility.get(code) for code in self.trial.criteria_codes)


class Enrolment(models.Model):
    """A patient's place in a cohort at a dose level; a unique slot per cohort."""

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="enrolment")
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="enrolments")
    level = models.ForeignKey(DoseLevel, on_delete=models.PROTECT, related_name="enrolments")
    slot = models.PositiveSmallIntegerField()
    enrolled_on = models.DateField()
    enrolled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["cohort", "slot"]
        constraints = [
            models.UniqueConstraint(fields=["cohort", "slot"], name="one_patient_per_cohort_slot"),
            models.CheckConstraint(condition=Q(slot__gte=1), name="enrolment_slot_positive"),
        ]
        indexes = [models.Index(fields=["level"])]

    def __str__(self) -> str:
        return f"{self.patient} in {self.cohort} (slot {self.slot})"
