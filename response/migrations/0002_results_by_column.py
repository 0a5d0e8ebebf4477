"""Stored courses keep their per-assessment results by column (response.models.RESULT_COLUMNS) instead of one
object per assessment; and the recompute's read of each patient's latest assessment change (the time of its
inputs) gets an index on the assessment history."""

from django.db import migrations, models

COLUMNS = ("on", "id", "category", "reason", "change_pct", "confirmed", "confirmed_from", "after_next_therapy")
PARAMETERS = ("spep", "upep", "dflc")


def by_column(rows: list[dict]) -> dict:
    out = {name: [r[name] for r in rows] for name in COLUMNS if name != "change_pct"}
    out["change_pct"] = {k: [r["change_pct"].get(k) for r in rows] for k in PARAMETERS if any(k in r["change_pct"] for r in rows)}
    return out


def by_row(columns: dict) -> list[dict]:
    changes = columns.get("change_pct", {})
    return [
        {name: {k: v[i] for k, v in changes.items() if v[i] is not None} if name == "change_pct" else columns[name][i] for name in COLUMNS}
        for i in range(len(columns.get("on", ())))
    ]


def convert(apps, forward: bool) -> None:
    ResponseResult = apps.get_model("response", "ResponseResult")
    changed = []
    for result in ResponseResult.objects.only("pk", "results").iterator(chunk_size=500):
        if forward and isinstance(result.results, list):
            result.results = by_column(result.results)
        elif not forward and isinstance(result.results, dict):
            result.results = by_row(result.results)
        else:
            continue
        changed.append(result)
        if len(changed) == 500:
            ResponseResult.objects.bulk_update(changed, ["results"])
            changed = []
    ResponseResult.objects.bulk_update(changed, ["results"])


class Migration(migrations.Migration):
    dependencies = [
        ("response", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="responseresult",
            name="results",
            field=models.JSONField(default=dict, help_text="Per assessment, by column: date, id, category, reason, changes, confirmation"),
        ),
        migrations.RunPython(lambda apps, schema: convert(apps, True), lambda apps, schema: convert(apps, False)),
        # Not in the model state: django-simple-history builds the historical model and its Meta.
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS response_hist_assessment_latest ON response_historicalmyelomaassessment (patient_id, history_date)",
            "DROP INDEX IF EXISTS response_hist_assessment_latest",
        ),
    ]
