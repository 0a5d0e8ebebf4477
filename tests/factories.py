"""Factories for tests. Trials come from the real protocol files (see conftest)."""

from datetime import date, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import Site, User
from accounts.roles import Role
from cohorts.models import Patient
from cohorts.services import patient_register

PASSWORD = "correct-horse-battery-9"


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ("number",)

    number = factory.Sequence(lambda n: f"{n + 1:02d}")
    name = factory.LazyAttribute(lambda o: f"Site {o.number}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    role = Role.MONITOR
    site = None

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save()


def registration_values(trial, **overrides) -> dict:
    """Values of an eligible, consented patient; override any of them."""
    today = timezone.localdate()
    values = {
        "initials": "AB",
        "date_of_birth": date(1960, 5, 17),
        "sex": Patient.Sex.FEMALE,
        "height_cm": Decimal("165.0"),
        "weight_kg": Decimal("68.0"),
        "consent_date": today - timedelta(days=7),
        "eligibility": dict.fromkeys(trial.criteria_codes, True),
        "baseline_anc": Decimal("2.10"),
        "baseline_platelets": Decimal("180.0"),
        "baseline_marrow_pc_pct": Decimal("30.0"),
    }
    values.update(overrides)
    return values


_counter = iter(range(1, 10**6))


def register_patient(trial, site, by, **overrides) -> Patient:
    """Register a patient through the real service, with unique initials and date of birth."""
    n = next(_counter)
    overrides.setdefault("initials", "A" + chr(ord("A") + n % 26) + chr(ord("A") + (n // 26) % 26))
    overrides.setdefault("date_of_birth", date(1940, 1, 1) + timedelta(days=n))
    return patient_register(trial=trial, site=site, by=by, **registration_values(trial, **overrides))


def treat_patient(trial, site, by, *, day1: date, cycle2_after: int | None = 28, delay_reason: str = "") -> Patient:
    """A patient (170 cm, 70 kg) consented 20 days and enrolled 10 days before `day1`, in cycle 1 from `day1`, and in
    cycle 2 `cycle2_after` days later (None: not yet), through the real services."""
    from cohorts.services import patient_enroll
    from dosing.services import cycle_start

    patient = register_patient(trial, site, by, consent_date=day1 - timedelta(days=20), height_cm=Decimal("170.0"), weight_kg=Decimal("70.0"))
    patient_enroll(patient=patient, by=by, enrolled_on=day1 - timedelta(days=10))
    cycle_start(patient=patient, by=by, day1=day1, weight_kg=Decimal("70.0"))
    if cycle2_after is not None:
        cycle_start(patient=patient, by=by, day1=day1 + timedelta(days=cycle2_after), weight_kg=Decimal("70.0"), delay_reason=delay_reason)
    patient.refresh_from_db()
    return patient


H2_ATTRIBUTION = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}


def propose_h2(patient, by):
    """A grade 4 neutropenia of 10 days in cycle 1 with G-CSF (cycle 1 days 10 to 19, ANC 0.4 then 0.9), evaluated:
    the rules' H2 proposal."""
    from toxicity.ctcae import meddra
    from toxicity.models import DltProposal
    from toxicity.services import ae_record, dlt_evaluate_many, lab_record

    c1 = patient.cycles.get(number=1).day1
    ae_record(
        patient=patient,
        by=by,
        term=meddra("Neutrophil count decreased"),
        grade=4,
        onset=c1 + timedelta(days=9),
        resolved=c1 + timedelta(days=18),
        outcome="recovered",
        attribution=H2_ATTRIBUTION,
        supportive=["gcsf"],
    )
    for n, anc in ((9, "0.4"), (18, "0.9")):
        lab_record(patient=patient, by=by, on=c1 + timedelta(days=n), anc=anc)
    dlt_evaluate_many([patient.pk])
    return DltProposal.objects.get(patient=patient, rule="H2")
