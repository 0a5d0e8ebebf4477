"""Issue 18, point 5: the loop (proposal, signature, enrolment into the decided level, replacement, caps) for a BOIN
trial, on protocols/bpd-boin.toml: the same services as 3+3, the design engine's rule and sentence in the decision."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cohorts.models import Cohort
from cohorts.protocol import read_protocol
from cohorts.services import patient_enroll, protocol_load
from escalation.models import EscalationDecision
from escalation.selectors import escalation_state, look_ahead_rows
from escalation.services import decision_sign, escalation_reevaluate
from tests.conftest import PROTOCOLS
from tests.factories import PASSWORD, propose_h2, register_patient, treat_patient
from toxicity.services import dlt_confirm, dlt_evaluate_many
from toxicity.services.terminology import ctcae_ensure

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=90)


@pytest.fixture
def boin(db):
    trial = protocol_load(spec=read_protocol(PROTOCOLS / "bpd-boin.toml")).trial
    ctcae_ensure(version=trial.ctcae_version)
    return trial


def treat(trial, site, by, day1=C1):
    return treat_patient(trial, site, by, day1=day1, cycle2_after=28 if day1 == C1 else None)


def dlt(patient, by, ivan):
    """A grade 4 neutropenia of 10 days in cycle 1 (rule H2), proposed by the rules and confirmed by the investigator."""
    dlt_confirm(proposal=propose_h2(patient, by), by=ivan, password=PASSWORD)


def test_the_boin_trial_starts_with_its_design_and_fills_the_first_cohort(boin, site_a, alice):
    state = escalation_state(boin)
    assert (state.design.name, state.design.target) == ("boin", 0.3)
    assert (state.decision.action, state.decision.level, state.decision.rule, state.decision.slots) == ("enrol", "1", "ENROL", 3)
    assert escalation_reevaluate(trial=boin)[0] is None  # the open cohort 1 has the 3 slots: nothing to sign
    first = treat(boin, site_a, alice)
    dlt_evaluate_many([first.pk])
    state = escalation_state(boin)
    assert (state.decision.action, state.decision.slots) == ("enrol", 2)
    assert "1 of 3 placed" in state.decision.reason
    assert escalation_reevaluate(trial=boin)[0] is None


def test_no_dlt_in_3_proposes_the_boin_escalation_and_the_signature_opens_level_2(boin, site_a, alice, ivan):
    patients = [treat(boin, site_a, alice) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in patients])
    decision = escalation_reevaluate(trial=boin)[0]
    assert (decision.action, decision.level.label, decision.rule, decision.slots, decision.status) == ("escalate", 2, "BOIN-E", 3, "proposed")
    assert decision.reason == "0 DLTs in 3 at level 1: 0.00 <= lambda_e 0.2365? yes: escalate to level 2"
    assert [p["outcome"] for p in decision.tally[0]["patients"]] == ["no_dlt"] * 3
    assert escalation_reevaluate(trial=boin)[0].pk == decision.pk  # idempotent
    signed = decision_sign(decision=decision, by=ivan, password=PASSWORD)
    assert signed.signature_meaning == "I approve: 0 DLTs in 3 at level 1: 0.00 <= lambda_e 0.2365? yes: escalate to level 2"
    cohort = Cohort.objects.get(trial=boin, status="open")
    assert (cohort.level.label, cohort.capacity, cohort.number, cohort.phase) == (2, 3, 2, "escalation")
    assert patient_enroll(patient=register_patient(boin, site_a, alice), by=alice).level.label == 2
    assert escalation_reevaluate(trial=boin)[0] is None  # cohort 2 is filling


def test_two_dlts_in_3_de_escalate_and_the_signature_opens_the_level_below(boin, site_a, alice, ivan):
    patients = [treat(boin, site_a, alice) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in patients])
    dlt(patients[0], alice, ivan)
    dlt(patients[1], alice, ivan)
    decision = escalation_reevaluate(trial=boin)[0]
    assert (decision.action, decision.level.label, decision.rule) == ("de-escalate", -1, "BOIN-D")
    assert decision.reason == "2 DLTs in 3 at level 1: 0.67 >= lambda_d 0.3585? yes: de-escalate to level -1"
    assert len(decision.dlts) == 2
    decision_sign(decision=decision, by=ivan, password=PASSWORD)
    cohort = Cohort.objects.get(trial=boin, status="open")
    assert (cohort.level.label, cohort.capacity) == (-1, 3)
    assert patient_enroll(patient=register_patient(boin, site_a, alice), by=alice).level.label == -1


def test_one_dlt_in_3_stays_and_the_next_cohort_opens_at_the_same_level(boin, site_a, alice, ivan):
    patients = [treat(boin, site_a, alice) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in patients])
    dlt(patients[2], alice, ivan)
    decision = escalation_reevaluate(trial=boin)[0]
    assert (decision.action, decision.level.label, decision.rule, decision.slots) == ("enrol", 1, "BOIN-S", 3)
    assert decision.reason == "1 DLT in 3 at level 1: 0.33 > lambda_e 0.2365 and < lambda_d 0.3585: stay"
    decision_sign(decision=decision, by=ivan, password=PASSWORD)
    cohort = Cohort.objects.get(trial=boin, status="open")
    assert (cohort.level.label, cohort.capacity, cohort.number) == (1, 3, 2)


def test_a_pending_patient_whose_outcome_matters_makes_the_engine_wait(boin, site_a, alice, ivan):
    done = [treat(boin, site_a, alice) for _ in range(2)]
    late = treat(boin, site_a, alice, day1=TODAY - timedelta(days=5))  # still in the DLT window
    dlt_evaluate_many([p.pk for p in [*done, late]])
    dlt(done[0], alice, ivan)
    decision = escalation_reevaluate(trial=boin)[0]
    assert (decision.action, decision.rule) == ("wait", "WAIT")
    assert "1 DLT in 2 with 1 pending" in decision.reason
    with pytest.raises(ValidationError):
        decision_sign(decision=decision, by=ivan, password=PASSWORD)
    assert EscalationDecision.objects.filter(trial=boin, status="signed").count() == 0


def test_the_escalation_page_shows_the_design_and_the_look_ahead(boin, site_a, alice, ivan, client):
    patients = [treat(boin, site_a, alice) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in patients])
    escalation_reevaluate(trial=boin)
    rows = look_ahead_rows(escalation_state(boin))
    assert rows[0][0] == "escalate 2 (BOIN-E)"
    assert [r[1] for r in rows][:4] == ["0/3 at 2"] * 4  # 4 outcomes of cohort 2 x 4 of cohort 3
    assert rows[0][1:3] == ["0/3 at 2", "escalate 3 (BOIN-E)"]
    assert any(r[1:3] == ["2/3 at 2", "de-escalate 1 (BOIN-D)"] for r in rows)
    client.force_login(ivan)
    body = client.get(f"/trials/{boin.code}/escalation/").content.decode()
    assert '<span id="design-name">boin</span>' in body
    assert "0 DLTs in 3 at level 1: 0.00 &lt;= lambda_e 0.2365? yes: escalate to level 2" in body
    assert "2/3 at 2" in body
    assert "de-escalate 1 (BOIN-D)" in body


def test_tite_boin_counts_a_pending_patient_by_the_days_since_cycle_1_day_1(boin, site_a, alice, ivan):
    """TITE-BOIN: the pending patient's follow-up fraction is days since C1D1 / the DLT window (14 / 28 = 0.50)."""
    boin.design = "tite-boin"
    boin.design_params = {**boin.design_params, "name": "tite-boin", "window_days": 28, "max_pending_fraction": 0.5}
    boin.save()
    done = [treat(boin, site_a, alice) for _ in range(2)]
    late = treat(boin, site_a, alice, day1=TODAY - timedelta(days=14))
    dlt_evaluate_many([p.pk for p in [*done, late]])
    state = escalation_state(boin)
    assert state.design_state.levels[1].pending == (0.5,)
    decision = escalation_reevaluate(trial=boin)[0]
    assert (decision.action, decision.level.label, decision.rule) == ("escalate", 2, "TITE-E")
    # Yuan et al. (2018): the pending outcome imputed, phat = q (c - STFT) / n, q = p / (1 - p), p = (0 + 0.15) / (2 + 1)
    assert decision.reason.startswith("0 DLTs in 3 treated at level 1 (2 complete, 1 pending, STFT 0.50): imputed phat 0.009 <= lambda_e 0.2365")
    decision_sign(decision=decision, by=ivan, password=PASSWORD)
    assert Cohort.objects.get(trial=boin, status="open").level.label == 2


