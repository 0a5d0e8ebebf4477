"""The whole loop through a real Celery worker on Redis: patients enrolled and treated, DLTs confirmed,
the engine's proposal stored by the worker, an investigator signs, the next patient goes to the new level."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from cohorts.protocol import read_protocol
from cohorts.services import patient_enroll, protocol_load
from dosing.services import cycle_start
from escalation.models import EscalationDecision
from escalation.services import decision_sign
from tests.conftest import PROTOCOLS
from tests.factories import PASSWORD, register_patient
from toxicity.ctcae import meddra
from toxicity.models import DltProposal
from toxicity.services import ae_record, dlt_confirm, lab_record
from toxicity.services.terminology import ctcae_ensure

from .conftest import wait_for

TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=90)
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}


def day(n):
    return C1 + timedelta(days=n - 1)


def three_through_cycle_1(trial, site, by):
    """Three patients enrolled and through cycle 1 (cycle 2 started on day 29): evaluable once the worker drains."""
    patients = []
    for _ in range(3):
        p = register_patient(trial, site, by, consent_date=C1 - timedelta(days=20), height_cm=Decimal("170.0"), weight_kg=Decimal("70.0"))
        patient_enroll(patient=p, by=by, enrolled_on=C1 - timedelta(days=10))
        cycle_start(patient=p, by=by, day1=C1, weight_kg=Decimal("70.0"))
        cycle_start(patient=p, by=by, day1=C1 + timedelta(days=28), weight_kg=Decimal("70.0"))
        patients.append(p)
    return patients


def neutropenia_data(patient, by):
    """A grade 4 neutropenia with G-CSF on days 10-19 of cycle 1 and its ANC counts (no evaluation: the worker's)."""
    values = {"term": meddra("Neutrophil count decreased"), "grade": 4, "onset": day(10), "resolved": day(19), "outcome": "recovered"}
    ae_record(patient=patient, by=by, attribution=RELATED, supportive=["gcsf"], **values)
    for n, anc in ((10, "0.4"), (19, "0.9")):
        lab_record(patient=patient, by=by, on=day(n), anc=anc)


def proposed(action):
    return lambda: EscalationDecision.objects.filter(status="proposed", action=action).first()


@pytest.mark.django_db(transaction=True)
def test_dlts_confirmed_lead_to_a_proposal_the_investigator_signs_and_the_next_patient_goes_down(celery_worker_process, trial, site_a, alice, ivan):
    patients = three_through_cycle_1(trial, site_a, alice)
    log = celery_worker_process["log"]
    assert wait_for(proposed("escalate")), log.read_text()[-3000:]  # 0 DLTs in 3, proposed by the worker

    for p in patients[:2]:
        neutropenia_data(p, alice)  # what makes H2: the worker proposes it
    found = wait_for(lambda: DltProposal.objects.filter(rule="H2", status="proposed").count() == 2)
    assert found, log.read_text()[-3000:]
    for proposal in DltProposal.objects.filter(rule="H2"):
        dlt_confirm(proposal=proposal, by=ivan, password=PASSWORD)

    decision = wait_for(proposed("de-escalate"))
    assert decision is not None, log.read_text()[-3000:]
    assert (decision.level.label, decision.rule, decision.slots) == (-1, "DOWN", 3)
    assert sorted(decision.dlts.values()) == [f"H2 {day(10).isoformat()}"] * 2
    assert EscalationDecision.objects.filter(action="escalate", status="superseded").exists()
    assert "pipeline.drain" in log.read_text()

    decision_sign(decision=decision, by=ivan, password=PASSWORD)
    newcomer = register_patient(trial, site_a, alice)
    assert patient_enroll(patient=newcomer, by=alice).level.label == -1


@pytest.fixture
def boin(db):
    """The BPD ladder under BOIN, target 0.30 (issue 18: protocols/bpd-boin.toml)."""
    trial = protocol_load(spec=read_protocol(PROTOCOLS / "bpd-boin.toml")).trial
    ctcae_ensure(version=trial.ctcae_version)
    return trial


@pytest.mark.django_db(transaction=True)
def test_a_boin_trial_runs_the_same_loop_on_the_worker(celery_worker_process, boin, site_a, alice, ivan):
    """Issue 18, point 5: DLTs confirmed -> the BOIN proposal stored by the worker -> signature -> enrolment at the decided level."""
    patients = three_through_cycle_1(boin, site_a, alice)
    log = celery_worker_process["log"]
    escalate = wait_for(proposed("escalate"))
    assert escalate is not None, log.read_text()[-3000:]
    assert (escalate.rule, escalate.reason) == ("BOIN-E", "0 DLTs in 3 at level 1: 0.00 <= lambda_e 0.2365? yes: escalate to level 2")

    for p in patients[:2]:
        neutropenia_data(p, alice)  # what makes H2: the worker proposes it
    assert wait_for(lambda: DltProposal.objects.filter(rule="H2", status="proposed").count() == 2), log.read_text()[-3000:]
    for proposal in DltProposal.objects.filter(rule="H2"):
        dlt_confirm(proposal=proposal, by=ivan, password=PASSWORD)

    decision = wait_for(proposed("de-escalate"))
    assert decision is not None, log.read_text()[-3000:]
    assert (decision.level.label, decision.rule, decision.slots) == (-1, "BOIN-D", 3)
    assert decision.reason == "2 DLTs in 3 at level 1: 0.67 >= lambda_d 0.3585? yes: de-escalate to level -1"
    assert EscalationDecision.objects.get(pk=escalate.pk).status == "superseded"

    decision_sign(decision=decision, by=ivan, password=PASSWORD)
    assert patient_enroll(patient=register_patient(boin, site_a, alice), by=alice).level.label == -1
