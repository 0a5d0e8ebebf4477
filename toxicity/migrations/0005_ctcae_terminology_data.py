"""Load CTCAE v5.0 into the terminology table, and move adverse events from the 27 slugs of the old
hard-coded list to the MedDRA codes of their terms (looked up by term name in the v5.0 file).

History rows are moved too, so an event's history reads in one vocabulary (the change is a change of
representation, not of the clinical record: no new history row is written).
"""

from django.db import migrations

OLD_SLUGS = {
    "neutrophil_count_decreased": "Neutrophil count decreased",
    "febrile_neutropenia": "Febrile neutropenia",
    "platelet_count_decreased": "Platelet count decreased",
    "anemia": "Anemia",
    "white_blood_cell_decreased": "White blood cell decreased",
    "nausea": "Nausea",
    "vomiting": "Vomiting",
    "diarrhea": "Diarrhea",
    "constipation": "Constipation",
    "fatigue": "Fatigue",
    "peripheral_sensory_neuropathy": "Peripheral sensory neuropathy",
    "rash_maculopapular": "Rash maculo-papular",
    "erythema_multiforme": "Erythema multiforme",
    "stevens_johnson_syndrome": "Stevens-Johnson syndrome",
    "thromboembolic_event": "Thromboembolic event",
    "epistaxis": "Epistaxis",
    "upper_gastrointestinal_hemorrhage": "Upper gastrointestinal hemorrhage",
    "hematuria": "Hematuria",
    "intracranial_hemorrhage": "Intracranial hemorrhage",
    "bruising": "Bruising",
    "hyperglycemia": "Hyperglycemia",
    "lung_infection": "Lung infection",
    "upper_respiratory_infection": "Upper respiratory infection",
    "urinary_tract_infection": "Urinary tract infection",
    "sepsis": "Sepsis",
    "insomnia": "Insomnia",
    "edema_limbs": "Edema limbs",
}


def _codes_by_name(terms):
    by_name = {t.name: t.code for t in terms}
    return {slug: by_name[name] for slug, name in OLD_SLUGS.items()}


def forwards(apps, schema_editor):
    from toxicity.ctcae import read_version
    from toxicity.services.terminology import upsert_terms

    terms = read_version("5.0")
    upsert_terms(apps.get_model("toxicity", "CtcaeTerm"), "5.0", terms)
    codes = _codes_by_name(terms)
    for name in ("AdverseEvent", "HistoricalAdverseEvent"):
        model = apps.get_model("toxicity", name)
        for slug, code in codes.items():
            model.objects.filter(term=slug).update(term=code, ctcae_version="5.0")


def backwards(apps, schema_editor):
    from toxicity.ctcae import read_version

    slugs = {code: slug for slug, code in _codes_by_name(read_version("5.0")).items()}
    for name in ("AdverseEvent", "HistoricalAdverseEvent"):
        model = apps.get_model("toxicity", name)
        for code, slug in slugs.items():
            model.objects.filter(term=code).update(term=slug)
    apps.get_model("toxicity", "CtcaeTerm").objects.filter(version="5.0").delete()


class Migration(migrations.Migration):
    dependencies = [("toxicity", "0004_ctcae_terminology")]

    operations = [migrations.RunPython(forwards, backwards)]
