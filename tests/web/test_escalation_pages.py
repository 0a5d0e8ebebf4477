"""The escalation page and API: per persona, signing with the password, re-review flags, bounded queries."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from rest_framework.test import APIClient

from cohorts.models import Cohort
from escalation.models import EscalationDecision
from escalation.services import escalation_reevaluate
from tests.factories import PASSWORD, treat_patient
from toxicity.services import dlt_evaluate_many

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=90)


def treat(trial, site, by):
    return treat_patient(trial, site, by, day1=C1)


@pytest.fixture
def proposal(trial, site_a, alice):
    patients = [treat(trial, site_a, alice) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in patients])
    return escalation_reevaluate(trial=trial)[0]


@pytest.mark.parametrize(("persona", "status"), [("alice", 200), ("ivan", 200), ("dana", 200), ("mona", 200), ("olga", 403)])
def test_escalation_page_per_persona(client, personas, trial, persona, status):
    client.force_login(personas[persona])
    assert client.get(reverse("trial_escalation", args=[trial.code])).status_code == status


def test_investigator_sees_the_tally_and_the_path_and_signs_with_the_password(client, ivan, trial, proposal):
    client.force_login(ivan)
    url = reverse("trial_escalation", args=[trial.code])
    html = client.get(url).content.decode()
    assert "0 DLTs in 3 at level 1: escalate to level 2." in html
    assert html.count('<td class="outcome-no_dlt">no_dlt</td>') == 3
    assert 'class="cohort" data-level="1" data-dlts="0"' in html
    response = client.post(url, {"op": "sign", "decision": proposal.pk, "password": "not-mine"})
    assert response.status_code == 200
    assert "password is not correct" in " ".join(response.context["sign_form"].errors["password"])
    response = client.post(url, {"op": "sign", "decision": proposal.pk, "password": PASSWORD})
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.status, proposal.signed_by) == ("signed", ivan)
    assert Cohort.objects.get(trial=trial, status="open").level.label == 2
    assert f'<small class="signature">Signed by {escape(ivan.get_full_name())} on ' in client.get(url).content.decode()


@pytest.mark.parametrize("persona", ["alice", "dana", "mona"])
def test_only_investigators_sign(client, personas, trial, proposal, persona):
    client.force_login(personas[persona])
    url = reverse("trial_escalation", args=[trial.code])
    assert 'id="sign"' not in client.get(url).content.decode()
    assert client.post(url, {"op": "sign", "decision": proposal.pk, "password": PASSWORD}).status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == "proposed"


def test_a_flagged_decision_shows_needs_re_review_and_can_be_re_reviewed(client, ivan, trial, proposal):
    EscalationDecision.objects.filter(pk=proposal.pk).update(status="signed", needs_review=True, review_note="DLT 4 changed.")
    client.force_login(ivan)
    url = reverse("trial_escalation", args=[trial.code])
    html = client.get(url).content.decode()
    assert "needs re-review" in html
    client.post(url, {"op": "rereview", "decision": proposal.pk, "password": PASSWORD, "note": "tally unchanged"})
    proposal.refresh_from_db()
    assert (proposal.needs_review, "tally unchanged" in proposal.review_note) == (False, True)


def test_page_queries_do_not_grow_with_patients(client, ivan, trial, site_a, alice, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(ivan)
    url = reverse("trial_escalation", args=[trial.code])
    treat(trial, site_a, alice)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for _ in range(2):
        treat(trial, site_a, alice)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


def test_api_state_decisions_and_sign(trial, proposal, ivan, alice):
    api = APIClient()
    api.force_authenticate(alice)
    state = api.get(f"/api/v1/trials/{trial.code}/escalation/").json()
    assert (state["action"], state["level"], [p["outcome"] for p in state["patients"]]) == ("escalate", "2", ["no_dlt"] * 3)
    assert api.post(f"/api/v1/decisions/{proposal.pk}/sign/", {"password": PASSWORD}, format="json").status_code == 403
    api.force_authenticate(ivan)
    wrong = api.post(f"/api/v1/decisions/{proposal.pk}/sign/", {"password": "nope"}, format="json")
    assert (wrong.status_code, "password" in wrong.json()["errors"]) == (400, True)
    signed = api.post(f"/api/v1/decisions/{proposal.pk}/sign/", {"password": PASSWORD}, format="json")
    assert (signed.status_code, signed.json()["status"], signed.json()["signed_by"]) == (200, "signed", "ivan")
    listed = api.get("/api/v1/decisions/", {"trial__code": trial.code}).json()["results"]
    assert [d["status"] for d in listed] == ["signed"]


def test_rejecting_on_the_page_needs_the_password_and_a_reason(client, ivan, trial, proposal):
    client.force_login(ivan)
    url = reverse("trial_escalation", args=[trial.code])
    response = client.post(url, {"op": "reject", "decision": proposal.pk, "reason": "DSMB asked to wait", "password": "wrong"})
    assert "password is not correct" in " ".join(response.context["reject_form"].errors["password"])
    client.post(url, {"op": "reject", "decision": proposal.pk, "reason": "DSMB asked to wait", "password": PASSWORD})
    proposal.refresh_from_db()
    assert (proposal.status, proposal.rejection_reason) == ("rejected", "DSMB asked to wait")


def _page(client, user, trial) -> str:
    client.force_login(user)
    return client.get(reverse("trial_escalation", args=[trial.code])).content.decode()


def test_a_wait_is_never_announced_as_awaiting_a_signature(client, ivan, trial, site_a, alice):
    patients = [treat_patient(trial, site_a, alice, day1=TODAY - timedelta(days=3), cycle2_after=None) for _ in range(3)]  # DLT windows open
    dlt_evaluate_many([p.pk for p in patients])
    proposal = escalation_reevaluate(trial=trial)[0]
    assert proposal.action == "wait"
    html = _page(client, ivan, trial)
    assert "The engine waits" in html
    assert "awaiting signature" not in html
    assert "awaiting an investigator" not in html
    assert 'id="sign"' not in html
    assert "Waiting: not for signature" in html
    home = client.get(reverse("trial_home", args=[trial.code])).content.decode()
    assert "The escalation engine waits (nothing to sign)" in home
    assert "awaiting an investigator's signature" not in home


def test_after_signing_the_page_shows_the_decision_carried_out_and_what_the_engine_expects_next(client, ivan, trial, proposal):
    client.force_login(ivan)
    url = reverse("trial_escalation", args=[trial.code])
    assert client.post(url, {"op": "sign", "decision": proposal.pk, "password": PASSWORD}).status_code == 302
    html = _page(client, ivan, trial)
    carried = html.split('id="carried-out"')[1].split("</div>")[0]
    assert f"signed by {ivan.get_full_name()}" in carried
    assert "<strong>escalate</strong> at level 2" in carried
    engine = html.split('id="engine-now"')[1].split("</p>")[0]
    assert "The engine expects next:" in engine
    assert "at level 2" in engine
    assert "cohort 2 at level 2" in html
    assert 'id="sign"' not in html
    assert "No proposal awaits a signature." in html
    assert "awaiting signature" not in html


def test_superseded_proposals_fold_away_under_the_history(client, ivan, trial, proposal):
    EscalationDecision.objects.create(
        trial=trial,
        action="wait",
        rule="WAIT",
        reason="An older reading of the tally.",
        inputs_digest="old",
        status=EscalationDecision.Status.SUPERSEDED,
        proposed_at=timezone.now() - timedelta(days=1),
    )
    html = _page(client, ivan, trial)
    table, folded = html.split('<details id="superseded">')
    assert 'data-status="superseded"' not in table
    assert "1 superseded proposal" in folded
    assert "An older reading of the tally." in folded


def test_page_queries_and_path_are_the_same_for_a_small_and_a_large_expansion(client, ivan, site_a, site_b, settings, django_assert_max_num_queries):
    """The expansion grows with the trial: its cohorts are counted in SQL, one mark a level (bench/audit.py times it)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portal.demo.seed import seed_synthetic, synthetic_trial

    settings.TRIALSITE_SESSION_RENEW_SECONDS = 24 * 3600  # a slow seed must not put a session renewal between the counts
    client.force_login(ivan)
    assert client.get(reverse("home")).status_code in (200, 302)  # the first page after signing in renews the session
    pages = {}
    for code, n in (("SYS", 40), ("SYL", 400)):
        seed_synthetic(trial=synthetic_trial(code, n), patients=n, seed=1)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("trial_escalation", args=[code]))
        pages[code] = (len(ctx.captured_queries), response.content.decode())
    (few, small), (many, large) = pages["SYS"], pages["SYL"]
    assert many == few
    assert small.count('class="cohort"') == large.count('class="cohort"')
    assert "patient(s)" in large.split('data-dlts="0"')[-1]


