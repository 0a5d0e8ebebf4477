"""Concomitant medications on the database: record, correct, retract; audit and outbox; the supportive care
the DLT rules read from them (protocol s.3: H2 despite G-CSF, N2 despite maximal therapy, N6 despite steroids)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from tests.factories import PASSWORD
from toxicity.ctcae import meddra
from toxicity.models import ConMed, DltProposal
from toxicity.selectors import dlt_windows
from toxicity.services import ae_record, ae_retract, conmed_record, conmed_retract, conmed_update, dlt_confirm, dlt_evaluate_many, lab_record
from trialsite.models import Change

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=390)
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}


def day(n):
    """Cycle 1 day n."""
    return C1 + timedelta(days=n - 1)


def neutropenia(patient, by, **kw):
    values = {"term": meddra("Neutrophil count decreased"), "grade": 4, "onset": day(10), "resolved": day(19), "outcome": "recovered", "attribution": RELATED}
    return ae_record(patient=patient, by=by, **(values | kw))


def filgrastim(patient, by, events=(), **kw):
    values = {
        "drug": "filgrastim",
        "indication": "grade 4 neutropenia",
        "dose": Decimal("300"),
        "dose_unit": "ug",
        "frequency": "once daily",
        "route": "sc",
        "start": day(11),
        "stop": day(17),
        "category": "gcsf",
        "adverse_events": events,
    }
    return conmed_record(patient=patient, by=by, **(values | kw))


def h2_labs(patient, by):
    for n, value in [(10, "0.4"), (14, "0.3"), (19, "0.9")]:
        lab_record(patient=patient, by=by, on=day(n), anc=value)


def rules(patient):
    dlt_evaluate_many([patient.pk])
    return sorted(DltProposal.objects.filter(patient=patient).exclude(status="withdrawn").values_list("rule", flat=True))


# ---------------------------------------------------------------- the services


def test_a_conmed_is_recorded_linked_to_its_event_with_history_and_a_toxicity_change(on_c1, alice):
    ae = neutropenia(on_c1, alice)
    Change.objects.all().delete()
    cm = filgrastim(on_c1, alice, events=[ae])
    assert (cm.drug, cm.category, list(cm.adverse_events.all()), cm.entered_by) == ("filgrastim", "gcsf", [ae], alice)
    first = cm.history.earliest()
    assert (first.history_user, first.history_change_reason) == (alice, f"Recorded: filgrastim (G-CSF) for events {ae.pk}")
    assert list(Change.objects.filter(patient_id=on_c1.pk).values_list("kind", flat=True)) == ["toxicity"]
    assert list(ae.conmeds.all()) == [cm]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"start": day(11), "stop": day(10)}, "stop", "cannot be before the start"),
        ({"stop": None}, "stop", "Give the stop date, or tick ongoing"),
        ({"ongoing": True}, "ongoing", "An ongoing medication has no stop date"),
        ({"start": TODAY + timedelta(days=1), "stop": None, "ongoing": True}, "start", "future"),
        ({"drug": " "}, "drug", "Give the drug"),
        ({"route": "nasal"}, "route", "must be one of"),
        ({"category": "vitamins"}, "category", "must be one of"),
        ({"dose_unit": ""}, "dose_unit", "unit of the dose"),
        ({"dose": Decimal(0)}, "dose", "above zero"),
    ],
)
def test_bad_conmeds_give_field_errors_and_save_nothing(on_c1, alice, change, field, message):
    with pytest.raises(ValidationError) as info:
        filgrastim(on_c1, alice, **change)
    assert message in " ".join(info.value.message_dict[field])
    assert ConMed.objects.count() == 0


def test_a_conmed_is_linked_only_to_current_events_of_the_patient_within_its_dates(on_c1, alice, patient_b, bob):
    ae = neutropenia(on_c1, alice)
    with pytest.raises(ValidationError) as info:
        filgrastim(on_c1, alice, events=[ae], start=day(1), stop=day(5))
    assert "after the medication stopped" in info.value.message_dict["adverse_events"][0]
    with pytest.raises(ValidationError) as info:
        filgrastim(on_c1, alice, events=[ae], start=day(20), stop=day(22))
    assert "before the medication started" in info.value.message_dict["adverse_events"][0]
    ae_retract(ae=ae, by=alice, reason="wrong patient")
    with pytest.raises(ValidationError) as info:
        filgrastim(on_c1, alice, events=[ae])
    assert "current adverse events of this patient" in info.value.message_dict["adverse_events"][0]


def test_another_sites_coordinator_cannot_record_a_conmed(on_c1, bob):
    with pytest.raises(PermissionDenied):
        filgrastim(on_c1, bob)


def test_correcting_a_conmed_needs_a_reason_and_keeps_old_and_new(on_c1, alice):
    ae = neutropenia(on_c1, alice)
    cm = filgrastim(on_c1, alice)
    with pytest.raises(ValidationError) as info:
        conmed_update(conmed=cm, by=alice, reason="", dose=Decimal("480"))
    assert "reason for change" in info.value.message_dict["reason"][0]
    with pytest.raises(ValidationError) as info:
        conmed_update(conmed=cm, by=alice, reason="typo", stop=day(5))
    assert "cannot be before the start" in info.value.message_dict["stop"][0]
    Change.objects.all().delete()
    conmed_update(conmed=cm, by=alice, reason="source: 480 ug, for the neutropenia", dose=Decimal("480"), adverse_events=[ae])
    old, new = cm.history.earliest(), cm.history.latest()  # the links are kept with each history row
    assert (old.dose, new.dose, new.history_user) == (Decimal("300.000"), Decimal("480.000"), alice)
    assert new.history_change_reason == "source: 480 ug, for the neutropenia"
    links = [list(h.adverse_events.values_list("adverseevent_id", flat=True)) for h in (old, new)]
    assert links == [[], [ae.pk]]
    assert list(cm.adverse_events.all()) == [ae]
    assert Change.objects.filter(patient_id=on_c1.pk, kind="toxicity").exists()
    assert conmed_update(conmed=cm, by=alice, reason="", dose=Decimal("480")) == cm  # no change: no reason needed


def test_a_retracted_conmed_is_kept_and_can_no_longer_be_corrected(on_c1, alice):
    cm = filgrastim(on_c1, alice)
    with pytest.raises(ValidationError):
        conmed_retract(conmed=cm, by=alice, reason="")
    conmed_retract(conmed=cm, by=alice, reason="recorded for the wrong patient")
    cm.refresh_from_db()
    assert (cm.in_error, cm.history.latest().history_change_reason) == (True, "Entered in error: recorded for the wrong patient")
    with pytest.raises(ValidationError):
        conmed_update(conmed=cm, by=alice, reason="too late", dose=Decimal(1))


def test_a_conmed_dated_in_a_locked_cycle_is_refused(on_c1, alice):
    from dosing.models import Cycle

    cm = filgrastim(on_c1, alice)
    Cycle.objects.filter(patient=on_c1, number=1).update(locked_at=timezone.now())
    with pytest.raises(ValidationError) as info:
        filgrastim(on_c1, alice, drug="ondansetron")
    assert "Cycle 1 is locked: a concomitant medication" in info.value.messages[0]
    with pytest.raises(ValidationError):
        conmed_retract(conmed=cm, by=alice, reason="entered in error")
    assert ConMed.objects.filter(in_error=False).count() == 1


def test_the_audit_trail_lists_the_conmeds_changes_with_old_new_and_reason(on_c1, alice, trial):
    from datamanagement.audit import trail

    cm = filgrastim(on_c1, alice)
    conmed_update(conmed=cm, by=alice, reason="source says 480", dose=Decimal("480"))
    entries = trail(trial, patient=on_c1, record_types=["conmed"])
    changed = next(e for e in entries if e.action == "Changed")
    named = f"filgrastim (G-CSF) from {cm.start.isoformat()}, {on_c1.study_id}"
    assert (changed.record, changed.reason, changed.username) == (named, "source says 480", "alice")
    assert changed.url == f"/patients/{on_c1.study_id}/safety/"
    assert [(c.field, c.old, c.new) for c in changed.changes if c.field == "dose"] == [("dose", "300.000", "480.000")]


# ---------------------------------------------------------------- what the DLT rules read


def test_the_window_gives_an_event_the_supportive_care_of_its_linked_conmeds(on_c1, alice):
    ae = neutropenia(on_c1, alice)
    assert dlt_windows([on_c1.pk])[on_c1.pk].events[0].supportive == frozenset()
    filgrastim(on_c1, alice, events=[ae])
    filgrastim(on_c1, alice, drug="ondansetron", category="max_antiemetic")  # linked to no event: gives none
    assert dlt_windows([on_c1.pk])[on_c1.pk].events[0].supportive == {"gcsf"}


def test_h2_is_proposed_only_with_a_gcsf_conmed_linked_to_the_neutropenia(on_c1, alice):
    ae = neutropenia(on_c1, alice)
    h2_labs(on_c1, alice)
    assert rules(on_c1) == []
    other = filgrastim(on_c1, alice, drug="paracetamol", category="other", events=[ae])
    assert rules(on_c1) == []
    cm = filgrastim(on_c1, alice, events=[ae])
    assert rules(on_c1) == ["H2"]
    conmed_retract(conmed=cm, by=alice, reason="not given after all")
    assert rules(on_c1) == []
    assert other.pk


def test_unlinking_the_gcsf_reopens_a_confirmed_h2(on_c1, alice, ivan):
    ae = neutropenia(on_c1, alice)
    h2_labs(on_c1, alice)
    cm = filgrastim(on_c1, alice, events=[ae])
    dlt_evaluate_many([on_c1.pk])
    dlt_confirm(proposal=DltProposal.objects.get(patient=on_c1, rule="H2"), by=ivan, password=PASSWORD, reason="")
    conmed_update(conmed=cm, by=alice, reason="the G-CSF was for another episode", adverse_events=[])
    assert DltProposal.objects.get(patient=on_c1, rule="H2").status == "reopened"


@pytest.mark.parametrize(
    ("term", "category", "dlt"),
    [
        ("Nausea", "max_antiemetic", True),
        ("Nausea", "max_antidiarrheal", False),
        ("Diarrhea", "max_antidiarrheal", True),
        ("Diarrhea", "other", False),
    ],
)
def test_n2_is_proposed_only_with_the_maximal_therapy_conmed_linked(on_c1, alice, term, category, dlt):
    ae = ae_record(patient=on_c1, by=alice, term=meddra(term), grade=3, onset=day(6), resolved=day(9), outcome="recovered", attribution=RELATED)
    assert rules(on_c1) == []
    filgrastim(on_c1, alice, drug="a drug", category=category, start=day(6), stop=day(8), events=[ae])
    assert (rules(on_c1) == ["N2"]) is dlt


def test_n6_is_proposed_only_with_a_steroid_conmed_linked_to_the_rash(on_c1, alice):
    rash = ae_record(
        patient=on_c1, by=alice, term=meddra("Rash maculo-papular"), grade=3, onset=day(6), resolved=day(20), outcome="recovered", attribution=RELATED
    )
    assert rules(on_c1) == []
    filgrastim(on_c1, alice, drug="prednisone", indication="rash", category="steroids", route="oral", start=day(7), stop=day(14), events=[rash])
    assert rules(on_c1) == ["N6"]


def test_the_events_own_supportive_flags_still_count(on_c1, alice):
    neutropenia(on_c1, alice, supportive=["gcsf"])
    h2_labs(on_c1, alice)
    assert rules(on_c1) == ["H2"]


def test_a_flag_without_its_conmed_raises_a_query_until_the_conmed_is_recorded(on_c1, alice, trial):
    from datamanagement.models import DataQuery
    from datamanagement.quality import edit_checks_run

    flagged = neutropenia(on_c1, alice, supportive=["gcsf"])
    edit_checks_run(trial=trial)
    assert list(DataQuery.objects.filter(edit_check="SUPPORTIVE_CM").values_list("object_id", "field")) == [(flagged.pk, "supportive")]
    DataQuery.objects.all().delete()
    filgrastim(on_c1, alice, events=[flagged])
    edit_checks_run(trial=trial)
    assert not DataQuery.objects.filter(edit_check="SUPPORTIVE_CM").exists()


def test_a_missed_h2_shows_the_neutropenia_event_and_its_linked_gcsf_and_a_missed_h3_the_cycle_starts(on_c1, alice):
    """The missed-DLT form's evidence (toxicity.selectors.missed_dlt_evidence) read from the database: H2's
    neutropenia event with the G-CSF conmed linked to it, H3's cycle 1 and cycle 2 day 1 dates."""
    from toxicity.selectors import missed_dlt_evidence

    event = neutropenia(on_c1, alice, grade=3)
    drug = filgrastim(on_c1, alice, events=[event])
    lab_record(patient=on_c1, by=alice, on=day(12), anc="0.7")
    h2 = missed_dlt_evidence(on_c1, "H2", today=day(40))
    assert h2 is not None
    assert h2.supported is False
    gcsf = next(e for e in h2.evidence if e.ref == f"conmed:{drug.pk}")
    assert (gcsf.what, gcsf.on) == ("G-CSF filgrastim 300 ug", day(11))
    assert gcsf.value == f"from {day(11).isoformat()} to {day(17).isoformat()}, for Neutrophil count decreased grade 3"
    assert f"ae:{event.pk}" in [e.ref for e in h2.evidence]
    h3 = missed_dlt_evidence(on_c1, "H3", today=day(40))
    assert h3 is not None
    starts = {e.what: e.value for e in h3.evidence if e.ref.startswith("cycle:")}
    assert starts["Cycle 1 day 1"] == f"given {day(1).isoformat()}"
    assert starts["Cycle 2 day 1"].startswith(f"planned {day(29).isoformat()}, not given yet: delayed ")
