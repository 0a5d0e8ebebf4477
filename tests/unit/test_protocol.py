import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from cohorts.protocol import ProtocolError, parse_days, parse_protocol, read_protocol

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"


def bpd_data() -> dict:
    return tomllib.loads((PROTOCOLS / "bpd.toml").read_text())


def test_bpd_file_holds_the_protocol_parameters():
    spec = read_protocol(PROTOCOLS / "bpd.toml")
    t = spec.trial
    assert (t.cycle_length_days, t.dlt_window_days, t.cap_escalation, t.cap_expansion, t.cap_total) == (28, 28, 24, 38, 56)
    assert t.starting_level == 1
    assert [lv.label for lv in spec.levels] == [-1, 1, 2, 3, 4]
    doses = {lv.label: {d.drug: (d.amount, d.unit) for d in lv.doses} for lv in spec.levels}
    assert doses[-1]["pomalidomide"] == (Decimal(2), "mg")
    assert doses[3]["bendamustine"] == (Decimal(150), "mg/m2")
    assert doses[4]["bendamustine"] == (Decimal(180), "mg/m2")
    assert all(d["dexamethasone"] == (Decimal(40), "mg") for d in doses.values())
    schedules = {s.drug: s for s in spec.schedules}
    assert schedules["pomalidomide"].days == tuple(range(1, 22))
    assert schedules["bendamustine"].days == (1,)
    assert (schedules["bendamustine"].first_cycle, schedules["bendamustine"].last_cycle) == (1, 12)
    assert schedules["dexamethasone"].days == (1, 8, 15, 22)
    assert schedules["dexamethasone"].last_cycle is None


def test_a_second_trial_is_configured_by_its_file_alone():
    spec = read_protocol(PROTOCOLS / "example-3plus3.toml")
    assert spec.trial.code == "EXA"
    assert spec.trial.cycle_length_days == 21
    assert [d.code for d in spec.drugs] == ["drug_a", "drug_b"]


@pytest.mark.parametrize(("value", "days"), [("1-21", tuple(range(1, 22))), ([22, 1, 8, 15], (1, 8, 15, 22)), ([1], (1,))])
def test_days_are_read_as_lists_or_ranges(value, days):
    assert parse_days(value) == days


@pytest.mark.parametrize("value", ["21-1", "day 1", [], ["1"], None])
def test_bad_days_are_refused(value):
    with pytest.raises(ValueError, match="days"):
        parse_days(value)


def test_all_problems_are_reported_at_once():
    data = bpd_data()
    data["trial"]["starting_level"] = 7
    data["trial"]["cap_total"] = 99
    data["levels"][2]["doses"]["bendamustine"] = "120 mg/kg"
    del data["levels"][3]["doses"]["pomalidomide"]
    data["schedules"][1]["days"] = "1-30"
    with pytest.raises(ProtocolError) as info:
        parse_protocol(data)
    text = str(info.value)
    assert "starting_level 7" in text
    assert "cap_total cannot exceed" in text
    assert "120 mg/kg" in text
    assert "level 3: no dose for pomalidomide" in text
    assert "days must lie within 1-28" in text


def test_levels_must_be_listed_low_to_high():
    data = bpd_data()
    data["levels"].reverse()
    with pytest.raises(ProtocolError, match="lowest dose to the highest"):
        parse_protocol(data)


def test_missing_trial_values_are_named():
    data = bpd_data()
    del data["trial"]["dlt_window_days"]
    with pytest.raises(ProtocolError, match=r"trial\.dlt_window_days is required"):
        parse_protocol(data)


def test_invalid_toml_is_a_protocol_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[trial\ncode=")
    with pytest.raises(ProtocolError, match="not valid TOML"):
        read_protocol(bad)


def test_the_protocol_names_its_ctcae_version():
    assert read_protocol(PROTOCOLS / "bpd.toml").trial.ctcae == "5.0"
    assert read_protocol(PROTOCOLS / "example-3plus3.toml").trial.ctcae == "5.0"
    data = bpd_data()
    del data["trial"]["ctcae"]
    assert parse_protocol(data).trial.ctcae == "5.0"  # the default: files written before issue #15
    data["trial"]["ctcae"] = 5
    with pytest.raises(ProtocolError, match=r"trial\.ctcae must be a CTCAE version"):
        parse_protocol(data)
