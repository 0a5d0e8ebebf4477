from decimal import Decimal as D

import pytest

from toxicity.ctcae import CtcaeError, Kind, check_grade, grade_anc, grade_hemoglobin, grade_platelets, grade_wbc, search, term


@pytest.mark.parametrize(("value", "grade"), [("1.8", 0), ("1.79", 1), ("1.5", 1), ("1.49", 2), ("1.0", 2), ("0.99", 3), ("0.5", 3), ("0.49", 4)])
def test_anc_grades(value, grade):
    assert grade_anc(D(value)) == grade


@pytest.mark.parametrize(("value", "grade"), [("150", 0), ("149", 1), ("75", 1), ("74.9", 2), ("50", 2), ("49.9", 3), ("25", 3), ("24.9", 4)])
def test_platelet_grades(value, grade):
    assert grade_platelets(D(value)) == grade


@pytest.mark.parametrize(("value", "grade"), [("12.0", 0), ("11.9", 1), ("10.0", 1), ("9.9", 2), ("8.0", 2), ("7.9", 3)])
def test_hemoglobin_grades(value, grade):
    assert grade_hemoglobin(D(value)) == grade


@pytest.mark.parametrize(("value", "grade"), [("4.0", 0), ("3.0", 1), ("2.9", 2), ("1.9", 3), ("0.9", 4)])
def test_wbc_grades(value, grade):
    assert grade_wbc(D(value)) == grade


def test_grade_6_and_grades_a_term_does_not_have_are_refused():
    with pytest.raises(CtcaeError, match="1 to 5"):
        check_grade("nausea", 6)
    with pytest.raises(CtcaeError, match="has no grade 4"):
        check_grade("rash_maculopapular", 4)
    with pytest.raises(CtcaeError, match="has no grade 1"):
        check_grade("febrile_neutropenia", 1)
    check_grade("febrile_neutropenia", 3)


def test_unknown_term():
    with pytest.raises(CtcaeError, match="Unknown CTCAE term"):
        term("broken_heart")


def test_search_by_words_and_organ_class():
    assert [t.code for t in search("rash")] == ["rash_maculopapular"]
    assert {t.code for t in search("infection")} >= {"lung_infection", "sepsis"}
    assert all(t.kind == Kind.BLEEDING for t in search("hemorrhage"))


def test_the_regimens_expected_toxicities_are_all_listed():
    for code in (
        "neutrophil_count_decreased",
        "febrile_neutropenia",
        "platelet_count_decreased",
        "anemia",
        "nausea",
        "vomiting",
        "diarrhea",
        "constipation",
        "fatigue",
        "peripheral_sensory_neuropathy",
        "rash_maculopapular",
        "thromboembolic_event",
        "epistaxis",
        "hyperglycemia",
        "lung_infection",
    ):
        assert term(code).grades
