"""The heart of the loop in real Chromium: a coordinator records grade 4 neutropenia lasting 9 days
with G-CSF and the ANC values behind it; the rules propose H2; the investigator sees the proposal
with its evidence in the review queue and confirms it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dosing.services import cycle_start
from tests.factories import PASSWORD
from toxicity.ctcae import meddra
from toxicity.models import Dlt

pytestmark = pytest.mark.django_db(transaction=True)


def test_coordinator_enters_neutropenia_and_investigator_confirms_the_dlt(page, live_server, login, treated, alice, ivan):
    c1 = timezone.localdate() - timedelta(days=20)
    cycle_start(patient=treated, by=alice, day1=c1, weight_kg=Decimal("80.0"))

    def day(n):
        return (c1 + timedelta(days=n - 1)).isoformat()

    login(page, alice)
    page.goto(f"{live_server.url}/patients/{treated.study_id}/treatment/")
    page.click("nav.tabs >> text=Safety")
    expect(page.locator("#proposals")).to_contain_text("The rules propose no DLT.")
    record_neutropenia(page, day)
    record_anc_values(page, day)

    # The rules proposed H2 on commit; the coordinator sees it but cannot adjudicate.
    proposal = page.locator('#proposals .proposal[data-rule="H2"]')
    expect(proposal).to_contain_text("9 days")
    expect(proposal.locator("form.adjudicate")).to_have_count(0)

    page.click("header button:has-text('Log out')")
    login(page, ivan)
    confirm_in_the_review_queue(page, treated, day)

    page.goto(f"{live_server.url}/patients/{treated.study_id}/safety/")
    expect(page.locator("#dlts")).to_contain_text("H2 Grade 4 neutropenia more than 7 days despite G-CSF")
    expect(page.locator("#evaluability-status")).to_contain_text("Evaluable")
    row = Dlt.objects.get()
    assert (row.rule, row.confirmed_by, row.patient) == ("H2", ivan, treated)


def record_neutropenia(page, day) -> None:
    """The adverse event: search the term, read the grade's CTCAE description, attribute it, G-CSF given."""
    page.click("text=Record an adverse event")
    page.wait_for_load_state()  # the term search is a script at the end of the page
    page.fill("#id_term", "neutrophil")  # a search box: the script offers the matching terms from the term search API
    expect(page.locator("#id_term-suggestions option").first).to_have_attribute("value", "Neutrophil count decreased")
    page.fill("#id_term", "Neutrophil count decreased")  # choosing the suggestion
    expect(page.locator('.grade-text[data-grade="4"]')).to_have_text("<500/mm3; <0.5 x 10e9 /L")
    page.check('input[name="grade"][value="4"]')
    page.fill("#id_onset", day(10))
    page.fill("#id_resolved", day(19))
    page.select_option("#id_attr_bendamustine", "possible")
    page.select_option("#id_attr_pomalidomide", "probable")
    page.select_option("#id_attr_dexamethasone", "unrelated")
    page.select_option("#id_outcome", "recovered")
    page.check('input[name="supportive"][value="gcsf"]')
    page.click("#ae-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Neutrophil count decreased grade 4")
    expect(page.locator("#ae-table")).to_contain_text("Neutrophil count decreased")


def record_anc_values(page, day) -> None:
    """The ANC values: one entered per microlitre, one mistaken unit questioned and corrected."""
    for n, value, unit in ((10, "400", "/uL"), (14, "0.3", "10^9/L"), (19, "900", "10^9/L")):
        page.fill("#id_lab-on", day(n))
        page.fill("#id_lab-anc", value)
        page.select_option("#id_lab-anc_unit", unit)
        page.click("#lab button[type=submit]")
        if value == "900" and unit == "10^9/L":
            expect(page.locator("#lab #error-anc")).to_contain_text("did you mean /uL?")
            page.select_option("#id_lab-anc_unit", "/uL")
            page.click("#lab button[type=submit]")
        expect(page.locator(".messages")).to_contain_text(f"Labs of {day(n)} saved")
    expect(page.locator(f'#lab-table tr[data-on="{day(14)}"]')).to_contain_text("G4")
    expect(page.locator("#anc-plot svg")).to_be_visible()


