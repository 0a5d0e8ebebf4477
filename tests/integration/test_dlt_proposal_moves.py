"""Every move of a DLT proposal the services make, and the ones they refuse, on the database (house style 11).

The table itself is tested in tests/unit/test_dlt_proposal_moves.py; here each listed move is made by the
service that makes it, with who and why in the proposal's history."""

import pytest
from django.core.exceptions import ValidationError

from tests.factories import PASSWORD
from toxicity.models import AdverseEvent, Dlt, DltProposal
from toxicity.services import ae_update, dlt_confirm, dlt_evaluate_many, dlt_reject, lab_record
from trialsite.states import StateError, move

from .test_toxicity_services import anc_series, day, neutropenia

pytestmark = pytest.mark.django_db
GONE = "Reopened: The rules no longer propose it: confirm it as a DLT the rules missed, or reject it."


@pytest.fixture
def proposed(on_c1, alice):
    neutropenia(on_c1, alice)
    anc_series(on_c1, alice, [(10, "0.4"), (19, "0.9")])
    dlt_evaluate_many([on_c1.pk])
    return DltProposal.objects.get(patient=on_c1)


def last(proposal):
    """The proposal's status and its latest history row: who and why."""
    proposal.refresh_from_db()
    h = proposal.history.order_by("-history_id").first()
    return proposal.status, h.status, h.history_user, h.history_change_reason


def withdraw(proposal, alice):
    ae_update(ae=AdverseEvent.objects.get(), by=alice, reason="G-CSF was not given", supportive=[])
    dlt_evaluate_many([proposal.patient.pk])


def correct_lab(proposal, alice):
    lab_record(patient=proposal.patient, by=alice, on=day(19), anc="1.9", reason_for_change="wrong patient's tube")


def add_lab(proposal, alice):
    """A new panel inside the episode: no correction, but the rules' evidence changes."""
    lab_record(patient=proposal.patient, by=alice, on=day(14), anc="0.3")
    dlt_evaluate_many([proposal.patient.pk])


# ---------------------------------------------------------------- the moves the services make


def test_proposed_to_confirmed_by_the_investigator(proposed, ivan):
    dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD, reason="typical H2")
    assert last(proposed) == ("confirmed", "confirmed", ivan, "Confirmed: typical H2")


def test_proposed_to_rejected_by_the_investigator(proposed, ivan):
    dlt_reject(proposal=proposed, by=ivan, password=PASSWORD, reason="marrow infiltration")
    assert last(proposed) == ("rejected", "rejected", ivan, "Rejected: marrow infiltration")


def test_proposed_to_withdrawn_when_the_rules_no_longer_propose_it(proposed, alice):
    withdraw(proposed, alice)
    assert last(proposed) == ("withdrawn", "withdrawn", None, "No longer proposed by the rules")


def test_withdrawn_to_proposed_when_the_rules_propose_it_again(proposed, alice):
    withdraw(proposed, alice)
    ae_update(ae=AdverseEvent.objects.get(), by=alice, reason="G-CSF was given after all", supportive=["gcsf"])
    dlt_evaluate_many([proposed.patient.pk])
    assert last(proposed) == ("proposed", "proposed", None, "Proposed again by rule H2")


def test_confirmed_to_reopened_by_a_correction_of_its_labs(proposed, ivan, alice):
    dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD)
    correct_lab(proposed, alice)
    status, h_status, user, why = last(proposed)
    assert (status, h_status, user, why.startswith(f"Reopened: Labs of {day(19).isoformat()} corrected")) == ("reopened", "reopened", alice, True)


def test_confirmed_to_reopened_by_the_rules_when_its_evidence_changes(proposed, ivan, alice):
    dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD)
    add_lab(proposed, alice)
    status, h_status, user, why = last(proposed)
    assert (status, h_status, user, why.startswith("Reopened: The data behind it changed (")) == ("reopened", "reopened", None, True)


def test_rejected_to_reopened_by_a_correction_of_its_labs(proposed, ivan, alice):
    dlt_reject(proposal=proposed, by=ivan, password=PASSWORD, reason="marrow infiltration")
    correct_lab(proposed, alice)
    assert last(proposed)[:3] == ("reopened", "reopened", alice)


def test_rejected_to_reopened_by_the_rules_when_its_evidence_changes(proposed, ivan, alice):
    dlt_reject(proposal=proposed, by=ivan, password=PASSWORD, reason="marrow infiltration")
    add_lab(proposed, alice)
    assert last(proposed)[:3] == ("reopened", "reopened", None)


def test_reopened_to_confirmed_again_after_review(proposed, ivan, alice):
    dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD)
    correct_lab(proposed, alice)
    dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD, reason="still H2 on review")
    assert last(proposed) == ("confirmed", "confirmed", ivan, "Confirmed: still H2 on review")
    assert Dlt.objects.get().history.order_by("-history_id").first().history_change_reason == "DLT H2 confirmed again after review: still H2 on review"


def test_reopened_to_rejected_after_review(proposed, ivan, alice):
    dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD)
    correct_lab(proposed, alice)
    dlt_reject(proposal=proposed, by=ivan, password=PASSWORD, reason="recovered on day 12 per source")
    assert last(proposed) == ("rejected", "rejected", ivan, "Rejected: recovered on day 12 per source")


def test_reopened_to_reopened_when_the_rules_no_longer_propose_it(proposed, ivan, alice):
    dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD)
    ae_update(ae=AdverseEvent.objects.get(), by=alice, reason="attribution reviewed", supportive=[])
    assert last(proposed)[:3] == ("reopened", "reopened", alice)
    dlt_evaluate_many([proposed.patient.pk])
    assert last(proposed) == ("reopened", "reopened", None, GONE)


# ---------------------------------------------------------------- the moves they refuse


def confirmed(proposal, ivan, alice):
    dlt_confirm(proposal=proposal, by=ivan, password=PASSWORD)


def rejected(proposal, ivan, alice):
    dlt_reject(proposal=proposal, by=ivan, password=PASSWORD, reason="marrow infiltration")


def withdrawn(proposal, ivan, alice):
    withdraw(proposal, alice)


@pytest.mark.parametrize("reach", [confirmed, rejected, withdrawn])
@pytest.mark.parametrize(("adjudicate", "what"), [(dlt_confirm, "confirm"), (dlt_reject, "reject")])
def test_a_closed_proposal_cannot_be_adjudicated_and_nothing_is_written(proposed, ivan, alice, reach, adjudicate, what):
    reach(proposed, ivan, alice)
    before = last(proposed), Dlt.history.count()
    with pytest.raises(ValidationError, match=f"nothing to {what}"):
        adjudicate(proposal=proposed, by=ivan, password=PASSWORD, reason="second look")
    assert (last(proposed), Dlt.history.count()) == before


def test_a_move_the_table_does_not_list_is_refused_before_anything_is_saved(proposed, ivan):
    dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD)
    proposed.refresh_from_db()
    before = last(proposed)
    with pytest.raises(StateError, match="cannot move from Confirmed to No longer proposed by the rules"):
        move(proposed, DltProposal.Status.WITHDRAWN, machine=DltProposal.MOVES, by=ivan, reason="tidy up")
    assert last(proposed) == before
