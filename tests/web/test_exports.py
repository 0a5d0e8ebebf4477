"""The exports page, streamed CSVs, the zip job page and its download, per persona."""

import csv
import io
import zipfile

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from datamanagement.exports import CDISC, DOMAINS
from datamanagement.models import ExportLog
from tests.factories import UserFactory
from tests.integration.test_exports import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(trial, site_a, site_b, alice, bob, ivan):
    return build_world(trial, site_a, site_b, alice, bob, ivan)


@pytest.fixture
def exports_dir(settings, tmp_path):
    settings.TRIALSITE_EXPORT_DIR = str(tmp_path)
    return tmp_path


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize(("persona", "status"), [("dana", 200), ("alice", 403), ("bob", 403), ("ivan", 403), ("mona", 403), ("olga", 403)])
def test_the_exports_page_is_for_data_managers(client, personas, trial, persona, status):
    client.force_login(personas[persona])
    assert client.get(reverse("trial_exports", args=[trial.code])).status_code == status
    assert client.get(reverse("export_csv", args=[trial.code, "patients"])).status_code == status


def test_anonymous_users_are_sent_to_login(client, trial):
    response = client.get(reverse("export_csv", args=[trial.code, "patients"]))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_the_page_lists_every_domain_cdisc_datasets_filters_and_the_log(client, dana, trial, site_a):
    ExportLog.objects.create(trial=trial, user=dana, created_at=timezone.now(), format="csv", domains=["labs"], row_counts={"labs.csv": 7}, status="done")
    client.force_login(dana)
    html = client.get(reverse("trial_exports", args=[trial.code]) + "?site=01&level=1").content.decode()
    for name in DOMAINS:
        assert f'href="{reverse("export_csv", args=[trial.code, name])}?site=01&amp;level=1"' in html
    for name in CDISC:
        assert reverse("export_cdisc_csv", args=[trial.code, name]) in html
    assert 'name="cdisc"' in html
    assert '<input type="hidden" name="site" value="01">' in html
    assert "<td>dana</td>" in html
    assert "<td>7</td>" in html


def test_the_nav_links_exports_for_data_managers_only(client, dana, mona, trial):
    client.force_login(dana)
    assert reverse("trial_exports", args=[trial.code]) in client.get(reverse("trial_home", args=[trial.code])).content.decode()
    client.force_login(mona)
    assert reverse("trial_exports", args=[trial.code]) not in client.get(reverse("trial_home", args=[trial.code])).content.decode()


def test_a_domain_csv_streams_with_filters_and_is_logged(client, dana, world):
    client.force_login(dana)
    response = client.get(reverse("export_csv", args=[world.trial.code, "patients"]), {"site": "02", "level": "2"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="BPD-patients-')
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert [r["study_id"] for r in rows] == [world.p4.study_id]
    log = ExportLog.objects.get()
    assert (log.user, log.format, log.domains, log.status, log.row_counts) == (dana, "csv", ["patients"], "done", {"patients.csv": 1})
    assert (log.filters["site"], log.filters["level"]) == ("02", 2)


def test_a_cdisc_dataset_streams_with_standard_variable_names(client, dana, world):
    client.force_login(dana)
    text = body(client.get(reverse("export_cdisc_csv", args=[world.trial.code, "ae"])))
    assert text.splitlines()[0].startswith("STUDYID,DOMAIN,USUBJID,AESEQ,AESPID,AETERM,AEDECOD,AEPTCD,AESOC,AETOXGR,AESTDTC,AEENDTC,AESER,AEREL")
    assert ExportLog.objects.get().format == "cdisc"


def test_bad_filters_and_unknown_domains_are_refused(client, dana, trial):
    client.force_login(dana)
    url = reverse("export_csv", args=[trial.code, "labs"])
    assert client.get(url, {"date_from": "2025-02-01", "date_to": "2025-01-01"}).status_code == 400
    assert client.get(url, {"level": "9"}).status_code == 400
    assert client.get(reverse("export_csv", args=[trial.code, "nothing"])).status_code == 404
    assert client.get(reverse("export_cdisc_csv", args=[trial.code, "XX"])).status_code == 404
    page = client.get(reverse("trial_exports", args=[trial.code]), {"date_from": "2025-02-01", "date_to": "2025-01-01"})
    assert page.status_code == 400
    assert "before its start" in page.content.decode()
    assert ExportLog.objects.count() == 0


def test_the_data_dictionary_lists_every_file(client, dana, trial):
    client.force_login(dana)
    rows = list(csv.DictReader(io.StringIO(body(client.get(reverse("export_dictionary", args=[trial.code]))))))
    assert {r["file"] for r in rows} == {d.file_name for d in (*DOMAINS.values(), *CDISC.values())}


def test_the_zip_job_shows_progress_then_a_download_link(client, dana, world, exports_dir, django_capture_on_commit_callbacks):
    client.force_login(dana)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("trial_exports", args=[world.trial.code]), {"site": "", "level": "1", "date_from": "", "date_to": "", "cdisc": "on"})
    log = ExportLog.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("export_job", args=[log.pk])
    page = client.get(response["Location"]).content.decode()
    assert f'<progress id="job-progress" max="{len(DOMAINS) + len(CDISC)}" value="{len(DOMAINS) + len(CDISC)}">' in page
    assert 'http-equiv="refresh"' not in page
    assert "hx-trigger" not in page
    assert "htmx" not in page
    assert reverse("export_download", args=[log.pk]) in page
    download = client.get(reverse("export_download", args=[log.pk]))
    assert download["Content-Type"] == "application/zip"
    assert download["Content-Disposition"].startswith('attachment; filename="BPD-export-')
    with zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))) as zf:
        names = set(zf.namelist())
        patients = list(csv.DictReader(io.TextIOWrapper(zf.open("patients.csv"), encoding="utf-8")))
    assert {"README.txt", "data_dictionary.csv", "cdisc/DM.csv", *(f"{n}.csv" for n in DOMAINS)} <= names
    assert {r["dose_level"] for r in patients} == {"1"}
    assert (log.filters["level"], ExportLog.objects.get().format) == (1, "zip_cdisc")


