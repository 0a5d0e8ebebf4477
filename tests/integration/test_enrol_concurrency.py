"""Twenty coordinators press "Enrol" at once for three open slots.

Runs against the configured database with real transactions and one
connection per thread (PostgreSQL in CI: select_for_update on the cohort row).
"""

import threading

import pytest
from django.db import connection, connections

from cohorts.models import Enrolment
from cohorts.services import patient_enroll
from tests.factories import register_patient
from trialsite.errors import NoOpenSlot


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_enrolments_for_three_slots_enrol_exactly_three(trial, site_a, alice):
    patients = [register_patient(trial, site_a, alice) for _ in range(20)]
    barrier = threading.Barrier(len(patients))
    outcomes: dict[str, str] = {}

    def enrol(patient):
        try:
            barrier.wait()
            patient_enroll(patient=patient, by=alice)
            outcomes[patient.study_id] = "enrolled"
        except NoOpenSlot as exc:
            outcomes[patient.study_id] = exc.message
        except Exception as exc:  # any other outcome is the failure this test looks for
            outcomes[patient.study_id] = f"ERROR {type(exc).__name__}: {exc}"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=enrol, args=(p,)) for p in patients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    values = list(outcomes.values())
    assert len(values) == 20
    assert values.count("enrolled") == 3, values
    refused = [v for v in values if v != "enrolled"]
    assert len(refused) == 17
    assert all(v.startswith("No open slot") for v in refused), refused
    assert Enrolment.objects.count() == 3
    assert sorted(Enrolment.objects.values_list("slot", flat=True)) == [1, 2, 3]
    assert connection.vendor in {"postgresql", "sqlite"}
