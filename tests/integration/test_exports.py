"""CSV exports on the database: every domain round-trips row for row, its dictionary
matches its columns, filters and site scoping hold, the zip job writes every file
with a dictionary and a README, and every export is logged with its row counts."""

import csv
import functools
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.utils import timezone

from cohorts.models import Drug, Patient
from datamanagement import services
from datamanagement.exports import CDISC, DOMAINS, TYPES, Filters, csv_stream, dictionary_rows, engine
from datamanagement.models import ExportLog
from dosing.models import Administration, Cycle, PlannedDose
from dosing.services import administration_record
from escalation.models import EscalationDecision
from escalation.services import decision_sign, escalation_reevaluate
from response.models import EndpointSnapshot, MyelomaAssessment, ResponseResult
from response.services import assessment_record, endpoints_compute, followup_record, response_compute_many
from tests.factories import PASSWORD, register_patient, treat_patient
from toxicity.ctcae import meddra
from toxicity.models import AdverseEvent, ConMed, Dlt, DltProposal, LabResult
from toxicity.services import ae_record, ae_retract, conmed_record, conmed_retract, dlt_confirm, dlt_evaluate_many, lab_record

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=90)
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}


def day(n):
    """Cycle 1 day n of the first cohort."""
    return C1 + timedelta(days=n - 1)


@dataclass
class World:
    trial: object
    p1: Patient  # site 01, level 1, a DLT (H2), responses
    p2: Patient  # site 01, level 1
    p3: Patient  # site 02, level 1
    p4: Patient  # site 02, level 2 (after the signed escalation)
    p5: Patient  # site 01, registered, never enrolled


def treat(trial, site, by, day1, *, cycle2=True):
    return treat_patient(trial, site, by, day1=day1, cycle2_after=30 if cycle2 else None, delay_reason="Clinic closed")


def build_world(trial, site_a, site_b, alice, bob, ivan) -> World:
    """Three patients at level 1, a signed escalation, a fourth at level 2, and data in every domain."""
    p1, p2 = treat(trial, site_a, alice, C1), treat(trial, site_a, alice, C1)
    p3 = treat(trial, site_b, bob, C1)
    dlt_evaluate_many([p1.pk, p2.pk, p3.pk])
    decision = escalation_reevaluate(trial=trial)[0]
    decision_sign(decision=decision, by=ivan, password=PASSWORD)
    p4 = treat(trial, site_b, bob, TODAY - timedelta(days=20), cycle2=False)
    p5 = register_patient(trial, site_a, alice)

    cycle = Cycle.objects.get(patient=p1, number=1)
    bendamustine, pomalidomide = Drug.objects.get(trial=trial, code="bendamustine"), Drug.objects.get(trial=trial, code="pomalidomide")
    administration_record(cycle=cycle, by=alice, drug=bendamustine, day=1, status="given")
    administration_record(cycle=cycle, by=alice, drug=pomalidomide, day=3, status="held", reason="ANC 0.4")
    administration_record(cycle=Cycle.objects.get(patient=p3, number=1), by=bob, drug=bendamustine, day=1, status="given")

    neutropenia = ae_record(
        patient=p1,
        by=alice,
        term=meddra("Neutrophil count decreased"),
        grade=4,
        onset=day(10),
        resolved=day(19),
        outcome="recovered",
        attribution=RELATED,
        supportive=["gcsf"],
        serious=True,
        sae_criteria=["hospitalisation"],
    )
    for n, anc in ((10, "0.4"), (19, "0.9")):
        lab_record(patient=p1, by=alice, on=day(n), anc=anc, platelets="120", hemoglobin="10.5")
    conmed_record(
        patient=p1,
        by=alice,
        drug="filgrastim",
        indication="grade 4 neutropenia",
        dose=Decimal("300"),
        dose_unit="ug",
        frequency="once daily",
        route="sc",
        start=day(11),
        stop=day(17),
        category="gcsf",
        adverse_events=[neutropenia],
    )
    conmed_record(patient=p3, by=bob, drug="ondansetron", indication="nausea prophylaxis", route="oral", start=day(1), ongoing=True)
    wrong_med = conmed_record(
        patient=p3, by=bob, drug="loperamide", indication="diarrhea", route="oral", start=day(2), stop=day(3), category="max_antidiarrheal"
    )
    conmed_retract(conmed=wrong_med, by=bob, reason="entered for the wrong patient")
    lab_record(patient=p3, by=bob, on=day(8), wbc="3.1", temperature="37.2")
    wrong = ae_record(patient=p3, by=bob, term=meddra("Nausea"), grade=1, onset=day(3), attribution=dict.fromkeys(RELATED, "unrelated"))
    ae_retract(ae=wrong, by=bob, reason="entered for the wrong patient")
    dlt_evaluate_many([p1.pk])
    dlt_confirm(proposal=DltProposal.objects.get(patient=p1, rule="H2"), by=ivan, password=PASSWORD)

    for n, spep in ((-2, "3.0"), (28, "1.5"), (56, "1.4")):
        assessment_record(patient=p1, by=alice, on=day(n), values={"spep": spep, "upep": "0", "serum_ife": True, "serum_isotype": "IgG kappa"})
    assessment_record(patient=p3, by=bob, on=day(-1), values={"kappa": "40", "lambda_flc": "1.2", "marrow_pc": "35.5"})
    followup_record(patient=p3, by=bob, last_contact_on=day(60))
    response_compute_many([p1.pk, p2.pk, p3.pk])
    endpoints_compute(trial=trial)
    return World(trial, p1, p2, p3, p4, p5)


