"""Demo and synthetic data: the demo trial written through the services, synthetic data deterministic and within the rules."""

from collections import Counter
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from cohorts.models import Cohort, Enrolment, Patient, Trial
from datamanagement.models import DataQuery
from dosing.models import Administration, Cycle, DoseModification, PlannedDose
from escalation.models import EscalationDecision
from escalation.services import escalation_reevaluate
from pipeline.flow import nightly
from response.models import EndpointSnapshot, FollowUp, MyelomaAssessment, ResponseResult
from response.services import endpoints_compute, response_compute_many
from toxicity import ctcae
from toxicity.ctcae import shipped
from toxicity.models import AdverseEvent, Dlt, DltEvaluation, DltProposal, LabResult
from toxicity.services import dlt_evaluate_many
from trialsite.models import Change

pytestmark = pytest.mark.django_db


def test_synthetic_data_is_deterministic_and_within_the_rules():
    call_command("seed_demo", patients=40, seed=7, synthetic="SYN", cycles=3, stdout=StringIO())
    trial = Trial.objects.get(code="SYN")
    first = list(Patient.objects.filter(trial=trial).order_by("study_id").values_list("initials", "date_of_birth", "status"))
    assert Enrolment.objects.filter(cohort__trial=trial).count() == 40
    for cycle in Cycle.objects.filter(patient__trial=trial).select_related("patient__enrolment"):
        assert cycle.day1 > cycle.patient.enrolment.enrolled_on
    assert PlannedDose.objects.filter(cycle__patient__trial=trial).count() >= Administration.objects.filter(cycle__patient__trial=trial).count() > 0
    assert not Administration.objects.exclude(dose_mg=F("planned__dose_mg")).exists()
    # The same seed in another synthetic trial gives the same patients.
    call_command("seed_demo", patients=40, seed=7, synthetic="SYM", cycles=0, stdout=StringIO())
    second = list(Patient.objects.filter(trial__code="SYM").order_by("study_id").values_list("initials", "date_of_birth", "status"))
    assert first == second


def _toxicity_snapshot(code: str) -> tuple[list, list]:
    labs = LabResult.objects.filter(patient__trial__code=code).order_by("patient__site__number", "patient__site_sequence", "on")
    events = AdverseEvent.objects.filter(patient__trial__code=code).order_by("patient__site__number", "patient__site_sequence", "onset", "term", "grade")
    return (
        list(labs.values_list("patient__site_sequence", "on", "anc", "platelets", "hemoglobin", "wbc", "temperature")),
        list(events.values_list("patient__site_sequence", "term", "grade", "onset", "resolved", "attribution", "supportive", "serious")),
    )


def test_synthetic_toxicity_is_deterministic_and_proposes_dlts_for_some_patients_only():
    call_command("seed_demo", patients=60, seed=5, synthetic="SYT", cycles=1, toxicity=True, stdout=StringIO())
    call_command("seed_demo", patients=60, seed=5, synthetic="SYU", cycles=1, toxicity=True, stdout=StringIO())
    labs, events = _toxicity_snapshot("SYT")
    assert (labs, events) == _toxicity_snapshot("SYU")
    assert len(labs) >= 4 * 50
    assert events
    drugs = set(Trial.objects.get(code="SYT").drugs.values_list("code", flat=True))
    for _, term, grade, onset, resolved, attribution, _, _ in events:
        ctcae.check_grade(shipped("5.0").term(term), grade)
        assert resolved is None or resolved >= onset
        assert set(attribution) == drugs
    ids = list(Patient.objects.filter(trial__code="SYT").values_list("pk", flat=True))
    stats = dlt_evaluate_many(ids, today=timezone.localdate())
    with_proposal = DltProposal.objects.filter(patient_id__in=ids).values("patient_id").distinct().count()
    assert 0 < with_proposal < stats["patients"]
    assert dlt_evaluate_many(ids, today=timezone.localdate())["changed"] == 0


def test_toxicity_needs_cycles():
    with pytest.raises(CommandError, match="--toxicity needs"):
        call_command("seed_demo", patients=5, toxicity=True, stdout=StringIO())


