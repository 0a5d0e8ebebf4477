from django import forms

from accounts.models import Site
from cohorts.models import DoseLevel, Trial

from .exports import Filters


class ExportFilterForm(forms.Form):
    """Filters shared by every export: site, dose level, date range (on each domain's main date)."""

    site = forms.ChoiceField(required=False)
    level = forms.TypedChoiceField(label="Dose level", required=False, coerce=int, empty_value=None)
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, trial: Trial, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [("", "All sites"), *((s.number, str(s)) for s in Site.objects.order_by("number"))]
        levels = DoseLevel.objects.filter(trial=trial).order_by("order").values_list("label", flat=True)
        self.fields["level"].choices = [("", "All levels"), *((str(label), f"Level {label}") for label in levels)]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end of the range is before its start.")
        return data

    def filters(self) -> Filters:
        d = self.cleaned_data
        return Filters(site=d.get("site") or None, level=d.get("level"), date_from=d.get("date_from"), date_to=d.get("date_to"))


class ZipForm(forms.Form):
    cdisc = forms.BooleanField(label="Include CDISC-style datasets (DM, EX, AE, CM, LB, RS)", required=False)
