"""A running export and a running whole-trial recompute, followed in real Chromium: the status region polls its own
page (htmx, served from static files) and swaps itself in, so the page is not reloaded (no meta refresh: axe-core
rates it critical, and a reload under way aborted the user's next navigation), and the Content-Security-Policy
(no unsafe-inline, no eval) refuses nothing."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from datamanagement.exports import DOMAINS
from datamanagement.models import ExportLog
from response.models import RecomputeJob
from tests.browser.csp import watch_csp

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_running_export_shows_its_download_link_when_it_is_ready_without_a_reload(page, live_server, login, dana, trial):
    refused = watch_csp(page)
    log = ExportLog.objects.create(
        trial=trial, user=dana, created_at=timezone.now(), format="zip", domains=list(DOMAINS), status="running", progress_total=12, progress_done=5
    )
    login(page, dana)
    page.goto(f"{live_server.url}/exports/jobs/{log.pk}/")
    expect(page.locator("#job-status")).to_have_text("Running")
    expect(page.locator("#job")).to_have_attribute("aria-live", "polite")
    page.evaluate("window.__same_document = true")  # gone if the page were reloaded
    ExportLog.objects.filter(pk=log.pk).update(progress_done=9)
    expect(page.locator("#job-progress")).to_have_attribute("value", "9", timeout=10_000)
    ExportLog.objects.filter(pk=log.pk).update(status="done", progress_done=12, row_counts={"patients": 3}, file_path="/nonexistent.zip")
    expect(page.locator("#download")).to_be_visible(timeout=10_000)
    expect(page.locator("#job-status")).to_have_text("Done")
    assert page.evaluate("window.__same_document") is True
    expect(page.locator("#job")).not_to_have_attribute("hx-trigger", "every 2s")  # no more polling once done
    assert refused == []
    assert page.evaluate("window.__csp || []") == []


def test_a_running_recompute_says_when_it_has_finished_and_links_the_new_results(page, live_server, login, dana, trial):
    refused = watch_csp(page)
    job = RecomputeJob.objects.create(trial=trial, status="running", total=40, done=12, requested_by=dana, requested_at=timezone.now())
    login(page, dana)
    page.goto(f"{live_server.url}/trials/{trial.code}/response/")
    expect(page.locator("#recompute")).to_contain_text("12 of 40 patients")
    page.evaluate("window.__same_document = true")
    RecomputeJob.objects.filter(pk=job.pk).update(status="done", done=40, finished_at=timezone.now())
    notice = page.locator("#recompute-finished")
    expect(notice).to_contain_text("The recompute has finished", timeout=10_000)
    expect(page.locator("#recompute")).to_contain_text("40 of 40 patients")
    assert page.evaluate("window.__same_document") is True  # the reader's page stays as it was until they choose
    notice.get_by_role("link", name="show the new results").click()
    expect(page.locator("#recompute-finished")).to_have_count(0)
    expect(page.locator("#recompute")).to_contain_text("40 of 40 patients")
    assert refused == []
    assert page.evaluate("window.__csp || []") == []
