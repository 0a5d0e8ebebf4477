"""CTCAE: the terminology (any version, as data), what the DLT rules read of a term, and the grading of
hematology values. Pure Python.

The terms themselves are data: `toxicity/data/ctcae/<version>/terms.tsv` (meddra_code, term, soc, grades)
and `grade-texts.tsv` (meddra_code, term, grade, description), loaded into the table `toxicity.CtcaeTerm`
by `manage.py load_ctcae` (and a data migration) and read back as a `Terminology`. What this regimen's DLT
rules need to know about a term, its `Kind`, is the one thing held here, keyed by MedDRA code (stable
across CTCAE versions): KINDS, then SOC_KINDS by system organ class, else Kind.OTHER.

Grades of laboratory values follow CTCAE v5.0 "Investigations" (protocol s.3):
ANC: 1 < LLN-1.5, 2 < 1.5-1.0, 3 < 1.0-0.5, 4 < 0.5 x10^9/L;
platelets: 1 < LLN-75, 2 < 75-50, 3 < 50-25, 4 < 25 x10^9/L;
hemoglobin: 1 < LLN-10.0, 2 < 10.0-8.0, 3 < 8.0 g/dL;
WBC: 1 < LLN-3.0, 2 < 3.0-2.0, 3 < 2.0-1.0, 4 < 1.0 x10^9/L.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path


class CtcaeError(Exception):
    """A term or grade CTCAE does not have."""


class Kind(StrEnum):
    """What the DLT rules need to know about a term."""

    NEUTROPENIA = "neutropenia"
    FEBRILE_NEUTROPENIA = "febrile_neutropenia"
    THROMBOCYTOPENIA = "thrombocytopenia"
    ANEMIA = "anemia"
    LEUKOPENIA = "leukopenia"
    OTHER_HEMATOLOGIC = "other_hematologic"  # H5/H6: the rest of Blood and lymphatic system, lymphocyte counts
    NAUSEA_VOMITING = "nausea_vomiting"  # N2 with maximal antiemetic therapy
    DIARRHEA = "diarrhea"  # N2 with maximal antidiarrheal therapy
    NEUROPATHY = "neuropathy"
    RASH = "rash"
    THROMBOEMBOLIC = "thromboembolic"  # N4: venous thromboembolism
    OTHER_THROMBOTIC = "other_thrombotic"  # a thrombotic event N4 does not rule on: excluded from N1 (s.3)
    BLEEDING = "bleeding"
    INFECTION = "infection"
    OTHER = "other"


HEMATOLOGIC = frozenset({Kind.NEUTROPENIA, Kind.FEBRILE_NEUTROPENIA, Kind.THROMBOCYTOPENIA, Kind.ANEMIA, Kind.LEUKOPENIA, Kind.OTHER_HEMATOLOGIC})

# MedDRA code -> the kind the DLT rules read (protocol s.3). Checked against the v5.0 table in tests/unit/test_ctcae.py.
KINDS: dict[str, Kind] = {
    # Hematologic (H rules): the blood counts of Investigations; the rest of SOC Blood and lymphatic system
    # disorders is OTHER_HEMATOLOGIC through SOC_KINDS.
    "10029366": Kind.NEUTROPENIA,  # Neutrophil count decreased
    "10016288": Kind.FEBRILE_NEUTROPENIA,  # Febrile neutropenia
    "10035528": Kind.THROMBOCYTOPENIA,  # Platelet count decreased
    "10002272": Kind.ANEMIA,  # Anemia
    "10049182": Kind.LEUKOPENIA,  # White blood cell decreased
    "10025256": Kind.OTHER_HEMATOLOGIC,  # Lymphocyte count decreased
    "10025258": Kind.OTHER_HEMATOLOGIC,  # Lymphocyte count increased
    "10007839": Kind.OTHER_HEMATOLOGIC,  # CD4 lymphocytes decreased
    "10055599": Kind.OTHER_HEMATOLOGIC,  # Hemoglobin increased
    # N2: with maximal antiemetic / antidiarrheal therapy
    "10028813": Kind.NAUSEA_VOMITING,  # Nausea
    "10047700": Kind.NAUSEA_VOMITING,  # Vomiting
    "10012727": Kind.DIARRHEA,  # Diarrhea
    # N3: grade 3 neuropathy with pain
    "10034620": Kind.NEUROPATHY,  # Peripheral sensory neuropathy
    "10034580": Kind.NEUROPATHY,  # Peripheral motor neuropathy
    # N4: venous thromboembolism (CTCAE's "Thromboembolic event", and the venous Portal vein thrombosis)
    "10043565": Kind.THROMBOEMBOLIC,  # Thromboembolic event
    "10036206": Kind.THROMBOEMBOLIC,  # Portal vein thrombosis
    # N1 excepts every thrombotic event; N4 rules on the venous ones only
    "10073529": Kind.OTHER_THROMBOTIC,  # Arterial thromboembolism
    "10042554": Kind.OTHER_THROMBOTIC,  # Superficial thrombophlebitis
    # N5/N6: the rash terms (Papulopustular rash and Rash pustular sit under Infections and infestations in v5.0)
    "10037868": Kind.RASH,  # Rash maculo-papular
    "10037847": Kind.RASH,  # Rash acneiform
    "10069138": Kind.RASH,  # Papulopustular rash
    "10037888": Kind.RASH,  # Rash pustular
    "10015218": Kind.RASH,  # Erythema multiforme
    "10042033": Kind.RASH,  # Stevens-Johnson syndrome
    "10044223": Kind.RASH,  # Toxic epidermal necrolysis
    # H4: every hemorrhage and bleeding term of CTCAE v5.0
    "10047656": Kind.BLEEDING,  # Vitreous hemorrhage
    "10055226": Kind.BLEEDING,  # Anal hemorrhage
    "10065747": Kind.BLEEDING,  # Cecal hemorrhage
    "10009998": Kind.BLEEDING,  # Colonic hemorrhage
    "10055242": Kind.BLEEDING,  # Duodenal hemorrhage
    "10015384": Kind.BLEEDING,  # Esophageal hemorrhage
    "10015453": Kind.BLEEDING,  # Esophageal varices hemorrhage
    "10017789": Kind.BLEEDING,  # Gastric hemorrhage
    "10060640": Kind.BLEEDING,  # Hemorrhoidal hemorrhage
    "10055287": Kind.BLEEDING,  # Ileal hemorrhage
    "10055291": Kind.BLEEDING,  # Intra-abdominal hemorrhage
    "10055300": Kind.BLEEDING,  # Jejunal hemorrhage
    "10051746": Kind.BLEEDING,  # Lower gastrointestinal hemorrhage
    "10030980": Kind.BLEEDING,  # Oral hemorrhage
    "10033626": Kind.BLEEDING,  # Pancreatic hemorrhage
    "10038064": Kind.BLEEDING,  # Rectal hemorrhage
    "10038981": Kind.BLEEDING,  # Retroperitoneal hemorrhage
    "10055356": Kind.BLEEDING,  # Upper gastrointestinal hemorrhage
    "10019678": Kind.BLEEDING,  # Hepatic hemorrhage
    "10006504": Kind.BLEEDING,  # Bruising
    "10049468": Kind.BLEEDING,  # Intestinal stoma site bleeding
    "10055298": Kind.BLEEDING,  # Intraoperative hemorrhage
    "10055322": Kind.BLEEDING,  # Postoperative hemorrhage
    "10062548": Kind.BLEEDING,  # Tracheal hemorrhage
    "10065749": Kind.BLEEDING,  # Tracheostomy site bleeding
    "10065748": Kind.BLEEDING,  # Urostomy site bleeding
    "10055351": Kind.BLEEDING,  # Tumor hemorrhage
    "10022763": Kind.BLEEDING,  # Intracranial hemorrhage
    "10019450": Kind.BLEEDING,  # Hematuria
    "10038463": Kind.BLEEDING,  # Renal hemorrhage
    "10060602": Kind.BLEEDING,  # Hematosalpinx
    "10065763": Kind.BLEEDING,  # Ovarian hemorrhage
    "10055325": Kind.BLEEDING,  # Prostatic hemorrhage
    "10065762": Kind.BLEEDING,  # Spermatic cord hemorrhage
    "10055347": Kind.BLEEDING,  # Testicular hemorrhage
    "10046789": Kind.BLEEDING,  # Uterine hemorrhage
    "10046912": Kind.BLEEDING,  # Vaginal hemorrhage
    "10065746": Kind.BLEEDING,  # Bronchopulmonary hemorrhage
    "10015090": Kind.BLEEDING,  # Epistaxis
    "10065759": Kind.BLEEDING,  # Laryngeal hemorrhage
    "10056356": Kind.BLEEDING,  # Mediastinal hemorrhage
    "10055315": Kind.BLEEDING,  # Pharyngeal hemorrhage
    "10055319": Kind.BLEEDING,  # Pleural hemorrhage
    "10037549": Kind.BLEEDING,  # Purpura
    "10019428": Kind.BLEEDING,  # Hematoma
}
# A term not in KINDS takes its system organ class's kind (protocol s.3: "hematologic" is the blood SOC), else OTHER.
SOC_KINDS: dict[str, Kind] = {
    "Blood and lymphatic system disorders": Kind.OTHER_HEMATOLOGIC,
    "Infections and infestations": Kind.INFECTION,
}

# The CTCAE's generic grade definitions (CTCAE v5.0 "Grades"; the texts of its "Other, specify" terms),
# shown for a term the reference gives no texts of its own.
GENERIC_GRADES: dict[int, str] = {
    1: "Asymptomatic or mild symptoms; clinical or diagnostic observations only; intervention not indicated",
    2: "Moderate; minimal, local or noninvasive intervention indicated; limiting age-appropriate instrumental ADL",
    3: (
        "Severe or medically significant but not immediately life-threatening; "
        "hospitalization or prolongation of existing hospitalization indicated; limiting self care ADL"
    ),
    4: "Life-threatening consequences; urgent intervention indicated",
    5: "Death",
}
OTHER_SPECIFY = " - Other, specify"


def kind_of(code: str, soc: str) -> Kind:
    return KINDS.get(code) or SOC_KINDS.get(soc, Kind.OTHER)


@dataclass(frozen=True)
class Term:
    code: str  # MedDRA code (8 digits)
    name: str
    soc: str
    grades: tuple[int, ...]  # the grades the term has, ascending
    texts: Mapping[int, str] = field(default_factory=dict, compare=False)  # the reference's own texts, where it has them

    @property
    def kind(self) -> Kind:
        return kind_of(self.code, self.soc)

    @property
    def hematologic(self) -> bool:
        return self.kind in HEMATOLOGIC

    @property
    def max_grade(self) -> int:
        return max(self.grades)

    @property
    def other_specify(self) -> bool:
        """ "<SOC> - Other, specify": the event needs its verbatim term."""
        return self.name.endswith(OTHER_SPECIFY)

    @property
    def generic_texts(self) -> bool:
        return not self.texts

    def grade_texts(self) -> dict[int, str]:
        """Each of the term's grades with its description: its own, else the generic definition."""
        return {g: self.texts.get(g) or GENERIC_GRADES[g] for g in self.grades}


