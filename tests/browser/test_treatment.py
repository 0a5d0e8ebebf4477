"""A coordinator starts cycle 1, records a week of doses with one held dose, and sees the grid."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dosing.models import Administration

pytestmark = pytest.mark.django_db(transaction=True)


def test_coordinator_starts_cycle_records_a_week_and_sees_the_grid(page, live_server, login, treated, alice):
    day1 = timezone.localdate() - timedelta(days=6)
    login(page, alice)
    page.goto(f"{live_server.url}/patients/{treated.study_id}/")
    page.click("nav.tabs >> text=Treatment")
    expect(page.locator("main")).to_contain_text("No cycle has started.")

    page.fill("#id_cycle-day1", day1.isoformat())
    page.fill("#id_cycle-weight_kg", "80")
    page.click("#cycle button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Cycle 1 started")
    expect(page.locator("#patient-status")).to_have_text("On treatment")
    expect(page.locator("#cycle-1 h2")).to_contain_text("BSA 2.00 m2")

    # Bendamustine and dexamethasone on day 1 through the dose form.
    for drug in ("Bendamustine", "Dexamethasone"):
        page.select_option("#id_dose-drug", label=drug)
        page.fill("#id_dose-day", "1")
        page.select_option("#id_dose-status", "given")
        page.click("#dose button[type=submit]")
        expect(page.locator(".messages")).to_contain_text(f"day 1 {drug}: given as planned")

    # A held dose without its reason is refused on the field, then recorded with it.
    page.select_option("#id_dose-drug", label="Pomalidomide")
    page.fill("#id_dose-day", "4")
    page.select_option("#id_dose-status", "held")
    page.click("#dose button[type=submit]")
    expect(page.locator("#dose #error-reason")).to_contain_text("needs its reason")
    page.fill("#id_dose-reason", "ANC 0.7 on day 4")
    page.click("#dose button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("day 4 Pomalidomide: held")

    # The rest of the week's pomalidomide through the diary.
    page.click("#cycle-1 >> text=diary")
    for day in (1, 2, 3, 5, 6, 7):
        page.select_option(f"#id_status_{day}", "given")
    page.click("main button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("6 day(s) saved")

    pom = page.locator('#cycle-1 tr[data-drug="pomalidomide"]')
    expect(pom.locator('td[data-day="1"]')).to_have_class("cell-given")
    expect(pom.locator('td[data-day="4"]')).to_have_class("cell-held")
    expect(pom.locator('td[data-day="4"]')).to_have_text("H")
    expect(pom.locator('td[data-day="8"]')).to_have_class("cell-planned")
    expect(page.locator('#cycle-1 tr[data-drug="bendamustine"] td[data-day="1"]')).to_have_text("240")
    expect(page.locator("#cycle-1 h2")).to_contain_text("9 of 26 recorded")
    assert Administration.objects.filter(status="held").get().reason == "ANC 0.7 on day 4"
