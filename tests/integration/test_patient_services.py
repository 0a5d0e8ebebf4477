from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from cohorts.models import Cohort, Enrolment, Patient
from cohorts.services import patient_change_status, patient_enroll, patient_register, patient_update
from cohorts.status import PatientStatus
from tests.factories import register_patient, registration_values
from trialsite.errors import CapReached, NoOpenSlot

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


def test_study_ids_are_numbered_per_site(trial, site_a, site_b, alice, bob):
    ids = [register_patient(trial, site_a, alice).study_id for _ in range(3)]
    assert ids == ["BPD-01-001", "BPD-01-002", "BPD-01-003"]
    assert register_patient(trial, site_b, bob).study_id == "BPD-02-001"


def test_registration_starts_in_screening_with_a_history_record(trial, site_a, alice):
    patient = register_patient(trial, site_a, alice)
    assert patient.status == PatientStatus.SCREENING
    record = patient.history.get()
    assert (record.history_type, record.history_user, record.history_change_reason) == ("+", alice, "Registered")


def test_impossible_weight_is_refused_and_nothing_saved(trial, site_a, alice):
    with pytest.raises(ValidationError) as info:
        patient_register(trial=trial, site=site_a, by=alice, **registration_values(trial, weight_kg=Decimal(500)))
    assert "weight_kg" in info.value.message_dict
    assert Patient.objects.count() == 0


def test_height_in_metres_is_refused(trial, site_a, alice):
    with pytest.raises(ValidationError) as info:
        patient_register(trial=trial, site=site_a, by=alice, **registration_values(trial, height_cm=Decimal("1.7")))
    assert "metres" in info.value.message_dict["height_cm"][0]


def test_same_person_twice_at_a_site_is_refused(trial, site_a, alice):
    first = register_patient(trial, site_a, alice, initials="JD")
    with pytest.raises(ValidationError) as info:
        register_patient(trial, site_a, alice, initials="jd", date_of_birth=first.date_of_birth)
    assert first.study_id in info.value.message_dict["initials"][0]


def test_a_given_study_id_must_fit_the_site_and_be_free(trial, site_a, alice):
    register_patient(trial, site_a, alice, study_id="BPD-01-010")
    with pytest.raises(ValidationError, match="already taken"):
        register_patient(trial, site_a, alice, study_id="BPD-01-010")
    with pytest.raises(ValidationError, match="BPD-01-NNN"):
        register_patient(trial, site_a, alice, study_id="BPD-02-011")
    assert register_patient(trial, site_a, alice).study_id == "BPD-01-011"


def test_coordinator_cannot_register_at_another_site(trial, site_b, alice):
    with pytest.raises(PermissionDenied):
        register_patient(trial, site_b, alice)


def test_edit_needs_a_reason_and_keeps_old_and_new_values(patient_a, alice):
    with pytest.raises(ValidationError) as info:
        patient_update(patient=patient_a, by=alice, reason="", weight_kg=Decimal("70.5"))
    assert "reason" in info.value.message_dict
    patient_update(patient=patient_a, by=alice, reason="Weighed again on the ward scale", weight_kg=Decimal("70.5"))
    record = patient_a.history.latest()
    delta = record.diff_against(record.prev_record)
    assert [(c.field, c.old, c.new) for c in delta.changes] == [("weight_kg", Decimal("68.0"), Decimal("70.5"))]
    assert (record.history_user, record.history_change_reason) == (alice, "Weighed again on the ward scale")


def test_edit_without_a_change_writes_nothing(patient_a, alice):
    before = patient_a.history.count()
    patient_update(patient=patient_a, by=alice, reason="", weight_kg=patient_a.weight_kg)
    assert patient_a.history.count() == before


def test_edit_to_an_implausible_value_is_refused(patient_a, alice):
    with pytest.raises(ValidationError) as info:
        patient_update(patient=patient_a, by=alice, reason="typo", height_cm=Decimal("1.65"))
    assert "height_cm" in info.value.message_dict
    patient_a.refresh_from_db()
    assert patient_a.height_cm == Decimal("165.0")


def test_enrolment_takes_the_starting_level_and_the_next_slot(trial, site_a, alice):
    first, second = register_patient(trial, site_a, alice), register_patient(trial, site_a, alice)
    e1 = patient_enroll(patient=first, by=alice)
    e2 = patient_enroll(patient=second, by=alice)
    assert (e1.level.label, e1.cohort.number, e1.slot) == (1, 1, 1)
    assert (e2.level.label, e2.slot) == (1, 2)
    first.refresh_from_db()
    assert first.status == PatientStatus.ENROLLED
    assert first.status_date == TODAY


