"""Response services on the database: assessments with unit conversion, spurious values, follow-up,
stored IMWG courses and endpoint snapshots, the whole-trial recompute with its progress."""

import json
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from response import services, stored
from response.models import EndpointSnapshot, MyelomaAssessment, RecomputeJob, ResponseResult
from response.services import (
    assessment_mark_spurious,
    assessment_record,
    endpoints_compute,
    followup_record,
    response_compute_many,
    trial_recompute,
)

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
C1 = TODAY - timedelta(days=390)


def d(n):
    return C1 + timedelta(days=n)


def record(patient, by, day, **values):
    units = values.pop("units", {})
    return assessment_record(patient=patient, by=by, on=d(day), values=values, units=units)


@pytest.fixture
def responder(on_c1, alice):
    record(on_c1, alice, -2, spep="30", units={"spep": "g/L"}, upep="0")  # 3.0 g/dL
    record(on_c1, alice, 28, spep="1.5", upep="0")
    record(on_c1, alice, 56, spep="1.4", upep="0")
    return on_c1


def test_units_are_converted_on_entry(on_c1, alice):
    a = record(
        on_c1, alice, -2, spep="30", kappa="400", lambda_flc="10", upep="0.3", units={"spep": "g/L", "kappa": "mg/L", "lambda_flc": "mg/L", "upep": "g/24h"}
    )
    a.refresh_from_db()
    assert (a.spep, a.kappa, a.lambda_flc, a.upep) == (D("3.00"), D("40.000"), D("1.000"), D("300.0"))
    assert a.ratio == D(40)


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"spep": "-0.1"}, "spep", "cannot be negative"),
        ({"marrow_pc": "101"}, "marrow_pc", "at most 100%"),
        ({"kappa": "40", "lambda_flc": "1", "units": {"kappa": "mg/L", "lambda_flc": "mg/dL"}}, "lambda_flc", "are they swapped?"),
        ({}, "__all__", "at least one result"),
    ],
)
def test_bad_assessments_are_refused_with_the_field_and_nothing_is_saved(on_c1, alice, values, field, message):
    with pytest.raises(ValidationError) as info:
        record(on_c1, alice, 28, **values)
    assert message in " ".join(info.value.message_dict[field])
    assert MyelomaAssessment.objects.count() == 0


def test_converted_values_round_half_up_and_a_value_that_rounds_to_zero_is_refused(on_c1, alice):
    """The same rounding rule as the labs (trialsite.units): 12.25 g/L is 1.23 g/dL; 0.004 mg/L of kappa would be stored as 0."""
    a = record(on_c1, alice, -2, spep="12.25", units={"spep": "g/L"})
    a.refresh_from_db()
    assert a.spep == D("1.23")
    with pytest.raises(ValidationError) as info:
        record(on_c1, alice, 28, kappa="0.004", lambda_flc="0.004", units={"kappa": "mg/L", "lambda_flc": "mg/L"})
    assert "rounds to 0 in stored units" in info.value.message_dict["kappa"][0]
    assert MyelomaAssessment.objects.count() == 1


def test_an_assessment_before_consent_is_refused(on_c1, alice):
    with pytest.raises(ValidationError) as info:
        record(on_c1, alice, -200, spep="3")
    assert "before consent" in info.value.message_dict["on"][0]


def test_the_stored_course_has_the_confirmed_pr_and_recomputing_is_idempotent(responder):
    assert response_compute_many([responder.pk]) == {"patients": 1, "changed": 1, "skipped": 0}
    result = ResponseResult.objects.get(patient=responder)
    assert (result.best, result.best_on, result.driver, result.best_change_pct) == ("PR", d(28), "spep", D("-53.33"))
    assert [r["category"] for r in result.rows()] == ["PR", "PR"]
    assert result.inputs_at is not None
    assert response_compute_many([responder.pk])["changed"] == 0


def test_a_spurious_value_is_not_a_nadir(responder, alice):
    low = record(responder, alice, 84, spep="0.2", upep="0")
    record(responder, alice, 112, spep="1.0", upep="0")
    response_compute_many([responder.pk])
    assert ResponseResult.objects.get(patient=responder).rows()[-1]["category"] == "PD"  # +0.8 from the nadir 0.2
    assessment_mark_spurious(assessment=low, by=alice, parameter="spep", reason="haemolysed sample")
    response_compute_many([responder.pk])
    assert ResponseResult.objects.get(patient=responder).rows()[-1]["category"] != "PD"


