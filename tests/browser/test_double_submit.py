"""Issue #17, point 5, in real Chromium: a double click on the adverse event form's Save makes one record."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from dosing.services import cycle_start
from toxicity.ctcae import meddra
from toxicity.models import AdverseEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_double_click_on_save_records_one_adverse_event(page, live_server, login, treated, alice):
    c1 = timezone.localdate() - timedelta(days=20)
    cycle_start(patient=treated, by=alice, day1=c1, weight_kg=Decimal("80.0"))
    login(page, alice)
    page.goto(f"{live_server.url}/patients/{treated.study_id}/adverse-events/new/?term={meddra('Nausea')}")
    page.check('#grade-field input[value="2"]')
    page.fill("#id_onset", (c1 + timedelta(days=4)).isoformat())
    for drug in ("bendamustine", "pomalidomide", "dexamethasone"):
        page.select_option(f"#id_attr_{drug}", "possible")
    page.select_option("#id_action", "none")
    page.select_option("#id_outcome", "recovering")
    # Chromium folds two clicks in one tick into one navigation; a double click on a slow line sends the form twice
    # before the first answer arrives: the same form data, twice at once, from the page itself.
    statuses = page.evaluate(
        """async () => {
            const form = document.querySelector("#ae-form");
            const send = () => fetch(location.href, {method: "POST", body: new FormData(form), redirect: "manual"}).then((r) => r.status);
            return await Promise.all([send(), send()]);
        }"""
    )
    assert sorted(statuses) == [0, 0]  # both redirected (an opaque redirect under redirect: "manual")
    assert AdverseEvent.objects.filter(patient=treated).count() == 1
    # And the Save button of the same form, pressed once more: nothing new, the existing event is shown.
    page.dblclick("#ae-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("already recorded")
    ae = AdverseEvent.objects.get(patient=treated)
    assert page.url.endswith(f"/patients/{treated.study_id}/adverse-events/{ae.pk}/")
