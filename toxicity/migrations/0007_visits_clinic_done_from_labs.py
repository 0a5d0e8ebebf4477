"""Issue #16: a visit counts as done once its data is recorded. Treatment visits whose window holds
a recorded lab panel (labs entered before lab_record marked the visit) are done on the panel's date."""

from datetime import timedelta

from django.db import migrations


def forwards(apps, schema_editor):
    Visit = apps.get_model("dosing", "Visit")
    LabResult = apps.get_model("toxicity", "LabResult")
    labs: dict[int, list] = {}
    for patient_id, on in LabResult.objects.values_list("patient_id", "on"):
        labs.setdefault(patient_id, []).append(on)
    for visit in Visit.objects.filter(kind="treatment", done_on__isnull=True, cancelled=False, patient_id__in=list(labs)):
        window = timedelta(days=visit.window_days)
        inside = [on for on in labs[visit.patient_id] if visit.expected_on - window <= on <= visit.expected_on + window]
        if inside:
            visit.done_on = min(inside, key=lambda on: abs((on - visit.expected_on).days))
            visit.save(update_fields=["done_on"])


class Migration(migrations.Migration):
    dependencies = [
        ("toxicity", "0006_conmed"),
        ("dosing", "0004_visit_clinic_record"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
