"""Table tests of the treatment plan (protocol s.1): every drug, cycles 1, 6, 7, 12, 13, a delay."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from dosing.schedule import (
    DoseReduction,
    DrugDose,
    ScheduleError,
    bsa_mosteller,
    bsa_recorded,
    bsa_shown,
    check_reduction,
    cycle_plan,
    delay_days,
    dose_intensity,
    follow_up_dates,
    planned_day1,
    round_mg,
    visit_dates,
)

POM_DAYS = tuple(range(1, 22))


def level(benda: str, pom: str, dex: str = "40") -> list[DrugDose]:
    return [
        DrugDose("bendamustine", "Bendamustine", "IV", D(benda), "mg/m2", (1,), 1, 12),
        DrugDose("pomalidomide", "Pomalidomide", "PO", D(pom), "mg", POM_DAYS, 1, None),
        DrugDose("dexamethasone", "Dexamethasone", "PO or IV", D(dex), "mg", (1, 8, 15, 22), 1, None),
    ]


LEVEL_1 = level("120", "3")
LEVEL_4 = level("180", "4")
DEX_20 = DoseReduction("dexamethasone", D(20), 7)
DAY1 = date(2026, 1, 5)


@pytest.mark.parametrize(
    ("height", "weight", "shown", "four_places"),
    [
        (D(180), D(80), D("2.00"), D("2.0000")),  # sqrt(14400/3600) = 2 exactly
        (D(170), D(70), D("1.82"), D("1.8181")),  # sqrt(3.30555...) = 1.81811...
        (D(150), D(45), D("1.37"), D("1.3693")),
        (D("165.5"), D("62.3"), D("1.69"), D("1.6924")),  # sqrt(2.86409...) = 1.692356...
        (D(150), D("54.3"), D("1.50"), D("1.5042")),  # 1.504160...
    ],
)
def test_bsa_is_mosteller_unrounded_shown_to_two_decimals(height, weight, shown, four_places):
    bsa = bsa_mosteller(height, weight)
    assert bsa * bsa == pytest.approx(height * weight / 3600, rel=D("1e-25"))  # not rounded
    assert (bsa_shown(bsa), bsa_recorded(height, weight)) == (shown, four_places)


@pytest.mark.parametrize(
    ("height", "weight", "mg_m2", "dose"),
    [
        # The BSA rounded to 4 places first would give the other side of the half mg (s.1: the unrounded BSA).
        (D(150), D("54.3"), "120", D(180)),  # 120 x 1.504160... = 180.4993 (120 x 1.5042 = 180.504 would give 181)
        (D(150), D("62.4"), "120", D(193)),  # 193.4942 (120 x 1.6125 = 193.5000 would give 194)
        (D(150), D("49.5"), "180", D(259)),  # 258.5053 (180 x 1.4361 = 258.498 would give 258)
        (D(150), D("54.2"), "180", D(270)),  # 270.4995 (180 x 1.5028 = 270.504 would give 271)
    ],
)
def test_the_bendamustine_dose_comes_from_the_unrounded_bsa(height, weight, mg_m2, dose):
    plan = cycle_plan(cycle=1, day1=DAY1, doses=level(mg_m2, "4"), height_cm=height, weight_kg=weight)
    benda = next(p for p in plan if p.drug == "bendamustine")
    assert benda.dose_mg == dose
    assert f"BSA {bsa_shown(bsa_mosteller(height, weight))} m2" in benda.basis


@pytest.mark.parametrize(("value", "mg"), [(D("218.49"), D(218)), (D("218.5"), D(219)), (D("218.51"), D(219))])
def test_doses_round_to_the_nearest_mg_halves_up(value, mg):
    assert round_mg(value) == mg


def test_bsa_needs_positive_height_and_weight():
    with pytest.raises(ScheduleError):
        bsa_mosteller(D(170), D(0))


def doses_of(plan, drug):
    return [(p.day, p.dose_mg) for p in plan if p.drug == drug]


@pytest.mark.parametrize("cycle", [1, 6, 12])
def test_cycles_1_to_12_give_all_three_drugs(cycle):
    plan = cycle_plan(cycle=cycle, day1=DAY1, doses=LEVEL_1, height_cm=D(180), weight_kg=D(80))
    assert doses_of(plan, "bendamustine") == [(1, D(240))]  # 120 mg/m2 x 2.0 m2
    assert doses_of(plan, "pomalidomide") == [(d, D(3)) for d in POM_DAYS]
    assert doses_of(plan, "dexamethasone") == [(d, D(40)) for d in (1, 8, 15, 22)]


def test_cycle_13_is_maintenance_without_bendamustine():
    plan = cycle_plan(cycle=13, day1=DAY1, doses=LEVEL_4, height_cm=D(180), weight_kg=D(80))
    assert doses_of(plan, "bendamustine") == []
    assert doses_of(plan, "pomalidomide") == [(d, D(4)) for d in POM_DAYS]
    assert doses_of(plan, "dexamethasone") == [(d, D(40)) for d in (1, 8, 15, 22)]


def test_level_4_bendamustine_uses_that_days_weight():
    plan = cycle_plan(cycle=2, day1=DAY1, doses=LEVEL_4, height_cm=D(170), weight_kg=D(70))
    benda = next(p for p in plan if p.drug == "bendamustine")
    assert benda.dose_mg == D(327)  # 180 x 1.818118... = 327.26
    assert (bsa_shown(benda.bsa_m2), benda.weight_kg) == (D("1.82"), D(70))
    assert "180 mg/m2 x BSA 1.82 m2 (height 170 cm, weight 70 kg; unrounded BSA 1.818119) = 327 mg" in benda.basis


def test_reduced_dexamethasone_applies_from_cycle_7():
    cycle7 = cycle_plan(cycle=7, day1=DAY1, doses=LEVEL_1, height_cm=D(180), weight_kg=D(80), reductions=[DEX_20])
    assert doses_of(cycle7, "dexamethasone") == [(d, D(20)) for d in (1, 8, 15, 22)]
    assert "reduced to 20 mg" in next(p for p in cycle7 if p.drug == "dexamethasone").basis
    cycle6 = cycle_plan(cycle=6, day1=DAY1, doses=LEVEL_1, height_cm=D(180), weight_kg=D(80), reductions=[DEX_20])
    assert doses_of(cycle6, "dexamethasone")[0] == (1, D(40))


def test_dexamethasone_reduction_before_cycle_7_is_refused():
    with pytest.raises(ScheduleError, match="from cycle 7"):
        check_reduction(DEX_20, allowed=DEX_20, cycle=6)
    check_reduction(DEX_20, allowed=DEX_20, cycle=7)


def test_reduction_to_another_dose_or_drug_is_refused():
    with pytest.raises(ScheduleError, match="20 mg only"):
        check_reduction(DoseReduction("dexamethasone", D(10), 7), allowed=DEX_20, cycle=8)
    with pytest.raises(ScheduleError, match="no reduction"):
        check_reduction(DoseReduction("pomalidomide", D(2), 7), allowed=DEX_20, cycle=8)


def test_plan_dates_follow_the_cycle_day():
    plan = cycle_plan(cycle=1, day1=DAY1, doses=LEVEL_1, height_cm=D(180), weight_kg=D(80))
    assert [(p.day, p.on) for p in plan if p.drug == "dexamethasone"] == [
        (1, date(2026, 1, 5)),
        (8, date(2026, 1, 12)),
        (15, date(2026, 1, 19)),
        (22, date(2026, 1, 26)),
    ]
    assert plan[0].drug == "bendamustine"  # day 1, in the protocol's drug order


def test_next_day1_is_28_days_later_and_a_later_start_is_a_delay():
    planned = planned_day1(DAY1, 28)
    assert planned == date(2026, 2, 2)
    assert delay_days(planned, date(2026, 2, 2)) == 0
    assert delay_days(planned, date(2026, 2, 16)) == 14
    with pytest.raises(ScheduleError, match="before its planned date"):
        delay_days(planned, date(2026, 2, 1))


def test_a_delayed_cycle_plans_from_its_actual_day1():
    plan = cycle_plan(cycle=2, day1=date(2026, 2, 9), doses=LEVEL_1, height_cm=D(180), weight_kg=D(80))
    assert [p.on for p in plan if p.drug == "dexamethasone"][-1] == date(2026, 3, 2)


def test_visits_fall_on_the_cycle_days():
    assert visit_dates(date(2026, 1, 5), (1, 8, 15, 22)) == [
        (1, date(2026, 1, 5)),
        (8, date(2026, 1, 12)),
        (15, date(2026, 1, 19)),
        (22, date(2026, 1, 26)),
    ]


def test_follow_up_runs_two_years_after_the_last_dose():
    dates = follow_up_dates(date(2026, 1, 1), years=2, interval_days=84)
    assert dates[0] == date(2026, 3, 26)
    assert len(dates) == 8  # 8 x 84 = 672 <= 730 days < 9 x 84
    assert dates[-1] == date(2026, 1, 1) + timedelta(days=672)


def test_relative_dose_intensity_is_one_when_everything_is_on_time():
    rdi = dose_intensity(
        drug="pomalidomide", planned_mg=D(126), delivered_mg=D(126), first_day1=DAY1, last_day1=date(2026, 2, 2), cycles=2, cycle_length_days=28
    )
    assert rdi.relative == D("1.000")


def test_a_delay_and_a_held_dose_lower_the_intensity():
    # 2 cycles planned 126 mg over 56 days; 3 mg held; cycle 2 started 14 days late.
    rdi = dose_intensity(
        drug="pomalidomide", planned_mg=D(126), delivered_mg=D(123), first_day1=DAY1, last_day1=date(2026, 2, 16), cycles=2, cycle_length_days=28
    )
    assert (rdi.planned_days, rdi.actual_days) == (56, 70)
    assert rdi.relative == D("0.781")  # (123/70) / (126/56) = 0.78095...


def test_no_planned_dose_has_no_intensity():
    assert dose_intensity(drug="x", planned_mg=D(0), delivered_mg=D(0), first_day1=DAY1, last_day1=DAY1, cycles=1, cycle_length_days=28).relative is None


def test_a_stated_bendamustine_dose_replaces_the_bsa_dose():
    plan = cycle_plan(cycle=3, day1=DAY1, doses=LEVEL_1, height_cm=D(180), weight_kg=D(80), reductions=[DoseReduction("bendamustine", D(180), 3)])
    benda = next(p for p in plan if p.drug == "bendamustine")
    assert (benda.dose_mg, benda.bsa_m2) == (D(180), None)
    assert "reduced to 180 mg" in benda.basis
