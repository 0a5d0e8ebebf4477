"""Kaplan-Meier curves (response.survival) against published reference results, edge cases and invariants.

Where the reference values come from
- R survival's aml data (survival::aml, Miller 1981: weeks to relapse in acute myelogenous
  leukaemia, maintenance chemotherapy or not), embedded below. The numbers are R 4.2.2 with
  survival 3.5-3 (Debian r-cran-survival), printed with options(digits=10) by
      fit <- survfit(Surv(time, status) ~ 1, data = aml, conf.type = "log-log")
      summary(fit); quantile(fit, 0.5)
      summary(fit, times = c(0, 10, 20, 27, 30, 40, 50, 100, 161, 200), extend = TRUE)
      summary(survfit(Surv(time, status) ~ x, data = aml, conf.type = "log-log"))
  The pooled median of 27 weeks is the protocol's check. Its 95% interval with the log-log
  curves is 13-34 weeks; R's default conf.type="log" gives 18-45, which is not what we compute.
  The interval is R's: the first time the lower curve is at or below 0.5 (13 weeks,
  S_lower = 0.4656) to the first time the upper curve is (34 weeks, S_upper = 0.4803), i.e. the
  times whose log-log interval for S(t) contains 0.5 (Brookmeyer-Crowley as survfit does it).
- lifelines' Waltons data (lifelines 0.30.3, lifelines/datasets/waltons_dataset.csv, MIT
  licence), shipped as tests/data/waltons.csv. Medians and intervals agree between lifelines
  (KaplanMeierFitter.median_survival_time_ and median_survival_times(confidence_interval_))
  and R (survfit(Surv(T, E) ~ group, conf.type = "log-log")); the curve values are R's.
- The edge cases (median exactly on 0.5, censoring first, zero times, ties) are R's output for
  the same small data sets, so our median rule is R's and not just our reading of it.
"""

import csv
import math
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from response.survival import Curve, SurvivalError, kaplan_meier

# survival::aml: (weeks, relapse observed, group)
AML = (
    (9, 1, "Maintained"),
    (13, 1, "Maintained"),
    (13, 0, "Maintained"),
    (18, 1, "Maintained"),
    (23, 1, "Maintained"),
    (28, 0, "Maintained"),
    (31, 1, "Maintained"),
    (34, 1, "Maintained"),
    (45, 0, "Maintained"),
    (48, 1, "Maintained"),
    (161, 0, "Maintained"),
    (5, 1, "Nonmaintained"),
    (5, 1, "Nonmaintained"),
    (8, 1, "Nonmaintained"),
    (8, 1, "Nonmaintained"),
    (12, 1, "Nonmaintained"),
    (16, 0, "Nonmaintained"),
    (23, 1, "Nonmaintained"),
    (27, 1, "Nonmaintained"),
    (30, 1, "Nonmaintained"),
    (33, 1, "Nonmaintained"),
    (43, 1, "Nonmaintained"),
    (45, 1, "Nonmaintained"),
)

WALTONS = Path(__file__).resolve().parent.parent / "data" / "waltons.csv"

FOUR_DECIMALS = 5e-5


def close(value, reference):
    """Equal to 4 decimals; None stands for R's NA."""
    if reference is None:
        return value is None
    return value is not None and abs(value - reference) < FOUR_DECIMALS


def aml(group=None) -> Curve:
    rows = [r for r in AML if group in (None, r[2])]
    return kaplan_meier([r[0] for r in rows], [bool(r[1]) for r in rows])


def waltons(group=None) -> Curve:
    with WALTONS.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if group in (None, r["group"])]
    return kaplan_meier([float(r["T"]) for r in rows], [r["E"] == "1" for r in rows])


def row(curve: Curve, t: float):
    i = curve.times.index(t)
    return curve.at_risk[i], curve.events[i], curve.survival[i], curve.lower[i], curve.upper[i]


# --- R survival::aml ----------------------------------------------------------------------


