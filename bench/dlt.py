"""Issue #4: the nightly DLT re-evaluation of 5,000 synthetic patients in their window."""

from __future__ import annotations

import io
import statistics
import time
from contextlib import redirect_stdout

from .harness import WARMUP, QueryCounter, timed_fetch

DLT_TRIAL, DLT_PATIENTS, DLT_SPAN_DAYS, DLT_REPEAT = "SYNT", 5000, 10, 5


def window_rows_sql(ids: list[int]) -> str:
    """One UNION ALL over every row the nightly run reads for these patients: the patients (with
    their trial's window), cycles 1-2, adverse events, lab panels, cycle-1 dose modifications,
    off-treatment decisions, DLT proposals and evaluations. The ids are integers from the database."""
    from django.db import connection

    from cohorts.models import Patient, Trial
    from dosing.models import Cycle, DoseModification, OffTreatment
    from toxicity.models import AdverseEvent, DltEvaluation, DltProposal, LabResult

    q = connection.ops.quote_name
    t = {m.__name__: q(m._meta.db_table) for m in (Patient, Trial, Cycle, AdverseEvent, LabResult, DoseModification, OffTreatment, DltProposal, DltEvaluation)}
    values = ", ".join(f"({int(i)})" for i in ids)
    text, json = ("varchar", "jsonb") if connection.vendor == "postgresql" else ("text", "text")
    # kind, patient, id, date1, date2, n1, n2, n3, n4, text1, text2, flag1, flag2, json1, json2
    branches = [
        # The first branch types every column (PostgreSQL resolves the NULLs of the others from it).
        f"SELECT 'patient', p.id, p.id, CAST(NULL AS date), CAST(NULL AS date), p.baseline_anc, p.baseline_platelets, p.baseline_marrow_pc_pct, "
        f"t.dlt_window_days, CAST(NULL AS {text}), CAST(NULL AS {text}), CAST(NULL AS boolean), CAST(NULL AS boolean), CAST(NULL AS {json}), "
        f"CAST(NULL AS {json}) FROM {t['Patient']} p JOIN {t['Trial']} t ON t.id = p.trial_id WHERE p.id IN (SELECT id FROM ids)",
        f"SELECT 'cycle', c.patient_id, c.id, c.planned_day1, c.day1, c.number, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
        f"FROM {t['Cycle']} c WHERE c.patient_id IN (SELECT id FROM ids) AND c.number IN (1, 2)",
        f"SELECT 'ae', a.patient_id, a.id, a.onset, a.resolved, a.grade, a.event_id, NULL, NULL, a.term, NULL, a.progression, a.with_pain, "
        f"a.attribution, a.supportive FROM {t['AdverseEvent']} a WHERE a.patient_id IN (SELECT id FROM ids) AND NOT a.in_error",
        f"SELECT 'lab', l.patient_id, l.id, l.{q('on')}, NULL, l.anc, l.platelets, l.temperature, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
        f"FROM {t['LabResult']} l WHERE l.patient_id IN (SELECT id FROM ids)",
        f"SELECT 'mod', m.patient_id, m.id, m.effective_on, NULL, m.adverse_event_id, NULL, NULL, NULL, m.kind, NULL, m.in_cycle_1, NULL, NULL, NULL "
        f"FROM {t['DoseModification']} m JOIN {t['Cycle']} mc ON mc.id = m.cycle_id WHERE m.patient_id IN (SELECT id FROM ids) AND mc.number = 1",
        f"SELECT 'off', o.patient_id, o.id, o.decided_on, NULL, NULL, NULL, NULL, NULL, o.reason, NULL, NULL, NULL, NULL, NULL "
        f"FROM {t['OffTreatment']} o WHERE o.patient_id IN (SELECT id FROM ids)",
        f"SELECT 'proposal', r.patient_id, r.id, r.onset, NULL, NULL, NULL, NULL, NULL, r.{q('key')}, r.status, r.attribution_recorded, NULL, "
        f"r.evidence, r.event_ids FROM {t['DltProposal']} r WHERE r.patient_id IN (SELECT id FROM ids)",
        f"SELECT 'evaluation', e.patient_id, e.id, e.evaluated_on, e.until, NULL, NULL, NULL, NULL, e.status, e.inputs_digest, NULL, NULL, NULL, NULL "
        f"FROM {t['DltEvaluation']} e WHERE e.patient_id IN (SELECT id FROM ids)",
    ]
    return f"WITH ids(id) AS (VALUES {values}) " + " UNION ALL ".join(branches)


def one_query(ids: list[int]) -> tuple[int, float, dict[str, int]]:
    """Rows, median seconds and rows by kind of the single query over `ids`."""
    return timed_fetch(window_rows_sql(ids), DLT_REPEAT)


