"""The investigators' electronic signature forms (password re-entered)."""

from django import forms

from trialsite.forms import signature_password

from .selectors import MAX_TRIALS


class SignForm(forms.Form):
    password = signature_password(required=True)


class RejectDecisionForm(forms.Form):
    reason = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 2}))
    password = signature_password(required=True)


class ScenarioForm(forms.Form):
    """A scenario of the design page (issue 18): the true DLT rate per dose level and how to compute the
    operating characteristics. Shape only; the design's own refusals come back from escalation.selectors.design_oc."""

    method = forms.ChoiceField(label="Method", choices=[("exact", "Exact (enumeration)"), ("mc", "Monte Carlo")], initial="exact")
    trials = forms.IntegerField(
        label="Simulated trials", min_value=2, max_value=MAX_TRIALS, required=False, initial=1000, help_text=f"Monte Carlo: 2 to {MAX_TRIALS:,}"
    )
    seed = forms.IntegerField(
        label="Seed", min_value=0, max_value=2**31 - 1, required=False, initial=1, help_text="Monte Carlo: the same seed gives the same answer"
    )
    arrivals = forms.FloatField(
        label="Arrivals per assessment window",
        min_value=0.1,
        max_value=100,
        required=False,
        initial=2.0,
        help_text="TITE-BOIN: patients arriving per DLT window (Poisson)",
    )

    def __init__(self, *args, labels: tuple[str, ...], scenario: tuple[float, ...], tite: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.labels, self.tite = labels, tite
        for i, (label, rate) in enumerate(zip(labels, scenario, strict=True)):
            self.fields[f"tox_{i}"] = forms.FloatField(label=f"Level {label}", min_value=0, max_value=1, initial=rate, help_text="true DLT rate, 0 to 1")
        if tite:
            self.fields["method"].initial = "mc"
        else:
            del self.fields["arrivals"]
        self.order_fields([f"tox_{i}" for i in range(len(labels))])

    def rate_fields(self) -> list[forms.BoundField]:
        return [self[f"tox_{i}"] for i in range(len(self.labels))]

    def clean(self):
        data = super().clean()
        if data.get("method") == "exact" and self.tite:
            self.add_error("method", "TITE-BOIN is simulated by Monte Carlo only.")
        if data.get("method") == "mc" and data.get("trials") is None and "trials" not in self.errors:
            self.add_error("trials", "Give the number of trials to simulate.")
        return data

    def true_tox(self) -> tuple[float, ...]:
        return tuple(float(self.cleaned_data[f"tox_{i}"]) for i in range(len(self.labels)))
