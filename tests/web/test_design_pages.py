"""Issue 18: the statistician's design page and its API: the design, its decision table, a scenario's operating
characteristics (exact and Monte Carlo) equal to the engines', form errors and 400s with field errors, per persona."""

from urllib.parse import urlencode

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from cohorts.protocol import read_protocol
from cohorts.services import protocol_load
from escalation.designs import engine_of
from escalation.designs.oc import simulate_exact, simulate_trials
from tests.conftest import PROTOCOLS

pytestmark = pytest.mark.django_db
SCENARIO = (0.05, 0.1, 0.2, 0.3, 0.5)  # bpd-boin's five levels -1, 1, 2, 3, 4


@pytest.fixture
def boin(db):
    return protocol_load(spec=read_protocol(PROTOCOLS / "bpd-boin.toml")).trial


def exact(name, tox):
    engine, start = engine_of(read_protocol(PROTOCOLS / name))
    return simulate_exact(engine, tox, start=start)


def query(tox, **extra):
    data = {f"tox_{i}": p for i, p in enumerate(tox)} | {"method": "exact", "trials": "", "seed": "1"} | extra
    return "?" + urlencode(data)


@pytest.mark.parametrize(("persona", "status"), [("alice", 200), ("bob", 200), ("ivan", 200), ("dana", 200), ("mona", 200), ("olga", 403)])
def test_design_page_per_persona_coordinators_included(client, personas, trial, persona, status):
    client.force_login(personas[persona])
    response = client.get(reverse("trial_design", args=[trial.code]))
    assert response.status_code == status
    if status == 200:
        html = response.content.decode()
        assert '<span id="design-name">3+3</span>' in html
        assert f'href="{reverse("trial_design", args=[trial.code])}" aria-current="page">Design</a>' in html  # in the trial's navigation


def test_anonymous_is_sent_to_login(client, trial):
    response = client.get(reverse("trial_design", args=[trial.code]))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_three_plus_three_page_shows_its_table_and_rules_and_the_default_scenario(client, alice, trial):
    client.force_login(alice)
    html = client.get(reverse("trial_design", args=[trial.code])).content.decode()
    assert '<tr data-n="3"><th scope="row">3</th><td>0</td><td>1 (expand)</td><td>2-3</td><td>-</td></tr>' in html
    assert '<tr data-n="6"><th scope="row">6</th><td>0-1</td><td>-</td><td>2-6</td><td>-</td></tr>' in html
    assert '<th scope="row">E1of3</th><td>1 DLT in 3: expand the level to 6</td>' in html
    assert 'id="oc"' not in html  # computed on request only
    # prefilled: rising to 1/3 at the middle level
    assert 'name="tox_0"' in html
    assert 'id="id_tox_0"' in html


def test_boin_page_shows_the_boundaries_and_exact_oc_equal_to_the_engine(client, mona, boin):
    client.force_login(mona)
    url = reverse("trial_design", args=[boin.code])
    html = client.get(url).content.decode()
    assert '<dd id="lambda-e">0.2365</dd>' in html
    assert '<dd id="lambda-d">0.3585</dd>' in html
    assert '<dd data-parameter="target">0.3</dd>' in html
    assert '<dd data-parameter="stop_if_lowest_eliminated">yes</dd>' in html
    assert '<tr data-n="12"><th scope="row">12</th><td>0-2</td><td>3-4</td><td>5-6</td><td>7-12</td></tr>' in html
    response = client.get(url + query(SCENARIO))
    assert response.status_code == 200
    oc, want = response.context["oc"], exact("bpd-boin.toml", SCENARIO)
    assert oc.p_select == want.p_select
    assert oc.expected_n == want.expected_n
    assert oc.p_none == want.p_none
    html = response.content.decode()
    assert f'<td class="p-select">{want.p_select[3]:.4f}</td>' in html
    assert f'class="oc-select" data-level="3" data-p="{want.p_select[3]:.4f}"' in html  # the server-drawn plot
    assert "exact, " in html
    assert " states enumerated" in html


def test_monte_carlo_on_the_page_is_seeded_and_capped(client, ivan, boin):
    client.force_login(ivan)
    url = reverse("trial_design", args=[boin.code])
    response = client.get(url + query(SCENARIO, method="mc", trials="200", seed="7"))
    engine, start = engine_of(read_protocol(PROTOCOLS / "bpd-boin.toml"))
    assert response.context["oc"].p_select == simulate_trials(engine, SCENARIO, trials=200, seed=7, start=start).p_select
    assert "Monte Carlo, 200 trials, seed 7" in response.content.decode()
    response = client.get(url + query(SCENARIO, method="mc", trials="2001"))
    assert response.status_code == 200
    assert response.context["oc"] is None
    assert "trials" in response.context["form"].errors
    response = client.get(url + query(SCENARIO, method="mc"))
    assert response.context["form"].errors["trials"] == ["Give the number of trials to simulate."]


