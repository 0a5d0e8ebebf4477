"""Rule versions (toxicity.dlt.RULE_VERSION): an evaluation stored under another version is made again by the nightly
run, and a decided proposal the corrected rules change or no longer make is reopened, never silently changed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from escalation.selectors import escalation_state
from escalation.services import decision_sign, escalation_reevaluate
from pipeline import flow
from tests.factories import PASSWORD, treat_patient
from toxicity import dlt
from toxicity.ctcae import meddra
from toxicity.models import Dlt, DltEvaluation, DltProposal
from toxicity.selectors import dlt_windows, patients_in_window, patients_under_other_rules
from toxicity.services import ae_record, dlt_confirm, dlt_evaluate_many, dlt_reject, lab_record

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=90)
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}
CORRECTED = f"rules corrected (version {dlt.RULE_VERSION})"


def day(n):
    return C1 + timedelta(days=n - 1)


def h2(patient, by):
    ae_record(
        patient=patient,
        by=by,
        term=meddra("Neutrophil count decreased"),
        grade=4,
        onset=day(10),
        resolved=day(19),
        outcome="recovered",
        attribution=RELATED,
        supportive=["gcsf"],
    )
    for n, anc in ((10, "0.4"), (19, "0.9")):
        lab_record(patient=patient, by=by, on=day(n), anc=anc)
    dlt_evaluate_many([patient.pk], today=TODAY)
    return DltProposal.objects.get(patient=patient, rule="H2")


def as_version_1(**changes):
    """Every stored evaluation as rule version 1 left it (rows from before versions are version 1)."""
    DltEvaluation.objects.update(rule_version=1, **changes)


@pytest.fixture
def cohort(trial, site_a, alice):
    patients = [treat_patient(trial, site_a, alice, day1=C1) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in patients], today=TODAY)
    return patients


def test_the_rule_version_is_stored_with_each_evaluation(cohort):
    assert set(DltEvaluation.objects.values_list("rule_version", flat=True)) == {dlt.RULE_VERSION}
    assert list(patients_under_other_rules()) == []


def test_the_nightly_run_finds_final_evaluations_of_another_rule_version_in_one_query(cohort, django_assert_num_queries):
    assert list(patients_in_window(TODAY)) == []  # all final
    as_version_1()
    with django_assert_num_queries(1):
        found = list(patients_under_other_rules())
    assert found == [(p.pk, p.trial_id) for p in sorted(cohort, key=lambda p: p.pk)]


def test_a_corrected_rule_reopens_the_decided_proposals_it_changes_and_keeps_the_others(trial, cohort, alice, ivan):
    a, b, c = cohort
    kept, changed, rejected = h2(a, alice), h2(b, alice), h2(c, alice)
    dlt_confirm(proposal=kept, by=ivan, password=PASSWORD, reason="typical H2")
    dlt_confirm(proposal=changed, by=ivan, password=PASSWORD, reason="typical H2")
    dlt_reject(proposal=rejected, by=ivan, password=PASSWORD, reason="G-CSF prophylactic")
    decision = decision_sign(decision=escalation_reevaluate(trial=trial, today=TODAY)[0], by=ivan, password=PASSWORD)
    # What version 1 stored: b's H2 worded otherwise, c's H2 dated a day earlier (a key version 2 no longer makes).
    DltProposal.objects.filter(pk=changed.pk).update(sentence="ANC < 0.5 x10^9/L for 9 days (old wording).")
    DltProposal.objects.filter(pk=rejected.pk).update(onset=day(9), key=rejected.key.replace(day(10).isoformat(), day(9).isoformat()))
    # A bleeding attributed to progression with platelets < 50: version 1 proposed nothing, version 2 proposes H4.
    ae_record(
        patient=a, by=alice, term=meddra("Epistaxis"), grade=2, onset=day(12), resolved=day(13), outcome="recovered", attribution=RELATED, progression=True
    )
    lab_record(patient=a, by=alice, on=day(12), platelets="30")
    as_version_1()
    kept_history = kept.history.count()

    counts = flow.nightly(today=TODAY)

    assert counts["dlt patients"] == 3
    kept.refresh_from_db()
    assert (kept.status, kept.review_note, kept.history.count()) == ("confirmed", "", kept_history)  # unchanged: as it was
    changed.refresh_from_db()
    assert (changed.status, changed.review_note) == ("reopened", f"{CORRECTED}: its sentence changed.")
    assert changed.history.order_by("-history_id").first().history_change_reason == f"Reopened: {CORRECTED}: its sentence changed."
    assert "old wording" not in changed.sentence
    rejected.refresh_from_db()
    assert (rejected.status, rejected.review_note.startswith(f"{CORRECTED}: the rules no longer propose it")) == ("reopened", True)
    new = DltProposal.objects.filter(patient__in=[a, c], status="proposed").order_by("rule")
    assert [(p.patient_id, p.rule, p.onset) for p in new] == [(c.pk, "H2", day(10)), (a.pk, "H4", day(12))]
    assert set(DltEvaluation.objects.values_list("rule_version", flat=True)) == {dlt.RULE_VERSION}
    # The escalation engine as before: the reopened DLT flags the signed decision that counted it, the confirmed
    # DLT stays counted until reviewed, and open proposals keep their patients pending.
    decision.refresh_from_db()
    assert decision.needs_review
    assert str(Dlt.objects.get(proposal=changed).pk) in decision.review_note
    outcomes = {p.study_id: (p.outcome.value, p.why) for p in escalation_state(trial, today=TODAY).patients}
    assert outcomes[b.study_id][0] == "dlt"
    assert outcomes[c.study_id] == ("pending", "DLT proposal H2 awaits adjudication")
    # A second night: nothing left under another version, nothing written.
    assert list(patients_under_other_rules()) == []
    assert flow.nightly(today=TODAY).get("dlt patients", 0) == 0


def test_a_version_change_that_changes_nothing_only_stamps_the_new_version(cohort, alice, ivan):
    proposal = h2(cohort[0], alice)
    dlt_confirm(proposal=proposal, by=ivan, password=PASSWORD)
    as_version_1()
    rows = DltProposal.history.count()
    assert dlt_evaluate_many([p.pk for p in cohort], today=TODAY)["changed"] == 3
    assert DltProposal.history.count() == rows
    proposal.refresh_from_db()
    assert proposal.status == "confirmed"
    evaluation = DltEvaluation.objects.get(patient=cohort[0])
    assert (evaluation.rule_version, evaluation.history.first().history_change_reason) == (dlt.RULE_VERSION, f"DLT rules version {dlt.RULE_VERSION}: evaluable")
    assert dlt_evaluate_many([p.pk for p in cohort], today=TODAY)["changed"] == 0


def test_a_decision_the_new_rules_no_longer_propose_is_reopened_confirmed_or_rejected(cohort, alice, ivan):
    confirmed = h2(cohort[0], alice)
    dlt_confirm(proposal=confirmed, by=ivan, password=PASSWORD)
    DltProposal.objects.filter(pk=confirmed.pk).update(key="H1:2000-01-01:", rule="H1", onset=day(5))  # a proposal only version 1 made
    as_version_1()
    dlt_evaluate_many([cohort[0].pk], today=TODAY)
    confirmed.refresh_from_db()
    assert (confirmed.status, confirmed.review_note.startswith(CORRECTED)) == ("reopened", True)
    assert DltProposal.objects.get(patient=cohort[0], status="proposed").rule == "H2"


def test_the_window_builder_passes_events_that_began_before_cycle_1(cohort, alice):
    patient = cohort[0]
    before = ae_record(patient=patient, by=alice, term=meddra("Platelet count decreased"), grade=3, onset=C1 - timedelta(days=5), attribution=RELATED)
    for n, value in ((5, "20"), (14, "40")):
        lab_record(patient=patient, by=alice, on=day(n), platelets=value)
    assert before.pk in [e.id for e in dlt_windows([patient.pk])[patient.pk].events]
    dlt_evaluate_many([patient.pk], today=TODAY)
    proposal = DltProposal.objects.get(patient=patient)
    assert (proposal.rule, proposal.event_ids, proposal.attribution_recorded) == ("H3", [before.pk], True)
