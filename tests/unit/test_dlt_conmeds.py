"""The supportive care each event receives from the conmeds linked to it (protocol s.3 H2, N2, N6): a table of
the date boundaries, and invariants over the whole input space."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toxicity.ctcae import Kind, meddra
from toxicity.dlt import AdverseEvent, ConMed, LabValue, PatientWindow, assess, supportive_from_conmeds, with_conmeds

D1 = date(2026, 1, 5)


def day(n: int) -> date:
    return D1 + timedelta(days=n - 1)


def neutropenia(id=1, onset=10, resolved=19, event=None, supportive=frozenset()) -> AdverseEvent:
    return AdverseEvent(
        id=id,
        term=meddra("Neutrophil count decreased"),
        name="Neutrophil count decreased",
        kind=Kind.NEUTROPENIA,
        grade=4,
        onset=day(onset),
        resolved=day(resolved) if resolved else None,
        attribution={"pomalidomide": "possible"},
        supportive=supportive,
        event=event,
    )


def gcsf(start=11, stop=15, events=(1,), category="gcsf") -> ConMed:
    return ConMed(category=category, start=day(start), stop=day(stop) if stop else None, events=frozenset(events))


@pytest.mark.parametrize(
    ("conmed", "given"),
    [
        (gcsf(), True),  # inside the event's dates
        (gcsf(start=1, stop=10), True),  # stopped on the onset day
        (gcsf(start=1, stop=9), False),  # stopped the day before the onset
        (gcsf(start=19, stop=25), True),  # started on the resolution day
        (gcsf(start=20, stop=25), False),  # started the day after the resolution
        (gcsf(start=1, stop=None), True),  # ongoing since before the event
        (gcsf(events=(2,)), False),  # linked to another event
        (gcsf(events=()), False),  # linked to no event
        (gcsf(category="other"), False),  # not a supportive-care category
    ],
)
def test_a_gcsf_conmed_linked_to_the_event_and_given_within_its_dates_is_its_gcsf(conmed, given):
    assert ("gcsf" in supportive_from_conmeds(neutropenia(), [conmed])) is given


def test_an_unresolved_event_takes_a_conmed_started_any_time_after_its_onset():
    assert supportive_from_conmeds(neutropenia(resolved=None), [gcsf(start=40, stop=None)]) == {"gcsf"}


def test_a_conmed_linked_to_the_first_episode_serves_every_episode_of_the_event_within_its_dates():
    later = neutropenia(id=2, onset=20, resolved=25, event=1)
    assert supportive_from_conmeds(later, [gcsf(start=21, stop=22)]) == {"gcsf"}
    assert supportive_from_conmeds(later, [gcsf(start=11, stop=15)]) == frozenset()


def test_the_events_own_flags_are_kept_alongside_the_conmeds():
    e = neutropenia(supportive=frozenset({"steroids"}))
    assert supportive_from_conmeds(e, [gcsf()]) == {"gcsf", "steroids"}
    assert with_conmeds([e], []) == (e,)


def test_h2_is_proposed_only_once_a_gcsf_conmed_is_linked_to_the_neutropenia():
    labs = (LabValue(on=day(10), anc=D("0.4")), LabValue(on=day(14), anc=D("0.3")), LabValue(on=day(19), anc=D("0.9")))
    base = {"cycle1_day1": D1, "baseline_anc": D(2), "baseline_platelets": D(180), "baseline_marrow_pct": D(20), "c2d1_planned": day(29), "c2d1_given": day(29)}

    def rules(conmeds):
        w = PatientWindow(**base, labs=labs, events=with_conmeds([neutropenia()], conmeds))
        return [p.rule for p in assess(w, today=day(60)).proposals]

    assert rules([]) == []
    assert rules([gcsf(category="other")]) == []
    assert rules([gcsf()]) == ["H2"]


dates = st.integers(min_value=1, max_value=60)


@given(onset=dates, length=st.one_of(st.none(), st.integers(0, 30)), start=dates, days=st.one_of(st.none(), st.integers(0, 30)))
def test_supportive_care_from_a_conmed_is_exactly_the_overlap_of_the_dates(onset, length, start, days):
    e = neutropenia(onset=onset, resolved=None if length is None else onset + length)
    c = gcsf(start=start, stop=None if days is None else start + days)
    overlap = (length is None or start <= onset + length) and (days is None or start + days >= onset)
    assert ("gcsf" in supportive_from_conmeds(e, [c])) is overlap
    assert supportive_from_conmeds(e, [c]) >= e.supportive  # never takes a flag away
