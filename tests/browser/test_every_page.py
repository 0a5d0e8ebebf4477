"""Every page of the product at a laptop (1366x900) and a tablet (820x1180) width, in real Chromium (issue #16,
point 9): no Content-Security-Policy violation (issue #17 point 6: console "Refused to" or a
securitypolicyviolation event), the page itself never scrolls sideways (`scrollWidth <= innerWidth`; a wide table scrolls inside its own
`.scroll` box) and axe-core finds no violation of impact serious or critical.

axe-core comes from the npm registry (`make axe`, run by `make test` and .ci/run) into .cache/axe and is injected
from that file by Playwright; nothing is fetched from a CDN.

One live server, one browser and one seeded demo trial for the whole module: the demo cohort through the real
services (a treated patient with a cycle, doses given and held, labs, a grade 4 neutropenia, a DLT proposal,
myeloma assessments and a response), plus a conmed, a data query and an export job. One logged-in browser context
per persona.
"""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from tests.browser.csp import watch_csp

AXE = Path(settings.BASE_DIR) / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"1366": {"width": 1366, "height": 900}, "820": {"width": 820, "height": 1180}}
PASSWORD = "every-page-Check-2026"

# Pages another engineer is still changing (dosing templates, the response dashboard): their failures are reported,
# not hidden; the check runs and passes as soon as the page is fixed (strict=False).
KNOWN: dict[str, str] = {}

# name -> (persona, path template); the template is filled from the seeded ids.
PAGES = {
    "login": (None, "/accounts/login/"),
    "home": ("coord01", "/"),
    "search": ("coord01", "/search/?q=JD"),
    "trial_home": ("coord01", "/trials/{trial}/"),
    "patient_list": ("coord01", "/trials/{trial}/patients/"),
    "patient_register": ("coord01", "/trials/{trial}/patients/new/"),
    "patient_detail_screening": ("coord01", "/patients/{screening}/"),
    "patient_edit": ("coord01", "/patients/{screening}/edit/"),
    "patient_detail": ("coord01", "/patients/{jd}/"),
    "casebook": ("coord01", "/patients/{jd}/casebook/"),
    "calendar": ("coord01", "/patients/{jd}/calendar/"),
    "patient_treatment": ("coord01", "/patients/{jd}/treatment/"),
    "cycle_diary": ("coord01", "/patients/{jd}/cycles/1/diary/pomalidomide/"),
    "worklist": ("coord01", "/worklist/"),
    "visit_record": ("coord01", "/visits/{visit}/"),
    "cycle_dose": ("coord01", "/patients/{jd}/cycles/1/doses/pomalidomide/1/"),
    "patient_safety": ("coord01", "/patients/{jd}/safety/"),
    "ae_new": ("coord01", "/patients/{jd}/adverse-events/new/"),
    "ae_edit": ("coord01", "/patients/{jd}/adverse-events/{ae}/"),
    "conmed_new": ("coord01", "/patients/{jd}/conmeds/new/"),
    "conmed_edit": ("coord01", "/patients/{jd}/conmeds/{conmed}/"),
    "patient_response": ("coord01", "/patients/{jd}/response/"),
    "patient_queries": ("coord01", "/patients/{jd}/queries/"),
    "dlt_review": ("investigator", "/dlt-review/"),
    "trial_escalation": ("investigator", "/trials/{trial}/escalation/"),
    "trial_design": ("coord01", "/trials/{trial}/design/?tox_0=0.05&tox_1=0.1&tox_2=0.2&tox_3=0.33&tox_4=0.5&method=exact&trials=1000&seed=1"),
    "trial_response": ("datamanager", "/trials/{trial}/response/"),
    "trial_queries": ("datamanager", "/trials/{trial}/queries/"),
    "trial_exports": ("datamanager", "/trials/{trial}/exports/"),
    "export_job": ("datamanager", "/exports/jobs/{job}/"),
    "trial_audit": ("datamanager", "/trials/{trial}/audit/"),
    "password_change": ("monitor", "/accounts/password/"),
    "user_list": ("admin", "/accounts/users/"),
    "user_invite": ("admin", "/accounts/users/invite/"),
    "user_detail": ("admin", "/accounts/users/{user}/"),
    "403": ("coord01", "/accounts/users/"),
    "404": ("coord01", "/patients/NO-SUCH-PATIENT/"),
}
STATUS = {"403": 403, "404": 404}