# summary(survfit(Surv(time, status) ~ 1, data = aml, conf.type = "log-log")): time, n.risk, n.event, survival, lower, upper
AML_POOLED = (
    (5, 23, 2, 0.91304347826, 0.694947537532, 0.9775156699),
    (8, 21, 2, 0.82608695652, 0.600610411237, 0.9309035584),
    (9, 19, 1, 0.78260869565, 0.554211506669, 0.9032074899),
    (12, 18, 1, 0.73913043478, 0.509209438754, 0.8733757817),
    (13, 17, 1, 0.69565217391, 0.465641749762, 0.8417212914),
    (18, 14, 1, 0.64596273292, 0.413952950717, 0.8053077645),
    (23, 13, 2, 0.54658385093, 0.319250413971, 0.7264491738),
    (27, 11, 1, 0.49689440994, 0.275565628012, 0.6842137884),
    (30, 9, 1, 0.44168391994, 0.227381168463, 0.6370926875),
    (31, 8, 1, 0.38647342995, 0.182836618649, 0.5874769144),
    (33, 7, 1, 0.33126293996, 0.141825693482, 0.5352737900),
    (34, 6, 1, 0.27605244997, 0.104441343234, 0.4802846604),
    (43, 5, 1, 0.22084195997, 0.070996648983, 0.4221674434),
    (45, 4, 1, 0.16563146998, 0.042114281262, 0.3603613603),
    (48, 2, 1, 0.08281573499, 0.006955966799, 0.2867603680),
)


@pytest.mark.parametrize(("t", "n_risk", "n_event", "surv", "lower", "upper"), AML_POOLED)
def test_aml_pooled_curve_matches_r_survfit_log_log(t, n_risk, n_event, surv, lower, upper):
    at_risk, events, s, lo, hi = row(aml(), t)
    assert (at_risk, events) == (n_risk, n_event)
    assert close(s, surv)
    assert close(lo, lower)
    assert close(hi, upper)


def test_aml_pooled_median_is_27_weeks_with_r_log_log_interval_13_to_34():
    curve = aml()
    assert (curve.n, curve.n_events) == (23, 18)
    assert close(curve.median, 27.0)
    assert close(curve.median_lower, 13.0)
    assert close(curve.median_upper, 34.0)


def test_aml_censored_times_are_on_the_curve_as_in_survfit():
    # survfit lists censoring-only times (16, 28, 161) with n.event 0 and the curve unchanged.
    curve = aml()
    assert row(curve, 16) == (15, 0, *row(curve, 13)[2:])
    assert curve.censored[curve.times.index(161)] == 1
    assert sum(curve.events) == curve.n_events
    assert sum(curve.events) + sum(curve.censored) == curve.n


# summary(survfit(Surv(time, status) ~ x, data = aml, conf.type = "log-log"))
AML_GROUPS = (
    ("Maintained", 9, 11, 1, 0.90909090909, 0.508080205770, 0.9866738227),
    ("Maintained", 13, 10, 1, 0.81818181818, 0.447428614682, 0.9511622286),
    ("Maintained", 18, 8, 1, 0.71590909091, 0.350190385908, 0.8990239742),
    ("Maintained", 23, 7, 1, 0.61363636364, 0.265752040001, 0.8352992433),
    ("Maintained", 31, 5, 1, 0.49090909091, 0.167330909777, 0.7533997904),
    ("Maintained", 34, 4, 1, 0.36818181818, 0.092829574937, 0.6570408324),
    ("Maintained", 48, 2, 1, 0.18409090909, 0.011738480123, 0.5250148427),
    ("Nonmaintained", 5, 12, 2, 0.83333333333, 0.481714942195, 0.9555093657),
    ("Nonmaintained", 8, 10, 2, 0.66666666667, 0.337018932541, 0.8597117991),
    ("Nonmaintained", 12, 8, 1, 0.58333333333, 0.270138924085, 0.8009401923),
    ("Nonmaintained", 23, 6, 1, 0.48611111111, 0.191876619619, 0.7296715698),
    ("Nonmaintained", 27, 5, 1, 0.38888888889, 0.126272012195, 0.6498174083),
    ("Nonmaintained", 30, 4, 1, 0.29166666667, 0.072401608908, 0.5608860527),
    ("Nonmaintained", 33, 3, 1, 0.19444444444, 0.031198642931, 0.4614294762),
    ("Nonmaintained", 43, 2, 1, 0.09722222222, 0.005746305696, 0.3489038611),
    ("Nonmaintained", 45, 1, 1, 0.0, None, None),  # S = 0: R's limits are NA
)


