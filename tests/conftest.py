"""Shared fixtures: the BPD trial loaded from its protocol file, two sites, named personas.

Personas (house style point 16): Alice coordinates at site 01, Bob at site 02,
Ivan is an investigator, Dana the data manager, Mona the read-only monitor,
Olga an outsider with an account but no trial role.
"""

from pathlib import Path

import pytest
from django.conf import settings

from accounts.roles import Role
from cohorts.protocol import read_protocol
from cohorts.services import protocol_load
from toxicity.services.terminology import ctcae_ensure

from .factories import PASSWORD, SiteFactory, UserFactory, register_patient

PROTOCOLS = Path(settings.BASE_DIR) / "protocols"


def pytest_configure(config):
    # A fast hasher: tests create many users; production keeps Django's PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _celery_inline():
    """Tasks run inline in tests, whatever CELERY_BROKER_URL says; the worker tests
    (tests/celery) start a real worker on Redis and switch this off."""
    from trialsite.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = True


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The API throttle counts requests in the cache (per process): each test starts with none counted."""
    from django.core.cache import cache

    cache.clear()
    return


@pytest.fixture
def trial(db):
    trial = protocol_load(spec=read_protocol(PROTOCOLS / "bpd.toml")).trial
    # The terminology comes with the migrations (toxicity 0005); a transactional test's flush empties the table.
    ctcae_ensure(version=trial.ctcae_version)
    return trial


@pytest.fixture
def site_a(db):
    return SiteFactory(number="01", name="City Hospital")


@pytest.fixture
def site_b(db):
    return SiteFactory(number="02", name="University Centre")


@pytest.fixture
def alice(site_a):
    return UserFactory(username="alice", role=Role.COORDINATOR, site=site_a)


@pytest.fixture
def bob(site_b):
    return UserFactory(username="bob", role=Role.COORDINATOR, site=site_b)


@pytest.fixture
def ivan(db):
    return UserFactory(username="ivan", role=Role.INVESTIGATOR)


@pytest.fixture
def dana(db):
    return UserFactory(username="dana", role=Role.DATA_MANAGER)


@pytest.fixture
def mona(db):
    return UserFactory(username="mona", role=Role.MONITOR)


@pytest.fixture
def olga(db):
    return UserFactory(username="olga", role="")


@pytest.fixture
def personas(alice, bob, ivan, dana, mona, olga):
    return {"alice": alice, "bob": bob, "ivan": ivan, "dana": dana, "mona": mona, "olga": olga}


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def patient_a(trial, site_a, alice):
    """A consented, eligible patient in screening at site 01."""
    return register_patient(trial, site_a, alice)


@pytest.fixture
def patient_b(trial, site_b, bob):
    return register_patient(trial, site_b, bob)


@pytest.fixture
def treated(trial, site_a, alice):
    """A patient at site 01 enrolled at level 1 a year ago (height 180 cm), ready for cycle 1."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from cohorts.services import patient_enroll

    today = timezone.localdate()
    patient = register_patient(trial, site_a, alice, consent_date=today - timedelta(days=400), height_cm=Decimal("180.0"), weight_kg=Decimal("80.0"))
    patient_enroll(patient=patient, by=alice, enrolled_on=today - timedelta(days=395))
    patient.refresh_from_db()
    return patient


@pytest.fixture
def on_c1(treated, alice):
    """The treated patient in cycle 1, started 390 days ago (the DLT window and cycle 2 day 1 are long past)."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from dosing.services import cycle_start

    cycle_start(patient=treated, by=alice, day1=timezone.localdate() - timedelta(days=390), weight_kg=Decimal("80.0"))
    return treated
