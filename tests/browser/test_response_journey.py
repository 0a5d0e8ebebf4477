"""A coordinator enters myeloma assessments; the patient's tab shows the confirmed PR and the dashboard its waterfall bar."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_coordinator_enters_assessments_and_the_dashboard_shows_the_confirmed_pr(page, live_server, login, on_c1, alice, dana, trial):
    c1 = timezone.localdate() - timedelta(days=390)
    login(page, alice)
    page.goto(f"{live_server.url}/patients/{on_c1.study_id}/")
    page.click("nav.tabs >> text=Response")
    expect(page.locator("#best")).to_contain_text("No response computed yet")

    for day, spep, unit in ((-2, "30", "g/L"), (28, "1.5", "g/dL"), (56, "14", "g/L")):
        page.fill("#id_a-on", (c1 + timedelta(days=day)).isoformat())
        page.fill("#id_a-spep", spep)
        page.select_option("#id_a-spep_unit", unit)
        page.fill("#id_a-upep", "0")
        page.click("#assessment button[type=submit]")
        expect(page.locator(".messages")).to_contain_text("saved")

    # a marrow result above 100% is refused on its field, nothing saved
    page.fill("#id_a-on", (c1 + timedelta(days=84)).isoformat())
    page.fill("#id_a-marrow_pc", "120")
    page.click("#assessment button[type=submit]")
    expect(page.locator("#assessment #error-marrow_pc")).to_contain_text("at most 100%")

    expect(page.locator("#best-category")).to_have_text("PR")
    row = page.locator(f'#assessment-table tr[data-on="{(c1 + timedelta(days=56)).isoformat()}"]')
    expect(row.locator(".category")).to_have_text("PR")
    expect(row.locator(".confirmed")).to_contain_text(f"PR from {(c1 + timedelta(days=28)).isoformat()}")

    page.click("header button:has-text('Log out')")
    login(page, dana)
    page.goto(f"{live_server.url}/trials/{trial.code}/response/")
    bar = page.locator(f'#waterfall rect.bar[data-patient="{on_c1.study_id}"]')
    expect(bar).to_have_attribute("data-category", "PR")
    expect(bar).to_have_attribute("data-change", "-53.33")
    expect(page.locator("#rate-orr")).to_contain_text("1/1 (100.0%)")