def dlt_nightly() -> list[str]:
    """Issue #4: the nightly DLT re-evaluation of 5,000 synthetic patients in their window, against one query reading the same rows."""
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from toxicity.models import DltProposal
    from toxicity.selectors import patients_in_window
    from toxicity.services import dlt_evaluate_many

    today = timezone.localdate()
    t0 = time.perf_counter()
    with redirect_stdout(io.StringIO()):
        call_command("seed_demo", patients=DLT_PATIENTS, seed=1, synthetic=DLT_TRIAL, cycles=2, toxicity=True, span_days=DLT_SPAN_DAYS)
    seeded = time.perf_counter() - t0

    def nightly(ids: list[int] | None = None) -> tuple[dict, list[int], QueryCounter, float]:
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            t0 = time.perf_counter()
            ids = list(patients_in_window(today)) if ids is None else ids
            stats = dlt_evaluate_many(ids, today=today)
            elapsed = time.perf_counter() - t0
        return stats, ids, counter, elapsed

    # (a) the first night: every patient in the window is evaluated and stored, once.
    first, ids, qa, ta = nightly()
    proposed = DltProposal.objects.filter(patient_id__in=ids).values("patient_id").distinct().count()
    rows_c, tc, kinds = one_query(ids)
    # (b) the same patients again: nothing changed, nothing written (median of DLT_REPEAT runs).
    runs = [nightly(ids) for _ in range(DLT_REPEAT)]
    second, _, qb, _ = runs[-1]
    tb = statistics.median(r[3] for r in runs)
    # (b') the real second night: patients whose evaluation became final (a DLT proposed, or the
    # window and cycle 2 day 1 settled) leave the window.
    night2, ids2, qn, tn = nightly()
    rows_c2, tc2, _ = one_query(ids2)
    inputs = rows_c - kinds.get("proposal", 0) - kinds.get("evaluation", 0)

    print(
        f"nightly DLT re-evaluation: {DLT_TRIAL} {DLT_PATIENTS:,} synthetic patients with cycle 1 started within about the last 30 days "
        f"(seed_demo --synthetic {DLT_TRIAL} --patients {DLT_PATIENTS} --seed 1 --cycles 2 --toxicity --span-days {DLT_SPAN_DAYS}, seeded in {seeded:.1f} s)"
    )
    print(
        f"in the window on the first night: {len(ids):,} patients (with the demo's); {proposed:,} get a DLT proposal; "
        f"the one query is the median of {DLT_REPEAT} after {WARMUP} warm-up, the second run the median of {DLT_REPEAT}"
    )
    print(
        f"rows read: {inputs:,} inputs ({', '.join(f'{k} {v:,}' for k, v in sorted(kinds.items()) if k not in ('proposal', 'evaluation'))}) "
        f"+ {kinds.get('proposal', 0):,} proposals and {kinds.get('evaluation', 0):,} evaluations once stored"
    )
    print("| step | patients | queries | of which writes | rows read | ms | ratio to one query |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(f"| (a) first nightly run | {len(ids):,} | {qa.total:,} | {qa.writes:,} | {inputs:,} | {ta * 1000:.0f} | {ta / tc:.1f} |")
    print(f"| (b) second run, same patients | {len(ids):,} | {qb.total:,} | {qb.writes:,} | {rows_c:,} | {tb * 1000:.0f} | {tb / tc:.1f} |")
    print(f"| (c) one UNION ALL query | {len(ids):,} | 1 | 0 | {rows_c:,} | {tc * 1000:.0f} | 1.0 |")
    print(f"| (b') second night, patients_in_window | {len(ids2):,} | {qn.total:,} | {qn.writes:,} | {rows_c2:,} | {tn * 1000:.0f} | {tn / tc2:.1f} |")
    print(f"| (c') one query for those | {len(ids2):,} | 1 | 0 | {rows_c2:,} | {tc2 * 1000:.0f} | 1.0 |")
    return nightly_goals(ids, first, (("second run", second, qb), ("second night", night2, qn)))


def nightly_goals(ids: list[int], first: dict, steady: tuple[tuple[str, dict, QueryCounter], ...]) -> list[str]:
    """The goals missed: the first run stores every synthetic patient; the steady runs (name, stats, counter; the
    second run first) write nothing, and the second run's queries stay at most 10 a chunk of 500 plus one."""
    from cohorts.models import Patient

    failed = []
    synthetic = Patient.objects.filter(trial__code=DLT_TRIAL, pk__in=ids).count()
    if first["changed"] < synthetic:  # the demo's patients were evaluated when the demo was loaded
        failed.append(f"dlt nightly: the first run stored {first['changed']} patients, fewer than the {synthetic} synthetic ones")
    for name, stats, counter in steady:
        if stats["changed"] or counter.writes:
            failed.append(f"dlt nightly: the {name} wrote ({stats['changed']} patients changed, {counter.writes} write statements)")
    chunks = -(-len(ids) // 500)
    qb = steady[0][2]
    if qb.total > 1 + 10 * chunks:
        failed.append(f"dlt nightly: the second run sent {qb.total} queries for {chunks} chunks (more than 10 a chunk)")
    return failed
