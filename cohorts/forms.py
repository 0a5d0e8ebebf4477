"""Forms check shape; clinical plausibility lives in cohorts/registration.py."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from accounts.models import Site
from trialsite.forms import IsoDateInput

from .models import Patient, Trial
from .registration import check_registration
from .services import EDITABLE_FIELDS
from .status import REASONS, STATUS_LABELS, PatientStatus, allowed_targets

# The registration values a person types (eligibility is a checklist of its own).
VALUE_FIELDS = tuple(name for name in EDITABLE_FIELDS if name != "eligibility")

# Dates are typed as YYYY-MM-DD, as every table shows them (the project's date widget; issue #16).
DATE = IsoDateInput()


class PatientFieldsForm(forms.Form):
    initials = forms.CharField(max_length=4, help_text="2-4 letters")
    date_of_birth = forms.DateField(widget=DATE)
    sex = forms.ChoiceField(choices=Patient.Sex.choices)
    height_cm = forms.DecimalField(label="Height (cm)", max_digits=7, decimal_places=2, min_value=0)
    weight_kg = forms.DecimalField(label="Weight (kg)", max_digits=7, decimal_places=2, min_value=0)
    consent_date = forms.DateField(required=False, widget=DATE, help_text="Leave empty until the patient has signed.")
    baseline_anc = forms.DecimalField(label="Baseline ANC (x10^9/L)", max_digits=8, decimal_places=2)
    baseline_platelets = forms.DecimalField(label="Baseline platelets (x10^9/L)", max_digits=8, decimal_places=1)
    baseline_marrow_pc_pct = forms.DecimalField(label="Baseline marrow plasma cells (%)", max_digits=5, decimal_places=1)

    def __init__(self, *args, trial: Trial, **kwargs):
        super().__init__(*args, **kwargs)
        self.trial = trial
        for criterion in trial.eligibility_criteria:
            self.fields[f"elig_{criterion['code']}"] = forms.BooleanField(required=False, label=f"{criterion['code']}: {criterion['text']}")

    @property
    def eligibility_fields(self):
        return [self[name] for name in self.fields if name.startswith("elig_")]

    @property
    def patient_fields(self):
        return [self[name] for name in self.fields if not name.startswith("elig_") and name not in ("site", "reason")]

    def eligibility(self) -> dict[str, bool]:
        return {c["code"]: bool(self.cleaned_data.get(f"elig_{c['code']}")) for c in self.trial.eligibility_criteria}

    def clean_initials(self) -> str:
        return self.cleaned_data["initials"].strip().upper()  # the rule itself: cohorts.registration.initials_error

    def clean(self):
        data = super().clean()
        for name, messages in check_registration(data, today=timezone.localdate()).items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
        return data

    def values(self) -> dict:
        return {name: self.cleaned_data[name] for name in VALUE_FIELDS} | {"eligibility": self.eligibility()}


class PatientRegisterForm(PatientFieldsForm):
    site = forms.ModelChoiceField(queryset=Site.objects.none())

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        if request_site := (sites[0] if len(sites) == 1 else None):
            self.fields["site"].initial = request_site.pk
        self.order_fields(["site"])


class PatientEditForm(PatientFieldsForm):
    reason = forms.CharField(
        label="Reason for change",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required: it is kept in the audit trail with the old and new values.",
    )

    @classmethod
    def initial_for(cls, patient: Patient) -> dict:
        initial = {name: getattr(patient, name) for name in VALUE_FIELDS}
        for code, met in patient.eligibility.items():
            initial[f"elig_{code}"] = met
        return initial


class EnrolForm(forms.Form):
    enrolled_on = forms.DateField(label="Enrolment date", widget=DATE)


class StatusForm(forms.Form):
    to_status = forms.ChoiceField(label="New status")
    reason_code = forms.ChoiceField(label="Reason", required=False)
    on_date = forms.DateField(label="Date", widget=DATE)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, patient: Patient, **kwargs):
        super().__init__(*args, **kwargs)
        targets = allowed_targets(patient.status)
        self.fields["to_status"].choices = [(s.value, STATUS_LABELS[s]) for s in targets]
        reasons = [("", "---")]
        for status in targets:
            for code, label in REASONS.get(status, {}).items():
                reasons.append((code, f"{STATUS_LABELS[status]}: {label}"))
        self.fields["reason_code"].choices = reasons

    def clean(self):
        data = super().clean()
        target = data.get("to_status")
        reason = data.get("reason_code")
        if target and PatientStatus(target) in REASONS:
            if reason not in REASONS[PatientStatus(target)]:
                self.add_error("reason_code", f"Choose a reason for {STATUS_LABELS[PatientStatus(target)].lower()}.")
        elif reason:
            self.add_error("reason_code", "No reason is recorded for this status.")
        return data
