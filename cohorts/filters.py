import django_filters

from .models import Patient
from .status import STATUS_LABELS, PatientStatus


class PatientFilter(django_filters.FilterSet):
    """Shared by the patient list page and the API."""

    site = django_filters.CharFilter(field_name="site__number", label="Site")
    status = django_filters.ChoiceFilter(choices=[(s.value, STATUS_LABELS[s]) for s in PatientStatus])
    level = django_filters.NumberFilter(field_name="enrolment__level__label", label="Dose level")
    trial = django_filters.CharFilter(field_name="trial__code", label="Trial")
    q = django_filters.CharFilter(method="search", label="Study id or initials")

    class Meta:
        model = Patient
        fields = ["trial", "site", "status", "level", "q"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(study_id__icontains=value) | queryset.filter(initials__iexact=value)
