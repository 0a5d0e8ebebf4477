"""IMWG response rules (protocol s.4): every category and progression rule on both sides of its threshold,
exact Decimal boundaries, confirmation, nadirs, downgrade on a missing value, flags."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

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
