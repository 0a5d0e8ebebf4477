from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import Cohort, DoseLevel, Drug, DrugSchedule, Enrolment, LevelDose, Patient, Trial


class ReadOnlyClinicalAdmin(SimpleHistoryAdmin):
    """Clinical data is written through services (with reasons), never edited in the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LevelDoseInline(admin.TabularInline):
    model = LevelDose
    extra = 0


@admin.register(Trial)
class TrialAdmin(ReadOnlyClinicalAdmin):
    list_display = ("code", "nct_id", "phase", "protocol_version")


@admin.register(Drug)
class DrugAdmin(ReadOnlyClinicalAdmin):
    list_display = ("trial", "name", "route")


@admin.register(DoseLevel)
class DoseLevelAdmin(ReadOnlyClinicalAdmin):
    list_display = ("trial", "label", "order")
    inlines = [LevelDoseInline]


@admin.register(DrugSchedule)
class DrugScheduleAdmin(ReadOnlyClinicalAdmin):
    list_display = ("drug", "route", "days", "first_cycle", "last_cycle")


@admin.register(Cohort)
class CohortAdmin(ReadOnlyClinicalAdmin):
    list_display = ("trial", "number", "level", "phase", "capacity", "status")


@admin.register(Patient)
class PatientAdmin(ReadOnlyClinicalAdmin):
    list_display = ("study_id", "site", "status")
    list_filter = ("trial", "site", "status")
    search_fields = ("study_id", "initials")


@admin.register(Enrolment)
class EnrolmentAdmin(ReadOnlyClinicalAdmin):
    list_display = ("patient", "cohort", "level", "slot", "enrolled_on")
