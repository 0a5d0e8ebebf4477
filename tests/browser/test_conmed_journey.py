"""Issue #16 in real Chromium: a neutropenia recorded without G-CSF gives no H2; the coordinator opens the event,
records filgrastim as a concomitant medication for it (a stop before the start is refused on the form), and the
rules then propose H2 "despite G-CSF"; the safety tab lists the medication and links it to the event."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dosing.services import cycle_start
from toxicity.ctcae import meddra
from toxicity.models import ConMed
from toxicity.services import ae_record, lab_record

pytestmark = pytest.mark.django_db(transaction=True)
VIEWPORTS = [{"width": 1366, "height": 900}, {"width": 820, "height": 1180}]
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unrelated"}


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["1366x900", "820x1180"])
def test_coordinator_records_a_gcsf_conmed_for_the_neutropenia_and_the_rules_propose_h2(page, live_server, login, treated, alice, viewport):
    c1 = timezone.localdate() - timedelta(days=20)
    cycle_start(patient=treated, by=alice, day1=c1, weight_kg=Decimal("80.0"))

    def day(n):
        return c1 + timedelta(days=n - 1)

    event = ae_record(
        patient=treated, by=alice, term=meddra("Neutrophil count decreased"), grade=4, onset=day(10), resolved=day(19), outcome="recovered", attribution=RELATED
    )
    for n, anc in ((10, "0.4"), (14, "0.3"), (19, "0.9")):
        lab_record(patient=treated, by=alice, on=day(n), anc=anc)

    page.set_viewport_size(viewport)
    login(page, alice)
    page.goto(f"{live_server.url}/patients/{treated.study_id}/safety/")
    expect(page.locator("#proposals")).to_contain_text("The rules propose no DLT.")  # H2 needs G-CSF
    expect(page.locator("#conmed-table")).to_contain_text("No concomitant medication recorded.")

    page.locator(f'#ae-table tr[data-ae="{event.pk}"] >> text=correct').click()
    expect(page.locator("#ae-conmeds")).to_contain_text("None linked.")
    page.click("text=Record a medication for this event")
    expect(page.locator(f'input[name="adverse_events"][value="{event.pk}"]')).to_be_checked()

    page.fill("#id_drug", "filgrastim")
    page.fill("#id_indication", "grade 4 neutropenia")
    page.select_option("#id_category", "gcsf")
    page.fill("#id_dose", "300")
    page.fill("#id_dose_unit", "ug")
    page.fill("#id_frequency", "once daily")
    page.select_option("#id_route", "sc")
    page.fill("#id_start", day(11).isoformat())
    page.fill("#id_stop", day(9).isoformat())
    page.click("#conmed-form button[type=submit]")
    expect(page.locator("#error-stop")).to_contain_text("cannot be before the start")
    assert ConMed.objects.count() == 0

    page.fill("#id_stop", day(17).isoformat())
    page.click("#conmed-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text(f"filgrastim from {day(11).isoformat()} recorded")

    conmed = ConMed.objects.get()
    row = page.locator(f"#conmed-{conmed.pk}")
    expect(row).to_contain_text("G-CSF")
    expect(row).to_contain_text("Neutrophil count decreased G4")
    expect(page.locator(f'#ae-table tr[data-ae="{event.pk}"]')).to_contain_text("filgrastim")
    proposal = page.locator('#proposals .proposal[data-rule="H2"]')
    expect(proposal).to_contain_text("9 days")
    expect(proposal).to_contain_text("G-CSF given")

    page.locator(f'#ae-table tr[data-ae="{event.pk}"] >> text=correct').click()
    expect(page.locator("#ae-conmeds")).to_contain_text("filgrastim (G-CSF)")