@pytest.fixture
def world(trial, site_a, site_b, alice, bob, ivan):
    return build_world(trial, site_a, site_b, alice, bob, ivan)


def read(domain, user, trial, filters=None):
    filters = filters or Filters()
    text = "".join(csv_stream(domain.header(trial), domain.rows(user, trial, filters)))
    return list(csv.DictReader(io.StringIO(text)))


# ---------------------------------------------------------------- an independent reader


def parse(kind, text):
    """CSV text back to Python, without the export's own code."""
    if text == "":
        return None
    return {
        "boolean": lambda t: {"true": True, "false": False}[t],
        "integer": int,
        "decimal": Decimal,
        "date": date.fromisoformat,
        "datetime": datetime.fromisoformat,
        "string": str,
    }[kind](text)


def traverse(obj, path):
    """Follow a values() path on model instances (None through a missing relation)."""
    for part in path.split("__"):
        try:
            obj = getattr(obj, part)
        except ObjectDoesNotExist:
            return None
        if obj is None:
            return None
    return obj


def normalise(field, value):
    if isinstance(field, models.JSONField):
        return value
    if value == "":
        return None
    return value


MODEL_ROWS = {
    "patients": lambda t: Patient.objects.filter(trial=t),
    "cycles": lambda t: Cycle.objects.filter(patient__trial=t),
    "planned_doses": lambda t: PlannedDose.objects.filter(cycle__patient__trial=t),
    "administrations": lambda t: Administration.objects.filter(cycle__patient__trial=t),
    "adverse_events": lambda t: AdverseEvent.objects.filter(patient__trial=t),
    "labs": lambda t: LabResult.objects.filter(patient__trial=t),
    "conmeds": lambda t: ConMed.objects.filter(patient__trial=t),
    "dlt_proposals": lambda t: DltProposal.objects.filter(patient__trial=t),
    "dlts": lambda t: Dlt.objects.filter(patient__trial=t),
    "escalation_decisions": lambda t: EscalationDecision.objects.filter(trial=t),
    "assessments": lambda t: MyelomaAssessment.objects.filter(patient__trial=t),
    "responses": lambda t: ResponseResult.objects.filter(patient__trial=t),
}


def computed(name, column, obj, trial):
    """The expected value of a computed column, from the model instance."""
    if column == "cycle1_day1":
        c = obj.cycles.filter(number=1).first()
        return c.day1 if c else None
    if column == "delay_days":
        return obj.delay_days
    if column == "event_id":
        return obj.event_id_root
    if column == "soc":
        return obj.soc
    if column == "term":
        return obj.ctcae_term.name
    if column.startswith("attribution_"):
        return obj.attribution.get(column.removeprefix("attribution_"))
    if column in ("sae_criteria", "supportive", "flags", "event_ids"):
        return "; ".join(map(str, getattr(obj, column))) or None
    if column == "adverse_event_ids":
        return "; ".join(str(pk) for pk in sorted(obj.adverse_events.values_list("pk", flat=True))) or None
    if column == "signed_by_name":
        return obj.signed_by.get_full_name() if obj.signed_by else None
    if column == "dlts_counted":
        return "; ".join(sorted(obj.dlts, key=int)) or None
    raise AssertionError(f"{name}.{column} is computed but the test does not know it")


