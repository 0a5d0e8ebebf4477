"""CDISC-style datasets: DM, EX, AE, CM, LB, RS with SDTM variable names, as CSV.

Declared with the same Domain and Column machinery as the domain exports
(engine.py, domains.py): same filters, same site scoping, same formats.
Kept simple on purpose; CDISC_NOTES (also written into the zip's README) lists
what differs from a validated SDTM submission.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

from cohorts.models import Patient, Trial
from cohorts.registration import age_on
from dosing.models import Administration
from response.models import ResponseResult
from response.stored import result_rows
from toxicity.dlt import ATTRIBUTIONS
from toxicity.models import AdverseEvent, ConMed, LabResult
from toxicity.selectors import terminology

from .domains import CATEGORY_CHOICES, GRADES, _cycle1_day1, choices_of, level_choices
from .engine import DATE, DECIMAL, INTEGER, Column, Domain, Filters

CDISC_NOTES = """CDISC-style datasets (SDTM variable names, as CSV; not a validated SDTM submission):
- USUBJID is the study id (it already carries the trial code and the site); SUBJID is the study id without the trial code.
- DM: AGE in years at informed consent; ARMCD L<level> / ARM "Dose level <level>" from the enrolment, NOTASSGN when not enrolled;
  RFSTDTC is cycle 1 day 1, RFENDTC the last dose recorded off treatment.
- EX: doses given (as planned or at another dose) only; held and missed doses are not exposure. EXDOSU is always mg.
- AE: retracted events are left out; AEDECOD is the CTCAE term (a MedDRA lowest level term), AEPTCD its MedDRA code,
  AESOC its organ class, AETERM the verbatim term of an "Other, specify" term (else the term); AEREL is the
  strongest attribution to any study drug; AESER Y/N.
- CM: retracted medications are left out; CMCAT is the supportive-care category the DLT rules read (G-CSF, MAXIMAL
  ANTIEMETIC THERAPY, MAXIMAL ANTIDIARRHEAL THERAPY, STEROIDS, OTHER); CMTRT the drug as recorded (not coded to WHODrug);
  CMROUTE the CDISC route term; an ongoing medication has no CMENDTC and CMENRTPT ONGOING (CMENTPT END OF STUDY);
  the adverse events it treats are in conmeds.csv (adverse_event_ids), not in a RELREC dataset.
