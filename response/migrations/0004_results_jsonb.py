"""The stored courses' JSON as ordinary JSONFields again (PostgreSQL `jsonb`, with the server's default
compression), as every other JSON column: 0003's `json` columns compressed with lz4 were for a benchmark."""

from django.db import migrations, models

LARGE = ("baseline", "results")


def compression_settable(schema_editor) -> bool:
    """PostgreSQL 14 or later with lz4 (where 0003 set it): a column's compression can be set."""
    if schema_editor.connection.vendor != "postgresql":
        return False
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        found = cursor.fetchone()
    return bool(found and found[0])


def compression(method: str):
    def run(apps, schema_editor) -> None:
        if compression_settable(schema_editor):
            table = schema_editor.quote_name(apps.get_model("response", "ResponseResult")._meta.db_table)
            columns = ", ".join(f"ALTER COLUMN {schema_editor.quote_name(c)} SET COMPRESSION {method}" for c in LARGE)
            schema_editor.execute(f"ALTER TABLE {table} {columns}")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("response", "0003_stored_json_text"),
    ]

    operations = [
        migrations.RunPython(compression("default"), compression("lz4")),
        migrations.AlterField(
            model_name="responseresult",
            name="baseline",
            field=models.JSONField(default=dict),
        ),
        migrations.AlterField(
            model_name="responseresult",
            name="confirmed",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AlterField(
            model_name="responseresult",
            name="flags",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AlterField(
            model_name="responseresult",
            name="results",
            field=models.JSONField(default=dict, help_text="Per assessment, by column: date, id, category, reason, changes, confirmation"),
        ),
    ]