@pytest.mark.parametrize("name", list(MODEL_ROWS))
def test_each_domain_matches_the_database_row_for_row(world, dana, name):
    domain, trial = DOMAINS[name], world.trial
    rows = read(domain, dana, trial)
    objects = {o.pk: o for o in MODEL_ROWS[name](trial)}
    assert objects, f"the fixture has no {name}"
    assert sorted(int(r["id"]) for r in rows) == sorted(objects)
    concrete = {f.attname: f for f in domain.model._meta.concrete_fields}
    for row in rows:
        obj = objects[int(row["id"])]
        for column in domain.columns(trial):
            got = parse(column.type, row[column.name])
            if column.get is None and column.source in concrete:
                field = concrete[column.source]
                want = normalise(field, getattr(obj, column.source))
                got = json.loads(row[column.name]) if isinstance(field, models.JSONField) else got
            elif column.get is None and column.source != "cycle1_day1":
                want = normalise(None, traverse(obj, column.source))
            else:
                want = computed(name, column.name, obj, trial)
            assert got == want, f"{name} {obj.pk} {column.name}: {got!r} != {want!r}"


def test_the_endpoints_export_flattens_the_latest_snapshot(world, dana):
    snapshot = EndpointSnapshot.objects.filter(trial=world.trial).latest()
    rows = read(DOMAINS["endpoints"], dana, world.trial)
    assert {r["snapshot_id"] for r in rows} == {str(snapshot.pk)}
    groups = {r["group"] for r in rows}
    assert groups == {"all", *(f"level {label}" for label in snapshot.data["by_level"])}
    by = {(r["group"], r["endpoint"]): r for r in rows}
    overall = snapshot.data["overall"]
    orr = by[("all", "orr")]
    assert (int(orr["n"]), int(orr["denominator"])) == (overall["orr"]["n"], overall["orr"]["of"])
    assert int(by[("all", "best_response_PR")]["n"]) == overall["best_response"]["PR"]
    assert int(by[("all", "pfs")]["events"]) == overall["pfs"]["events"]
    assert len(rows) == len(groups) * (1 + 3 + len(overall["best_response"]) + 3)


@pytest.mark.parametrize("domains", [DOMAINS, CDISC], ids=["domains", "cdisc"])
def test_the_dictionary_lists_exactly_each_files_columns_and_its_allowed_values_cover_the_data(world, dana, domains):
    trial = world.trial
    dictionary = list(dictionary_rows(domains.values(), trial))
    for domain in domains.values():
        rows = read(domain, dana, trial)
        entries = [r for r in dictionary if r[0] == domain.file_name]
        assert [e[2] for e in entries] == domain.header(trial)
        assert not rows or list(rows[0]) == domain.header(trial)
        for _file, _domain, name, label, kind, _unit, allowed in entries:
            assert label
            assert kind in TYPES
            codes = {pair.split("=", 1)[0] for pair in allowed.split("; ")} if allowed else None
            for row in rows:
                parse(kind, row[name])  # every value parses as its declared type
                if codes is not None and row[name]:
                    assert set(row[name].split("; ")) <= codes, f"{domain.name}.{name}={row[name]!r} not in the dictionary"


def test_the_adverse_events_export_names_the_meddra_code_term_verbatim_and_soc_in_its_dictionary(world):
    entries = {r[2]: r[3] for r in dictionary_rows([DOMAINS["adverse_events"], CDISC["AE"]], world.trial)}
    assert entries["meddra_code"] == "MedDRA code of the CTCAE v5.0 term"
    assert (entries["term"], entries["soc"]) == ("CTCAE v5.0 term", "System organ class")
    assert "Other, specify" in entries["verbatim"]
    assert (entries["AEDECOD"], entries["AEPTCD"], entries["AESOC"]) == (
        "Dictionary-derived term (CTCAE v5.0)",
        "MedDRA code of the dictionary-derived term",
        "Primary system organ class",
    )


def test_an_other_specify_event_is_exported_with_its_verbatim_term(world, dana, alice):
    other = meddra("Cardiac disorders - Other, specify")
    ae_record(patient=world.p1, by=alice, term=other, verbatim="Atrial ectopy", grade=2, onset=day(6), attribution=RELATED)
    [row] = [r for r in read(DOMAINS["adverse_events"], dana, world.trial) if r["meddra_code"] == other]
    assert (row["term"], row["verbatim"], row["soc"]) == ("Cardiac disorders - Other, specify", "Atrial ectopy", "Cardiac disorders")
    [row] = [r for r in read(CDISC["AE"], dana, world.trial) if r["AEPTCD"] == other]
    assert (row["AETERM"], row["AEDECOD"], row["AESOC"]) == ("Atrial ectopy", "Cardiac disorders - Other, specify", "Cardiac disorders")


