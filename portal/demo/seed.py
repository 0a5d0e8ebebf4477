"""Demo and synthetic data: the demo trial for `make run`, and data sets of any size.

The demo trial goes through the real services (portal/demo/story.py), so its
history reads like a real site's and every derived number is the product's own.
Synthetic sets of thousands of patients are bulk-written, with their history
rows, for benchmarks and load tests.
"""

from __future__ import annotations

import random
import secrets
import string
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.models import Site, User
from accounts.roles import Role
from cohorts.models import Cohort, DoseLevel, Enrolment, Patient, Trial
from cohorts.protocol import read_protocol
from cohorts.services import protocol_load
from cohorts.status import PatientStatus
from dosing import schedule
from dosing.models import Administration, Cycle, PlannedDose
from dosing.services import level_doses
from toxicity.services.terminology import ctcae_ensure

from .response import Summary as ResponseSummary
from .response import synthetic_assessments
from .story import OPENED_DAYS_AGO, DemoError, Story, write_demo_trial
from .toxicity import Summary as ToxicitySummary
from .toxicity import synthetic_toxicity

DEMO_SITES = [("01", "City Hospital Myeloma Unit"), ("02", "University Cancer Centre")]
DEMO_USERS = [
    ("coord01", Role.COORDINATOR, "01", "Carla", "Coordinator"),
    ("coord02", Role.COORDINATOR, "02", "Conor", "Coordinator"),
    ("investigator", Role.INVESTIGATOR, None, "Ines", "Investigator"),
    ("datamanager", Role.DATA_MANAGER, None, "Dana", "Datamanager"),
    ("monitor", Role.MONITOR, None, "Mo", "Monitor"),
    ("admin", Role.ADMIN, None, "Ada", "Admin"),
]
FIRST = "ABCDEFGHJKLMNPRSTVW"


def new_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(14))


def ensure_trial(path=None, *, today: date | None = None) -> Trial:
    """The protocol loaded (a no-op when it is); `today`: the day a first load opens cohort 1."""
    trial = protocol_load(spec=read_protocol(path or settings.TRIALSITE_DEFAULT_PROTOCOL), today=today).trial
    ctcae_ensure(version=trial.ctcae_version)  # the migrations load it; a database emptied since is loaded again
    return trial


def ensure_sites() -> list[Site]:
    sites = []
    for number, name in DEMO_SITES:
        site, _ = Site.objects.get_or_create(number=number, defaults={"name": name})
        sites.append(site)
    return sites


def ensure_users() -> list[tuple[str, str, str]]:
    """Create the demo users that do not exist yet; return (username, role, password) of the new ones."""
    created = []
    for username, role, site_number, first, last in DEMO_USERS:
        if User.objects.filter(username=username).exists():
            continue
        password = new_password()
        site = Site.objects.get(number=site_number) if site_number else None
        # The printed password has been seen on a terminal: it is changed at the first login (issue #16).
        user = User(
            username=username,
            role=role,
            site=site,
            first_name=first,
            last_name=last,
            is_staff=role == Role.ADMIN,
            is_superuser=role == Role.ADMIN,
            must_change_password=True,
        )
        user.set_password(password)
        user.save()
        created.append((username, Role(role).label, password))
    return created


def demo_opened_on(today: date | None = None) -> date:
    """The day the demo trial opened cohort 1, before its first consent."""
    return (today or timezone.localdate()) - timedelta(days=OPENED_DAYS_AGO)


def seed_demo_trial(trial: Trial, *, passwords: dict[str, str], today: date | None = None) -> Story | None:
    """The demo trial in progress (portal/demo/story.py), through the services, in the caller's transaction.

    Returns None, writing nothing, when the trial already holds patients: `make run` calls it on every
    start, so a second run is a quick no-op. The investigator signs the DLTs and escalation decisions and the data manager
    the cycle lock with their passwords, so the demo users must have been created in the same run (`passwords`)."""
    if trial.patients.exists():
        return None
    password, dm_password = passwords.get("investigator"), passwords.get("datamanager")
    if password is None or dm_password is None:
        raise DemoError(
            "The demo users already exist but the trial holds no patients: the investigator's and the data manager's signatures need their passwords, "
            "known only when the demo creates them. Start from an empty database (e.g. remove db.sqlite3)."
        )
    return write_demo_trial(trial, today=today or timezone.localdate(), investigator_password=password, datamanager_password=dm_password)


# ---------------------------------------------------------------- synthetic data


@dataclass(frozen=True)
class SyntheticResult:
    trial: Trial
    patients: int
    enrolled: int
    toxicity: ToxicitySummary | None = None
    response: ResponseSummary | None = None


