"""Adverse events, hematology labs, DLT proposals and confirmed DLTs."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from trialsite.states import Machine

from .dlt import RULE_TITLES, Supportive

RULE_CHOICES = [(k, f"{k} {v}") for k, v in RULE_TITLES.items()]
SAE_CRITERIA = {
    "death": "Results in death",
    "life_threatening": "Life-threatening",
    "hospitalisation": "Requires or prolongs hospitalisation",
    "disability": "Persistent or significant disability",
    "congenital": "Congenital anomaly",
    "important": "Other important medical event",
}


class CtcaeTerm(models.Model):
    """One term of one CTCAE version: reference data, loaded from toxicity/data/ctcae/<version>/ by `load_ctcae`."""

    version = models.CharField(max_length=10)
    meddra_code = models.CharField("MedDRA code", max_length=8)
    term = models.CharField(max_length=200)
    soc = models.CharField("System organ class", max_length=200)
    grades = models.CharField(max_length=5, help_text="The grades the term has, e.g. 345")
    grade_texts = models.JSONField(default=dict, blank=True, help_text="{grade: description} where the reference has them")

    class Meta:
        ordering = ["version", "soc", "term"]
        constraints = [models.UniqueConstraint(fields=["version", "meddra_code"], name="one_ctcae_term_per_code_and_version")]

    def __str__(self) -> str:
        return f"CTCAE v{self.version} {self.term} ({self.meddra_code})"


class AdverseEvent(models.Model):
    """One episode of an adverse event at one grade; a change of grade is a new episode of the same event."""

    class Action(models.TextChoices):
        NONE = "none", "Dose not changed"
        REDUCED = "reduced", "Dose reduced"
        INTERRUPTED = "interrupted", "Drug interrupted"
        WITHDRAWN = "withdrawn", "Drug withdrawn"
        NOT_APPLICABLE = "na", "Not applicable"

    class Outcome(models.TextChoices):
        RECOVERED = "recovered", "Recovered/resolved"
        RECOVERING = "recovering", "Recovering/resolving"
        NOT_RECOVERED = "not_recovered", "Not recovered/not resolved"
        SEQUELAE = "sequelae", "Recovered with sequelae"
        FATAL = "fatal", "Fatal"
        UNKNOWN = "unknown", "Unknown"

    patient = models.ForeignKey("cohorts.Patient", on_delete=models.PROTECT, related_name="adverse_events")
    event = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="episodes", help_text="The first episode of this event")
    term = models.CharField(max_length=60, help_text="MedDRA code of the CTCAE term (toxicity.CtcaeTerm of ctcae_version)")
    ctcae_version = models.CharField("CTCAE version", max_length=10, default="5.0")
    verbatim = models.CharField("Verbatim term", max_length=200, blank=True, help_text='Required for a "<SOC> - Other, specify" term')
    grade = models.PositiveSmallIntegerField()
    onset = models.DateField()
    resolved = models.DateField(null=True, blank=True)
    serious = models.BooleanField(default=False)
    sae_criteria = models.JSONField(default=list, blank=True)
    attribution = models.JSONField(default=dict, help_text="{drug code: unrelated | unlikely | possible | probable | definite}")
    progression = models.BooleanField("Attributed to disease progression", default=False)
    action = models.CharField(max_length=12, choices=Action.choices, default=Action.NONE)
    outcome = models.CharField(max_length=14, choices=Outcome.choices, default=Outcome.NOT_RECOVERED)
    supportive = models.JSONField(default=list, blank=True, help_text=f"Any of {', '.join(s.value for s in Supportive)}")
    with_pain = models.BooleanField(default=False)
    notes = models.TextField(blank=True)
    in_error = models.BooleanField("Entered in error", default=False, help_text="Retracted, never deleted: the rules ignore it")
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "onset", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(grade__gte=1, grade__lte=5), name="ae_grade_1_to_5"),
            models.CheckConstraint(condition=Q(resolved__isnull=True) | Q(resolved__gte=F("onset")), name="ae_resolved_after_onset"),
        ]
        indexes = [models.Index(fields=["patient", "onset"])]

    def __str__(self) -> str:
        return f"{self.term_name} grade {self.grade} from {self.onset}"

    @property
    def ctcae_term(self):
        """The CTCAE term (toxicity.ctcae.Term) from the in-memory index of its version, or None if unknown."""
        from .selectors import terminology

        return terminology(self.ctcae_version).by_code.get(self.term)

    @property
    def term_name(self) -> str:
        """The term's name; for an "Other, specify" term, the verbatim term with it."""
        t = self.ctcae_term
        name = t.name if t else self.term
        return f"{name}: {self.verbatim}" if self.verbatim else name

    @property
    def soc(self) -> str:
        t = self.ctcae_term
        return t.soc if t else ""

    @property
    def event_id_root(self) -> int:
        return self.event_id or self.id


