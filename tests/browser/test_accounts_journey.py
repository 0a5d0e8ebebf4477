"""First login of a demo user (the printed password is changed first), then the header's patient search,
on a laptop (1366x900) and a tablet (820x1180); an administrator invites a user, who changes the
one-time password at first login, and deactivates them (issue #16)."""

import pytest
from playwright.sync_api import expect

from accounts.models import User
from portal.demo.seed import ensure_sites, ensure_users
from tests.factories import register_patient

pytestmark = pytest.mark.django_db(transaction=True)
NEW = "my-own-Passphrase-77"
VIEWPORTS = {"laptop": {"width": 1366, "height": 900}, "tablet": {"width": 820, "height": 1180}}


def _log_in(page, live_server, username, password):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def _change_password(page, old):
    expect(page.locator("#forced-change")).to_be_visible()
    page.fill("#id_old_password", old)
    page.fill("#id_new_password1", NEW)
    page.fill("#id_new_password2", NEW)
    page.click("#password-change button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_demo_coordinator_changes_the_printed_password_then_finds_a_patient(page, live_server, trial, viewport):
    page.set_viewport_size(VIEWPORTS[viewport])
    site1, site2 = ensure_sites()
    printed = {username: password for username, _, password in ensure_users()}
    coord1, coord2 = User.objects.get(username="coord01"), User.objects.get(username="coord02")
    mine = register_patient(trial, site1, coord1, initials="KQ")
    theirs = register_patient(trial, site2, coord2, initials="KQ")

    _log_in(page, live_server, "coord01", printed["coord01"])
    # Anything else first sends them to the password page, also a link they were given.
    assert "/accounts/password/" in page.url
    page.goto(f"{live_server.url}/patients/{mine.study_id}/")
    assert "/accounts/password/" in page.url
    _change_password(page, printed["coord01"])
    assert f"/patients/{mine.study_id}/" in page.url  # back where they were going
    expect(page.locator(".messages")).to_contain_text("Your password is changed")
    expect(page.locator("nav.breadcrumbs")).to_contain_text(f"{trial.code} home")

    # The header search: by initials, only site 01's patient; by the exact study id, the patient's page.
    search = page.locator("header form.search input[name=q]")
    expect(search).to_be_visible()
    box = search.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= VIEWPORTS[viewport]["width"]
    search.fill("kq")
    search.press("Enter")
    page.wait_for_load_state()
    results = page.locator("#search-results tbody")
    expect(results).to_contain_text(mine.study_id)
    expect(results).not_to_contain_text(theirs.study_id)
    search = page.locator("header form.search input[name=q]")
    search.fill(theirs.study_id)
    page.click("header form.search button[type=submit]")
    page.wait_for_load_state()
    expect(page.locator("#search-results")).to_contain_text("No patient matches")
    search = page.locator("header form.search input[name=q]")
    search.fill(mine.study_id)
    search.press("Enter")
    page.wait_for_load_state()
    assert page.url.endswith(f"/patients/{mine.study_id}/")
    expect(page.locator("nav.breadcrumbs [aria-current=page]")).to_have_text(mine.study_id)

    # The new password is the one that logs in now.
    page.click("header button:has-text('Log out')")
    page.wait_for_load_state()
    _log_in(page, live_server, "coord01", NEW)
    assert "/accounts/" not in page.url


def test_administrator_invites_a_user_who_changes_the_one_time_password_and_is_deactivated(page, live_server, trial, site_a):
    page.set_viewport_size(VIEWPORTS["laptop"])
    ensure_sites()
    printed = {username: password for username, _, password in ensure_users()}
    _log_in(page, live_server, "admin", printed["admin"])
    _change_password(page, printed["admin"])

    page.click("header >> text=Users")
    page.click("text=Invite a user")
    page.fill("#id_username", "nia")
    page.fill("#id_first_name", "Nia")
    page.select_option("#id_role", "coordinator")
    page.select_option("#id_site", label=str(site_a))
    page.click("#invite button[type=submit]")
    one_time = page.locator("#one-time-password").inner_text()
    assert len(one_time) == 14
    page.click("header button:has-text('Log out')")

    _log_in(page, live_server, "nia", one_time)
    _change_password(page, one_time)
    expect(page.locator("header .who")).to_contain_text("site 01")
    page.click("header button:has-text('Log out')")

    _log_in(page, live_server, "admin", NEW)
    page.click("header >> text=Users")
    page.click("#users >> text=nia")
    page.fill("#id_deactivate_reason", "left the unit")
    page.click("#deactivate button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("nia is deactivated")
    expect(page.locator("#account-history")).to_contain_text("Deactivated: left the unit")
    expect(page.locator("#account-history")).to_contain_text("Password changed at first login")
    page.click("header button:has-text('Log out')")
    _log_in(page, live_server, "nia", NEW)
    expect(page.locator("main .error")).to_contain_text("did not match")
