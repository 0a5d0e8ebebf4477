"""The export domains declared as data: one definition per domain, with its columns.

Adverse-event attribution is flattened into one column per study drug of the
trial, `attribution_<drug code>`: the CTCAE attribution scale is the same for each
drug, and analyses read it per drug (a JSON column would need parsing).

The machinery (columns, formats, filters, streaming) is in engine.py; CDISC-style
datasets (DM, EX, AE, CM, LB, RS) use it with SDTM variable names: cdisc.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import islice

from django.db.models import Model, OuterRef, Subquery

from accounts.models import User
from cohorts.models import Cohort, DoseLevel, Drug, Patient, Trial
from cohorts.protocol import DESIGNS
from cohorts.status import OFF_STUDY_REASONS, OFF_TREATMENT_REASONS
from dosing.models import Administration, Cycle, PlannedDose
from escalation.models import EscalationDecision
from escalation.rules import Action
from response.endpoints import CATEGORIES, DEFINITIONS
from response.models import EndpointSnapshot, MyelomaAssessment, ResponseResult
from toxicity.dlt import ATTRIBUTIONS, Supportive
from toxicity.models import SAE_CRITERIA, AdverseEvent, ConMed, Dlt, DltProposal, LabResult
from toxicity.selectors import terminology

from .engine import BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, Allowed, Column, Domain, Filters

# ---------------------------------------------------------------- allowed values


def choices_of(model: type[Model], name: str) -> Allowed:
    return tuple((str(code), str(label)) for code, label in model._meta.get_field(name).flatchoices if code != "")


def level_choices(trial: Trial) -> Allowed:
    return tuple((str(label), f"Dose level {label}") for label in DoseLevel.objects.filter(trial=trial).order_by("order").values_list("label", flat=True))


def drug_codes(trial: Trial) -> list[tuple[str, str]]:
    return list(Drug.objects.filter(trial=trial).order_by("order").values_list("code", "name"))


STATUS_REASONS: Allowed = tuple({**OFF_TREATMENT_REASONS, **OFF_STUDY_REASONS}.items())
GRADES: Allowed = (("1", "Mild"), ("2", "Moderate"), ("3", "Severe"), ("4", "Life-threatening or disabling"), ("5", "Death related to AE"))
ATTRIBUTION_CHOICES: Allowed = tuple((a, a.capitalize()) for a in ATTRIBUTIONS)
SUPPORTIVE_CHOICES: Allowed = (
    (Supportive.GCSF.value, "G-CSF"),
    (Supportive.ANTIEMETIC.value, "Maximal antiemetic therapy"),
    (Supportive.ANTIDIARRHEAL.value, "Maximal antidiarrheal therapy"),
    (Supportive.STEROIDS.value, "Steroids for rash"),
)
DESIGN_NAMES: Allowed = tuple((name, {"boin": "BOIN", "tite-boin": "TITE-BOIN"}.get(name, name)) for name in DESIGNS)
ACTIONS: Allowed = tuple((a.value, a.value.replace("-", " ").capitalize()) for a in Action)
CATEGORY_CHOICES: Allowed = tuple((c, c) for c in CATEGORIES)


def _joined(path: str) -> Callable[[dict], str]:
    return lambda r: "; ".join(str(v) for v in (r[path] or []))


def _username(name: str, path: str, label: str) -> Column:
    return Column(name, label, path=f"{path}__username")


def _patient_columns(trial: Trial, prefix: str = "patient__") -> list[Column]:
    return [
        Column("study_id", "Study id", path=f"{prefix}study_id"),
        Column("site", "Site number", path=f"{prefix}site__number"),
        Column("dose_level", "Dose level enrolled at", INTEGER, path=f"{prefix}enrolment__level__label", allowed=level_choices(trial)),
    ]


def _cycle1_day1() -> dict:
    return {"cycle1_day1": Subquery(Cycle.objects.filter(patient=OuterRef("pk"), number=1).values("day1")[:1])}


# ---------------------------------------------------------------- the domains


def patient_columns(trial: Trial) -> list[Column]:
    return [
        Column("id", "Record id", INTEGER),
        Column("study_id", "Study id"),
        Column("trial", "Trial code", path="trial__code"),
        Column("site", "Site number", path="site__number"),
        Column("site_sequence", "Patient number within the site", INTEGER),
        Column("initials", "Initials"),
        Column("date_of_birth", "Date of birth", DATE),
        Column("sex", "Sex", allowed=choices_of(Patient, "sex")),
        Column("height_cm", "Height at registration", DECIMAL, unit="cm"),
        Column("weight_kg", "Weight at registration", DECIMAL, unit="kg"),
        Column("consent_date", "Informed consent", DATE),
        Column("eligibility", "Eligibility criteria confirmed ({code: true/false})"),
        Column("baseline_anc", "Baseline ANC", DECIMAL, unit="10^9/L"),
        Column("baseline_platelets", "Baseline platelets", DECIMAL, unit="10^9/L"),
        Column("baseline_marrow_pc_pct", "Baseline marrow plasma cells", DECIMAL, unit="%"),
        Column("status", "Status", allowed=choices_of(Patient, "status")),
        Column("status_reason", "Reason for the status", allowed=STATUS_REASONS),
        Column("status_date", "Date of the status", DATE),
        Column("registered_at", "Registered at", DATETIME),
        _username("registered_by", "registered_by", "Registered by (username)"),
        Column("cohort", "Cohort number", INTEGER, path="enrolment__cohort__number"),
        Column("cohort_phase", "Cohort phase", path="enrolment__cohort__phase", allowed=choices_of(Cohort, "phase")),
        Column("dose_level", "Dose level enrolled at", INTEGER, path="enrolment__level__label", allowed=level_choices(trial)),
        Column("slot", "Slot in the cohort", INTEGER, path="enrolment__slot"),
        Column("enrolled_on", "Enrolled on", DATE, path="enrolment__enrolled_on"),
        Column("cycle1_day1", "First dose (cycle 1 day 1)", DATE),
        Column("off_treatment_on", "Off treatment decided on", DATE, path="off_treatment__decided_on"),
        Column("off_treatment_reason", "Reason off treatment", path="off_treatment__reason", allowed=tuple(OFF_TREATMENT_REASONS.items())),
        Column("last_dose_on", "Last dose", DATE, path="off_treatment__last_dose_on"),
        Column("death_on", "Date of death", DATE, path="follow_up__death_on"),
        Column("next_therapy_on", "Next therapy started", DATE, path="follow_up__next_therapy_on"),
        Column("last_contact_on", "Last contact", DATE, path="follow_up__last_contact_on"),
    ]


def cycle_columns(trial: Trial) -> list[Column]:
    return [
        Column("id", "Record id", INTEGER),
        *_patient_columns(trial),
        Column("cycle", "Cycle number", INTEGER, path="number"),
        Column("planned_day1", "Planned day 1", DATE),
        Column("day1", "Day 1", DATE),
        Column("delay_days", "Delay of day 1", INTEGER, unit="days", get=lambda r: (r["day1"] - r["planned_day1"]).days, needs=("day1", "planned_day1")),
        Column("delay_reason", "Reason for the delay"),
        Column("cycle_level", "Dose level of the cycle", INTEGER, path="level__label", allowed=level_choices(trial)),
        Column("height_cm", "Height", DECIMAL, unit="cm"),
        Column("weight_kg", "Day-1 weight", DECIMAL, unit="kg"),
        Column("bsa_m2", "Body surface area", DECIMAL, unit="m2"),
        _username("started_by", "started_by", "Started by (username)"),
    ]


def planned_dose_columns(trial: Trial) -> list[Column]:
    return [
        Column("id", "Record id", INTEGER),
        *_patient_columns(trial, "cycle__patient__"),
        Column("cycle", "Cycle number", INTEGER, path="cycle__number"),
        Column("drug", "Drug", path="drug__code", allowed=tuple(drug_codes(trial))),
        Column("day", "Day of the cycle", INTEGER),
        Column("planned_on", "Planned date", DATE),
        Column("dose_mg", "Planned dose", DECIMAL, unit="mg"),
        Column("basis", "How the dose was reached"),
    ]


def administration_columns(trial: Trial) -> list[Column]:
    return [
        Column("id", "Record id", INTEGER),
        *_patient_columns(trial, "cycle__patient__"),
        Column("cycle", "Cycle number", INTEGER, path="cycle__number"),
        Column("drug", "Drug", path="drug__code", allowed=tuple(drug_codes(trial))),
        Column("day", "Day of the cycle", INTEGER),
        Column("given_on", "Date", DATE),
        Column("status", "Administration", allowed=choices_of(Administration, "status")),
        Column("dose_mg", "Dose given", DECIMAL, unit="mg"),
        Column("planned_dose_id", "Planned dose record id", INTEGER, path="planned_id"),
        Column("planned_dose_mg", "Planned dose", DECIMAL, path="planned__dose_mg", unit="mg"),
        Column("route", "Route"),
        Column("reason", "Reason (other dose, held, missed, deviation)"),
        Column("deviation", "Protocol deviation (day not in the schedule)", BOOLEAN),
        _username("entered_by", "entered_by", "Entered by (username)"),
    ]


def adverse_event_columns(trial: Trial) -> list[Column]:
    attribution = [
        Column(
            f"attribution_{code}",
            f"Attribution to {name}",
            allowed=ATTRIBUTION_CHOICES,
            get=lambda r, code=code: (r["attribution"] or {}).get(code),
            needs=("attribution",),
        )
        for code, name in drug_codes(trial)
    ]
    terms = terminology(trial.ctcae_version)
    return [
        Column("id", "Record id", INTEGER),
        *_patient_columns(trial),
        Column("event_id", "Record id of the event's first episode", INTEGER, get=lambda r: r["event_id"] or r["id"], needs=("event_id", "id")),
        Column("meddra_code", f"MedDRA code of the CTCAE v{terms.version} term", path="term"),
        Column(
            "term", f"CTCAE v{terms.version} term", get=lambda r: terms.by_code[r["term"]].name if r["term"] in terms.by_code else r["term"], needs=("term",)
        ),
        Column("verbatim", 'Verbatim term (of a "<SOC> - Other, specify" term)'),
        Column("soc", "System organ class", get=lambda r: terms.by_code[r["term"]].soc if r["term"] in terms.by_code else "", needs=("term",)),
        Column("grade", "CTCAE grade", INTEGER, allowed=GRADES),
        Column("onset", "Onset", DATE),
        Column("resolved", "Resolved", DATE),
        Column("serious", "Serious", BOOLEAN),
        Column(
            "sae_criteria",
            "Seriousness criteria (codes joined by '; ')",
            allowed=tuple(SAE_CRITERIA.items()),
            get=_joined("sae_criteria"),
            needs=("sae_criteria",),
        ),
        *attribution,
        Column("progression", "Attributed to disease progression", BOOLEAN),
        Column("action", "Action taken with the study drugs", allowed=choices_of(AdverseEvent, "action")),
        Column("outcome", "Outcome", allowed=choices_of(AdverseEvent, "outcome")),
        Column("supportive", "Supportive care (codes joined by '; ')", allowed=SUPPORTIVE_CHOICES, get=_joined("supportive"), needs=("supportive",)),
        Column("with_pain", "With pain", BOOLEAN),
        Column("in_error", "Entered in error (retracted)", BOOLEAN),
        Column("notes", "Notes"),
        _username("entered_by", "entered_by", "Entered by (username)"),
    ]


CONMED_FIELDS = (
    "id",
    "patient__trial__code",
    "patient__study_id",
    "drug",
    "indication",
    "category",
    "dose",
    "dose_unit",
    "frequency",
    "route",
    "start",
    "stop",
    "ongoing",
    "notes",
    "in_error",
    "entered_by__username",
)


def with_conmed_events(rows: Iterator[dict], filters: Filters) -> Iterator[dict]:
    """Each conmed row with the ids of the adverse events it treats (`adverse_event_ids`): one query per 2000 rows."""
    while batch := list(islice(rows, 2000)):
        links: dict[int, list[int]] = {}
        through = ConMed.adverse_events.through.objects.filter(conmed_id__in=[r["id"] for r in batch]).order_by("adverseevent_id")
        for conmed_id, ae_id in through.values_list("conmed_id", "adverseevent_id"):
            links.setdefault(conmed_id, []).append(ae_id)
        for r in batch:
            yield r | {"adverse_event_ids": links.get(r["id"], [])}


def conmed_columns(trial: Trial) -> list[Column]:
    return [
        Column("id", "Record id", INTEGER),
        Column("study_id", "Study id", path="patient__study_id"),
        Column("drug", "Drug (generic name)"),
        Column("indication", "Indication"),
        Column("category", "Supportive-care category (what the DLT rules read)", allowed=choices_of(ConMed, "category")),
        Column("dose", "Dose", DECIMAL),
        Column("dose_unit", "Dose unit"),
        Column("frequency", "Frequency"),
        Column("route", "Route", allowed=choices_of(ConMed, "route")),
        Column("start", "Start date", DATE),
        Column("stop", "Stop date", DATE),
        Column("ongoing", "Ongoing", BOOLEAN),
        Column(
            "adverse_event_ids",
            "Record ids of the adverse event episodes it treats (joined by '; ')",
            get=_joined("adverse_event_ids"),
            needs=("adverse_event_ids",),
        ),
        Column("in_error", "Entered in error (retracted)", BOOLEAN),
        Column("notes", "Notes"),
        _username("entered_by", "entered_by", "Entered by (username)"),
    ]


def lab_columns(trial: Trial) -> list[Column]:
    return [
        Column("id", "Record id", INTEGER),
        *_patient_columns(trial),
        Column("lab_date", "Date of the panel", DATE, path="on"),
        Column("anc", "ANC", DECIMAL, unit="10^9/L"),
        Column("platelets", "Platelets", DECIMAL, unit="10^9/L"),
        Column("hemoglobin", "Hemoglobin", DECIMAL, unit="g/dL"),
        Column("wbc", "WBC", DECIMAL, unit="10^9/L"),
        Column("temperature", "Temperature", DECIMAL, unit="C"),
        _username("entered_by", "entered_by", "Entered by (username)"),
    ]


def dlt_proposal_columns(trial: Trial) -> list[Column]:
    return [
        Column("id", "Record id", INTEGER),
        *_patient_columns(trial),
        Column("rule", "DLT rule", allowed=choices_of(DltProposal, "rule")),
        Column("onset", "Onset", DATE),
        Column("sentence", "What the rule found"),
        Column("event_ids", "Adverse event record ids (joined by '; ')", get=_joined("event_ids"), needs=("event_ids",)),
        Column("attribution_recorded", "Attribution recorded for the events", BOOLEAN),
        Column("status", "Status", allowed=choices_of(DltProposal, "status")),
        Column("proposed_at", "Proposed at", DATETIME),
        _username("adjudicated_by", "adjudicated_by", "Adjudicated by (username)"),
        Column("adjudicated_at", "Adjudicated at", DATETIME),
        Column("adjudication_reason", "Reason of the adjudication"),
        Column("review_note", "Why it awaits review again"),
        Column("dlt_id", "Confirmed DLT record id", INTEGER, path="dlt__id"),
        Column("evidence", "Evidence (JSON)"),
    ]


def dlt_columns(trial: Trial) -> list[Column]:
    return [
        Column("id", "Record id", INTEGER),
        *_patient_columns(trial),
        Column("proposal_id", "Proposal record id (empty: recorded as missed by the rules)", INTEGER),
        Column("rule", "DLT rule", allowed=choices_of(Dlt, "rule")),
        Column("onset", "Onset", DATE),
        Column("sentence", "Description"),
        Column("reason", "Reason given at confirmation"),
        _username("confirmed_by", "confirmed_by", "Confirmed by (username)"),
        Column("confirmed_at", "Confirmed at", DATETIME),
        Column("withdrawn_at", "Withdrawn at", DATETIME),
        Column("withdrawn_reason", "Reason for withdrawal"),
        Column("evidence", "Evidence snapshot at confirmation (JSON)"),
    ]


def decision_columns(trial: Trial) -> list[Column]:
    return [
        Column("id", "Record id", INTEGER),
        Column("trial", "Trial code", path="trial__code"),
        Column("proposed_at", "Proposed at", DATETIME),
        Column("design", "Dose-finding design whose engine proposed it", allowed=DESIGN_NAMES),
        Column("action", "Decision", allowed=ACTIONS),
        Column("dose_level", "Dose level where the next patients go", INTEGER, path="level__label", allowed=level_choices(trial)),
        Column("mtd_level", "Maximum tolerated dose level", INTEGER, path="mtd__label", allowed=level_choices(trial)),
        Column("rule", "Rule of the design that fired (e.g. E1of3, BOIN-E)"),
        Column("reason", "Sentence"),
        Column("slots", "Slots opened", INTEGER),
        Column("status", "Status", allowed=choices_of(EscalationDecision, "status")),
        _username("signed_by", "signed_by", "Signed or rejected by (username)"),
        Column(
            "signed_by_name",
            "Signer's name",
            get=lambda r: (
                f"{r['signed_by__first_name']} {r['signed_by__last_name']}".strip() if r["signed_by__first_name"] or r["signed_by__last_name"] else ""
            ),
            needs=("signed_by__first_name", "signed_by__last_name"),
        ),
        Column("signed_at", "Signed at", DATETIME),
        Column("signature_meaning", "Meaning of the signature"),
        Column("rejection_reason", "Reason for rejection"),
        Column("needs_review", "Flagged for re-review", BOOLEAN),
        Column("review_note", "Re-review note"),
        Column("dlts_counted", "DLT record ids counted (joined by '; ')", get=lambda r: "; ".join(sorted(r["dlts"] or {}, key=int)), needs=("dlts",)),
        Column("tally", "Tally per level as the engine saw it (JSON)"),
    ]


def assessment_columns(trial: Trial) -> list[Column]:
    return [
        Column("id", "Record id", INTEGER),
        *_patient_columns(trial),
        Column("assessment_date", "Date of the assessment", DATE, path="on"),
        Column("spep", "Serum M-protein (SPEP)", DECIMAL, unit="g/dL"),
        Column("serum_ife", "Serum immunofixation positive", BOOLEAN),
        Column("serum_isotype", "Serum isotype", allowed=choices_of(MyelomaAssessment, "serum_isotype")),
        Column("upep", "Urine M-protein (24 h)", DECIMAL, unit="mg/24 h"),
        Column("urine_ife", "Urine immunofixation positive", BOOLEAN),
        Column("kappa", "Kappa free light chain", DECIMAL, unit="mg/dL"),
        Column("lambda_flc", "Lambda free light chain", DECIMAL, unit="mg/dL"),
        Column("marrow_pc", "Marrow plasma cells", DECIMAL, unit="%"),
        Column("marrow_clonal", "Clonal marrow plasma cells", BOOLEAN),
        Column("plasmacytoma", "Soft-tissue plasmacytoma present", BOOLEAN),
        Column("plasmacytoma_size", "Plasmacytoma size", DECIMAL, unit="cm2"),
        Column("new_lesions", "New bone lesions", BOOLEAN),
        Column("spurious", "Values marked spurious ({parameter: reason}, JSON)"),
        _username("entered_by", "entered_by", "Entered by (username)"),
    ]


def response_columns(trial: Trial) -> list[Column]:
    return [
        Column("id", "Record id", INTEGER),
        *_patient_columns(trial),
        Column("driver", "Driving parameter"),
        Column("best", "Best overall response (IMWG)", allowed=CATEGORY_CHOICES),
        Column("best_on", "Best response dated", DATE),
        Column("best_reason", "Why"),
        Column("best_change_pct", "Best change of the driving parameter from baseline", DECIMAL, unit="%"),
        Column("first_response_on", "First confirmed response (PR or better)", DATE),
        Column("progression_on", "Confirmed progression", DATE),
        Column("confirmed", "Confirmed categories [category, date] (JSON)"),
        Column("flags", "Flags (joined by '; ')", get=_joined("flags"), needs=("flags",)),
        Column("rule_version", "Rule version"),
        Column("inputs_at", "Inputs last changed at", DATETIME),
        Column("computed_at", "Computed at", DATETIME),
    ]


ENDPOINT_NAMES: Allowed = (
    ("evaluable", "Evaluable patients (n) of the patients in the group (denominator)"),
    ("initial_response_rate", DEFINITIONS["initial_response_rate"]),
    ("disease_control_rate", DEFINITIONS["disease_control_rate"]),
    ("orr", DEFINITIONS["orr"]),
    *((f"best_response_{c}", f"Best overall response {c}, over evaluable patients") for c in CATEGORIES),
    ("pfs", DEFINITIONS["pfs"]),
    ("ttp", DEFINITIONS["ttp"]),
    ("ttnt", DEFINITIONS["ttnt"]),
)


def endpoint_rows(snapshots: Iterator[dict], filters: Filters) -> Iterator[dict]:
    """The latest snapshot flattened: one row per group (all patients, each level) and endpoint."""
    for snap in snapshots:
        data = snap["data"]
        groups = [("all", None, data["overall"])] if filters.level is None else []
        groups += [(f"level {label}", int(label), g) for label, g in data["by_level"].items() if filters.level is None or int(label) == filters.level]
        for group, level, g in groups:
            base = {"snapshot_id": snap["id"], "computed_at": snap["computed_at"], "rule_version": snap["rule_version"], "group": group, "dose_level": level}
            yield base | {"endpoint": "evaluable", "n": g["evaluable"], "denominator": g["patients"]}
            for rate in ("initial_response_rate", "disease_control_rate", "orr"):
                yield base | {"endpoint": rate, "n": g[rate]["n"], "denominator": g[rate]["of"], "pct": g[rate]["pct"]}
            for category, n in g["best_response"].items():
                yield base | {"endpoint": f"best_response_{category}", "n": n, "denominator": g["evaluable"]}
            for name in ("pfs", "ttp", "ttnt"):
                km = g[name]
                lower, upper = km["median_ci"]
                yield base | {"endpoint": name, "n": km["n"], "events": km["events"], "median": km["median"], "ci_lower": lower, "ci_upper": upper}
        return  # the latest snapshot only


def endpoint_columns(trial: Trial) -> list[Column]:
    def opt(name):
        return lambda r: r.get(name)

    return [
        Column("snapshot_id", "Endpoint snapshot record id", INTEGER),
        Column("computed_at", "Computed at", DATETIME),
        Column("rule_version", "Rule version"),
        Column("group", "Group ('all' or 'level N')"),
        Column("dose_level", "Dose level of the group (empty: all)", INTEGER, allowed=level_choices(trial)),
        Column("endpoint", "Endpoint", allowed=ENDPOINT_NAMES),
        Column("n", "Patients with the event or category (rates); patients in the analysis (times)", INTEGER),
        Column("denominator", "Denominator of the rate", INTEGER, get=opt("denominator")),
        Column("pct", "Rate", DECIMAL, unit="%", get=opt("pct")),
        Column("events", "Events (time-to-event endpoints)", INTEGER, get=opt("events")),
        Column("median", "Kaplan-Meier median (empty: not reached)", DECIMAL, unit="months", get=opt("median")),
        Column("ci_lower", "Median 95% CI lower (Brookmeyer-Crowley, log-log)", DECIMAL, unit="months", get=opt("ci_lower")),
        Column("ci_upper", "Median 95% CI upper (Brookmeyer-Crowley, log-log)", DECIMAL, unit="months", get=opt("ci_upper")),
    ]


DOMAINS: dict[str, Domain] = {
    d.name: d
    for d in (
        Domain(
            "patients",
            "Patients",
            "Demographics, baseline, enrolment (cohort, level, slot), status and key dates, one row per patient.",
            Patient,
            patient_columns,
            ("study_id",),
            "consent date",
            patient_path="",
            date_path="consent_date",
            annotate=_cycle1_day1,
        ),
        Domain("cycles", "Cycles", "One row per treatment cycle.", Cycle, cycle_columns, ("patient__study_id", "number"), "day 1", date_path="day1"),
        Domain(
            "planned_doses",
            "Planned doses",
            "The plan of each cycle: one row per drug and day, with how the dose was reached.",
            PlannedDose,
            planned_dose_columns,
            ("cycle__patient__study_id", "cycle__number", "day", "drug__order"),
            "planned date",
            patient_path="cycle__patient",
            date_path="planned_on",
        ),
        Domain(
            "administrations",
            "Doses given",
            "What was given, held or missed: one row per drug and day.",
            Administration,
            administration_columns,
            ("cycle__patient__study_id", "cycle__number", "day", "drug__order"),
            "date given",
            patient_path="cycle__patient",
            date_path="given_on",
        ),
        Domain(
            "adverse_events",
            "Adverse events",
            "One row per episode (a change of grade is a new episode of the same event); attribution one column per drug; retracted events kept and flagged.",
            AdverseEvent,
            adverse_event_columns,
            ("patient__study_id", "onset", "id"),
            "onset",
            date_path="onset",
        ),
        Domain(
            "conmeds",
            "Concomitant medications",
            "One row per medication, with its supportive-care category and the adverse events it treats; retracted ones kept and flagged.",
            ConMed,
            conmed_columns,
            ("patient__study_id", "start", "id"),
            "start date",
            date_path="start",
            fields=CONMED_FIELDS,
            transform=with_conmed_events,
        ),
        Domain(
            "labs",
            "Labs",
            "Hematology panels, one row per patient and day.",
            LabResult,
            lab_columns,
            ("patient__study_id", "on"),
            "date of the panel",
            date_path="on",
        ),
        Domain(
            "dlt_proposals",
            "DLT proposals and adjudications",
            "DLTs the rules proposed, with the investigator's adjudication.",
            DltProposal,
            dlt_proposal_columns,
            ("patient__study_id", "onset", "rule", "id"),
            "onset",
            date_path="onset",
        ),
        Domain(
            "dlts",
            "DLTs",
            "Confirmed DLTs (what the escalation engine reads), withdrawn ones kept.",
            Dlt,
            dlt_columns,
            ("patient__study_id", "onset", "id"),
            "onset",
            date_path="onset",
        ),
        Domain(
            "escalation_decisions",
            "Escalation decisions and signatures",
            "Every decision the design's engine proposed (3+3, BOIN, TITE-BOIN, i3+3: the design column names it), with its signature "
            "(signer, time, meaning) or rejection. Trial-wide: the site filter does not apply.",
            EscalationDecision,
            decision_columns,
            ("proposed_at", "id"),
            "date proposed",
            trial_path="trial",
            patient_path=None,
            date_path="proposed_at__date",
            level_path="level__label",
        ),
        Domain(
            "assessments",
            "Myeloma assessments",
            "Disease assessments in stored units (g/dL, mg/24 h, mg/dL, %, cm2).",
            MyelomaAssessment,
            assessment_columns,
            ("patient__study_id", "on"),
            "date of the assessment",
            date_path="on",
        ),
        Domain(
            "responses",
            "Responses",
            "Each patient's computed IMWG course: best overall response, dates of first response and progression.",
            ResponseResult,
            response_columns,
            ("patient__study_id",),
            "date of the best response",
            date_path="best_on",
        ),
        Domain(
            "endpoints",
            "Endpoints",
            "The latest endpoint snapshot flattened: one row per group (all, each level) and endpoint. "
            "Trial-wide aggregates: empty when a site filter is given.",
            EndpointSnapshot,
            endpoint_columns,
            ("-computed_at", "-id"),
            "date computed (the latest snapshot in the range)",
            trial_path="trial",
            patient_path=None,
            date_path="computed_at__date",
            level_path=None,
            aggregate=True,
            fields=("id", "computed_at", "rule_version", "data"),
            transform=endpoint_rows,
        ),
    )
}

# ---------------------------------------------------------------- README


def readme_text(*, trial: Trial, user: User, filters: Filters, generated_at: datetime, files: list[tuple[Domain, int]], cdisc: bool) -> str:
    who = f"{user.get_full_name() or user.username} ({user.username}, {user.role_label})"
    lines = [
        f"Trialsite export: trial {trial.code}{f' ({trial.nct_id})' if trial.nct_id else ''}, {trial.title}",
        f"Protocol version: {trial.protocol_version}",
        f"Generated at: {generated_at.astimezone(UTC).isoformat()}",
        f"Generated by: {who}",
        f"Filters: {filters.describe()}",
        "",
        "Files (rows):",
        "- README.txt: this file.",
        "- data_dictionary.csv: one row per column of every file: file, domain, name, label, type, unit, allowed values (code=label; ...).",
    ]
    lines += [f"- {d.file_name} ({rows} rows): {d.label}. {d.description} Date filter on: {d.main_date}." for d, rows in files]
    lines += [
        "",
        "Formats: UTF-8 CSV with a header row; dates ISO 8601 (YYYY-MM-DD); date-times ISO 8601 in UTC;",
        "booleans true/false; decimals as plain text in the stored precision; an empty cell is a missing value.",
        "Lists of codes are joined by '; '; structured values are JSON text.",
        "Adverse-event attribution: one column per study drug (attribution_<drug code>).",
        "Dose level filter: the level the patient was enrolled at (decisions: the decision's level; endpoints: that level's group).",
    ]
    if cdisc:
        from .cdisc import CDISC_NOTES

        lines += ["", CDISC_NOTES]
    return "\n".join(lines) + "\n"
