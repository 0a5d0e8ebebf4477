"""Exports pages: the domain list with filters and the log, streamed CSVs, the zip job, its download and its retry.

Exports are for roles with Perm.EXPORT (data managers, administrators).
"""

from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.permissions import role_required
from accounts.roles import Perm
from cohorts import selectors as cohort_selectors

from . import exports, selectors, services
from .exports import CDISC, DICTIONARY_HEADER, DOMAINS
from .forms import ExportFilterForm, ZipForm


def _filters(request, trial):
    """The filter form bound to the query string (or the POSTed fields of the zip form)."""
    data = request.POST if request.method == "POST" else request.GET
    return ExportFilterForm(data or None, trial=trial)


def _csv_response(chunks, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@role_required(Perm.EXPORT)
@require_http_methods(["GET", "POST"])
def exports_page(request, code):
    trial = cohort_selectors.trial_get(code)
    form = _filters(request, trial)
    zip_form = ZipForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and zip_form.is_valid():
        log = services.export_zip_start(user=request.user, trial=trial, filters=form.filters(), cdisc=zip_form.cleaned_data["cdisc"])
        return redirect("export_job", pk=log.pk)
    query = "" if form.is_bound and not form.is_valid() else request.GET.urlencode()
    return render(
        request,
        "datamanagement/exports.html",
        {
            "trial": trial,
            "form": form,
            "zip_form": zip_form,
            "query": query,
            "domains": selectors.domain_list(),
            "cdisc": selectors.cdisc_list(),
            "logs": selectors.export_logs(trial),
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


def _stream(request, code, domain, *, cdisc: bool):
    trial = cohort_selectors.trial_get(code)
    form = _filters(request, trial)
    if form.is_bound and not form.is_valid():
        return HttpResponseBadRequest("; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    filters = form.filters() if form.is_bound else exports.Filters()
    _log, chunks = services.export_stream(user=request.user, trial=trial, domain=domain, filters=filters, cdisc=cdisc)
    return _csv_response(chunks, f"{trial.code}-{domain.name.lower()}-{timezone.localdate().isoformat()}.csv")


@role_required(Perm.EXPORT)
def export_csv(request, code, domain):
    if domain not in DOMAINS:
        raise Http404("No such export")
    return _stream(request, code, DOMAINS[domain], cdisc=False)


@role_required(Perm.EXPORT)
def export_cdisc_csv(request, code, dataset):
    if dataset.upper() not in CDISC:
        raise Http404("No such dataset")
    return _stream(request, code, CDISC[dataset.upper()], cdisc=True)


@role_required(Perm.EXPORT)
def export_dictionary(request, code):
    """The data dictionary of every domain and CDISC-style dataset (no patient data: not logged)."""
    trial = cohort_selectors.trial_get(code)
    rows = exports.dictionary_rows([*DOMAINS.values(), *CDISC.values()], trial)
    return _csv_response(exports.csv_stream(DICTIONARY_HEADER, rows), f"{trial.code}-data-dictionary.csv")


@role_required(Perm.EXPORT)
def export_job(request, pk):
    log = selectors.export_job_for_user(request.user, pk)
    percent = round(100 * log.progress_done / log.progress_total) if log.progress_total else 0
    template = "datamanagement/_job.html" if request.htmx else "datamanagement/job.html"  # the status box's own poll: the box alone
    return render(request, template, {"trial": log.trial, "log": log, "percent": percent})


@role_required(Perm.EXPORT)
def export_download(request, pk):
    log = selectors.export_job_for_user(request.user, pk)
    if log.status != log.Status.DONE or not log.file_path:
        raise Http404("The export is not ready")
    try:
        handle = open(log.file_path, "rb")  # noqa: SIM115 - FileResponse closes it after streaming
    except FileNotFoundError as exc:
        raise Http404("The export file is gone") from exc
    name = f"{log.trial.code}-export-{log.created_at:%Y-%m-%d}-{log.pk}.zip"
    return FileResponse(handle, as_attachment=True, filename=name, content_type="application/zip")


@role_required(Perm.EXPORT)
@require_POST
def export_retry(request, pk):
    """A failed zip started again with the same parameters (a new job); 409 for a job that has not failed."""
    log = selectors.export_job_for_user(request.user, pk)
    try:
        new = services.export_zip_retry(user=request.user, log=log)
    except ValidationError as exc:
        return HttpResponse(" ".join(exc.messages), status=409, content_type="text/plain; charset=utf-8")
    return redirect("export_job", pk=new.pk)
