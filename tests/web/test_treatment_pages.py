"""The treatment tab, the diary and the worklist, per persona."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cohorts.models import Drug
from dosing.models import Administration, Cycle, Visit
from dosing.services import administration_record, cycle_start

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
START = TODAY - timedelta(days=390)


@pytest.fixture
def cycle1(treated, alice):
    return cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))


@pytest.mark.parametrize(("persona", "status"), [("alice", 200), ("ivan", 200), ("dana", 200), ("mona", 200), ("bob", 404), ("olga", 403)])
def test_treatment_tab_per_persona(client, personas, treated, cycle1, persona, status):
    client.force_login(personas[persona])
    assert client.get(reverse("patient_treatment", args=[treated.study_id])).status_code == status


def test_read_only_roles_cannot_post_treatment_forms(client, mona, treated, cycle1):
    client.force_login(mona)
    response = client.post(reverse("patient_treatment", args=[treated.study_id]), {"action": "cycle", "cycle-day1": TODAY.isoformat(), "cycle-weight_kg": "80"})
    assert response.status_code == 403
    assert Cycle.objects.count() == 1


def test_grid_shows_plan_given_and_held(client, alice, treated, cycle1, trial):
    pom = Drug.objects.get(trial=trial, code="pomalidomide")
    administration_record(cycle=cycle1, by=alice, drug=pom, day=1, status="given")
    administration_record(cycle=cycle1, by=alice, drug=pom, day=2, status="held", reason="ANC 0.4")
    client.force_login(alice)
    html = client.get(reverse("patient_treatment", args=[treated.study_id])).content.decode()
    assert 'class="cell-given" data-day="1"' in html
    assert 'class="cell-held" data-day="2" title="planned 3 mg (flat 3 mg); held: ANC 0.4"' in html
    assert 'class="cell-planned" data-day="3"' in html
    assert "BSA 2.00 m2" in html


def test_treatment_tab_shows_cumulative_dose_given_per_drug(client, alice, treated, cycle1, trial):
    pom = Drug.objects.get(trial=trial, code="pomalidomide")
    administration_record(cycle=cycle1, by=alice, drug=pom, day=1, status="given")
    administration_record(cycle=cycle1, by=alice, drug=pom, day=2, status="given")
    administration_record(cycle=cycle1, by=alice, drug=pom, day=3, status="held", reason="ANC 0.4")
    client.force_login(alice)
    response = client.get(reverse("patient_treatment", args=[treated.study_id]))
    assert response.status_code == 200
    assert response.context["t"].cumulative == {pom.name: Decimal(6)}
    html = response.content.decode()
    assert "<h3>Cumulative dose given</h3>" in html
    assert f"<li>{pom.name}: 6 mg</li>" in html


def test_start_cycle_form_shows_field_errors_and_saves_nothing(client, alice, treated, cycle1):
    client.force_login(alice)
    response = client.post(
        reverse("patient_treatment", args=[treated.study_id]),
        {
            "action": "cycle",
            "cycle-day1": (START + timedelta(days=35)).isoformat(),
            "cycle-weight_kg": "500",
        },
    )
    form = response.context["forms"]["cycle"]
    assert "weight_kg" in form.errors
    assert "delay_reason" in form.errors
    assert Cycle.objects.count() == 1


def test_grid_cells_link_their_dose_with_cycle_and_day(client, alice, treated, cycle1):
    client.force_login(alice)
    html = client.get(reverse("patient_treatment", args=[treated.study_id])).content.decode()
    assert reverse("cycle_dose", args=[treated.study_id, 1, "pomalidomide", 4]) in html
    assert reverse("cycle_dose", args=[treated.study_id, 1, "bendamustine", 2]) in html
    assert 'name="dose-cycle"' not in html  # the cycle and day are never typed


def test_cell_records_then_corrects_a_dose_with_reason_for_change(client, alice, treated, cycle1):
    client.force_login(alice)
    url = reverse("cycle_dose", args=[treated.study_id, 1, "pomalidomide", 4])
    response = client.post(url, {"status": "held"})
    assert "reason" in response.context["form"].errors
    assert client.post(url, {"status": "held", "reason": "infection"}).status_code == 302
    response = client.post(url, {"status": "given"})
    assert "reason_for_change" in response.context["form"].errors
    assert client.post(url, {"status": "given", "reason_for_change": "held in error"}).status_code == 302
    record = Administration.objects.get()
    assert (record.day, record.status) == (4, "given")
    assert record.history.first().history_change_reason == "held in error"


def test_cell_on_an_unscheduled_day_is_a_deviation(client, alice, treated, cycle1):
    client.force_login(alice)
    url = reverse("cycle_dose", args=[treated.study_id, 1, "bendamustine", 8])
    response = client.post(url, {"status": "given", "dose_mg": "240"})
    assert "reason" in response.context["form"].errors
    assert client.post(url, {"status": "given", "dose_mg": "240", "reason": "day 2 postponed"}).status_code == 302
    assert Administration.objects.get().deviation is True


def test_read_only_roles_cannot_post_a_cell(client, mona, treated, cycle1):
    client.force_login(mona)
    assert client.post(reverse("cycle_dose", args=[treated.study_id, 1, "pomalidomide", 4]), {"status": "given"}).status_code == 403


def test_cycle_form_proposes_the_planned_day_and_asks_for_the_weight(client, alice, treated, cycle1):
    client.force_login(alice)
    form = client.get(reverse("patient_treatment", args=[treated.study_id])).context["forms"]["cycle"]
    assert form["day1"].value() == cycle1.day1 + timedelta(days=28)
    assert form["weight_kg"].value() is None  # never the registration weight


def test_off_treatment_needs_confirmation(client, alice, treated, cycle1, trial):
    pom = Drug.objects.get(trial=trial, code="pomalidomide")
    administration_record(cycle=cycle1, by=alice, drug=pom, day=1, status="given")
    client.force_login(alice)
    url = reverse("patient_treatment", args=[treated.study_id])
    data = {"action": "off", "off-reason_code": "progression", "off-decided_on": (START + timedelta(days=5)).isoformat()}
    response = client.post(url, data)
    assert "confirm" in response.context["forms"]["off"].errors
    assert client.post(url, {**data, "off-confirm": "on"}).status_code == 302
    treated.refresh_from_db()
    assert treated.status == "off_treatment"


def test_diary_taken_as_planned_with_two_missed_days(client, alice, treated, cycle1):
    client.force_login(alice)
    url = reverse("cycle_diary", args=[treated.study_id, 1, "pomalidomide"])
    html = client.get(url).content.decode()
    assert "3 mg" in html  # the planned dose is shown
    data = {"rest_as_planned": "on", "status_5": "missed", "reason_5": "vomiting", "status_6": "missed", "reason_6": "vomiting"}
    assert client.post(url, data).status_code == 302
    assert Administration.objects.filter(status="given").count() == 19
    assert sorted(Administration.objects.filter(status="missed").values_list("day", flat=True)) == [5, 6]


def test_diary_saves_every_day_at_once(client, alice, treated, cycle1, trial):
    client.force_login(alice)
    url = reverse("cycle_diary", args=[treated.study_id, 1, "pomalidomide"])
    data = {f"status_{d}": "given" for d in range(1, 22)}
    data["status_7"] = "missed"
    response = client.post(url, data)
    assert response.status_code == 200
    assert "Day 7" in response.content.decode()
    assert not Administration.objects.exists()
    data["reason_7"] = "vomited the capsule"
    assert client.post(url, data).status_code == 302
    assert Administration.objects.filter(status="given").count() == 20


def test_worklist_shows_due_visits_of_the_coordinators_site_only(client, alice, bob, trial, site_b, site_a):
    from cohorts.services import patient_enroll
    from tests.factories import register_patient

    mine = register_patient(trial, site_a, alice, consent_date=TODAY - timedelta(days=30))
    theirs = register_patient(trial, site_b, bob, consent_date=TODAY - timedelta(days=30))
    for p, by in ((mine, alice), (theirs, bob)):
        patient_enroll(patient=p, by=by, enrolled_on=TODAY - timedelta(days=20))
        cycle_start(patient=p, by=by, day1=TODAY - timedelta(days=14), weight_kg=Decimal(70))
    client.force_login(alice)
    response = client.get(reverse("worklist"))
    html = response.content.decode()
    assert mine.study_id in html
    assert theirs.study_id not in html
    sections = {key: rows for key, _, rows, _ in response.context["sections"]}
    assert [i.what for i in sections["overdue"] if i.patient == mine] == ["Cycle 1 day 1 visit", "Cycle 1 day 8 visit"]
    assert [i.what for i in sections["today"] if i.patient == mine] == ["Cycle 1 day 15 visit"]
    assert [i.what for i in sections["week"] if i.patient == mine] == ["Cycle 1 day 22 visit"]  # cycle 2 day 1 is 14 days away
    visit = Visit.objects.get(patient=mine, day=15)
    assert reverse("visit_record", args=[visit.pk]) in html  # the row opens the visit page (no "Done today" any more)
    assert "Done today" not in html


def test_treatment_tab_queries_do_not_grow_with_cycles(client, alice, treated, trial, settings):
    day1 = START
    cycle_start(patient=treated, by=alice, day1=day1, weight_kg=Decimal(80))
    settings.TRIALSITE_SESSION_RENEW_SECONDS = 24 * 3600  # no session renewal between the two counts
    client.force_login(alice)
    url = reverse("patient_treatment", args=[treated.study_id])
    assert client.get(url).status_code == 200  # the first page after signing in renews the session
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    for _ in range(5):
        day1 += timedelta(days=28)
        cycle_start(patient=treated, by=alice, day1=day1, weight_kg=Decimal(80))
    with CaptureQueriesContext(connection) as six:
        assert client.get(url).status_code == 200
    assert len(six.captured_queries) == len(one.captured_queries)


def test_older_cycles_are_summarised_and_drawn_on_request(client, alice, treated):
    day1 = START
    for _ in range(4):
        cycle_start(patient=treated, by=alice, day1=day1, weight_kg=Decimal(80))
        day1 += timedelta(days=28)
    client.force_login(alice)
    url = reverse("patient_treatment", args=[treated.study_id])
    html = client.get(url).content.decode()
    assert 'id="cycle-4"' in html
    assert 'id="cycle-3"' in html
    assert 'id="cycle-1"' not in html
    assert 'data-cycle="1"' in html
    assert "?cycle=1#cycle-1" in html
    assert 'id="cycle-1"' in client.get(url, {"cycle": 1}).content.decode()
