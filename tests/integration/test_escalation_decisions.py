"""The 3+3 engine as a service on the trial's DLT-flagged events, and the investigators' signatures."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from cohorts.models import Cohort
from cohorts.services import patient_enroll
from escalation.models import EscalationDecision
from escalation.selectors import escalation_state
from escalation.services import decision_reject, decision_sign, escalation_reevaluate
from tests.factories import PASSWORD, propose_h2, register_patient, treat_patient
from toxicity.ctcae import meddra
from toxicity.models import DltEvaluation, DltProposal
from toxicity.services import ae_record, dlt_confirm, dlt_evaluate_many, dlt_reject, lab_record

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=90)
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}


def day(n):
    return C1 + timedelta(days=n - 1)


def treat(trial, site, by, *, cycle2=True):
    return treat_patient(trial, site, by, day1=C1, cycle2_after=28 if cycle2 else None)


@pytest.fixture
def cohort1(trial, site_a, alice):
    patients = [treat(trial, site_a, alice) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in patients])
    return patients


def h2(patient, by):
    return propose_h2(patient, by)


def test_three_patients_without_dlt_propose_escalation_and_a_signature_opens_level_2(trial, cohort1, ivan, alice, site_a):
    decision = escalation_reevaluate(trial=trial)[0]
    assert (decision.action, decision.level.label, decision.rule, decision.status) == ("escalate", 2, "E0of3", "proposed")
    assert [p["outcome"] for p in decision.tally[0]["patients"]] == ["no_dlt"] * 3
    assert escalation_reevaluate(trial=trial)[0].pk == decision.pk  # idempotent
    signed = decision_sign(decision=decision, by=ivan, password=PASSWORD)
    assert (signed.status, signed.signed_by, signed.signature_meaning) == ("signed", ivan, "I approve: 0 DLTs in 3 at level 1: escalate to level 2.")
    cohort = Cohort.objects.get(trial=trial, status="open")
    assert (cohort.level.label, cohort.capacity, cohort.number) == (2, 3, 2)
    newcomer = register_patient(trial, site_a, alice)
    assert patient_enroll(patient=newcomer, by=alice).level.label == 2


def test_a_confirmed_dlt_expands_the_level(trial, cohort1, ivan, alice):
    proposal = h2(cohort1[0], alice)
    pending = escalation_reevaluate(trial=trial)[0]
    assert (pending.action, pending.rule) == ("wait", "WAIT")  # the proposal awaits adjudication
    assert "awaits adjudication" in str(pending.tally)
    dlt_confirm(proposal=proposal, by=ivan, password=PASSWORD)
    decision = escalation_reevaluate(trial=trial)[0]
    assert (decision.action, decision.level.label, decision.rule) == ("expand", 1, "E1of3")
    assert EscalationDecision.objects.get(pk=pending.pk).status == "superseded"


def test_a_rejected_proposal_leaves_the_patient_without_dlt(trial, cohort1, ivan, alice):
    """The rules still flag the window, but the investigator has decided it is not a DLT: the patient counts
    as evaluable without a DLT (not "pending" for ever) and the level escalates."""
    proposal = h2(cohort1[0], alice)
    assert escalation_reevaluate(trial=trial)[0].action == "wait"
    dlt_reject(proposal=proposal, by=ivan, password=PASSWORD, reason="G-CSF given prophylactically; neutropenia expected")
    decision = escalation_reevaluate(trial=trial)[0]
    assert (decision.action, decision.rule) == ("escalate", "E0of3")
    assert [p["outcome"] for p in decision.tally[0]["patients"]] == ["no_dlt"] * 3


def test_signing_needs_the_investigators_own_password_and_role(trial, cohort1, ivan, alice):
    decision = escalation_reevaluate(trial=trial)[0]
    with pytest.raises(ValidationError) as info:
        decision_sign(decision=decision, by=ivan, password="wrong")
    assert "password is not correct" in info.value.message_dict["password"][0]
    with pytest.raises(PermissionDenied):
        decision_sign(decision=decision, by=alice, password=PASSWORD)
    decision.refresh_from_db()
    assert decision.status == "proposed"
    assert Cohort.objects.get(trial=trial, status="open").level.label == 1


def test_a_wait_cannot_be_signed_and_a_rejection_needs_a_reason(trial, cohort1, alice, ivan):
    h2(cohort1[0], alice)
    waiting = escalation_reevaluate(trial=trial)[0]
    assert waiting.action == "wait"
    with pytest.raises(ValidationError) as info:
        decision_sign(decision=waiting, by=ivan, password=PASSWORD)
    assert "nothing to sign yet" in info.value.messages[0]
    with pytest.raises(ValidationError) as info:
        decision_reject(decision=waiting, by=ivan, password="wrong", reason="")
    assert set(info.value.message_dict) == {"password", "reason"}
    decision_reject(decision=waiting, by=ivan, password=PASSWORD, reason="waiting for the safety committee")
    waiting.refresh_from_db()
    assert waiting.status == "rejected"


def test_a_change_to_a_dlt_behind_a_signed_decision_marks_it_for_re_review(trial, cohort1, ivan, alice):
    proposal = h2(cohort1[0], alice)
    dlt_confirm(proposal=proposal, by=ivan, password=PASSWORD)
    decision = decision_sign(decision=escalation_reevaluate(trial=trial)[0], by=ivan, password=PASSWORD)
    lab_record(patient=cohort1[0], by=alice, on=day(19), anc="2.0", reason_for_change="transcription error")
    assert escalation_reevaluate(trial=trial)[1] == 1
    decision.refresh_from_db()
    assert decision.needs_review
    assert "changed after it was signed" in decision.review_note
    assert (decision.status, decision.action) == ("signed", "expand")  # the signed content itself is unchanged


def test_state_lists_each_patient_with_window_and_outcome(trial, cohort1):
    state = escalation_state(trial)
    assert [(p.level, p.outcome.value) for p in state.patients] == [("1", "no_dlt")] * 3
    assert state.decision.action == "escalate"


def test_after_signing_the_open_cohort_carries_the_decision_out_and_nothing_new_needs_a_signature(trial, cohort1, ivan, alice, site_a):
    decision_sign(decision=escalation_reevaluate(trial=trial)[0], by=ivan, password=PASSWORD)
    newcomer = register_patient(trial, site_a, alice)
    patient_enroll(patient=newcomer, by=alice)
    assert escalation_reevaluate(trial=trial)[0] is None  # level 2 needs 2 more: the open cohort has them
    assert escalation_state(trial).decision.reason.startswith("Level 2 needs 2 more patient(s)")
    assert not EscalationDecision.objects.filter(status="proposed").exists()


def test_a_signed_decision_cannot_be_changed(trial, cohort1, ivan):
    decision = decision_sign(decision=escalation_reevaluate(trial=trial)[0], by=ivan, password=PASSWORD)
    decision.reason = "something else"
    with pytest.raises(ValueError, match="signed and cannot be changed"):
        decision.save()
    decision.refresh_from_db()
    decision.needs_review = True  # the re-review flag is not the signed content
    decision.save()


def test_a_patient_without_a_stored_evaluation_is_pending(trial, site_a, alice):
    """The engine reads only stored facts: before the DLT evaluation has run, a patient counts as pending."""
    started = treat(trial, site_a, alice)
    waiting = register_patient(trial, site_a, alice)
    patient_enroll(patient=waiting, by=alice)
    rows = {p.study_id: (p.outcome.value, p.why) for p in escalation_state(trial).patients}
    assert rows == {started.study_id: ("pending", "DLT evaluation pending"), waiting.study_id: ("pending", "cycle 1 not started")}
    dlt_evaluate_many([started.pk])
    assert escalation_state(trial).patients[0].outcome.value == "no_dlt"


def test_the_evaluation_stores_the_window_without_the_proposals(trial, cohort1, alice):
    """With a proposal the rules say "evaluable: DLT proposed"; the window alone is what counts once it is rejected."""
    h2(cohort1[0], alice)
    evaluation = DltEvaluation.objects.get(patient=cohort1[0])
    assert (evaluation.status, evaluation.reason.startswith("DLT proposed")) == ("evaluable", True)
    assert (evaluation.window_status, evaluation.window_end) == ("evaluable", C1 + timedelta(days=trial.dlt_window_days - 1))
    assert evaluation.window_reason.startswith("Cycle 1 complete")


def test_a_rejected_proposal_in_an_open_window_leaves_the_patient_pending_until_the_window_ends(trial, site_a, alice, ivan):
    recent = TODAY - timedelta(days=20)
    patient = treat_patient(trial, site_a, alice, day1=recent, cycle2_after=None)
    ae_record(
        patient=patient,
        by=alice,
        term=meddra("Neutrophil count decreased"),
        grade=4,
        onset=recent + timedelta(days=2),
        resolved=recent + timedelta(days=11),
        outcome="recovered",
        attribution=RELATED,
        supportive=["gcsf"],
    )
    for n, anc in ((2, "0.4"), (11, "0.9")):
        lab_record(patient=patient, by=alice, on=recent + timedelta(days=n), anc=anc)
    dlt_evaluate_many([patient.pk])
    dlt_reject(proposal=DltProposal.objects.get(patient=patient, rule="H2"), by=ivan, password=PASSWORD, reason="expected with G-CSF prophylaxis")
    row = escalation_state(trial).patients[0]
    evaluation = DltEvaluation.objects.get(patient=patient)
    assert (row.outcome.value, row.until) == ("pending", evaluation.window_until)
    assert evaluation.window_until > TODAY
    assert row.window_end == recent + timedelta(days=trial.dlt_window_days - 1)


def test_only_the_current_proposal_is_signed_or_rejected_and_each_outcome_is_final(trial, cohort1, ivan, alice):
    rejected = escalation_reevaluate(trial=trial)[0]
    decision_reject(decision=rejected, by=ivan, password=PASSWORD, reason="waiting for the safety committee")
    with pytest.raises(ValidationError) as info:
        decision_sign(decision=rejected, by=ivan, password=PASSWORD)
    assert info.value.messages == ["This decision is rejected: only the current proposal can be signed."]
    with pytest.raises(ValidationError) as info:
        decision_reject(decision=rejected, by=ivan, password=PASSWORD, reason="twice")
    assert info.value.messages == ["This decision is rejected."]
    superseded = EscalationDecision.objects.create(
        trial=trial, action="escalate", rule="E0of3", reason="old data", inputs_digest="old", proposed_at=timezone.now() - timedelta(days=1)
    )
    signed = escalation_reevaluate(trial=trial)[0]  # supersedes the proposal whose data changed
    assert EscalationDecision.objects.get(pk=superseded.pk).status == "superseded"
    with pytest.raises(ValidationError) as info:
        decision_sign(decision=superseded, by=ivan, password=PASSWORD)
    assert info.value.messages == ["This decision is superseded by a newer proposal: only the current proposal can be signed."]
    decision_sign(decision=signed, by=ivan, password=PASSWORD)
    with pytest.raises(ValidationError) as info:
        decision_reject(decision=signed, by=ivan, password=PASSWORD, reason="second thoughts")
    assert info.value.messages == ["This decision is signed."]
    assert [d.status for d in EscalationDecision.objects.filter(pk__in=[rejected.pk, superseded.pk, signed.pk]).order_by("pk")] == [
        "rejected",
        "superseded",
        "signed",
    ]
    closed = Cohort.objects.get(trial=trial, number=1)
    assert (closed.status, closed.history.first().history_change_reason) == ("closed", "Closed by the signed decision: escalate")
