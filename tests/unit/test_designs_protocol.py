"""The design as protocol data (issue 18): parsed and checked by the protocol loader, stored with the trial."""

import tomllib

import pytest

from cohorts.protocol import DesignSpec, ProtocolError, parse_protocol, read_protocol


def data(design="boin", table=None):
    with open("protocols/bpd-boin.toml", "rb") as f:
        d = tomllib.load(f)
    d["trial"]["design"] = design
    if table is None:
        d.pop("design", None)
    else:
        d["design"] = table
    return d


def test_bpd_boin_file():
    spec = read_protocol("protocols/bpd-boin.toml")
    d = spec.design
    assert (d.name, d.target, d.cohort_size, d.max_n, d.n_stop, d.cutoff_eli) == ("boin", 0.3, 3, 24, 12, 0.95)
    assert d.phi1 == pytest.approx(0.18)
    assert d.phi2 == pytest.approx(0.42)
    assert [lv.label for lv in spec.levels] == [lv.label for lv in read_protocol("protocols/bpd.toml").levels]


def test_three_plus_three_unchanged():
    spec = read_protocol("protocols/bpd.toml")
    assert spec.design == DesignSpec(name="3+3", cohort_size=3)


@pytest.mark.parametrize(
    ("design", "table", "message"),
    [
        ("boin", {"cohort_size": 3, "max_n": 24}, "design.target is required for boin"),
        ("boin", {"target": 1.3, "max_n": 24}, "design.target is required for boin"),
        ("boin", {"target": 0.3}, "design.max_n is required for boin"),
        ("boin", {"target": 0.3, "max_n": 30}, "design.max_n (30) cannot exceed trial.cap_escalation (24)"),
        ("boin", {"target": 0.3, "max_n": 24, "phi1": 0.35}, "design.phi1 and phi2 must satisfy"),
        ("boin", {"target": 0.3, "max_n": 24, "window_days": 28}, "design.window_days is not a parameter of the boin design"),
        ("i3+3", {"target": 0.3, "max_n": 24}, "design.equivalence is required for i3+3"),
        ("i3+3", {"target": 0.3, "max_n": 24, "equivalence": [0.32, 0.4]}, "design.equivalence must contain the target"),
        ("tite-boin", {"target": 0.3, "max_n": 24, "max_pending_fraction": 2}, "design.max_pending_fraction must lie between 0 and 1"),
        ("crm", {}, "trial.design 'crm' is not a design this system runs"),
        ("3+3", {"target": 0.3}, "design.target is not a parameter of the 3+3 design"),
    ],
)
def test_clear_errors(design, table, message):
    with pytest.raises(ProtocolError) as exc:
        parse_protocol(data(design, table))
    assert any(message in p for p in exc.value.problems), exc.value.problems


def test_tite_and_i3_defaults():
    t = parse_protocol(data("tite-boin", {"target": 0.25, "max_n": 24})).design
    assert (t.window_days, t.max_pending_fraction, t.cohort_size) == (28, 0.5, 3)
    i = parse_protocol(data("i3+3", {"target": 0.25, "max_n": 24, "equivalence": [0.2, 0.3]})).design
    assert (i.ei_low, i.ei_high) == (0.2, 0.3)
    assert DesignSpec.from_json(i.as_json()) == i