@pytest.mark.parametrize(
    ("change", "field"),
    [({"tox_2": "1.5"}, "tox_2"), ({"tox_0": "abc"}, "tox_0"), ({"tox_1": "nan"}, "tox_1"), ({"tox_4": ""}, "tox_4"), ({"method": "bayes"}, "method")],
)
def test_bad_scenarios_are_form_errors_never_a_500(client, dana, boin, change, field):
    client.force_login(dana)
    response = client.get(reverse("trial_design", args=[boin.code]) + query(SCENARIO, **change))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert response.context["oc"] is None


def test_plot_download_is_an_svg_file_and_refuses_bad_input(client, alice, boin):
    client.force_login(alice)
    url = reverse("trial_design_plot", args=[boin.code])
    response = client.get(url + query(SCENARIO))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "attachment" in response["Content-Disposition"]
    assert b'class="plot oc-plot"' in response.content
    assert client.get(url).status_code == 200  # the default scenario
    assert client.get(url + query(SCENARIO, tox_0="2")).status_code == 400


# ---------------------------------------------------------------- the API


@pytest.fixture
def api():
    return APIClient()


def test_api_design_gives_the_decision_table_as_json(api, alice, boin, trial):
    api.force_authenticate(alice)
    body = api.get(f"/api/v1/trials/{boin.code}/design/").json()
    assert (body["design"], body["lambda_e"], body["lambda_d"], body["starting_level"]) == ("boin", 0.2365, 0.3585, "1")
    assert body["parameters"]["target"] == 0.3
    assert body["parameters"]["max_n"] == 24
    assert body["decision_table"][0] == {"n": 3, "escalate": "0", "stay": "1", "de_escalate": "2", "eliminate": "3"}
    assert body["rules"] == []
    assert body["error"] == ""
    body = api.get(f"/api/v1/trials/{trial.code}/design/").json()
    assert body["design"] == "3+3"
    assert body["lambda_e"] is None
    assert "E0of3" in [r["rule"] for r in body["rules"]]
    assert api.get("/api/v1/trials/NOPE/design/").json()["status"] == 404


def test_api_oc_equals_the_engines_exact_oc(api, mona, boin):
    api.force_authenticate(mona)
    response = api.get(f"/api/v1/trials/{boin.code}/design/oc/", {"true_tox": ",".join(map(str, SCENARIO))})
    assert response.status_code == 200
    body, want = response.json(), exact("bpd-boin.toml", SCENARIO)
    assert (body["design"], body["method"], body["trials"], body["states"]) == ("boin", "exact", None, want.states)
    assert [row["p_select"] for row in body["levels"]] == list(want.p_select)
    assert [row["expected_n"] for row in body["levels"]] == list(want.expected_n)
    assert [row["expected_dlt"] for row in body["levels"]] == list(want.expected_dlt)
    assert (body["p_none"], body["p_overdose60"]) == (want.p_none, want.p_overdose60)
    assert body["expected_n_total"] == pytest.approx(sum(want.expected_n))


def test_api_oc_monte_carlo_has_standard_errors(api, alice, boin):
    api.force_authenticate(alice)
    body = api.get(f"/api/v1/trials/{boin.code}/design/oc/", {"true_tox": "0.05,0.1,0.2,0.3,0.5", "method": "mc", "trials": 300, "seed": 3}).json()
    assert (body["method"], body["trials"], body["seed"]) == ("mc", 300, 3)
    assert all(row["se_select"] is not None for row in body["levels"])
    assert body["se_none"] is not None
    assert sum(row["p_select"] for row in body["levels"]) + body["p_none"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "true_tox"),
        ({"true_tox": "0.1,0.2"}, "true_tox"),
        ({"true_tox": "0.1,0.2,x,0.3,0.4"}, "true_tox"),
        ({"true_tox": "0.1,0.2,0.3,0.4,1.2"}, "true_tox"),
        ({"true_tox": "0.1,0.2,0.3,0.4,nan"}, "true_tox"),
        ({"true_tox": "0.1,0.2,0.3,0.4,0.5", "method": "bayes"}, "method"),
        ({"true_tox": "0.1,0.2,0.3,0.4,0.5", "method": "mc", "trials": 5000}, "trials"),
        ({"true_tox": "0.1,0.2,0.3,0.4,0.5", "method": "exact", "trials": 50}, "trials"),
        ({"true_tox": "0.1,0.2,0.3,0.4,0.5", "method": "mc", "seed": -1}, "seed"),
    ],
)
def test_api_oc_bad_query_is_400_with_field_errors(api, dana, boin, params, field):
    api.force_authenticate(dana)
    response = api.get(f"/api/v1/trials/{boin.code}/design/oc/", params)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["code"]) == (400, "invalid")
    assert field in body["errors"]


def test_api_design_refuses_outsiders(api, olga, boin):
    api.force_authenticate(olga)
    assert api.get(f"/api/v1/trials/{boin.code}/design/").status_code == 403
    assert api.get(f"/api/v1/trials/{boin.code}/design/oc/", {"true_tox": "0.1,0.2,0.3,0.4,0.5"}).status_code == 403
