"""The DLT proposal's table of moves (house style 11), on unsaved rows: no database."""

import itertools

import pytest

from toxicity.models import DltProposal
from trialsite.states import StateError, move

S = DltProposal.Status
# What the services do today (services/evaluation.py and services/adjudication.py), and nothing else.
MADE = {
    (S.PROPOSED, S.CONFIRMED),  # dlt_confirm
    (S.PROPOSED, S.REJECTED),  # dlt_reject
    (S.PROPOSED, S.WITHDRAWN),  # the rules no longer propose it
    (S.CONFIRMED, S.REOPENED),  # a correction of the data behind it, or the rules
    (S.REJECTED, S.REOPENED),  # a correction of the data behind it, or the rules
    (S.WITHDRAWN, S.PROPOSED),  # the rules propose it again
    (S.REOPENED, S.CONFIRMED),  # dlt_confirm after review
    (S.REOPENED, S.REJECTED),  # dlt_reject after review
    (S.REOPENED, S.REOPENED),  # the rules no longer propose it: reopened again with that reason
}
REFUSED = sorted(set(itertools.product(S.values, repeat=2)) - MADE)


def test_the_table_lists_exactly_the_moves_the_services_make():
    assert {(a, b) for a, targets in DltProposal.MOVES.moves.items() for b in targets} == MADE


def test_every_status_has_a_row_and_none_is_final():
    assert set(DltProposal.MOVES.moves) == set(S.values)
    assert all(DltProposal.MOVES.allowed(s) for s in S.values)


@pytest.mark.parametrize(("current", "target"), sorted(MADE))
def test_a_listed_move_sets_the_status_and_leaves_who_and_why(current, target):
    row = DltProposal(status=current)
    move(row, target, machine=DltProposal.MOVES, by=None, reason="why", save=False, review_note="note")
    assert (row.status, row.review_note, row._history_user, row._change_reason) == (target, "note", None, "why")


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_a_move_the_table_does_not_list_is_refused_and_changes_nothing(current, target):
    row = DltProposal(status=current)
    with pytest.raises(StateError, match="A DLT proposal cannot move from"):
        move(row, target, machine=DltProposal.MOVES, by=None, reason="why", save=False, review_note="note")
    assert (row.status, row.review_note) == (current, "")


def test_a_refusal_names_the_statuses_by_their_labels():
    with pytest.raises(StateError, match="from Confirmed to No longer proposed by the rules"):
        DltProposal.MOVES.check(S.CONFIRMED, S.WITHDRAWN)
