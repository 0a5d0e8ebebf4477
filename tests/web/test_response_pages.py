"""The response tab, the trial's response dashboard, SVG downloads and the response API, per persona."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from response.models import MyelomaAssessment, RecomputeJob, ResponseResult
from response.services import assessment_record, endpoints_compute, response_compute_many

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=390)


def d(n):
    return C1 + timedelta(days=n)


@pytest.fixture
def responder(on_c1, alice, trial):
    for day, spep in ((-2, "3.0"), (28, "1.5"), (56, "1.4")):
        assessment_record(patient=on_c1, by=alice, on=d(day), values={"spep": spep, "upep": "0"})
    response_compute_many([on_c1.pk])
    endpoints_compute(trial=trial)
    return on_c1


def post_assessment(client, patient, **values):
    data = {
        "action": "assessment",
        "a-on": d(84).isoformat(),
        "a-spep_unit": "g/dL",
        "a-upep_unit": "mg/24h",
        "a-kappa_unit": "mg/dL",
        "a-lambda_flc_unit": "mg/dL",
    }
    data |= {"a-serum_ife": "unknown", "a-urine_ife": "unknown", "a-marrow_clonal": "unknown", "a-plasmacytoma": "unknown", "a-new_lesions": "unknown"}
    data |= {f"a-{k}": v for k, v in values.items()}
    return client.post(reverse("patient_response", args=[patient.study_id]), data)


@pytest.mark.parametrize(("persona", "status"), [("alice", 200), ("ivan", 200), ("dana", 200), ("mona", 200), ("bob", 404), ("olga", 403)])
def test_response_tab_per_persona(client, personas, on_c1, persona, status):
    client.force_login(personas[persona])
    assert client.get(reverse("patient_response", args=[on_c1.study_id])).status_code == status


def test_the_tab_shows_each_assessment_with_its_category_and_confirmation(client, alice, responder):
    client.force_login(alice)
    html = client.get(reverse("patient_response", args=[responder.study_id])).content.decode()
    assert '<p class="big" id="best-category">PR</p>' in html
    assert f"PR from {d(28).isoformat()}" in html
    assert "serum M-protein -50.00% from baseline" in html


def test_a_coordinator_enters_an_assessment_in_g_per_litre(client, alice, responder, django_capture_on_commit_callbacks):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_assessment(client, responder, spep="12", spep_unit="g/L", upep="0")
    assert response.status_code == 302
    assert MyelomaAssessment.objects.get(on=d(84)).spep == D("1.20")


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"spep": "-1"}, "spep", "cannot be negative"),
        ({"marrow_pc": "120"}, "marrow_pc", "at most 100%"),
        ({"kappa": "40", "lambda_flc": "1", "kappa_unit": "mg/L"}, "lambda_flc", "are they swapped?"),
        ({"on": (C1 - timedelta(days=100)).isoformat(), "spep": "3"}, "on", "before consent"),
    ],
)
def test_bad_assessments_show_the_error_on_the_form(client, alice, on_c1, values, field, message):
    client.force_login(alice)
    response = post_assessment(client, on_c1, **values)
    assert response.status_code == 200
    assert message in " ".join(response.context["forms"]["assessment"].errors[field])
    assert MyelomaAssessment.objects.count() == 0


def test_dashboard_shows_rates_with_definitions_plots_and_downloads(client, dana, responder, trial):
    client.force_login(dana)
    html = client.get(reverse("trial_response", args=[trial.code])).content.decode()
    assert 'Disease control rate (protocol "ORR", SD or better)' in html
    assert 'class="bar"' in html
    assert f'data-patient="{responder.study_id}"' in html
    assert 'class="km-curve"' in html
    svg = client.get(reverse("trial_response_plot", args=[trial.code, "waterfall"]))
    assert (svg["Content-Type"], svg["Content-Disposition"].startswith("attachment;")) == ("image/svg+xml", True)
    assert b"<svg" in svg.content


def test_every_plot_downloads_alone_and_an_unknown_one_is_404(client, dana, responder, trial, django_assert_max_num_queries):
    client.force_login(dana)
    page = client.get(reverse("trial_response", args=[trial.code])).content.decode()
    for plot in ("waterfall", "swimmer", "pfs", "ttnt", "ttp"):
        response = client.get(reverse("trial_response_plot", args=[trial.code, plot]))
        assert response.status_code == 200, plot
        assert b"<svg" in response.content
        if plot != "ttp":  # shown on the page too
            assert response.content.decode().split("\n", 1)[1].strip()[:40] in page
    with django_assert_max_num_queries(8):  # a Kaplan-Meier curve reads the snapshot only
        assert client.get(reverse("trial_response_plot", args=[trial.code, "pfs"])).status_code == 200
    assert client.get(reverse("trial_response_plot", args=[trial.code, "histogram"])).status_code == 404


def test_recompute_is_queued_and_its_progress_shown(client, dana, mona, alice, responder, trial, django_capture_on_commit_callbacks):
    client.force_login(mona)
    assert client.post(reverse("trial_response", args=[trial.code])).status_code == 403
    client.force_login(dana)
    ResponseResult.objects.update(rule_version="imwg-2016/bpd-0", digest="")  # as after a rule change: the course is stale
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("trial_response", args=[trial.code]))
    job = RecomputeJob.objects.get()
    assert (job.status, job.done, job.total) == ("done", 1, 1)
    assert "1 of 1 patients" in client.get(reverse("trial_response", args=[trial.code])).content.decode()


def test_a_running_recompute_is_followed_in_its_region_and_says_when_it_has_finished(client, dana, trial, django_assert_max_num_queries):
    url = reverse("trial_response", args=[trial.code])
    job = RecomputeJob.objects.create(trial=trial, status="running", total=40, done=12, requested_by=dana, requested_at=timezone.now())
    client.force_login(dana)
    page = client.get(url).content.decode()
    # The recompute's region polls its own page every 3 s (htmx) and swaps itself in; no meta refresh of the page.
    assert 'http-equiv="refresh"' not in page
    assert f'id="recompute" aria-live="polite" hx-get="{url}" hx-trigger="every 3s" hx-select="#recompute" hx-swap="outerHTML"' in page
    assert "12 of 40 patients" in page
    with django_assert_max_num_queries(5):  # session, user, trial, snapshot, job
        polled = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'id="rates"' not in polled  # the poll answers the recompute box alone, not the plots and tables
    assert "hx-trigger" in polled
    assert "recompute-finished" not in polled
    RecomputeJob.objects.filter(pk=job.pk).update(status="done", done=40, finished_at=timezone.now())
    polled = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in polled  # finished: the region stops polling
    assert 'id="recompute-finished" role="status">The recompute has finished: <a href="' + url + '">show the new results</a>' in polled
    plain = client.get(url).content.decode()  # opening the page itself: no notice, no polling
    assert "recompute-finished" not in plain
    assert "hx-trigger" not in plain
    assert "htmx" not in plain


def test_another_sites_coordinator_does_not_see_the_patients_bars(client, bob, responder, trial):
    client.force_login(bob)
    html = client.get(reverse("trial_response", args=[trial.code])).content.decode()
    assert f'data-patient="{responder.study_id}"' not in html


def test_dashboard_queries_do_not_grow_with_patients(client, dana, trial, responder, alice, site_a, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(dana)
    url = reverse("trial_response", args=[trial.code])
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    from cohorts.services import patient_enroll
    from dosing.services import cycle_start
    from tests.factories import register_patient

    for _ in range(2):
        p = register_patient(trial, site_a, alice, consent_date=C1 - timedelta(days=20))
        patient_enroll(patient=p, by=alice, enrolled_on=C1 - timedelta(days=10))
        cycle_start(patient=p, by=alice, day1=C1, weight_kg=D("70.0"))
        for day, spep in ((-2, "2.0"), (28, "2.1")):
            assessment_record(patient=p, by=alice, on=d(day), values={"spep": spep, "upep": "0"})
        response_compute_many([p.pk])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


def test_api_assessments_responses_and_endpoints(alice, dana, responder, trial):
    api = APIClient()
    api.force_authenticate(alice)
    bad = api.post("/api/v1/assessments/", {"patient": responder.study_id, "on": d(84).isoformat(), "values": {"marrow_pc": "101"}}, format="json")
    assert (bad.status_code, "marrow_pc" in bad.json()["errors"]) == (400, True)
    ok = api.post(
        "/api/v1/assessments/", {"patient": responder.study_id, "on": d(84).isoformat(), "values": {"spep": "14"}, "units": {"spep": "g/L"}}, format="json"
    )
    assert (ok.status_code, ok.json()["spep"]) == (201, "1.40")
    responses = api.get("/api/v1/responses/", {"patient": responder.study_id}).json()["results"]
    assert responses[0]["best"] == "PR"
    endpoints = api.get(f"/api/v1/trials/{trial.code}/endpoints/").json()
    assert endpoints["data"]["overall"]["orr"]["n"] == 1
    assert api.post(f"/api/v1/trials/{trial.code}/recompute/").status_code == 403
    api.force_authenticate(dana)
    assert api.post(f"/api/v1/trials/{trial.code}/recompute/").status_code == 202


def test_dflc_on_the_tab_and_in_the_api_is_involved_minus_uninvolved_with_the_baseline_chain(client, on_c1, alice):
    """A lambda patient (ratio 0.1 at baseline): the involved lambda falls while kappa rises; dFLC = lambda - kappa
    (negative once lambda is below kappa), never |kappa - lambda|."""
    for day, kappa, lambda_ in ((-2, "2.0", "20.0"), (28, "3.0", "8.0"), (56, "6.0", "4.0")):
        assessment_record(patient=on_c1, by=alice, on=d(day), values={"kappa": kappa, "lambda_flc": lambda_, "spep": "0", "upep": "0"})
    response_compute_many([on_c1.pk])
    assert ResponseResult.objects.get(patient=on_c1).baseline["involved"] == "lambda"
    client.force_login(alice)
    html = client.get(reverse("patient_response", args=[on_c1.study_id])).content.decode()
    assert "(lambda involved)" in html
    cells = [row.split("<td>")[9].split("</td>")[0] for row in html.split('<tr data-on="')[1:]]
    assert cells == ["18.000", "5.000", "-2.000"]
    api = APIClient()
    api.force_authenticate(alice)
    listed = api.get("/api/v1/assessments/", {"patient": on_c1.study_id}).json()["results"]
    assert [a["dflc"] for a in listed] == ["18.000", "5.000", "-2.000"]


def _synthetic(code, patients):
    """A synthetic trial (the bench's recipe, smaller) with its responses and endpoints computed."""
    import io
    from contextlib import redirect_stdout

    from django.core.management import call_command

    from cohorts.models import Patient, Trial

    with redirect_stdout(io.StringIO()):
        call_command("seed_demo")  # the protocol and the sites
        call_command("seed_demo", patients=patients, seed=1, synthetic=code, cycles=2, assessments=3, span_days=140, latest_days_ago=200)
    trial = Trial.objects.get(code=code)
    response_compute_many(list(Patient.objects.filter(trial=trial).values_list("pk", flat=True)))
    endpoints_compute(trial=trial)
    return trial


@pytest.fixture(scope="module")
def big_trials(django_db_setup, django_db_blocker):
    """Two synthetic trials on either side of the plots' cap of 50 patients, written once for the module (the tests
    only read them) and rolled back after it."""
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        yield _synthetic("SYNS", 6), _synthetic("SYNL", 63)
        transaction.set_rollback(True)


def test_dashboard_queries_are_the_same_on_either_side_of_the_plot_cap(client, dana, big_trials, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(dana)
    small, large = big_trials
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("trial_response", args=[small.code])).status_code == 200
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(reverse("trial_response", args=[large.code])).status_code == 200
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(reverse("trial_response", args=[large.code]), {"page": 2, "level": 1}).status_code == 200


def test_plots_draw_at_most_50_patients_and_summarise_every_patient_beyond(client, dana, big_trials):
    from response.selectors import PLOT_CAP

    client.force_login(dana)
    small, large = big_trials
    html = client.get(reverse("trial_response", args=[small.code])).content.decode()
    assert 'id="waterfall-summary"' not in html  # under the cap every patient is drawn
    html = client.get(reverse("trial_response", args=[large.code])).content.decode()
    swimmer = html.split('id="swimmer"', 1)[1]
    assert html.count('class="bar"') <= PLOT_CAP
    assert 0 < swimmer.count('class="lane"') <= PLOT_CAP
    assert "Patients 1–50 of 63" in html
    summary = html.split('class="plot waterfall-summary"', 1)[1].split("</svg>", 1)[0]
    counted = sum(int(n) for n in __import__("re").findall(r'class="band" [^>]*data-n="(\d+)"', summary))
    assert counted == ResponseResult.objects.filter(patient__trial=large).count()
    assert 'class="plot swimmer-summary"' in html
    page2 = client.get(reverse("trial_response", args=[large.code]), {"page": 2}).content.decode()
    assert "Patients 51–63 of 63" in page2
    assert 'rel="prev"' in page2
    beyond = client.get(reverse("trial_response", args=[large.code]), {"page": 99}).content.decode()
    assert "Patients 51–63 of 63" in beyond  # a page beyond the last is the last


def test_plot_downloads_follow_the_drill_down(client, dana, big_trials):
    client.force_login(dana)
    _, large = big_trials
    url = reverse("trial_response_plot", args=[large.code, "swimmer"])
    level1 = client.get(url, {"level": 1})
    assert level1.status_code == 200
    assert "-level-1-" in level1["Content-Disposition"]
    assert 'data-level="1"' in level1.content.decode()
    assert 'data-level="2"' not in level1.content.decode()
    page2 = client.get(url, {"page": 2}).content.decode()
    assert page2.count('class="lane"') == 13
    for plot in ("waterfall-summary", "swimmer-summary"):
        response = client.get(reverse("trial_response_plot", args=[large.code, plot]))
        assert response.status_code == 200
        assert b"<svg" in response.content


def test_each_unit_select_sits_beside_its_own_value(client, alice, on_c1):
    from django.urls import reverse

    client.force_login(alice)
    html = client.get(reverse("patient_response", args=[on_c1.study_id])).content.decode()
    for name in ("spep", "upep", "kappa", "lambda_flc"):
        pair = html.split(f'id="pair-{name}"', 1)[1].split('<div class="value-unit"', 1)[0]
        assert f'name="a-{name}"' in pair
        assert f'name="a-{name}_unit"' in pair


def test_the_summaries_are_counted_with_the_endpoints_and_drawn_without_reading_the_courses(client, dana, bob, responder, trial):
    """Issue #16: the summary plots' counts are stored with the endpoints snapshot (by site and level, bounded),
    so a summary adds up those rows for its view and reads no course, enrolment or cycle at any trial size."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from response import selectors
    from response.models import EndpointSnapshot

    course = ResponseResult.objects.get(patient=responder)
    site, level = responder.site, str(responder.enrolment.level.label)
    stored = EndpointSnapshot.objects.filter(trial=trial).latest().data["summary"]
    assert course.best_change_pct < -50
    assert stored["bands"] == [[site.pk, site.number, level, "-90% to -50%", course.best, 1]]
    assert stored["lanes"] == [[site.pk, site.number, level, 1, 0, 1 if course.first_response_on else 0, 1 if course.progression_on else 0, 0]]
    assert stored == selectors.summary_counts(trial)

    whole = selectors.dashboard(trial, dana, today=TODAY)["summary"]
    assert (whole["courses"], whole["started"], dict(whole["bands"])["-90% to -50%"]) == (1, 1, {course.best: 1})
    assert selectors.dashboard(trial, dana, today=TODAY, view=selectors.PlotView(level=int(level) + 1))["summary"]["courses"] == 0
    assert selectors.dashboard(trial, bob, today=TODAY)["summary"]["courses"] == 0  # another site's coordinator: not counted

    client.force_login(dana)
    for plot in ("waterfall-summary", "swimmer-summary"):
        with CaptureQueriesContext(connection) as queries:
            svg = client.get(reverse("trial_response_plot", args=[trial.code, plot])).content.decode()
        read = " ".join(q["sql"] for q in queries.captured_queries)
        for table in (ResponseResult._meta.db_table, "cohorts_enrolment", "dosing_cycle"):
            assert table not in read, (plot, table)
        assert 'data-n="1"' in svg, plot


def test_the_plots_page_through_the_patients_counted_with_the_endpoints_without_counting_them_again(client, dana, bob, responder, trial):
    """Issue #16: how many patients the waterfall and swimmer page through comes from the rows stored with the
    endpoints (by site and level), so a download reads only the page it draws: no COUNT over the patients."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from response import selectors
    from response.models import EndpointSnapshot

    site, level = responder.site, str(responder.enrolment.level.label)
    snapshot = EndpointSnapshot.objects.filter(trial=trial).latest()
    assert snapshot.data["summary"]["enrolled"] == [[site.pk, site.number, level, 1]]
    assert selectors.dashboard(trial, dana, today=TODAY)["shown"] == (1, 1, 1)
    assert selectors.dashboard(trial, bob, today=TODAY)["shown"] == (0, 0, 0)  # another site's coordinator
    assert selectors.dashboard(trial, dana, today=TODAY, view=selectors.PlotView(level=int(level) + 1))["shown"] == (0, 0, 0)

    client.force_login(dana)
    for plot in ("waterfall", "swimmer"):
        with CaptureQueriesContext(connection) as queries:
            svg = client.get(reverse("trial_response_plot", args=[trial.code, plot])).content.decode()
        assert responder.study_id in svg, plot
        assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()], plot

    # A snapshot stored before these rows: the patients are counted in SQL, the page is the same.
    snapshot.data["summary"].pop("enrolled")
    snapshot.save()
    assert selectors.dashboard(trial, dana, today=TODAY)["shown"] == (1, 1, 1)
