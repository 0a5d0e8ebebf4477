"""Reads for the exports page: the domains with their columns, the log, one job."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from cohorts.models import Trial

from .exports import CDISC, DOMAINS
from .models import ExportLog

LOG_ROWS = 50


def domain_list() -> list:
    return list(DOMAINS.values())


def cdisc_list() -> list:
    return list(CDISC.values())


def export_logs(trial: Trial) -> QuerySet[ExportLog]:
    return ExportLog.objects.filter(trial=trial).select_related("user").order_by("-created_at", "-id")[:LOG_ROWS]


def export_job_for_user(user: User, pk: int) -> ExportLog:
    """A zip job is its requester's (its rows were scoped to them); anyone else gets a 404."""
    log = ExportLog.objects.select_related("trial", "user").filter(pk=pk, format__in=[ExportLog.Format.ZIP, ExportLog.Format.ZIP_CDISC]).first()
    if log is None or (log.user_id != user.pk and not user.is_superuser):
        raise Http404("No such export")
    return log
