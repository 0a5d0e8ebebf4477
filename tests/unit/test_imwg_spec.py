"""Independent checks of the IMWG rules (response/imwg.py), written from protocol s.4 and its
"Settled readings of section 4" alone (/work/shared/protocol/README.md).

Every expected answer below is the one the protocol text gives; the module is only called
through its public API (Assessment, baseline, evaluate, the Response/Result it returns).
Days are counted from cycle 1 day 1 (C1); baseline samples are dated before it.
"""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from response.imwg import Assessment, Category, ImwgError, baseline, evaluate, pct, ratio_normal

C1 = date(2026, 3, 2)
sCR, CR, VGPR, PR, MR, SD, PD, NE = (
    Category.SCR,
    Category.CR,
    Category.VGPR,
    Category.PR,
    Category.MR,
    Category.SD,
    Category.PD,
    Category.NE,
)


def on(day: int) -> date:
    return C1 + timedelta(days=day)


def A(day: int, **values) -> Assessment:
    return Assessment(on=on(day), id=f"s{day}", **{k: (D(v) if isinstance(v, str) else v) for k, v in values.items()})


def run(base: dict, *later: tuple[int, dict], **kw):
    return evaluate([A(-7, **base), *(A(day, **v) for day, v in later)], cycle1_day1=C1, **kw)


# ------------------------------------------------------------------ patients at baseline

# serum-measurable only (urine 50 mg/24 h is not measurable), marrow 40%, no plasmacytoma
S = {"spep": "3.0", "upep": "50", "marrow_pc": "40", "plasmacytoma": False}
# serum and urine measurable
SU = {"spep": "3.0", "upep": "1000"}
# urine-only (serum 0.5 < 1.0)
U = {"spep": "0.5", "upep": "1000"}
# FLC-only: kappa involved (ratio 10), involved 50 >= 10, dFLC 45
F = {"spep": "0.5", "upep": "50", "kappa": "50", "lambda_": "5"}
# FLC-only, lambda involved (ratio 1/41), dFLC 40
FL = {"spep": "0.5", "upep": "50", "kappa": "1", "lambda_": "41"}
# serum patient with a 10 cm2 soft-tissue plasmacytoma at baseline
P = {"spep": "3.0", "upep": "50", "plasmacytoma": True, "plasmacytoma_size": "10"}

# a complete response for any patient: everything negative, marrow < 5%, plasmacytoma recorded absent
CR_ALL = {
    "spep": "0",
    "serum_ife": False,
    "upep": "0",
    "urine_ife": False,
    "plasmacytoma": False,
    "marrow_pc": "2",
    "marrow_clonal": True,
    "kappa": "20",
    "lambda_": "1",  # ratio 20: abnormal, so CR, not sCR
}
SCR_ALL = {**CR_ALL, "kappa": "1.98", "lambda_": "1.2", "marrow_clonal": False}  # ratio exactly 1.65: normal


def without(d: dict, *keys: str) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


# ------------------------------------------------------------------ exact arithmetic


def test_exact_decimal_arithmetic():
    # "1.5 from 3.0 is exactly a 50% reduction; an FLC ratio of 1.98/1.2 is exactly 1.65 and normal."
    assert pct(D("1.5"), D("3.0")) == D(-50)
    a = A(0, kappa="1.98", lambda_="1.2")
    assert a.ratio == D("1.65")
    assert ratio_normal(a.ratio) is True
    assert ratio_normal(D("0.26")) is True
    assert ratio_normal(D("1.66")) is False
    assert ratio_normal(D("0.259")) is False


# ------------------------------------------------------------------ baseline and measurability

