"""The audit trail's history indexes (datamanagement 0005, and 0007 where a later migration lost them) exist after
the migrations, on SQLite as on PostgreSQL: without them the trail-wide page sorts every history row of the trial."""

from importlib import import_module

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db

audit_indexes = import_module("datamanagement.migrations.0005_audit_trail_history_indexes")


@pytest.mark.parametrize(("app_label", "name"), audit_indexes.HISTORY)
def test_every_history_table_of_the_trail_has_its_walk_and_previous_version_indexes(app_label, name):
    model = apps.get_model(app_label, name)
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    for index in audit_indexes._indexes(model):
        assert index.name in constraints, f"{model._meta.db_table} lacks {index.name}"
        assert constraints[index.name]["columns"] == list(index.fields)
