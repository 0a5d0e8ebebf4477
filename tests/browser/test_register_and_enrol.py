"""A coordinator's first journey: register (with a mistake), correct, enrol, see the trial home."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cohorts.models import Patient
from tests.factories import register_patient

pytestmark = pytest.mark.django_db(transaction=True)


def fill_registration(page, trial, *, weight):
    page.select_option("#id_site", label="01 City Hospital")
    page.fill("#id_initials", "JD")
    page.fill("#id_date_of_birth", "1958-04-02")
    page.select_option("#id_sex", "M")
    page.fill("#id_height_cm", "176")
    page.fill("#id_weight_kg", weight)
    page.fill("#id_consent_date", (timezone.localdate() - timedelta(days=2)).isoformat())
    page.fill("#id_baseline_anc", "2.1")
    page.fill("#id_baseline_platelets", "190")
    page.fill("#id_baseline_marrow_pc_pct", "20")
    for code in trial.criteria_codes:
        page.check(f"#id_elig_{code}")


def test_coordinator_registers_corrects_weight_enrols_and_sees_level_1(page, live_server, login, trial, alice):
    login(page, alice)
    page.goto(f"{live_server.url}/trials/BPD/patients/new/")
    fill_registration(page, trial, weight="500")
    page.click("main button[type=submit]")

    expect(page.locator("#error-weight_kg")).to_contain_text("between 25 and 300 kg")
    expect(page.locator("main")).to_contain_text("Nothing was saved")
    assert Patient.objects.count() == 0

    # The other values are kept; only the weight needs correcting.
    expect(page.locator("#id_initials")).to_have_value("JD")
    page.fill("#id_weight_kg", "70")
    page.click("main button[type=submit]")

    expect(page.locator("h1")).to_contain_text("BPD-01-001")
    expect(page.locator("#patient-status")).to_have_text("Screening")
    page.click("#enrolment button:has-text('Enrol')")
    expect(page.locator(".messages")).to_contain_text("BPD-01-001 enrolled at level 1 (cohort 1, slot 1)")
    expect(page.locator("#patient-level")).to_have_text("1")
    expect(page.locator("#history")).to_contain_text("Enrolled at level 1")

    page.click("header >> text=BPD home")
    expect(page.locator('tr[data-level="1"] td.num')).to_have_text("1")
    expect(page.locator('tr[data-level="1"]')).to_contain_text("open for enrolment")
    expect(page.locator("#enrolment-status")).to_contain_text("2 open slots")
    expect(page.locator("#caps")).to_contain_text("1 of 24")


def test_monitor_reads_a_patient_but_is_offered_no_write(page, live_server, login, trial, site_a, alice, mona):
    patient = register_patient(trial, site_a, alice)
    login(page, mona)
    page.goto(f"{live_server.url}/patients/{patient.study_id}/")
    expect(page.locator("h1")).to_contain_text(patient.study_id)
    expect(page.locator("#history")).to_contain_text("Registered")
    expect(page.locator("#enrolment button")).to_have_count(0)
    expect(page.locator("text=Edit (with reason)")).to_have_count(0)
    expect(page.locator("header nav")).not_to_contain_text("Register")
    page.goto(f"{live_server.url}/trials/BPD/patients/new/")
    expect(page.locator("h1")).to_have_text("Not allowed")


def test_coordinator_cannot_open_another_sites_patient(page, live_server, login, trial, site_b, bob, alice):
    patient = register_patient(trial, site_b, bob)
    login(page, alice)
    page.goto(f"{live_server.url}/patients/{patient.study_id}/")
    expect(page.locator("h1")).to_have_text("Not found")
