"""Toxicity services on the database: adverse events, labs, DLT evaluation and adjudication."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from dosing.services import dose_modify, patient_off_treatment
from tests.factories import PASSWORD
from toxicity.ctcae import meddra
from toxicity.models import AdverseEvent, Dlt, DltEvaluation, DltProposal, LabResult
from toxicity.services import (
    ae_record,
    ae_retract,
    ae_update,
    dlt_confirm,
    dlt_evaluate_many,
    dlt_record_missed,
    dlt_reject,
    dlt_withdraw,
    lab_record,
)

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=390)
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}
UNRELATED = dict.fromkeys(RELATED, "unrelated")


def day(n):
    """Cycle 1 day n."""
    return C1 + timedelta(days=n - 1)


def neutropenia(patient, by, **kw):
    values = {
        "term": meddra("Neutrophil count decreased"),
        "grade": 4,
        "onset": day(10),
        "resolved": day(19),
        "outcome": "recovered",
        "attribution": RELATED,
        "supportive": ["gcsf"],
    }
    values.update(kw)
    return ae_record(patient=patient, by=by, **values)


def anc_series(patient, by, series):
    for n, value in series:
        lab_record(patient=patient, by=by, on=day(n), anc=value)


# ---------------------------------------------------------------- adverse events


def test_an_adverse_event_is_recorded_with_attribution_per_drug_and_history(on_c1, alice):
    ae = neutropenia(on_c1, alice)
    assert (ae.term, ae.grade, ae.attribution["pomalidomide"], ae.supportive) == (meddra("Neutrophil count decreased"), 4, "probable", ["gcsf"])
    assert ae.history.latest().history_change_reason == "Recorded: Neutrophil count decreased grade 4"
    assert ae.history.latest().history_user == alice


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"grade": 6}, "grade", "CTCAE grades are 1 to 5"),
        ({"term": meddra("Nausea"), "grade": 4}, "grade", "Nausea has no grade 4"),
        ({"term": "no_such_term"}, "term", "Unknown CTCAE v5.0 term"),
        ({"onset": day(10), "resolved": day(9)}, "resolved", "cannot be before the onset"),
        ({"onset": C1 - timedelta(days=100)}, "onset", "before consent"),
        ({"onset": TODAY + timedelta(days=1)}, "onset", "future"),
        ({"attribution": {"bendamustine": "possible"}}, "attribution", "missing: pomalidomide, dexamethasone"),
        ({"attribution": {**RELATED, "bendamustine": "maybe"}}, "attribution", "must be one of"),
        ({"serious": True}, "sae_criteria", "at least one seriousness criterion"),
        ({"grade": 5}, "outcome", "fatal"),
    ],
)
def test_bad_adverse_events_give_field_errors_and_save_nothing(on_c1, alice, change, field, message):
    with pytest.raises(ValidationError) as info:
        neutropenia(on_c1, alice, **change)
    assert message in " ".join(info.value.message_dict[field])
    assert AdverseEvent.objects.count() == 0


def test_a_change_of_grade_is_a_new_episode_of_the_same_event(on_c1, alice):
    first = ae_record(patient=on_c1, by=alice, term=meddra("Rash maculo-papular"), grade=3, onset=day(5), attribution=RELATED, supportive=["steroids"])
    second = ae_record(patient=on_c1, by=alice, term=meddra("Rash maculo-papular"), grade=1, onset=day(12), attribution=RELATED, continues=first)
    first.refresh_from_db()
    assert (second.event_id, first.resolved, first.outcome) == (first.pk, day(12), "recovering")
    with pytest.raises(ValidationError) as info:
        ae_record(patient=on_c1, by=alice, term=meddra("Nausea"), grade=2, onset=day(14), attribution=RELATED, continues=second)
    assert "keeps the event's term" in info.value.message_dict["term"][0]


def test_correcting_an_adverse_event_needs_a_reason_and_keeps_old_and_new(on_c1, alice):
    ae = neutropenia(on_c1, alice)
    with pytest.raises(ValidationError) as info:
        ae_update(ae=ae, by=alice, reason="", grade=3)
    assert "reason for change" in info.value.message_dict["reason"][0]
    ae_update(ae=ae, by=alice, reason="source document says grade 3", grade=3)
    new, old = ae.history.all()[:2]
    assert (old.grade, new.grade, new.history_change_reason) == (4, 3, "source document says grade 3")


def test_another_sites_coordinator_cannot_record_an_event(on_c1, bob):
    with pytest.raises(PermissionDenied):
        neutropenia(on_c1, bob)


# ---------------------------------------------------------------- labs


def test_counts_per_microlitre_are_converted_and_stored_in_10_9_per_litre(on_c1, alice):
    lab = lab_record(patient=on_c1, by=alice, on=day(8), anc=1500, platelets=45000, units={"anc": "/uL", "platelets": "/uL"}, temperature="38.6")
    lab.refresh_from_db()
    assert (lab.anc, lab.platelets, lab.temperature) == (Decimal("1.50"), Decimal("45.0"), Decimal("38.6"))


def test_hemoglobin_in_g_per_litre_is_converted(on_c1, alice):
    lab = lab_record(patient=on_c1, by=alice, on=day(8), hemoglobin="95", units={"hemoglobin": "g/L"})
    assert lab.hemoglobin == Decimal("9.5")


def test_an_anc_of_1500_as_10_9_per_litre_asks_did_you_mean_per_microlitre(on_c1, alice):
    with pytest.raises(ValidationError) as info:
        lab_record(patient=on_c1, by=alice, on=day(8), anc=1500, platelets=80)
    assert "did you mean /uL? (1500 /uL = 1.5 x10^9/L)" in info.value.message_dict["anc"][0]
    assert LabResult.objects.count() == 0


def test_a_second_panel_on_the_same_day_is_a_correction_with_a_reason(on_c1, alice):
    lab_record(patient=on_c1, by=alice, on=day(8), anc="0.4")
    with pytest.raises(ValidationError) as info:
        lab_record(patient=on_c1, by=alice, on=day(8), anc="0.6")
    assert "already recorded (ANC 0.40)" in info.value.message_dict["reason_for_change"][0]
    lab_record(patient=on_c1, by=alice, on=day(8), platelets="120")  # adding a value is not a correction
    lab = lab_record(patient=on_c1, by=alice, on=day(8), anc="0.6", reason_for_change="transcription error")
    assert (lab.anc, lab.platelets, LabResult.objects.count()) == (Decimal("0.60"), Decimal("120.0"), 1)


def test_a_lab_before_consent_or_in_the_future_is_refused(on_c1, alice):
    with pytest.raises(ValidationError) as info:
        lab_record(patient=on_c1, by=alice, on=TODAY + timedelta(days=1), anc="1.0")
    assert "future" in info.value.message_dict["on"][0]


# ---------------------------------------------------------------- evaluation


def test_grade_4_neutropenia_for_9_days_with_gcsf_is_proposed_as_h2(on_c1, alice):
    neutropenia(on_c1, alice)
    anc_series(on_c1, alice, [(10, "0.4"), (14, "0.3"), (19, "0.9")])
    dlt_evaluate_many([on_c1.pk])
    evaluation = DltEvaluation.objects.get(patient=on_c1)
    proposal = DltProposal.objects.get(patient=on_c1)
    assert (proposal.rule, proposal.onset, proposal.status) == ("H2", day(10), "proposed")
    assert "9 days" in proposal.sentence
    assert [e["ref"] for e in proposal.evidence][:3] == [f"lab:{day(10)}", f"lab:{day(14)}", f"lab:{day(19)}"]
    assert (evaluation.status, "H2" in evaluation.reason) == ("evaluable", True)


def test_evaluating_twice_writes_nothing_the_second_time(on_c1, alice):
    neutropenia(on_c1, alice)
    anc_series(on_c1, alice, [(10, "0.4"), (19, "0.9")])
    assert dlt_evaluate_many([on_c1.pk])["changed"] == 1
    rows = (DltProposal.history.count(), DltEvaluation.history.count())
    assert dlt_evaluate_many([on_c1.pk]) == {"patients": 1, "changed": 0, "skipped": 0}
    assert (DltProposal.history.count(), DltEvaluation.history.count()) == rows


def test_a_proposal_the_rules_no_longer_make_is_withdrawn(on_c1, alice):
    ae = neutropenia(on_c1, alice)
    anc_series(on_c1, alice, [(10, "0.4"), (19, "0.9")])
    dlt_evaluate_many([on_c1.pk])
    ae_update(ae=ae, by=alice, reason="G-CSF was not given", supportive=[])
    dlt_evaluate_many([on_c1.pk])
    assert DltProposal.objects.get(patient=on_c1).status == "withdrawn"


def test_an_event_unresolved_when_cycle_2_is_14_days_late_is_h6(on_c1, alice):
    neutropenia(on_c1, alice, grade=3, resolved=None, outcome="not_recovered", supportive=[])
    dlt_evaluate_many([on_c1.pk])
    proposal = DltProposal.objects.get(patient=on_c1)
    assert (proposal.rule, proposal.onset) == ("H6", day(29) + timedelta(days=14))


def test_a_patient_before_cycle_1_is_not_evaluated(treated):
    assert dlt_evaluate_many([treated.pk]) == {"patients": 0, "changed": 0, "skipped": 1}  # nothing to evaluate
    assert DltEvaluation.objects.count() == 0


def test_a_reduction_linked_to_a_hematologic_event_in_cycle_1_is_h5(on_c1, alice, ivan):
    ae = ae_record(
        patient=on_c1, by=alice, term=meddra("Platelet count decreased"), grade=3, onset=day(8), resolved=day(20), outcome="recovered", attribution=RELATED
    )
    dose_modify(
        patient=on_c1,
        by=alice,
        kind="reduce_level",
        effective_on=day(9),
        reason="platelets",
        decided_by=ivan,
        to_level=on_c1.trial.levels.get(label=-1),
        adverse_event=ae,
    )
    dlt_evaluate_many([on_c1.pk])
    assert list(DltProposal.objects.values_list("rule", flat=True)) == ["H5"]


def test_a_reduction_in_cycle_1_linked_to_no_event_is_proposed_not_linked(on_c1, alice, ivan):
    to_level = on_c1.trial.levels.get(label=-1)
    dose_modify(patient=on_c1, by=alice, kind="reduce_level", effective_on=day(9), reason="fatigue", decided_by=ivan, to_level=to_level)
    dlt_evaluate_many([on_c1.pk])
    proposal = DltProposal.objects.get(patient=on_c1)
    assert (proposal.rule, proposal.onset, proposal.attribution_recorded, proposal.event_ids) == ("N7", day(9), False, [])
    assert "not linked" in proposal.sentence


def test_a_stop_in_cycle_1_for_toxicity_waits_for_planned_cycle_2_day_1_plus_14_and_h6_applies(on_c1, alice):
    neutropenia(on_c1, alice, grade=3, resolved=None, outcome="not_recovered", supportive=[])
    patient_off_treatment(patient=on_c1, by=alice, reason_code="toxicity", decided_on=day(12), last_dose_on=day(1))
    deadline = day(29) + timedelta(days=14)
    dlt_evaluate_many([on_c1.pk], today=deadline)
    evaluation = DltEvaluation.objects.get(patient=on_c1)
    assert (evaluation.status, evaluation.until, DltProposal.objects.count()) == ("pending", deadline + timedelta(days=1), 0)
    dlt_evaluate_many([on_c1.pk], today=deadline + timedelta(days=1))
    proposal = DltProposal.objects.get(patient=on_c1)
    assert (proposal.rule, proposal.onset, "treatment stopped" in proposal.sentence) == ("H6", deadline, True)
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.window_status) == ("evaluable", "evaluable")


# ---------------------------------------------------------------- adjudication


@pytest.fixture
def proposed(on_c1, alice):
    neutropenia(on_c1, alice)
    anc_series(on_c1, alice, [(10, "0.4"), (19, "0.9")])
    dlt_evaluate_many([on_c1.pk])
    return DltProposal.objects.get(patient=on_c1)


def test_an_investigator_confirms_a_proposal_into_a_dlt_with_its_evidence(proposed, ivan):
    row = dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD)
    assert (row.rule, row.onset, row.confirmed_by, row.evidence) == ("H2", day(10), ivan, proposed.evidence)
    proposed.refresh_from_db()
    assert (proposed.status, proposed.adjudicated_by) == ("confirmed", ivan)


def test_only_investigators_adjudicate(proposed, alice):
    with pytest.raises(PermissionDenied):
        dlt_confirm(proposal=proposed, by=alice, password=PASSWORD)


def test_rejecting_needs_a_reason(proposed, ivan):
    with pytest.raises(ValidationError) as info:
        dlt_reject(proposal=proposed, by=ivan, password=PASSWORD, reason="")
    assert "reason" in info.value.message_dict
    dlt_reject(proposal=proposed, by=ivan, password=PASSWORD, reason="neutropenia from marrow infiltration")
    proposed.refresh_from_db()
    assert (proposed.status, proposed.adjudication_reason, Dlt.objects.count()) == ("rejected", "neutropenia from marrow infiltration", 0)


def test_correcting_a_lab_behind_a_confirmed_dlt_reopens_it_and_the_dlt_stays_until_reviewed(proposed, ivan, alice):
    row = dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD)
    lab_record(patient=proposed.patient, by=alice, on=day(19), anc="1.9", reason_for_change="wrong patient's tube")
    proposed.refresh_from_db()
    assert proposed.status == "reopened"
    assert "Labs of" in proposed.review_note
    row.refresh_from_db()
    assert row.withdrawn_at is None  # still counted until an investigator decides
    dlt_reject(proposal=proposed, by=ivan, password=PASSWORD, reason="recovered on day 12 per source")
    row.refresh_from_db()
    assert (row.withdrawn_at is not None, row.withdrawn_reason) == (True, "recovered on day 12 per source")


def test_editing_an_adverse_event_behind_a_confirmed_dlt_reopens_it(proposed, ivan, alice):
    dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD)
    ae = AdverseEvent.objects.get()
    ae_update(ae=ae, by=alice, reason="attribution reviewed", attribution=UNRELATED)
    proposed.refresh_from_db()
    assert proposed.status == "reopened"
    dlt_evaluate_many([proposed.patient.pk])
    proposed.refresh_from_db()
    assert (proposed.status, proposed.review_note.startswith("The rules no longer")) == ("reopened", True)


def test_retracting_an_event_entered_in_error_keeps_it_and_the_rules_ignore_it(proposed, alice):
    ae = AdverseEvent.objects.get()
    ae_retract(ae=ae, by=alice, reason="entered for the wrong patient")
    ae.refresh_from_db()
    assert ae.in_error
    dlt_evaluate_many([proposed.patient.pk])
    proposed.refresh_from_db()
    assert proposed.status == "withdrawn"  # H2 needs G-CSF, recorded only on the retracted event


def test_a_dlt_the_rules_missed_is_recorded_with_a_reason_and_can_be_withdrawn(on_c1, ivan):
    with pytest.raises(ValidationError) as info:
        dlt_record_missed(patient=on_c1, by=ivan, password=PASSWORD, rule="N1", onset=day(40), description="grade 3 hepatitis", reason="")
    assert set(info.value.message_dict) == {"onset", "reason", "confirm_unsupported"}  # no grade 3 event: the data do not meet N1
    row = dlt_record_missed(
        patient=on_c1,
        by=ivan,
        password=PASSWORD,
        rule="N1",
        onset=day(12),
        description="grade 3 hepatitis",
        reason="recorded as free text",
        confirm_unsupported=True,
    )
    assert (row.proposal, row.rule, row.sentence) == (None, "N1", "grade 3 hepatitis")
    dlt_withdraw(dlt_row=row, by=ivan, password=PASSWORD, reason="duplicate entry")
    row.refresh_from_db()
    assert row.withdrawn_reason == "duplicate entry"


# ---------------------------------------------------------------- the CTCAE terminology (issue #15)


def test_the_whole_ctcae_5_table_is_loaded_with_the_migrations_and_loading_again_changes_nothing():
    from django.core.management import call_command

    from toxicity.models import CtcaeTerm
    from toxicity.services.terminology import ctcae_load

    rows = CtcaeTerm.objects.filter(version="5.0")
    before = list(rows.order_by("meddra_code").values_list("meddra_code", "term", "soc", "grades", "grade_texts"))
    assert len(before) == 837
    assert rows.values("soc").distinct().count() == 26
    assert ctcae_load(version="5.0") == (0, 0)
    out = StringIO()
    call_command("load_ctcae", stdout=out)
    assert "already loaded; nothing changed" in out.getvalue()
    assert list(rows.order_by("meddra_code").values_list("meddra_code", "term", "soc", "grades", "grade_texts")) == before
    rows.filter(meddra_code=meddra("Nausea")).update(grades="12345")  # a damaged row is put right
    assert ctcae_load(version="5.0") == (0, 1)
    assert rows.get(meddra_code=meddra("Nausea")).grades == "123"


def test_the_protocol_file_chooses_the_terminology(trial):
    assert trial.ctcae_version == "5.0"


GRADE_SETS = [
    ("Febrile neutropenia", {3, 4, 5}),
    ("Nausea", {1, 2, 3}),
    ("Death NOS", {5}),
    ("Vaginal stricture", {1, 2, 3, 5}),
    ("Asystole", {1, 4, 5}),
]


@pytest.mark.parametrize(("name", "grades"), GRADE_SETS)
@pytest.mark.parametrize("grade", [1, 2, 3, 4, 5])
def test_the_service_accepts_exactly_the_grades_of_the_term(on_c1, alice, name, grades, grade):
    fatal = {"outcome": "fatal", "resolved": day(12)} if grade == 5 else {}
    values = {"term": meddra(name), "grade": grade, "onset": day(12), "attribution": RELATED, **fatal}
    if grade in grades:
        ae = ae_record(patient=on_c1, by=alice, **values)
        assert (ae.term_name, ae.grade, ae.ctcae_version) == (name, grade, "5.0")
    else:
        with pytest.raises(ValidationError) as exc:
            ae_record(patient=on_c1, by=alice, **values)
        assert f"{name} has no grade {grade} in CTCAE v5.0" in exc.value.message_dict["grade"][0]
        assert not AdverseEvent.objects.exists()


def test_a_term_outside_the_old_list_is_recorded_and_read_by_the_rules_as_its_kind(on_c1, alice):
    from toxicity.selectors import dlt_windows

    ae_record(patient=on_c1, by=alice, term=meddra("Hypertension"), grade=3, onset=day(6), attribution=RELATED)
    ae_record(patient=on_c1, by=alice, term=meddra("Gastric hemorrhage"), grade=2, onset=day(7), attribution=RELATED)
    ae_record(patient=on_c1, by=alice, term=meddra("Hemolysis"), grade=2, onset=day(8), attribution=RELATED)
    events = dlt_windows([on_c1.pk])[on_c1.pk].events
    assert [(e.name, e.kind.value, e.hematologic) for e in events] == [
        ("Hypertension", "other", False),
        ("Gastric hemorrhage", "bleeding", False),
        ("Hemolysis", "other_hematologic", True),
    ]
    dlt_evaluate_many([on_c1.pk])
    # Grade 3 hypertension related to bendamustine: N1; cycle 2 never given while the events are unresolved:
    # H6 for the hemolysis (hematologic), N8 for the others.
    assert sorted(DltProposal.objects.values_list("rule", flat=True)) == ["H6", "N1", "N8", "N8"]


def test_an_other_specify_term_needs_its_verbatim_term_and_no_other_term_takes_one(on_c1, alice):
    other = meddra("Gastrointestinal disorders - Other, specify")
    with pytest.raises(ValidationError) as exc:
        ae_record(patient=on_c1, by=alice, term=other, grade=2, onset=day(6), attribution=RELATED)
    assert "give the verbatim term" in exc.value.message_dict["verbatim"][0]
    with pytest.raises(ValidationError) as exc:
        ae_record(patient=on_c1, by=alice, term=meddra("Nausea"), verbatim="queasy", grade=2, onset=day(6), attribution=RELATED)
    assert "Nausea is a term of its own" in exc.value.message_dict["verbatim"][0]
    ae = ae_record(patient=on_c1, by=alice, term=other, verbatim="  Gastric polyp bleeding ", grade=2, onset=day(6), attribution=RELATED)
    assert (ae.verbatim, ae.term_name, ae.soc) == (
        "Gastric polyp bleeding",
        "Gastrointestinal disorders - Other, specify: Gastric polyp bleeding",
        "Gastrointestinal disorders",
    )
    with pytest.raises(ValidationError) as exc:
        ae_update(ae=ae, by=alice, reason="typo", verbatim="")
    assert "verbatim" in exc.value.message_dict


def test_unknown_terms_and_old_slugs_are_field_errors(on_c1, alice):
    for term in ("nausea", "10000000", ""):
        with pytest.raises(ValidationError) as exc:
            ae_record(patient=on_c1, by=alice, term=term, grade=2, onset=day(6), attribution=RELATED)
        assert "Unknown CTCAE v5.0 term" in exc.value.message_dict["term"][0]


def test_a_grade_5_event_needs_the_date_of_death_and_is_never_accepted_for_a_term_without_grade_5(on_c1, alice):
    with pytest.raises(ValidationError) as exc:
        ae_record(patient=on_c1, by=alice, term=meddra("Sepsis"), grade=5, outcome="fatal", onset=day(12), attribution=RELATED)
    assert "date of death" in exc.value.message_dict["resolved"][0]
    with pytest.raises(ValidationError) as exc:
        ae_record(patient=on_c1, by=alice, term=meddra("Nausea"), grade=5, outcome="fatal", onset=day(12), resolved=day(14), attribution=RELATED)
    assert "Nausea has no grade 5" in exc.value.message_dict["grade"][0]
    assert not AdverseEvent.objects.exists()


def test_a_grade_5_event_writes_the_death_record_and_its_retraction_takes_it_back(on_c1, alice):
    from response.models import FollowUp
    from response.services import followup_death_sync
    from trialsite.models import Change

    ae = ae_record(patient=on_c1, by=alice, term=meddra("Sepsis"), grade=5, outcome="fatal", onset=day(12), resolved=day(14), attribution=RELATED)
    assert set(Change.objects.filter(patient_id=on_c1.pk).values_list("kind", flat=True)) >= {"toxicity", "follow_up"}
    assert followup_death_sync(patient_ids=[on_c1.pk]) == 1
    follow = FollowUp.objects.get(patient=on_c1)
    assert (follow.death_on, follow.death_cause, follow.death_event, follow.death_from_event) == (day(14), "Sepsis", ae, True)
    assert followup_death_sync(patient_ids=[on_c1.pk]) == 0  # idempotent
    ae_retract(ae=ae, by=alice, reason="wrong patient")
    assert followup_death_sync(patient_ids=[on_c1.pk]) == 1
    follow.refresh_from_db()
    assert (follow.death_on, follow.death_cause, follow.death_event) == (None, "", None)


def test_a_death_already_recorded_on_the_follow_up_is_kept_and_linked(on_c1, alice):
    from response.models import FollowUp
    from response.services import followup_death_sync, followup_record

    followup_record(patient=on_c1, by=alice, death_on=day(15), death_cause="Septic shock")
    ae = ae_record(patient=on_c1, by=alice, term=meddra("Sepsis"), grade=5, outcome="fatal", onset=day(12), resolved=day(14), attribution=RELATED)
    assert followup_death_sync(patient_ids=[on_c1.pk]) == 1
    follow = FollowUp.objects.get(patient=on_c1)
    assert (follow.death_on, follow.death_cause, follow.death_event, follow.death_from_event) == (day(15), "Septic shock", ae, False)
    ae_retract(ae=ae, by=alice, reason="wrong patient")
    followup_death_sync(patient_ids=[on_c1.pk])
    follow.refresh_from_db()
    assert (follow.death_on, follow.death_cause, follow.death_event) == (day(15), "Septic shock", None)  # the follow-up's own record stays


def test_the_pipeline_writes_the_death_record_of_a_grade_5_event_on_commit(on_c1, alice, django_capture_on_commit_callbacks):
    from response.models import FollowUp

    with django_capture_on_commit_callbacks(execute=True):
        ae = ae_record(patient=on_c1, by=alice, term=meddra("Asystole"), grade=5, outcome="fatal", onset=day(20), resolved=day(20), attribution=RELATED)
    follow = FollowUp.objects.get(patient=on_c1)
    assert (follow.death_on, follow.death_cause, follow.death_event) == (day(20), "Asystole", ae)
