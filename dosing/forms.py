"""Treatment forms: shape only; the services check against the protocol."""

from datetime import date, timedelta

from django import forms

from accounts.models import User
from accounts.roles import Role
from cohorts.forms import DATE
from cohorts.models import DoseLevel, Drug
from cohorts.status import OFF_TREATMENT_REASONS

from .models import Administration, DoseModification


class CycleStartForm(forms.Form):
    day1 = forms.DateField(label="Day 1", widget=DATE)
    weight_kg = forms.DecimalField(
        label="Weight on day 1 (kg)", max_digits=7, decimal_places=2, min_value=0, help_text="Weighed that day: the bendamustine dose is computed from it."
    )
    delay_reason = forms.CharField(label="Reason for delay", required=False, help_text="Required when day 1 is later than planned.")


class ModificationForm(forms.Form):
    kind = forms.ChoiceField(choices=DoseModification.Kind.choices)
    drug = forms.ModelChoiceField(queryset=Drug.objects.none(), required=False, help_text="Empty: every drug (hold/resume)")
    to_level = forms.ModelChoiceField(queryset=DoseLevel.objects.none(), required=False, label="To level")
    dose_mg = forms.DecimalField(label="Reduced dose (mg)", required=False, max_digits=8, decimal_places=2, min_value=0)
    effective_on = forms.DateField(label="From", widget=DATE)
    decided_by = forms.ModelChoiceField(queryset=User.objects.none(), label="Decided by (investigator)")
    adverse_event = forms.ModelChoiceField(
        queryset=DoseModification.adverse_event.field.related_model.objects.none(),
        required=False,
        label="For the adverse event",
        help_text="The toxicity that required it (rules H5/N7 read it)",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, trial, patient=None, **kwargs):
        super().__init__(*args, **kwargs)
        if patient is not None:
            self.fields["adverse_event"].queryset = patient.adverse_events.filter(in_error=False).order_by("-onset")  # toxicity is above dosing: no import
        self.fields["drug"].queryset = Drug.objects.filter(trial=trial).order_by("order")
        self.fields["to_level"].queryset = DoseLevel.objects.filter(trial=trial).order_by("order")
        self.fields["decided_by"].queryset = User.objects.filter(role__in=[Role.INVESTIGATOR], is_active=True).order_by("last_name")


class OffTreatmentForm(forms.Form):
    reason_code = forms.ChoiceField(label="Reason", choices=[("", "---"), *OFF_TREATMENT_REASONS.items()])
    decided_on = forms.DateField(label="Date of decision", widget=DATE)
    last_dose_on = forms.DateField(label="Date of last dose", widget=DATE, required=False, help_text="Empty: the last dose recorded.")
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    confirm = forms.BooleanField(
        label="I confirm: treatment stops; the treatment visits after the decision are cancelled and follow-up begins.",
        error_messages={"required": "Confirm that the patient goes off treatment."},
    )

    def clean(self):
        data = super().clean()
        data.pop("confirm", None)  # the service takes the decision, not the confirmation
        return data


