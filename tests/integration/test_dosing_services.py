from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from cohorts.models import DoseLevel, Drug
from dosing.models import Administration, Cycle, DoseModification, PlannedDose, Visit
from dosing.services import (
    DoseEntry,
    DoseErrors,
    administration_record,
    administrations_record,
    cycle_start,
    diary_record,
    dose_modify,
    patient_off_treatment,
    visit_record,
)
from trialsite.models import Change

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
START = TODAY - timedelta(days=390)


def drug(trial, code):
    return Drug.objects.get(trial=trial, code=code)


def start_cycles(patient, by, count, *, delay_on=None):
    cycles, day1 = [], START
    for n in range(1, count + 1):
        if n == delay_on:
            day1 += timedelta(days=7)
        cycles.append(cycle_start(patient=patient, by=by, day1=day1, weight_kg=Decimal("80.0"), delay_reason="neutropenia" if n == delay_on else ""))
        day1 += timedelta(days=28)
    return cycles


def test_cycle_1_stores_the_plan_with_its_bsa_and_starts_treatment(treated, alice, trial):
    cycle = cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))
    assert (cycle.number, cycle.planned_day1, cycle.bsa_m2, cycle.level.label) == (1, START, Decimal("2.0000"), 1)
    plan = {(p.drug.code, p.day): p for p in PlannedDose.objects.filter(cycle=cycle).select_related("drug")}
    assert plan[("bendamustine", 1)].dose_mg == Decimal(240)
    assert "BSA 2.00 m2" in plan[("bendamustine", 1)].basis
    assert [d for (code, d) in plan if code == "pomalidomide"] == list(range(1, 22))
    assert plan[("dexamethasone", 22)].planned_on == START + timedelta(days=21)
    assert len(plan) == 1 + 21 + 4
    assert list(Visit.objects.filter(cycle=cycle).values_list("day", flat=True)) == [1, 8, 15, 22]
    treated.refresh_from_db()
    assert (treated.status, treated.status_date) == ("on_treatment", START)


def test_next_cycle_is_planned_28_days_later_and_a_late_start_needs_a_reason(treated, alice):
    cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))
    with pytest.raises(ValidationError, match="cannot start before"):
        cycle_start(patient=treated, by=alice, day1=START + timedelta(days=27), weight_kg=Decimal("80.0"))
    with pytest.raises(ValidationError) as info:
        cycle_start(patient=treated, by=alice, day1=START + timedelta(days=35), weight_kg=Decimal("80.0"))
    assert "7 days after the planned" in info.value.message_dict["delay_reason"][0]
    cycle2 = cycle_start(patient=treated, by=alice, day1=START + timedelta(days=35), weight_kg=Decimal("78.0"), delay_reason="platelets 60")
    assert (cycle2.number, cycle2.delay_days, cycle2.delay_reason) == (2, 7, "platelets 60")


def test_cycles_cannot_be_skipped_or_repeated(treated, alice):
    cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))
    with pytest.raises(ValidationError, match="Cycle 1 already exists"):
        cycle_start(patient=treated, by=alice, day1=START + timedelta(days=28), weight_kg=Decimal("80.0"), number=1)
    with pytest.raises(ValidationError, match="next cycle is 2"):
        cycle_start(patient=treated, by=alice, day1=START + timedelta(days=28), weight_kg=Decimal("80.0"), number=3)
    assert Cycle.objects.filter(patient=treated).count() == 1


@pytest.mark.parametrize(("weight", "field"), [(Decimal(0), "weight_kg"), (Decimal(500), "weight_kg")])
def test_implausible_day1_weight_is_refused(treated, alice, weight, field):
    with pytest.raises(ValidationError) as info:
        cycle_start(patient=treated, by=alice, day1=START, weight_kg=weight)
    assert field in info.value.message_dict
    assert not Cycle.objects.exists()


def test_cycle_in_the_future_or_before_enrolment_is_refused(treated, alice):
    with pytest.raises(ValidationError, match="future"):
        cycle_start(patient=treated, by=alice, day1=TODAY + timedelta(days=1), weight_kg=Decimal(80))
    with pytest.raises(ValidationError, match="before enrolment"):
        cycle_start(patient=treated, by=alice, day1=START - timedelta(days=30), weight_kg=Decimal(80))


