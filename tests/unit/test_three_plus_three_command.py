"""The statisticians' command: one JSON object per decision; tables or JSON for the characteristics."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def run(*args) -> str:
    out = StringIO()
    call_command("three_plus_three", *args, stdout=out)
    return out.getvalue()


def test_decide_prints_one_json_object_with_labels_as_strings():
    assert json.loads(run("decide", "--outcomes", "1NNN 2NTN 2NNN")) == {
        "action": "escalate",
        "level": "3",
        "mtd": None,
        "reason": "1 DLT in 6 at level 2: escalate to level 3.",
    }
    assert json.loads(run("decide", "--outcomes=1TTN -1NNN -1NNT"))["mtd"] == "-1"


def test_decide_on_another_ladder():
    answer = json.loads(run("decide", "--levels", "A,B,C", "--start", "A", "--outcomes", "ANNN BNNN CNNN CNTN"))
    assert (answer["action"], answer["mtd"]) == ("mtd", "C")


def test_simulate_exact_json_and_monte_carlo_agree():
    exact = json.loads(run("simulate", "--true-tox", "0.05,0.1,0.2,0.3,0.5", "--exact", "--json"))
    assert set(exact) == {"p_mtd", "p_stop", "expected_n", "expected_n_by_level", "expected_dlt"}
    assert sum(exact["p_mtd"].values()) + exact["p_stop"] == pytest.approx(1)
    mc = json.loads(run("simulate", "--true-tox", "0.05,0.1,0.2,0.3,0.5", "--trials", "4000", "--seed", "2", "--json"))
    assert mc["expected_n"] == pytest.approx(exact["expected_n"], abs=0.3)


def test_simulate_prints_a_table():
    table = run("simulate", "--true-tox", "0.05,0.1,0.2,0.3,0.5")
    assert "exact enumeration" in table
    assert "P(stop, no MTD)" in table


@pytest.mark.parametrize(("args", "message"), [(["decide", "--outcomes", "9NNN"], "not a dose level"), (["simulate", "--true-tox", "0.1,x"], "--true-tox")])
def test_bad_input_is_a_clear_error(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