BASELINES = [
    # id, baseline samples [(day, values)], serum_measurable, measurable set, involved chain (or "any")
    ("serum 1.0 measurable", [(-3, {"spep": "1.0"})], None, {"spep"}, "any"),
    ("serum 0.99 not measurable", [(-3, {"spep": "0.99"})], None, set(), "any"),
    ("serum 0.5 measurable when the parameter is 0.5", [(-3, {"spep": "0.5"})], D("0.5"), {"spep"}, "any"),
    ("serum 0.49 not measurable at 0.5", [(-3, {"spep": "0.49"})], D("0.5"), set(), "any"),
    ("urine 200 measurable", [(-3, {"spep": "0.99", "upep": "200"})], None, {"upep"}, "any"),
    ("urine 199 not measurable", [(-3, {"spep": "0.99", "upep": "199"})], None, set(), "any"),
    ("serum and urine both measurable", [(-3, {"spep": "1.2", "upep": "250"})], None, {"spep", "upep"}, "any"),
    (
        "FLC ignored when serum measurable",
        [(-3, {"spep": "1.0", "kappa": "40", "lambda_": "1"})],
        None,
        {"spep"},
        "any",
    ),
    (
        "FLC ignored when urine measurable",
        [(-3, {"spep": "0.5", "upep": "200", "kappa": "40", "lambda_": "1"})],
        None,
        {"upep"},
        "any",
    ),
    ("FLC-only: involved kappa 10, ratio 10", [(-3, {"spep": "0.5", "kappa": "10", "lambda_": "1"})], None, {"dflc"}, "kappa"),
    ("FLC-only: involved 10 with dFLC only 5 (ratio 2)", [(-3, {"spep": "0.5", "kappa": "10", "lambda_": "5"})], None, {"dflc"}, "kappa"),
    ("FLC: involved 9.99 not measurable", [(-3, {"spep": "0.5", "kappa": "9.99", "lambda_": "1"})], None, set(), "any"),
    ("FLC: ratio exactly 1.65 (19.8/12) normal", [(-3, {"spep": "0.5", "kappa": "19.8", "lambda_": "12"})], None, set(), "any"),
    ("FLC: ratio 1.66 abnormal", [(-3, {"spep": "0.5", "kappa": "16.6", "lambda_": "10"})], None, {"dflc"}, "kappa"),
    ("FLC: ratio exactly 0.26 normal", [(-3, {"spep": "0.5", "kappa": "2.6", "lambda_": "10"})], None, set(), "any"),
    ("FLC: ratio 0.259 abnormal, lambda involved", [(-3, {"spep": "0.5", "kappa": "2.59", "lambda_": "10"})], None, {"dflc"}, "lambda"),
    ("FLC: lambda 12 involved", [(-3, {"spep": "0.5", "kappa": "1", "lambda_": "12"})], None, {"dflc"}, "lambda"),
    (
        "last value of each parameter before C1D1",
        [(-30, {"spep": "3.0", "upep": "300"}), (-5, {"spep": "0.9"})],
        None,
        {"upep"},
        "any",
    ),
    ("a value after C1D1 is not baseline", [(-5, {"spep": "0.8"}), (10, {"spep": "3.0"})], None, set(), "any"),
]


@pytest.mark.parametrize(("samples", "serum_measurable", "measurable", "involved"), [b[1:] for b in BASELINES], ids=[b[0] for b in BASELINES])
def test_baseline_measurability(samples, serum_measurable, measurable, involved):
    kw = {} if serum_measurable is None else {"serum_measurable": serum_measurable}
    b = baseline([A(day, **v) for day, v in samples], C1, **kw)
    assert set(b.measurable) == measurable
    if involved != "any":
        assert b.involved == involved


def test_baseline_takes_the_last_value_of_each_parameter():
    b = baseline([A(-30, spep="3.0", upep="300"), A(-5, spep="2.0")], C1)
    assert b.values["spep"] == D("2.0")
    assert b.values["upep"] == D("300")


# ------------------------------------------------------------------ categories, one assessment after baseline

