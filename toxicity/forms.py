"""Toxicity forms: shape only; the services check everything against CTCAE and the protocol."""

from django import forms
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from cohorts.forms import DATE
from cohorts.models import Drug
from trialsite.forms import signature_password

from . import ctcae, dlt, selectors
from .models import RULE_CHOICES, SAE_CRITERIA, AdverseEvent, ConMed
from .services import AE_FIELDS, CONMED_FIELDS, COUNT_UNITS, HB_UNITS

ATTRIBUTION_CHOICES = [("", "---")] + [(a, a.capitalize()) for a in dlt.ATTRIBUTIONS]
SUPPORTIVE_LABELS = {
    dlt.Supportive.GCSF: "G-CSF",
    dlt.Supportive.ANTIEMETIC: "Maximal antiemetic therapy",
    dlt.Supportive.ANTIDIARRHEAL: "Maximal antidiarrheal therapy",
    dlt.Supportive.STEROIDS: "Steroids (for rash)",
}
GRADE_CHOICES = [(g, f"Grade {g}") for g in range(1, 6)]


SUGGESTIONS = 20  # terms offered under the term input: the API's search for what is typed, or the server's after an unknown term


class TermInput(forms.TextInput):
    """The CTCAE term as a search box: a text input with a <datalist> of suggestions. static/js/ae-form.js fills the
    list from the term search API (/api/v1/ctcae-terms/?q=) as one types; without the script the server fills it
    after a term it does not know (TermField), so choosing a suggestion and sending again works as well. A term
    already chosen shows as its name (the form keeps its MedDRA code)."""

    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "off", "spellcheck": "false", **(attrs or {})})
        self.terminology: ctcae.Terminology | None = None
        self.suggestions: list[ctcae.Term] = []

    def format_value(self, value):
        term = self.terminology.lookup(value) if self.terminology is not None and isinstance(value, str) else None
        return term.name if term is not None else super().format_value(value)

    def render(self, name, value, attrs=None, renderer=None):
        attrs = {**(attrs or {}), "list": f"{(attrs or {}).get('id') or name}-suggestions"}
        options = format_html_join("", '<option value="{}">{} · MedDRA {}</option>', ((t.name, t.soc, t.code) for t in self.suggestions))
        return format_html('{}<datalist id="{}">{}</datalist>', super().render(name, value, attrs, renderer), attrs["list"], options)


class TermField(forms.CharField):
    """A term of the trial's CTCAE version, typed as its name (any case) or MedDRA code; cleaned to the code.
    Anything else is refused with the closest terms named (and offered under the input)."""

    widget = TermInput

    def __init__(self, **kwargs):
        super().__init__(max_length=200, **kwargs)
        self.terminology: ctcae.Terminology | None = None

    def clean(self, value):
        text = super().clean(value)
        if self.terminology is None:
            raise ImproperlyConfigured("TermField needs its terminology (AdverseEventForm sets it).")
        term = self.terminology.lookup(text)
        if term is not None:
            return term.code
        close = self.terminology.search(text, limit=SUGGESTIONS)
        self.widget.suggestions = close
        version = self.terminology.version
        if not close:
            raise ValidationError(
                f'No CTCAE v{version} term matches "{text}": type a term\'s name or MedDRA code (any word of a term, its organ class or code finds it).'
            )
        names = "; ".join(t.name for t in close[:5]) + ("; ..." if len(close) > 5 else "")
        raise ValidationError(f'"{text}" is not a CTCAE v{version} term: choose one of the {len(close)} suggested ({names}).')


