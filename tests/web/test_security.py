"""Throttling, sessions and web hygiene (issue #17 points 2 and 6): lockout after 5 wrong passwords for 15 minutes
(logins and signature passwords, per username and per address), the API's 429, idle sessions, no username in a
password, Content-Security-Policy and no-store headers, redirects kept on this site, CSV injection escaped in every
export, the production SECRET_KEY refused when weak."""

import csv
import io
import os
import subprocess
import sys
import zipfile
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from accounts.roles import Role
from accounts.validators import UsernameNotInPasswordValidator
from datamanagement.exports import engine
from datamanagement.models import ExportLog
from tests.web.test_safety_pages import proposed  # noqa: F401  (a fixture: a DLT proposal)
from trialsite import throttle

pytestmark = pytest.mark.django_db
NEW = "a-new-Passphrase-42"


def _login(client, username, password, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def _fail(client, username, times, **extra):
    for _ in range(times):
        response = _login(client, username, "wrong-password-0", **extra)
    return response


# ---------------------------------------------------------------- lockout


def test_four_failures_still_let_the_right_password_in(client, alice, password):
    assert _fail(client, "alice", 4).status_code == 200
    assert _login(client, "alice", password).status_code == 302
    assert not AccessAttempt.objects.filter(username="alice").exists()  # reset on success


def test_five_failures_lock_the_account_with_a_clear_page_until_when(client, alice, password):
    response = _fail(client, "alice", 5)
    assert response.status_code == 429
    body = response.content.decode()
    assert "This account is locked after 5 wrong passwords" in body
    until = throttle.locked_until("alice")
    assert until is not None
    assert timedelta(minutes=14) < until - timezone.now() <= timedelta(minutes=15)
    assert timezone.localtime(until).strftime("%Y-%m-%d %H:%M") in body
    assert int(response["Retry-After"]) > 14 * 60
    # the right password is refused while locked, with the same page
    response = _login(client, "alice", password)
    assert response.status_code == 429
    assert "locked" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lock_ends_after_15_minutes(client, alice, password):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        _fail(client, "alice", 5)
        assert _login(client, "alice", password).status_code == 429
        traveller.shift(timedelta(minutes=14))
        assert _login(client, "alice", password).status_code == 429
        traveller.shift(timedelta(minutes=1, seconds=1))
        assert _login(client, "alice", password).status_code == 302


def test_the_address_is_locked_too_whatever_the_username(client, alice, bob, password):
    for name in ["x1", "x2", "x3", "x4", "x5"]:
        _login(client, name, "wrong-password-0", REMOTE_ADDR="10.1.1.1")
    assert _login(client, "bob", password, REMOTE_ADDR="10.1.1.1").status_code == 429
    assert _login(client, "bob", password, REMOTE_ADDR="10.2.2.2").status_code == 302  # another address: fine


def test_the_username_is_locked_from_every_address(client, alice, password):
    for i in range(5):
        _login(client, "alice", "wrong-password-0", REMOTE_ADDR=f"10.0.0.{i}")
    assert _login(client, "alice", password, REMOTE_ADDR="10.9.9.9").status_code == 429


def test_the_administrator_sees_and_unlocks_in_django_admin(client, alice, password):
    _fail(client, "alice", 5)
    root = User.objects.create_superuser("root", "root@example.org", NEW)
    admin = APIClient()  # a second browser
    admin.force_login(root)
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "alice" in listing.content.decode()
    attempt = AccessAttempt.objects.get(username="alice")
    response = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert _login(client, "alice", password).status_code == 302


def test_the_management_command_unlocks(client, alice, password):
    _fail(client, "alice", 5)
    call_command("axes_reset_username", "alice")
    assert _login(client, "alice", password).status_code == 302


# ---------------------------------------------------------------- signature passwords (trialsite.throttle)


def _request(address="10.5.5.5"):
    return RequestFactory().post("/sign/", REMOTE_ADDR=address)


def test_five_failed_signature_passwords_lock_the_user(alice):
    for _ in range(4):
        assert throttle.signature_failed(alice, _request()) is False
        assert not throttle.is_locked(alice, _request())
    assert throttle.signature_failed(alice, _request()) is True
    assert throttle.is_locked(alice, _request())
    assert throttle.is_locked(alice, _request("10.6.6.6"))  # the user, from anywhere
    assert "locked until" in throttle.locked_message(alice, _request())


def test_signature_failures_and_login_failures_add_up(client, alice, password):
    for _ in range(3):
        throttle.signature_failed(alice, _request("127.0.0.1"))
    _fail(client, "alice", 2)
    assert throttle.is_locked(alice, _request())
    assert _login(client, "alice", password).status_code == 429


def test_signature_lock_ends_after_15_minutes(alice):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(5):
            throttle.signature_failed(alice, _request())
        assert throttle.is_locked(alice, _request())
        traveller.shift(timedelta(minutes=15, seconds=1))
        assert not throttle.is_locked(alice, _request())


def test_signature_failures_without_a_request_count_for_the_user_only(alice, bob):
    for _ in range(5):
        throttle.signature_failed(alice)
    assert throttle.is_locked(alice)
    assert not throttle.is_locked(bob)  # not pooled on an empty address


# ---------------------------------------------------------------- API throttle


def test_api_answers_429_in_its_error_shape_past_the_rate(alice, trial, settings):
    from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

    assert "rest_framework.throttling.UserRateThrottle" in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]
    original = UserRateThrottle.THROTTLE_RATES
    UserRateThrottle.THROTTLE_RATES = SimpleRateThrottle.THROTTLE_RATES = {**original, "user": "3/minute"}
    try:
        api = APIClient()
        api.force_authenticate(alice)
        codes = [api.get("/api/v1/trials/").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        response = api.get("/api/v1/trials/")
        body = response.json()
        assert body["status"] == 429
        assert body["code"] == "throttled"
        assert "errors" in body
        assert int(response["Retry-After"]) > 0
    finally:
        UserRateThrottle.THROTTLE_RATES = SimpleRateThrottle.THROTTLE_RATES = original


# ---------------------------------------------------------------- sessions


def _signed_in(client) -> bool:
    response = client.get(reverse("worklist"))
    assert response.status_code in (200, 302)
    return not response.get("Location", "").startswith(reverse("login"))


def _session_writes(client) -> list[str]:
    """The SQL statements that wrote the session table during one page (the session's save)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert _signed_in(client)
    return [q["sql"] for q in ctx.captured_queries if "django_session" in q["sql"] and not q["sql"].lstrip().upper().startswith("SELECT")]


def test_the_session_cookie_ends_with_the_browser_and_idles_out_after_30_minutes(client, alice, password, trial):
    assert settings.SESSION_COOKIE_AGE == settings.TRIALSITE_SESSION_IDLE_MINUTES * 60 == 30 * 60
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert _login(client, "alice", password).status_code == 302
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        assert (cookie["expires"], cookie["max-age"]) == ("", "")  # a browser-session cookie: gone when the browser closes
        assert _signed_in(client)
        traveller.shift(timedelta(minutes=31))
        assert not _signed_in(client)


def test_activity_every_10_minutes_for_an_hour_keeps_the_session(client, alice, password, trial):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert _login(client, "alice", password).status_code == 302
        for _ in range(6):
            traveller.shift(timedelta(minutes=10))
            assert _signed_in(client)
        traveller.shift(timedelta(minutes=29))  # idle less than 30 minutes since the last renewal
        assert _signed_in(client)


def test_a_request_within_the_minute_does_not_write_the_session_and_one_after_renews_it(client, alice, password, trial):
    from django.contrib.sessions.models import Session

    def expiry():
        return Session.objects.get(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value).expire_date

    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert _login(client, "alice", password).status_code == 302
        assert _session_writes(client)  # the first page after signing in renews it
        renewed = expiry()
        traveller.shift(timedelta(seconds=30))
        assert _session_writes(client) == []
        traveller.shift(timedelta(seconds=29))
        assert _session_writes(client) == []
        assert expiry() == renewed
        traveller.shift(timedelta(seconds=1))
        assert _session_writes(client)
        assert expiry() == renewed + timedelta(seconds=60)


def test_an_anonymous_visitor_gets_no_session_written(client, trial):
    from django.contrib.sessions.models import Session

    assert client.get(reverse("login")).status_code == 200
    assert client.get(reverse("worklist")).status_code == 302
    assert not Session.objects.exists()


def test_idle_minutes_come_from_the_environment():
    code = "from django.conf import settings; print(settings.SESSION_COOKIE_AGE)"
    env = {**os.environ, "TRIALSITE_SESSION_IDLE_MINUTES": "10", "DJANGO_SETTINGS_MODULE": "trialsite.settings"}
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code], env=env, capture_output=True, text=True, check=True, cwd=settings.BASE_DIR
    )
    assert out.stdout.strip() == "600"


# ---------------------------------------------------------------- passwords


@pytest.mark.parametrize("candidate", ["alice-Spring-2026x", "myALICEpassword9", "xx-Alice-xx-42"])
def test_a_password_containing_the_username_is_refused(alice, candidate):
    with pytest.raises(ValidationError, match="must not contain the username"):
        validate_password(candidate, alice)
    with pytest.raises(ValidationError):
        UsernameNotInPasswordValidator().validate(candidate, alice)


def test_the_password_page_refuses_the_username_in_the_new_password(client, alice, password):
    client.force_login(alice)
    bad = "alice-Spring-2026x"
    response = client.post(reverse("password_change"), {"old_password": password, "new_password1": bad, "new_password2": bad})
    assert response.status_code == 200
    assert "must not contain the username" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(password)


def test_the_admin_add_user_form_refuses_the_username_in_the_password(db):
    root = User.objects.create_superuser("root", "root@example.org", NEW)
    admin = APIClient()
    admin.force_login(root)
    bad = "zelda-Winter-2026x"
    response = admin.post(
        "/admin/accounts/user/add/", {"username": "zelda", "password1": bad, "password2": bad, "usable_password": "true", "role": Role.MONITOR}
    )
    assert response.status_code == 200
    assert "must not contain the username" in response.content.decode()
    assert not User.objects.filter(username="zelda").exists()


def test_invite_and_reset_never_give_a_password_containing_the_username(monkeypatch):
    from accounts import services

    picks = iter("abc" * 4 + "abd" * 4 + "x" * 100)
    monkeypatch.setattr(services.secrets, "choice", lambda alphabet: next(picks))
    password = services.one_time_password("abc")  # the first draw is abcabc...: drawn again
    assert "abc" not in password.lower()
    assert len(password) == services.ONE_TIME_PASSWORD_LENGTH


# ---------------------------------------------------------------- headers


def test_pages_and_api_send_csp_and_no_store(client, alice, trial):
    _check_headers(client.get(reverse("login")))
    client.force_login(alice)
    for url in [reverse("trial_home", args=[trial.code]), reverse("worklist"), "/api/v1/trials/", "/api/v1/patients/"]:
        _check_headers(client.get(url))


def _check_headers(response):
    url = response.request["PATH_INFO"]
    assert response.status_code == 200, url
    assert "no-store" in response["Cache-Control"], url
    policy = response["Content-Security-Policy"]
    for directive in ("script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
        assert directive in policy, url
    assert "unsafe-" not in policy, url


def test_error_pages_and_exports_send_no_store_too(client, alice, dana, trial):
    client.force_login(alice)
    assert "no-store" in client.get("/patients/NO-SUCH/")["Cache-Control"]
    client.force_login(dana)
    response = client.get(reverse("export_csv", args=[trial.code, "patients"]))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


def test_static_files_keep_their_caching(client):
    from django.test import override_settings

    with override_settings(DEBUG=True):
        response = client.get("/" + settings.STATIC_URL.lstrip("/") + "css/site.css")
    assert response.get("Cache-Control", "") != "no-store"


# ---------------------------------------------------------------- redirects after a POST


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "http://evil.example", "https:///evil.example"])
def test_login_never_redirects_off_site(client, alice, password, target, trial):
    response = client.post(reverse("login"), {"username": "alice", "password": password, "next": target})
    assert response.status_code == 302
    assert "evil" not in response["Location"]


def test_password_change_never_redirects_off_site(client, alice, password):
    client.force_login(alice)
    response = client.post(reverse("password_change"), {"old_password": password, "new_password1": NEW, "new_password2": NEW, "next": "https://evil.example/"})
    assert response.status_code == 302
    assert "evil" not in response["Location"]


def test_dlt_adjudication_never_redirects_off_site(client, ivan, proposed):  # noqa: F811
    client.force_login(ivan)
    for data in ({"decision": "confirm", "reason": ""}, {}):  # a saved adjudication, and a refused form
        response = client.post(reverse("dlt_adjudicate", args=[proposed.pk]), {**data, "next": "https://evil.example/dlt-review/"})
        assert response.status_code == 302
        assert response["Location"] == reverse("dlt_review")


def test_dlt_adjudication_keeps_a_same_site_next(client, ivan, proposed):  # noqa: F811
    client.force_login(ivan)
    response = client.post(reverse("dlt_adjudicate", args=[proposed.pk]), {"next": "/dlt-review/?after=3"})
    assert response["Location"] == "/dlt-review/?after=3"


# ---------------------------------------------------------------- CSV injection


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("-1", "-1"),
        ("-1.5", "-1.5"),
        ("-12.50", "-12.50"),
        ("-1e5", "'-1e5"),
        ("plain", "plain"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_get_a_quote(cell, written):
    assert engine.csv_safe(cell) == written


def _rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_every_writer_escapes():
    header, rows = ["a", "b"], [["=1+1", "-3"], ["@x", "ok"]]
    streamed = "".join(engine.csv_stream(header, rows))
    out = io.StringIO()
    engine.write_csv(out, header, rows)
    for text in (streamed, out.getvalue()):
        assert _rows(text) == [["a", "b"], ["'=1+1", "-3"], ["'@x", "ok"]]


FORMULA = '=HYPERLINK("http://evil.example","x")'


def _unsafe(text: str) -> list[str]:
    """The cells a spreadsheet would run as a formula."""
    return [c for row in _rows(text) for c in row if c and c[0] in "=+-@\t\r" and not engine.PLAIN_NUMBER.fullmatch(c)]


@pytest.fixture
def injected(trial, site_a, site_b, alice, bob, ivan):
    from tests.integration.test_exports import build_world
    from toxicity.models import AdverseEvent, ConMed

    world = build_world(trial, site_a, site_b, alice, bob, ivan)
    ae = AdverseEvent.objects.order_by("pk").first()
    ae.verbatim, ae.notes = FORMULA, "@SUM(1)"
    ae.save()  # a history row too, for the audit trail
    ConMed.objects.update(indication="+cmd|' /C calc'!A0", notes="-2+3")
    return world


def test_every_export_escapes_formula_cells(client, dana, injected, settings, tmp_path, django_capture_on_commit_callbacks):
    from datamanagement.exports import CDISC, DOMAINS

    settings.TRIALSITE_EXPORT_DIR = str(tmp_path)
    client.force_login(dana)
    code = injected.trial.code
    texts = {}
    for name in DOMAINS:
        texts[name] = b"".join(client.get(reverse("export_csv", args=[code, name])).streaming_content).decode()
    for name in CDISC:
        texts["cdisc-" + name] = b"".join(client.get(reverse("export_cdisc_csv", args=[code, name.lower()])).streaming_content).decode()
    texts["dictionary"] = b"".join(client.get(reverse("export_dictionary", args=[code])).streaming_content).decode()
    texts["audit"] = b"".join(client.get(reverse("trial_audit", args=[code]), {"format": "csv"}).streaming_content).decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("trial_exports", args=[code]), {"site": "", "level": "", "date_from": "", "date_to": "", "cdisc": "on"})
    assert response.status_code == 302
    log = ExportLog.objects.get(format="zip_cdisc")
    download = client.get(reverse("export_download", args=[log.pk]))
    with zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))) as zf:
        for member in zf.namelist():
            if member.endswith(".csv"):
                texts["zip-" + member] = zf.read(member).decode()
    assert log.status == "done"
    cells = {name: {c for row in _rows(text) for c in row} for name, text in texts.items()}
    for name in ("adverse_events", "zip-adverse_events.csv", "audit"):
        assert {"'" + FORMULA, "'@SUM(1)"} <= cells[name], name
    for name in ("cdisc-AE", "zip-cdisc/AE.csv"):
        assert "'" + FORMULA in cells[name], name
    for name in ("conmeds", "zip-conmeds.csv", "cdisc-CM"):
        assert "'+cmd|' /C calc'!A0" in cells[name], name
    assert "'-2+3" in cells["conmeds"]
    for name, text in texts.items():
        assert not _unsafe(text), f"{name}: {_unsafe(text)[:3]}"


def test_the_api_docs_page_has_no_inline_script(client, alice):
    import re

    client.force_login(alice)
    html = client.get(reverse("swagger-ui")).content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts
    for attributes, body in scripts:
        assert "src=" in attributes, attributes
        assert not body.strip()