def test_a_signature_quoting_another_sites_patient_is_masked_for_a_coordinator(client, trial, site_a, site_b, alice, bob, ivan):
    """A rejection's signature meaning quotes its reason; a coordinator of another site reads it without the study id."""
    from escalation.services import decision_reject

    patients = [treat(trial, site_b, bob) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in patients])
    proposal = escalation_reevaluate(trial=trial)[0]
    hidden = patients[0].study_id
    decision_reject(decision=proposal, by=ivan, password=PASSWORD, reason=f"source data of {hidden} not verified yet")
    client.force_login(ivan)
    assert f"source data of {hidden}" in client.get(reverse("trial_escalation", args=[trial.code])).content.decode()
    client.force_login(alice)
    page = client.get(reverse("trial_escalation", args=[trial.code])).content.decode()
    assert "source data of a site 02 patient not verified yet" in page
    assert hidden not in page


def test_a_signature_retried_with_its_idempotency_key_gets_the_first_answer_and_signs_once(trial, proposal, ivan):
    from trialsite.models import Signature

    api = APIClient()
    api.force_authenticate(ivan)
    url = f"/api/v1/decisions/{proposal.pk}/sign/"
    wrong = api.post(url, {"password": "nope"}, format="json", HTTP_IDEMPOTENCY_KEY="sign-1")
    assert wrong.status_code == 400  # a refused signature keeps no key: the corrected request may reuse it
    first = api.post(url, {"password": PASSWORD}, format="json", HTTP_IDEMPOTENCY_KEY="sign-1")
    again = api.post(url, {"password": PASSWORD}, format="json", HTTP_IDEMPOTENCY_KEY="sign-1")
    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (200, 200, "true")
    assert again.json() == first.json()
    assert Signature.objects.count() == 1
    unkeyed = api.post(url, {"password": PASSWORD}, format="json")  # without the key a second signature is refused
    assert unkeyed.status_code in (400, 409)
    assert Signature.objects.count() == 1