def synthetic_trial(code: str, patients: int) -> Trial:
    """A copy of the default protocol, sized to hold `patients` (never a real trial)."""
    spec = read_protocol(settings.TRIALSITE_DEFAULT_PROTOCOL)
    trial = Trial.objects.filter(code=code).first()
    if trial is None:
        t = replace(
            spec.trial,
            code=code,
            nct_id="",
            title=f"Synthetic copy of {spec.trial.code} for benchmarks (not a real trial)",
            cap_expansion=max(patients, spec.trial.cap_expansion),
            cap_total=max(patients, spec.trial.cap_total) + spec.trial.cap_escalation,
        )
        trial = protocol_load(spec=replace(spec, trial=t)).trial
    return trial


def _escalation_plan(trial: Trial, levels: list[DoseLevel]) -> list[tuple[DoseLevel, str, int]]:
    """Cohorts (level, phase, size): 3+3 up the ladder from the starting level, expansion at the
    level below the top (a plausible MTD), within the trial's caps."""
    start = next(i for i, lv in enumerate(levels) if lv.id == trial.starting_level_id)
    plan = []
    for i, level in enumerate(levels[start:]):
        plan.append((level, Cohort.Phase.ESCALATION, trial.cohort_size))
        if i % 2 == 1:  # every second level needed expanding to 6
            plan.append((level, Cohort.Phase.ESCALATION, trial.cohort_max_size - trial.cohort_size))
    mtd = levels[-2] if len(levels) - start > 1 else levels[-1]
    escalation = sum(size for _, _, size in plan)
    expansion = max(0, min(trial.cap_expansion, trial.cap_total - escalation))
    while expansion > 0:
        size = min(trial.cohort_max_size, expansion)
        plan.append((mtd, Cohort.Phase.EXPANSION, size))
        expansion -= size
    return plan


@transaction.atomic
def seed_synthetic(
    *,
    trial: Trial,
    patients: int,
    seed: int,
    cycles: int = 0,
    today: date | None = None,
    span_days: int = 3 * 365,
    latest_days_ago: int = 0,
    toxicity: bool = False,
    assessments: int = 0,
) -> SyntheticResult:
    """Add `patients` synthetic patients: enrolled cohorts as far as the caps allow, the rest screened.

    Consents are spread over the last `span_days` days (three years by default), oldest first,
    the newest at least `latest_days_ago` days ago (0 by default).
    With `cycles`, every treated patient also gets up to that many cycles (as many as
    fit between enrolment and today), each with its plan and every dose recorded as given.
    With `toxicity`, every patient who started cycle 1 also gets its lab panels and adverse
    events (portal/demo/toxicity.py: about one in five with a pattern the DLT rules propose).
    With `assessments`, every patient who started cycle 1 also gets up to that many myeloma
    assessments (a baseline, then one each cycle length) and some follow-up (portal/demo/response.py).
    """
    rng = random.Random(seed)
    today = today or timezone.localdate()
    sites = list(Site.objects.filter(active=True).order_by("number")) or ensure_sites()
    system = _synthetic_user()
    levels = list(DoseLevel.objects.filter(trial=trial).order_by("order"))
    fresh = Cohort.objects.filter(trial=trial).count() <= 1 and not Enrolment.objects.filter(cohort__trial=trial).exists()
    plan = _escalation_plan(trial, levels) if fresh else []
    enrol_total = min(patients, sum(size for _, _, size in plan))
    cohort_rows, slots = _planned_cohorts(trial, plan, enrol_total, today=today)
    people = Population(trial=trial, sites=sites, rng=rng, count=patients, enrol_total=enrol_total, span=span_days, latest_days_ago=latest_days_ago)
    new_patients = [people.patient(index, registered_by=system, today=today) for index in range(patients)]
    if cohort_rows:
        _move_open_cohort(trial, plan, len(cohort_rows) + 1, by=system)
    created_cohorts = bulk_create_with_history(cohort_rows, Cohort, default_user=system, default_change_reason="Synthetic data")
    created_patients = bulk_create_with_history(new_patients, Patient, batch_size=1000, default_user=system, default_change_reason="Synthetic data")
    if created_cohorts and created_cohorts[0].pk is None:  # a backend that returns no primary keys
        created_cohorts = list(Cohort.objects.filter(trial=trial, number__lte=len(cohort_rows)).order_by("number"))
    if created_patients and created_patients[0].pk is None:
        by_id = {p.study_id: p for p in Patient.objects.filter(trial=trial, study_id__in=[p.study_id for p in new_patients])}
        created_patients = [by_id[p.study_id] for p in new_patients]
    enrolments = _enrolments(rng, created_patients[:enrol_total], created_cohorts, slots, by=system, today=today)
    bulk_create_with_history(enrolments, Enrolment, batch_size=1000, default_user=system, default_change_reason="Synthetic data")
    result = SyntheticResult(trial=trial, patients=patients, enrolled=len(enrolments))
    if cycles:
        treated = [e for e in enrolments if e.patient.status != PatientStatus.ENROLLED]
        synthetic_treatment(treated, cycles=cycles, by=system, today=today)
        result = _synthetic_clinical(result, [e.patient for e in treated], seed=seed, by=system, today=today, toxicity=toxicity, assessments=assessments)
    return result


