"""EscalationDecision moved from cohorts to escalation by state-only migrations: the rows and their history stay."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from escalation.models import EscalationDecision

# Before the move (and before DltEvaluation stored the window's evaluability).
BEFORE = [("cohorts", "0003_historicalescalationdecision_escalationdecision"), ("escalation", None), ("toxicity", "0001_initial")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state([t for t in targets if t[1] is not None]).apps


def leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_decisions_and_their_history_keep_their_rows_across_the_move(trial):
    content_type = ContentType.objects.get_for_model(EscalationDecision)
    try:
        old = migrate(BEFORE)
        assert old.get_model("contenttypes", "ContentType").objects.get(pk=content_type.pk).app_label == "cohorts"
        OldDecision = old.get_model("cohorts", "EscalationDecision")
        OldHistory = old.get_model("cohorts", "HistoricalEscalationDecision")
        now = timezone.now()
        kept = OldDecision.objects.create(
            trial_id=trial.pk, action="wait", rule="WAIT", reason="Waiting for 1 pending patient.", tally=[], dlts={}, inputs_digest="d1", proposed_at=now
        )
        row = {"trial_id": trial.pk, "action": "wait", "rule": "WAIT", "reason": kept.reason, "inputs_digest": "d1", "proposed_at": now}
        OldHistory.objects.create(id=kept.pk, history_date=now, history_type="+", **row)
        migrate(leaves())
    finally:
        migrate(leaves())  # whatever happened, the later tests get the current schema
    moved = EscalationDecision.objects.get(pk=kept.pk)
    assert (moved.trial, moved.action, moved.rule, moved.reason, moved.status) == (trial, "wait", "WAIT", "Waiting for 1 pending patient.", "proposed")
    assert list(moved.history.values_list("history_type", flat=True)) == ["+"]
    assert ContentType.objects.get(pk=content_type.pk).app_label == "escalation"  # the same row: permissions keep pointing at it