def test_cycle_13_has_no_bendamustine(treated, alice, trial):
    cycles = start_cycles(treated, alice, 13)
    codes = set(PlannedDose.objects.filter(cycle=cycles[-1]).values_list("drug__code", flat=True))
    assert codes == {"pomalidomide", "dexamethasone"}
    assert PlannedDose.objects.filter(cycle=cycles[11], drug__code="bendamustine").exists()


def test_dose_given_held_and_off_schedule(treated, alice, trial):
    cycle = cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))
    given = administration_record(cycle=cycle, by=alice, drug=drug(trial, "bendamustine"), day=1, status="given")
    assert (given.dose_mg, given.route, given.given_on) == (Decimal(240), "IV", START)
    with pytest.raises(ValidationError, match="needs its reason"):
        administration_record(cycle=cycle, by=alice, drug=drug(trial, "pomalidomide"), day=3, status="held")
    held = administration_record(cycle=cycle, by=alice, drug=drug(trial, "pomalidomide"), day=3, status="held", reason="ANC 0.4")
    assert held.dose_mg is None
    with pytest.raises(ValidationError, match="not scheduled on day 8"):
        administration_record(cycle=cycle, by=alice, drug=drug(trial, "bendamustine"), day=8, status="given", dose_mg=Decimal(240))
    with pytest.raises(ValidationError, match="not scheduled on day 25"):
        administration_record(cycle=cycle, by=alice, drug=drug(trial, "pomalidomide"), day=25, status="given", dose_mg=Decimal(3))
    deviation = administration_record(
        cycle=cycle,
        by=alice,
        drug=drug(trial, "pomalidomide"),
        day=25,
        status="given",
        dose_mg=Decimal(3),
        deviation=True,
        reason="patient took an extra capsule",
    )
    assert deviation.deviation


def test_a_dose_above_the_plan_needs_a_reason(treated, alice, trial):
    cycle = cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))
    benda = drug(trial, "bendamustine")
    with pytest.raises(ValidationError, match="above the planned 240"):
        administration_record(cycle=cycle, by=alice, drug=benda, day=1, status="other_dose", dose_mg=Decimal(260))
    with pytest.raises(ValidationError, match="given at another dose"):
        administration_record(cycle=cycle, by=alice, drug=benda, day=1, status="given", dose_mg=Decimal(230))
    record = administration_record(cycle=cycle, by=alice, drug=benda, day=1, status="other_dose", dose_mg=Decimal(230), reason="vial size")
    assert record.dose_mg == Decimal(230)


def test_changing_a_recorded_dose_needs_a_reason_for_change(treated, alice, trial):
    cycle = cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))
    pom = drug(trial, "pomalidomide")
    administration_record(cycle=cycle, by=alice, drug=pom, day=2, status="given")
    with pytest.raises(ValidationError, match="already recorded"):
        administration_record(cycle=cycle, by=alice, drug=pom, day=2, status="missed", reason="forgot")
    record = administration_record(cycle=cycle, by=alice, drug=pom, day=2, status="missed", reason="forgot", reason_for_change="diary read again")
    assert record.history.latest().history_change_reason == "diary read again"
    assert record.history.count() == 2


def test_pomalidomide_diary_is_saved_whole_or_not_at_all(treated, alice, trial):
    cycle = cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))
    pom = drug(trial, "pomalidomide")
    entries = {day: {"status": "given"} for day in range(1, 22)}
    entries[10] = {"status": "held"}
    with pytest.raises(ValidationError) as info:
        diary_record(cycle=cycle, by=alice, drug=pom, entries=entries)
    assert "Day 10" in str(info.value)
    assert not Administration.objects.exists()
    entries[10] = {"status": "held", "reason": "rash grade 2"}
    assert len(diary_record(cycle=cycle, by=alice, drug=pom, entries=entries)) == 21