def check_grade(t: Term, grade: int, *, version: str = "") -> None:
    """A grade CTCAE defines for this term (1-5, and only the term's own)."""
    if not 1 <= grade <= 5:
        raise CtcaeError(f"CTCAE grades are 1 to 5 (got {grade}).")
    if grade not in t.grades:
        where = f" in CTCAE v{version}" if version else ""
        raise CtcaeError(f"{t.name} has no grade {grade}{where} (grades {', '.join(map(str, t.grades))}).")


class Terminology:
    """One CTCAE version's terms, indexed once: by MedDRA code, and for search by the words of term and SOC."""

    def __init__(self, version: str, terms: Iterable[Term]):
        self.version = version
        self.terms: tuple[Term, ...] = tuple(sorted(terms, key=lambda t: (t.soc, t.name)))
        self.by_code: dict[str, Term] = {t.code: t for t in self.terms}
        self._code_by_name: dict[str, str] = {t.name: t.code for t in self.terms}
        self._code_by_lower: dict[str, str] = {t.name.lower(): t.code for t in self.terms}  # names are unique in any case
        self.socs: tuple[str, ...] = tuple(sorted({t.soc for t in self.terms}))
        # For search: the lower-case name, its words, and name + SOC + code as one text.
        self._index = [(t, t.name.lower(), t.name.lower().replace("-", " ").split(), f"{t.name} {t.soc} {t.code}".lower()) for t in self.terms]

    def __len__(self) -> int:
        return len(self.terms)

    def term(self, code: str) -> Term:
        try:
            return self.by_code[code]
        except KeyError as exc:
            raise CtcaeError(f"Unknown CTCAE v{self.version} term {code!r}.") from exc

    def code_of(self, name: str) -> str:
        try:
            return self._code_by_name[name]
        except KeyError as exc:
            raise CtcaeError(f"No CTCAE v{self.version} term named {name!r}.") from exc

    def lookup(self, text: str) -> Term | None:
        """The term that `text` names: its MedDRA code, or its name in any case and spacing; None for anything else
        (a part of a name is a search, not a term)."""
        text = " ".join(text.split())
        if text in self.by_code:
            return self.by_code[text]
        code = self._code_by_lower.get(text.lower())
        return self.by_code[code] if code is not None else None

    def search(self, text: str, limit: int | None = 50) -> list[Term]:
        """Terms whose name, organ class or MedDRA code contains every word of `text`; the best first:
        a name starting with the first word, then a word of the name starting with it, then the rest."""
        words = text.lower().split()
        if not words:
            return list(self.terms[:limit])
        first = words[0]
        found = []
        for t, name, name_words, hay in self._index:
            if all(w in hay for w in words):
                rank = 0 if name.startswith(first) else 1 if any(w.startswith(first) for w in name_words) else 2 if first in name else 3
                found.append((rank, t.name, t))
        found.sort(key=lambda x: (x[0], x[1]))
        return [t for _, _, t in found[:limit]]


