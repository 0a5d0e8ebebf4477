"""The state-machine helper every status field uses (trialsite/states.py)."""

import pytest

from trialsite.states import Machine, StateError, move, move_rows

DOOR = Machine(
    "door",
    {"open": frozenset({"closed"}), "closed": frozenset({"open", "locked"}), "locked": frozenset({"closed"}), "gone": frozenset()},
    labels={"open": "Open", "closed": "Closed", "locked": "Locked"},
)


class Row:
    def __init__(self, status):
        self.status, self.saved, self.note = status, 0, ""

    def save(self):
        self.saved += 1


@pytest.mark.parametrize(("current", "target"), [("open", "closed"), ("closed", "locked"), ("locked", "closed")])
def test_a_listed_move_is_made_saved_and_audited(current, target):
    row = Row(current)
    move(row, target, machine=DOOR, by="ivan", reason="because", note="why")
    assert (row.status, row.saved, row.note, row._history_user, row._change_reason) == (target, 1, "why", "ivan", "because")


@pytest.mark.parametrize(("current", "target"), [("open", "locked"), ("locked", "open"), ("gone", "open"), ("open", "open")])
def test_a_move_the_table_does_not_list_is_refused_and_nothing_changes(current, target):
    row = Row(current)
    with pytest.raises(StateError, match="cannot move from"):
        move(row, target, machine=DOOR, by="ivan", reason="because", note="why")
    assert (row.status, row.saved, row.note) == (current, 0, "")


def test_an_unknown_target_is_refused():
    with pytest.raises(StateError, match="Unknown door status"):
        DOOR.check("open", "ajar")


def test_save_false_leaves_the_write_to_the_caller():
    row = Row("open")
    move(row, "closed", machine=DOOR, by=None, reason="bulk", save=False)
    assert (row.status, row.saved) == ("closed", 0)


def test_every_target_needs_a_row_of_its_own():
    with pytest.raises(StateError, match="missing: final"):
        Machine("thing", {"start": frozenset({"final"})})


def test_the_sources_of_a_status_are_the_statuses_that_may_move_to_it():
    assert (DOOR.sources_of("closed"), DOOR.sources_of("locked"), DOOR.sources_of("gone")) == ({"open", "locked"}, {"closed"}, frozenset())
    with pytest.raises(StateError, match="Unknown door status"):
        DOOR.sources_of("ajar")


class Rows:
    """A queryset's filter().update() as move_rows calls it."""

    def __init__(self, statuses):
        self.statuses, self.filters, self.updates = statuses, {}, {}

    def filter(self, **filters):
        self.filters = filters
        return self

    def update(self, **updates):
        self.updates = updates
        return sum(s in self.filters["status__in"] for s in self.statuses)


def test_move_rows_updates_only_the_rows_whose_status_may_move_to_the_target():
    rows = Rows(["open", "closed", "locked", "gone"])
    assert move_rows(rows, "closed", machine=DOOR, note="why") == 2
    assert (rows.filters, rows.updates) == ({"status__in": ["locked", "open"]}, {"status": "closed", "note": "why"})


def test_move_rows_to_an_unknown_status_is_refused_before_any_update():
    rows = Rows(["open"])
    with pytest.raises(StateError, match="Unknown door status"):
        move_rows(rows, "ajar", machine=DOOR)
    assert rows.updates == {}
