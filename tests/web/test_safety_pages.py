"""The safety tab, adverse event entry and the DLT review queue, per persona."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from dosing.services import cycle_start
from tests.factories import PASSWORD
from toxicity.ctcae import meddra
from toxicity.models import AdverseEvent, Dlt, DltProposal, LabResult
from toxicity.services import ae_record, dlt_evaluate_many, lab_record

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=390)
RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}
LAB_UNITS = {"lab-anc_unit": "10^9/L", "lab-platelets_unit": "10^9/L", "lab-hemoglobin_unit": "g/dL", "lab-wbc_unit": "10^9/L"}


def day(n):
    return C1 + timedelta(days=n - 1)


@pytest.fixture
def proposed(on_c1, alice):
    values = {"term": meddra("Neutrophil count decreased"), "grade": 4, "onset": day(10), "resolved": day(19), "outcome": "recovered"}
    ae_record(patient=on_c1, by=alice, attribution=RELATED, supportive=["gcsf"], **values)
    for n, anc in ((10, "0.4"), (14, "0.3"), (19, "0.9")):
        lab_record(patient=on_c1, by=alice, on=day(n), anc=anc, platelets="140")
    dlt_evaluate_many([on_c1.pk])
    return DltProposal.objects.get(patient=on_c1)


def ae_post(**overrides):
    data = {
        "term": meddra("Nausea"),
        "grade": "3",
        "onset": day(5).isoformat(),
        "attr_bendamustine": "probable",
        "attr_pomalidomide": "possible",
        "attr_dexamethasone": "unrelated",
        "action": "none",
        "outcome": "not_recovered",
        "supportive": ["max_antiemetic"],
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(("persona", "status"), [("alice", 200), ("ivan", 200), ("dana", 200), ("mona", 200), ("bob", 404), ("olga", 403)])
def test_safety_tab_per_persona(client, personas, on_c1, persona, status):
    client.force_login(personas[persona])
    assert client.get(reverse("patient_safety", args=[on_c1.study_id])).status_code == status


@pytest.mark.django_db(transaction=True)
def test_coordinator_records_an_event_and_the_rules_propose_a_dlt_on_commit(client, alice, on_c1):
    client.force_login(alice)
    response = client.post(reverse("ae_new", args=[on_c1.study_id]), ae_post())
    assert response.status_code == 302
    ae = AdverseEvent.objects.get()
    assert (ae.term, ae.grade, ae.attribution["bendamustine"], ae.supportive) == (meddra("Nausea"), 3, "probable", ["max_antiemetic"])
    rules = set(DltProposal.objects.filter(patient=on_c1).values_list("rule", flat=True))
    assert "N2" in rules  # grade 3 nausea despite maximal antiemetic therapy
    html = client.get(reverse("patient_safety", args=[on_c1.study_id])).content.decode()
    assert "Nausea" in html
    assert 'class="episode g3" data-grade="3"' in html


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"grade": "6"}, "grade", "Select a valid choice"),
        ({"term": meddra("Nausea"), "grade": "4"}, "grade", "Nausea has no grade 4"),
        ({"term": "made_up"}, "term", 'No CTCAE v5.0 term matches "made_up"'),
        ({"term": "neutrophil"}, "term", '"neutrophil" is not a CTCAE v5.0 term: choose one of the'),
        ({"resolved": day(3).isoformat()}, "resolved", "cannot be before the onset"),
        ({"onset": (C1 - timedelta(days=60)).isoformat()}, "onset", "before consent"),
        ({"attr_pomalidomide": ""}, "attr_pomalidomide", "This field is required"),
        ({"term": meddra("Febrile neutropenia"), "grade": "2"}, "grade", "Febrile neutropenia has no grade 2 in CTCAE v5.0 (grades 3, 4, 5)"),
        ({"term": meddra("Death NOS"), "grade": "4"}, "grade", "Death NOS has no grade 4"),
        ({"term": meddra("Asystole"), "grade": "2"}, "grade", "Asystole has no grade 2"),
        ({"term": meddra("Cardiac disorders - Other, specify"), "grade": "2"}, "verbatim", "give the verbatim term"),
        ({"term": meddra("Sepsis"), "grade": "5", "outcome": "fatal"}, "resolved", "date of death"),
    ],
)
def test_bad_events_show_the_error_on_the_form_and_save_nothing(client, alice, on_c1, overrides, field, message):
    client.force_login(alice)
    response = client.post(reverse("ae_new", args=[on_c1.study_id]), ae_post(**overrides))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert AdverseEvent.objects.count() == 0


def test_the_form_shows_the_grade_descriptions_of_the_chosen_term(client, alice, on_c1):
    client.force_login(alice)
    html = client.get(reverse("ae_new", args=[on_c1.study_id]) + "?term=" + meddra("Neutrophil count decreased")).content.decode()
    assert '<strong>Grade 4</strong> <span class="grade-text" data-grade="4">&lt;500/mm3; &lt;0.5 x 10e9 /L</span>' in html
    assert '<li data-grade="5" hidden>' in html  # the term has no grade 5: not offered
    assert 'value="Neutrophil count decreased"' in html  # the chosen term shows as its name in the search box


def test_a_grade_change_is_entered_as_a_new_episode(client, alice, on_c1):
    first = ae_record(patient=on_c1, by=alice, term=meddra("Nausea"), grade=3, onset=day(5), attribution=RELATED)
    client.force_login(alice)
    response = client.post(reverse("ae_new", args=[on_c1.study_id]), ae_post(grade="1", onset=day(9).isoformat(), continues=str(first.pk)))
    assert response.status_code == 302
    second = AdverseEvent.objects.exclude(pk=first.pk).get()
    assert second.event_id == first.pk


def test_correction_needs_a_reason_and_retraction_keeps_the_event(client, alice, on_c1):
    ae = ae_record(patient=on_c1, by=alice, term=meddra("Nausea"), grade=3, onset=day(5), attribution=RELATED)
    client.force_login(alice)
    url = reverse("ae_edit", args=[on_c1.study_id, ae.pk])
    response = client.post(url, ae_post(op="edit", grade="2", reason=""))
    assert "This field is required" in " ".join(response.context["form"].errors["reason"])
    client.post(url, ae_post(op="edit", grade="2", reason="per source document"))
    ae.refresh_from_db()
    assert ae.grade == 2
    response = client.post(url, {"op": "retract", "retract-reason": "x"})  # too short for the service: a form error, not a 500
    assert response.status_code == 200
    assert "Give the reason" in " ".join(response.context["retract"].errors["reason"])
    ae.refresh_from_db()
    assert not ae.in_error
    client.post(url, {"op": "retract", "retract-reason": "wrong patient"})
    ae.refresh_from_db()
    assert ae.in_error
    html = client.get(reverse("patient_safety", args=[on_c1.study_id])).content.decode()
    assert "entered in error" in html


def test_lab_panel_per_microlitre_is_converted_and_graded(client, alice, on_c1):
    client.force_login(alice)
    url = reverse("patient_safety", args=[on_c1.study_id])
    response = client.post(url, LAB_UNITS | {"action": "lab", "lab-on": day(8).isoformat(), "lab-anc": "400", "lab-anc_unit": "/uL"})
    assert response.status_code == 302
    assert LabResult.objects.get().anc == Decimal("0.40")
    html = client.get(url).content.decode()
    assert '<span class="tag g4">G4</span>' in html
    assert f'<tr data-on="{day(8).isoformat()}"><td>{day(8).isoformat()}</td><td>C1D8</td><td>8</td>' in html
    assert 'class="plot lab-plot" data-series="ANC"' in html


def test_an_anc_of_1500_in_10_9_per_litre_is_questioned_on_the_form(client, alice, on_c1):
    client.force_login(alice)
    response = client.post(
        reverse("patient_safety", args=[on_c1.study_id]),
        LAB_UNITS | {"action": "lab", "lab-on": day(8).isoformat(), "lab-anc": "1500"},
    )
    assert response.status_code == 200
    assert "did you mean /uL?" in " ".join(response.context["lab_form"].errors["anc"])
    assert LabResult.objects.count() == 0


def test_monitor_cannot_post_labs_and_coordinator_cannot_record_a_dlt(client, mona, alice, on_c1):
    client.force_login(mona)
    assert client.post(reverse("patient_safety", args=[on_c1.study_id]), {"action": "lab"}).status_code == 403
    client.force_login(alice)
    assert client.post(reverse("patient_safety", args=[on_c1.study_id]), {"action": "missed"}).status_code == 403


def test_investigator_sees_the_proposal_with_its_evidence_and_confirms_it(client, ivan, proposed):
    client.force_login(ivan)
    html = client.get(reverse("dlt_review")).content.decode()
    assert f'id="proposal-{proposed.pk}"' in html
    assert "Grade 4 neutropenia more than 7 days despite G-CSF" in html
    assert f"lab:{day(14).isoformat()}" in html
    assert "Confirming means: <em>I confirm this toxicity is a dose-limiting toxicity (criterion H2)</em>" in html
    assert f'id="password-{proposed.pk}"' in html
    refused = client.post(reverse("dlt_adjudicate", args=[proposed.pk]), {"decision": "confirm", "reason": "", "password": "wrong"}, follow=True)
    assert "The password is not correct: the signature needs your own password." in refused.content.decode()
    assert Dlt.objects.count() == 0
    response = client.post(reverse("dlt_adjudicate", args=[proposed.pk]), {"decision": "confirm", "reason": "", "password": PASSWORD})
    assert response.status_code == 302
    row = Dlt.objects.get()
    assert (row.rule, row.confirmed_by) == ("H2", ivan)
    assert 'id="queue-empty"' in client.get(reverse("dlt_review")).content.decode()
    history = client.get(reverse("patient_safety", args=[proposed.patient.study_id])).content.decode()
    assert f"Signed by {escape(ivan.get_full_name())} on " in history
    assert ": I confirm this toxicity is a dose-limiting toxicity (criterion H2)" in history


def test_rejecting_without_a_reason_is_refused_with_a_message(client, ivan, proposed):
    client.force_login(ivan)
    response = client.post(reverse("dlt_adjudicate", args=[proposed.pk]), {"decision": "reject", "reason": "", "password": PASSWORD}, follow=True)
    assert "Give the reason this is not a DLT" in response.content.decode()
    proposed.refresh_from_db()
    assert proposed.status == "proposed"


@pytest.mark.parametrize("persona", ["alice", "dana", "mona"])
def test_only_investigators_adjudicate(client, personas, proposed, persona):
    client.force_login(personas[persona])
    html = client.get(reverse("dlt_review")).content.decode()
    assert f'id="adjudicate-{proposed.pk}"' not in html
    assert client.post(reverse("dlt_adjudicate", args=[proposed.pk]), {"decision": "confirm"}).status_code == 403
    assert Dlt.objects.count() == 0


def test_another_sites_coordinator_does_not_see_the_proposal(client, bob, proposed):
    client.force_login(bob)
    assert f'id="proposal-{proposed.pk}"' not in client.get(reverse("dlt_review")).content.decode()


def test_investigator_records_a_missed_dlt_on_the_safety_tab(client, ivan, on_c1):
    client.force_login(ivan)
    url = reverse("patient_safety", args=[on_c1.study_id])
    data = {"action": "missed", "missed-rule": "N1", "missed-onset": day(12).isoformat()}
    data |= {"missed-description": "grade 3 hepatitis", "missed-reason": "free text", "missed-password": PASSWORD}
    html = client.post(url, data).content.decode()  # no grade 3 event in the window: the data do not meet N1
    assert 'id="missed-evidence" data-supported="no"' in html
    assert "The data do not meet criterion N1" in html
    assert Dlt.objects.count() == 0
    assert client.post(url, data | {"missed-confirm_unsupported": "on", "missed-password": "wrong"}).status_code == 200
    assert Dlt.objects.count() == 0
    assert client.post(url, data | {"missed-confirm_unsupported": "on"}).status_code == 302
    row = Dlt.objects.get()
    assert row.proposal is None
    page = client.get(url).content.decode()
    assert "the rules did not propose (criterion N1), although the data the rules read do not meet it" in page
    withdraw = {"action": "withdraw", "dlt": row.pk, "reason": "duplicate entry"}
    assert "The password is not correct" in client.post(url, withdraw | {"password": ""}, follow=True).content.decode()
    row.refresh_from_db()
    assert row.withdrawn_at is None
    client.post(url, withdraw | {"password": PASSWORD})
    row.refresh_from_db()
    assert row.withdrawn_at is not None


def test_a_missed_h4_shows_the_platelet_counts_the_rules_see(client, ivan, alice, on_c1):
    lab_record(patient=on_c1, by=alice, on=day(12), platelets="35")
    client.force_login(ivan)
    data = {"action": "missed", "missed-rule": "H4", "missed-onset": day(12).isoformat(), "missed-description": "epistaxis", "missed-reason": "not an AE"}
    html = client.post(reverse("patient_safety", args=[on_c1.study_id]), data | {"missed-password": PASSWORD}).content.decode()
    assert "What the rules see for H4 in the DLT window" in html
    assert "35.0 x10^9/L" in html
    assert Dlt.objects.count() == 0


def _queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_safety_tab_queries_do_not_grow_with_events_and_labs(client, alice, proposed, django_assert_max_num_queries):
    client.force_login(alice)
    url = reverse("patient_safety", args=[proposed.patient.study_id])
    few = _queries(client, url)
    for n in range(2, 28):
        lab_record(patient=proposed.patient, by=alice, on=day(n), anc="1.2", platelets="90", reason_for_change="repeat")
        ae_record(patient=proposed.patient, by=alice, term=meddra("Fatigue"), grade=1, onset=day(n), resolved=day(n), outcome="recovered", attribution=RELATED)
    dlt_evaluate_many([proposed.patient.pk])
    with django_assert_max_num_queries(few):
        assert client.get(url).status_code == 200


def test_review_queue_queries_do_not_grow_with_proposals(client, ivan, alice, trial, site_a, django_assert_max_num_queries):
    from cohorts.services import patient_enroll
    from tests.factories import register_patient

    def add_patient(i):
        p = register_patient(trial, site_a, alice, consent_date=C1 - timedelta(days=10))
        patient_enroll(patient=p, by=alice, enrolled_on=C1 - timedelta(days=5))
        cycle_start(patient=p, by=alice, day1=C1, weight_kg=Decimal("70.0"))
        ae_record(patient=p, by=alice, term=meddra("Nausea"), grade=3, onset=day(3 + i), attribution=RELATED, supportive=["max_antiemetic"])
        dlt_evaluate_many([p.pk])

    add_patient(0)
    client.force_login(ivan)
    few = _queries(client, reverse("dlt_review"))
    for i in range(1, 3):
        add_patient(i)
    assert DltProposal.objects.filter(status="proposed").count() >= 6
    with django_assert_max_num_queries(few):
        assert client.get(reverse("dlt_review")).status_code == 200


def _card(html: str, proposal) -> str:
    return html.split(f'id="proposal-{proposal.pk}"')[1].split("</article>")[0]


def test_a_reopened_proposals_card_shows_its_past_signatures_oldest_first(client, ivan, alice, proposed):
    """Confirmed, reopened by a corrected lab, rejected, reopened again: the card in the queue shows the confirmation
    (signed on the DLT) and the rejection (signed on the proposal), each with signer, time and meaning."""
    from toxicity.services import dlt_confirm, dlt_reject
    from trialsite.models import Signature

    ivan.first_name, ivan.last_name = "Ivan", "Petrov"
    ivan.save()
    client.force_login(ivan)
    assert 'class="signatures"' not in _card(client.get(reverse("dlt_review")).content.decode(), proposed)
    dlt_confirm(proposal=proposed, by=ivan, password=PASSWORD)
    lab_record(patient=proposed.patient, by=alice, on=day(19), anc="1.9", reason_for_change="wrong patient's tube")
    proposed.refresh_from_db()
    dlt_reject(proposal=proposed, by=ivan, password=PASSWORD, reason="recovered on day 12 per source")
    lab_record(patient=proposed.patient, by=alice, on=day(19), anc="0.9", reason_for_change="the right tube after all")
    proposed.refresh_from_db()
    assert proposed.status == "reopened"
    card = _card(client.get(reverse("dlt_review")).content.decode(), proposed)
    lines = card.split('<li class="help signature">')[1:]
    assert len(lines) == 2
    confirmed, rejected = Signature.objects.order_by("signed_at", "id")
    assert lines[0].startswith(f'Signed by Ivan Petrov on <time datetime="{timezone.localtime(confirmed.signed_at).isoformat()}">')
    assert f"{timezone.localtime(confirmed.signed_at):%Y-%m-%d %H:%M}" in lines[0]
    assert "</time>: I confirm this toxicity is a dose-limiting toxicity (criterion H2)</li>" in lines[0]
    assert f"{timezone.localtime(rejected.signed_at):%Y-%m-%d %H:%M %Z}</time>: I confirm this toxicity is not a dose-limiting toxicity" in lines[1]
    assert "(criterion H2 proposed by the rules)</li>" in lines[1]
    safety = _card(client.get(reverse("patient_safety", args=[proposed.patient.study_id])).content.decode(), proposed)
    assert safety.count('<li class="help signature">') == 2  # the same history on the safety tab


def test_review_queue_queries_stay_flat_with_signed_and_reopened_proposals(client, ivan, alice, trial, site_a, django_assert_max_num_queries):
    from cohorts.services import patient_enroll
    from tests.factories import register_patient
    from toxicity.services import dlt_confirm

    def add_patient(i, *, signed):
        p = register_patient(trial, site_a, alice, consent_date=C1 - timedelta(days=10))
        patient_enroll(patient=p, by=alice, enrolled_on=C1 - timedelta(days=5))
        cycle_start(patient=p, by=alice, day1=C1, weight_kg=Decimal("70.0"))
        ae = ae_record(patient=p, by=alice, term=meddra("Nausea"), grade=3, onset=day(3 + i), attribution=RELATED, supportive=["max_antiemetic"])
        dlt_evaluate_many([p.pk])
        if signed:
            for proposal in DltProposal.objects.filter(patient=p):
                dlt_confirm(proposal=proposal, by=ivan, password=PASSWORD)
            from toxicity.services import ae_update

            ae_update(ae=ae, by=alice, reason="attribution per source", attribution=RELATED | {"bendamustine": "probable"})  # reopens it

    add_patient(0, signed=True)
    client.force_login(ivan)
    few = _queries(client, reverse("dlt_review"))
    for i in range(1, 3):  # the cohort's three slots
        add_patient(i, signed=True)
    assert DltProposal.objects.filter(status="reopened").count() >= 3
    with django_assert_max_num_queries(few):
        html = client.get(reverse("dlt_review")).content.decode()
    assert html.count('<li class="help signature">') >= 3


def test_a_term_outside_the_regimens_list_offers_only_its_grades_with_the_generic_texts(client, alice, on_c1):
    client.force_login(alice)
    html = client.get(reverse("ae_new", args=[on_c1.study_id]) + "?term=" + meddra("Asystole")).content.decode()
    assert f'<option value="Asystole">Cardiac disorders · MedDRA {meddra("Asystole")}</option>' in html
    for grade in (1, 4, 5):
        assert f'<li data-grade="{grade}">' in html
    for grade in (2, 3):
        assert f'<li data-grade="{grade}" hidden>' in html
    assert '<span class="grade-text" data-grade="4">Life-threatening consequences; urgent intervention indicated</span>' in html
    assert "the generic grade definitions" in html


def test_the_term_is_a_search_box_that_works_without_javascript(client, alice, on_c1):
    """Issue #16: no select of the 837 terms; a text input whose suggestions the script fills from the term search
    API, and which the server resolves: a name in any case or a MedDRA code is the term; anything else is refused
    with the closest terms offered under the input, and saves nothing."""
    client.force_login(alice)
    url = reverse("ae_new", args=[on_c1.study_id])
    html = client.get(url).content.decode()
    assert '<input type="text" name="term"' in html
    assert html.count("<option") < 60  # the attribution, action and outcome selects only (the term select had 837)
    assert f'data-term-search="{reverse("api-ctcae-terms")}"' in html
    assert 'list="id_term-suggestions"' in html
    assert '<datalist id="id_term-suggestions"></datalist>' in html
    assert 'src="/static/js/ae-form.js"' in html
    response = client.post(url, ae_post(term="cardiac other", grade="2", verbatim="Atrial ectopy"))
    assert response.status_code == 200
    assert AdverseEvent.objects.count() == 0
    assert "Cardiac disorders - Other, specify" in " ".join(response.context["form"].errors["term"])
    html = response.content.decode()
    other = meddra("Cardiac disorders - Other, specify")
    assert f'<option value="Cardiac disorders - Other, specify">Cardiac disorders · MedDRA {other}</option>' in html
    assert 'value="cardiac other"' in html  # what was typed stays in the box
    response = client.post(url, ae_post(term="  cardiac DISORDERS - other, specify ", grade="2", verbatim="Atrial ectopy"))
    assert response.status_code == 302
    assert AdverseEvent.objects.get().term == other


def test_the_term_search_api_behind_the_box_answers_a_few_terms_with_their_grades(client, alice):
    client.force_login(alice)
    terms = client.get(reverse("api-ctcae-terms"), {"q": "neutrophil", "limit": 20}).json()
    assert terms[0]["name"] == "Neutrophil count decreased"
    assert terms[0]["grades"]["4"] == "<500/mm3; <0.5 x 10e9 /L"
    assert len(terms) <= 20


def test_an_other_specify_event_is_recorded_with_its_verbatim_term_and_shown_with_it(client, alice, on_c1):
    client.force_login(alice)
    other = meddra("Cardiac disorders - Other, specify")
    response = client.post(reverse("ae_new", args=[on_c1.study_id]), ae_post(term=other, grade="2", verbatim="Atrial ectopy", supportive=[]))
    assert response.status_code == 302
    ae = AdverseEvent.objects.get()
    assert (ae.term, ae.verbatim) == (other, "Atrial ectopy")
    html = client.get(reverse("patient_safety", args=[on_c1.study_id])).content.decode()
    assert "Cardiac disorders - Other, specify: Atrial ectopy" in html
    assert f"MedDRA {other}" in html


def test_review_queue_pages_oldest_first_without_gaps_or_repeats(client, ivan, alice, trial, site_a, monkeypatch):
    import re

    from cohorts.services import patient_enroll
    from tests.factories import register_patient
    from toxicity import selectors

    for i in range(3):
        p = register_patient(trial, site_a, alice, consent_date=C1 - timedelta(days=10))
        patient_enroll(patient=p, by=alice, enrolled_on=C1 - timedelta(days=5))
        cycle_start(patient=p, by=alice, day1=C1, weight_kg=Decimal("70.0"))
        ae_record(patient=p, by=alice, term=meddra("Nausea"), grade=3, onset=day(3 + i), attribution=RELATED, supportive=["max_antiemetic"])
        dlt_evaluate_many([p.pk])
    monkeypatch.setattr(selectors, "REVIEW_PAGE", 2)
    expected = [f"proposal-{pk}" for pk in DltProposal.objects.filter(status="proposed").order_by("proposed_at", "pk").values_list("pk", flat=True)]
    client.force_login(ivan)
    seen, url = [], reverse("dlt_review")
    while url:
        html = client.get(url).content.decode()
        assert f"{len(expected)} awaiting an investigator" in html
        on_page = re.findall(r'<article class="card proposal [^"]*" id="(proposal-\d+)"', html)
        assert len(on_page) <= 2
        seen += on_page
        found = re.search(r'href="(\?after=[^"]+)" id="queue-next"', html)
        url = reverse("dlt_review") + found.group(1).replace("&amp;", "&") if found else ""
    assert seen == expected
    assert len(expected) > 2