class AdverseEventForm(forms.Form):
    term = TermField(label="CTCAE term", help_text="Type a word of the term, its organ class or its MedDRA code, then choose the term.")
    verbatim = forms.CharField(
        label="Verbatim term", max_length=200, required=False, help_text='Required for a "<organ class> - Other, specify" term: what the event is.'
    )
    grade = forms.TypedChoiceField(coerce=int, choices=GRADE_CHOICES, widget=forms.RadioSelect)
    onset = forms.DateField(widget=DATE)
    resolved = forms.DateField(label="Resolved on", widget=DATE, required=False)
    serious = forms.BooleanField(label="Serious (SAE)", required=False)
    sae_criteria = forms.MultipleChoiceField(
        label="Seriousness criteria", choices=list(SAE_CRITERIA.items()), widget=forms.CheckboxSelectMultiple, required=False
    )
    progression = forms.BooleanField(label="Attributed to disease progression", required=False)
    action = forms.ChoiceField(label="Action taken with study treatment", choices=AdverseEvent.Action.choices, initial=AdverseEvent.Action.NONE)
    outcome = forms.ChoiceField(choices=AdverseEvent.Outcome.choices, initial=AdverseEvent.Outcome.NOT_RECOVERED)
    supportive = forms.MultipleChoiceField(
        label="Supportive care given",
        choices=list(SUPPORTIVE_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Flags on the event; record the drug itself as a concomitant medication linked to the event (the DLT rules read both).",
    )
    with_pain = forms.BooleanField(label="With pain (neuropathy)", required=False)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, trial, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.terminology = selectors.trial_terminology(trial)
        field = self.fields["term"]
        field.label = f"CTCAE v{self.terminology.version} term"
        field.terminology = field.widget.terminology = self.terminology
        field.widget.attrs.update({"data-term-search": reverse("api-ctcae-terms"), "data-version": self.terminology.version})
        self.chosen = self.chosen_term()
        if self.chosen is not None:
            field.widget.suggestions = [self.chosen]
        self.drugs = list(Drug.objects.filter(trial=trial).order_by("order"))
        for drug in self.drugs:
            self.fields[f"attr_{drug.code}"] = forms.ChoiceField(label=f"Related to {drug.name}", choices=ATTRIBUTION_CHOICES)
        if editing:
            self.fields["reason"] = forms.CharField(label="Reason for change", widget=forms.Textarea(attrs={"rows": 2}))

    def chosen_term(self) -> ctcae.Term | None:
        value = self["term"].value()
        return self.terminology.lookup(value) if isinstance(value, str) else None

    def grade_rows(self) -> list[tuple]:
        """(radio, its description, whether the chosen term has it): the page shows only the term's own grades
        (the script does the same as the term changes); the service refuses any other with its reason."""
        texts = self.chosen.grade_texts() if self.chosen else {}
        return [(radio, texts.get(int(radio.data["value"]), ""), self.chosen is None or int(radio.data["value"]) in texts) for radio in self["grade"]]

    def attribution_fields(self):
        return [self[f"attr_{d.code}"] for d in self.drugs]

    def main_fields(self):
        return [f for f in self if not f.name.startswith("attr_") and f.name != "reason"]

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        data["attribution"] = {d.code: data.pop(f"attr_{d.code}") for d in self.drugs}
        data.pop("reason", None)
        return data

    @staticmethod
    def initial_from(ae: AdverseEvent) -> dict:
        initial = {name: getattr(ae, name) for name in AE_FIELDS if name != "attribution"}  # attribution: one field per drug
        initial.update({f"attr_{code}": level for code, level in ae.attribution.items()})
        return initial


class RetractForm(forms.Form):
    reason = forms.CharField(label="Why was it entered in error?", widget=forms.Textarea(attrs={"rows": 2}))


COUNT_UNIT_CHOICES = [(u, "x10^9/L" if u == "10^9/L" else u) for u in COUNT_UNITS]


class LabForm(forms.Form):
    on = forms.DateField(label="Sample date", widget=DATE)
    anc = forms.DecimalField(label="ANC", required=False, min_value=0, max_digits=9, decimal_places=3)
    anc_unit = forms.ChoiceField(label="ANC unit", choices=COUNT_UNIT_CHOICES, initial="10^9/L")
    platelets = forms.DecimalField(label="Platelets", required=False, min_value=0, max_digits=9, decimal_places=2)
    platelets_unit = forms.ChoiceField(label="Platelets unit", choices=COUNT_UNIT_CHOICES, initial="10^9/L")
    hemoglobin = forms.DecimalField(label="Hemoglobin", required=False, min_value=0, max_digits=6, decimal_places=2)
    hemoglobin_unit = forms.ChoiceField(label="Hemoglobin unit", choices=[(u, u) for u in HB_UNITS], initial="g/dL")
    wbc = forms.DecimalField(label="WBC", required=False, min_value=0, max_digits=9, decimal_places=3)
    wbc_unit = forms.ChoiceField(label="WBC unit", choices=COUNT_UNIT_CHOICES, initial="10^9/L")
    temperature = forms.DecimalField(label="Temperature (C)", required=False, max_digits=4, decimal_places=1)
    reason_for_change = forms.CharField(label="Reason for change", required=False, help_text="Only when correcting values already recorded for that date.")

    def service_kwargs(self) -> dict:
        d = self.cleaned_data
        units = {name: d[f"{name}_unit"] for name in ("anc", "platelets", "hemoglobin", "wbc")}
        values = {name: d[name] for name in ("anc", "platelets", "hemoglobin", "wbc", "temperature")}
        return {"on": d["on"], "units": units, "reason_for_change": d.get("reason_for_change") or "", **values}


class AdjudicationForm(forms.Form):
    decision = forms.ChoiceField(choices=[("confirm", "Confirm as a DLT"), ("reject", "Reject: not a DLT")], widget=forms.RadioSelect)
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Required to reject, and to confirm unattributed values.")
    password = signature_password()


class MissedDltForm(forms.Form):
    rule = forms.ChoiceField(label="Protocol criterion", choices=[("", "---"), *RULE_CHOICES])
    onset = forms.DateField(widget=DATE)
    description = forms.CharField(label="The toxicity", widget=forms.Textarea(attrs={"rows": 2}))
    reason = forms.CharField(label="Why the rules missed it", widget=forms.Textarea(attrs={"rows": 2}))
    confirm_unsupported = forms.BooleanField(
        label="The data do not meet the criterion: record it anyway", required=False, help_text="Needed only when the evidence below does not meet it."
    )
    password = signature_password()


class AdverseEventChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: AdverseEvent) -> str:
        return f"{obj.term_name} grade {obj.grade}, {obj.onset.isoformat()} to {obj.resolved.isoformat() if obj.resolved else 'ongoing'}"