CATEGORIES = [
    # --- serum patient: reductions from baseline 3.0
    ("S PR at exactly 50% (1.5 of 3.0)", S, {"spep": "1.5", "upep": "50"}, PR),
    ("S 49.7% is MR, not PR", S, {"spep": "1.51", "upep": "50"}, MR),
    ("S MR at exactly 25%", S, {"spep": "2.25", "upep": "50"}, MR),
    ("S 24.7% is SD", S, {"spep": "2.26", "upep": "50"}, SD),
    ("S no change is SD", S, {"spep": "3.0", "upep": "50"}, SD),
    ("S 60% fall is PR (urine not measurable)", S, {"spep": "1.2", "upep": "50"}, PR),
    ("S VGPR at exactly 90% with urine 99", S, {"spep": "0.3", "upep": "99"}, VGPR),
    ("S 89.7% is PR", S, {"spep": "0.31", "upep": "50"}, PR),
    ("S 90% but urine 100 is PR (urine < 100)", S, {"spep": "0.3", "upep": "100"}, PR),
    ("S 90% with no urine value is PR (missing value)", S, {"spep": "0.3"}, PR),
    ("S VGPR by immunofixation only (0 by electrophoresis)", S, {"spep": "0", "serum_ife": True, "upep": "0"}, VGPR),
    ("S CR", S, CR_ALL, CR),
    ("S CR needs marrow < 5%: 5% is VGPR", S, {**CR_ALL, "marrow_pc": "5"}, VGPR),
    ("S CR with marrow 4.99%", S, {**CR_ALL, "marrow_pc": "4.99"}, CR),
    ("S CR with marrow missing is VGPR", S, without(CR_ALL, "marrow_pc", "marrow_clonal"), VGPR),
    ("S CR with serum IFE positive is VGPR", S, {**CR_ALL, "serum_ife": True}, VGPR),
    ("S CR with urine IFE positive is VGPR", S, {**CR_ALL, "urine_ife": True}, VGPR),
    ("S CR with urine IFE missing is VGPR", S, without(CR_ALL, "urine_ife"), VGPR),
    ("S CR with serum IFE missing is VGPR", S, without(CR_ALL, "serum_ife"), VGPR),
    ("S CR without a recorded plasmacytoma status is VGPR", S, without(CR_ALL, "plasmacytoma"), VGPR),
    ("S sCR: ratio 1.98/1.2 = 1.65 normal, no clonal cells", S, SCR_ALL, sCR),
    ("S sCR: ratio exactly 0.26", S, {**SCR_ALL, "kappa": "2.6", "lambda_": "10"}, sCR),
    ("S ratio 1.66 is CR", S, {**SCR_ALL, "kappa": "16.6", "lambda_": "10"}, CR),
    ("S ratio 0.259 is CR", S, {**SCR_ALL, "kappa": "2.59", "lambda_": "10"}, CR),
    ("S clonal plasma cells is CR", S, {**SCR_ALL, "marrow_clonal": True}, CR),
    ("S clonality missing is CR", S, without(SCR_ALL, "marrow_clonal"), CR),
    ("S FLC missing is CR", S, without(SCR_ALL, "kappa", "lambda_"), CR),
    ("S nothing measured is NE", S, {}, NE),
    ("S VGPR by immunofixation needs urine < 100: 150 is PR", S, {"spep": "0", "serum_ife": True, "upep": "150"}, PR),
    # --- serum + urine measurable
    ("SU PR: serum 50%, urine 90%", SU, {"spep": "1.5", "upep": "100"}, PR),
    ("SU PR: serum 50%, urine to 199 (< 200)", SU, {"spep": "1.5", "upep": "199"}, PR),
    ("SU serum 50%, urine 80% and 200 is MR", SU, {"spep": "1.5", "upep": "200"}, MR),
    ("SU 60% serum + 70% urine is MR (settled reading)", SU, {"spep": "1.2", "upep": "300"}, MR),
    ("SU MR at serum 25%, urine 50%", SU, {"spep": "2.25", "upep": "500"}, MR),
    ("SU urine 49.9% is SD", SU, {"spep": "2.25", "upep": "501"}, SD),
    ("SU serum 24.7% is SD", SU, {"spep": "2.26", "upep": "500"}, SD),
    ("SU serum 80% but urine 20% is SD", SU, {"spep": "0.6", "upep": "800"}, SD),
    ("SU serum 95%, urine 70% is MR", SU, {"spep": "0.15", "upep": "300"}, MR),
    ("SU serum 40%, urine 95% is MR", SU, {"spep": "1.8", "upep": "50"}, MR),
    ("SU serum 33%, urine missing is SD (missing value)", SU, {"spep": "2.0"}, SD),
    ("SU VGPR: serum 90%, urine 99", SU, {"spep": "0.3", "upep": "99"}, VGPR),
    ("SU serum 90%, urine 100 is PR", SU, {"spep": "0.3", "upep": "100"}, PR),
    # --- urine-only
    ("U PR: urine 90% (100)", U, {"spep": "0.5", "upep": "100"}, PR),
    ("U VGPR: urine 99", U, {"spep": "0.5", "upep": "99"}, VGPR),
    ("U VGPR without any serum value", U, {"upep": "99"}, VGPR),
    ("U PR: urine to 199", U, {"spep": "0.5", "upep": "199"}, PR),
    ("U urine 80% (200) is MR", U, {"spep": "0.5", "upep": "200"}, MR),
    ("U MR at urine 50%", U, {"spep": "0.5", "upep": "500"}, MR),
    ("U MR without any serum value", U, {"upep": "500"}, MR),
    ("U urine 49.9% is SD", U, {"spep": "0.5", "upep": "501"}, SD),
    ("U serum 0 by electrophoresis gives no VGPR", U, {"spep": "0", "serum_ife": True, "upep": "300"}, MR),
    ("U serum -92% gives no VGPR", U, {"spep": "0.04", "upep": "300"}, MR),
    ("U baseline 250: 199 is PR (< 200)", {"spep": "0.5", "upep": "250"}, {"spep": "0.5", "upep": "199"}, PR),
    ("U baseline 200: 99 is VGPR", {"spep": "0.5", "upep": "200"}, {"spep": "0.5", "upep": "99"}, VGPR),
    ("U CR", U, CR_ALL, CR),
    ("U CR with serum IFE positive is VGPR", U, {**CR_ALL, "serum_ife": True}, VGPR),
    ("U nothing measured is NE", U, {}, NE),
    # --- FLC-only (dFLC 45, kappa involved)
    ("F PR at exactly 50% dFLC (22.5)", F, {"spep": "0.5", "upep": "50", "kappa": "27.5", "lambda_": "5"}, PR),
    ("F dFLC 49.8% is SD (no MR by FLC)", F, {"spep": "0.5", "upep": "50", "kappa": "27.6", "lambda_": "5"}, SD),
    ("F dFLC 33% is SD (no MR by FLC)", F, {"spep": "0.5", "upep": "50", "kappa": "35", "lambda_": "5"}, SD),
    ("F dFLC -96% is PR (no VGPR by FLC)", F, {"spep": "0.5", "upep": "50", "kappa": "7", "lambda_": "5"}, PR),
    (
        "F serum 0 by electrophoresis gives no VGPR",
        F,
        {"spep": "0", "serum_ife": True, "upep": "0", "kappa": "7", "lambda_": "5"},
        PR,
    ),
    ("F CR", F, {**CR_ALL, "kappa": "10", "lambda_": "5"}, CR),
    ("F sCR", F, SCR_ALL, sCR),
    ("FL lambda involved: dFLC 19.5 of 40 is PR", FL, {"spep": "0.5", "upep": "50", "kappa": "1", "lambda_": "20.5"}, PR),
    ("FL lambda involved: dFLC 20.5 of 40 is SD", FL, {"spep": "0.5", "upep": "50", "kappa": "1", "lambda_": "21.5"}, SD),
    (
        "F involved chain fixed at baseline: kappa-lambda = -25 is a >50% reduction",
        F,
        {"spep": "0.5", "upep": "50", "kappa": "5", "lambda_": "30"},
        PR,
    ),
    # --- plasmacytoma at baseline (10 cm2)
    ("P PR: serum 50%, plasmacytoma 50% smaller", P, {"spep": "1.5", "upep": "50", "plasmacytoma": True, "plasmacytoma_size": "5"}, PR),
    ("P plasmacytoma 49% smaller: MR", P, {"spep": "1.5", "upep": "50", "plasmacytoma": True, "plasmacytoma_size": "5.1"}, MR),
    ("P plasmacytoma recorded absent = 100%: PR", P, {"spep": "1.5", "upep": "50", "plasmacytoma": False}, PR),
    ("P plasmacytoma not recorded: MR (missing value)", P, {"spep": "1.5", "upep": "50"}, MR),
    ("P VGPR needs PR's plasmacytoma criterion: 40% smaller is MR", P, {"spep": "0.3", "upep": "50", "plasmacytoma": True, "plasmacytoma_size": "6"}, MR),
    ("P VGPR with plasmacytoma 50% smaller", P, {"spep": "0.3", "upep": "50", "plasmacytoma": True, "plasmacytoma_size": "5"}, VGPR),
    ("P VGPR with plasmacytoma absent", P, {"spep": "0.3", "upep": "50", "plasmacytoma": False}, VGPR),
    ("P CR with plasmacytoma absent", P, CR_ALL, CR),
    ("P present plasmacytoma blocks CR: VGPR", P, {**CR_ALL, "plasmacytoma": True, "plasmacytoma_size": "5"}, VGPR),
    (
        "FLC-only patient with plasmacytoma 40% smaller: no PR",
        {**F, "plasmacytoma": True, "plasmacytoma_size": "10"},
        {"spep": "0.5", "upep": "50", "kappa": "7", "lambda_": "5", "plasmacytoma": True, "plasmacytoma_size": "6"},
        SD,
    ),
]


