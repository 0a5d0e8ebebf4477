"""Reads for trials and patients, scoped by role in one place (house style point 6).

Each selector fetches what its page needs in a fixed number of queries,
whatever the number of patients.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404

from accounts.models import Site, User

from .models import Cohort, DoseLevel, DrugSchedule, Enrolment, LevelDose, Patient, Trial
from .status import STATUS_LABELS, PatientStatus


def trials_for_user(user: User) -> QuerySet[Trial]:
    return Trial.objects.order_by("code")


def trial_get(code: str) -> Trial:
    trial = Trial.objects.filter(code=code).select_related("starting_level").first()
    if trial is None:
        raise Http404(f"No trial {code}")
    return trial


def sites_for_user(user: User) -> QuerySet[Site]:
    sites = Site.objects.filter(active=True).order_by("number")
    return sites.filter(pk=user.site_id) if user.site_scoped else sites


def patients_for_user(user: User, trial: Trial | None = None) -> QuerySet[Patient]:
    """Patients the user may see: a coordinator only their own site's."""
    patients = Patient.objects.select_related("site", "trial", "enrolment__level", "enrolment__cohort")
    if trial is not None:
        patients = patients.filter(trial=trial)
    if user.site_scoped:
        patients = patients.filter(site_id=user.site_id)
    return patients.order_by("study_id")


def records_for_user(records: QuerySet, user: User, patient_path: str = "patient") -> QuerySet:
    """The records of the patients the user may see (as patients_for_user: a coordinator only their own site's),
    `patient_path` leading from a record to its patient. Filtered on the site itself rather than "patient in
    (every visible patient)": for the trial-wide roles nothing is filtered, so a list ordered by its own key reads
    just its page (a list of patients in an IN made SQLite gather and sort every record of the trial first)."""
    if user.site_scoped:
        return records.filter(**{f"{patient_path}__site_id": user.site_id})
    return records


STUDY_ID_TOKEN = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+")


@dataclass(frozen=True)
class SiteMask:
    """The patients a user may count but not identify (issue #17, point 4): another site's, for a coordinator.

    `hidden` maps each such patient's study id to its site number; it is empty for the trial-wide roles. Every
    read that shows the whole trial (the escalation page, its API, the decisions and their tallies) goes through
    it: study ids of hidden patients become "a site 02 patient" in text, and rows become counts per site."""

    hidden: dict[str, str] = field(default_factory=dict)

    def hides(self, study_id: str) -> bool:
        return study_id in self.hidden

    def site_of(self, study_id: str) -> str:
        return self.hidden[study_id]

    def text(self, value: str) -> str:
        """`value` with each hidden study id replaced by its site ("a site 02 patient")."""
        if not self.hidden or not value:
            return value
        return STUDY_ID_TOKEN.sub(lambda m: f"a site {self.hidden[m.group(0)]} patient" if m.group(0) in self.hidden else m.group(0), value)


def site_mask(user: User, trial: Trial | None = None) -> SiteMask:
    """The mask of what `user` may not identify (one query, none for a trial-wide role)."""
    if not user.site_scoped:
        return SiteMask()
    others = Patient.objects.exclude(site_id=user.site_id)
    if trial is not None:
        others = others.filter(trial=trial)
    return SiteMask(dict(others.values_list("study_id", "site__number")))


SEARCH_LIMIT = 50


def patient_search(user: User, text: str) -> list[Patient]:
    """The header search (issue #16): patients whose study id contains the text, or whose initials are
    the text, among those the user may see (a coordinator: their own site's only); at most SEARCH_LIMIT."""
    text = text.strip()
    if not text:
        return []
    found = patients_for_user(user).filter(Q(study_id__icontains=text) | Q(initials__iexact=text))
    return list(found[:SEARCH_LIMIT])


def patient_get_for_user(user: User, study_id: str) -> Patient:
    patient = patients_for_user(user).filter(study_id=study_id).first()
    if patient is None:
        # Same answer whether the patient does not exist or is at another site.
        raise Http404("No such patient")
    return patient


# ---------------------------------------------------------------- trial home


@dataclass(frozen=True)
class LevelRow:
    level: DoseLevel
    doses: list[LevelDose]
    patients: int
    is_starting: bool
    is_open: bool


@dataclass(frozen=True)
class CapRow:
    name: str
    used: int
    cap: int

    @property
    def left(self) -> int:
        return max(self.cap - self.used, 0)


@dataclass(frozen=True)
class TrialOverview:
    trial: Trial
    levels: list[LevelRow]
    schedules: list[DrugSchedule]
    open_cohort: Cohort | None
    open_cohort_taken: int
    caps: list[CapRow]
    status_counts: list[tuple[str, str, int]]
    site_counts: list[tuple[Site, int]]

    @property
    def open_slots(self) -> int:
        return free_slots(self.open_cohort, self.caps)


def open_cohort(trial: Trial) -> Cohort | None:
    """The trial's open cohort with its level and `taken`, its enrolments counted (one query)."""
    return Cohort.objects.filter(trial=trial, status=Cohort.Status.OPEN).select_related("level").annotate(taken=Count("enrolments")).first()


