"""Issue #16, a day at the site, in real Chromium at a laptop (1366x900) and a tablet (820x1180) width: the points
the clinic-morning journeys (test_treatment.py) do not walk through.

- 3 the patient calendar, opened from the patient page: done, due, overdue, missed-with-reason and out-of-window
  visits, the visits inside the DLT window, the DLT window and the cycle-2 deadline marked; its Print button and
  the print stylesheet;
- 4 a G-CSF recorded through the concomitant-medication form for the neutropenia it treats, then listed;
- 5 the header search by study id and by initials, the breadcrumbs, the product's own 404 and 403 pages with the
  navigation, required fields marked, the open-queries count in the worklist;
- 7 the audit trail as the monitor reads it: plain select filters, people by name, records by clinical identity,
  a link to the record;
- 8 + 10 the demo trial's story: the dashboard, the escalation history (levels 1 -> 2 -> 3, a confirmed DLT), a
  wait never announced as awaiting a signature, superseded proposals folded; then a patient with a response;
- 9 the casebook: its Print button, the print stylesheet, no sideways scroll.

One live server, one seeded demo trial (portal/demo/story.py, as `make run` seeds it) and one logged-in browser
context per persona and width for the whole module (the fixtures of test_every_page.py). Signing an escalation
proposal is walked in test_escalation_journey.py, the conmed's effect on the DLT rules in test_conmed_journey.py.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.test_every_page import _live_server_helper, contexts, seeded, server  # noqa: F401  (the module's shared fixtures)

WIDTHS = ["1366", "820"]
pytestmark = pytest.mark.parametrize("width", WIDTHS, ids=["1366x900", "820x1180"])


def _page(contexts, persona, width):  # noqa: F811
    page = contexts(persona, width)
    page.set_default_timeout(10_000)
    return page


def _fits(page):
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page.url} scrolls sideways: {widths}"


def _print_button_prints(page):
    """The Print button calls window.print() (from a static script: no inline handler)."""
    page.evaluate("() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }")
    button = page.get_by_role("button", name="Print")
    expect(button).to_be_visible()
    assert button.get_attribute("onclick") is None
    button.click()
    assert page.evaluate("window.__printed") == 1


def _printed(page, script):
    page.emulate_media(media="print")
    try:
        return page.evaluate(script)
    finally:
        page.emulate_media(media="screen")


@pytest.fixture(scope="module")
def calendar_patient(seeded):  # noqa: F811
    """A level-3 patient in cycle 1 with every status on the calendar: C1D1 done, C1D8 done out of window (through
    the visit service, confirmed), C1D15 missed with its reason, C1D22 overdue (cycle 1 started 40 days before), and
    a follow-up visit due today."""
    from accounts.models import User
    from cohorts.models import Patient
    from dosing.models import Cycle, Visit
    from dosing.services import visit_missed, visit_record

    coord = User.objects.get(username="coord01")
    patient = Patient.objects.filter(site__number="01", enrolment__level__label=3).order_by("pk").first()
    assert patient is not None, "the demo has a level-3 patient at site 01"
    visits = {v.day: v for v in Visit.objects.filter(patient=patient, cycle__number=1)}
    day1 = visits[1].expected_on
    today = timezone.localdate()
    # The demo's level-3 patients are in their DLT window today; their calendar is moved 40 days back (the
    # arrangement of this journey only: the dates are the calendar's input, its statuses are what is checked).
    shift = timedelta(days=40) - (today - day1)
    for v in Visit.objects.filter(patient=patient, cycle__number=1):
        Visit.objects.filter(pk=v.pk).update(expected_on=v.expected_on - shift, done_on=None, out_of_window=False, cancelled=False, note="")
    cycle = Cycle.objects.get(patient=patient, number=1)
    Cycle.objects.filter(pk=cycle.pk).update(day1=cycle.day1 - shift, planned_day1=cycle.planned_day1 - shift)
    visits = {v.day: v for v in Visit.objects.filter(patient=patient, cycle__number=1)}
    visit_record(visit=visits[1], by=coord, done_on=visits[1].expected_on)
    visit_record(visit=visits[8], by=coord, done_on=visits[8].expected_on + timedelta(days=5), confirm_out_of_window=True, note="transport strike")
    visit_missed(visit=visits[15], by=coord, reason="Patient in hospital with pneumonia")
    Visit.objects.create(patient=patient, kind=Visit.Kind.FOLLOW_UP, expected_on=today, window_days=3)
    return patient


def test_calendar_from_the_patient_page_marks_statuses_and_the_dlt_window_and_prints(width, server, calendar_patient, contexts):  # noqa: F811
    page = _page(contexts, "coord01", width)
    page.goto(f"{server.url}/worklist/")
    page.fill("#nav-q", calendar_patient.study_id)
    page.locator("header form.search button").click()  # an exact study id opens the patient
    expect(page.locator("h1")).to_contain_text(calendar_patient.study_id)
    page.locator("nav.tabs").get_by_role("link", name="Calendar").click()
    expect(page.locator("h1")).to_contain_text(f"{calendar_patient.study_id} calendar")
    cal = page.locator("#calendar")
    c1 = cal.locator('tbody[data-cycle="1"]')
    expect(c1.locator("tr", has_text="Day 1 visit")).to_have_attribute("data-status", "done")
    expect(c1.locator("tr", has_text="Day 8 visit")).to_contain_text("Done, out of window")
    expect(c1.locator("tr", has_text="Day 8 visit")).to_contain_text("transport strike")
    expect(c1.locator("tr", has_text="Day 15 visit")).to_contain_text("Missed / cancelled")
    expect(c1.locator("tr", has_text="Day 15 visit")).to_contain_text("Patient in hospital with pneumonia")
    expect(c1.locator("tr", has_text="Day 22 visit")).to_contain_text("Overdue")
    expect(cal.locator('tbody[data-cycle="follow-up"] tr[data-status="due"]')).to_contain_text("Due")
    # The DLT window and the cycle-2 deadline: in the lead and as rows on their dates; the visits inside it marked.
    expect(page.locator("#dlt-window")).to_have_text(re.compile(r"\d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}"))
    expect(page.locator("#c2-deadline")).to_have_text(re.compile(r"\d{4}-\d{2}-\d{2}"))
    expect(cal.locator("tr.cal-mark", has_text="DLT window opens")).to_have_count(1)
    expect(cal.locator("tr.cal-mark", has_text="DLT window ends")).to_have_count(1)
    expect(cal.locator("tr.cal-mark", has_text="Cycle 2 deadline")).to_have_count(1)
    for day in (1, 8, 15, 22):
        expect(c1.locator("tr", has_text=f"Day {day} visit")).to_contain_text("in DLT window")
    expect(cal.locator('tbody[data-cycle="follow-up"] tr[data-dlt-window]')).to_have_count(0)
    _fits(page)

    _print_button_prints(page)
    shown = _printed(
        page,
        """() => ({
        header: getComputedStyle(document.querySelector("header.topbar")).display,
        button: getComputedStyle(document.querySelector("button[data-print]")).display,
        tabs: getComputedStyle(document.querySelector("nav.tabs")).display,
        overflow: [...document.querySelectorAll(".scroll")].map((el) => getComputedStyle(el).overflowX),
        dlt: [...document.querySelectorAll("#calendar .cal-dlt")].filter((el) => getComputedStyle(el).display !== "none").length,
    })""",
    )
    assert shown["header"] == shown["button"] == shown["tabs"] == "none"
    assert set(shown["overflow"]) == {"visible"}
    assert shown["dlt"] == 4  # the DLT-window marks are printed


def test_coordinator_records_a_gcsf_for_the_neutropenia_and_sees_it_listed(width, server, seeded, contexts):  # noqa: F811
    from toxicity.models import ConMed

    drug = f"pegfilgrastim-{width}"
    page = _page(contexts, "coord01", width)
    page.goto(f"{server.url}/patients/{seeded['jd']}/safety/")
    page.locator(f'#ae-table tr[data-ae="{seeded["ae"]}"] >> text=correct').click()
    page.click("text=Record a medication for this event")
    expect(page.locator(f'input[name="adverse_events"][value="{seeded["ae"]}"]')).to_be_checked()
    _fits(page)
    page.fill("#id_drug", drug)
    page.fill("#id_indication", "neutropenia")
    page.select_option("#id_category", "gcsf")
    page.fill("#id_dose", "6")
    page.fill("#id_dose_unit", "mg")
    page.fill("#id_frequency", "once")
    page.select_option("#id_route", "sc")
    start = ConMed.objects.get(pk=seeded["conmed"]).start
    page.fill("#id_start", start.isoformat())
    page.check("#id_ongoing")
    page.click("#conmed-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text(f"{drug} from {start.isoformat()} recorded")
    conmed = ConMed.objects.get(drug=drug)
    row = page.locator(f"#conmed-{conmed.pk}")
    expect(row).to_contain_text("G-CSF")
    expect(row).to_contain_text("Neutrophil count decreased")
    expect(page.locator(f'#ae-table tr[data-ae="{seeded["ae"]}"]')).to_contain_text(drug)
    assert list(conmed.adverse_events.values_list("pk", flat=True)) == [seeded["ae"]]
    _fits(page)


def test_navigation_search_breadcrumbs_error_pages_required_marks_and_queries_count(width, server, seeded, contexts):  # noqa: F811
    from cohorts.models import Patient
    from datamanagement.models import DataQuery

    page = _page(contexts, "coord01", width)
    jd = Patient.objects.get(study_id=seeded["jd"])
    page.goto(f"{server.url}/worklist/")
    # The header search: by part of the study id (a list), by the exact study id (the patient), by initials.
    page.fill("#nav-q", jd.study_id[-6:])
    page.locator("header form.search button").click()
    expect(page.locator("#search-results tbody tr", has_text=jd.study_id)).to_contain_text(jd.initials)
    page.fill("#nav-q", jd.study_id.lower())
    page.locator("header form.search button").click()
    expect(page.locator("h1")).to_contain_text(jd.study_id)
    expect(page).to_have_url(f"{server.url}/patients/{jd.study_id}/")
    page.fill("#nav-q", jd.initials.lower())
    page.locator("header form.search button").click()
    expect(page.locator("#search-results")).to_contain_text(jd.study_id)
    expect(page.locator("#nav-q")).to_have_value(jd.initials.lower())

    # Breadcrumbs on a patient page: trial home > patients > the patient > the section.
    page.get_by_role("link", name=jd.study_id).click()
    page.locator("nav.tabs").get_by_role("link", name="Safety").click()
    crumbs = page.locator("nav.breadcrumbs li")
    expect(crumbs).to_have_count(4)
    expect(crumbs.nth(3).locator('[aria-current="page"]')).to_have_count(1)
    crumbs.nth(2).get_by_role("link", name=jd.study_id).click()
    expect(page.locator("h1")).to_contain_text(jd.study_id)
    expect(page.locator("nav.breadcrumbs li")).to_have_count(3)
    crumbs = page.locator("nav.breadcrumbs li")
    crumbs.nth(1).get_by_role("link", name="Patients").click()
    expect(page.locator("main")).to_contain_text(jd.study_id)

    # The product's own 404 and 403 pages, with the navigation (the queries tab among it).
    for path, status, heading in (("/patients/NO-SUCH-PATIENT/", 404, "Not found"), ("/accounts/users/", 403, "Not allowed")):
        response = page.goto(server.url + path)
        assert response.status == status
        expect(page.locator("main h1")).to_have_text(heading)
        expect(page.locator("header.topbar nav").get_by_role("link", name="Queries")).to_be_visible()
        expect(page.locator("header.topbar #nav-q")).to_be_visible()
        expect(page.locator("main section.error-page")).to_be_visible()  # the product's page, never Django's debug page
        assert "Traceback" not in page.content()
    page.get_by_role("link", name="Back to the start page").click()
    expect(page).to_have_url(f"{server.url}/trials/{seeded['trial']}/")  # the start page of a one-trial site

    # Required fields marked (an asterisk after the label of an input that is required).
    page.goto(f"{server.url}/trials/{seeded['trial']}/patients/new/")
    marks = page.evaluate(
        """() => [...document.querySelectorAll("main form label[for]")].map((label) => {
            const input = document.getElementById(label.getAttribute("for"));
            return [label.getAttribute("for"), !!(input && input.required), getComputedStyle(label, "::after").content];
        })"""
    )
    required = {f: mark for f, req, mark in marks if req}
    optional = {f: mark for f, req, mark in marks if not req}
    assert "id_initials" in required, marks
    assert set(required.values()) == {'" *"'}, marks
    assert '" *"' not in optional.values(), marks
    _fits(page)

    # The open-queries count in the worklist, linked to the patient.
    page.locator("header.topbar nav").get_by_role("link", name="Worklist").click()
    # locator.all() does not wait: the rows are read only once the worklist has loaded.
    expect(page).to_have_url(f"{server.url}/worklist/")
    expect(page.locator("table.worklist tbody tr").first).to_be_visible()
    counted = 0
    for row in page.locator("table.worklist tbody tr").all():
        study_id = row.locator("td").first.inner_text().strip().split()[0]
        expected = DataQuery.objects.filter(patient__study_id=study_id).exclude(status="closed").count()
        cell = row.locator("td.queries")
        expect(cell).to_have_text(str(expected))
        counted += expected
        if expected:
            expect(cell.get_by_role("link")).to_have_attribute("href", f"/patients/{study_id}/")
    assert counted > 0, "the demo's worklist shows open queries"
    _fits(page)


def test_monitor_reads_the_audit_trail_filtered_by_plain_selects_and_opens_a_record(width, server, seeded, contexts):  # noqa: F811
    from accounts.models import User

    coord = User.objects.get(username="coord01")
    page = _page(contexts, "monitor", width)
    page.goto(f"{server.url}/trials/{seeded['trial']}/")
    page.locator("header.topbar nav").get_by_role("link", name="Audit trail").click()
    filters = page.locator("#audit-filters")
    expect(filters.locator("select")).to_have_count(2)
    filters.locator("select[name=user]").select_option(label=coord.get_full_name())
    filters.locator("select[name=type]").select_option("lab")
    filters.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]type=lab\b"))  # the filtered page, not the one before it (reads below do not wait)
    rows = page.locator(".audit-table tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() > 1
    assert set(page.locator(".audit-table tbody tr").evaluate_all("rows => rows.map((r) => r.dataset.type)")) == {"lab"}
    whos = set(page.locator(".audit-table tbody tr td:nth-child(2)").all_inner_texts())
    assert whos == {coord.get_full_name()}
    records = page.locator(".audit-table tbody tr td:nth-child(3)").all_inner_texts()
    assert all(re.search(r"\d{4}-\d{2}-\d{2}", r) for r in records), records[:5]
    groups = page.locator(".audit-group-head").all_inner_texts()
    assert all(re.search(r"BPD-\d{2}-\d{3}", g) for g in groups), groups[:5]  # grouped by day and patient
    expect(filters.locator("select[name=type]")).to_have_value("lab")
    _fits(page)
    first = page.locator(".audit-group").first
    study_id = first.get_attribute("data-patient")
    first.locator(".audit-table tbody tr td:nth-child(3) a").first.click()
    expect(page.locator("h1")).to_contain_text(study_id)
    expect(page.locator("nav.tabs [aria-current=page]")).to_have_text("Safety")


def test_demo_trial_dashboard_escalation_history_and_a_responding_patient(width, server, seeded, contexts):  # noqa: F811
    from escalation.models import EscalationDecision
    from response.models import ResponseResult

    page = _page(contexts, "investigator", width)
    page.goto(f"{server.url}/")
    page.goto(f"{server.url}/trials/{seeded['trial']}/")
    # Level 3 waits for an H2 proposal's adjudication: the dashboard says so, never "awaiting a signature".
    expect(page.locator("#escalation-proposal")).to_contain_text("waits (nothing to sign)")
    expect(page.locator("main")).not_to_contain_text("awaiting an investigator's signature")
    expect(page.locator("#levels")).to_contain_text("3")
    _fits(page)
    page.locator("#escalation-proposal").get_by_role("link", name="Escalation").click()
    expect(page.locator("h2", has_text="The engine waits")).to_contain_text("nothing to sign")
    expect(page.locator("#proposal-status")).to_have_text("waiting, not for signature")
    expect(page.locator("#sign")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("awaiting an investigator's signature")

    signed = page.locator('#history tr[data-status="signed"]')
    expect(signed).to_have_count(3)  # escalate to 2, expand 2 (a DLT in 3), escalate to 3
    texts = signed.all_inner_texts()
    assert sorted(re.search(r"\b(escalate|expand)\b", t).group(1) for t in texts) == ["escalate", "escalate", "expand"], texts
    levels = page.locator('#levels tr[data-level="2"]')
    expect(levels.first).to_be_visible()
    superseded = EscalationDecision.objects.filter(trial__code=seeded["trial"], status="superseded").count()
    assert superseded, "the demo's engine re-proposed as the data came in"
    fold = page.locator("#history details#superseded")
    expect(fold).not_to_have_attribute("open", "")
    expect(fold.locator("tbody tr").first).to_be_hidden()
    fold.locator("summary").click()
    expect(fold.locator("tbody tr")).to_have_count(superseded)
    expect(fold.locator("tbody tr").first).to_be_visible()
    _fits(page)

    # A patient with a response: counted on the response dashboard, then found and opened.
    page.locator("header.topbar nav").get_by_role("link", name="Response").click()
    best = page.locator("#best-response")
    expect(best.locator("thead th").first).to_be_visible()  # all_inner_texts() below does not wait for the page
    column = best.locator("thead th").all_inner_texts().index("VGPR")
    vgpr = ResponseResult.objects.filter(patient__trial__code=seeded["trial"], best="VGPR").select_related("patient").order_by("patient__study_id")
    expect(best.locator("tbody tr", has_text="All").locator("th, td").nth(column)).to_have_text(str(len(vgpr)))
    study_id = vgpr[0].patient.study_id
    page.fill("#nav-q", study_id)
    page.locator("header form.search button").click()
    expect(page).to_have_url(f"{server.url}/patients/{study_id}/")  # the patient, before its Response tab is clicked
    page.locator("nav.tabs").get_by_role("link", name="Response").click()
    expect(page.locator("h1")).to_contain_text(study_id)
    expect(page.locator("#best-category")).to_contain_text("VGPR")
    expect(page.locator("#assessment-table tbody tr").first).to_be_visible()
    _fits(page)


def test_casebook_opens_from_the_patient_prints_and_fits(width, server, seeded, contexts):  # noqa: F811
    page = _page(contexts, "coord01", width)
    page.goto(f"{server.url}/patients/{seeded['jd']}/")
    page.click("#casebook-link")
    expect(page.locator("h1")).to_contain_text(f"{seeded['jd']} casebook")
    for section in ("Registration", "Treatment", "Safety", "Response", "History"):
        expect(page.locator(".casebook-section h2", has_text=section).first).to_be_visible()
    _fits(page)
    _print_button_prints(page)
    shown = _printed(
        page,
        """() => ({
        header: getComputedStyle(document.querySelector("header.topbar")).display,
        button: getComputedStyle(document.querySelector("button[data-print]")).display,
        width: [document.documentElement.scrollWidth, window.innerWidth],
    })""",
    )
    assert shown["header"] == shown["button"] == "none"
    assert shown["width"][0] <= shown["width"][1]
