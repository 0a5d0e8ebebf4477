"""Demo and synthetic data: deterministic, consistent with the services' rules."""

from collections import Counter
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from cohorts.models import Enrolment, Patient, Trial
from dosing.models import Administration, Cycle, PlannedDose
from response.models import EndpointSnapshot, FollowUp, MyelomaAssessment, ResponseResult
from response.services import response_compute_many
from toxicity import ctcae
from toxicity.ctcae import shipped
from toxicity.models import AdverseEvent, DltEvaluation, DltProposal, LabResult
from toxicity.services import dlt_evaluate_many

pytestmark = pytest.mark.django_db


def test_demo_prints_passwords_once_and_is_idempotent():
    out = StringIO()
    call_command("seed_demo", demo=True, stdout=out)
    text = out.getvalue()
    assert "coord01" in text
    assert "passwords shown once" in text
    assert User.objects.filter(username__in=["coord01", "coord02", "investigator", "datamanager", "monitor", "admin"]).count() == 6
    assert Patient.objects.count() == 5
    assert Enrolment.objects.count() == 2
    assert Cycle.objects.count() == 2
    again = StringIO()
    call_command("seed_demo", demo=True, stdout=again)
    assert "coord01" not in again.getvalue()
    assert Patient.objects.count() == 5


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


def test_demo_toxicity_leaves_an_h2_proposal_for_review_entered_by_the_site_coordinator():
    call_command("seed_demo", demo=True, stdout=StringIO())
    jd = Patient.objects.get(initials="JD")
    proposals = list(DltProposal.objects.all())
    assert [(p.patient_id, p.rule, p.status) for p in proposals] == [(jd.pk, "H2", DltProposal.Status.PROPOSED)]
    assert "for 9 days" in proposals[0].sentence
    assert "G-CSF given" in proposals[0].sentence
    grade4 = AdverseEvent.objects.get(patient=jd, grade=4)
    assert grade4.supportive == ["gcsf"]
    assert grade4.history.first().history_user.username == "coord01"
    assert set(LabResult.objects.values_list("entered_by__username", flat=True)) == {"coord01", "coord02"}
    counts = (AdverseEvent.objects.count(), LabResult.objects.count(), DltProposal.objects.count(), DltEvaluation.objects.count())
    call_command("seed_demo", demo=True, stdout=StringIO())
    assert (AdverseEvent.objects.count(), LabResult.objects.count(), DltProposal.objects.count(), DltEvaluation.objects.count()) == counts


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


def test_demo_response_gives_jd_a_confirmed_pr_entered_by_the_site_coordinator():
    call_command("seed_demo", demo=True, stdout=StringIO())
    jd = Patient.objects.get(initials="JD")
    assessments = list(MyelomaAssessment.objects.filter(patient=jd).order_by("on"))
    assert len(assessments) == 3
    assert {a.history.first().history_user.username for a in assessments} == {"coord01"}
    result = ResponseResult.objects.get(patient=jd)
    assert (result.driver, result.best, result.best_on) == ("spep", "PR", assessments[1].on)
    assert result.confirmed == [["PR", assessments[1].on.isoformat()]]
    snapshot = EndpointSnapshot.objects.filter(trial=jd.trial).latest()
    assert snapshot.data["overall"]["initial_response_rate"]["n"] == 1
    assert snapshot.data["overall"]["best_response"]["PR"] == 1
    counts = (MyelomaAssessment.objects.count(), ResponseResult.objects.count(), EndpointSnapshot.objects.count())
    call_command("seed_demo", demo=True, stdout=StringIO())
    assert (MyelomaAssessment.objects.count(), ResponseResult.objects.count(), EndpointSnapshot.objects.count()) == counts


def test_assessments_need_cycles():
    with pytest.raises(CommandError, match="--assessments needs"):
        call_command("seed_demo", patients=5, assessments=20, stdout=StringIO())