@pytest.mark.parametrize(("base", "assessment", "expected"), [c[1:] for c in CATEGORIES], ids=[c[0] for c in CATEGORIES])
def test_category_of_one_assessment(base, assessment, expected):
    r = run(base, (28, assessment))
    assert r.results[-1].category == expected, r.results[-1].reason


# ------------------------------------------------------------------ progression from the nadir (category of the last assessment)

B8 = {"spep": "8.0", "upep": "50"}
M20 = {**S, "marrow_pc": "20"}
M60 = {**S, "marrow_pc": "60"}
F60 = {"spep": "0.5", "upep": "50", "kappa": "65", "lambda_": "5"}  # dFLC 60
U800 = {"spep": "0.5", "upep": "800"}

PROGRESSIONS = [
    # serum: +25% and +0.5 g/dL from the nadir
    ("serum nadir 2.0 -> 2.5 (+25%, +0.5): PD", S, [{"spep": "2.0", "upep": "50"}, {"spep": "2.5", "upep": "50"}], PD),
    ("serum nadir 2.0 -> 2.49: SD", S, [{"spep": "2.0", "upep": "50"}, {"spep": "2.49", "upep": "50"}], SD),
    ("serum nadir 1.0 -> 1.5 (+50%, +0.5): PD", S, [{"spep": "1.0", "upep": "50"}, {"spep": "1.5", "upep": "50"}], PD),
    ("serum nadir 1.0 -> 1.49 (+0.49): PR", S, [{"spep": "1.0", "upep": "50"}, {"spep": "1.49", "upep": "50"}], PR),
    ("serum nadir 0.4 -> 0.8 (+100%, +0.4): not PD", S, [{"spep": "0.4", "upep": "50"}, {"spep": "0.8", "upep": "50"}], PR),
    ("serum PD while still below baseline (3.0, 2.0, 2.6)", S, [{"spep": "2.0", "upep": "50"}, {"spep": "2.6", "upep": "50"}], PD),
    ("serum PD from baseline as nadir (3.0 -> 3.75)", S, [{"spep": "3.75", "upep": "50"}], PD),
    ("serum nadir 5.0 -> 6.0 (+1 g/dL, +20%): PD", B8, [{"spep": "5.0", "upep": "50"}, {"spep": "6.0", "upep": "50"}], PD),
    ("serum nadir 5.0 -> 5.99: MR", B8, [{"spep": "5.0", "upep": "50"}, {"spep": "5.99", "upep": "50"}], MR),
    ("serum nadir 4.99 -> 5.99 (+1 g/dL, +20%): MR", B8, [{"spep": "4.99", "upep": "50"}, {"spep": "5.99", "upep": "50"}], MR),
    # serum rule applies to every patient
    ("urine-only patient, serum 0.8 -> 1.3: PD", {"spep": "0.8", "upep": "1000"}, [{"spep": "1.3", "upep": "1000"}], PD),
    ("urine-only patient, serum 0.8 -> 1.29: SD", {"spep": "0.8", "upep": "1000"}, [{"spep": "1.29", "upep": "1000"}], SD),
    ("FLC-only patient, serum 0.5 -> 1.0: PD", F, [{"spep": "1.0", "upep": "50", "kappa": "50", "lambda_": "5"}], PD),
    # urine: +25% and +200 mg/24 h
    ("urine nadir 400 -> 600 (+50%, +200): PD", U, [{"spep": "0.5", "upep": "400"}, {"spep": "0.5", "upep": "600"}], PD),
    ("urine nadir 400 -> 599: SD", U, [{"spep": "0.5", "upep": "400"}, {"spep": "0.5", "upep": "599"}], SD),
    ("urine 800 -> 1000 (+25%, +200): PD", U800, [{"spep": "0.5", "upep": "1000"}], PD),
    ("urine 800 -> 999: SD", U800, [{"spep": "0.5", "upep": "999"}], SD),
    ("serum patient, urine 50 -> 250: PD", S, [{"spep": "3.0", "upep": "250"}], PD),
    ("serum patient, urine 50 -> 249: SD", S, [{"spep": "3.0", "upep": "249"}], SD),
    # dFLC (FLC-only): +25% and > 10 mg/dL
    (
        "dFLC nadir 20 -> 30.01: PD",
        F,
        [{"spep": "0.5", "upep": "50", "kappa": "25", "lambda_": "5"}, {"spep": "0.5", "upep": "50", "kappa": "35.01", "lambda_": "5"}],
        PD,
    ),
    (
        "dFLC nadir 20 -> 30 (+10, not > 10): SD",
        F,
        [{"spep": "0.5", "upep": "50", "kappa": "25", "lambda_": "5"}, {"spep": "0.5", "upep": "50", "kappa": "35", "lambda_": "5"}],
        SD,
    ),
    ("dFLC 60 -> 75 (+25%): PD", F60, [{"spep": "0.5", "upep": "50", "kappa": "80", "lambda_": "5"}], PD),
    ("dFLC 60 -> 74.99: SD", F60, [{"spep": "0.5", "upep": "50", "kappa": "79.99", "lambda_": "5"}], SD),
    (
        "dFLC rise in a serum patient is not PD",
        {**S, "kappa": "40", "lambda_": "1"},
        [{"spep": "3.0", "upep": "50", "kappa": "100", "lambda_": "1"}],
        SD,
    ),
    (
        "dFLC lambda involved: nadir 20 -> 30.01: PD",
        FL,
        [{"spep": "0.5", "upep": "50", "kappa": "1", "lambda_": "21"}, {"spep": "0.5", "upep": "50", "kappa": "1", "lambda_": "31.01"}],
        PD,
    ),
    ("FLC-only patient, urine 50 -> 250: PD", F, [{"spep": "0.5", "upep": "250", "kappa": "50", "lambda_": "5"}], PD),
    # marrow: +25% and +10 points
    ("marrow 40 -> 50: PD", S, [{"spep": "2.0", "upep": "50", "marrow_pc": "50"}], PD),
    ("marrow 40 -> 49.99: MR", S, [{"spep": "2.0", "upep": "50", "marrow_pc": "49.99"}], MR),
    ("marrow 20 -> 30: PD", M20, [{"spep": "2.0", "upep": "50", "marrow_pc": "30"}], PD),
    ("marrow 20 -> 29.99: MR", M20, [{"spep": "2.0", "upep": "50", "marrow_pc": "29.99"}], MR),
    ("marrow 60 -> 70 (+16.7%): MR", M60, [{"spep": "2.0", "upep": "50", "marrow_pc": "70"}], MR),
    ("marrow 60 -> 75: PD", M60, [{"spep": "2.0", "upep": "50", "marrow_pc": "75"}], PD),
    (
        "marrow nadir 30 -> 40: PD",
        S,
        [{"spep": "2.0", "upep": "50", "marrow_pc": "30"}, {"spep": "2.0", "upep": "50", "marrow_pc": "40"}],
        PD,
    ),
    ("marrow PD in a urine-only patient", {**U, "marrow_pc": "40"}, [{"spep": "0.5", "upep": "100", "marrow_pc": "50"}], PD),
    # imaging
    ("new bone lesion: PD", S, [{"spep": "1.4", "upep": "50", "new_lesions": True}], PD),
    ("new plasmacytoma (absent at baseline): PD", S, [{"spep": "1.4", "upep": "50", "plasmacytoma": True, "plasmacytoma_size": "2"}], PD),
    (
        "plasmacytoma disappeared and reappears: PD",
        P,
        [{"spep": "1.4", "upep": "50", "plasmacytoma": False}, {"spep": "1.4", "upep": "50", "plasmacytoma": True, "plasmacytoma_size": "1"}],
        PD,
    ),
    (
        "plasmacytoma 4 -> 6 (+50% from smallest): PD",
        P,
        [
            {"spep": "1.4", "upep": "50", "plasmacytoma": True, "plasmacytoma_size": "4"},
            {"spep": "1.4", "upep": "50", "plasmacytoma": True, "plasmacytoma_size": "6"},
        ],
        PD,
    ),
    (
        "plasmacytoma 4 -> 5.99: not PD, 40% smaller than baseline: MR",
        P,
        [
            {"spep": "1.4", "upep": "50", "plasmacytoma": True, "plasmacytoma_size": "4"},
            {"spep": "1.4", "upep": "50", "plasmacytoma": True, "plasmacytoma_size": "5.99"},
        ],
        MR,
    ),
    (
        "plasmacytoma 10 -> 15 (+50% from baseline as smallest): PD",
        P,
        [{"spep": "3.0", "upep": "50", "plasmacytoma": True, "plasmacytoma_size": "15"}],
        PD,
    ),
]


