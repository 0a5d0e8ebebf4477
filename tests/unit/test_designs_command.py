"""`python manage.py design table|simulate` (issue 18): no database."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command


def run(*args) -> str:
    out = StringIO()
    call_command("design", *args, stdout=out)
    return out.getvalue()


def test_table_of_bpd_boin():
    out = json.loads(run("table", "--protocol", "protocols/bpd-boin.toml", "--json"))
    assert (out["design"], out["lambda_e"], out["lambda_d"]) == ("boin", 0.2365, 0.3585)
    assert out["rows"][0] == {"n": 3, "escalate": "0", "stay": "1", "de-escalate": "2", "eliminate": "3"}
    assert "lambda_e 0.2365" in run("table", "--protocol", "protocols/bpd-boin.toml")


def test_simulate_exact_and_monte_carlo():
    exact = json.loads(run("simulate", "--protocol", "protocols/bpd-boin.toml", "--true-tox", "0.05,0.1,0.2,0.3,0.5", "--json"))
    assert exact["states"] > 0
    assert sum(exact["p_select"].values()) + exact["p_none"] == pytest.approx(1)
    assert exact["expected_n_total"] <= 24
    mc = json.loads(run("simulate", "--protocol", "protocols/bpd-boin.toml", "--true-tox", "0.05,0.1,0.2,0.3,0.5", "--trials", "500", "--seed", "3", "--json"))
    assert mc["trials"] == 500
    assert abs(mc["p_select"]["3"] - exact["p_select"]["3"]) < 0.1
    three = run("simulate", "--protocol", "protocols/bpd.toml", "--true-tox", "0.05,0.1,0.2,0.3,0.5")
    assert "3+3 (exact" in three


def test_bad_input_is_a_clear_error():
    with pytest.raises(CommandError, match="Give one true DLT probability per level"):
        run("simulate", "--protocol", "protocols/bpd-boin.toml", "--true-tox", "0.1,0.2")
    with pytest.raises(CommandError, match="--true-tox"):
        run("simulate", "--protocol", "protocols/bpd-boin.toml", "--true-tox", "a,b")
    with pytest.raises(CommandError, match="No such file"):
        run("table", "--protocol", "protocols/none.toml")


def test_table_of_a_tite_boin_protocol_prints_the_stft_thresholds(tmp_path):
    path = tmp_path / "bpd-tite.toml"
    path.write_text(Path("protocols/bpd-boin.toml").read_text().replace('design = "boin"', 'design = "tite-boin"'))
    out = json.loads(run("table", "--protocol", str(path), "--json"))
    assert out["design"] == "tite-boin"
    # target 0.30 (Yuan et al. 2018, Table S1): 6 treated, 1 DLT, 2 pending: escalate at STFT >= 0.60
    assert {"n": 6, "dlts": "1", "pending": "2", "escalate": ">= 0.60", "stay": "< 0.60", "de-escalate": ""} in out["tite_rows"]
    text = run("table", "--protocol", str(path))
    assert "standardized total follow-up time" in text
    assert "Y & Elim" in text
