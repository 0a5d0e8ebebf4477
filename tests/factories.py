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
