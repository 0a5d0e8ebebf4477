"""Issue 18: each escalation decision keeps the design whose engine proposed it (3+3, boin, ...), shown on the
escalation page's history, in the decisions API and in the decisions export; the escalation API names the design
and gives the look-ahead dose paths the page shows."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from cohorts.protocol import read_protocol
from cohorts.services import protocol_load
from datamanagement.exports import DOMAINS, Filters, csv_stream
from escalation.models import EscalationDecision
from escalation.selectors import escalation_state, look_ahead_rows
from escalation.services import decision_sign, escalation_reevaluate
from tests.conftest import PROTOCOLS
from tests.factories import PASSWORD, treat_patient
from toxicity.services import dlt_evaluate_many
from toxicity.services.terminology import ctcae_ensure

pytestmark = pytest.mark.django_db
C1 = timezone.localdate() - timedelta(days=90)


@pytest.fixture
def boin(db):
    trial = protocol_load(spec=read_protocol(PROTOCOLS / "bpd-boin.toml")).trial
    ctcae_ensure(version=trial.ctcae_version)
    return trial


def three_without_dlt(trial, site, by):
    patients = [treat_patient(trial, site, by, day1=C1) for _ in range(3)]
    dlt_evaluate_many([p.pk for p in patients])
    return escalation_reevaluate(trial=trial)[0]


def test_a_boin_decision_stores_boin_and_a_3_3_decision_3_3(boin, trial, site_a, alice):
    assert three_without_dlt(boin, site_a, alice).design == "boin"
    assert three_without_dlt(trial, site_a, alice).design == "3+3"
    assert EscalationDecision.history.filter(trial_id=boin.pk).first().design == "boin"  # the audit snapshot too


def test_the_decision_keeps_its_design_after_the_protocol_changes_it(boin, site_a, alice, ivan):
    decision = three_without_dlt(boin, site_a, alice)
    decision_sign(decision=decision, by=ivan, password=PASSWORD)
    boin.design, boin.design_params = "3+3", {}
    boin.save()
    decision.refresh_from_db()
    assert decision.design == "boin"
    decision.design = "3+3"
    with pytest.raises(ValueError, match="signed and cannot be changed"):
        decision.save()  # a signed decision's design is part of what was signed


def test_page_history_decisions_api_and_export_show_the_design(client, boin, site_a, alice, ivan, dana):
    decision = three_without_dlt(boin, site_a, alice)
    client.force_login(ivan)
    html = client.get(f"/trials/{boin.code}/escalation/").content.decode()
    assert f'data-status="proposed"><td>{timezone.localtime(decision.proposed_at):%Y-%m-%d %H:%M}</td><td class="design">boin</td>' in html
    api = APIClient()
    api.force_authenticate(alice)
    assert [d["design"] for d in api.get("/api/v1/decisions/", {"trial__code": boin.code}).json()["results"]] == ["boin"]
    domain = DOMAINS["escalation_decisions"]
    rows = list(csv.DictReader(io.StringIO("".join(csv_stream(domain.header(boin), domain.rows(dana, boin, Filters()))))))
    assert [r["design"] for r in rows] == ["boin"]


def test_escalation_api_names_the_design_and_gives_the_pages_look_ahead(boin, site_a, alice):
    three_without_dlt(boin, site_a, alice)
    api = APIClient()
    api.force_authenticate(alice)
    body = api.get(f"/api/v1/trials/{boin.code}/escalation/").json()
    assert body["design"] == "boin"
    rows = look_ahead_rows(escalation_state(boin))  # what the escalation page shows
    paths = body["look_ahead"]
    assert len(paths) == len(rows) == 16  # 4 outcomes of the next cohort x 4 of the one after
    first = paths[0]
    assert first["now"] == {"move": "escalate", "level": "2", "rule": "BOIN-E", "slots": 3}
    assert first["cohorts"][0] == {"level": "2", "size": 3, "dlts": 0, "then": {"move": "escalate", "level": "3", "rule": "BOIN-E", "slots": 3}}
    for path, row in zip(paths, rows, strict=True):
        texts = [f"{c['dlts']}/{c['size']} at {c['level']}" for c in path["cohorts"]]
        assert texts == [cell for cell in row[1::2] if cell]
    assert any(c["then"]["move"] == "de-escalate" for p in paths for c in p["cohorts"])
