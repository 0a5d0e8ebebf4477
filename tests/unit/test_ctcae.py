import csv
import re
from decimal import Decimal as D

import pytest

from toxicity.ctcae import DATA_DIR, HEMATOLOGIC, KINDS, CtcaeError, Kind, check_grade, grade_anc, grade_hemoglobin, grade_platelets, grade_wbc, meddra, shipped

V5 = shipped("5.0")  # read from toxicity/data/ctcae/5.0/ (no database)


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


def test_the_whole_of_ctcae_5_is_there():
    assert len(V5) == 837
    assert len(V5.socs) == 26
    assert len({t.code for t in V5.terms}) == 837
    assert all(re.fullmatch(r"\d{8}", t.code) for t in V5.terms)
    assert sum(t.other_specify for t in V5.terms) == 26  # one "<SOC> - Other, specify" per organ class


@pytest.mark.parametrize(
    ("name", "grades"),
    [
        ("Febrile neutropenia", (3, 4, 5)),
        ("Nausea", (1, 2, 3)),
        ("Death NOS", (5,)),
        ("Vaginal stricture", (1, 2, 3, 5)),
        ("Asystole", (1, 4, 5)),
        ("Rash maculo-papular", (1, 2, 3)),
        ("Disease progression", (5,)),
    ],
)
def test_each_term_has_exactly_its_own_grades(name, grades):
    t = V5.term(meddra(name))
    assert t.grades == grades
    for grade in range(1, 6):
        if grade in grades:
            check_grade(t, grade)
        else:
            with pytest.raises(CtcaeError, match=f"has no grade {grade}"):
                check_grade(t, grade, version="5.0")


def test_grade_6_and_0_are_refused_for_every_term():
    for grade in (0, 6):
        with pytest.raises(CtcaeError, match="1 to 5"):
            check_grade(V5.term(meddra("Nausea")), grade)


def test_unknown_term():
    with pytest.raises(CtcaeError, match=r"Unknown CTCAE v5\.0 term"):
        V5.term("10000000")


def test_grade_texts_are_the_terms_own_where_the_reference_has_them_else_generic():
    assert V5.term(meddra("Neutrophil count decreased")).grade_texts()[4] == "<500/mm3; <0.5 x 10e9 /L"
    asystole = V5.term(meddra("Asystole"))  # Cardiac disorders: no texts in the reference
    assert asystole.generic_texts
    assert asystole.grade_texts() == {
        1: "Asymptomatic or mild symptoms; clinical or diagnostic observations only; intervention not indicated",
        4: "Life-threatening consequences; urgent intervention indicated",
        5: "Death",
    }


def test_search_by_any_word_of_the_term_or_organ_class():
    assert V5.search("neutrophil")[0].name == "Neutrophil count decreased"
    assert V5.search("neutro")[0].name in ("Neutrophil count decreased", "Febrile neutropenia")
    assert {t.name for t in V5.search("rash", limit=None)} >= {"Rash maculo-papular", "Rash acneiform", "Papulopustular rash"}
    assert [t.name for t in V5.search("vaginal stricture")] == ["Vaginal stricture"]
    cardiac = V5.search("cardiac", limit=None)  # a word of the organ class finds its terms
    assert {t.name for t in cardiac} >= {"Asystole", "Cardiac disorders - Other, specify"}
    assert [t.name for t in V5.search("cardiac other")] == ["Cardiac disorders - Other, specify"]
    assert V5.search("10028813")[0].name == "Nausea"  # the MedDRA code
    assert V5.search("no such thing") == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (meddra("Nausea"), "Nausea"),
        ("Nausea", "Nausea"),
        ("  nausea ", "Nausea"),
        ("cardiac DISORDERS -   other, specify", "Cardiac disorders - Other, specify"),
        ("nause", None),  # a part of a name is a search, not a term
        ("neutrophil", None),
        ("", None),
        ("10000000", None),
    ],
)
def test_a_typed_term_is_its_code_or_its_name_in_any_case_and_nothing_else(text, name):
    term = V5.lookup(text)
    assert (term.name if term else None) == name


def test_every_term_is_found_by_its_name_and_by_its_code():
    assert all(V5.lookup(t.name) is t and V5.lookup(t.code) is t and V5.lookup(t.name.upper()) is t for t in V5.terms)


def test_the_regimens_dlt_kinds_are_mapped_by_meddra_code():
    kinds = {t.name: t.kind for t in V5.terms}
    assert kinds["Neutrophil count decreased"] == Kind.NEUTROPENIA
    assert kinds["Febrile neutropenia"] == Kind.FEBRILE_NEUTROPENIA
    assert kinds["Platelet count decreased"] == Kind.THROMBOCYTOPENIA
    assert kinds["Anemia"] == Kind.ANEMIA
    assert kinds["White blood cell decreased"] == Kind.LEUKOPENIA
    assert kinds["Nausea"] == kinds["Vomiting"] == Kind.NAUSEA_VOMITING
    assert kinds["Diarrhea"] == Kind.DIARRHEA
    assert kinds["Peripheral sensory neuropathy"] == kinds["Peripheral motor neuropathy"] == Kind.NEUROPATHY
    assert kinds["Thromboembolic event"] == kinds["Portal vein thrombosis"] == Kind.THROMBOEMBOLIC
    assert kinds["Arterial thromboembolism"] == kinds["Superficial thrombophlebitis"] == Kind.OTHER_THROMBOTIC
    assert kinds["Lung infection"] == kinds["Sepsis"] == Kind.INFECTION
    assert kinds["Fatigue"] == kinds["Asystole"] == Kind.OTHER
    for name in ("Rash maculo-papular", "Rash acneiform", "Erythema multiforme", "Stevens-Johnson syndrome", "Toxic epidermal necrolysis"):
        assert kinds[name] == Kind.RASH


def test_every_hemorrhage_and_bleeding_term_is_bleeding():
    bleeding = {t.name for t in V5.terms if re.search("hemorrhage|bleeding", t.name, re.IGNORECASE)}
    assert len(bleeding) == 39
    for name in (*bleeding, "Epistaxis", "Hematuria", "Bruising", "Hematoma", "Purpura"):
        assert V5.term(meddra(name)).kind == Kind.BLEEDING, name


def test_hematologic_is_the_blood_organ_class_and_the_blood_counts():
    hematologic = {t.name for t in V5.terms if t.hematologic}
    blood = {t.name for t in V5.terms if t.soc == "Blood and lymphatic system disorders"}
    assert blood <= hematologic
    assert hematologic - blood == {
        "Neutrophil count decreased",
        "Platelet count decreased",
        "White blood cell decreased",
        "Lymphocyte count decreased",
        "Lymphocyte count increased",
        "CD4 lymphocytes decreased",
        "Hemoglobin increased",
    }
    assert V5.term(meddra("Hemolysis")).kind == Kind.OTHER_HEMATOLOGIC
    assert Kind.OTHER_HEMATOLOGIC in HEMATOLOGIC


def test_every_mapped_code_is_a_term_of_the_table_with_the_name_its_comment_gives():
    source = (DATA_DIR.parent.parent / "ctcae.py").read_text()
    for code in KINDS:
        name = re.search(rf'"{code}": Kind\.\w+,  # (.+)', source).group(1)
        assert V5.term(code).name == name


def test_the_files_are_the_published_counts():
    with (DATA_DIR / "5.0" / "grade-texts.tsv").open() as f:
        assert sum(1 for _ in csv.DictReader(f, delimiter="\t")) == 1647