def _synthetic_user() -> User:
    """The inactive user that synthetic data is recorded by."""
    system = User.objects.filter(username="synthetic").first()
    if system is None:
        system = User.objects.create(username="synthetic", role=Role.MONITOR, is_active=False, first_name="Synthetic data")
        system.set_unusable_password()
        system.save()
    return system


def _planned_cohorts(trial: Trial, plan: list[tuple[DoseLevel, str, int]], enrol_total: int, *, today: date) -> tuple[list[Cohort], list[tuple[int, int]]]:
    """The closed cohorts of the synthetic history, and each enrolled patient's (cohort index, slot)."""
    cohort_rows: list[Cohort] = []
    slots: list[tuple[int, int]] = []
    remaining = enrol_total
    for level, phase, size in plan:
        if remaining <= 0:
            break
        take = min(size, remaining)
        number = len(cohort_rows) + 1
        cohort_rows.append(Cohort(trial=trial, level=level, number=number, phase=phase, capacity=size, status=Cohort.Status.CLOSED, opened_on=today))
        slots.extend((len(cohort_rows) - 1, slot) for slot in range(1, take + 1))
        remaining -= take
    return cohort_rows, slots


def _move_open_cohort(trial: Trial, plan: list[tuple[DoseLevel, str, int]], number: int, *, by: User) -> None:
    """The trial keeps one open cohort: after the synthetic history it is the last planned level's."""
    open_cohort = Cohort.objects.get(trial=trial, status=Cohort.Status.OPEN)
    last_level, last_phase, _ = plan[-1]
    open_cohort.number, open_cohort.level, open_cohort.phase = number, last_level, last_phase
    open_cohort._history_user, open_cohort._change_reason = by, "Synthetic data"
    open_cohort.save()


@dataclass
class Population:
    """Synthetic patients of a trial, one site after the other, consents oldest first (drawn from `rng` in order)."""

    trial: Trial
    sites: list[Site]
    rng: random.Random
    count: int
    enrol_total: int
    span: int
    latest_days_ago: int
    sequences: dict[int, int] = field(default_factory=dict)

    def __post_init__(self):
        last_sequence = Patient.objects.filter(trial=self.trial).values("site_id").annotate(last=Max("site_sequence"))
        self.sequences = {s.id: 0 for s in self.sites} | {row["site_id"]: row["last"] for row in last_sequence}
        self.criteria = dict.fromkeys(self.trial.criteria_codes, True)

    def patient(self, index: int, *, registered_by: User, today: date) -> Patient:
        rng, trial = self.rng, self.trial
        site = self.sites[index % len(self.sites)]
        self.sequences[site.id] += 1
        seq = self.sequences[site.id]
        enrolled = index < self.enrol_total
        days_ago = self.latest_days_ago + self.span - int(self.span * index / max(self.count, 1))
        consent = today - timedelta(days=days_ago + rng.randint(1, 20))
        born = consent - timedelta(days=rng.randint(45 * 365, 82 * 365))
        sex = rng.choice("FM")
        height = Decimal(rng.randint(150, 192) if sex == "M" else rng.randint(145, 180))
        weight = Decimal(rng.randint(50, 105)) + Decimal(rng.randint(0, 9)) / 10
        status, reason = self.status(days_ago) if enrolled else rng.choice([(PatientStatus.SCREENING, ""), (PatientStatus.OFF_STUDY, "screen_failure")])
        eligible = enrolled or status == PatientStatus.SCREENING
        return Patient(
            trial=trial,
            site=site,
            study_id=f"{trial.code}-{site.number}-{seq:03d}",
            site_sequence=seq,
            initials=rng.choice(FIRST) + rng.choice(FIRST),
            date_of_birth=born,
            sex=sex,
            height_cm=height,
            weight_kg=weight,
            consent_date=consent,
            eligibility=self.criteria if eligible else {**self.criteria, trial.criteria_codes[0]: False},
            baseline_anc=Decimal(rng.randint(80, 450)) / 100,
            baseline_platelets=Decimal(rng.randint(60, 320)),
            baseline_marrow_pc_pct=Decimal(rng.randint(5, 80)),
            status=status,
            status_reason=reason,
            status_date=min(consent + timedelta(days=rng.randint(1, 10)), today),
            registered_by=registered_by,
        )

    def status(self, days_ago: int) -> tuple[str, str]:
        """An enrolled patient's status by how long ago they consented."""
        if days_ago > 2 * 365 + 180:
            return PatientStatus.OFF_STUDY, "follow_up_complete"
        if days_ago > 240:
            return PatientStatus.FOLLOW_UP, ""
        if days_ago > 120:
            return PatientStatus.OFF_TREATMENT, self.rng.choice(["progression", "toxicity", "withdrawal"])
        return PatientStatus.ON_TREATMENT, ""


