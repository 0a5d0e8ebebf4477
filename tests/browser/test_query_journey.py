"""Data management in real Chromium: the data manager raises a query, the coordinator corrects the value with a
reason and answers, the data manager closes the query and downloads the zip of all domains."""

import csv
import io
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from toxicity.services import lab_record

pytestmark = pytest.mark.django_db(transaction=True)


def test_query_correction_closure_and_zip_download(page, live_server, login, on_c1, alice, dana, trial):
    sample = timezone.localdate() - timedelta(days=382)
    lab_record(patient=on_c1, by=alice, on=sample, anc="0.8")

    login(page, dana)
    page.goto(f"{live_server.url}/patients/{on_c1.study_id}/queries/")
    page.select_option("#id_record", label=f"Labs of {sample.isoformat()}")
    page.fill("#id_field", "anc")
    page.fill("#id_text", "ANC 0.8: the source document says 1.8?")
    page.click("#raise button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Query raised.")
    expect(page.locator("#open-count")).to_have_text("1 open")
    page.click("header button:has-text('Log out')")

    login(page, alice)
    page.goto(f"{live_server.url}/trials/{trial.code}/")
    expect(page.locator("#open-queries")).to_contain_text("site 01: 1")
    page.goto(f"{live_server.url}/patients/{on_c1.study_id}/safety/")
    page.fill("#id_lab-on", sample.isoformat())
    page.fill("#id_lab-anc", "1.8")
    page.click("#lab button[type=submit]")
    expect(page.locator("#lab #error-reason_for_change")).to_contain_text("give a reason for the change")
    page.fill("#id_lab-reason_for_change", "transcription error, per source document")
    page.click("#lab button[type=submit]")
    expect(page.locator(".messages")).to_contain_text(f"Labs of {sample.isoformat()} saved")
    page.click("nav.tabs >> text=Queries")
    page.fill(".answer-form input[name=answer]", "Corrected to 1.8 per source")
    page.click(".answer-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Query answered.")
    page.click("header button:has-text('Log out')")

    login(page, dana)
    page.goto(f"{live_server.url}/patients/{on_c1.study_id}/queries/")
    expect(page.locator(".query .answer")).to_contain_text("Corrected to 1.8 per source")
    page.click(".close-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Query closed.")
    expect(page.locator("#open-count")).to_have_text("0 open")

    page.goto(f"{live_server.url}/trials/{trial.code}/exports/")
    page.click("button:has-text('Build the zip')")
    expect(page.locator("#download")).to_be_visible(timeout=20000)
    with page.expect_download() as info:
        page.click("#download")
    path = info.value.path()
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        labs_name = next(n for n in names if n.endswith("labs.csv"))
        rows = list(csv.DictReader(io.StringIO(archive.read(labs_name).decode("utf-8-sig"))))
    assert any(n.endswith("data_dictionary.csv") for n in names)
    assert any("README" in n.upper() for n in names)
    assert [(r["lab_date"], r["anc"]) for r in rows] == [(sample.isoformat(), "1.80")]