def test_a_running_job_follows_itself_and_has_no_download_yet(client, dana, trial):
    log = ExportLog.objects.create(
        trial=trial, user=dana, created_at=timezone.now(), format="zip", domains=list(DOMAINS), status="running", progress_total=12, progress_done=5
    )
    client.force_login(dana)
    page = client.get(reverse("export_job", args=[log.pk])).content.decode()
    # The status region polls its own page every 2 s (htmx, a static file) and swaps itself in, instead of a meta
    # refresh that reloads the whole page (axe: meta-refresh, critical; it also aborted the next navigation).
    assert 'http-equiv="refresh"' not in page
    url = reverse("export_job", args=[log.pk])
    assert f'id="job" aria-live="polite" hx-get="{url}" hx-trigger="every 2s" hx-select="#job" hx-swap="outerHTML"' in page
    assert "django_htmx/htmx-2.min.js" in page
    assert '"allowEval": false' in page
    assert '<progress id="job-progress" max="12" value="5">' in page
    polled = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "<header" not in polled  # the poll answers the status box alone, not the page with its navigation
    assert '<progress id="job-progress" max="12" value="5">' in polled
    assert client.get(reverse("export_download", args=[log.pk])).status_code == 404


def test_another_users_job_is_not_found(client, dana, trial, exports_dir):
    other = UserFactory(username="dora", role=Role.DATA_MANAGER)
    log = ExportLog.objects.create(trial=trial, user=dana, created_at=timezone.now(), format="zip", domains=list(DOMAINS), status="done")
    client.force_login(other)
    assert client.get(reverse("export_job", args=[log.pk])).status_code == 404
    assert client.get(reverse("export_download", args=[log.pk])).status_code == 404


def test_the_page_queries_stay_flat_with_many_log_rows(client, dana, trial, django_assert_max_num_queries):
    ExportLog.objects.bulk_create(
        ExportLog(trial=trial, user=dana, created_at=timezone.now(), format="csv", domains=["labs"], status="done") for _ in range(60)
    )
    client.force_login(dana)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("trial_exports", args=[trial.code])).status_code == 200


def failed_zip(trial, user, **values):
    """A zip job the reaper failed (its worker died)."""
    values = {
        "format": "zip_cdisc",
        "domains": list(DOMAINS),
        "filters": {"site": "01", "level": 1, "date_from": None, "date_to": None},
        "status": "failed",
        "message": "the worker stopped while building this export",
    } | values
    return ExportLog.objects.create(trial=trial, user=user, created_at=timezone.now(), **values)


def test_a_failed_zip_shows_why_and_a_retry_button_on_the_exports_page_and_its_job_page(client, dana, trial):
    log = failed_zip(trial, dana)
    client.force_login(dana)
    retry = f'action="{reverse("export_retry", args=[log.pk])}"'
    page = client.get(reverse("trial_exports", args=[trial.code])).content.decode()
    assert retry in page
    assert "the worker stopped while building this export" in page
    job = client.get(reverse("export_job", args=[log.pk])).content.decode()
    assert retry in job
    assert "The export failed: the worker stopped while building this export" in job
    assert 'http-equiv="refresh"' not in job
    assert "hx-trigger" not in job


def test_retry_starts_a_new_zip_with_the_same_parameters(client, dana, world, exports_dir, django_capture_on_commit_callbacks):
    log = failed_zip(world.trial, dana)
    client.force_login(dana)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("export_retry", args=[log.pk]))
    retry = ExportLog.objects.exclude(pk=log.pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("export_job", args=[retry.pk])
    assert (retry.status, retry.format, retry.filters, retry.user) == ("done", "zip_cdisc", log.filters, dana)
    assert retry.domains == [*DOMAINS, *(f"cdisc/{n}" for n in CDISC)]
    assert reverse("export_download", args=[retry.pk]) in client.get(response["Location"]).content.decode()


def test_retry_is_a_post_for_the_requester_of_a_failed_zip(client, dana, mona, trial):
    log = failed_zip(trial, dana)
    done = failed_zip(trial, dana, status="done")
    client.force_login(dana)
    assert client.get(reverse("export_retry", args=[log.pk])).status_code == 405
    assert client.post(reverse("export_retry", args=[done.pk])).status_code == 409
    client.force_login(UserFactory(username="dora", role=Role.DATA_MANAGER))
    assert client.post(reverse("export_retry", args=[log.pk])).status_code == 404
    client.force_login(mona)
    assert client.post(reverse("export_retry", args=[log.pk])).status_code == 403
    assert ExportLog.objects.count() == 2
