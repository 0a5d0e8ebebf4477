"""Issue #15: the adverse events of the old hard-coded list (27 slugs) move to the MedDRA codes of their terms,
with their history, and the whole of CTCAE v5.0 is in the table after the migrations."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from toxicity.ctcae import meddra
from toxicity.models import AdverseEvent, CtcaeTerm

BEFORE = [("toxicity", "0003_dltevaluation_rule_version"), ("response", "0005_results_input_version_job_heartbeat")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_old_slugs_and_their_history_move_to_meddra_codes(on_c1, alice):
    onset = timezone.localdate() - timedelta(days=380)
    try:
        old = migrate(BEFORE)
        OldEvent = old.get_model("toxicity", "AdverseEvent")
        OldHistory = old.get_model("toxicity", "HistoricalAdverseEvent")
        ids = {}
        for slug, grade in (("nausea", 2), ("rash_maculopapular", 3), ("thromboembolic_event", 3)):
            row = {"patient_id": on_c1.pk, "term": slug, "grade": grade, "onset": onset, "attribution": {}, "entered_by_id": alice.pk}
            ids[slug] = OldEvent.objects.create(**row).pk
            OldHistory.objects.create(id=ids[slug], history_date=timezone.now(), history_type="+", **row)
        migrate(leaves())
    finally:
        migrate(leaves())  # whatever happened, the later tests get the current schema
    assert CtcaeTerm.objects.filter(version="5.0").count() == 837
    for slug, name in (("nausea", "Nausea"), ("rash_maculopapular", "Rash maculo-papular"), ("thromboembolic_event", "Thromboembolic event")):
        ae = AdverseEvent.objects.get(pk=ids[slug])
        assert (ae.term, ae.ctcae_version, ae.term_name) == (meddra(name), "5.0", name)
        assert set(ae.history.values_list("term", flat=True)) == {meddra(name)}
