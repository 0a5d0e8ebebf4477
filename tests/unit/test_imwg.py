"""IMWG response rules (protocol s.4): every category and progression rule on both sides of its threshold,
exact Decimal boundaries, confirmation, nadirs, downgrade on a missing value, flags."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from response.imwg import Assessment, Category, ImwgError, baseline, evaluate, pct

C1 = date(2026, 1, 1)


def on(day: int) -> date:
    return C1 + timedelta(days=day)


def A(day: int, **values) -> Assessment:
    return Assessment(on=on(day), id=day, **values)


SERUM = A(-2, spep=D("3.0"), kappa=D("40"), lambda_=D("1"))  # serum-measurable, FLC not followed for response


def one(assessment: Assessment, base: Assessment = SERUM, **kw):
    """The unconfirmed category and reason of one post-baseline assessment."""
    r = evaluate([base, assessment], cycle1_day1=C1, **kw)
    return r.results[0].category, r.results[0].reason


# ---------------------------------------------------------------- exact arithmetic


def test_exact_percentages():
    assert pct(D("1.5"), D("3.0")) == D(-50)
    assert D("1.98") / D("1.2") == D("1.65")


# ---------------------------------------------------------------- baseline and measurability


@pytest.mark.parametrize(
    ("values", "driver", "measurable"),
    [
        ({"spep": D("1.0")}, "spep", ("spep",)),
        ({"spep": D("0.99"), "upep": D("200")}, "upep", ("upep",)),
        ({"spep": D("0.99"), "upep": D("199")}, None, ()),
        ({"spep": D("1.2"), "upep": D("250")}, "spep", ("spep", "upep")),
        ({"spep": D("0.2"), "kappa": D("10"), "lambda_": D("1")}, "dflc", ("dflc",)),
        ({"spep": D("0.2"), "kappa": D("9.99"), "lambda_": D("1")}, None, ()),
        ({"spep": D("0.2"), "kappa": D("33"), "lambda_": D("20")}, None, ()),  # ratio 1.65: normal, not measurable
        ({"spep": D("0.2"), "kappa": D("1"), "lambda_": D("12")}, "dflc", ("dflc",)),  # lambda involved
        ({"spep": D("0.2"), "kappa": D("2.6"), "lambda_": D("10")}, None, ()),  # ratio 0.26: normal, no involved chain
        ({"spep": D("0.2"), "kappa": D("2.59"), "lambda_": D("10")}, "dflc", ("dflc",)),  # ratio 0.259: lambda involved
    ],
)
def test_measurability_and_the_driving_parameter(values, driver, measurable):
    b = baseline([A(-1, **values)], C1)
    assert (b.driver, b.measurable) == (driver, measurable)


def test_baseline_is_the_last_value_of_each_parameter_on_or_before_day_1():
    b = baseline([A(-20, spep=D("2.0"), upep=D("300")), A(0, spep=D("2.4")), A(3, spep=D("9"))], C1)
    assert (b.values["spep"], b.values["upep"]) == (D("2.4"), D("300"))


def test_no_measurable_disease_is_not_evaluable():
    category, reason = one(A(28, spep=D("0.1")), base=A(-1, spep=D("0.4")))
    assert (category, reason) == (Category.NE, "no measurable disease at baseline")


# ---------------------------------------------------------------- serum categories, both sides


@pytest.mark.parametrize(
    ("spep", "category"),
    [
        (D("1.5"), Category.PR),  # exactly 50%
        (D("1.51"), Category.MR),
        (D("2.25"), Category.MR),  # exactly 25%
        (D("2.26"), Category.SD),
        (D("0.3"), Category.VGPR),  # exactly 90%
        (D("0.31"), Category.PR),
    ],
)
def test_serum_reductions_at_their_exact_boundaries(spep, category):
    assert one(A(28, spep=spep, upep=D("0")))[0] == category


def test_vgpr_by_immunofixation_only():
    assert one(A(28, spep=D("0"), serum_ife=True, upep=D("50")))[0] == Category.VGPR


def test_cr_needs_every_criterion_and_scr_a_normal_ratio_and_no_clonal_cells():
    cr = {"spep": D("0"), "serum_ife": False, "upep": D("0"), "urine_ife": False, "marrow_pc": D("4.9"), "marrow_clonal": False, "plasmacytoma": False}
    assert one(A(28, **cr, kappa=D("1.98"), lambda_=D("1.2")))[0] == Category.SCR  # ratio exactly 1.65: normal
    assert one(A(28, **cr, kappa=D("1.99"), lambda_=D("1.2")))[0] == Category.CR
    assert one(A(28, **cr | {"marrow_clonal": True}, kappa=D("1"), lambda_=D("1")))[0] == Category.CR
    assert one(A(28, **cr | {"marrow_pc": D("5")}, kappa=D("1"), lambda_=D("1")))[0] == Category.VGPR  # 5% is not < 5%
    assert one(A(28, **cr | {"urine_ife": True}))[0] == Category.VGPR


def test_a_missing_value_needed_for_a_category_gives_the_next_lower_one():
    urine_base = A(-2, spep=D("3.0"), upep=D("400"))
    category, reason = one(A(28, spep=D("1.0")), base=urine_base)  # serum -66.67% but no urine
    assert category == Category.SD
    assert "urine M-protein (PR)" in reason
    assert one(A(28, spep=D("1.0"), upep=D("150")), base=urine_base)[0] == Category.PR
    assert one(A(28, spep=D("0.2")), base=SERUM)[0] == Category.PR  # VGPR needs the urine value


def test_urine_parts_of_pr_and_mr_at_their_boundaries():
    base = A(-2, spep=D("3.0"), upep=D("2000"))
    assert one(A(28, spep=D("1.5"), upep=D("200")))[0] == Category.PR  # urine not measurable here: serum alone
    assert one(A(28, spep=D("1.5"), upep=D("200")), base=base)[0] == Category.PR  # exactly 90%
    assert one(A(28, spep=D("1.5"), upep=D("201")), base=base)[0] == Category.MR
    assert one(A(28, spep=D("2.0"), upep=D("1000")), base=base)[0] == Category.MR  # urine exactly 50%
    assert one(A(28, spep=D("2.0"), upep=D("1001")), base=base)[0] == Category.SD


def test_flc_only_pr_by_dflc_reduction():
    base = A(-1, spep=D("0.2"), kappa=D("41"), lambda_=D("1"))  # dFLC 40
    assert one(A(28, spep=D("0.2"), kappa=D("21"), lambda_=D("1")), base=base)[0] == Category.PR  # dFLC 20: exactly 50%
    assert one(A(28, spep=D("0.2"), kappa=D("21.1"), lambda_=D("1")), base=base)[0] == Category.SD


# ---------------------------------------------------------------- progression from the nadir, both sides


def course(*steps, base=SERUM, **kw):
    return evaluate([base, *steps], cycle1_day1=C1, **kw)


def test_serum_progression_needs_25_percent_and_half_a_gram_from_the_nadir():
    r = course(A(28, spep=D("2.0"), upep=D("0")), A(56, spep=D("2.5"), upep=D("0")))  # +0.5 and +25% exactly
    assert r.results[1].category == Category.PD
    r = course(A(28, spep=D("2.0"), upep=D("0")), A(56, spep=D("2.49"), upep=D("0")))
    assert r.results[1].category != Category.PD
    r = course(A(28, spep=D("0.4"), upep=D("0")), A(56, spep=D("0.89"), upep=D("0")))  # +122% but +0.49 g/dL
    assert r.results[1].category != Category.PD


def test_one_gram_suffices_when_the_nadir_was_at_least_5():
    base = A(-1, spep=D("6.0"))
    assert course(A(28, spep=D("7.0")), base=base).results[0].category == Category.PD  # +1 g/dL, +16.7%
    assert course(A(28, spep=D("6.99")), base=base).results[0].category == Category.SD


def test_the_nadir_includes_baseline_and_ignores_spurious_values():
    r = course(A(28, spep=D("3.6"), upep=D("0")))  # +0.6 and +20% from the baseline nadir 3.0
    assert r.results[0].category == Category.SD
    r = course(A(28, spep=D("3.75"), upep=D("0")))  # +25%
    assert r.results[0].category == Category.PD
    r = course(A(28, spep=D("0.5"), spurious=frozenset({"spep"})), A(56, spep=D("2.0"), upep=D("0")))
    assert r.results[1].nadir["spep"] == D("3.0")
    assert r.results[0].category == Category.NE


def test_urine_marrow_dflc_and_lesion_progression():
    ub = A(-1, spep=D("0.1"), upep=D("1000"))
    assert course(A(28, upep=D("800")), A(56, upep=D("1000")), base=ub).results[1].category == Category.PD  # +200, +25%
    assert course(A(28, upep=D("800")), A(56, upep=D("999")), base=ub).results[1].category != Category.PD
    fb = A(-1, spep=D("0.1"), kappa=D("41"), lambda_=D("1"))  # dFLC 40
    assert course(A(28, kappa=D("51.01"), lambda_=D("1")), base=fb).results[0].category == Category.PD  # +10.01, +25.0%
    assert course(A(28, kappa=D("51"), lambda_=D("1")), base=fb).results[0].category != Category.PD  # +10 is not > 10
    mb = A(-1, spep=D("3.0"), marrow_pc=D("40"))
    assert course(A(28, spep=D("3.0"), marrow_pc=D("50")), base=mb).results[0].category == Category.PD  # +10 points, +25%
    assert course(A(28, spep=D("3.0"), marrow_pc=D("49.9")), base=mb).results[0].category != Category.PD
    assert course(A(28, spep=D("3.0"), new_lesions=True)).results[0].category == Category.PD


# ---------------------------------------------------------------- confirmation, best response, progression date


def test_confirmation_takes_the_lower_of_two_consecutive_and_dates_it_at_the_first():
    r = course(A(28, spep=D("1.4"), upep=D("0")), A(56, spep=D("0.2"), upep=D("0")), A(84, spep=D("0.2"), upep=D("0")))
    assert [x.confirmed for x in r.results] == [None, Category.PR, Category.VGPR]
    assert (r.best, r.best_on, r.first_response_on) == (Category.VGPR, on(56), on(28))


def test_a_single_assessment_confirms_nothing():
    r = course(A(28, spep=D("1.4"), upep=D("0")))
    assert (r.best, r.best_reason) == (Category.NE, "no category confirmed by two consecutive assessments")


def test_progression_is_confirmed_by_two_and_dated_at_the_first():
    r = course(A(28, spep=D("1.0"), upep=D("0")), A(56, spep=D("1.0"), upep=D("0")), A(84, spep=D("1.6"), upep=D("0")), A(112, spep=D("1.7"), upep=D("0")))
    assert (r.progression_on, r.best, r.best_on) == (on(84), Category.PR, on(28))


def test_an_unconfirmed_progression_before_new_therapy_is_flagged_and_later_assessments_do_not_count():
    r = course(
        A(28, spep=D("1.0"), upep=D("0")),
        A(56, spep=D("1.0"), upep=D("0")),
        A(84, spep=D("1.6"), upep=D("0")),
        A(112, spep=D("1.7"), upep=D("0")),
        next_therapy_on=on(100),
    )
    assert r.progression_on is None
    assert r.flags == (f"Progression on {on(84).isoformat()} not confirmed before the next therapy started {on(100).isoformat()}.",)


def test_rising_light_chains_in_a_patient_followed_by_serum_are_flagged():
    base = A(-1, spep=D("3.0"), kappa=D("41"), lambda_=D("1"))
    r = course(A(28, spep=D("1.4"), upep=D("0"), kappa=D("21"), lambda_=D("1")), A(56, spep=D("1.4"), upep=D("0"), kappa=D("40"), lambda_=D("1")), base=base)
    assert r.results[1].category == Category.PR
    assert len(r.flags) == 1
    assert "light-chain escape" in r.flags[0]


def test_best_change_of_the_driving_parameter_for_the_waterfall():
    r = course(A(28, spep=D("1.2"), upep=D("0")), A(56, spep=D("0.9"), upep=D("0")), A(84, spep=D("1.5"), upep=D("0")))
    assert r.best_change_pct == D(-70)


def test_bad_input():
    with pytest.raises(ImwgError, match="negative"):
        course(A(28, spep=D("-0.1")))
    with pytest.raises(ImwgError, match="above 100%"):
        course(A(28, spep=D("1"), marrow_pc=D("101")))
    with pytest.raises(ImwgError, match="same date"):
        course(A(28, spep=D("1")), A(28, spep=D("1")))


# ---------------------------------------------------------------- dFLC: the involved chain fixed at baseline

KAPPA_FLC = A(-1, spep=D("0.2"), upep=D("50"), kappa=D("41"), lambda_=D("1"))  # FLC-only, kappa involved: dFLC 40
LAMBDA_FLC = A(-1, spep=D("0.2"), upep=D("50"), kappa=D("1"), lambda_=D("41"))  # FLC-only, lambda involved: dFLC 40


@pytest.mark.parametrize(
    ("base", "kappa", "lambda_", "dflc"),
    [
        (KAPPA_FLC, D("21"), D("1"), D("20")),
        (KAPPA_FLC, D("5"), D("30"), D("-25")),  # the involved chain fell below the uninvolved one: not |5 - 30|
        (LAMBDA_FLC, D("1"), D("21"), D("20")),
        (LAMBDA_FLC, D("30"), D("5"), D("-25")),
    ],
)
def test_dflc_is_the_involved_chain_of_baseline_minus_the_uninvolved_one(base, kappa, lambda_, dflc):
    b = baseline([base], C1)
    assert (b.values["dflc"], b.involved) == (D(40), "kappa" if base is KAPPA_FLC else "lambda")
    r = course(A(28, kappa=kappa, lambda_=lambda_), base=base)
    assert r.results[0].change_pct["dflc"] == (dflc - 40) * 100 / 40


@pytest.mark.parametrize(
    ("base", "involved", "category"),
    [
        (LAMBDA_FLC, D("21"), Category.PR),  # dFLC 20: exactly 50%
        (LAMBDA_FLC, D("21.1"), Category.SD),
    ],
)
def test_lambda_flc_only_pr_by_dflc_reduction(base, involved, category):
    assert one(A(28, kappa=D("1"), lambda_=involved), base=base)[0] == category


def test_a_fall_of_the_involved_chain_is_not_progression_when_the_uninvolved_one_rises():
    base = A(-1, spep=D("0.2"), kappa=D("30"), lambda_=D("1"))  # dFLC 29
    r = course(A(28, kappa=D("5"), lambda_=D("1")), A(56, kappa=D("5"), lambda_=D("20")), base=base)  # dFLC 4, then -15
    assert [x.category for x in r.results] == [Category.PR, Category.PR]
    r = course(A(28, kappa=D("5"), lambda_=D("1")), A(56, kappa=D("16"), lambda_=D("1")), base=base)  # dFLC 4 -> 15: +11, +275%
    assert r.results[1].category == Category.PD


def test_no_light_chain_escape_is_read_from_a_rise_of_the_uninvolved_chain():
    base = A(-1, spep=D("3.0"), kappa=D("41"), lambda_=D("1"))
    r = course(A(28, spep=D("1.4"), upep=D("0"), kappa=D("21"), lambda_=D("1")), A(56, spep=D("1.4"), upep=D("0"), kappa=D("21"), lambda_=D("60")), base=base)
    assert r.flags == ()


# ---------------------------------------------------------------- progression applies to every patient

URINE_ONLY = A(-1, spep=D("0.4"), upep=D("2000"))


@pytest.mark.parametrize(
    ("base", "values", "pd"),
    [
        (KAPPA_FLC, {"spep": D("0.7"), "kappa": D("41"), "lambda_": D("1")}, True),  # serum +0.5, +250% in an FLC-only patient
        (KAPPA_FLC, {"spep": D("0.69"), "kappa": D("41"), "lambda_": D("1")}, False),
        (URINE_ONLY, {"spep": D("0.9"), "upep": D("2000")}, True),  # serum +0.5 in a urine-only patient
        (URINE_ONLY, {"spep": D("0.89"), "upep": D("2000")}, False),
        (A(-1, spep=D("3.0"), upep=D("50")), {"spep": D("3.0"), "upep": D("250")}, True),  # urine +200 in a serum patient
        (A(-1, spep=D("3.0"), upep=D("50")), {"spep": D("3.0"), "upep": D("249")}, False),
        (KAPPA_FLC, {"upep": D("250"), "kappa": D("41"), "lambda_": D("1")}, True),  # urine +200 in an FLC-only patient
        (A(-1, spep=D("0.4"), upep=D("2000"), marrow_pc=D("40")), {"upep": D("2000"), "marrow_pc": D("50")}, True),  # marrow
        (KAPPA_FLC, {"kappa": D("41"), "lambda_": D("1"), "new_lesions": True}, True),
    ],
)
def test_serum_urine_marrow_and_imaging_progression_apply_to_every_patient(base, values, pd):
    assert (one(A(28, **values), base=base)[0] == Category.PD) is pd


@pytest.mark.parametrize(
    "base",
    [
        A(-1, spep=D("3.0"), upep=D("0"), kappa=D("41"), lambda_=D("1")),  # serum patient
        A(-1, spep=D("0.4"), upep=D("2000"), kappa=D("41"), lambda_=D("1")),  # urine-only patient
    ],
)
def test_dflc_progression_applies_to_flc_only_patients_only(base):
    values = {"spep": base.spep, "upep": base.upep, "kappa": D("61"), "lambda_": D("1")}  # dFLC 40 -> 60: +20, +50%
    assert one(A(28, **values), base=base)[0] == Category.SD


# ---------------------------------------------------------------- serum-only criteria, urine-only and FLC-only patients


@pytest.mark.parametrize(
    ("values", "category"),
    [
        ({"spep": D("0"), "upep": D("0"), "kappa": D("41"), "lambda_": D("1")}, Category.SD),  # no response at all: not VGPR
        ({"spep": D("0"), "upep": D("0"), "kappa": D("1"), "lambda_": D("1")}, Category.PR),  # dFLC -100%: PR, no VGPR by FLC
        ({"upep": D("0"), "kappa": D("25"), "lambda_": D("1")}, Category.SD),  # dFLC -40%: no MR by FLC
    ],
)
def test_flc_only_patients_have_pr_by_dflc_and_no_mr_or_vgpr(values, category):
    assert one(A(28, **values), base=KAPPA_FLC)[0] == category


@pytest.mark.parametrize(
    ("upep", "category"),
    [
        (D("99.9"), Category.VGPR),
        (D("100"), Category.PR),  # -95%
        (D("200"), Category.PR),  # exactly -90%
        (D("201"), Category.MR),  # -89.95%
        (D("1000"), Category.MR),  # exactly -50%
        (D("1001"), Category.SD),
    ],
)
def test_urine_only_patients_reach_vgpr_and_mr_by_urine(upep, category):
    assert one(A(28, spep=D("0.4"), upep=upep), base=URINE_ONLY)[0] == category


def test_serum_criteria_never_apply_to_a_urine_only_patient():
    assert one(A(28, spep=D("0"), serum_ife=True, upep=D("1500")), base=URINE_ONLY)[0] == Category.SD  # serum 0 by electrophoresis


@pytest.mark.parametrize(
    ("upep", "category"),
    [(D("99.99"), Category.VGPR), (D("100"), Category.PR), (None, Category.PR)],
)
def test_every_patient_needs_a_urine_value_below_100_for_vgpr(upep, category):
    assert one(A(28, spep=D("0.3"), upep=upep))[0] == category  # serum exactly -90%


def test_mr_ranges_are_lower_bounds_where_pr_is_not_met():
    base = A(-1, spep=D("3.0"), upep=D("2000"))
    assert one(A(28, spep=D("1.2"), upep=D("600")), base=base)[0] == Category.MR  # serum -60%, urine -70%
    assert one(A(28, spep=D("2.1"), upep=D("100")), base=base)[0] == Category.MR  # serum -30%, urine -95%
    assert one(A(28, spep=D("2.26"), upep=D("100")), base=base)[0] == Category.SD  # serum -24.67%


# ---------------------------------------------------------------- plasmacytomas

PLASMACYTOMA = A(-1, spep=D("3.0"), plasmacytoma=True, plasmacytoma_size=D("4"))


@pytest.mark.parametrize(
    ("imaging", "category"),
    [
        ({"plasmacytoma": True, "plasmacytoma_size": D("2")}, Category.VGPR),  # exactly 50% smaller
        ({"plasmacytoma": True, "plasmacytoma_size": D("2.01")}, Category.MR),  # neither VGPR nor PR: MR by serum
        ({"plasmacytoma": False}, Category.VGPR),  # recorded absent: a 100% reduction
        ({"plasmacytoma": True}, Category.MR),  # present, size not measured: PR's criterion missing
        ({}, Category.MR),  # not imaged
    ],
)
def test_vgpr_and_pr_need_a_baseline_plasmacytoma_half_smaller(imaging, category):
    assert one(A(28, spep=D("0.3"), upep=D("0"), **imaging), base=PLASMACYTOMA)[0] == category


def test_a_plasmacytoma_smaller_at_an_earlier_assessment_is_carried_to_later_ones():
    r = course(A(28, spep=D("1.4"), upep=D("0"), plasmacytoma=True, plasmacytoma_size=D("2")), A(56, spep=D("1.4"), upep=D("0")), base=PLASMACYTOMA)
    assert [x.category for x in r.results] == [Category.PR, Category.PR]


CR = {"spep": D("0"), "serum_ife": False, "upep": D("0"), "urine_ife": False, "marrow_pc": D("2"), "marrow_clonal": True}


def test_cr_needs_a_recorded_plasmacytoma_status():
    assert one(A(28, **CR, plasmacytoma=False))[0] == Category.CR
    category, reason = one(A(28, **CR))
    assert (category, reason.endswith("plasmacytoma status (CR) missing: the next lower category")) == (Category.VGPR, True)
    assert one(A(28, **CR), base=A(-1, spep=D("3.0"), plasmacytoma=False))[0] == Category.VGPR  # the status at baseline is not the CR's
    assert one(A(28, **CR, plasmacytoma=True, plasmacytoma_size=D("1")), base=PLASMACYTOMA)[0] == Category.VGPR
    r = course(A(28, **CR, plasmacytoma=False), A(56, **CR))  # imaging needs no confirmation: carried forward
    assert [x.category for x in r.results] == [Category.CR, Category.CR]


def test_cr_includes_the_criteria_below_it():
    assert one(A(28, **CR | {"upep": None}, plasmacytoma=False))[0] == Category.PR  # no urine value: not VGPR, so not CR
    flc_cr = CR | {"spep": None, "upep": D("50"), "plasmacytoma": False}
    assert one(A(28, **flc_cr, kappa=D("1"), lambda_=D("1")), base=KAPPA_FLC)[0] == Category.CR  # FLC-only: CR above PR
    assert one(A(28, **flc_cr, kappa=D("25"), lambda_=D("1")), base=KAPPA_FLC)[0] == Category.SD  # dFLC -40%: not PR, so not CR


@pytest.mark.parametrize(
    ("steps", "pd_at"),
    [
        ([{"plasmacytoma": False}, {"plasmacytoma": True, "plasmacytoma_size": D("0.5")}], 56),  # back after it disappeared
        ([{"plasmacytoma": False}, {"plasmacytoma": True}], 56),  # back, size not measured
        ([{"plasmacytoma": True, "plasmacytoma_size": D("2")}, {"plasmacytoma": True, "plasmacytoma_size": D("3")}], 56),  # +50% from 2
        ([{"plasmacytoma": True, "plasmacytoma_size": D("2")}, {"plasmacytoma": True, "plasmacytoma_size": D("2.99")}], None),
        ([{"plasmacytoma": True, "plasmacytoma_size": D("6")}, {"plasmacytoma": True, "plasmacytoma_size": D("5.99")}], 28),  # +50% from 4
    ],
)
def test_a_plasmacytoma_back_or_half_larger_than_its_smallest_size_is_progression(steps, pd_at):
    r = course(*(A(day, spep=D("1.4"), upep=D("0"), **imaging) for day, imaging in zip((28, 56), steps, strict=True)), base=PLASMACYTOMA)
    assert r.progression_on == (None if pd_at is None else on(pd_at))


def test_a_new_plasmacytoma_is_progression():
    base = A(-1, spep=D("3.0"), plasmacytoma=False)
    assert one(A(28, spep=D("1.4"), upep=D("0"), plasmacytoma=True), base=base)[0] == Category.PD


# ---------------------------------------------------------------- progression by marrow or imaging needs no confirmation


@pytest.mark.parametrize(
    "finding",
    [
        {"new_lesions": True},
        {"plasmacytoma": True, "plasmacytoma_size": D("1")},  # a new plasmacytoma (none at baseline)
        {"marrow_pc": D("50")},  # +10 points, +25% from 40
    ],
)
def test_progression_by_marrow_or_imaging_is_dated_at_its_assessment_whatever_serum_did(finding):
    base = A(-1, spep=D("3.0"), marrow_pc=D("40"), plasmacytoma=False)
    pr = {"spep": D("1.4"), "upep": D("0")}
    r = course(A(28, **pr), A(56, **pr), A(84, **pr | finding), A(112, **pr), A(140, **pr), base=base)
    assert r.results[2].category == Category.PD
    assert (r.results[2].confirmed, r.results[2].confirmed_from) == (Category.PD, on(84))
    assert (r.progression_on, r.best, r.best_on) == (on(84), Category.PR, on(28))


def test_progression_by_imaging_alone_is_the_best_response_and_needs_no_confirmation_before_new_therapy():
    r = course(A(28, spep=D("1.4"), upep=D("0"), new_lesions=True), next_therapy_on=on(40))
    assert (r.best, r.best_on, r.progression_on, r.flags) == (Category.PD, on(28), on(28), ())
    assert r.confirmed == ((Category.PD, on(28)),)


def test_progression_by_serum_confirmed_by_imaging_is_dated_at_the_first():
    steps = [A(28, spep=D("1.0"), upep=D("0")), A(56, spep=D("1.0"), upep=D("0")), A(84, spep=D("1.6"), upep=D("0"))]
    r = course(*steps, A(112, spep=D("1.0"), upep=D("0"), new_lesions=True))
    assert r.progression_on == on(84)
    r = course(*steps, A(112, spep=D("1.0"), upep=D("0")))  # serum alone, not confirmed
    assert r.progression_on is None


def test_the_rule_version_names_the_corrected_rules():
    assert evaluate([SERUM], cycle1_day1=C1).rule_version == "imwg-2016/bpd-2"


# ---------------------------------------------------------------- invariants over the input space

amounts = st.one_of(st.none(), st.decimals("0", "60", places=2))
flags = st.one_of(st.none(), st.booleans())
assessments = st.builds(
    A,
    st.just(28),
    spep=amounts,
    serum_ife=flags,
    upep=st.one_of(st.none(), st.decimals("0", "3000", places=1)),
    urine_ife=flags,
    kappa=amounts,
    lambda_=amounts,
    marrow_pc=st.one_of(st.none(), st.decimals("0", "100", places=1)),
    marrow_clonal=flags,
    plasmacytoma=flags,
    new_lesions=flags,
)


@settings(max_examples=300, deadline=None)
@given(assessment=assessments)
def test_an_flc_only_patient_is_never_vgpr_or_mr(assessment):
    assert one(assessment, base=KAPPA_FLC)[0] not in (Category.VGPR, Category.MR)


@settings(max_examples=300, deadline=None)
@given(assessment=assessments)
def test_serum_m_protein_gives_no_category_but_pd_to_a_patient_whose_serum_was_not_measurable(assessment):
    for base in (URINE_ONLY, KAPPA_FLC):
        with_serum = one(assessment, base=base)[0]
        assert with_serum is Category.PD or with_serum == one(assessment._replace(spep=None), base=base)[0]


@settings(max_examples=300, deadline=None)
@given(assessment=assessments)
def test_a_new_bone_lesion_is_progression_dated_at_its_assessment(assessment):
    r = course(assessment._replace(new_lesions=True))
    assert (r.results[0].category, r.progression_on) == (Category.PD, on(28))
