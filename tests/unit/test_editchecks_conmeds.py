"""SUPPORTIVE_CM (issue #16): a supportive-care flag on an event with no conmed of that category linked to its event."""

from datetime import date

import pytest

from datamanagement import editchecks as ec
from toxicity.ctcae import meddra

ONSET = date(2026, 1, 10)


def event(supportive=("gcsf",), id=1, event_id=None):
    return ec.Event(id, 9, meddra("Neutrophil count decreased"), ONSET, None, 4, supportive, event_id)


@pytest.mark.parametrize(
    ("e", "conmeds", "found"),
    [
        (event(), {}, True),  # flagged, no conmed
        (event(), {1: {"gcsf"}}, False),  # its G-CSF conmed is recorded
        (event(), {1: {"other"}}, True),  # a conmed of another category
        (event(id=2, event_id=1), {1: {"gcsf"}}, False),  # linked to the event's first episode
        (event(supportive=()), {}, False),  # no flag
        (event(supportive=("gcsf", "steroids")), {1: {"gcsf"}}, True),  # one of two flags without its conmed
    ],
)
def test_a_supportive_flag_needs_its_conmed(e, conmeds, found):
    findings = ec.run_all(events=[e], cycles=[], doses=[], labs=[], conmeds=conmeds)
    assert bool([f for f in findings if f.check == "SUPPORTIVE_CM"]) is found


def test_the_query_names_the_missing_supportive_care():
    [f] = ec.supportive_without_conmed([event(supportive=("gcsf", "steroids"))], {1: {"gcsf"}})
    assert (f.record_type, f.object_id, f.field) == ("adverse_event", 1, "supportive")
    assert "(steroids)" in f.text
