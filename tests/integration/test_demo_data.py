"""Demo and synthetic data: deterministic, consistent with the services' rules."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F

from accounts.models import User
from cohorts.models import Enrolment, Patient, Trial
from dosing.models import Administration, Cycle, PlannedDose

pytestmark = pytest.mark.django_db


def test_demo_prints_passwords_once_and_is_idempotent():
    out = StringIO()
    call_command("seed_demo", demo=True, stdout=out)
    text = out.getvalue()
    assert "coord01" in text
    assert "passwords shown once" in text
    assert User.objects.filter(username__in=["coord01", "coord02", "investigator", "datamanager", "monitor", "admin"]).count() == 6
    assert Patient.objects.count() == 5
    assert Enrolment.objects.count() == 2
    assert Cycle.objects.count() == 2
    again = StringIO()
    call_command("seed_demo", demo=True, stdout=again)
    assert "coord01" not in again.getvalue()
    assert Patient.objects.count() == 5


def test_synthetic_data_is_deterministic_and_within_the_rules():
    call_command("seed_demo", patients=40, seed=7, synthetic="SYN", cycles=3, stdout=StringIO())
    trial = Trial.objects.get(code="SYN")
    first = list(Patient.objects.filter(trial=trial).order_by("study_id").values_list("initials", "date_of_birth", "status"))
    assert Enrolment.objects.filter(cohort__trial=trial).count() == 40
    for cycle in Cycle.objects.filter(patient__trial=trial).select_related("patient__enrolment"):
        assert cycle.day1 > cycle.patient.enrolment.enrolled_on
    assert PlannedDose.objects.filter(cycle__patient__trial=trial).count() >= Administration.objects.filter(cycle__patient__trial=trial).count() > 0
    assert not Administration.objects.exclude(dose_mg=F("planned__dose_mg")).exists()
    # The same seed in another synthetic trial gives the same patients.
    call_command("seed_demo", patients=40, seed=7, synthetic="SYM", cycles=0, stdout=StringIO())
    second = list(Patient.objects.filter(trial__code="SYM").order_by("study_id").values_list("initials", "date_of_birth", "status"))
    assert first == second