def test_the_conmeds_export_and_cdisc_cm_carry_the_crf_and_the_supportive_category(world, dana, bob):
    trial = world.trial
    rows = {r["drug"]: r for r in read(DOMAINS["conmeds"], dana, trial)}
    neutropenia = AdverseEvent.objects.get(patient=world.p1, term=meddra("Neutrophil count decreased"))
    gcsf = rows["filgrastim"]
    assert (gcsf["category"], gcsf["dose"], gcsf["dose_unit"], gcsf["route"], gcsf["adverse_event_ids"]) == ("gcsf", "300.000", "ug", "sc", str(neutropenia.pk))
    assert (rows["ondansetron"]["ongoing"], rows["ondansetron"]["stop"], rows["loperamide"]["in_error"]) == ("true", "", "true")
    cm = {r["CMTRT"]: r for r in read(CDISC["CM"], dana, trial)}
    assert set(cm) == {"filgrastim", "ondansetron"}  # the retracted loperamide is left out
    f = cm["filgrastim"]
    assert (f["DOMAIN"], f["USUBJID"], f["CMSEQ"], f["CMCAT"], f["CMINDC"]) == ("CM", world.p1.study_id, "1", "G-CSF", "grade 4 neutropenia")
    assert (f["CMDOSE"], f["CMDOSU"], f["CMDOSFRQ"], f["CMROUTE"]) == ("300.000", "ug", "once daily", "SUBCUTANEOUS")
    assert (f["CMSTDTC"], f["CMENDTC"], f["CMENRTPT"]) == (day(11).isoformat(), day(17).isoformat(), "")
    o = cm["ondansetron"]
    assert (o["CMCAT"], o["CMROUTE"], o["CMENDTC"], o["CMENRTPT"], o["CMENTPT"]) == ("OTHER", "ORAL", "", "ONGOING", "END OF STUDY")
    assert [r["drug"] for r in read(DOMAINS["conmeds"], bob, trial)] == ["ondansetron", "loperamide"]  # site B only


def test_cdisc_datasets_match_the_database(world, dana):
    trial = world.trial
    dm = read(CDISC["DM"], dana, trial)
    assert [r["USUBJID"] for r in dm] == sorted(p.study_id for p in Patient.objects.filter(trial=trial))
    p1 = next(r for r in dm if r["USUBJID"] == world.p1.study_id)
    assert (p1["STUDYID"], p1["DOMAIN"], p1["SITEID"], p1["ARMCD"], p1["RFSTDTC"], p1["SEX"]) == ("BPD", "DM", "01", "L1", C1.isoformat(), "F")
    assert p1["SUBJID"] == world.p1.study_id.removeprefix("BPD-")
    born, consent = world.p1.date_of_birth, world.p1.consent_date
    assert int(p1["AGE"]) == consent.year - born.year - ((consent.month, consent.day) < (born.month, born.day))
    assert next(r for r in dm if r["USUBJID"] == world.p5.study_id)["ARMCD"] == "NOTASSGN"

    ex = read(CDISC["EX"], dana, trial)
    given = Administration.objects.filter(cycle__patient__trial=trial, status__in=["given", "other_dose"])
    assert sorted(int(r["EXSPID"]) for r in ex) == sorted(given.values_list("pk", flat=True))
    assert {(r["EXTRT"], r["EXDOSU"], r["VISIT"]) for r in ex} == {("Bendamustine", "mg", "CYCLE 1 DAY 1")}
    assert {r["EXSEQ"] for r in ex} == {"1"}

    ae = read(CDISC["AE"], dana, trial)
    assert [int(r["AESPID"]) for r in ae] == list(AdverseEvent.objects.filter(patient__trial=trial, in_error=False).values_list("pk", flat=True))
    assert (ae[0]["AETERM"], ae[0]["AEDECOD"], ae[0]["AEPTCD"], ae[0]["AESOC"]) == (
        "Neutrophil count decreased",
        "Neutrophil count decreased",
        "10029366",
        "Investigations",
    )
    assert (ae[0]["AEDECOD"], ae[0]["AETOXGR"], ae[0]["AESER"], ae[0]["AEREL"], ae[0]["AEOUT"]) == (
        "Neutrophil count decreased",
        "4",
        "Y",
        "PROBABLE",
        "RECOVERED/RESOLVED",
    )

    lb = read(CDISC["LB"], dana, trial)
    values = LabResult.objects.filter(patient__trial=trial).values("anc", "platelets", "hemoglobin", "wbc")
    assert len(lb) == sum(v is not None for row in values for v in row.values())
    neut = [r for r in lb if r["LBTESTCD"] == "NEUT"]
    assert [(r["LBDTC"], Decimal(r["LBSTRESN"])) for r in neut] == [(day(10).isoformat(), Decimal("0.40")), (day(19).isoformat(), Decimal("0.90"))]
    p1_seq = [int(r["LBSEQ"]) for r in lb if r["USUBJID"] == world.p1.study_id]
    assert p1_seq == list(range(1, len(p1_seq) + 1))

    rs = read(CDISC["RS"], dana, trial)
    results = ResponseResult.objects.filter(patient__trial=trial)
    assert len(rs) == sum(len(r.rows()) + 1 for r in results)
    best = next(r for r in rs if r["USUBJID"] == world.p1.study_id and r["RSTESTCD"] == "BESTRSP")
    assert (best["RSORRES"], best["RSDTC"]) == ("PR", results.get(patient=world.p1).best_on.isoformat())