@pytest.mark.parametrize(("base", "later", "expected"), [p[1:] for p in PROGRESSIONS], ids=[p[0] for p in PROGRESSIONS])
def test_progression_category(base, later, expected):
    r = run(base, *((28 * (i + 1), v) for i, v in enumerate(later)))
    assert r.results[-1].category == expected, r.results[-1].reason


# ------------------------------------------------------------------ confirmation and best overall response


def pr(**kw):
    return {"spep": "1.4", "upep": "50", **kw}


def vgpr(**kw):
    return {"spep": "0.2", "upep": "50", **kw}


def test_two_consecutive_prs_confirm_pr_dated_at_the_first():
    r = run(S, (28, pr()), (56, pr()))
    assert r.best == PR
    assert r.best_on == on(28)
    assert r.first_response_on == on(28)
    assert r.progression_on is None


def test_a_single_pr_is_not_confirmed():
    r = run(S, (28, pr()))
    assert r.best.rank < PR.rank
    assert r.first_response_on is None


def test_prs_not_consecutive_are_not_confirmed():
    r = run(S, (28, pr()), (56, {"spep": "2.8", "upep": "50"}), (84, pr()))
    assert r.best.rank < PR.rank
    assert r.first_response_on is None


def test_pr_then_vgpr_twice():
    # PR is confirmed by the PR and the VGPR (which meets PR's criteria), dated at day 28;
    # VGPR by the two VGPRs, dated at day 56.
    r = run(S, (28, pr()), (56, vgpr()), (84, vgpr()))
    assert r.best == VGPR
    assert r.best_on == on(56)
    assert r.first_response_on == on(28)


