"""Response forms: shape only; the services convert units and check the values."""

from django import forms

from cohorts.forms import DATE

from .models import SPURIOUS_PARAMETERS, MyelomaAssessment
from .services import FLAGS, UNITS

TRI = forms.NullBooleanSelect


def _tri(label: str, yes: str = "Positive", no: str = "Negative") -> forms.Field:
    return forms.NullBooleanField(label=label, required=False, widget=forms.Select(choices=[("unknown", "Not done"), ("true", yes), ("false", no)]))


def _unit(name: str) -> forms.ChoiceField:
    return forms.ChoiceField(label="unit", choices=[(u, u) for u in UNITS[name]], initial=next(iter(UNITS[name])))


class AssessmentForm(forms.Form):
    on = forms.DateField(label="Date", widget=DATE)
    spep = forms.DecimalField(label="Serum M-protein (SPEP)", required=False, max_digits=9, decimal_places=3)
    spep_unit = _unit("spep")
    serum_ife = _tri("Serum immunofixation")
    serum_isotype = forms.ChoiceField(label="Isotype", required=False, choices=[("", "---"), *MyelomaAssessment.Isotype.choices])
    upep = forms.DecimalField(label="24-h urine M-protein", required=False, max_digits=10, decimal_places=3)
    upep_unit = _unit("upep")
    urine_ife = _tri("Urine immunofixation")
    kappa = forms.DecimalField(label="Kappa FLC", required=False, max_digits=10, decimal_places=3)
    kappa_unit = _unit("kappa")
    lambda_flc = forms.DecimalField(label="Lambda FLC", required=False, max_digits=10, decimal_places=3)
    lambda_flc_unit = _unit("lambda_flc")
    marrow_pc = forms.DecimalField(label="Marrow plasma cells (%)", required=False, max_digits=6, decimal_places=2)
    marrow_clonal = _tri("Clonal plasma cells in marrow", "Clonal", "Not clonal")
    plasmacytoma = _tri("Soft-tissue plasmacytoma", "Present", "Absent")
    plasmacytoma_size = forms.DecimalField(label="Plasmacytoma size (cm2)", required=False, max_digits=6, decimal_places=2)
    new_lesions = _tri("New bone lesions", "Yes", "No")
    reason_for_change = forms.CharField(
        label="Reason for change", required=False, help_text="Only when correcting an assessment already recorded for that date."
    )

    def service_kwargs(self) -> dict:
        d = self.cleaned_data
        values = {k: d[k] for k in (*UNITS, *FLAGS, "serum_isotype")}
        units = {k: d[f"{k}_unit"] for k in UNITS if f"{k}_unit" in d}
        return {"on": d["on"], "values": values, "units": units, "reason_for_change": d.get("reason_for_change") or ""}


class SpuriousForm(forms.Form):
    assessment = forms.IntegerField(widget=forms.HiddenInput)
    parameter = forms.ChoiceField(choices=list(SPURIOUS_PARAMETERS.items()))
    reason = forms.CharField()


class FollowUpForm(forms.Form):
    death_on = forms.DateField(label="Date of death", required=False, widget=DATE)
    death_cause = forms.CharField(label="Cause of death", required=False)
    next_therapy_on = forms.DateField(label="Next therapy started", required=False, widget=DATE)
    next_therapy_regimen = forms.CharField(label="Next therapy regimen", required=False)
    last_contact_on = forms.DateField(label="Last contact", required=False, widget=DATE)
    reason = forms.CharField(label="Reason for change", required=False, help_text="Only when correcting what is recorded.")