- LB: one row per analyte (NEUT, PLAT, HGB, WBC) of each hematology panel; standard units are the stored units (no conversion).
- RS: one OVRLRESP row per assessment (the unconfirmed IMWG category) and one BESTRSP row per patient (best confirmed response).
- --SEQ numbers rows per subject within the exported rows (a filter renumbers them)."""


def _with_seq(name: str, subject_key: str = "USUBJID") -> Callable[[Iterator[dict], Filters], Iterator[dict]]:
    """Number the rows of each subject 1, 2, ... (rows come ordered by subject)."""

    def transform(rows: Iterator[dict], filters: Filters) -> Iterator[dict]:
        subject, seq = None, 0
        for row in rows:
            if row[subject_key] != subject:
                subject, seq = row[subject_key], 0
            seq += 1
            yield row | {name: seq}

    return transform


def _subjid(row: dict) -> str:
    return row["study_id"].removeprefix(f"{row['trial__code']}-")


def _term_getters(trial: Trial) -> tuple[Callable[[dict], str], Callable[[dict], str]]:
    """The term's name and SOC from the trial's CTCAE version (the in-memory index: no query per row)."""
    by_code = terminology(trial.ctcae_version).by_code

    def name(row: dict) -> str:
        return by_code[row["term"]].name if row["term"] in by_code else row["term"]

    def soc(row: dict) -> str:
        return by_code[row["term"]].soc if row["term"] in by_code else ""

    return name, soc


def _age(row: dict) -> int | None:
    born, at = row["date_of_birth"], row["consent_date"]
    return None if born is None or at is None else age_on(born, at)


def _const(name: str, label: str, value: str) -> Column:
    return Column(name, label, get=lambda r: value)


def _ids(prefix: str = "patient__") -> list[Column]:
    return [Column("STUDYID", "Study identifier", path=f"{prefix}trial__code")]


def _subject(name: str, prefix: str = "patient__") -> list[Column]:
    return [*_ids(prefix), _const("DOMAIN", "Domain abbreviation", name), Column("USUBJID", "Unique subject identifier", path=f"{prefix}study_id")]


def dm_columns(trial: Trial) -> list[Column]:
    def armcd(r):
        return f"L{r['enrolment__level__label']}" if r["enrolment__level__label"] is not None else "NOTASSGN"

    def arm(r):
        return f"Dose level {r['enrolment__level__label']}" if r["enrolment__level__label"] is not None else "Not Assigned"

    return [
        Column("STUDYID", "Study identifier", path="trial__code"),
        _const("DOMAIN", "Domain abbreviation", "DM"),
        Column("USUBJID", "Unique subject identifier", path="study_id"),
        Column("SUBJID", "Subject identifier for the study", get=_subjid, needs=("study_id", "trial__code")),
        Column("SITEID", "Study site identifier", path="site__number"),
        Column("RFICDTC", "Date of informed consent", DATE, path="consent_date"),
        Column("RFSTDTC", "Subject reference start date (first dose)", DATE, path="cycle1_day1"),
        Column("RFENDTC", "Subject reference end date (last dose)", DATE, path="off_treatment__last_dose_on"),
        Column("DTHDTC", "Date of death", DATE, path="follow_up__death_on"),
        Column("DTHFL", "Subject death flag", allowed=(("Y", "Yes"),), get=lambda r: "Y" if r["follow_up__death_on"] else "", needs=("follow_up__death_on",)),
        Column("BRTHDTC", "Date of birth", DATE, path="date_of_birth"),
        Column("AGE", "Age at informed consent", INTEGER, get=_age, needs=("date_of_birth", "consent_date")),
        Column("AGEU", "Age units", allowed=(("YEARS", "Years"),), get=lambda r: "YEARS"),
        Column("SEX", "Sex", path="sex", allowed=choices_of(Patient, "sex")),
        Column(
            "ARMCD",
            "Planned arm code (dose level)",
            allowed=(*((f"L{code}", label) for code, label in level_choices(trial)), ("NOTASSGN", "Not Assigned")),
            get=armcd,
            needs=("enrolment__level__label",),
        ),
        Column("ARM", "Description of planned arm", get=arm, needs=("enrolment__level__label",)),
    ]


def ex_columns(trial: Trial) -> list[Column]:
    return [
        *_subject("EX", "cycle__patient__"),
        Column("EXSEQ", "Sequence number", INTEGER),
        Column("EXSPID", "Sponsor-defined identifier (administration record id)", INTEGER, path="id"),
        Column("EXTRT", "Name of treatment", path="drug__name"),
        Column("EXDOSE", "Dose", DECIMAL, path="dose_mg", unit="mg"),
        _const("EXDOSU", "Dose units", "mg"),
        Column("EXROUTE", "Route of administration", path="route"),
        Column("EXSTDTC", "Start date of treatment", DATE, path="given_on"),
        Column("EXENDTC", "End date of treatment", DATE, get=lambda r: r["given_on"], needs=("given_on",)),
        Column("VISIT", "Visit name", get=lambda r: f"CYCLE {r['cycle__number']} DAY {r['day']}", needs=("cycle__number", "day")),
        Column(
            "EXADJ",
            "Reason for dose adjustment",
            get=lambda r: r["reason"] if r["status"] == Administration.Status.OTHER_DOSE else "",
            needs=("reason", "status"),
        ),
    ]


AE_REL_ORDER = {a: i for i, a in enumerate(ATTRIBUTIONS)}
AE_ACTION = {"none": "DOSE NOT CHANGED", "reduced": "DOSE REDUCED", "interrupted": "DRUG INTERRUPTED", "withdrawn": "DRUG WITHDRAWN", "na": "NOT APPLICABLE"}
AE_OUTCOME = {
    "recovered": "RECOVERED/RESOLVED",
    "recovering": "RECOVERING/RESOLVING",
    "not_recovered": "NOT RECOVERED/NOT RESOLVED",
    "sequelae": "RECOVERED/RESOLVED WITH SEQUELAE",
    "fatal": "FATAL",
    "unknown": "UNKNOWN",
}


def _aerel(row: dict) -> str:
    values = [v for v in (row["attribution"] or {}).values() if v in AE_REL_ORDER]
    return max(values, key=AE_REL_ORDER.__getitem__).upper() if values else ""


def ae_columns(trial: Trial) -> list[Column]:
    term_name, term_soc = _term_getters(trial)
    return [
        *_subject("AE"),
        Column("AESEQ", "Sequence number", INTEGER),
        Column("AESPID", "Sponsor-defined identifier (adverse event record id)", INTEGER, path="id"),
        Column("AETERM", 'Reported term (the verbatim term of an "Other, specify")', get=lambda r: r["verbatim"] or term_name(r), needs=("term", "verbatim")),
        Column("AEDECOD", f"Dictionary-derived term (CTCAE v{trial.ctcae_version})", get=term_name, needs=("term",)),
        Column("AEPTCD", "MedDRA code of the dictionary-derived term", path="term"),
        Column("AESOC", "Primary system organ class", get=term_soc, needs=("term",)),
        Column("AETOXGR", "Standard toxicity grade", INTEGER, path="grade", allowed=GRADES),
        Column("AESTDTC", "Start date", DATE, path="onset"),
        Column("AEENDTC", "End date", DATE, path="resolved"),
        Column("AESER", "Serious event", allowed=(("Y", "Yes"), ("N", "No")), get=lambda r: "Y" if r["serious"] else "N", needs=("serious",)),
        Column(
            "AEREL",
            "Causality (strongest attribution to any study drug)",
            allowed=tuple((a.upper(), a) for a in ATTRIBUTIONS),
            get=_aerel,
            needs=("attribution",),
        ),
        Column(
            "AEACN",
            "Action taken with study treatment",
            allowed=tuple((v, v) for v in AE_ACTION.values()),
            get=lambda r: AE_ACTION.get(r["action"], ""),
            needs=("action",),
        ),
        Column("AEOUT", "Outcome", allowed=tuple((v, v) for v in AE_OUTCOME.values()), get=lambda r: AE_OUTCOME.get(r["outcome"], ""), needs=("outcome",)),
    ]


CM_CATEGORY = {value: str(label).upper() for value, label in ConMed.Category.choices}
CM_ROUTE = {
    "oral": "ORAL",
    "iv": "INTRAVENOUS",
    "sc": "SUBCUTANEOUS",
    "im": "INTRAMUSCULAR",
    "topical": "TOPICAL",
    "inhaled": "RESPIRATORY (INHALATION)",
    "rectal": "RECTAL",
    "other": "OTHER",
}


def cm_columns(trial: Trial) -> list[Column]:
    return [
        *_subject("CM"),
        Column("CMSEQ", "Sequence number", INTEGER),
        Column("CMSPID", "Sponsor-defined identifier (conmed record id)", INTEGER, path="id"),
        Column("CMTRT", "Reported name of drug, med, or therapy", path="drug"),
        Column(
            "CMCAT",
            "Category for medication (the supportive-care category)",
            allowed=tuple((v, v) for v in CM_CATEGORY.values()),
            get=lambda r: CM_CATEGORY.get(r["category"], ""),
            needs=("category",),
        ),
        Column("CMINDC", "Indication", path="indication"),
        Column("CMDOSE", "Dose per administration", DECIMAL, path="dose"),
        Column("CMDOSU", "Dose units", path="dose_unit"),
        Column("CMDOSFRQ", "Dosing frequency per interval", path="frequency"),
        Column(
            "CMROUTE", "Route of administration", allowed=tuple((v, v) for v in CM_ROUTE.values()), get=lambda r: CM_ROUTE.get(r["route"], ""), needs=("route",)
        ),
        Column("CMSTDTC", "Start date", DATE, path="start"),
        Column("CMENDTC", "End date", DATE, path="stop"),
        Column(
            "CMENRTPT",
            "End relative to reference time point",
            allowed=(("ONGOING", "Ongoing"),),
            get=lambda r: "ONGOING" if r["ongoing"] else "",
            needs=("ongoing",),
        ),
        Column("CMENTPT", "End reference time point", get=lambda r: "END OF STUDY" if r["ongoing"] else "", needs=("ongoing",)),
    ]


LB_TESTS = (
    ("anc", "NEUT", "Neutrophils", "10^9/L"),
    ("platelets", "PLAT", "Platelets", "10^9/L"),
    ("hemoglobin", "HGB", "Hemoglobin", "g/dL"),
    ("wbc", "WBC", "Leukocytes", "10^9/L"),
)


def lb_rows(rows: Iterator[dict], filters: Filters) -> Iterator[dict]:
    """One row per analyte of each panel (a missing value has no row)."""
    for r in rows:
        for name, code, test, unit in LB_TESTS:
            if r[name] is not None:
                yield {
                    "STUDYID": r["patient__trial__code"],
                    "USUBJID": r["patient__study_id"],
                    "LBSPID": r["id"],
                    "LBTESTCD": code,
                    "LBTEST": test,
                    "LBORRES": r[name],
                    "LBORRESU": unit,
                    "LBSTRESN": r[name],
                    "LBSTRESU": unit,
                    "LBDTC": r["on"],
                }


def lb_columns(trial: Trial) -> list[Column]:
    units = tuple(dict.fromkeys(u for *_, u in LB_TESTS))
    return [
        Column("STUDYID", "Study identifier"),
        _const("DOMAIN", "Domain abbreviation", "LB"),
        Column("USUBJID", "Unique subject identifier"),
        Column("LBSEQ", "Sequence number", INTEGER),
        Column("LBSPID", "Sponsor-defined identifier (lab panel record id)", INTEGER),
        Column("LBTESTCD", "Lab test short name", allowed=tuple((c, t) for _, c, t, _u in LB_TESTS)),
        Column("LBTEST", "Lab test name"),
        _const("LBCAT", "Category", "HEMATOLOGY"),
        Column("LBORRES", "Result in original units", DECIMAL),
        Column("LBORRESU", "Original units", allowed=tuple((u, u) for u in units)),
        Column("LBSTRESN", "Numeric result in standard units", DECIMAL),
        Column("LBSTRESU", "Standard units", allowed=tuple((u, u) for u in units)),
        Column("LBDTC", "Date of the specimen", DATE),
    ]


def rs_rows(rows: Iterator[dict], filters: Filters) -> Iterator[dict]:
    for r in rows:
        ids = {"STUDYID": r["patient__trial__code"], "USUBJID": r["patient__study_id"]}
        for a in result_rows(r["results"]):
            yield ids | {"RSTESTCD": "OVRLRESP", "RSTEST": "Overall Response", "RSORRES": a["category"], "RSDTC": date.fromisoformat(a["on"])}
        yield ids | {"RSTESTCD": "BESTRSP", "RSTEST": "Best Overall Response", "RSORRES": r["best"], "RSDTC": r["best_on"]}


def rs_columns(trial: Trial) -> list[Column]:
    return [
        Column("STUDYID", "Study identifier"),
        _const("DOMAIN", "Domain abbreviation", "RS"),
        Column("USUBJID", "Unique subject identifier"),
        Column("RSSEQ", "Sequence number", INTEGER),
        Column("RSTESTCD", "Response assessment short name", allowed=(("OVRLRESP", "Overall Response"), ("BESTRSP", "Best Overall Response"))),
        Column("RSTEST", "Response assessment name"),
        _const("RSCAT", "Category", "IMWG 2016"),
        Column("RSORRES", "Result (IMWG category)", allowed=CATEGORY_CHOICES),
        Column("RSSTRESC", "Result in standard format", allowed=CATEGORY_CHOICES, get=lambda r: r["RSORRES"], needs=("RSORRES",)),
        Column("RSDTC", "Date of the assessment", DATE),
    ]


EX_FIELDS = ("cycle__patient__trial__code", "cycle__patient__study_id", "id", "drug__name", "dose_mg", "route", "given_on", "cycle__number", "day")
EX_FIELDS += ("reason", "status")


def _chain(*steps):
    def transform(rows, filters):
        for step in steps:
            rows = step(rows, filters)
        return rows

    return transform


CDISC: dict[str, Domain] = {
    d.name: d
    for d in (
        Domain(
            "DM",
            "Demographics",
            "One row per subject.",
            Patient,
            dm_columns,
            ("study_id",),
            "consent date",
            patient_path="",
            date_path="consent_date",
            annotate=_cycle1_day1,
            file_prefix="cdisc/",
        ),
        Domain(
            "EX",
            "Exposure",
            "Doses given, one row per drug and day.",
            Administration,
            ex_columns,
            ("cycle__patient__study_id", "given_on", "drug__order", "id"),
            "date given",
            patient_path="cycle__patient",
            date_path="given_on",
            where={"status__in": [Administration.Status.GIVEN, Administration.Status.OTHER_DOSE]},
            fields=EX_FIELDS,
            transform=_with_seq("EXSEQ", "cycle__patient__study_id"),
            file_prefix="cdisc/",
        ),
        Domain(
            "AE",
            "Adverse events",
            "Adverse event episodes, retracted ones left out.",
            AdverseEvent,
            ae_columns,
            ("patient__study_id", "onset", "id"),
            "onset",
            date_path="onset",
            where={"in_error": False},
            fields=(
                "patient__trial__code",
                "patient__study_id",
                "id",
                "term",
                "verbatim",
                "grade",
                "onset",
                "resolved",
                "serious",
                "attribution",
                "action",
                "outcome",
            ),
            transform=_with_seq("AESEQ", "patient__study_id"),
            file_prefix="cdisc/",
        ),
        Domain(
            "CM",
            "Concomitant medications",
            "Concomitant medications with their supportive-care category, retracted ones left out.",
            ConMed,
            cm_columns,
            ("patient__study_id", "start", "id"),
            "start date",
            date_path="start",
            where={"in_error": False},
            fields=(
                "patient__trial__code",
                "patient__study_id",
                "id",
                "drug",
                "category",
                "indication",
                "dose",
                "dose_unit",
                "frequency",
                "route",
                "start",
                "stop",
                "ongoing",
            ),
            transform=_with_seq("CMSEQ", "patient__study_id"),
            file_prefix="cdisc/",
        ),
        Domain(
            "LB",
            "Laboratory tests",
            "Hematology results, one row per analyte and date.",
            LabResult,
            lb_columns,
            ("patient__study_id", "on"),
            "date of the panel",
            date_path="on",
            fields=("patient__trial__code", "patient__study_id", "id", "on", "anc", "platelets", "hemoglobin", "wbc"),
            transform=_chain(lb_rows, _with_seq("LBSEQ")),
            file_prefix="cdisc/",
        ),
        Domain(
            "RS",
            "Disease response",
            "IMWG response per assessment and the best overall response.",
            ResponseResult,
            rs_columns,
            ("patient__study_id",),
            "date of the best response",
            date_path="best_on",
            fields=("patient__trial__code", "patient__study_id", "results", "best", "best_on"),
            transform=_chain(rs_rows, _with_seq("RSSEQ")),
            file_prefix="cdisc/",
        ),
    )
}