def test_tite_boin_suspends_accrual_when_too_many_are_pending_and_nothing_is_signed(boin, site_a, alice, ivan):
    boin.design = "tite-boin"
    boin.design_params = {**boin.design_params, "name": "tite-boin", "window_days": 28, "max_pending_fraction": 0.5}
    boin.save()
    done = treat(boin, site_a, alice)
    late = [treat(boin, site_a, alice, day1=TODAY - timedelta(days=7)) for _ in range(2)]
    dlt_evaluate_many([p.pk for p in [done, *late]])
    dlt(done, alice, ivan)
    decision = escalation_reevaluate(trial=boin)[0]
    assert (decision.action, decision.rule) == ("suspend", "TITE-SUSPEND")
    assert "2 of 3 patients pending (67% > 50%): accrual suspended" in decision.reason
    with pytest.raises(ValidationError):
        decision_sign(decision=decision, by=ivan, password=PASSWORD)


def test_three_dlts_in_3_eliminate_the_level_and_the_engine_never_goes_back(boin, site_a, alice, ivan):
    patients = [treat(boin, site_a, alice) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in patients])
    for p in patients:
        dlt(p, alice, ivan)
    decision = escalation_reevaluate(trial=boin)[0]
    assert (decision.action, decision.level.label, decision.rule, decision.slots) == ("eliminate", -1, "ELIM", 3)
    assert decision.reason.startswith("3 DLTs in 3 at level 1: P(rate > 0.3) > 0.95 (eliminate at 3 or more in 3): level 1 and above are eliminated")
    decision_sign(decision=decision, by=ivan, password=PASSWORD)
    assert Cohort.objects.get(trial=boin, status="open").level.label == -1
    lower = [treat(boin, site_a, alice) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in lower])
    state = escalation_state(boin)
    assert state.design_state.eliminated_from == 1  # level 1 (index 1) and above, from the signed elimination
    assert (state.decision.action, state.decision.level, state.decision.rule) == ("enrol", "-1", "BOIN-E-TOP")
    assert "level 1 is eliminated: stay" in state.decision.reason