def test_a_cycles_doses_are_recorded_in_one_call_with_their_history_and_one_outbox_change(treated, alice, trial, django_assert_max_num_queries):
    cycle = cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))
    plan = list(PlannedDose.objects.filter(cycle=cycle).select_related("drug").order_by("day", "drug__order"))
    entries = [DoseEntry(drug=p.drug, day=p.day, status="held" if p.day == 10 else "given", reason="rash grade 2" if p.day == 10 else "") for p in plan]
    changes = Change.objects.count()
    with django_assert_max_num_queries(12):  # the same queries for 26 doses as for one
        saved = administrations_record(cycle=cycle, by=alice, entries=entries)
    assert len(saved) == len(plan) == Administration.objects.filter(cycle=cycle).count() == 26
    assert Change.objects.count() == changes + 1
    benda = Administration.objects.get(cycle=cycle, drug__code="bendamustine", day=1)
    assert (benda.status, benda.dose_mg, benda.route, benda.planned.dose_mg) == ("given", Decimal(240), "IV", Decimal(240))
    held = Administration.objects.get(cycle=cycle, drug__code="pomalidomide", day=10)
    assert (held.status, held.dose_mg, held.reason) == ("held", None, "rash grade 2")
    history = held.history.get()
    assert (history.history_type, history.history_user, history.history_change_reason) == ("+", alice, "Recorded: held")
    pom = drug(trial, "pomalidomide")
    corrected = administrations_record(cycle=cycle, by=alice, entries=[DoseEntry(drug=pom, day=10, status="given", reason_for_change="diary read again")])
    assert corrected[0].pk == held.pk
    assert [(h.history_type, h.status, h.history_change_reason) for h in held.history.order_by("history_date")] == [
        ("+", "held", "Recorded: held"),
        ("~", "given", "diary read again"),
    ]


def test_a_batch_with_any_wrong_dose_saves_nothing_and_names_each_dose_in_error(treated, alice, trial):
    cycle = cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))
    pom, benda = drug(trial, "pomalidomide"), drug(trial, "bendamustine")
    entries = [
        DoseEntry(drug=benda, day=1, status="given"),
        DoseEntry(drug=pom, day=1, status="given"),
        DoseEntry(drug=pom, day=2, status="held"),  # no reason
        DoseEntry(drug=benda, day=3, status="given"),  # not scheduled, not a deviation
        DoseEntry(drug=pom, day=1, status="missed", reason="forgot"),  # twice
    ]
    changes = Change.objects.count()
    with pytest.raises(DoseErrors) as info:
        administrations_record(cycle=cycle, by=alice, entries=entries)
    assert set(info.value.by_dose) == {("pomalidomide", 2), ("bendamustine", 3), ("pomalidomide", 1)}
    assert "needs its reason" in info.value.by_dose["pomalidomide", 2]["reason"][0]
    assert "not scheduled on day 3" in info.value.message_dict["bendamustine.3.day"][0]
    assert "twice" in info.value.by_dose["pomalidomide", 1]["day"][0]
    assert not Administration.objects.exists()
    assert Change.objects.count() == changes


def test_reduction_in_cycle_1_is_flagged_and_replans_what_is_left(treated, alice, ivan, trial):
    cycle = cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))
    pom = drug(trial, "pomalidomide")
    administration_record(cycle=cycle, by=alice, drug=pom, day=1, status="given")
    mod = dose_modify(
        patient=treated,
        by=alice,
        decided_by=ivan,
        kind="reduce_level",
        to_level=DoseLevel.objects.get(trial=trial, label=-1),
        effective_on=START + timedelta(days=9),
        reason="grade 3 neutropenia",
    )
    assert mod.in_cycle_1
    doses = dict(PlannedDose.objects.filter(cycle=cycle, drug=pom).values_list("day", "dose_mg"))
    assert doses[1] == Decimal(3)
    assert doses[9] == Decimal(3)
    assert doses[10] == Decimal(2)
    assert doses[21] == Decimal(2)
    cycle2 = cycle_start(patient=treated, by=alice, day1=START + timedelta(days=28), weight_kg=Decimal("80.0"))
    assert cycle2.level.label == -1


def test_modifications_are_decided_by_an_investigator(treated, alice, dana, trial):
    cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))
    with pytest.raises(ValidationError) as info:
        dose_modify(patient=treated, by=alice, decided_by=dana, kind="hold", drug=drug(trial, "pomalidomide"), effective_on=START, reason="infection")
    assert "investigator" in info.value.message_dict["decided_by"][0]