def test_vgpr_then_pr_confirms_pr_only():
    # day 56: 0.6 is an 80% reduction (PR) and only +0.4 g/dL above the nadir 0.2 (not PD)
    r = run(S, (28, vgpr()), (56, {"spep": "0.6", "upep": "50"}))
    assert r.best == PR
    assert r.best_on == on(28)


def test_two_serum_pds_confirm_progression_dated_at_the_first():
    r = run(S, (28, {"spep": "3.75", "upep": "50"}), (56, {"spep": "3.8", "upep": "50"}))
    assert r.progression_on == on(28)


def test_a_single_serum_pd_is_not_confirmed():
    r = run(S, (28, pr()), (56, {"spep": "1.9", "upep": "50"}))
    assert r.results[-1].category == PD
    assert r.progression_on is None


def test_serum_pd_not_followed_by_pd_is_not_confirmed():
    r = run(S, (28, {"spep": "3.75", "upep": "50"}), (56, {"spep": "3.0", "upep": "50"}))
    assert r.progression_on is None


def test_two_samples_on_one_date_do_not_confirm():
    # "two consecutive assessments on different samples": one date, one sample.
    try:
        r = evaluate([A(-7, **S), A(28, **pr()), Assessment(on=on(28), id="dup", spep=D("1.4"), upep=D(50))], cycle1_day1=C1)
    except ImwgError:
        return
    assert r.first_response_on is None