def _assessment_snapshot(code: str) -> tuple[list, list]:
    assessments = MyelomaAssessment.objects.filter(patient__trial__code=code).order_by("patient__site__number", "patient__site_sequence", "on")
    follow = FollowUp.objects.filter(patient__trial__code=code).order_by("patient__site__number", "patient__site_sequence")
    fields = ("spep", "serum_ife", "serum_isotype", "upep", "urine_ife", "kappa", "lambda_flc", "marrow_pc", "marrow_clonal", "plasmacytoma")
    return (
        list(assessments.values_list("patient__site_sequence", "on", *fields, "plasmacytoma_size", "new_lesions")),
        list(follow.values_list("patient__site_sequence", "death_on", "death_cause", "next_therapy_on", "next_therapy_regimen", "last_contact_on")),
    )


def test_synthetic_assessments_are_deterministic_within_the_constraints_and_give_varied_best_responses():
    options = {"patients": 80, "seed": 4, "cycles": 2, "assessments": 20, "span_days": 700, "stdout": StringIO()}
    call_command("seed_demo", synthetic="SYA", **options)
    call_command("seed_demo", synthetic="SYB", **options)
    assessments, follow = _assessment_snapshot("SYA")
    assert (assessments, follow) == _assessment_snapshot("SYB")
    today = timezone.localdate()
    day1 = dict(Cycle.objects.filter(patient__trial__code="SYA", number=1).values_list("patient_id", "day1"))
    rows = MyelomaAssessment.objects.filter(patient__trial__code="SYA").select_related("patient")
    by_patient: dict[int, list] = {}
    for a in rows:
        by_patient.setdefault(a.patient_id, []).append(a)
        assert a.patient.consent_date <= a.on <= today
        for value in (a.spep, a.upep, a.kappa, a.lambda_flc, a.marrow_pc, a.plasmacytoma_size):
            assert value is None or value >= 0
        assert a.marrow_pc is None or a.marrow_pc <= 100
        assert a.plasmacytoma_size is None or a.plasmacytoma
        a.clean_fields(exclude=["patient", "entered_by"])  # digits and decimal places; the database checked its constraints
    assert set(by_patient) == set(day1)  # every patient with cycle 1, and only those
    for pid, course in by_patient.items():
        dates = sorted(a.on for a in course)
        assert len(dates) == len(set(dates)) <= 20
        assert dates[0] < day1[pid]  # the baseline, a few days before cycle 1 day 1
        assert all(on > day1[pid] for on in dates[1:])
    assert max(len(c) for c in by_patient.values()) == 20
    for f in FollowUp.objects.filter(patient__trial__code="SYA").select_related("patient"):
        dates = [d for d in (f.death_on, f.next_therapy_on, f.last_contact_on) if d is not None]
        assert dates
        assert all(f.patient.consent_date <= d <= today for d in dates)
        assert f.death_on is None or (f.death_cause and f.last_contact_on <= f.death_on)
        assert f.next_therapy_on is None or f.next_therapy_regimen
    stats = response_compute_many(day1)
    assert stats["patients"] == len(day1)
    results = ResponseResult.objects.filter(patient_id__in=day1)
    assert {"spep", "upep", "dflc"} <= set(results.values_list("driver", flat=True))
    best = Counter(results.values_list("best", flat=True))
    assert sum(best[c] for c in ("sCR", "CR", "VGPR", "PR")) >= 10
    assert best["sCR"] + best["CR"] > 0
    assert best["PD"] > 0
    assert best["SD"] + best["MR"] > 0
    assert results.exclude(progression_on=None).count() > best["PD"]  # some progress after a response
    assert response_compute_many(day1)["changed"] == 0


def test_assessments_need_cycles():
    with pytest.raises(CommandError, match="--assessments needs"):
        call_command("seed_demo", patients=5, assessments=20, stdout=StringIO())


# ---------------------------------------------------------------- the demo trial (seed_demo --demo)


DEMO_USERS = ["coord01", "coord02", "investigator", "datamanager", "monitor", "admin"]