def test_dexamethasone_reduction_to_20_only_from_cycle_7(treated, alice, ivan, trial):
    cycles = start_cycles(treated, alice, 6)
    dex = drug(trial, "dexamethasone")
    with pytest.raises(ValidationError, match="from cycle 7"):
        dose_modify(
            patient=treated, by=alice, decided_by=ivan, kind="reduce_dose", drug=dex, dose_mg=Decimal(20), effective_on=cycles[-1].day1, reason="insomnia"
        )
    cycle7 = cycle_start(patient=treated, by=alice, day1=cycles[-1].day1 + timedelta(days=28), weight_kg=Decimal(80))
    with pytest.raises(ValidationError, match="reduced to 20 mg only"):
        dose_modify(patient=treated, by=alice, decided_by=ivan, kind="reduce_dose", drug=dex, dose_mg=Decimal(10), effective_on=cycle7.day1, reason="insomnia")
    dose_modify(patient=treated, by=alice, decided_by=ivan, kind="reduce_dose", drug=dex, dose_mg=Decimal(20), effective_on=cycle7.day1, reason="insomnia")
    assert set(PlannedDose.objects.filter(cycle=cycle7, drug=dex).values_list("dose_mg", flat=True)) == {Decimal(20)}
    cycle8 = cycle_start(patient=treated, by=alice, day1=cycle7.day1 + timedelta(days=28), weight_kg=Decimal(80))
    assert set(PlannedDose.objects.filter(cycle=cycle8, drug=dex).values_list("dose_mg", flat=True)) == {Decimal(20)}


def test_hold_then_resume(treated, alice, ivan, trial):
    cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))
    pom = drug(trial, "pomalidomide")
    with pytest.raises(ValidationError, match="not on hold"):
        dose_modify(patient=treated, by=alice, decided_by=ivan, kind="resume", drug=pom, effective_on=START, reason="recovered")
    dose_modify(patient=treated, by=alice, decided_by=ivan, kind="hold", drug=pom, effective_on=START + timedelta(days=3), reason="infection")
    with pytest.raises(ValidationError, match="already on hold"):
        dose_modify(patient=treated, by=alice, decided_by=ivan, kind="hold", drug=pom, effective_on=START + timedelta(days=4), reason="infection")
    dose_modify(patient=treated, by=alice, decided_by=ivan, kind="resume", drug=pom, effective_on=START + timedelta(days=8), reason="recovered")
    assert DoseModification.objects.count() == 2


def test_off_treatment_starts_follow_up_and_refuses_later_doses(treated, alice, trial):
    cycle = cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))
    pom = drug(trial, "pomalidomide")
    administration_record(cycle=cycle, by=alice, drug=pom, day=5, status="given")
    with pytest.raises(ValidationError, match="after this date"):
        patient_off_treatment(
            patient=treated, by=alice, reason_code="progression", decided_on=START + timedelta(days=10), last_dose_on=START + timedelta(days=3)
        )
    off = patient_off_treatment(patient=treated, by=alice, reason_code="progression", decided_on=START + timedelta(days=10))
    assert off.last_dose_on == START + timedelta(days=4)
    assert off.follow_up_until == off.last_dose_on + timedelta(days=730)
    follow_ups = Visit.objects.filter(patient=treated, kind="follow_up")
    assert follow_ups.count() == 8
    assert Visit.objects.filter(patient=treated, kind="treatment", cancelled=True).count() == 2  # days 15 and 22
    treated.refresh_from_db()
    assert (treated.status, treated.status_reason) == ("off_treatment", "progression")
    with pytest.raises(ValidationError, match="off treatment after a last dose"):
        administration_record(cycle=cycle, by=alice, drug=pom, day=12, status="given")
    with pytest.raises(ValidationError, match="no cycle can start"):
        cycle_start(patient=treated, by=alice, day1=START + timedelta(days=28), weight_kg=Decimal(80))


def test_visit_recorded_and_not_in_the_future(treated, alice):
    cycle = cycle_start(patient=treated, by=alice, day1=START, weight_kg=Decimal("80.0"))
    visit = Visit.objects.get(cycle=cycle, day=8)
    with pytest.raises(ValidationError, match="future"):
        visit_record(visit=visit, by=alice, done_on=TODAY + timedelta(days=1))
    with pytest.raises(ValidationError, match="confirm to record it as a protocol deviation"):
        visit_record(visit=visit, by=alice, done_on=START + timedelta(days=11))
    visit = visit_record(visit=visit, by=alice, done_on=START + timedelta(days=11), confirm_out_of_window=True, note="clinic closed")
    assert visit.out_of_window
    assert "outside its +/-2-day window" in visit.history.latest().history_change_reason


def test_other_sites_coordinator_cannot_start_a_cycle(treated, bob):
    with pytest.raises(PermissionDenied):
        cycle_start(patient=treated, by=bob, day1=START, weight_kg=Decimal(80))