def test_a_3_3_trial_keeps_its_rules_and_shows_its_look_ahead_too(trial, site_a, alice, ivan, client):
    patients = [treat(trial, site_a, alice) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in patients])
    state = escalation_state(trial)
    assert state.design.name == "3+3"
    assert (state.decision.action, state.decision.rule, state.decision.reason) == ("escalate", "E0of3", "0 DLTs in 3 at level 1: escalate to level 2.")
    rows = look_ahead_rows(state)
    assert rows[0][:3] == ["escalate 2 (E0of3)", "0/3 at 2", "escalate 3 (E0of3)"]
    assert any(r[1:3] == ["1/3 at 2", "expand 2 (E1of3)"] for r in rows)
    client.force_login(ivan)
    body = client.get(f"/trials/{trial.code}/escalation/").content.decode()
    assert '<span id="design-name">3+3</span>' in body
    assert "expand 2 (E1of3)" in body


def test_a_boin_step_that_would_pass_the_escalation_cap_stops_as_for_3_plus_3(boin, site_a, alice):
    """The cap counts every escalation patient (not-evaluable ones too), for every design: one cap rule (rules.within_cap)."""
    boin.cap_escalation = 4
    boin.save(update_fields=["cap_escalation"])
    patients = [treat(boin, site_a, alice) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in patients])
    decision = escalation_state(boin).decision
    assert (decision.action, decision.rule, decision.slots) == ("stop", "CAP", 0)
    assert decision.reason.startswith("Escalation cap reached: 3 patients treated in escalation, the cap is 4; the next step (0 DLTs in 3 at level 1")