def test_marrow_pd_needs_no_confirmation_and_is_dated_at_its_assessment():
    r = run(S, (28, pr()), (56, pr(marrow_pc="50")))
    assert r.results[-1].category == PD
    assert r.progression_on == on(56)


def test_marrow_pd_whatever_the_serum_did():
    r = run(S, (28, pr()), (56, pr()), (84, vgpr(marrow_pc="50")))
    assert r.progression_on == on(84)
    assert r.best == PR
    assert r.best_on == on(28)


def test_new_lesion_pd_needs_no_confirmation():
    r = run(S, (28, pr()), (56, pr(new_lesions=True)))
    assert r.progression_on == on(56)


def test_plasmacytoma_pd_needs_no_confirmation():
    r = run(P, (28, pr(plasmacytoma=True, plasmacytoma_size="4")), (56, pr(plasmacytoma=True, plasmacytoma_size="6")))
    assert r.progression_on == on(56)


def test_marrow_pd_needs_no_confirmation_in_a_urine_only_patient():
    r = run({**U, "marrow_pc": "40"}, (28, {"spep": "0.5", "upep": "100", "marrow_pc": "50"}))
    assert r.progression_on == on(28)


def test_best_response_is_before_the_first_confirmed_pd():
    r = run(
        S,
        (28, pr()),
        (56, pr()),
        (84, {"spep": "1.9", "upep": "50"}),  # nadir 1.4: +0.5, +35.7%
        (112, {"spep": "2.0", "upep": "50"}),
        (140, vgpr()),
        (168, vgpr()),
    )
    assert r.progression_on == on(84)
    assert r.best == PR
    assert r.best_on == on(28)