def test_follow_up_needs_a_cause_and_a_reason_to_correct(on_c1, alice):
    with pytest.raises(ValidationError) as info:
        followup_record(patient=on_c1, by=alice, death_on=d(300))
    assert "cause" in info.value.message_dict["death_cause"][0]
    followup_record(patient=on_c1, by=alice, next_therapy_on=d(200), next_therapy_regimen="KRd")
    with pytest.raises(ValidationError):
        followup_record(patient=on_c1, by=alice, next_therapy_on=d(210))
    follow = followup_record(patient=on_c1, by=alice, next_therapy_on=d(210), reason="date per letter")
    assert follow.next_therapy_on == d(210)


def test_endpoints_snapshot_is_stored_once_per_change(responder, trial):
    response_compute_many([responder.pk])
    snap = endpoints_compute(trial=trial)
    assert snap.data["overall"]["orr"] == {"n": 1, "of": 1, "pct": 100.0}
    assert snap.data["overall"]["initial_response_rate"]["n"] == 1
    assert endpoints_compute(trial=trial).pk == snap.pk
    assert EndpointSnapshot.objects.count() == 1


def test_whole_trial_recompute_records_its_progress(responder, trial, dana):
    job = RecomputeJob.objects.create(trial=trial, requested_by=dana, requested_at=timezone.now())
    job = trial_recompute(job=job)
    assert (job.status, job.total, job.done) == ("done", 1, 1)
    assert ResponseResult.objects.filter(patient=responder).exists()


def test_the_read_gives_the_rules_what_the_model_holds(on_c1, alice):
    """The recompute reads its inputs with one query a chunk (services._inputs): every column must
    come back as the model gives it (Decimals with the column's places, booleans, dates, spurious)."""
    record(on_c1, alice, -2, spep="3.1", upep="250", kappa="40.5", lambda_flc="1.25", marrow_pc="60", marrow_clonal=True, serum_ife=True)
    record(on_c1, alice, 28, spep="1.004", upep="0.4", urine_ife=False, plasmacytoma=True, plasmacytoma_size="4.5", new_lesions=False)
    last = record(on_c1, alice, 56, spep="0", kappa="0.001", lambda_flc="12.0", units={})
    assessment_mark_spurious(assessment=last, by=alice, parameter="kappa", reason="haemolysed sample")
    rows = services._inputs([on_c1.pk])[on_c1.pk]
    expected = []
    for a in MyelomaAssessment.objects.filter(patient=on_c1).order_by("on"):
        values = [getattr(a, name) for name in services.INPUT_COLUMNS]
        expected.append((*values, frozenset(a.spurious)))
    assert [tuple(r) for r in rows] == expected
    for row, exp in zip(rows, expected, strict=True):  # "1.50" is not "1.5": the places show in the reasons
        assert [str(v) for v in row[:13]] == [str(v) for v in exp[:13]]
        assert [type(v) for v in row] == [type(v) for v in exp]
    assert rows[1].spep == D("1.00")
    assert rows[0].lambda_ == D("1.250")
    assert rows[2].spurious == frozenset({"kappa"})


def test_a_whole_trial_recompute_gives_the_endpoints_the_courses_it_computed(responder, on_c1, trial, dana):
    """The chunks hand the endpoints the courses they have just computed (through the JSON a Celery result
    carries): the numbers must be those computed from the stored courses."""
    job = RecomputeJob.objects.create(trial=trial, requested_by=dana, requested_at=timezone.now())
    chunks = services.trial_recompute_begin(job)
    assert chunks == [[responder.pk]]
    part = services.trial_recompute_chunk(job.pk, chunks[0])
    assert part["stats"] == {"patients": 1, "changed": 1, "skipped": 0}
    assert json.loads(json.dumps(part)) == part
    computed = {int(pid): stored.course_from_json(c) for pid, c in part["courses"].items()}
    assert services.courses_for(trial, computed) == services.courses_for(trial, {})  # as read back from the stored course
    job = services.trial_recompute_finish(job.pk, [part])
    assert (job.status, job.done, job.message) == ("done", 1, "1 patients, 1 changed")
    from_memory = EndpointSnapshot.objects.get().data
    EndpointSnapshot.objects.all().delete()  # computed again from the stored courses only
    assert endpoints_compute(trial=trial).data == from_memory
    assert from_memory["overall"]["orr"] == {"n": 1, "of": 1, "pct": 100.0}


