"""The audit trail browser: per patient or trial-wide, filtered, keyset-paginated (newest first), exportable to CSV."""

from datetime import date

from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.models import User
from accounts.permissions import role_required
from accounts.roles import Perm
from cohorts import selectors as cohort_selectors

from . import audit


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@role_required(Perm.AUDIT)
def audit_trail(request, code):
    trial = cohort_selectors.trial_get(code)
    q = request.GET
    patient = cohort_selectors.patient_get_for_user(request.user, q["patient"].strip()) if q.get("patient", "").strip() else None
    user = User.objects.filter(username=q.get("user")).first() if q.get("user") else None
    kind = q.get("type") if q.get("type") in audit.KINDS else ""
    filters = {
        "patient": patient,
        "user": user,
        "record_types": [kind] if kind else None,
        "since": _date(q.get("since")),
        "until": _date(q.get("until")),
        "visible_patients": cohort_selectors.patients_for_user(request.user, trial).values("pk"),
    }
    if q.get("format") == "csv":
        response = StreamingHttpResponse(audit.csv_rows(audit.trail(trial, **filters)), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{trial.code}-audit-{timezone.localdate().isoformat()}.csv"'
        return response
    cursor = audit.Cursor.parse(q.get("before"))
    page = audit.trail_page(trial, cursor=cursor, **filters)
    query = q.copy()
    query.pop("before", None)
    query.pop("format", None)
    return render(
        request,
        "datamanagement/audit.html",
        {
            "trial": trial,
            "page": page,
            "groups": page.groups(),
            "first_page": cursor is None,
            "page_size": audit.PAGE_SIZE,
            "patient": patient,
            "types": [(k, audit.record_label(k)) for k in audit.KINDS],
            "chosen": kind,
            "users": User.objects.order_by("first_name", "last_name", "username"),
            "filters": {"user": q.get("user", ""), "since": q.get("since", ""), "until": q.get("until", ""), "patient": q.get("patient", "")},
            "query": query.urlencode(),
        },
    )
