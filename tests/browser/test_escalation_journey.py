"""An investigator reviews the engine's proposal on the escalation page and signs it with the password."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cohorts.models import Cohort
from cohorts.services import patient_enroll
from dosing.services import cycle_start
from escalation.models import EscalationDecision
from tests.factories import register_patient

pytestmark = pytest.mark.django_db(transaction=True)
VIEWPORTS = [{"width": 1366, "height": 900}, {"width": 820, "height": 1180}]


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["1366x900", "820x1180"])
def test_investigator_reviews_and_signs_the_escalation(page, live_server, login, trial, site_a, alice, ivan, password, viewport):
    c1 = timezone.localdate() - timedelta(days=90)
    for _ in range(3):
        p = register_patient(trial, site_a, alice, consent_date=c1 - timedelta(days=20), height_cm=Decimal("170.0"), weight_kg=Decimal("70.0"))
        patient_enroll(patient=p, by=alice, enrolled_on=c1 - timedelta(days=10))
        cycle_start(patient=p, by=alice, day1=c1, weight_kg=Decimal("70.0"))
        cycle_start(patient=p, by=alice, day1=c1 + timedelta(days=28), weight_kg=Decimal("70.0"))
    assert EscalationDecision.objects.get(status="proposed").action == "escalate"  # stored on commit, tasks inline

    page.set_viewport_size(viewport)
    login(page, ivan)
    page.goto(f"{live_server.url}/trials/{trial.code}/")
    expect(page.locator("#escalation-proposal")).to_contain_text("escalate level 2")
    page.click("#escalation-proposal >> text=Review")
    expect(page.locator("#proposal-reason")).to_have_text("0 DLTs in 3 at level 1: escalate to level 2.")
    expect(page.locator('#levels tr[data-level="1"]')).to_have_count(3)
    expect(page.locator("#path svg circle.cohort")).to_have_count(1)

    page.fill("#id_password", "not my password")
    page.click("#sign button[type=submit]")
    expect(page.locator("#sign #error-password")).to_contain_text("password is not correct")
    page.fill("#id_password", password)
    page.click("#sign button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Signed: escalate at level 2.")
    expect(page.locator('#history tr[data-status="signed"]')).to_contain_text(ivan.get_full_name())
    expect(page.locator("#carried-out")).to_contain_text("escalate at level 2")
    expect(page.locator("#engine-now")).to_contain_text("The engine expects next:")
    expect(page.locator("#open-cohort")).to_contain_text("cohort 2 at level 2")
    expect(page.locator("#sign")).to_have_count(0)
    assert Cohort.objects.get(trial=trial, status="open").level.label == 2