class ConMed(models.Model):
    """A concomitant medication (the standard CRF: drug, indication, dose, route, start, stop or ongoing).

    The supportive care the DLT rules read (protocol s.3: G-CSF for H2, maximal antiemetic or antidiarrheal
    therapy for N2, steroids for N6) is its `category`; linked to the adverse events it treats, it gives each
    of them that supportive care where its dates overlap the event's (toxicity.dlt.supportive_from_conmeds).
    Retracted as entered in error, never deleted."""

    class Category(models.TextChoices):
        GCSF = Supportive.GCSF.value, "G-CSF"
        ANTIEMETIC = Supportive.ANTIEMETIC.value, "Maximal antiemetic therapy"
        ANTIDIARRHEAL = Supportive.ANTIDIARRHEAL.value, "Maximal antidiarrheal therapy"
        STEROIDS = Supportive.STEROIDS.value, "Steroids"
        OTHER = "other", "Other"

    class Route(models.TextChoices):
        ORAL = "oral", "Oral"
        IV = "iv", "Intravenous"
        SC = "sc", "Subcutaneous"
        IM = "im", "Intramuscular"
        TOPICAL = "topical", "Topical"
        INHALED = "inhaled", "Inhalation"
        RECTAL = "rectal", "Rectal"
        OTHER = "other", "Other"

    patient = models.ForeignKey("cohorts.Patient", on_delete=models.PROTECT, related_name="conmeds")
    drug = models.CharField("Drug", max_length=200, help_text="Generic name, e.g. filgrastim")
    indication = models.CharField(max_length=200)
    dose = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)
    dose_unit = models.CharField("Dose unit", max_length=20, blank=True, help_text="e.g. mg, ug, mg/m2, IU")
    frequency = models.CharField(max_length=40, blank=True, help_text="e.g. once daily, as needed")
    route = models.CharField(max_length=10, choices=Route.choices)
    start = models.DateField("Start date")
    stop = models.DateField("Stop date", null=True, blank=True)
    ongoing = models.BooleanField(default=False, help_text="Still taken (no stop date)")
    category = models.CharField("Supportive-care category", max_length=20, choices=Category.choices, default=Category.OTHER)
    adverse_events = models.ManyToManyField(AdverseEvent, blank=True, related_name="conmeds", help_text="The adverse events it treats")
    notes = models.TextField(blank=True)
    in_error = models.BooleanField("Entered in error", default=False, help_text="Retracted, never deleted: the rules ignore it")
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords(m2m_fields=[adverse_events])

    class Meta:
        verbose_name = "concomitant medication"
        ordering = ["patient", "start", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(stop__isnull=True) | Q(stop__gte=F("start")), name="conmed_stop_after_start"),
            models.CheckConstraint(condition=~(Q(ongoing=True) & Q(stop__isnull=False)), name="conmed_ongoing_has_no_stop"),
        ]
        indexes = [models.Index(fields=["patient", "start"])]

    def __str__(self) -> str:
        return f"{self.drug} from {self.start}"


class LabResult(models.Model):
    """A dated hematology panel, stored in x10^9/L (hemoglobin g/dL, temperature C)."""

    patient = models.ForeignKey("cohorts.Patient", on_delete=models.PROTECT, related_name="labs")
    on = models.DateField("Date")
    anc = models.DecimalField("ANC (x10^9/L)", max_digits=6, decimal_places=2, null=True, blank=True)
    platelets = models.DecimalField("Platelets (x10^9/L)", max_digits=6, decimal_places=1, null=True, blank=True)
    hemoglobin = models.DecimalField("Hemoglobin (g/dL)", max_digits=4, decimal_places=1, null=True, blank=True)
    wbc = models.DecimalField("WBC (x10^9/L)", max_digits=6, decimal_places=2, null=True, blank=True)
    temperature = models.DecimalField("Temperature (C)", max_digits=4, decimal_places=1, null=True, blank=True)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "on"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "on"], name="one_lab_panel_per_day"),
            models.CheckConstraint(
                condition=Q(anc__isnull=False) | Q(platelets__isnull=False) | Q(hemoglobin__isnull=False) | Q(wbc__isnull=False) | Q(temperature__isnull=False),
                name="lab_has_a_value",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} labs {self.on}"