def test_fourth_patient_gets_no_open_slot_and_stays_in_screening(trial, site_a, alice):
    for _ in range(3):
        patient_enroll(patient=register_patient(trial, site_a, alice), by=alice)
    fourth = register_patient(trial, site_a, alice)
    with pytest.raises(NoOpenSlot, match="No open slot: cohort 1 at level 1 is full"):
        patient_enroll(patient=fourth, by=alice)
    fourth.refresh_from_db()
    assert fourth.status == PatientStatus.SCREENING
    assert Enrolment.objects.count() == 3


def test_unconsented_patient_cannot_be_enrolled(trial, site_a, alice):
    patient = register_patient(trial, site_a, alice, consent_date=None)
    with pytest.raises(ValidationError) as info:
        patient_enroll(patient=patient, by=alice)
    assert "not consented" in info.value.message_dict["consent_date"][0]
    assert not Enrolment.objects.exists()


def test_ineligible_patient_cannot_be_enrolled(trial, site_a, alice):
    patient = register_patient(trial, site_a, alice, eligibility={"I1": True})
    with pytest.raises(ValidationError) as info:
        patient_enroll(patient=patient, by=alice)
    assert "not eligible" in info.value.message_dict["eligibility"][0]


def test_enrolment_before_consent_is_refused(trial, site_a, alice):
    patient = register_patient(trial, site_a, alice, consent_date=TODAY)
    with pytest.raises(ValidationError, match="cannot be before consent"):
        patient_enroll(patient=patient, by=alice, enrolled_on=TODAY - timedelta(days=1))


def test_consent_cannot_be_moved_after_enrolment(trial, site_a, alice):
    patient = register_patient(trial, site_a, alice, consent_date=TODAY - timedelta(days=10))
    patient_enroll(patient=patient, by=alice, enrolled_on=TODAY - timedelta(days=5))
    with pytest.raises(ValidationError) as info:
        patient_update(patient=patient, by=alice, reason="date typo", consent_date=TODAY - timedelta(days=2))
    assert "after enrolment" in info.value.message_dict["consent_date"][0]


def test_a_patient_is_enrolled_once(trial, site_a, alice):
    patient = register_patient(trial, site_a, alice)
    patient_enroll(patient=patient, by=alice)
    with pytest.raises(ValidationError, match="only a patient in screening"):
        patient_enroll(patient=patient, by=alice)


def test_escalation_cap_is_enforced(trial, site_a, alice):
    trial.cap_escalation = 2
    trial.save()
    for _ in range(2):
        patient_enroll(patient=register_patient(trial, site_a, alice), by=alice)
    with pytest.raises(CapReached, match="escalation phase has 2 of 2"):
        patient_enroll(patient=register_patient(trial, site_a, alice), by=alice)


def test_total_cap_is_enforced_in_expansion(trial, site_a, alice):
    cohort = Cohort.objects.get(trial=trial)
    cohort.phase, cohort.capacity = Cohort.Phase.EXPANSION, 6
    cohort.save()
    trial.cap_total = 1
    trial.save()
    patient_enroll(patient=register_patient(trial, site_a, alice), by=alice)
    with pytest.raises(CapReached, match="trial has 1 of 1"):
        patient_enroll(patient=register_patient(trial, site_a, alice), by=alice)


def test_status_moves_follow_the_table_and_keep_the_reason(trial, site_a, alice):
    patient = register_patient(trial, site_a, alice)
    patient_enroll(patient=patient, by=alice)
    patient_change_status(patient=patient, by=alice, to_status="on_treatment", reason_code=None, on_date=TODAY)
    patient_change_status(patient=patient, by=alice, to_status="off_treatment", reason_code="progression", on_date=TODAY, note="PD on imaging")
    patient.refresh_from_db()
    assert (patient.status, patient.status_reason) == ("off_treatment", "progression")
    assert patient.history.latest().history_change_reason == "On treatment -> Off treatment: Disease progression. PD on imaging"
    with pytest.raises(ValidationError, match="cannot move from Off treatment to On treatment"):
        patient_change_status(patient=patient, by=alice, to_status="on_treatment", reason_code=None, on_date=TODAY)


def test_status_change_in_the_future_or_before_the_current_status_is_refused(trial, site_a, alice):
    patient = register_patient(trial, site_a, alice)
    patient_enroll(patient=patient, by=alice, enrolled_on=TODAY - timedelta(days=3))
    with pytest.raises(ValidationError, match="future"):
        patient_change_status(patient=patient, by=alice, to_status="on_treatment", reason_code=None, on_date=TODAY + timedelta(days=1))
    with pytest.raises(ValidationError, match="before the current status began"):
        patient_change_status(patient=patient, by=alice, to_status="on_treatment", reason_code=None, on_date=TODAY - timedelta(days=4))