def test_a_failed_chunk_marks_the_job_failed(responder, trial, dana, monkeypatch):
    job = RecomputeJob.objects.create(trial=trial, requested_by=dana, requested_at=timezone.now())
    chunks = services.trial_recompute_begin(job)

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "response_compute_many", broken)
    with pytest.raises(RuntimeError):
        services.trial_recompute_chunk(job.pk, chunks[0])
    job.refresh_from_db()
    assert (job.status, job.message) == ("failed", "database went away")


def test_the_trial_recompute_task_runs_the_chord_inline(responder, trial, dana, django_capture_on_commit_callbacks):
    """Without a broker the chord runs inline: chunks of at most 500, then the endpoints."""
    with django_capture_on_commit_callbacks(execute=True):
        job = services.trial_recompute_start(trial=trial, by=dana)
    job.refresh_from_db()
    assert (job.status, job.total, job.done) == ("done", 1, 1)
    assert ResponseResult.objects.filter(patient=responder, best="PR").exists()
    assert EndpointSnapshot.objects.filter(trial=trial).exists()


# ---------------------------------------------------------------- only what changed (issue #14 point 2)


def test_a_stored_course_is_stale_only_when_its_patient_changed_or_the_rules_did(responder, alice, django_assert_num_queries):
    assert services.stale_patients(patient_ids=[responder.pk]) == [responder.pk]  # never computed
    response_compute_many([responder.pk])
    assert services.stale_patients(patient_ids=[responder.pk]) == []  # computed after the last change
    trial = responder.trial
    with django_assert_num_queries(1):
        services.stale_patients(trial=trial)
    record(responder, alice, 84, spep="1.3", upep="0")
    assert services.stale_patients(patient_ids=[responder.pk]) == [responder.pk]
    response_compute_many([responder.pk])
    assert services.stale_patients(trial=responder.trial) == []
    ResponseResult.objects.update(rule_version="imwg-2016/bpd-0", digest="")  # as after a rule change
    assert services.stale_patients(trial=responder.trial) == [responder.pk]


def test_a_recompute_where_nothing_changed_evaluates_nobody_and_writes_nothing(responder, django_assert_max_num_queries):
    response_compute_many([responder.pk])
    before = ResponseResult.objects.values().get(patient=responder)
    with django_assert_max_num_queries(1):
        stats = response_compute_many([responder.pk])
    assert stats == {"patients": 0, "changed": 0, "skipped": 1}
    assert ResponseResult.objects.values().get(patient=responder) == before


def test_a_change_that_leaves_the_course_as_it_was_moves_only_its_input_version(responder, alice):
    from response.services import followup_record

    response_compute_many([responder.pk])
    before = ResponseResult.objects.values().get(patient=responder)
    followup_record(patient=responder, by=alice, last_contact_on=d(90))  # the rules read no last contact
    assert services.stale_patients(patient_ids=[responder.pk]) == [responder.pk]
    assert response_compute_many([responder.pk]) == {"patients": 1, "changed": 0, "skipped": 0}
    after = ResponseResult.objects.values().get(patient=responder)
    assert after["inputs_version"] > before["inputs_version"]
    assert {k: v for k, v in after.items() if k != "inputs_version"} == {k: v for k, v in before.items() if k != "inputs_version"}
    assert services.stale_patients(patient_ids=[responder.pk]) == []


def test_a_whole_trial_recompute_after_a_rule_change_computes_every_course_and_then_none(responder, trial, dana):
    response_compute_many([responder.pk])
    ResponseResult.objects.update(rule_version="imwg-2016/bpd-1", digest="")  # the rules before issue #15
    first = services.trial_recompute(job=RecomputeJob.objects.create(trial=trial, requested_by=dana, requested_at=timezone.now()))
    assert (first.status, first.total, first.done) == ("done", 1, 1)
    assert ResponseResult.objects.get(patient=responder).rule_version == "imwg-2016/bpd-2"
    snapshots = EndpointSnapshot.objects.count()
    steady = services.trial_recompute(job=RecomputeJob.objects.create(trial=trial, requested_by=dana, requested_at=timezone.now()))
    assert (steady.status, steady.total, steady.done, steady.message) == ("done", 0, 0, "0 patients, 0 changed")
    assert EndpointSnapshot.objects.count() == snapshots


