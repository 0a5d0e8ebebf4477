"""CTCAE v5.0: the adverse-event terms this regimen causes, with their grade
descriptions, and the grading of hematology values. Pure Python.

Grades of laboratory values follow CTCAE v5.0 "Investigations" (protocol s.3):
ANC: 1 < LLN-1.5, 2 < 1.5-1.0, 3 < 1.0-0.5, 4 < 0.5 x10^9/L;
platelets: 1 < LLN-75, 2 < 75-50, 3 < 50-25, 4 < 25 x10^9/L;
hemoglobin: 1 < LLN-10.0, 2 < 10.0-8.0, 3 < 8.0 g/dL;
WBC: 1 < LLN-3.0, 2 < 3.0-2.0, 3 < 2.0-1.0, 4 < 1.0 x10^9/L.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class CtcaeError(Exception):
    """A grade or value CTCAE does not have."""


class Kind(StrEnum):
    """What the DLT rules need to know about a term."""

    NEUTROPENIA = "neutropenia"
    FEBRILE_NEUTROPENIA = "febrile_neutropenia"
    THROMBOCYTOPENIA = "thrombocytopenia"
    ANEMIA = "anemia"
    LEUKOPENIA = "leukopenia"
    NAUSEA_VOMITING = "nausea_vomiting"  # N2 with maximal antiemetic therapy
    DIARRHEA = "diarrhea"  # N2 with maximal antidiarrheal therapy
    NEUROPATHY = "neuropathy"
    RASH = "rash"
    THROMBOEMBOLIC = "thromboembolic"
    BLEEDING = "bleeding"
    INFECTION = "infection"
    OTHER = "other"


HEMATOLOGIC = frozenset({Kind.NEUTROPENIA, Kind.FEBRILE_NEUTROPENIA, Kind.THROMBOCYTOPENIA, Kind.ANEMIA, Kind.LEUKOPENIA})


@dataclass(frozen=True)
class Term:
    code: str
    name: str
    soc: str
    kind: Kind
    grades: dict[int, str]

    @property
    def hematologic(self) -> bool:
        return self.kind in HEMATOLOGIC

    @property
    def max_grade(self) -> int:
        return max(self.grades)


def _t(code: str, name: str, soc: str, kind: Kind, *grades: str) -> Term:
    return Term(code, name, soc, kind, {i + 1: text for i, text in enumerate(grades) if text})


DEATH = "Death"
LIFE = "Life-threatening consequences; urgent intervention indicated"
BLOOD = "Blood and lymphatic system disorders"
INV = "Investigations"
GI = "Gastrointestinal disorders"
SKIN = "Skin and subcutaneous tissue disorders"
INF = "Infections and infestations"

TERMS: tuple[Term, ...] = (
    _t(
        "neutrophil_count_decreased",
        "Neutrophil count decreased",
        INV,
        Kind.NEUTROPENIA,
        "<LLN - 1.5 x10^9/L",
        "<1.5 - 1.0 x10^9/L",
        "<1.0 - 0.5 x10^9/L",
        "<0.5 x10^9/L",
    ),
    _t(
        "febrile_neutropenia",
        "Febrile neutropenia",
        BLOOD,
        Kind.FEBRILE_NEUTROPENIA,
        "",
        "",
        "ANC <1.0 x10^9/L with a single temperature of >38.3 C or a sustained temperature of >=38 C for more than one hour",
        LIFE,
        DEATH,
    ),
    _t(
        "platelet_count_decreased",
        "Platelet count decreased",
        INV,
        Kind.THROMBOCYTOPENIA,
        "<LLN - 75 x10^9/L",
        "<75 - 50 x10^9/L",
        "<50 - 25 x10^9/L",
        "<25 x10^9/L",
    ),
    _t(
        "anemia",
        "Anemia",
        BLOOD,
        Kind.ANEMIA,
        "Hemoglobin <LLN - 10.0 g/dL",
        "Hemoglobin <10.0 - 8.0 g/dL",
        "Hemoglobin <8.0 g/dL; transfusion indicated",
        LIFE,
        DEATH,
    ),
    _t(
        "white_blood_cell_decreased",
        "White blood cell decreased",
        INV,
        Kind.LEUKOPENIA,
        "<LLN - 3.0 x10^9/L",
        "<3.0 - 2.0 x10^9/L",
        "<2.0 - 1.0 x10^9/L",
        "<1.0 x10^9/L",
    ),
    _t(
        "nausea",
        "Nausea",
        GI,
        Kind.NAUSEA_VOMITING,
        "Loss of appetite without alteration in eating habits",
        "Oral intake decreased without significant weight loss, dehydration or malnutrition",
        "Inadequate oral caloric or fluid intake; tube feeding, TPN, or hospitalization indicated",
    ),
    _t(
        "vomiting",
        "Vomiting",
        GI,
        Kind.NAUSEA_VOMITING,
        "Intervention not indicated",
        "Outpatient IV hydration; medical intervention indicated",
        "Tube feeding, TPN, or hospitalization indicated",
        LIFE,
        DEATH,
    ),
    _t(
        "diarrhea",
        "Diarrhea",
        GI,
        Kind.DIARRHEA,
        "Increase of <4 stools per day over baseline",
        "Increase of 4 - 6 stools per day over baseline; limiting instrumental ADL",
        "Increase of >=7 stools per day over baseline; hospitalization indicated; limiting self care ADL",
        LIFE,
        DEATH,
    ),
    _t(
        "constipation",
        "Constipation",
        GI,
        Kind.OTHER,
        "Occasional or intermittent symptoms; occasional use of stool softeners, laxatives, dietary modification, or enema",
        "Persistent symptoms with regular use of laxatives or enemas; limiting instrumental ADL",
        "Obstipation with manual evacuation indicated; limiting self care ADL",
        LIFE,
        DEATH,
    ),
    _t(
        "fatigue",
        "Fatigue",
        "General disorders and administration site conditions",
        Kind.OTHER,
        "Fatigue relieved by rest",
        "Fatigue not relieved by rest; limiting instrumental ADL",
        "Fatigue not relieved by rest, limiting self care ADL",
    ),
    _t(
        "peripheral_sensory_neuropathy",
        "Peripheral sensory neuropathy",
        "Nervous system disorders",
        Kind.NEUROPATHY,
        "Asymptomatic",
        "Moderate symptoms; limiting instrumental ADL",
        "Severe symptoms; limiting self care ADL",
        LIFE,
    ),
    _t(
        "rash_maculopapular",
        "Rash maculo-papular",
        SKIN,
        Kind.RASH,
        "Macules/papules covering <10% BSA with or without symptoms",
        "Macules/papules covering 10 - 30% BSA with or without symptoms; limiting instrumental ADL; rash covering >30% BSA with or without mild symptoms",
        "Macules/papules covering >30% BSA with moderate or severe symptoms; limiting self care ADL",
    ),
    _t(
        "erythema_multiforme",
        "Erythema multiforme",
        SKIN,
        Kind.RASH,
        "Target lesions covering <10% BSA and not associated with skin tenderness",
        "Target lesions covering 10 - 30% BSA and associated with skin tenderness",
        "Target lesions covering >30% BSA and associated with oral or genital erosions",
        "Target lesions covering >30% BSA; associated with fluid or electrolyte abnormalities; ICU care or burn unit indicated",
        DEATH,
    ),
    _t(
        "stevens_johnson_syndrome",
        "Stevens-Johnson syndrome",
        SKIN,
        Kind.RASH,
        "",
        "",
        "Skin sloughing covering <10% BSA with associated signs",
        "Skin sloughing covering 10 - 30% BSA with associated signs",
        DEATH,
    ),
    _t(
        "thromboembolic_event",
        "Thromboembolic event",
        "Vascular disorders",
        Kind.THROMBOEMBOLIC,
        "Medical intervention not indicated (e.g., superficial thrombosis)",
        "Medical intervention indicated",
        "Urgent medical intervention indicated (e.g., pulmonary embolism or intracardiac thrombus)",
        "Life-threatening consequences with hemodynamic or neurologic instability",
        DEATH,
    ),
    _t(
        "epistaxis",
        "Epistaxis",
        "Respiratory, thoracic and mediastinal disorders",
        Kind.BLEEDING,
        "Mild symptoms; intervention not indicated",
        "Moderate symptoms; medical intervention indicated (e.g., nasal packing, cauterization)",
        "Transfusion; radiologic, endoscopic, or operative intervention indicated",
        LIFE,
        DEATH,
    ),
    _t(
        "upper_gastrointestinal_hemorrhage",
        "Upper gastrointestinal hemorrhage",
        GI,
        Kind.BLEEDING,
        "Mild; intervention not indicated",
        "Moderate symptoms; intervention indicated",
        "Transfusion indicated; invasive intervention indicated; hospitalization",
        LIFE,
        DEATH,
    ),
    _t(
        "hematuria",
        "Hematuria",
        "Renal and urinary disorders",
        Kind.BLEEDING,
        "Asymptomatic; clinical or diagnostic observations only",
        "Symptomatic; urinary catheter or bladder irrigation indicated",
        "Gross hematuria; transfusion, IV medications, or hospitalization indicated",
        LIFE,
        DEATH,
    ),
    _t(
        "intracranial_hemorrhage",
        "Intracranial hemorrhage",
        "Nervous system disorders",
        Kind.BLEEDING,
        "Asymptomatic; clinical or diagnostic observations only",
        "Moderate symptoms; medical intervention indicated",
        "Ventriculostomy, ICP monitoring, intraventricular thrombolysis, or invasive intervention indicated",
        LIFE,
        DEATH,
    ),
    _t("bruising", "Bruising", "Injury, poisoning and procedural complications", Kind.BLEEDING, "Localized or in a dependent area", "Generalized"),
    _t(
        "hyperglycemia",
        "Hyperglycemia",
        "Metabolism and nutrition disorders",
        Kind.OTHER,
        "Abnormal glucose above baseline with no medical intervention indicated",
        "Change in daily management of glucose; oral antiglycemic agent initiated; workup for diabetes",
        "Insulin therapy initiated; hospitalization indicated",
        LIFE,
        DEATH,
    ),
    _t(
        "lung_infection",
        "Lung infection",
        INF,
        Kind.INFECTION,
        "",
        "Moderate symptoms; oral intervention indicated (e.g., antibiotic, antifungal, antiviral)",
        "IV antibiotic, antifungal, or antiviral intervention indicated; invasive intervention indicated",
        LIFE,
        DEATH,
    ),
    _t(
        "upper_respiratory_infection",
        "Upper respiratory infection",
        INF,
        Kind.INFECTION,
        "",
        "Moderate symptoms; oral intervention indicated",
        "IV antibiotic, antifungal, or antiviral intervention indicated; invasive intervention indicated",
        LIFE,
        DEATH,
    ),
    _t(
        "urinary_tract_infection",
        "Urinary tract infection",
        INF,
        Kind.INFECTION,
        "",
        "Localized; local intervention indicated",
        "IV antibiotic, antifungal, or antiviral intervention indicated; invasive intervention indicated",
        LIFE,
        DEATH,
    ),
    _t("sepsis", "Sepsis", INF, Kind.INFECTION, "", "", "Blood culture positive with signs or symptoms; treatment indicated", LIFE, DEATH),
    _t(
        "insomnia",
        "Insomnia",
        "Psychiatric disorders",
        Kind.OTHER,
        "Mild difficulty falling asleep, staying asleep or waking up early",
        "Moderate difficulty falling asleep, staying asleep or waking up early",
        "Severe difficulty in falling asleep, staying asleep or waking up early",
    ),
    _t(
        "edema_limbs",
        "Edema limbs",
        "General disorders and administration site conditions",
        Kind.OTHER,
        "5 - 10% inter-limb discrepancy in volume or circumference",
        "10 - 30% inter-limb discrepancy; limiting instrumental ADL",
        ">30% inter-limb discrepancy; limiting self care ADL",
    ),
)
BY_CODE: dict[str, Term] = {t.code: t for t in TERMS}
GRADE_TEXT: dict[str, dict[str, str]] = {t.code: {str(g): text for g, text in t.grades.items()} for t in TERMS}  # code -> {"1": description, ...}


def term(code: str) -> Term:
    try:
        return BY_CODE[code]
    except KeyError as exc:
        raise CtcaeError(f"Unknown CTCAE term {code!r}.") from exc


def check_grade(code: str, grade: int) -> None:
    """A grade CTCAE v5.0 defines for this term (1-5, and only the term's own)."""
    t = term(code)
    if not 1 <= grade <= 5:
        raise CtcaeError(f"CTCAE grades are 1 to 5 (got {grade}).")
    if grade not in t.grades:
        raise CtcaeError(f"{t.name} has no grade {grade} in CTCAE v5.0 (grades {', '.join(map(str, sorted(t.grades)))}).")


def search(text: str, limit: int = 20) -> list[Term]:
    """Terms whose name, code or organ class contains every word of `text`."""
    words = text.lower().split()
    found = [t for t in TERMS if all(w in f"{t.name} {t.code} {t.soc}".lower() for w in words)]
    return found[:limit]


# ---------------------------------------------------------------- laboratory grades

LLN = {"anc": Decimal("1.8"), "platelets": Decimal(150), "hemoglobin": Decimal("12.0"), "wbc": Decimal("4.0")}


def _grade(value: Decimal, lln: Decimal, cuts: tuple[Decimal, ...]) -> int:
    """0 at or above the LLN; then grade g when value < cut g (cuts descending for grades 2, 3, 4)."""
    if value >= lln:
        return 0
    grade = 1
    for g, cut in enumerate(cuts, start=2):
        if value < cut:
            grade = g
    return grade


# Below the LLN grade 1; below each cut grade 2, 3, 4 (hemoglobin g/dL: grades 4 and 5 of anemia are clinical, not a value).
CUTS = {
    "anc": (Decimal("1.5"), Decimal("1.0"), Decimal("0.5")),
    "platelets": (Decimal(75), Decimal(50), Decimal(25)),
    "hemoglobin": (Decimal("10.0"), Decimal("8.0")),
    "wbc": (Decimal("3.0"), Decimal("2.0"), Decimal("1.0")),
}


def grade_anc(value: Decimal, lln: Decimal = LLN["anc"]) -> int:
    return _grade(value, lln, CUTS["anc"])


def grade_platelets(value: Decimal, lln: Decimal = LLN["platelets"]) -> int:
    return _grade(value, lln, CUTS["platelets"])


def grade_hemoglobin(value: Decimal, lln: Decimal = LLN["hemoglobin"]) -> int:
    return _grade(value, lln, CUTS["hemoglobin"])


def grade_wbc(value: Decimal, lln: Decimal = LLN["wbc"]) -> int:
    return _grade(value, lln, CUTS["wbc"])


def grade_bands(lab: str) -> tuple[tuple[int, Decimal, Decimal], ...]:
    """(grade, lower, upper) of each grade of a count, from the LLN and the cuts that grade it."""
    bounds = (LLN[lab], *CUTS[lab], Decimal(0))
    return tuple((grade, bounds[grade], bounds[grade - 1]) for grade in range(1, len(bounds)))


GRADERS = {"anc": grade_anc, "platelets": grade_platelets, "hemoglobin": grade_hemoglobin, "wbc": grade_wbc}
