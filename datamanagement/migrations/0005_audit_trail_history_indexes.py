"""Issue #16: the indexes the audit trail's keyset walk needs on the history tables it merges (datamanagement/audit.py).

Per history table of audit.RECORDS:
- (history_date, history_id): the trial-wide page walks it newest first and stops at the page (ORDER BY
  history_date DESC, history_id DESC LIMIT n), instead of gathering and sorting every row of the trial;
- (id, history_id): the previous version of a row, read per row shown, is one index probe (without it, PostgreSQL
  walked the primary key back from the row, past every later version of every object, when the object had none).

The history models are django-simple-history's, generated in their own apps; these indexes are added here, beside the
page that needs them, through the schema editor (the same SQL on SQLite and PostgreSQL), not declared in those models.
"""

from django.db import migrations, models

HISTORY = [
    ("cohorts", "HistoricalPatient"),
    ("cohorts", "HistoricalEnrolment"),
    ("cohorts", "HistoricalCohort"),
    ("dosing", "HistoricalCycle"),
    ("dosing", "HistoricalPlannedDose"),
    ("dosing", "HistoricalAdministration"),
    ("dosing", "HistoricalDoseModification"),
    ("dosing", "HistoricalVisit"),
    ("dosing", "HistoricalOffTreatment"),
    ("toxicity", "HistoricalAdverseEvent"),
    ("toxicity", "HistoricalLabResult"),
    ("toxicity", "HistoricalConMed"),
    ("toxicity", "HistoricalDltProposal"),
    ("toxicity", "HistoricalDlt"),
    ("response", "HistoricalMyelomaAssessment"),
    ("response", "HistoricalFollowUp"),
    ("escalation", "HistoricalEscalationDecision"),
]


def _indexes(model) -> list[models.Index]:
    table = model._meta.db_table
    return [
        models.Index(fields=["history_date", "history_id"], name=f"{table}_audit_date"),
        models.Index(fields=["id", "history_id"], name=f"{table}_audit_prev"),
    ]


def add(apps, schema_editor):
    for app_label, name in HISTORY:
        model = apps.get_model(app_label, name)
        for index in _indexes(model):
            schema_editor.add_index(model, index)


def remove(apps, schema_editor):
    """Drop the indexes that are there: on SQLite, reversing a later migration that alters a history table's field
    rebuilds the table without them (see 0007)."""
    introspection = schema_editor.connection.introspection
    for app_label, name in HISTORY:
        model = apps.get_model(app_label, name)
        with schema_editor.connection.cursor() as cursor:
            existing = introspection.get_constraints(cursor, model._meta.db_table)
        for index in _indexes(model):
            if index.name in existing:
                schema_editor.remove_index(model, index)


class Migration(migrations.Migration):
    dependencies = [
        ("datamanagement", "0004_history_reason_text"),
        ("cohorts", "0007_trial_design_params"),
        ("dosing", "0005_history_reason_text"),
        ("toxicity", "0008_history_reason_text"),
        ("escalation", "0002_history_reason_text"),
        ("response", "0007_history_reason_text"),
    ]

    operations = [migrations.RunPython(add, remove)]
