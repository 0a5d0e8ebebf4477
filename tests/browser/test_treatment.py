"""Issue #16, a day at the site: a coordinator's clinic morning through the visit page, the clickable grid and the diary.

The journey counts its form submissions and typed fields: recording a whole cycle 1 (cycle start, four
visits with doses and labs, the pomalidomide diary) takes 6 submissions (goal <= 6; about 50 before).
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dosing.models import Administration, Visit
from toxicity.models import AdverseEvent, LabResult

pytestmark = pytest.mark.django_db(transaction=True)
VIEWPORTS = [{"width": 1366, "height": 900}, {"width": 820, "height": 1180}]


class Counter:
    def __init__(self):
        self.submissions = self.typed = 0

    def fill(self, page, selector, value):
        page.fill(selector, value)
        self.typed += 1

    def submit(self, page, selector):
        page.click(selector)
        page.wait_for_load_state()
        self.submissions += 1


def open_visit(page, live_server, what):
    page.goto(f"{live_server.url}/worklist/")
    page.locator(f'tr:has-text("{what}")').get_by_role("link", name="Record visit").click()
    expect(page.locator("h1")).to_contain_text(what.replace("Cycle 1 day ", "C1D").replace(" visit", ""))


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["1366x900", "820x1180"])
def test_clinic_morning_records_cycle_1_in_six_submissions(page, live_server, login, treated, alice, viewport):
    page.set_viewport_size(viewport)
    n = Counter()
    day1 = timezone.localdate() - timedelta(days=21)
    login(page, alice)
    page.goto(f"{live_server.url}/patients/{treated.study_id}/treatment/")
    expect(page.locator("#start-cycle")).to_have_attribute("open", "")  # the next action is open, the others closed
    expect(page.locator("#off-form")).to_have_count(0)
    n.fill(page, "#id_cycle-day1", day1.isoformat())
    expect(page.locator("#id_cycle-weight_kg")).to_have_value("")  # that day's weight, never the registration weight
    n.fill(page, "#id_cycle-weight_kg", "79.5")
    n.submit(page, "#cycle button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Cycle 1 started")

    # C1D1: everything given as planned, one action.
    open_visit(page, live_server, "Cycle 1 day 1 visit")
    expect(page.locator("#id_done_on")).to_have_value(day1.isoformat())  # the planned date, not today
    n.submit(page, "#all-planned")
    expect(page.locator("#visit-status")).to_contain_text("Done")

    # C1D8: doses as planned, the panel and a new adverse event, one submission.
    open_visit(page, live_server, "Cycle 1 day 8 visit")
    n.fill(page, "#id_lab-anc", "1.1")
    n.fill(page, "#id_lab-platelets", "140")
    n.fill(page, "#id_lab-temperature", "37.2")
    page.click("#visit-ae summary")
    page.fill("#id_ae-term", "nause")  # the term is a search box: the script offers the terms that match
    expect(page.locator('#id_ae-term-suggestions option[value="Nausea"]')).to_have_count(1)
    page.fill("#id_ae-term", "Nausea")  # choosing the suggestion
    page.check('input[name="ae-grade"][value="2"]')
    for drug, level in (("bendamustine", "possible"), ("pomalidomide", "possible"), ("dexamethasone", "unlikely")):
        page.select_option(f"#id_ae-attr_{drug}", level)
    n.typed += 5
    n.submit(page, "#save-visit")
    expect(page.locator(".messages")).to_contain_text("labs, 1 adverse event(s) saved")
    expect(page.locator("#visit-status")).to_contain_text("Done")

    for what in ("Cycle 1 day 15 visit", "Cycle 1 day 22 visit"):
        open_visit(page, live_server, what)
        n.submit(page, "#all-planned")
        expect(page.locator("#visit-status")).to_contain_text("Done")

    # The diary: taken as planned, two missed days marked.
    page.goto(f"{live_server.url}/patients/{treated.study_id}/cycles/1/diary/pomalidomide/")
    expect(page.locator('#diary tr[data-day="5"] td.planned')).to_have_text("3 mg")
    for day in (5, 6):
        page.select_option(f"#id_status_{day}", "missed")
        n.fill(page, f"#id_reason_{day}", "vomited")
        n.typed += 1
    n.submit(page, "main button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("diary of cycle 1")

    page.goto(f"{live_server.url}/worklist/")
    expect(page.locator("#overdue")).not_to_contain_text(treated.study_id)
    print(f"cycle 1 recorded in {n.submissions} submissions, {n.typed} typed or chosen fields")
    assert n.submissions <= 6
    assert Visit.objects.filter(patient=treated, done_on__isnull=False).count() == 4
    assert sorted(Administration.objects.filter(status="missed").values_list("day", flat=True)) == [5, 6]
    assert Administration.objects.filter(drug__code="pomalidomide", status="given").count() == 19
    assert LabResult.objects.filter(patient=treated).count() == 1
    assert AdverseEvent.objects.filter(patient=treated).count() == 1


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["1366x900", "820x1180"])
def test_correcting_a_dose_from_the_grid_and_an_out_of_window_visit(page, live_server, login, treated, alice, viewport):
    from decimal import Decimal

    from dosing.services import cycle_start

    page.set_viewport_size(viewport)
    day1 = timezone.localdate() - timedelta(days=21)
    cycle_start(patient=treated, by=alice, day1=day1, weight_kg=Decimal(80))
    login(page, alice)
    page.goto(f"{live_server.url}/patients/{treated.study_id}/treatment/")
    page.locator('#cycle-1 tr[data-drug="pomalidomide"] td[data-day="4"] a').click()
    page.select_option("#id_status", "held")
    page.click("#dose button[type=submit]")
    expect(page.locator("#dose #error-reason")).to_contain_text("needs its reason")
    page.fill("#id_reason", "ANC 0.7")
    page.click("#dose button[type=submit]")
    expect(page.locator('#cycle-1 tr[data-drug="pomalidomide"] td[data-day="4"]')).to_have_text("H")
    page.locator('#cycle-1 tr[data-drug="pomalidomide"] td[data-day="4"] a').click()
    page.select_option("#id_status", "given")
    page.fill("#id_reason", "")
    page.click("#dose button[type=submit]")
    expect(page.locator("#dose #error-reason_for_change")).to_be_visible()
    page.fill("#id_reason_for_change", "held in error: ANC was 1.7")
    page.click("#dose button[type=submit]")
    expect(page.locator('#cycle-1 tr[data-drug="pomalidomide"] td[data-day="4"]')).to_have_class("cell-given")

    # C1D8 done five days late: the page asks for confirmation, then flags the deviation.
    visit = Visit.objects.get(patient=treated, day=8)
    page.goto(f"{live_server.url}/visits/{visit.pk}/")
    page.fill("#id_done_on", (visit.expected_on + timedelta(days=5)).isoformat())
    page.click("#save-visit")
    expect(page.locator("#visit-date")).to_contain_text("outside the +/-2-day window")
    page.check("#id_confirm_out_of_window")
    page.fill("#id_note", "transport strike")
    page.click("#all-planned")
    expect(page.locator("#visit-deviation")).to_contain_text("protocol deviation")