def _enrolments(rng: random.Random, patients: list[Patient], cohorts: list[Cohort], slots: list[tuple[int, int]], *, by: User, today: date) -> list[Enrolment]:
    enrolments = []
    for patient, (cohort_index, slot) in zip(patients, slots, strict=True):
        cohort = cohorts[cohort_index]
        enrolled_on = min(patient.consent_date + timedelta(days=rng.randint(1, 7)), today)
        enrolments.append(Enrolment(patient=patient, cohort=cohort, level_id=cohort.level_id, slot=slot, enrolled_on=enrolled_on, enrolled_by=by))
    return enrolments


def _synthetic_clinical(
    result: SyntheticResult, treated: list[Patient], *, seed: int, by: User, today: date, toxicity: bool, assessments: int
) -> SyntheticResult:
    """Toxicity and myeloma assessments for the treated synthetic patients, as asked."""
    if toxicity:
        result = replace(result, toxicity=synthetic_toxicity(treated, seed=seed, by=by, today=today))
    if assessments:
        result = replace(result, response=synthetic_assessments(treated, seed=seed, by=by, today=today, per_patient=assessments))
    return result


def synthetic_treatment(enrolments: list[Enrolment], *, cycles: int, by: User, today: date) -> int:
    """Bulk cycles, plans and administrations (all given as planned) for synthetic patients."""
    if not enrolments:
        return 0
    trial = enrolments[0].cohort.trial
    length = trial.cycle_length_days
    doses_by_level = {}
    drugs = {d.code: d for d in trial.drugs.all()}
    cycle_rows, plans = [], []
    for e in enrolments:
        if e.level_id not in doses_by_level:
            doses_by_level[e.level_id] = level_doses(e.level)
        p = e.patient
        for n in range(1, cycles + 1):
            day1 = e.enrolled_on + timedelta(days=1 + length * (n - 1))
            if day1 > today:
                break
            bsa = schedule.bsa_recorded(p.height_cm, p.weight_kg)
            cycle_rows.append(
                Cycle(
                    patient=p,
                    number=n,
                    planned_day1=day1,
                    day1=day1,
                    level_id=e.level_id,
                    height_cm=p.height_cm,
                    weight_kg=p.weight_kg,
                    bsa_m2=bsa,
                    started_by=by,
                )
            )
            plans.append(schedule.cycle_plan(cycle=n, day1=day1, doses=doses_by_level[e.level_id], height_cm=p.height_cm, weight_kg=p.weight_kg))
    created = bulk_create_with_history(cycle_rows, Cycle, batch_size=1000, default_user=by, default_change_reason="Synthetic data")
    planned_rows = [
        PlannedDose(cycle=c, drug=drugs[d.drug], day=d.day, planned_on=d.on, dose_mg=d.dose_mg, basis=d.basis[:300])
        for c, plan in zip(created, plans, strict=True)
        for d in plan
    ]
    planned_rows = bulk_create_with_history(planned_rows, PlannedDose, batch_size=2000, default_user=by, default_change_reason="Synthetic data")
    given = [
        Administration(
            cycle=pd.cycle,
            planned=pd,
            drug=pd.drug,
            day=pd.day,
            given_on=pd.planned_on,
            status=Administration.Status.GIVEN,
            dose_mg=pd.dose_mg,
            route=pd.drug.route,
            entered_by=by,
        )
        for pd in planned_rows
        if pd.planned_on <= today
    ]
    bulk_create_with_history(given, Administration, batch_size=2000, default_user=by, default_change_reason="Synthetic data")
    return len(created)