DATA_DIR = Path(__file__).resolve().parent / "data" / "ctcae"  # one folder per version: terms.tsv, grade-texts.tsv


def versions() -> list[str]:
    """The CTCAE versions shipped with the app (a folder each)."""
    return sorted(p.name for p in DATA_DIR.iterdir() if (p / "terms.tsv").exists())


def read_version(version: str) -> list[Term]:
    directory = DATA_DIR / version
    if not (directory / "terms.tsv").exists():
        raise CtcaeError(f"No CTCAE v{version} terminology in {DATA_DIR} (have: {', '.join(versions())}).")
    return terms_from_rows(*read_rows(directory))


@functools.cache
def shipped(version: str) -> Terminology:
    """A version's terms read from its files, not the table: for the demo, the benchmarks and the tests."""
    return Terminology(version, read_version(version))


def meddra(name: str, version: str = "5.0") -> str:
    """The MedDRA code of a term named as CTCAE names it ("Nausea", "Febrile neutropenia")."""
    return shipped(version).code_of(name)


def read_rows(directory: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The rows of a version's two files (terms.tsv, grade-texts.tsv)."""
    with (directory / "terms.tsv").open(encoding="utf-8", newline="") as f:
        terms = list(csv.DictReader(f, delimiter="\t"))
    texts_file = directory / "grade-texts.tsv"
    texts: list[dict[str, str]] = []
    if texts_file.exists():
        with texts_file.open(encoding="utf-8", newline="") as f:
            texts = list(csv.DictReader(f, delimiter="\t"))
    return terms, texts


def terms_from_rows(term_rows: Iterable[Mapping[str, str]], text_rows: Iterable[Mapping[str, str]]) -> list[Term]:
    """Terms from the files' rows; a grade text for a grade the term lacks is an error in the data."""
    texts: dict[str, dict[int, str]] = {}
    for r in text_rows:
        texts.setdefault(r["meddra_code"], {})[int(r["grade"])] = r["description"]
    out = []
    for r in term_rows:
        grades = tuple(sorted(int(g) for g in r["grades"]))
        own = texts.get(r["meddra_code"], {})
        if not grades or set(own) - set(grades) or not set(grades) <= set(GENERIC_GRADES):
            raise CtcaeError(f"{r['term']}: grades {r['grades']!r} and texts for {sorted(own)} do not agree.")
        out.append(Term(r["meddra_code"], r["term"], r["soc"], grades, own))
    return out


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
