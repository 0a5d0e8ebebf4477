"""Issue #3: the treatment tab at 1 and at 24 cycles."""

from __future__ import annotations

import time


def make_treated_patient(cycles: int):
    """A patient with `cycles` cycles, every planned dose recorded through the services."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from accounts.models import Site, User
    from cohorts.models import Trial
    from cohorts.services import patient_enroll, patient_register
    from dosing.models import PlannedDose
    from dosing.services import administration_record, cycle_start

    today = timezone.localdate()
    trial = Trial.objects.get(code="BPD")
    site = Site.objects.get(number="01")
    coordinator = User.objects.get(username="coord01")
    start = today - timedelta(days=28 * cycles + 3)
    patient = patient_register(
        trial=trial,
        site=site,
        by=coordinator,
        initials=f"C{chr(64 + cycles % 26 + 1)}",
        date_of_birth=start.replace(year=start.year - 60),
        sex="F",
        height_cm=Decimal(165),
        weight_kg=Decimal(64),
        consent_date=start - timedelta(days=5),
        eligibility=dict.fromkeys(trial.criteria_codes, True),
        baseline_anc=Decimal(2),
        baseline_platelets=Decimal(150),
        baseline_marrow_pc_pct=Decimal(20),
    )
    cohort = trial.cohorts.get(status="open")
    cohort.capacity += 1  # room in the open demo cohort for the benchmark's patients
    cohort.save()
    patient_enroll(patient=patient, by=coordinator, enrolled_on=start - timedelta(days=1))
    for n in range(cycles):
        cycle = cycle_start(patient=patient, by=coordinator, day1=start + timedelta(days=28 * n), weight_kg=Decimal(64))
        for planned in PlannedDose.objects.filter(cycle=cycle).select_related("drug"):
            administration_record(cycle=cycle, by=coordinator, drug=planned.drug, day=planned.day, status="given")
    return patient


def treatment_tab(client, measure) -> list[str]:
    """Issue #3: the treatment tab for a patient with 1 and with 24 cycles (goal: equal queries, ratio <= 2)."""
    t0 = time.perf_counter()
    one, many = make_treated_patient(1), make_treated_patient(24)
    print(f"treatment tab: patients with 1 and 24 cycles, every dose recorded (built in {time.perf_counter() - t0:.1f} s)")
    (q1, t1), (q24, t24) = (measure(f"/patients/{p.study_id}/treatment/") for p in (one, many))
    ratio = t24 / t1
    print("| page | queries at 1 cycle | queries at 24 cycles | ms at 1 | ms at 24 | ratio 24 : 1 |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| treatment tab | {q1} | {q24} | {t1 * 1000:.1f} | {t24 * 1000:.1f} | {ratio:.2f} |")
    failed = []
    if q1 != q24:
        failed.append(f"treatment tab: queries differ ({q1} vs {q24})")
    if ratio > 2:
        failed.append(f"treatment tab: time ratio {ratio:.2f} above the goal 2")
    return failed
