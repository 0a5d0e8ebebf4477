"""The tables of allowed status moves (house style 11), one per status field, beside each model's choices.

Each table lists exactly the moves the services make; `move` refuses the others (trialsite/states.py).
No database: the models are imported for their tables, the rows below are plain objects."""

import pytest

from cohorts.models import Cohort
from datamanagement.models import DataQuery, ExportLog
from escalation.models import EscalationDecision
from trialsite.states import StateError, move

DECISION, COHORT, QUERY, EXPORT = EscalationDecision.MOVES, Cohort.MOVES, DataQuery.MOVES, ExportLog.MOVES
TABLES = {"decision": DECISION, "cohort": COHORT, "query": QUERY, "export": EXPORT}
STATUSES = {"decision": EscalationDecision.Status, "cohort": Cohort.Status, "query": DataQuery.Status, "export": ExportLog.Status}

ALLOWED = [
    ("decision", "proposed", "signed"),  # an investigator signs (decision_sign)
    ("decision", "proposed", "rejected"),  # or rejects (decision_reject)
    ("decision", "proposed", "superseded"),  # the engine, when the data behind it changed (escalation_reevaluate)
    ("cohort", "open", "closed"),  # a signed decision closes the open cohort
    ("query", "open", "answered"),  # query_answer
    ("query", "answered", "answered"),  # a second answer replaces the first
    ("query", "open", "closed"),  # query_close
    ("query", "answered", "closed"),
    ("query", "closed", "open"),  # query_reopen
    ("export", "queued", "running"),  # a worker starts the zip
    ("export", "running", "running"),  # the message came back after the worker died: built again
    ("export", "done", "running"),  # a done zip whose file is gone is built again
    ("export", "running", "done"),  # the zip (or the streamed CSV) is finished
    ("export", "running", "failed"),  # the build raised, or the reaper found no heartbeat
]


def test_the_allowed_moves_are_exactly_these():
    listed = {(name, source, target) for name, table in TABLES.items() for source, targets in table.moves.items() for target in targets}
    assert listed == set(ALLOWED)


@pytest.mark.parametrize("name", TABLES)
def test_every_status_of_the_choices_has_a_row_and_a_label(name):
    table, choices = TABLES[name], STATUSES[name]
    assert set(table.moves) == set(choices.values)
    assert {status: table.label(status) for status in choices.values} == dict(choices.choices)


class Row:
    def __init__(self, status):
        self.status, self.saved = status, 0

    def save(self):
        self.saved += 1


@pytest.mark.parametrize(("name", "current", "target"), ALLOWED)
def test_an_allowed_move_is_made(name, current, target):
    row = Row(current)
    move(row, target, machine=TABLES[name], by=None, reason="test")
    assert (row.status, row.saved, row._change_reason) == (target, 1, "test")


REFUSED = [
    ("decision", "signed", "rejected", "An escalation decision cannot move from Signed to Rejected."),
    ("decision", "rejected", "signed", "An escalation decision cannot move from Rejected to Signed."),
    ("decision", "superseded", "proposed", "An escalation decision cannot move from Superseded by a newer proposal to Proposed: awaiting signature."),
    ("decision", "signed", "signed", "An escalation decision cannot move from Signed to Signed."),
    ("cohort", "closed", "open", "A cohort cannot move from Closed to Open."),
    ("cohort", "closed", "closed", "A cohort cannot move from Closed to Closed."),
    ("query", "closed", "closed", "A data query cannot move from Closed to Closed."),
    ("query", "closed", "answered", "A data query cannot move from Closed to Answered."),
    ("query", "open", "open", "A data query cannot move from Open to Open."),
    ("query", "answered", "open", "A data query cannot move from Answered to Open."),
    ("export", "failed", "running", "An export job cannot move from Failed to Running."),
    ("export", "failed", "done", "An export job cannot move from Failed to Done."),
    ("export", "done", "failed", "An export job cannot move from Done to Failed."),
    ("export", "queued", "done", "An export job cannot move from Queued to Done."),
    ("export", "queued", "failed", "An export job cannot move from Queued to Failed."),
]


@pytest.mark.parametrize(("name", "current", "target", "message"), REFUSED)
def test_a_move_the_table_does_not_list_is_refused(name, current, target, message):
    row = Row(current)
    with pytest.raises(StateError) as info:
        move(row, target, machine=TABLES[name], by=None, reason="test")
    assert (str(info.value), row.status, row.saved) == (message, current, 0)


def test_a_guarded_update_of_an_export_job_matches_only_its_allowed_sources():
    assert (EXPORT.sources_of("running"), EXPORT.sources_of("done"), EXPORT.sources_of("failed")) == ({"queued", "running", "done"}, {"running"}, {"running"})
