"""The audit trail browser: per patient or trial-wide, filtered, paginated, exportable to CSV."""

from datetime import date

from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.models import User
from accounts.permissions import role_required
from accounts.roles import Perm
from cohorts import selectors as cohort_selectors

from . import audit

PAGE_SIZE = 100


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@role_required(Perm.AUDIT)
def audit_trail(request, code):
    trial = cohort_selectors.trial_get(code)
    q = request.GET
    patient = cohort_selectors.patient_get_for_user(request.user, q["patient"]) if q.get("patient") else None
    user = User.objects.filter(username=q.get("user")).first() if q.get("user") else None
    types = [t for t in q.getlist("type") if t in audit.RECORDS]
    since, until = _date(q.get("since")), _date(q.get("until"))
    entries = audit.trail(
        trial,
        patient=patient,
        user=user,
        record_types=types or None,
        since=since,
        until=until,
        visible_patients=cohort_selectors.patients_for_user(request.user, trial).values("pk"),
    )
    if q.get("format") == "csv":
        response = StreamingHttpResponse(audit.csv_rows(entries), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{trial.code}-audit-{timezone.localdate().isoformat()}.csv"'
        return response
    page = Paginator(entries, PAGE_SIZE).get_page(q.get("page"))
    query = q.copy()
    query.pop("page", None)
    return render(
        request,
        "datamanagement/audit.html",
        {
            "trial": trial,
            "page": page,
            "count": len(entries),
            "patient": patient,
            "types": [(k, audit.record_label(k)) for k in audit.RECORDS],
            "chosen": types,
            "users": User.objects.filter(is_active=True).order_by("username"),
            "filters": {"user": q.get("user", ""), "since": q.get("since", ""), "until": q.get("until", ""), "patient": q.get("patient", "")},
            "query": query.urlencode(),
        },
    )
