"""The patient calendar (issue #16 point 3): every planned and actual visit by cycle with its window and status,
the DLT window and the cycle-2 deadline marked; read-only, printable, scoped like every patient page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dosing.models import Cycle, Visit
from dosing.services import cycle_start

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=390)


@pytest.fixture
def calendar_url(on_c1):
    return reverse("patient_calendar", args=[on_c1.study_id])


def _row(html: str, visit: Visit) -> str:
    """The calendar's table row of a visit (from its link or label to the end of the row)."""
    start = html.index(f'href="/visits/{visit.pk}/"')
    return html[start : html.index("</tr>", start)]


@pytest.mark.parametrize(("persona", "status"), [("alice", 200), ("bob", 404), ("ivan", 200), ("dana", 200), ("mona", 200), ("olga", 403)])
def test_calendar_is_shown_to_whom_the_patient_is_shown(client, personas, calendar_url, persona, status):
    client.force_login(personas[persona])
    assert client.get(calendar_url).status_code == status


def test_calendar_requires_login(client, calendar_url):
    response = client.get(calendar_url)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_calendar_shows_each_visit_status_in_words(client, alice, on_c1, calendar_url):
    d1, d8, d15, d22 = Visit.objects.filter(patient=on_c1, cycle__number=1).order_by("day")
    Visit.objects.filter(pk=d1.pk).update(done_on=d1.expected_on)
    Visit.objects.filter(pk=d8.pk).update(done_on=d8.expected_on + timedelta(days=9), out_of_window=True)
    Visit.objects.filter(pk=d15.pk).update(cancelled=True, note="Patient in hospital with pneumonia")
    due = Visit.objects.create(patient=on_c1, kind=Visit.Kind.FOLLOW_UP, expected_on=TODAY + timedelta(days=1), window_days=3)
    later = Visit.objects.create(patient=on_c1, kind=Visit.Kind.FOLLOW_UP, expected_on=TODAY + timedelta(days=60), window_days=3)
    client.force_login(alice)
    html = client.get(calendar_url).content.decode()
    assert '<span class="cal-status">Done</span>' in _row(html, d1)
    assert "Done, out of window" in _row(html, d8)
    assert (d8.expected_on + timedelta(days=9)).isoformat() in _row(html, d8)
    lo, hi = d8.expected_on - timedelta(days=d8.window_days), d8.expected_on + timedelta(days=d8.window_days)
    assert f"{lo.isoformat()} to {hi.isoformat()}" in _row(html, d8)
    assert "Overdue" in _row(html, d22)
    assert '<span class="cal-status">Due</span>' in _row(html, due)
    assert "Upcoming" in _row(html, later)
    # a cancelled visit is not linked (no data to enter) but shows its reason
    assert f'href="/visits/{d15.pk}/"' not in html
    assert "Missed / cancelled" in html
    assert "Patient in hospital with pneumonia" in html
    assert 'data-cycle="1"' in html
    assert 'data-cycle="follow-up"' in html


def test_calendar_marks_the_dlt_window_and_the_cycle_2_deadline(client, alice, on_c1, calendar_url, trial):
    client.force_login(alice)
    html = client.get(calendar_url).content.decode()
    window_end = C1 + timedelta(days=trial.dlt_window_days - 1)
    deadline = C1 + timedelta(days=trial.cycle_length_days + 14)
    assert f'<span id="dlt-window">{C1.isoformat()} to {window_end.isoformat()}</span>' in html
    assert f'<span id="c2-deadline">{deadline.isoformat()}</span>' in html
    assert "DLT window opens" in html
    assert "DLT window ends" in html
    assert "Cycle 2 deadline (planned cycle 2 day 1 + 14 days)" in html
    # rows in date order: the window opens before day 1's visit, the deadline after the last visit of cycle 1
    assert html.index("DLT window opens") < html.index("Day 1 visit") < html.index("DLT window ends") < html.index("Cycle 2 deadline")


def test_calendar_marks_the_visits_inside_the_dlt_window(client, alice, on_c1, calendar_url, trial):
    window_end = C1 + timedelta(days=trial.dlt_window_days - 1)
    visits = list(Visit.objects.filter(patient=on_c1, cycle__number=1).order_by("day"))
    late = visits[-1]
    Visit.objects.filter(pk=late.pk).update(done_on=window_end + timedelta(days=1), out_of_window=True)  # done after the window closed
    after = Visit.objects.create(patient=on_c1, kind=Visit.Kind.FOLLOW_UP, expected_on=window_end + timedelta(days=30), window_days=3)
    client.force_login(alice)
    html = client.get(calendar_url).content.decode()
    for v in visits[:-1]:
        assert C1 <= v.expected_on <= window_end
        assert "in DLT window" in _row(html, v)
    assert "in DLT window" not in _row(html, late)  # the actual date counts, not the planned one
    assert "in DLT window" not in _row(html, after)
    assert html.count("data-dlt-window") == len(visits) - 1


def test_calendar_read_only_roles_see_no_visit_links(client, mona, on_c1, calendar_url):
    client.force_login(mona)
    html = client.get(calendar_url).content.decode()
    assert 'href="/visits/' not in html
    main = html.split('<main id="main">', 1)[1]
    assert "<form" not in main


def test_calendar_tab_is_between_treatment_and_safety(client, alice, on_c1, calendar_url):
    client.force_login(alice)
    html = client.get(reverse("patient_treatment", args=[on_c1.study_id])).content.decode()
    assert html.index(">Treatment</a>") < html.index(f'href="{calendar_url}"') < html.index(">Safety</a>")
    calendar = client.get(calendar_url).content.decode()
    crumbs = calendar.split('aria-label="Breadcrumb"', 1)[1].split("</nav>", 1)[0]
    assert '<span aria-current="page">Calendar</span>' in crumbs
    assert 'aria-current="page">Calendar</a>' in calendar


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_calendar_queries_do_not_grow_with_cycles(client, alice, on_c1, calendar_url, trial, django_assert_max_num_queries):
    client.force_login(alice)
    one = _count(client, calendar_url)
    for n in (2, 3, 4):
        day1 = C1 + timedelta(days=(n - 1) * trial.cycle_length_days)
        cycle_start(patient=on_c1, by=alice, day1=day1, weight_kg=Decimal("80.0"), today=day1)
    assert Cycle.objects.filter(patient=on_c1).count() == 4
    with django_assert_max_num_queries(one):
        html = client.get(calendar_url).content.decode()
    assert 'data-cycle="4"' in html
    assert html.count("DLT window ends") == 1
    # once cycle 2 has started, its deadline sits among cycle 2's visits
    assert html.index('data-cycle="2"') < html.index("Cycle 2 deadline") < html.index('data-cycle="3"')