def test_a_course_stored_by_the_rules_before_issue_15_is_recomputed_and_so_are_the_endpoints_keyed_by_them(on_c1, alice, trial, dana):
    record(on_c1, alice, -2, spep="0.2", upep="50", kappa="41", lambda_flc="1")  # FLC-only: dFLC 40
    for day in (28, 56):
        record(on_c1, alice, day, spep="0", upep="0", kappa="41", lambda_flc="1")  # no response by the dFLC
    response_compute_many([on_c1.pk])
    endpoints_compute(trial=trial)
    # As the rules before issue #15 stored it: serum 0 by electrophoresis made this FLC-only patient a VGPR.
    ResponseResult.objects.update(rule_version="imwg-2016/bpd-1", best="VGPR", digest="")
    EndpointSnapshot.objects.update(rule_version="imwg-2016/bpd-1+endpoints-bpd-1")
    assert services.stale_patients(trial=trial) == [on_c1.pk]
    job = services.trial_recompute(job=RecomputeJob.objects.create(trial=trial, requested_by=dana, requested_at=timezone.now()))
    assert (job.status, job.total, job.done) == ("done", 1, 1)
    result = ResponseResult.objects.get(patient=on_c1)
    assert (result.rule_version, result.best) == ("imwg-2016/bpd-2", "SD")
    snapshot = EndpointSnapshot.objects.filter(trial=trial).latest()
    assert snapshot.rule_version == services.ENDPOINT_RULES == "imwg-2016/bpd-2+endpoints-bpd-1"
    assert (snapshot.data["overall"]["best_response"]["VGPR"], snapshot.data["overall"]["best_response"]["SD"]) == (0, 1)


def test_endpoints_keyed_by_older_rules_are_recomputed_when_no_course_changed(responder, trial, dana):
    response_compute_many([responder.pk])
    endpoints_compute(trial=trial)
    EndpointSnapshot.objects.update(rule_version="imwg-2016/bpd-1+endpoints-bpd-1")
    snapshots = EndpointSnapshot.objects.count()
    job = services.trial_recompute(job=RecomputeJob.objects.create(trial=trial, requested_by=dana, requested_at=timezone.now()))
    assert (job.status, job.total) == ("done", 0)
    assert EndpointSnapshot.objects.count() == snapshots + 1
    assert EndpointSnapshot.objects.filter(trial=trial).latest().rule_version == services.ENDPOINT_RULES


# ---------------------------------------------------------------- a worker that stops (issue #14 point 4)


def test_the_reaper_fails_a_recompute_whose_worker_stopped_and_one_that_never_started(responder, trial, dana):
    now = timezone.now()
    running = RecomputeJob.objects.create(trial=trial, requested_by=dana, requested_at=now)
    services.trial_recompute_begin(running)
    queued = RecomputeJob.objects.create(trial=trial, requested_by=dana, requested_at=now)
    assert services.trial_recompute_reap(now=now + timedelta(minutes=4)) == []  # still within STALE_AFTER
    assert sorted(services.trial_recompute_reap(now=now + timedelta(minutes=6))) == sorted([running.pk, queued.pk])
    running.refresh_from_db()
    queued.refresh_from_db()
    assert (running.status, running.message) == ("failed", services.WORKER_STOPPED)
    assert (queued.status, queued.message) == ("failed", services.NEVER_STARTED)
    assert running.finished_at is not None


def test_a_reaped_recompute_stays_failed_when_its_lost_work_comes_back(responder, trial, dana):
    job = RecomputeJob.objects.create(trial=trial, requested_by=dana, requested_at=timezone.now())
    response_compute_many([responder.pk])
    ResponseResult.objects.update(rule_version="imwg-2016/bpd-0", digest="")
    chunks = services.trial_recompute_begin(job)
    assert chunks == [[responder.pk]]
    services.trial_recompute_reap(now=timezone.now() + timedelta(minutes=6))
    part = services.trial_recompute_chunk(job.pk, chunks[0])  # the message delivered again after the reaper
    job = services.trial_recompute_finish(job.pk, [part])
    assert (job.status, job.message) == ("failed", services.WORKER_STOPPED)
    assert services.trial_recompute_begin(job) == []  # a failed job is not started again: a new one is


def test_the_dashboard_offers_to_start_a_failed_recompute_again(client, dana, responder, trial):
    job = RecomputeJob.objects.create(trial=trial, requested_by=dana, requested_at=timezone.now() - timedelta(minutes=10))
    services.trial_recompute_reap()
    client.force_login(dana)
    html = client.get(f"/trials/{trial.code}/response/").content.decode()
    assert "Failed" in html
    assert services.NEVER_STARTED in html
    assert "Start the recompute again" in html
    job.refresh_from_db()
    assert job.status == "failed"