@pytest.fixture(scope="class")
def demo(django_db_setup, django_db_blocker):
    """The demo trial, written once for the class (it takes seconds) and rolled back after it; the command's output."""
    with django_db_blocker.unblock(), transaction.atomic():
        out = StringIO()
        call_command("seed_demo", demo=True, stdout=out)
        yield out.getvalue()
        transaction.set_rollback(True)


def _derived() -> dict:
    """Every derived result the pipeline stores, as values."""
    return {
        "evaluations": list(
            DltEvaluation.objects.order_by("patient_id").values_list("patient_id", "status", "reason", "window_status", "window_until", "inputs_digest")
        ),
        "proposals": list(DltProposal.objects.order_by("pk").values_list("pk", "rule", "onset", "status", "sentence")),
        "decisions": list(EscalationDecision.objects.order_by("pk").values_list("pk", "status", "action", "level__label", "inputs_digest")),
        "responses": list(ResponseResult.objects.order_by("patient_id").values_list("patient_id", "best", "best_on", "progression_on", "confirmed", "digest")),
        "endpoints": EndpointSnapshot.objects.filter(trial__code="BPD").latest().data,
    }


@pytest.mark.usefixtures("demo")
class TestDemoTrial:
    def test_twenty_patients_at_two_sites_twelve_enrolled_and_the_users_printed_once(self, demo):
        assert "passwords shown once" in demo
        assert all(name in demo for name in DEMO_USERS)
        assert User.objects.filter(username__in=DEMO_USERS).count() == 6
        patients = Patient.objects.filter(trial__code="BPD")
        assert patients.count() == 20
        assert dict(Counter(patients.values_list("site__number", flat=True))) == {"01": 11, "02": 9}
        statuses = Counter(patients.values_list("status", flat=True))
        assert statuses == {"on_treatment": 10, "off_treatment": 2, "off_study": 5, "screening": 3}
        assert set(patients.filter(status="off_study").values_list("status_reason", flat=True)) == {"screen_failure"}
        assert sorted(Counter(Enrolment.objects.values_list("level__label", flat=True)).items()) == [(1, 3), (2, 6), (3, 3)]

    def test_levels_1_2_3_by_the_engines_proposals_signed_by_the_investigator(self):
        signed = EscalationDecision.objects.filter(status="signed").order_by("signed_at", "pk")
        assert [(d.action, d.level.label, d.rule) for d in signed] == [("escalate", 2, "E0of3"), ("expand", 2, "E1of3"), ("escalate", 3, "E1of6")]
        assert {d.signed_by.username for d in signed} == {"investigator"}
        cohorts = list(Cohort.objects.filter(trial__code="BPD").order_by("number"))
        assert [(c.level.label, c.status) for c in cohorts] == [(1, "closed"), (2, "closed"), (2, "closed"), (3, "open")]
        today = timezone.localdate()
        assert [(today - c.opened_on).days for c in cohorts] == [181, 123, 81, 41]  # the trial opened, then the days the decisions were signed
        # Today level 3 is full and in its DLT window: the engine waits and names the patients.
        current = EscalationDecision.objects.get(status="proposed")
        assert (current.action, current.level.label) == ("wait", 3)
        assert "cohort is full" in current.reason

    def test_a_confirmed_dlt_at_level_2_and_a_proposal_awaiting_review_at_level_3(self):
        dlt = Dlt.objects.select_related("patient__enrolment__level", "confirmed_by").get()
        assert (dlt.rule, dlt.patient.enrolment.level.label, dlt.confirmed_by.username) == ("H1", 2, "investigator")
        assert dlt.proposal.status == "confirmed"
        waiting = DltProposal.objects.select_related("patient__enrolment__level").get(status="proposed")
        assert (waiting.rule, waiting.patient.enrolment.level.label) == ("H2", 3)
        assert "for 9 days" in waiting.sentence
        today = timezone.localdate()
        level3 = DltEvaluation.objects.filter(patient__enrolment__level__label=3)
        assert level3.count() == 3
        assert all(e.window_end >= today for e in level3)  # in the DLT window today
        assert set(level3.values_list("window_status", flat=True)) == {"pending"}
        reduced = DoseModification.objects.get()  # after the DLT the patient continues one level lower
        assert (reduced.patient_id, reduced.kind, reduced.to_level.label, reduced.in_cycle_1) == (dlt.patient_id, "reduce_level", 1, False)

    def test_responses_of_several_categories_and_progressions_from_the_assessments(self):
        best = Counter(ResponseResult.objects.values_list("best", flat=True))
        assert {"CR", "VGPR", "PR", "MR", "SD", "PD"} <= set(best)
        progressed = ResponseResult.objects.exclude(progression_on=None).select_related("patient")
        assert sorted(r.best for r in progressed) == ["PD", "PR"]  # a primary progression, and a PR that progressed
        assert {r.patient.status for r in progressed} == {"off_treatment"}
        assert FollowUp.objects.exclude(next_therapy_on=None).count() == 2  # both started a next line
        assert Administration.objects.count() > 900
        assert MyelomaAssessment.objects.count() >= 40  # 44
        snapshot = EndpointSnapshot.objects.filter(trial__code="BPD").latest()
        assert snapshot.data["overall"]["best_response"]["CR"] == 1

    def test_queries_raised_by_the_data_manager_answered_by_the_sites_and_a_locked_cycle(self):
        queries = DataQuery.objects.select_related("raised_by", "answered_by", "patient__site")
        assert Counter(q.status for q in queries) == {"open": 3, "answered": 1, "closed": 1}
        assert {q.raised_by.username for q in queries} == {"datamanager"}
        for q in queries.exclude(status="open"):
            assert q.answered_by.site == q.patient.site
        assert {q.patient.site.number for q in queries.filter(status="open")} == {"01", "02"}
        locked = Cycle.objects.exclude(locked_at=None).select_related("locked_by", "patient")
        assert [(c.patient.study_id, c.number, c.locked_by.username) for c in locked] == [("BPD-01-001", 1, "datamanager")]

    def test_clinical_data_entered_by_each_patients_site_coordinator(self):
        for model in (LabResult, AdverseEvent, MyelomaAssessment):
            for row in model.objects.select_related("patient__site", "entered_by__site"):
                assert row.entered_by.site == row.patient.site

    def test_every_derived_result_equals_a_rerun_of_the_pipeline(self):
        assert not Change.objects.filter(done_at__isnull=True).exists()
        before = _derived()
        ids = list(Patient.objects.values_list("pk", flat=True))
        assert dlt_evaluate_many(ids)["changed"] == 0
        proposal, flagged = escalation_reevaluate(trial=Trial.objects.get(code="BPD"))
        assert (proposal.pk, flagged) == (before["decisions"][-1][0], 0)
        assert response_compute_many(ids)["changed"] == 0
        assert endpoints_compute(trial=Trial.objects.get(code="BPD")).data == before["endpoints"]
        nightly()
        assert _derived() == before

    def test_the_derived_results_rebuilt_from_nothing_are_the_stored_ones(self):
        before = _derived()
        ids = list(Patient.objects.values_list("pk", flat=True))
        DltEvaluation.objects.all().delete()
        ResponseResult.objects.all().delete()
        dlt_evaluate_many(ids)
        response_compute_many(ids)
        after = _derived()
        assert (after["evaluations"], after["responses"]) == (before["evaluations"], before["responses"])

    def test_a_rerun_writes_nothing_and_prints_no_password(self):
        counts = [m.objects.count() for m in (Patient, Administration, LabResult, Change, EscalationDecision, DataQuery)]
        out = StringIO()
        call_command("seed_demo", demo=True, stdout=out)
        assert "nothing written" in out.getvalue()
        assert "coord01" not in out.getvalue()
        assert [m.objects.count() for m in (Patient, Administration, LabResult, Change, EscalationDecision, DataQuery)] == counts


def test_the_demo_refuses_cleanly_when_its_users_exist_without_the_trial():
    call_command("seed_demo", stdout=StringIO())  # protocol and sites
    User.objects.create(username="investigator", role="investigator")
    with pytest.raises(CommandError, match="Start from an empty database"):
        call_command("seed_demo", demo=True, stdout=StringIO())
    assert not Patient.objects.exists()
    assert not User.objects.filter(username="coord01").exists()  # the users were rolled back with the trial