class DiaryForm(forms.Form):
    """A daily oral drug for one cycle: "taken as planned" for every day, with each exception marked (status and reason)."""

    def __init__(self, *args, days: list[int], day1: date, initial_rows: dict[int, dict], planned: dict[int, object] | None = None, today=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.days, self.day1, self.planned, self.today = days, day1, planned or {}, today
        self.recorded_days = set(initial_rows)
        choices = [("", "—"), *Administration.Status.choices]
        for day in days:
            row = initial_rows.get(day, {})
            # The table shows one row a day without a label per input: each input names its day for assistive technology.
            named = {"status": f"Day {day} status", "dose": f"Day {day} dose (mg)", "reason": f"Day {day} reason"}
            self.fields[f"status_{day}"] = forms.ChoiceField(
                choices=choices, required=False, initial=row.get("status", ""), label=f"Day {day}", widget=forms.Select(attrs={"aria-label": named["status"]})
            )
            self.fields[f"dose_{day}"] = forms.DecimalField(
                required=False, max_digits=8, decimal_places=2, min_value=0, initial=row.get("dose_mg"),
                widget=forms.NumberInput(attrs={"aria-label": named["dose"]}),
            )  # fmt: skip
            self.fields[f"reason_{day}"] = forms.CharField(
                required=False, initial=row.get("reason", ""), widget=forms.TextInput(attrs={"aria-label": named["reason"]})
            )
        self.fields["rest_as_planned"] = forms.BooleanField(
            required=False,
            initial=True,
            label="Every day not marked otherwise, up to today, was taken as planned",
            help_text="Mark only the exceptions (missed, held, another dose) with their reason.",
        )
        self.fields["reason_for_change"] = forms.CharField(required=False, label="Reason for change", help_text="Only when correcting recorded days.")

    def rows(self):
        return [
            (day, self.day1 + timedelta(days=day - 1), self.planned.get(day), self[f"status_{day}"], self[f"dose_{day}"], self[f"reason_{day}"])
            for day in self.days
        ]

    def _as_planned(self, day: int) -> bool:
        """A blank day counts as taken as planned when the box is ticked, the day is past or today and nothing is recorded yet."""
        on = self.day1 + timedelta(days=day - 1)
        return bool(self.cleaned_data.get("rest_as_planned")) and day not in self.recorded_days and (self.today is None or on <= self.today)

    def entries(self, recorded: dict[int, dict]) -> dict[int, dict]:
        """Days whose entry is new or changed."""
        out = {}
        for day in self.days:
            status = self.cleaned_data.get(f"status_{day}")
            if not status:
                if not self._as_planned(day):
                    continue
                status = Administration.Status.GIVEN
            entry = {"status": status, "dose_mg": self.cleaned_data.get(f"dose_{day}"), "reason": self.cleaned_data.get(f"reason_{day}") or ""}
            if status == Administration.Status.GIVEN:
                entry["dose_mg"] = None
            old = recorded.get(day)
            if old is not None:
                if (old["status"], old["reason"]) == (status, entry["reason"]) and (status == "given" or old["dose_mg"] == entry["dose_mg"]):
                    continue
                entry["reason_for_change"] = self.cleaned_data.get("reason_for_change") or ""
            out[day] = entry
        return out


class VisitForm(forms.Form):
    """The visit itself: its actual date (default: the planned date), weight and vital signs."""

    done_on = forms.DateField(label="Visit date", widget=DATE, help_text="The day the patient was seen (default: the planned date).")
    confirm_out_of_window = forms.BooleanField(label="The visit took place outside its window: record it as a protocol deviation", required=False)
    weight_kg = forms.DecimalField(label="Weight (kg)", required=False, max_digits=5, decimal_places=1, min_value=0)
    pulse_bpm = forms.IntegerField(label="Pulse (/min)", required=False, min_value=0)
    systolic_mmhg = forms.IntegerField(label="Systolic BP (mmHg)", required=False, min_value=0)
    diastolic_mmhg = forms.IntegerField(label="Diastolic BP (mmHg)", required=False, min_value=0)
    note = forms.CharField(label="Note / reason for the deviation", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    reason_for_change = forms.CharField(label="Reason for change", required=False, help_text="Only when correcting a visit already recorded.")

    def vitals(self) -> dict:
        return {k: self.cleaned_data.get(k) for k in ("weight_kg", "pulse_bpm", "systolic_mmhg", "diastolic_mmhg")}


class VisitMissedForm(forms.Form):
    """The visit did not take place (`missed_reason`), or, recorded so in error, is expected again (`reason_for_change`)."""

    missed_reason = forms.CharField(label="Why the visit did not take place", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    reason_for_change = forms.CharField(label="Reason the visit is expected again", required=False)


class VisitDoseForm(forms.Form):
    """One drug scheduled on the visit's day, prefilled with the plan: only an exception needs typing."""

    status = forms.ChoiceField(choices=[("", "not recorded"), *Administration.Status.choices], initial=Administration.Status.GIVEN, required=False)
    dose_mg = forms.DecimalField(label="Dose given (mg)", required=False, max_digits=8, decimal_places=2, min_value=0, help_text="Only for another dose.")
    reason = forms.CharField(required=False, help_text="Required unless given as planned.")
    reason_for_change = forms.CharField(required=False, label="Reason for change", help_text="Only when correcting a recorded dose.")

    def __init__(self, *args, drug_name: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        # The visit shows one row a drug without a label per input: each input names its drug for assistive technology.
        for name, field in self.fields.items():
            field.widget.attrs["aria-label"] = f"{drug_name} {field.label or name.replace('_', ' ')}".strip()


class CellDoseForm(forms.Form):
    """One cell of the cycle grid: the drug, cycle and day come from the cell, never typed."""

    status = forms.ChoiceField(choices=Administration.Status.choices, initial=Administration.Status.GIVEN)
    dose_mg = forms.DecimalField(
        label="Dose given (mg)", required=False, max_digits=8, decimal_places=2, min_value=0, help_text="Only for another dose, or a deviation."
    )
    reason = forms.CharField(required=False, help_text="Required for held, missed, another dose, or a deviation.")
    reason_for_change = forms.CharField(required=False, label="Reason for change", help_text="Required when correcting a recorded dose.")