# ---------------------------------------------------------------- filters and scoping


def test_the_site_filter_keeps_that_sites_patients_and_leaves_trial_wide_aggregates_empty(world, dana):
    f = Filters(site="02")
    assert {r["study_id"] for r in read(DOMAINS["patients"], dana, world.trial, f)} == {world.p3.study_id, world.p4.study_id}
    assert {r["study_id"] for r in read(DOMAINS["adverse_events"], dana, world.trial, f)} == {world.p3.study_id}
    assert {r["site"] for r in read(DOMAINS["administrations"], dana, world.trial, f)} == {"02"}
    assert read(DOMAINS["endpoints"], dana, world.trial, f) == []
    assert len(read(DOMAINS["escalation_decisions"], dana, world.trial, f)) == EscalationDecision.objects.count()  # trial-wide


def test_the_level_filter_keeps_patients_enrolled_at_that_level(world, dana):
    f = Filters(level=2)
    assert [r["study_id"] for r in read(DOMAINS["patients"], dana, world.trial, f)] == [world.p4.study_id]
    assert {r["study_id"] for r in read(DOMAINS["cycles"], dana, world.trial, f)} == {world.p4.study_id}
    assert [r["study_id"] for r in read(DOMAINS["planned_doses"], dana, world.trial, Filters(level=1))] != []
    assert {r["dose_level"] for r in read(DOMAINS["escalation_decisions"], dana, world.trial, f)} == {"2"}
    assert {r["group"] for r in read(DOMAINS["endpoints"], dana, world.trial, Filters(level=1))} == {"level 1"}


def test_the_date_range_is_inclusive_on_each_domains_main_date(world, dana):
    f = Filters(date_from=day(1), date_to=day(10))
    cycles = read(DOMAINS["cycles"], dana, world.trial, f)
    assert {r["day1"] for r in cycles} == {C1.isoformat()}
    assert len(cycles) == 3
    labs = read(DOMAINS["labs"], dana, world.trial, f)
    assert {r["lab_date"] for r in labs} == {day(8).isoformat(), day(10).isoformat()}
    assert read(DOMAINS["labs"], dana, world.trial, Filters(date_from=day(11), date_to=day(18))) == []
    decisions = read(DOMAINS["escalation_decisions"], dana, world.trial, Filters(date_from=TODAY + timedelta(days=1)))
    assert decisions == []


def test_a_coordinator_would_only_get_their_own_site_and_cannot_export(world, alice):
    for name in ("patients", "cycles", "administrations", "adverse_events", "labs", "assessments", "responses"):
        assert {r["site"] for r in read(DOMAINS[name], alice, world.trial)} <= {"01"}, name
    assert {r["USUBJID"] for r in read(CDISC["DM"], alice, world.trial)} == {world.p1.study_id, world.p2.study_id, world.p5.study_id}
    assert read(DOMAINS["endpoints"], alice, world.trial) == []  # trial-wide aggregates
    with pytest.raises(PermissionDenied):
        services.export_stream(user=alice, trial=world.trial, domain=DOMAINS["patients"], filters=Filters())


def test_values_are_iso_dates_true_false_and_plain_decimals(world, dana):
    patient = next(r for r in read(DOMAINS["patients"], dana, world.trial) if r["study_id"] == world.p1.study_id)
    assert patient["consent_date"] == world.p1.consent_date.isoformat()
    assert patient["height_cm"] == "170.0"
    datetime.fromisoformat(patient["registered_at"])
    assert patient["registered_at"].endswith("+00:00")
    ae = read(DOMAINS["adverse_events"], dana, world.trial)
    assert {r["in_error"] for r in ae} == {"true", "false"}
    neutropenia = next(r for r in ae if r["meddra_code"] == meddra("Neutrophil count decreased"))
    assert (neutropenia["term"], neutropenia["soc"], neutropenia["attribution_pomalidomide"]) == ("Neutrophil count decreased", "Investigations", "probable")


# ---------------------------------------------------------------- the log and the zip job