@pytest.mark.parametrize(("group", "t", "n_risk", "n_event", "surv", "lower", "upper"), AML_GROUPS)
def test_aml_group_curves_match_r_survfit_log_log(group, t, n_risk, n_event, surv, lower, upper):
    at_risk, events, s, lo, hi = row(aml(group), t)
    assert (at_risk, events) == (n_risk, n_event)
    assert close(s, surv)
    assert close(lo, lower)
    assert close(hi, upper)


@pytest.mark.parametrize(
    ("group", "n", "n_events", "median", "lower", "upper"),
    [
        # print(survfit(...)): the Maintained upper curve never reaches 0.5 (lowest 0.5250), so R says NA.
        ("Maintained", 11, 7, 31.0, 13.0, None),
        ("Nonmaintained", 12, 11, 23.0, 5.0, 33.0),
    ],
)
def test_aml_group_medians_match_r(group, n, n_events, median, lower, upper):
    curve = aml(group)
    assert (curve.n, curve.n_events) == (n, n_events)
    assert close(curve.median, median)
    assert close(curve.median_lower, lower)
    assert close(curve.median_upper, upper)


# summary(fit, times = ..., extend = TRUE): time, n.risk, survival
@pytest.mark.parametrize(
    ("t", "n_risk", "surv"),
    [
        (0, 23, 1.0),
        (10, 18, 0.78260869565),
        (20, 13, 0.64596273292),
        (27, 11, 0.49689440994),
        (30, 9, 0.44168391994),
        (40, 5, 0.27605244997),
        (50, 1, 0.08281573499),
        (100, 1, 0.08281573499),
        (161, 1, 0.08281573499),
        (200, 0, 0.08281573499),  # past the last follow-up R carries the last value and nobody is at risk
    ],
)
def test_aml_numbers_at_risk_and_survival_at_plot_ticks_match_r_summary(t, n_risk, surv):
    curve = aml()
    assert curve.at_risk_at(t) == n_risk
    assert close(curve.survival_at(t), surv)


# --- lifelines Waltons ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "n", "n_events", "median", "lower", "upper"),
    [
        (None, 163, 156, 56.0, 53.0, 58.0),
        ("control", 129, 122, 58.0, 56.0, 60.0),
        ("miR-137", 34, 34, 26.0, 19.0, 29.0),
    ],
)
def test_waltons_medians_match_lifelines_and_r(group, n, n_events, median, lower, upper):
    curve = waltons(group)
    assert (curve.n, curve.n_events) == (n, n_events)
    assert close(curve.median, median)
    assert close(curve.median_lower, lower)
    assert close(curve.median_upper, upper)


# R summary(fit, times = ..., extend = TRUE) with conf.type = "log-log"; lifelines' table has the same values.
@pytest.mark.parametrize(
    ("group", "t", "n_risk", "surv", "lower", "upper"),
    [
        (None, 20, 148, 0.9136503067, 0.858549259442, 0.94793035492),
        (None, 40, 126, 0.7778374233, 0.705673552166, 0.83437948186),
        (None, 50, 99, 0.6168168456, 0.537239074125, 0.68676523055),
        (None, 56, 87, 0.4299026500, 0.352689004819, 0.50467960923),
        (None, 60, 65, 0.3115236594, 0.241659493551, 0.38375862020),
        (None, 70, 1, 0.0143405091, 0.002854077704, 0.04618369753),
        (None, 80, 0, 0.0, None, None),
        ("control", 30, 126, 0.98443508515, 0.93919920588, 0.9960845049),
        ("control", 45, 115, 0.82817554782, 0.75088343850, 0.8833273960),
        ("control", 56, 85, 0.52845487337, 0.43818071007, 0.6107912357),
        ("control", 60, 63, 0.37859453615, 0.29469924007, 0.4620222923),
        ("miR-137", 30, 8, 0.23529411765, 0.11085714965, 0.3860317880),
        ("miR-137", 45, 3, 0.08823529412, 0.02262430696, 0.2110508720),
        ("miR-137", 60, 2, 0.05882352941, 0.01052676443, 0.1715789278),
    ],
)
def test_waltons_curve_at_times_matches_r(group, t, n_risk, surv, lower, upper):
    curve = waltons(group)
    i = max(i for i, time in enumerate(curve.times) if time <= t)
    assert curve.at_risk_at(t) == n_risk
    assert close(curve.survival_at(t), surv)
    assert close(curve.lower[i], lower)
    assert close(curve.upper[i], upper)


