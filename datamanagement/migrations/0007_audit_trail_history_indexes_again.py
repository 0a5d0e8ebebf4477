"""Issue #16/#17: the audit trail's history indexes of 0005 again wherever a later migration lost them.

On SQLite, altering a field of a history table (the *_history_date_no_index migrations of issue #17) rebuilds the
table with the indexes its model state declares, and 0005's indexes are not declared there: the table came back
without them, and the trail-wide page sorted every history row of the trial again (SQLite, 5,000 patients: 601 ms
against 195 ms at 50). This adds whichever of 0005's indexes a table lacks; on PostgreSQL, where ALTER keeps them,
it adds nothing. tests/integration/test_audit_indexes.py checks that every one exists after the migrations.
"""

from importlib import import_module

from django.db import migrations

audit_indexes = import_module("datamanagement.migrations.0005_audit_trail_history_indexes")


def add_missing(apps, schema_editor):
    introspection = schema_editor.connection.introspection
    for app_label, name in audit_indexes.HISTORY:
        model = apps.get_model(app_label, name)
        with schema_editor.connection.cursor() as cursor:
            existing = introspection.get_constraints(cursor, model._meta.db_table)
        for index in audit_indexes._indexes(model):
            if index.name not in existing:
                schema_editor.add_index(model, index)


class Migration(migrations.Migration):
    dependencies = [
        ("datamanagement", "0006_history_date_no_index"),
        ("cohorts", "0008_history_date_no_index"),
        ("dosing", "0006_history_date_no_index"),
        ("escalation", "0005_history_date_no_index"),
        ("response", "0008_history_date_no_index"),
        ("toxicity", "0009_history_date_no_index"),
    ]

    operations = [migrations.RunPython(add_missing, migrations.RunPython.noop)]
