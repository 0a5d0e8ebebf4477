from datetime import date
from decimal import Decimal as D

import pytest

from cohorts.registration import age_on, check_enrolment, check_registration

TODAY = date(2026, 11, 24)


def errors_for(**values):
    return check_registration(values, today=TODAY)


@pytest.mark.parametrize(("height", "ok"), [(D("99.9"), False), (D("100"), True), (D("250"), True), (D("250.1"), False)])
def test_height_range_in_cm(height, ok):
    assert ("height_cm" not in errors_for(height_cm=height)) is ok


def test_height_in_metres_is_caught_with_the_likely_value():
    message = errors_for(height_cm=D("1.72"))["height_cm"][0]
    assert "metres" in message
    assert "172 cm" in message


@pytest.mark.parametrize(("weight", "ok"), [(D("0"), False), (D("24.9"), False), (D("25"), True), (D("300"), True), (D("500"), False)])
def test_weight_range(weight, ok):
    assert ("weight_kg" not in errors_for(weight_kg=weight)) is ok


def test_date_of_birth_in_the_future_is_refused():
    assert "future" in errors_for(date_of_birth=date(2026, 11, 25))["date_of_birth"][0]


def test_consent_in_the_future_is_refused():
    assert "future" in errors_for(consent_date=date(2026, 11, 25))["consent_date"][0]


def test_minor_at_consent_is_refused_on_the_birthday_boundary():
    assert "date_of_birth" in errors_for(date_of_birth=date(2008, 11, 25), consent_date=TODAY)
    assert "date_of_birth" not in errors_for(date_of_birth=date(2008, 11, 24), consent_date=TODAY)


def test_age_counts_whole_years():
    assert age_on(date(2000, 2, 29), date(2018, 2, 28)) == 17
    assert age_on(date(2000, 2, 29), date(2018, 3, 1)) == 18


@pytest.mark.parametrize(("anc", "ok"), [(D("0"), True), (D("100"), True), (D("1500"), False), (D("-1"), False)])
def test_anc_in_10e9_per_litre(anc, ok):
    assert ("baseline_anc" not in errors_for(baseline_anc=anc)) is ok


def test_anc_in_per_microlitre_suggests_the_conversion():
    assert "did you mean 1.5" in errors_for(baseline_anc=D("1500"))["baseline_anc"][0]


@pytest.mark.parametrize(("plt", "ok"), [(D("2000"), True), (D("150000"), False)])
def test_platelets_in_10e9_per_litre(plt, ok):
    assert ("baseline_platelets" not in errors_for(baseline_platelets=plt)) is ok


@pytest.mark.parametrize(("pct", "ok"), [(D("0"), True), (D("100"), True), (D("100.1"), False), (D("-0.1"), False)])
def test_marrow_percentage(pct, ok):
    assert ("baseline_marrow_pc_pct" not in errors_for(baseline_marrow_pc_pct=pct)) is ok


CRITERIA = ["I1", "I2"]


def test_enrolment_needs_consent():
    errors = check_enrolment(consent_date=None, enrolled_on=TODAY, today=TODAY, eligibility={"I1": True, "I2": True}, criteria=CRITERIA)
    assert "not consented" in errors["consent_date"][0]


def test_enrolment_on_the_day_of_consent_is_allowed_but_not_before():
    ok = check_enrolment(consent_date=TODAY, enrolled_on=TODAY, today=TODAY, eligibility={"I1": True, "I2": True}, criteria=CRITERIA)
    assert ok == {}
    early = check_enrolment(consent_date=TODAY, enrolled_on=date(2026, 11, 23), today=TODAY, eligibility={"I1": True, "I2": True}, criteria=CRITERIA)
    assert "before consent" in early["enrolled_on"][0]


def test_enrolment_needs_every_criterion_confirmed():
    errors = check_enrolment(consent_date=TODAY, enrolled_on=TODAY, today=TODAY, eligibility={"I1": True}, criteria=CRITERIA)
    assert "I2" in errors["eligibility"][0]


def test_enrolment_in_the_future_is_refused():
    errors = check_enrolment(consent_date=TODAY, enrolled_on=date(2026, 11, 25), today=TODAY, eligibility={"I1": True, "I2": True}, criteria=CRITERIA)
    assert "future" in errors["enrolled_on"][0]