# --- edge cases, each against R survfit(..., conf.type = "log-log") and quantile(fit, 0.5) ---


@pytest.mark.parametrize(
    ("durations", "events", "median", "lower", "upper"),
    [
        # S = 0.5 from time 2 to the event at 3: R's midpoint rule gives 2.5.
        ([1, 2, 3, 4], [1, 1, 1, 1], 2.5, 1.0, None),
        # S = 0.5 from 3; the next drop is at 5 (4 is a censoring): (3 + 5) / 2.
        ([1, 2, 3, 4, 5], [0, 1, 1, 0, 1], 4.0, 2.0, None),
        # S = 0.5 from 3 to the event at 6, censorings between: (3 + 6) / 2.
        ([1, 2, 3, 4, 5, 6], [1, 1, 1, 0, 0, 1], 4.5, 1.0, None),
        # S = 0.5 from 2 and never drops again: midpoint with the last follow-up, (2 + 4) / 2.
        ([1, 2, 3, 4], [1, 1, 0, 0], 3.0, 1.0, None),
        # Zero durations count (an event on day 0), tied with a censoring at 0.
        ([0, 0, 1, 2, 3, 4], [1, 0, 1, 1, 0, 1], 2.0, 0.0, None),
        # Ties: events and censorings at the same time, the censored still at risk there.
        ([2, 2, 2, 3, 3, 5, 7, 7], [1, 1, 0, 1, 0, 1, 0, 1], 5.0, 2.0, None),
        # One patient, one event: S drops straight to 0, the limits are undefined.
        ([4], [1], 4.0, None, None),
        # No events: the curve stays at 1 and there is no median.
        ([1, 2, 3], [0, 0, 0], None, None, None),
    ],
)
def test_median_and_interval_follow_r_quantile_survfit(durations, events, median, lower, upper):
    curve = kaplan_meier(durations, events)
    assert close(curve.median, median)
    assert close(curve.median_lower, lower)
    assert close(curve.median_upper, upper)


def test_tied_event_and_censoring_at_zero_match_r():
    # R: time 0, n.risk 6, n.event 1, survival 0.8333, limits 0.2731-0.9747
    curve = kaplan_meier([0, 0, 1, 2, 3, 4], [1, 0, 1, 1, 0, 1])
    assert row(curve, 0) == (6, 1, *row(curve, 0)[2:])
    assert curve.censored[0] == 1
    assert close(curve.survival[0], 0.8333333333)
    assert close(curve.lower[0], 0.27312284992835584)
    assert close(curve.upper[0], 0.9747124266908935)


def test_no_events_keeps_survival_at_one_with_a_degenerate_interval():
    curve = kaplan_meier([3, 5, 8], [False, False, False])
    assert curve.survival == (1.0, 1.0, 1.0)
    assert curve.lower == curve.upper == (1.0, 1.0, 1.0)  # Greenwood variance 0 (R's summary(); R's fit$lower says NA)
    assert curve.events == (0, 0, 0)
    assert curve.n_events == 0
    assert curve.median is None