def test_best_response_is_before_new_therapy():
    r = run(S, (28, pr()), (56, pr()), (84, vgpr()), (112, vgpr()), next_therapy_on=on(100))
    assert r.best == PR
    control = run(S, (28, pr()), (56, pr()), (84, vgpr()), (112, vgpr()))
    assert control.best == VGPR
    assert control.best_on == on(84)


def test_pd_is_not_confirmed_across_new_therapy():
    r = run(S, (28, pr()), (56, pr()), (84, {"spep": "1.9", "upep": "50"}), (112, {"spep": "2.0", "upep": "50"}), next_therapy_on=on(90))
    assert r.progression_on is None
    assert r.best == PR


def test_response_after_new_therapy_does_not_count():
    r = run(S, (28, pr()), (56, pr()), next_therapy_on=on(40))
    assert r.best.rank < PR.rank
    assert r.first_response_on is None


def test_confirmed_urine_only_vgpr():
    r = run(U, (28, {"upep": "99"}), (56, {"upep": "80"}))
    assert r.best == VGPR
    assert r.best_on == on(28)


def test_confirmed_flc_only_pr():
    f = {"spep": "0.5", "upep": "50", "lambda_": "5"}
    r = run(F, (28, {**f, "kappa": "27.5"}), (56, {**f, "kappa": "20"}))
    assert r.best == PR
    assert r.best_on == on(28)


def test_mr_and_sd_need_confirmation_too():
    r = run(S, (28, {"spep": "2.0", "upep": "50"}), (56, {"spep": "2.1", "upep": "50"}))
    assert (r.best, r.best_on) == (MR, on(28))
    r = run(S, (28, {"spep": "2.9", "upep": "50"}), (56, {"spep": "2.8", "upep": "50"}))
    assert (r.best, r.best_on) == (SD, on(28))
    r = run(S, (28, {"spep": "2.0", "upep": "50"}))
    assert r.best.rank < MR.rank


def test_cr_is_confirmed_without_a_second_marrow_or_imaging():
    # "marrow and imaging need none": the second assessment repeats serum and urine only.
    second = without(CR_ALL, "marrow_pc", "marrow_clonal", "plasmacytoma")
    r = run(S, (28, CR_ALL), (56, second))
    assert (r.best, r.best_on) == (CR, on(28))


def test_marrow_pd_breaks_a_pending_pr_confirmation():
    # day 56 is a PD assessment (marrow), so the day 28 PR has no second PR.
    r = run(S, (28, pr()), (56, pr(marrow_pc="50")))
    assert r.first_response_on is None
    assert r.progression_on == on(56)


def test_an_unconfirmed_pd_does_not_end_the_course():
    r = run(S, (28, pr()), (56, {"spep": "1.9", "upep": "50"}), (84, pr()), (112, pr()))
    assert r.progression_on is None
    assert (r.best, r.best_on) == (PR, on(84))


def test_pd_confirmed_by_two_pd_assessments_on_different_rules():
    # serum PD at day 28, urine PD at day 56: two consecutive PD assessments, dated at the first.
    r = run(SU, (28, {"spep": "3.75", "upep": "1000"}), (56, {"spep": "3.0", "upep": "1250"}))
    assert [x.category for x in r.results] == [PD, PD]
    assert r.progression_on == on(28)


def test_serum_measurable_is_a_protocol_parameter():
    base = {"spep": "0.6", "upep": "50"}
    r = run(base, (28, {"spep": "0.3", "upep": "50"}), serum_measurable=D("0.5"))
    assert r.results[-1].category == PR
    assert "spep" in r.baseline.measurable


def test_serum_pd_followed_by_marrow_pd_is_dated_at_the_serum_pd():
    # two consecutive PD assessments (day 56 serum, day 84 marrow): confirmed, dated at the first.
    r = run(S, (28, pr()), (56, {"spep": "1.9", "upep": "50"}), (84, pr(marrow_pc="50")))
    assert r.progression_on == on(56)