@pytest.fixture(autouse=True)
def _live_server_helper(live_server):
    """This module's own take on pytest-django's helper of the same name: it does not make every test a
    transactional one (the database would be emptied after each page); the demo trial is seeded once for the
    module (`server`) and the database emptied at its end."""
    live_server._live_server_modified_settings.enable()
    yield
    live_server._live_server_modified_settings.disable()


@pytest.fixture(scope="module")
def server(django_db_setup, live_server, django_db_blocker):
    """The live server, the database open to it (and to the seeding) until the module ends, then emptied (the
    other journeys expect an empty database)."""
    with django_db_blocker.unblock():
        try:
            yield live_server
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def seeded(server):
    """The demo trial through the real services, plus a conmed, a data query and an export job."""
    from accounts.models import User
    from datamanagement.exports import Filters
    from datamanagement.models import ExportLog
    from datamanagement.quality import query_raise
    from datamanagement.services import export_zip_start
    from dosing.models import Visit
    from tests.demo import seed_demo_for_tests
    from toxicity.models import AdverseEvent
    from toxicity.services import conmed_record

    trial = seed_demo_for_tests(PASSWORD)
    jd = trial.patients.get(initials="JD")
    coord = User.objects.get(username="coord01")
    ae = AdverseEvent.objects.filter(patient=jd).order_by("pk").first()
    conmed = conmed_record(
        patient=jd,
        by=coord,
        drug="filgrastim",
        category="gcsf",
        indication="neutropenia",
        route="sc",
        start=ae.onset,
        ongoing=True,
        adverse_events=[ae],
    )
    datamanager = User.objects.get(username="datamanager")
    query_raise(patient=jd, by=datamanager, record_type="adverse_event", object_id=ae.pk, field="grade", text="Grade 4 on day 11? Please check the source.")
    job = export_zip_start(user=datamanager, trial=trial, filters=Filters()) if not ExportLog.objects.exists() else ExportLog.objects.first()
    ids = {
        "trial": trial.code,
        "jd": jd.study_id,
        "screening": trial.patients.filter(status="screening").order_by("site__number", "pk").first().study_id,
        "visit": Visit.objects.filter(patient=jd).order_by("expected_on").first().pk,
        "ae": ae.pk,
        "conmed": conmed.pk,
        "job": job.pk,
        "user": User.objects.get(username="coord02").pk,
    }
    return ids


@pytest.fixture(scope="module")
def contexts(server, seeded, browser):
    """One logged-in browser context per persona and width."""
    opened = {}

    def get(persona, width):
        key = (persona, width)
        if key not in opened:
            context = browser.new_context(viewport=WIDTHS[width])
            page = context.new_page()
            page.refused = watch_csp(page)  # Content-Security-Policy violations, collected per page
            if persona:
                page.goto(f"{server.url}/accounts/login/")
                page.fill("#id_username", persona)
                page.fill("#id_password", PASSWORD)
                page.click("main button[type=submit]")
                page.wait_for_load_state()
                assert "/accounts/login/" not in page.url, f"{persona} could not log in: {page.inner_text('main')[:300]}"
            opened[key] = page
        return opened[key]

    yield get
    for page in opened.values():
        page.context.close()


def _cases():
    for name in PAGES:
        for width in WIDTHS:
            marks = [pytest.mark.xfail(strict=False, reason=KNOWN[name])] if name in KNOWN else []
            yield pytest.param(name, width, id=f"{name}-{width}", marks=marks)


def _violations(page) -> list[str]:
    # Evaluated rather than added as an inline <script>, which the Content-Security-Policy would (rightly) refuse.
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    found = []
    for v in result["violations"]:
        if v["impact"] in ("serious", "critical"):
            targets = ", ".join(" ".join(n["target"]) for n in v["nodes"][:5])
            found.append(f"{v['id']} ({v['impact']}): {targets}")
    return found