def test_all_events_end_at_zero_with_undefined_limits():
    curve = kaplan_meier([1, 2, 3, 4], [True] * 4)
    assert curve.survival[-1] == 0.0
    assert curve.lower[-1] is None
    assert curve.upper[-1] is None
    assert curve.survival_at(10) == 0.0
    assert curve.at_risk_at(4) == 1
    assert curve.at_risk_at(4.5) == 0


def test_confidence_level_widens_the_interval():
    t, e = [r[0] for r in AML], [bool(r[1]) for r in AML]
    narrow, wide = kaplan_meier(t, e, confidence=0.80), kaplan_meier(t, e, confidence=0.99)
    assert narrow.survival == wide.survival
    assert all(w <= n for n, w in zip(narrow.lower, wide.lower, strict=True))
    assert all(w >= n for n, w in zip(narrow.upper, wide.upper, strict=True))
    assert (narrow.confidence, wide.confidence) == (0.80, 0.99)


def test_accepts_zero_one_event_flags_like_r_status():
    assert kaplan_meier([1, 2, 3], [1, 0, 1]) == kaplan_meier([1, 2, 3], [True, False, True])


@pytest.mark.parametrize(
    ("durations", "events", "confidence", "message"),
    [
        ([], [], 0.95, "no patients"),
        ([1, 2], [True], 0.95, "2 durations but 1 event flags"),
        ([1, -2], [True, False], 0.95, "negative"),
        ([1, math.nan], [True, False], 0.95, "finite"),
        ([1, math.inf], [True, False], 0.95, "finite"),
        ([1, "2"], [True, False], 0.95, "finite"),
        ([1, 2], [True, 2], 0.95, "event flag 1"),
        ([1, 2], [True, "yes"], 0.95, "event flag 1"),
        ([1, 2], [True, False], 1.0, "confidence"),
        ([1, 2], [True, False], 0.0, "confidence"),
    ],
)
def test_invalid_input_is_refused_with_a_clear_message(durations, events, confidence, message):
    with pytest.raises(SurvivalError, match=message):
        kaplan_meier(durations, events, confidence=confidence)


def test_survival_error_is_a_value_error():
    with pytest.raises(ValueError, match="no patients"):
        kaplan_meier([], [])


# --- invariants ---------------------------------------------------------------------------

patients = st.lists(st.tuples(st.integers(min_value=0, max_value=30), st.booleans()), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(patients)
def test_curve_invariants(data):
    durations, events = [d for d, _ in data], [e for _, e in data]
    curve = kaplan_meier(durations, events)
    assert curve.times == tuple(sorted(set(map(float, durations))))
    assert all(a >= b for a, b in pairwise(curve.survival))
    assert all(0.0 <= s <= 1.0 for s in curve.survival)
    for s, lo, hi in zip(curve.survival, curve.lower, curve.upper, strict=True):
        assert (lo is None) == (hi is None) == (s == 0.0)
        if lo is not None:
            assert lo - 1e-12 <= s <= hi + 1e-12
    # Everyone at risk at the first time; each time removes its events and censorings.
    assert curve.at_risk[0] == curve.n == len(data)
    for i in range(len(curve.times) - 1):
        assert curve.at_risk[i + 1] == curve.at_risk[i] - curve.events[i] - curve.censored[i]
    assert sum(curve.events) == curve.n_events == sum(events)
    # The median is where the curve first reaches one half (R's midpoint rule aside).
    if curve.median is None:
        assert curve.survival[-1] > 0.5
    else:
        assert curve.survival_at(curve.median) <= 0.5 + 1e-8
        assert curve.median_lower is None or curve.median_lower <= curve.median
        assert curve.median_upper is None or curve.median_upper >= curve.median


@settings(max_examples=100, deadline=None)
@given(patients, st.randoms(use_true_random=False))
def test_order_of_patients_does_not_matter(data, random):
    shuffled = list(data)
    random.shuffle(shuffled)
    first = kaplan_meier([d for d, _ in data], [e for _, e in data])
    again = kaplan_meier([d for d, _ in shuffled], [e for _, e in shuffled])
    assert first == again
