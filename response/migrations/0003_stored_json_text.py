"""The stored courses' JSON as text (StoredJSONField: PostgreSQL `json`, not `jsonb`), and the
two large ones compressed with lz4 where the server has it: a whole-trial recompute writes 5,000 of them, and
parsing them into `jsonb` and compressing them with the default pglz was most of the time of that write.
(Undone by 0004_results_jsonb: the columns are ordinary JSONFields again.)"""

from django.db import migrations, models


class StoredJSONField(models.JSONField):
    """The field as this migration made it (response.models had it until 0004): `json` on PostgreSQL."""

    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

LARGE = ("baseline", "results")


def lz4_available(schema_editor) -> bool:
    if schema_editor.connection.vendor != "postgresql":
        return False
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        found = cursor.fetchone()
    return bool(found and found[0])


def compression(method: str):
    def run(apps, schema_editor) -> None:
        if lz4_available(schema_editor):
            table = schema_editor.quote_name(apps.get_model("response", "ResponseResult")._meta.db_table)
            columns = ", ".join(f"ALTER COLUMN {schema_editor.quote_name(c)} SET COMPRESSION {method}" for c in LARGE)
            schema_editor.execute(f"ALTER TABLE {table} {columns}")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("response", "0002_results_by_column"),
    ]

    operations = [
        migrations.AlterField(
            model_name="responseresult",
            name="baseline",
            field=StoredJSONField(default=dict),
        ),
        migrations.AlterField(
            model_name="responseresult",
            name="confirmed",
            field=StoredJSONField(blank=True, default=list),
        ),
        migrations.AlterField(
            model_name="responseresult",
            name="flags",
            field=StoredJSONField(blank=True, default=list),
        ),
        migrations.AlterField(
            model_name="responseresult",
            name="results",
            field=StoredJSONField(default=dict, help_text="Per assessment, by column: date, id, category, reason, changes, confirmation"),
        ),
        migrations.RunPython(compression("lz4"), compression("default")),
    ]
