"""The visit day service (issue #16): one submission saves a visit's doses, labs, vital signs and new events, or nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cohorts.models import Drug
from dosing.models import Administration, Visit
from dosing.selectors import worklist
from dosing.services import cycle_start
from toxicity.ctcae import meddra
from toxicity.models import AdverseEvent, LabResult
from toxicity.services import DoseEntry, lab_record, visit_day_record
from trialsite.models import Change

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
START = TODAY - timedelta(days=20)
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}


@pytest.fixture
def cycle(treated, alice):
    return cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))


def visit(cycle, day):
    return Visit.objects.get(cycle=cycle, day=day)


def day_doses(cycle, day, **exceptions):
    drugs = [p.drug for p in cycle.planned.filter(day=day).select_related("drug")]
    return [exceptions.get(d.code, DoseEntry(d, "given")) for d in drugs]


def test_one_submission_saves_doses_labs_vitals_and_an_event(cycle, alice):
    v = visit(cycle, 8)
    saved = visit_day_record(
        visit=v,
        by=alice,
        done_on=v.expected_on,
        doses=day_doses(cycle, 8),
        labs={"anc": Decimal("1.2"), "platelets": Decimal(140), "temperature": Decimal("37.1"), "units": {}},
        adverse_events=[{"term": meddra("Nausea"), "grade": 2, "onset": v.expected_on, "attribution": RELATED}],
        vitals={"weight_kg": Decimal("79.4"), "pulse_bpm": 72, "systolic_mmhg": 125, "diastolic_mmhg": 80},
    )
    v.refresh_from_db()
    assert (v.done_on, v.weight_kg, v.pulse_bpm, v.out_of_window, v.recorded_by) == (v.expected_on, Decimal("79.4"), 72, False, alice)
    assert {a.drug.code for a in saved.doses} == {"pomalidomide", "dexamethasone"}
    assert LabResult.objects.get(patient=cycle.patient, on=v.expected_on).temperature == Decimal("37.1")
    assert AdverseEvent.objects.filter(patient=cycle.patient).count() == 1
    assert Change.objects.filter(patient_id=cycle.patient.pk).exists()
    assert v.history.first().history_change_reason == "Visit done"


def test_one_bad_field_saves_nothing_and_names_every_part(cycle, alice):
    v = visit(cycle, 8)
    pom = Drug.objects.get(trial=cycle.patient.trial, code="pomalidomide")
    before = (Administration.objects.count(), LabResult.objects.count(), AdverseEvent.objects.count())
    with pytest.raises(ValidationError) as info:
        visit_day_record(
            visit=v,
            by=alice,
            done_on=v.expected_on,
            doses=day_doses(cycle, 8, pomalidomide=DoseEntry(pom, "missed")),  # no reason
            labs={"anc": Decimal("1.2"), "hemoglobin": Decimal(120), "units": {}},  # 120 g/dL: did you mean g/L?
            adverse_events=[{"term": meddra("Nausea"), "grade": 2, "onset": v.expected_on, "attribution": RELATED}],
        )
    errors = info.value.message_dict
    assert "dose.pomalidomide.reason" in errors
    assert "lab.hemoglobin" in errors
    assert (Administration.objects.count(), LabResult.objects.count(), AdverseEvent.objects.count()) == before
    v.refresh_from_db()
    assert v.done_on is None


def test_out_of_window_asks_for_confirmation_then_flags_a_deviation(cycle, alice):
    v = visit(cycle, 8)
    late = v.expected_on + timedelta(days=4)
    with pytest.raises(ValidationError) as info:
        visit_day_record(visit=v, by=alice, done_on=late)
    assert "confirm to record it as a protocol deviation" in info.value.message_dict["visit.done_on"][0]
    with pytest.raises(ValidationError) as info:
        visit_day_record(visit=v, by=alice, done_on=late, confirm_out_of_window=True)
    assert "visit.note" in info.value.message_dict
    visit_day_record(visit=v, by=alice, done_on=late, confirm_out_of_window=True, note="patient's transport failed")
    v.refresh_from_db()
    assert (v.done_on, v.out_of_window) == (late, True)
    assert "protocol deviation" in v.history.first().history_change_reason


def test_within_window_needs_no_confirmation(cycle, alice):
    v = visit(cycle, 8)
    visit_day_record(visit=v, by=alice, done_on=v.expected_on + timedelta(days=2))
    v.refresh_from_db()
    assert v.out_of_window is False


def test_a_recorded_visit_is_corrected_only_with_a_reason(cycle, alice):
    v = visit(cycle, 8)
    visit_day_record(visit=v, by=alice, done_on=v.expected_on)
    with pytest.raises(ValidationError) as info:
        visit_day_record(visit=v, by=alice, done_on=v.expected_on + timedelta(days=1))
    assert "visit.reason_for_change" in info.value.message_dict
    visit_day_record(visit=v, by=alice, done_on=v.expected_on + timedelta(days=1), reason_for_change="date typed wrong")
    v.refresh_from_db()
    assert v.done_on == v.expected_on + timedelta(days=1)


def test_recorded_visit_is_never_overdue_on_the_worklist(cycle, alice):
    v = visit(cycle, 1)
    overdue = [i.visit for i in worklist(alice, today=TODAY)["overdue"]]
    assert v in overdue
    visit_day_record(visit=v, by=alice, done_on=v.expected_on, doses=day_doses(cycle, 1))
    assert v not in [i.visit for i in worklist(alice, today=TODAY)["overdue"]]


def test_labs_recorded_in_the_window_make_the_visit_done(cycle, alice):
    v = visit(cycle, 8)
    lab_record(patient=cycle.patient, by=alice, on=v.expected_on + timedelta(days=1), anc=Decimal("1.5"))
    v.refresh_from_db()
    assert v.done_on == v.expected_on + timedelta(days=1)
    assert v not in [i.visit for i in worklist(alice, today=TODAY)["overdue"]]


def test_future_visit_date_is_refused(cycle, alice):
    v = visit(cycle, 22)  # START + 21 days: tomorrow
    with pytest.raises(ValidationError) as info:
        visit_day_record(visit=v, by=alice, done_on=v.expected_on)
    assert "visit.done_on" in info.value.message_dict