def enrolment_caps(trial: Trial) -> list[CapRow]:
    """The protocol's enrolment caps and what they have used (one query)."""
    counts = Enrolment.objects.filter(cohort__trial=trial).aggregate(
        total=Count("id"),
        escalation=Count("id", filter=Q(cohort__phase=Cohort.Phase.ESCALATION)),
        expansion=Count("id", filter=Q(cohort__phase=Cohort.Phase.EXPANSION)),
    )
    return [
        CapRow("Escalation", counts["escalation"], trial.cap_escalation),
        CapRow("Expansion", counts["expansion"], trial.cap_expansion),
        CapRow("Trial total", counts["total"], trial.cap_total),
    ]


def free_slots(cohort: Cohort | None, caps: list[CapRow]) -> int:
    """What can still be enrolled: the open cohort's free places (`open_cohort`), within every cap."""
    if cohort is None:
        return 0
    return max(0, min([cohort.capacity - cohort.taken, *(c.left for c in caps)]))


def trial_overview(trial: Trial, user: User) -> TrialOverview:
    """Levels with doses and patients per level, the open cohort, caps used: 10 queries, whatever the patients."""
    levels = list(
        DoseLevel.objects.filter(trial=trial)
        .order_by("order")
        .prefetch_related(Prefetch("doses", queryset=LevelDose.objects.select_related("drug").order_by("drug__order")))
    )
    per_level = dict(Enrolment.objects.filter(cohort__trial=trial).values_list("level_id").annotate(n=Count("id")).order_by())
    cohort = open_cohort(trial)
    caps = enrolment_caps(trial)
    visible = patients_for_user(user, trial)
    by_status = dict(visible.values_list("status").annotate(n=Count("id")).order_by())
    status_counts = [(s.value, STATUS_LABELS[s], by_status.get(s.value, 0)) for s in PatientStatus]
    sites = {s.id: s for s in sites_for_user(user)}
    by_site = dict(visible.values_list("site_id").annotate(n=Count("id")).order_by())
    site_counts = [(site, by_site.get(site_id, 0)) for site_id, site in sites.items()]
    schedules = list(DrugSchedule.objects.filter(drug__trial=trial).select_related("drug").order_by("drug__order", "first_cycle"))
    return TrialOverview(
        trial=trial,
        levels=[
            LevelRow(
                level=lv,
                doses=list(lv.doses.all()),
                patients=per_level.get(lv.id, 0),
                is_starting=lv.id == trial.starting_level_id,
                is_open=cohort is not None and cohort.level_id == lv.id,
            )
            for lv in levels
        ],
        schedules=schedules,
        open_cohort=cohort,
        open_cohort_taken=cohort.taken if cohort else 0,
        caps=caps,
        status_counts=status_counts,
        site_counts=site_counts,
    )


# ---------------------------------------------------------------- audit trail


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: object
    new: object


@dataclass(frozen=True)
class HistoryEntry:
    when: datetime
    who: str
    record: str
    action: str
    reason: str
    changes: list[FieldChange]


def _display(value: object) -> str | None:
    """Audit values as a clinician reads them: ISO dates, criteria as 'I1 yes, I2 no'."""
    if value is None or value == "":
        return None
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return ", ".join(f"{k} {'yes' if v is True else 'no' if v is False else v}" for k, v in value.items())
    return str(value)


def history_differ(model):
    """A function (version, previous version) -> the changed fields as a clinician reads them
    (verbose names, choice labels, ISO dates); shared by the patient page and the audit trail browser."""
    fields = {f.name: f for f in model._meta.fields}
    labels = {name: str(f.verbose_name) for name, f in fields.items()}
    choices = {name: dict(f.choices) for name, f in fields.items() if f.choices}

    def show(name: str, value: object) -> str | None:
        return _display(choices[name].get(value, value) if name in choices else value)

    def changes(rec, previous) -> list[FieldChange]:
        if previous is None or rec.history_type == "+":
            return []
        delta = rec.diff_against(previous, foreign_keys_are_objs=False)
        return [FieldChange(labels.get(c.field, c.field), show(c.field, c.old), show(c.field, c.new)) for c in delta.changes]

    return changes


def _entries(records: list, model) -> list[HistoryEntry]:
    differ = history_differ(model)
    entries = []
    previous = None
    for rec in records:
        changes = differ(rec, previous)
        action = "Created" if rec.history_type == "+" else "Changed"
        user = rec.history_user
        entries.append(
            HistoryEntry(
                when=rec.history_date,
                who=(user.get_full_name() or user.username) if user else "system",
                record=str(model._meta.verbose_name).capitalize(),
                action=action,
                reason=rec.history_change_reason or "",
                changes=changes,
            )
        )
        previous = rec
    return entries


def patient_history(patient: Patient) -> list[HistoryEntry]:
    """Who changed what and why, newest first: the patient and their enrolment (2 queries)."""
    records = list(patient.history.select_related("history_user").order_by("history_date", "history_id"))
    entries = _entries(records, Patient)
    enrolment_records = list(Enrolment.history.filter(patient_id=patient.pk).select_related("history_user").order_by("history_date", "history_id"))
    entries += _entries(enrolment_records, Enrolment)
    return sorted(entries, key=lambda e: e.when, reverse=True)