def test_a_streamed_export_is_logged_with_its_row_count_once_complete(world, dana):
    log, chunks = services.export_stream(user=dana, trial=world.trial, domain=DOMAINS["labs"], filters=Filters(site="01"))
    assert (log.status, log.format, log.domains, log.filters["site"]) == ("running", "csv", ["labs"], "01")
    text = "".join(chunks)
    log.refresh_from_db()
    assert (log.status, log.row_counts) == ("done", {"labs.csv": 2})
    assert len(text.strip().splitlines()) == 3


@pytest.mark.parametrize("cdisc", [False, True])
def test_the_zip_job_writes_every_file_a_dictionary_and_a_readme(world, dana, settings, tmp_path, django_capture_on_commit_callbacks, cdisc):
    settings.TRIALSITE_EXPORT_DIR = str(tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        log = services.export_zip_start(user=dana, trial=world.trial, filters=Filters(), cdisc=cdisc)
    log.refresh_from_db()
    assert (log.status, log.progress_done, log.progress_total) == ("done", log.progress_total, len(DOMAINS) + (len(CDISC) if cdisc else 0))
    domains = [*DOMAINS.values(), *(CDISC.values() if cdisc else ())]
    with zipfile.ZipFile(log.file_path) as zf:
        assert sorted(zf.namelist()) == sorted([d.file_name for d in domains] + ["data_dictionary.csv", "README.txt"])
        dictionary = list(csv.DictReader(io.TextIOWrapper(zf.open("data_dictionary.csv"), encoding="utf-8")))
        for d in domains:
            rows = list(csv.reader(io.TextIOWrapper(zf.open(d.file_name), encoding="utf-8")))
            assert [e["name"] for e in dictionary if e["file"] == d.file_name] == rows[0]
            assert log.row_counts[d.file_name] == len(rows) - 1
        readme = zf.read("README.txt").decode()
    assert f"Protocol version: {world.trial.protocol_version}" in readme
    assert "(dana, Data manager)" in readme
    assert "Filters: none" in readme
    assert f"patients.csv ({Patient.objects.count()} rows)" in readme
    assert ("SDTM" in readme) is cdisc
    assert log.row_counts["patients.csv"] == Patient.objects.count()


def test_the_zip_task_is_idempotent_and_quiet_when_the_log_is_gone(world, dana, settings, tmp_path, django_capture_on_commit_callbacks):
    from datamanagement.tasks import export_zip

    settings.TRIALSITE_EXPORT_DIR = str(tmp_path)
    with django_capture_on_commit_callbacks(execute=True):
        log = services.export_zip_start(user=dana, trial=world.trial, filters=Filters(level=1))
    log.refresh_from_db()
    finished = log.finished_at
    assert export_zip.delay(log.pk).get()["status"] == "done"
    log.refresh_from_db()
    assert log.finished_at == finished  # not rebuilt
    assert export_zip.delay(10**9).get() == {"log": 10**9, "status": "gone"}
    assert ExportLog.objects.filter(user=dana).count() == 1


# ---------------------------------------------------------------- a worker that dies mid-zip: heartbeat, reaper, retry


def queued_zip(user, trial, *, cdisc=False, filters=None):
    """A zip job as export_zip_start leaves it, its task not run."""
    return services.export_zip_start(user=user, trial=trial, filters=filters or Filters(), cdisc=cdisc)


def as_if_running(log, *, heartbeat_at):
    """The job as a worker leaves it when it dies mid-build: running, its last heartbeat, a .part file."""
    ExportLog.objects.filter(pk=log.pk).update(status="running", heartbeat_at=heartbeat_at, progress_done=3)
    part = services._part_path(log)
    part.write_bytes(b"PK half a zip")
    log.refresh_from_db()
    return part


def test_a_running_zip_whose_heartbeat_stopped_for_five_minutes_is_failed_and_its_part_file_deleted(trial, dana, settings, tmp_path, time_machine):
    settings.TRIALSITE_EXPORT_DIR = str(tmp_path)
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    dead, alive, queued = queued_zip(dana, trial), queued_zip(dana, trial), queued_zip(dana, trial)
    dead_part = as_if_running(dead, heartbeat_at=start)
    time_machine.move_to(start + timedelta(minutes=4), tick=False)
    alive_part = as_if_running(alive, heartbeat_at=timezone.now())
    time_machine.move_to(start + timedelta(minutes=5) - timedelta(seconds=1), tick=False)
    assert services.export_zip_reap() == []
    time_machine.move_to(start + timedelta(minutes=5, seconds=1), tick=False)
    assert services.export_zip_reap() == [dead.pk]
    dead.refresh_from_db()
    assert (dead.status, dead.message, dead.finished_at) == ("failed", "the worker stopped while building this export", timezone.now())
    assert not dead_part.exists()
    assert alive_part.exists()
    assert ExportLog.objects.get(pk=alive.pk).status == "running"
    assert ExportLog.objects.get(pk=queued.pk).status == "queued"  # not started: nothing to reap
    assert services.export_zip_reap() == []


def test_the_reap_exports_task_fails_stale_jobs(trial, dana, settings, tmp_path, time_machine):
    from datamanagement.tasks import reap_exports

    settings.TRIALSITE_EXPORT_DIR = str(tmp_path)
    log = queued_zip(dana, trial)
    part = as_if_running(log, heartbeat_at=timezone.now())
    time_machine.move_to(timezone.now() + timedelta(minutes=10), tick=False)
    assert reap_exports.delay().get() == {"failed": [log.pk]}
    assert ExportLog.objects.get(pk=log.pk).status == "failed"
    assert not part.exists()


def test_a_failed_zip_is_retried_as_a_new_job_with_the_same_filters_and_datasets(world, dana, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.TRIALSITE_EXPORT_DIR = str(tmp_path)
    failed = queued_zip(dana, world.trial, cdisc=True, filters=Filters(site="01", level=1))
    ExportLog.objects.filter(pk=failed.pk).update(status="failed", message=services.REAPED_MESSAGE)
    failed.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        retry = services.export_zip_retry(user=dana, log=failed)
    retry.refresh_from_db()
    assert retry.pk != failed.pk
    assert (retry.status, retry.format, retry.filters, retry.domains) == ("done", "zip_cdisc", failed.filters, failed.domains)
    assert zipfile.ZipFile(retry.file_path).testzip() is None
    assert ExportLog.objects.get(pk=failed.pk).status == "failed"


@pytest.mark.parametrize("status", ["queued", "running", "done"])
def test_only_a_failed_zip_can_be_retried(trial, dana, status):
    log = queued_zip(dana, trial)
    ExportLog.objects.filter(pk=log.pk).update(status=status)
    log.refresh_from_db()
    with pytest.raises(ValidationError):
        services.export_zip_retry(user=dana, log=log)
    csv_log, _chunks = services.export_stream(user=dana, trial=trial, domain=DOMAINS["labs"], filters=Filters())
    ExportLog.objects.filter(pk=csv_log.pk).update(status="failed")
    csv_log.refresh_from_db()
    with pytest.raises(ValidationError):
        services.export_zip_retry(user=dana, log=csv_log)
    assert ExportLog.objects.count() == 2


def test_a_job_found_running_is_built_again_from_scratch_without_its_stale_part_file(world, dana, settings, tmp_path):
    from datamanagement.tasks import export_zip

    settings.TRIALSITE_EXPORT_DIR = str(tmp_path)
    log = queued_zip(dana, world.trial)
    part = as_if_running(log, heartbeat_at=timezone.now() - timedelta(minutes=1))  # the message came back after its worker died
    assert export_zip.delay(log.pk).get()["status"] == "done"
    log.refresh_from_db()
    assert (log.progress_done, log.progress_total, log.row_counts["patients.csv"]) == (len(DOMAINS), len(DOMAINS), Patient.objects.count())
    assert zipfile.ZipFile(log.file_path).testzip() is None
    assert log.heartbeat_at is not None
    assert not part.exists()
    assert [p.name for p in tmp_path.iterdir()] == [f"{world.trial.code}-export-{log.pk}.zip"]


def test_the_message_of_a_reaped_job_coming_back_leaves_it_failed(trial, dana, settings, tmp_path):
    from datamanagement.tasks import export_zip

    settings.TRIALSITE_EXPORT_DIR = str(tmp_path)
    log = queued_zip(dana, trial)
    ExportLog.objects.filter(pk=log.pk).update(status="failed", message=services.REAPED_MESSAGE)
    assert export_zip.delay(log.pk).get()["status"] == "failed"
    assert ExportLog.objects.get(pk=log.pk).message == services.REAPED_MESSAGE
    assert list(tmp_path.iterdir()) == []


def test_a_build_the_reaper_failed_meanwhile_stops_and_keeps_no_file(world, dana, settings, tmp_path, monkeypatch):
    settings.TRIALSITE_EXPORT_DIR = str(tmp_path)
    log = queued_zip(dana, world.trial)
    file_done = services._Heartbeat.file_done

    def reaped_after_the_second_file(self, done, counts):
        if done == 2:
            ExportLog.objects.filter(pk=log.pk).update(status="failed", message=services.REAPED_MESSAGE)
        file_done(self, done, counts)

    monkeypatch.setattr(services._Heartbeat, "file_done", reaped_after_the_second_file)
    log = services.export_zip_build(log=ExportLog.objects.select_related("trial", "user").get(pk=log.pk))
    assert (log.status, log.message, log.file_path) == ("failed", services.REAPED_MESSAGE, "")
    assert list(tmp_path.iterdir()) == []


def test_the_heartbeat_beats_within_a_long_file(world, dana, settings, tmp_path, monkeypatch):
    settings.TRIALSITE_EXPORT_DIR = str(tmp_path)
    monkeypatch.setattr(services, "HEARTBEAT_EVERY", 0)  # every batch of rows
    beats = []
    beat = services._Heartbeat.beat
    monkeypatch.setattr(services._Heartbeat, "beat", lambda self, **progress: beats.append(progress) or beat(self, **progress))
    log = services.export_zip_build(log=ExportLog.objects.select_related("trial", "user").get(pk=queued_zip(dana, world.trial).pk))
    assert log.status == "done"
    assert len([b for b in beats if not b]) >= len([n for n in log.row_counts.values() if n])  # one per non-empty file at least
    assert len([b for b in beats if b]) == len(DOMAINS)  # and one with the progress after each file


def test_the_zip_task_survives_a_lost_worker_and_the_reaper_runs_every_minute(settings):
    from datamanagement.tasks import export_zip

    assert (export_zip.acks_late, export_zip.reject_on_worker_lost) == (True, True)
    schedule = settings.CELERY_BEAT_SCHEDULE["reap-exports"]
    assert schedule["task"] == "datamanagement.reap_exports"
    assert schedule["schedule"].is_due(timezone.now() - timedelta(minutes=1)).next <= 60
    # the broker hands a lost job back only after the longest zip could have finished, well after the reaper failed it
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] >= 10 * services.STALE_AFTER.total_seconds()


@pytest.mark.django_db(transaction=True)
def test_heartbeats_within_a_file_are_seen_by_other_connections_while_the_file_is_written(on_c1, dana, settings, tmp_path, monkeypatch):
    """On PostgreSQL a file's rows stream inside a transaction: the reaper must still see the heartbeat."""
    settings.TRIALSITE_EXPORT_DIR = str(tmp_path)
    monkeypatch.setattr(services, "HEARTBEAT_EVERY", 0)
    monkeypatch.setattr(engine, "write_csv", functools.partial(engine.write_csv, batch=1))  # a beat while rows are still to come
    log = ExportLog.objects.create(  # committed (other connections see it), its task not run
        trial=on_c1.trial, user=dana, created_at=timezone.now(), format="zip", domains=list(DOMAINS), filters=Filters().as_json(), progress_total=len(DOMAINS)
    )
    outside = connections.create_connection(DEFAULT_DB_ALIAS)

    def seen():
        with outside.cursor() as cursor:
            cursor.execute("SELECT heartbeat_at FROM datamanagement_exportlog WHERE id = %s", [log.pk])
            return cursor.fetchone()[0]

    rows, observed = services._Heartbeat.rows, []

    def watched(self, n):
        before = seen()
        rows(self, n)
        observed.append(seen() > before)

    monkeypatch.setattr(services._Heartbeat, "rows", watched)
    try:
        assert services.export_zip_build(log=ExportLog.objects.select_related("trial", "user").get(pk=log.pk)).status == "done"
    finally:
        outside.close()
    assert observed
    assert all(observed)


def test_a_job_the_reaper_failed_after_its_worker_read_it_is_not_started_again(trial, dana, settings, tmp_path):
    settings.TRIALSITE_EXPORT_DIR = str(tmp_path)
    read_by_the_worker = ExportLog.objects.select_related("trial", "user").get(pk=queued_zip(dana, trial).pk)
    ExportLog.objects.filter(pk=read_by_the_worker.pk).update(status="failed", message=services.REAPED_MESSAGE)
    log = services.export_zip_build(log=read_by_the_worker)  # the stale copy says queued: the guarded update refuses
    assert (log.status, log.message, log.file_path) == ("failed", services.REAPED_MESSAGE, "")
    assert list(tmp_path.iterdir()) == []


def test_a_streamed_csv_the_reaper_failed_meanwhile_stays_failed(trial, dana):
    log, chunks = services.export_stream(user=dana, trial=trial, domain=DOMAINS["labs"], filters=Filters())
    ExportLog.objects.filter(pk=log.pk).update(status="failed", message=services.REAPED_MESSAGE)
    assert "".join(chunks)  # the download itself is whole
    log.refresh_from_db()
    assert (log.status, log.row_counts, log.finished_at) == ("failed", {}, None)