# What a finger taps on a tablet: at least 44 px high (and the links at least 44 px wide).
TARGETS = "button, .button, select, input:not([type=checkbox]):not([type=radio]):not([type=hidden]), .topbar nav a, .topbar .who a, .tabs a"


def _small_targets(page) -> list[str]:
    small = page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)]
        .filter((el) => el.offsetParent !== null)
        .map((el) => [el, el.getBoundingClientRect()])
        .filter(([el, r]) => r.height < 43.5 || (el.tagName === "A" && r.width < 43.5))
        .slice(0, 5)
        .map(([el, r]) => [el.tagName.toLowerCase() + (el.id ? "#" + el.id : ""),
                           JSON.stringify((el.textContent || el.name || "").trim().slice(0, 30)),
                           Math.round(r.width) + "x" + Math.round(r.height)].join(" "))""",
        TARGETS,
    )
    return [f"touch target under 44 px: {s}" for s in small]


@pytest.mark.parametrize(("name", "width"), list(_cases()))
def test_page_fits_the_width_and_has_no_serious_axe_violation(name, width, server, seeded, contexts):
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `make axe` (npm install from the npm registry)")
    persona, path = PAGES[name]
    page = contexts(persona, width)
    path = path.format(**seeded)
    page.refused.clear()
    response = page.goto(server.url + path)
    assert response.status == STATUS.get(name, 200), f"{path}: HTTP {response.status}"
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert "no-store" in response.headers["cache-control"]
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    problems = []
    if widths[0] > widths[1]:
        problems.append(f"the page scrolls sideways: scrollWidth {widths[0]} > innerWidth {widths[1]}")
    if width == "820":
        problems += _small_targets(page)
    problems += _violations(page)
    problems += [f"CSP: {m}" for m in page.refused] + [f"CSP event: {m}" for m in page.evaluate("window.__csp || []")]
    assert not problems, f"{name} at {width} px ({path}):\n" + "\n".join(problems)


def test_casebook_prints_without_navigation_or_forms_one_section_a_page(server, seeded, contexts):
    page = contexts("coord01", "1366")
    page.goto(f"{server.url}/patients/{seeded['jd']}/casebook/")
    page.emulate_media(media="print")
    try:
        shown = page.evaluate(
            """() => ({
            header: getComputedStyle(document.querySelector("header.topbar")).display,
            forms: [...document.querySelectorAll("form, nav")].filter((el) => getComputedStyle(el).display !== "none").length,
            breaks: [...document.querySelectorAll(".casebook-section")].map((el) => getComputedStyle(el).breakBefore),
            overflow: [...document.querySelectorAll(".casebook .scroll")].map((el) => getComputedStyle(el).overflowX),
        })"""
        )
        pdf = page.pdf(format="A4")
    finally:
        page.emulate_media(media="screen")
    assert shown["header"] == "none"
    assert shown["forms"] == 0
    assert shown["breaks"] == ["auto", "page", "page", "page", "page"]
    assert set(shown["overflow"]) == {"visible"}
    assert pdf.startswith(b"%PDF")


def test_calendar_prints_without_navigation_or_forms_and_its_table_unclipped(server, seeded, contexts):
    page = contexts("coord01", "1366")
    page.goto(f"{server.url}/patients/{seeded['jd']}/calendar/")
    page.emulate_media(media="print")
    try:
        shown = page.evaluate(
            """() => ({
            header: getComputedStyle(document.querySelector("header.topbar")).display,
            forms: [...document.querySelectorAll("form, nav")].filter((el) => getComputedStyle(el).display !== "none").length,
            overflow: [...document.querySelectorAll(".scroll")].map((el) => getComputedStyle(el).overflowX),
            rows: document.querySelectorAll("#calendar tbody tr").length,
            thead: getComputedStyle(document.querySelector("#calendar thead")).display,
        })"""
        )
        pdf = page.pdf(format="A4")
    finally:
        page.emulate_media(media="screen")
    assert shown["header"] == "none"
    assert shown["forms"] == 0
    assert set(shown["overflow"]) == {"visible"}
    assert shown["rows"] > 0
    assert shown["thead"] == "table-header-group"
    assert pdf.startswith(b"%PDF")
