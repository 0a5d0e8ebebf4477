import tomllib
from pathlib import Path

import pytest

from cohorts.models import Cohort, DoseLevel, Drug, DrugSchedule, LevelDose, Trial
from cohorts.protocol import ProtocolError, parse_protocol, read_protocol
from cohorts.services import protocol_load

PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"
pytestmark = pytest.mark.django_db


def test_bpd_loads_levels_doses_schedules_and_opens_cohort_one_at_level_one():
    result = protocol_load(spec=read_protocol(PROTOCOLS / "bpd.toml"))
    trial = result.trial
    assert result.created
    assert list(trial.levels.values_list("label", flat=True)) == [-1, 1, 2, 3, 4]
    assert trial.starting_level.label == 1
    dose = LevelDose.objects.get(level__trial=trial, level__label=4, drug__code="bendamustine")
    assert (dose.amount, dose.unit) == (180, "mg/m2")
    benda = DrugSchedule.objects.get(drug__trial=trial, drug__code="bendamustine")
    assert (benda.days, benda.first_cycle, benda.last_cycle) == ([1], 1, 12)
    cohort = Cohort.objects.get(trial=trial)
    assert (cohort.number, cohort.level.label, cohort.capacity, cohort.status) == (1, 1, 3, "open")


def test_loading_twice_changes_nothing_and_writes_no_history():
    protocol_load(spec=read_protocol(PROTOCOLS / "bpd.toml"))
    counts = [m.history.count() for m in (Trial, Drug, DoseLevel, LevelDose, DrugSchedule, Cohort)]
    again = protocol_load(spec=read_protocol(PROTOCOLS / "bpd.toml"))
    assert not again.created
    assert again.changes == []
    assert [m.history.count() for m in (Trial, Drug, DoseLevel, LevelDose, DrugSchedule, Cohort)] == counts
    assert Cohort.objects.count() == 1


def test_second_trial_loads_beside_the_first_without_code_changes():
    protocol_load(spec=read_protocol(PROTOCOLS / "bpd.toml"))
    exa = protocol_load(spec=read_protocol(PROTOCOLS / "example-3plus3.toml")).trial
    assert Trial.objects.count() == 2
    assert exa.cycle_length_days == 21
    assert list(exa.drugs.values_list("code", flat=True)) == ["drug_a", "drug_b"]
    assert Cohort.objects.get(trial=exa).level.label == 1


def _bpd(**trial_changes):
    data = tomllib.loads((PROTOCOLS / "bpd.toml").read_text())
    data["trial"].update(trial_changes)
    return parse_protocol(data)


def test_a_changed_file_without_a_new_version_is_refused_and_nothing_changes():
    protocol_load(spec=_bpd())
    with pytest.raises(ProtocolError, match="an amendment needs a new version"):
        protocol_load(spec=_bpd(cap_escalation=25))
    assert Trial.objects.get(code="BPD").cap_escalation == 24


def test_an_amendment_with_a_new_version_is_applied_and_audited():
    protocol_load(spec=_bpd())
    result = protocol_load(spec=_bpd(cap_escalation=30, cap_total=60, version="1.2"))
    trial = Trial.objects.get(code="BPD")
    assert (trial.cap_escalation, trial.protocol_version) == (30, "1.2")
    assert any("cap_escalation" in change for change in result.changes)
    latest = trial.history.latest()
    assert latest.history_change_reason == "Protocol BPD version 1.2 loaded"
    assert latest.prev_record.cap_escalation == 24


def test_bpd_boin_stores_its_design_with_the_trial_and_reloads_idempotently():
    bpd = protocol_load(spec=read_protocol(PROTOCOLS / "bpd.toml")).trial
    assert (bpd.design, bpd.design_params) == ("3+3", {})
    boin = protocol_load(spec=read_protocol(PROTOCOLS / "bpd-boin.toml")).trial
    assert boin.design == "boin"
    assert boin.design_params["target"] == 0.3
    assert (boin.design_params["max_n"], boin.design_params["n_stop"], boin.design_params["cutoff_eli"]) == (24, 12, 0.95)
    from cohorts.protocol import DesignSpec

    assert DesignSpec.from_json(boin.design_params) == read_protocol(PROTOCOLS / "bpd-boin.toml").design
    assert protocol_load(spec=read_protocol(PROTOCOLS / "bpd-boin.toml")).changes == []