class ConMedForm(forms.Form):
    """The concomitant-medication CRF; the service checks the dates and the linked events."""

    drug = forms.CharField(max_length=200, help_text="Generic name, e.g. filgrastim")
    indication = forms.CharField(max_length=200)
    category = forms.ChoiceField(
        label="Supportive-care category",
        choices=ConMed.Category.choices,
        initial=ConMed.Category.OTHER,
        help_text="What the DLT rules read for the linked events: G-CSF (H2), maximal antiemetic or antidiarrheal therapy (N2), steroids (N6).",
    )
    dose = forms.DecimalField(required=False, min_value=0, max_digits=10, decimal_places=3)
    dose_unit = forms.CharField(label="Dose unit", max_length=20, required=False, help_text="e.g. mg, ug, mg/m2, IU")
    frequency = forms.CharField(max_length=40, required=False, help_text="e.g. once daily, as needed")
    route = forms.ChoiceField(choices=[("", "---"), *ConMed.Route.choices])
    start = forms.DateField(label="Start date", widget=DATE)
    stop = forms.DateField(label="Stop date", widget=DATE, required=False)
    ongoing = forms.BooleanField(required=False, help_text="Still taken: no stop date")
    adverse_events = AdverseEventChoice(
        label="Adverse events it treats",
        queryset=AdverseEvent.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Given within the event's dates, it is that event's supportive care for the DLT rules.",
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, patient, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["adverse_events"].queryset = AdverseEvent.objects.filter(patient=patient, in_error=False).order_by("onset", "pk")
        if editing:
            self.fields["reason"] = forms.CharField(label="Reason for change", widget=forms.Textarea(attrs={"rows": 2}))

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("reason", None)
        data["adverse_events"] = list(data.get("adverse_events") or [])
        return data

    @staticmethod
    def initial_from(conmed: ConMed) -> dict:
        initial = {name: getattr(conmed, name) for name in CONMED_FIELDS if name != "adverse_events"}
        initial["adverse_events"] = list(conmed.adverse_events.values_list("pk", flat=True))
        return initial


class VisitLabForm(LabForm):
    """The hematology panel of a visit: its date is the visit's."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["on"]
        for name in ("anc", "platelets", "hemoglobin", "wbc"):
            self.fields[f"{name}_unit"].required = False  # an empty panel needs no unit; a missing unit is the default one
            self.fields[f"{name}_unit"].widget.attrs["aria-label"] = self.fields[f"{name}_unit"].label  # it sits beside its value, unlabelled

    def service_kwargs(self) -> dict:
        d = self.cleaned_data
        units = {name: d.get(f"{name}_unit") or self.fields[f"{name}_unit"].initial for name in ("anc", "platelets", "hemoglobin", "wbc")}
        values = {name: d[name] for name in ("anc", "platelets", "hemoglobin", "wbc", "temperature")}
        return {"units": units, "reason_for_change": d.get("reason_for_change") or "", **values}

    def value_unit_pairs(self):
        """(value, its unit or None) per lab, so each unit select sits beside its own input."""
        return [
            (self[name], self[f"{name}_unit"] if f"{name}_unit" in self.fields else None) for name in ("anc", "platelets", "hemoglobin", "wbc", "temperature")
        ]
