"""Electronic signatures (issue #17): every decision that moves the trial re-enters the signer's password and
stores who signed, when and what the signature means; a wrong or missing password writes nothing."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from datamanagement.quality import cycle_lock, cycle_unlock
from dosing.models import Cycle
from escalation.services import decision_reject, decision_sign, escalation_reevaluate
from tests.factories import PASSWORD, treat_patient
from toxicity.models import Dlt, DltProposal
from toxicity.services import dlt_confirm, dlt_evaluate_many, dlt_record_missed, dlt_reject, dlt_withdraw, lab_record
from trialsite.models import Signature
from trialsite.signatures import check_password, signatures_of

from .test_toxicity_services import anc_series, day, neutropenia

pytestmark = pytest.mark.django_db
C1 = day(1)


@pytest.fixture
def proposed(on_c1, alice):
    neutropenia(on_c1, alice)
    anc_series(on_c1, alice, [(10, "0.4"), (19, "0.9")])
    dlt_evaluate_many([on_c1.pk])
    return DltProposal.objects.get(patient=on_c1)


def test_check_password_is_true_only_for_the_signers_own_password(ivan, alice):
    assert check_password(ivan, PASSWORD)
    assert not check_password(ivan, "")
    assert not check_password(ivan, None)
    assert not check_password(ivan, PASSWORD + "x")


@pytest.mark.parametrize("password", ["", "not-my-password"])
@pytest.mark.parametrize("service", [dlt_confirm, dlt_reject])
def test_adjudication_without_the_right_password_is_refused_and_writes_nothing(proposed, ivan, service, password):
    before = (proposed.status, proposed.history.count(), Dlt.objects.count())
    with pytest.raises(ValidationError) as info:
        service(proposal=proposed, by=ivan, password=password, reason="typical H2")
    assert "password" in info.value.message_dict
    proposed.refresh_from_db()
    assert (proposed.status, proposed.history.count(), Dlt.objects.count()) == before
    assert not Signature.objects.exists()


def test_a_confirmed_dlt_stores_the_signers_name_time_and_meaning(proposed, ivan):
    ivan.first_name, ivan.last_name = "Ivan", "Petrov"
    ivan.save()
    row = dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD, reason="typical H2")
    [sig] = signatures_of(row)
    assert (sig.signer, sig.signer_name, sig.signed_at) == (ivan, "Ivan Petrov", row.confirmed_at)
    assert sig.meaning == "I confirm this toxicity is a dose-limiting toxicity (criterion H2)"
    assert len(sig.digest) == 64
    assert str(sig).startswith("Signed by Ivan Petrov on ")
    assert str(sig).endswith(": I confirm this toxicity is a dose-limiting toxicity (criterion H2)")


def test_a_rejection_is_signed_on_the_proposal(proposed, ivan):
    dlt_reject(proposal=proposed, by=ivan, password=PASSWORD, reason="marrow infiltration")
    [sig] = signatures_of(proposed)
    assert sig.meaning == "I confirm this toxicity is not a dose-limiting toxicity (criterion H2 proposed by the rules)"


def test_a_signature_cannot_be_changed_or_deleted(proposed, ivan):
    row = dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD, reason="typical H2")
    [sig] = signatures_of(row)
    sig.meaning = "something else"
    with pytest.raises(ValueError, match="cannot be changed"):
        sig.save()
    with pytest.raises(ValueError, match="cannot be deleted"):
        sig.delete()


def test_a_missed_h4_shows_the_platelet_counts_and_needs_an_explicit_confirmation(on_c1, alice, ivan):
    lab_record(patient=on_c1, by=alice, on=day(12), platelets="35")  # low platelets, but no bleeding: H4 is not met
    kwargs = {"patient": on_c1, "by": ivan, "rule": "H4", "onset": day(12), "description": "epistaxis at home", "reason": "bleeding not recorded as an AE"}
    with pytest.raises(ValidationError) as info:
        dlt_record_missed(**kwargs, password=PASSWORD)
    assert info.value.message_dict["confirm_unsupported"] == ['The data do not meet criterion H4: tick "record it anyway" to record it with your reason.']
    with pytest.raises(ValidationError) as info:
        dlt_record_missed(**kwargs, password="wrong", confirm_unsupported=True)
    assert set(info.value.message_dict) == {"password"}
    assert not Dlt.objects.exists()
    assert not Signature.objects.exists()
    row = dlt_record_missed(**kwargs, password=PASSWORD, confirm_unsupported=True)
    assert [(e["what"], e["value"]) for e in row.evidence] == [("Platelets", "35.0 x10^9/L")]
    [sig] = signatures_of(row)
    assert (
        sig.meaning
        == "I record this toxicity as a dose-limiting toxicity the rules did not propose (criterion H4), although the data the rules read do not meet it"
    )


def test_withdrawing_a_missed_dlt_is_signed(on_c1, ivan):
    row = dlt_record_missed(
        patient=on_c1, by=ivan, password=PASSWORD, rule="N1", onset=day(12), description="grade 3 hepatitis", reason="free text", confirm_unsupported=True
    )
    with pytest.raises(ValidationError) as info:
        dlt_withdraw(dlt_row=row, by=ivan, password="", reason="duplicate entry")
    assert set(info.value.message_dict) == {"password"}
    row.refresh_from_db()
    assert row.withdrawn_at is None
    dlt_withdraw(dlt_row=row, by=ivan, password=PASSWORD, reason="duplicate entry")
    assert [s.meaning for s in signatures_of(row)][-1] == "I withdraw this dose-limiting toxicity: it no longer counts for the escalation"


def test_locking_and_unlocking_a_cycle_are_signed(on_c1, dana):
    cycle = Cycle.objects.get(patient=on_c1, number=1)
    with pytest.raises(ValidationError) as info:
        cycle_lock(cycle=cycle, by=dana, password="wrong")
    assert set(info.value.message_dict) == {"password"}
    cycle.refresh_from_db()
    assert cycle.locked_at is None
    assert not Signature.objects.exists()
    cycle_lock(cycle=cycle, by=dana, password=PASSWORD, reason="source-verified")
    with pytest.raises(ValidationError) as info:
        cycle_unlock(cycle=cycle, by=dana, password="", reason="")
    assert set(info.value.message_dict) == {"password", "reason"}
    cycle_unlock(cycle=cycle, by=dana, password=PASSWORD, reason="late lab")
    assert [s.meaning for s in signatures_of(cycle)] == [
        "I confirm the data of cycle 1 are complete and verified, and I lock them",
        "I unlock cycle 1 so that its data can be corrected: late lab",
    ]


@pytest.fixture
def escalation_proposal(trial, site_a, alice):
    patients = [treat_patient(trial, site_a, alice, day1=C1 - timedelta(days=60), cycle2_after=28) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in patients])
    return escalation_reevaluate(trial=trial)[0]


def test_signing_an_escalation_decision_writes_its_signature(escalation_proposal, ivan):
    with pytest.raises(ValidationError) as info:
        decision_sign(decision=escalation_proposal, by=ivan, password="wrong")
    assert set(info.value.message_dict) == {"password"}
    assert not Signature.objects.exists()
    decision = decision_sign(decision=escalation_proposal, by=ivan, password=PASSWORD)
    [sig] = signatures_of(decision)
    assert (sig.signer, sig.meaning, sig.signed_at) == (ivan, decision.signature_meaning, decision.signed_at)


def test_rejecting_an_escalation_proposal_writes_its_signature(escalation_proposal, ivan):
    with pytest.raises(ValidationError):
        decision_reject(decision=escalation_proposal, by=ivan, password="", reason="safety committee first")
    assert not Signature.objects.exists()
    decision_reject(decision=escalation_proposal, by=ivan, password=PASSWORD, reason="safety committee first")
    assert [s.meaning for s in signatures_of(escalation_proposal)] == ["I reject this escalation proposal: safety committee first"]


def test_five_wrong_signature_passwords_lock_the_signer_though_each_refusal_writes_nothing(proposed, ivan, client):
    """A refused signature rolls its transaction back; the failed password is counted all the same (it is checked
    before the transaction), and with the logins' five failures the account can neither sign nor log in."""
    from axes.models import AccessAttempt

    for attempt in range(5):
        with pytest.raises(ValidationError) as info:
            dlt_reject(proposal=proposed, by=ivan, password=f"guess-{attempt}", reason="typical H2")
        [message] = info.value.message_dict["password"]
        assert message.startswith("This account is locked until") if attempt == 4 else message.startswith("The password is not correct")
    assert sum(AccessAttempt.objects.filter(username=ivan.username).values_list("failures_since_start", flat=True)) == 5
    with pytest.raises(ValidationError) as info:
        dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD, reason="typical H2")
    assert "locked" in info.value.message_dict["password"][0]
    proposed.refresh_from_db()
    assert proposed.status == DltProposal.Status.PROPOSED
    assert not Signature.objects.exists()
    response = client.post("/accounts/login/", {"username": ivan.username, "password": PASSWORD})
    assert response.status_code == 429