class DltProposal(models.Model):
    """A DLT the rules propose, until an investigator confirms or rejects it."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Awaiting review"
        CONFIRMED = "confirmed", "Confirmed"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "No longer proposed by the rules"
        REOPENED = "reopened", "Reopened: data behind it changed"

    # House style 11: the moves the services make, and no other (trialsite.states.move refuses the rest).
    # The rules propose, withdraw, propose again and reopen (services/evaluation.py); investigators confirm or
    # reject an open proposal, and a correction of the data behind an adjudicated one reopens it
    # (services/adjudication.py). A reopened proposal the rules no longer make is reopened again, with that reason.
    MOVES = Machine(
        "DLT proposal",
        {
            Status.PROPOSED: frozenset({Status.CONFIRMED, Status.REJECTED, Status.WITHDRAWN}),
            Status.CONFIRMED: frozenset({Status.REOPENED}),
            Status.REJECTED: frozenset({Status.REOPENED}),
            Status.WITHDRAWN: frozenset({Status.PROPOSED}),
            Status.REOPENED: frozenset({Status.CONFIRMED, Status.REJECTED, Status.REOPENED}),
        },
        labels=dict(Status.choices),
    )

    patient = models.ForeignKey("cohorts.Patient", on_delete=models.PROTECT, related_name="dlt_proposals")
    key = models.CharField(max_length=200, help_text="rule:onset:events, stable across re-evaluations")
    rule = models.CharField(max_length=3, choices=RULE_CHOICES)
    onset = models.DateField()
    sentence = models.TextField()
    evidence = models.JSONField(default=list, blank=True)
    event_ids = models.JSONField(default=list, blank=True)
    attribution_recorded = models.BooleanField(default=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    proposed_at = models.DateTimeField()
    adjudicated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    adjudicated_at = models.DateTimeField(null=True, blank=True)
    adjudication_reason = models.TextField(blank=True)
    review_note = models.TextField(blank=True, help_text="Why it awaits review again (reopened)")
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "onset", "rule"]
        constraints = [models.UniqueConstraint(fields=["patient", "key"], name="one_proposal_per_key")]

    def __str__(self) -> str:
        return f"{self.patient} {self.rule} {self.onset}"


class Dlt(models.Model):
    """A confirmed DLT: what the escalation engine reads. Withdrawn, never deleted."""

    patient = models.ForeignKey("cohorts.Patient", on_delete=models.PROTECT, related_name="dlts")
    proposal = models.OneToOneField(DltProposal, null=True, blank=True, on_delete=models.PROTECT, related_name="dlt")
    rule = models.CharField(max_length=3, choices=RULE_CHOICES)
    onset = models.DateField()
    sentence = models.TextField()
    evidence = models.JSONField(default=list, blank=True, help_text="Snapshot of the evidence at confirmation (empty for a DLT the rules missed)")
    reason = models.TextField(blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    confirmed_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_reason = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["patient", "onset"]

    def __str__(self) -> str:
        return f"DLT {self.rule} {self.patient} {self.onset}"


class DltEvaluation(models.Model):
    """The patient's latest DLT evaluation: evaluability (with the proposals, and of the window alone) and when it was computed."""

    class Status(models.TextChoices):
        EVALUABLE = "evaluable", "Evaluable"
        PENDING = "pending", "Pending"
        NOT_EVALUABLE = "not_evaluable", "Not evaluable"

    patient = models.OneToOneField("cohorts.Patient", on_delete=models.PROTECT, related_name="dlt_evaluation")
    status = models.CharField(max_length=14, choices=Status.choices)
    reason = models.TextField()
    until = models.DateField(null=True, blank=True)
    # The evaluability if no proposal counted (the rules' evaluability of the window alone): what the escalation
    # engine reads once the patient's proposals are adjudicated (a rejected proposal leaves the window to decide).
    window_status = models.CharField(max_length=14, choices=Status.choices, blank=True)
    window_reason = models.TextField(blank=True)
    window_until = models.DateField(null=True, blank=True)
    window_end = models.DateField(null=True, blank=True, help_text="The last day of the DLT window")
    evaluated_on = models.DateField()
    evaluated_at = models.DateTimeField()
    inputs_digest = models.CharField(max_length=64, help_text="Hash of the inputs: a re-run on the same data changes nothing")
    # The rules' version (toxicity.dlt.RULE_VERSION) it was made under: the nightly run evaluates again every patient
    # whose stored evaluation has another one. Rows stored before versions were made under version 1.
    rule_version = models.PositiveSmallIntegerField(default=1, help_text="Version of the DLT rules it was made under")
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.patient}: {self.get_status_display()}"