def confirm_in_the_review_queue(page, treated, day) -> None:
    """The investigator reads the proposal's sentence and evidence in the queue and confirms it."""
    page.click("header >> text=DLT review")
    card = page.locator('#queue .proposal[data-rule="H2"]')
    expect(card).to_contain_text(treated.study_id)
    expect(card.locator(".sentence")).to_contain_text(f"for 9 days ({day(10)} to recovery on {day(19)}), lowest 0.30; G-CSF given")
    expect(card.locator("table.evidence")).to_contain_text(f"lab:{day(14)}")
    expect(card.locator("table.evidence")).to_contain_text("0.30 x10^9/L")
    card.locator('input[value="confirm"]').check()
    # The decision is an electronic signature: its meaning is shown, and the password re-entered.
    expect(card.locator(".signature-meaning")).to_contain_text("I confirm this toxicity is a dose-limiting toxicity (criterion H2)")
    card.locator('input[type="password"]').fill("not-my-password")
    card.locator("button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text("The password is not correct")
    assert not Dlt.objects.exists()
    card = page.locator('#queue .proposal[data-rule="H2"]')
    card.locator('input[value="confirm"]').check()
    card.locator('input[type="password"]').fill(PASSWORD)
    card.locator("button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text(f"{treated.study_id}: DLT H2 from {day(10)} confirmed")
    expect(page.locator("#queue-empty")).to_be_visible()
    expect(page.locator("#recent")).to_contain_text("Confirmed")


def test_coordinator_records_events_under_any_ctcae_term_and_under_other_specify(page, live_server, login, treated, alice):
    """Issue #15: a term outside the old list of 27 (Tinnitus: grades 1-3, the generic grade texts), found by a word
    of it, that the rules read (grade 3 related: N1); then "Cardiac disorders - Other, specify", refused without the
    verbatim term and recorded with it."""
    c1 = timezone.localdate() - timedelta(days=20)
    cycle_start(patient=treated, by=alice, day1=c1, weight_kg=Decimal("80.0"))
    onset = (c1 + timedelta(days=5)).isoformat()
    login(page, alice)
    page.goto(f"{live_server.url}/patients/{treated.study_id}/safety/")

    page.click("text=Record an adverse event")
    page.wait_for_load_state()
    page.fill("#id_term", "tinn")
    expect(page.locator('#id_term-suggestions option[value="Tinnitus"]')).to_have_count(1)
    page.fill("#id_term", "Tinnitus")
    expect(page.locator('ul.grades li[data-grade="4"]')).to_be_hidden()  # Tinnitus has grades 1-3 only
    expect(page.locator('ul.grades li[data-grade="5"]')).to_be_hidden()
    expect(page.locator('.grade-text[data-grade="3"]')).to_contain_text("Severe or medically significant")
    expect(page.locator("#verbatim-field")).to_be_hidden()
    page.check('input[name="grade"][value="3"]')
    fill_the_rest(page, onset)
    expect(page.locator(".messages")).to_contain_text("Tinnitus grade 3")
    expect(page.locator("#ae-table")).to_contain_text(f"Ear and labyrinth disorders · MedDRA {meddra('Tinnitus')}")
    expect(page.locator('#proposals .proposal[data-rule="N1"]')).to_contain_text("Tinnitus grade 3")

    page.click("text=Record an adverse event")
    page.wait_for_load_state()
    page.fill("#id_term", "cardiac other")
    expect(page.locator("#id_term-suggestions option").first).to_have_attribute("value", "Cardiac disorders - Other, specify")
    page.fill("#id_term", "Cardiac disorders - Other, specify")
    expect(page.locator("#verbatim-field")).to_be_visible()
    page.check('input[name="grade"][value="2"]')
    fill_the_rest(page, onset)
    expect(page.locator("#error-verbatim")).to_contain_text("give the verbatim term")
    page.fill("#id_verbatim", "Atrial ectopy")
    page.click("#ae-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Cardiac disorders - Other, specify: Atrial ectopy grade 2")
    expect(page.locator("#ae-table")).to_contain_text("Cardiac disorders - Other, specify: Atrial ectopy")


def fill_the_rest(page, onset) -> None:
    page.fill("#id_onset", onset)
    page.select_option("#id_attr_bendamustine", "possible")
    page.select_option("#id_attr_pomalidomide", "unlikely")
    page.select_option("#id_attr_dexamethasone", "unrelated")
    page.click("#ae-form button[type=submit]")
