"""Each edit check raises its finding on one side of its rule and not on the other."""

from datetime import date
from decimal import Decimal as D

from datamanagement import editchecks as ec
from toxicity.ctcae import meddra

D1 = date(2026, 1, 1)


def test_ae_onset_after_resolution():
    found = ec.ae_dates(
        [ec.Event(1, 9, meddra("Nausea"), date(2026, 1, 5), date(2026, 1, 4)), ec.Event(2, 9, meddra("Nausea"), date(2026, 1, 5), date(2026, 1, 5))]
    )
    assert [(f.check, f.object_id, f.field) for f in found] == [("AE_DATES", 1, "resolved")]


def test_day1_weight_missing_or_changed_by_more_than_10_percent():
    cycles = [ec.CycleRow(1, 9, 1, D1, D("80.0")), ec.CycleRow(2, 9, 2, date(2026, 1, 29), D("88.0")), ec.CycleRow(3, 9, 3, date(2026, 2, 26), D("96.9"))]
    cycles.append(ec.CycleRow(4, 9, 4, date(2026, 3, 26), None))
    found = ec.day1_weight(cycles)
    assert [f.object_id for f in found] == [3, 4]  # +10% exactly is fine; 96.9 is +10.1% from 88.0
    assert "no day-1 weight" in found[1].text


def test_dose_outside_its_cycle():
    cycles = [ec.CycleRow(1, 9, 1, D1, D(80)), ec.CycleRow(2, 9, 2, date(2026, 1, 29), D(80))]
    doses = [
        ec.Dose(10, 9, 1, date(2026, 1, 28), "Pomalidomide"),
        ec.Dose(11, 9, 1, date(2026, 1, 29), "Pomalidomide"),
        ec.Dose(12, 9, 1, date(2025, 12, 31), "Pomalidomide"),
    ]
    assert [f.object_id for f in ec.dose_cycle(doses, cycles)] == [11, 12]


def test_grade_3_anc_without_a_neutropenia_event():
    labs = [ec.Lab(1, 9, date(2026, 1, 10), D("0.99")), ec.Lab(2, 9, date(2026, 1, 11), D("1.0")), ec.Lab(3, 9, date(2026, 1, 20), D("0.4"))]
    events = [ec.Event(5, 9, meddra("Neutrophil count decreased"), date(2026, 1, 15), date(2026, 1, 25))]
    assert [f.object_id for f in ec.anc_without_event(labs, events)] == [1]


def test_a_grade_5_event_whose_end_is_not_the_date_of_death():
    sepsis = meddra("Sepsis")
    died = ec.Event(1, 9, sepsis, date(2026, 1, 3), date(2026, 1, 5), grade=5)
    other = ec.Event(2, 8, sepsis, date(2026, 1, 3), date(2026, 1, 5), grade=5)
    survived = ec.Event(3, 7, sepsis, date(2026, 1, 3), date(2026, 1, 5), grade=4)
    deaths = {9: date(2026, 1, 6), 8: date(2026, 1, 5), 7: date(2026, 2, 1)}
    found = ec.death_date([died, other, survived], deaths)
    assert [(f.check, f.object_id, f.field) for f in found] == [("DEATH_DATE", 1, "resolved")]
    assert "follow-up records death on 2026-01-06" in found[0].text
    assert ec.death_date([died], {}) == []  # no death recorded yet: the pipeline writes it from the event
