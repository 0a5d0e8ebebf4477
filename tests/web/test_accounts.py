"""Accounts a person can manage (issue #16): their own password, the forced change of a password someone
else has seen, the administrator's users page (invite, edit, reset, deactivate), every change audited."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts import services
from accounts.models import User
from accounts.roles import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
NEW = "a-new-Passphrase-42"


@pytest.fixture
def ada(db):
    """An administrator by role (not a superuser)."""
    return UserFactory(username="ada", role=Role.ADMIN)


def _login(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


# ---------------------------------------------------------------- own password


def test_a_person_changes_their_password_and_stays_logged_in(client, alice, password, trial):
    client.force_login(alice)
    response = client.post(reverse("password_change"), {"old_password": password, "new_password1": NEW, "new_password2": NEW})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    assert client.get(reverse("home"))["Location"] == reverse("trial_home", args=[trial.code])  # still logged in
    last = alice.history.first()
    assert last.history_user == alice
    assert last.history_change_reason == "Password changed by the user"


def test_wrong_current_password_changes_nothing(client, alice, password):
    client.force_login(alice)
    response = client.post(reverse("password_change"), {"old_password": "wrong", "new_password1": NEW, "new_password2": NEW})
    assert response.status_code == 200
    assert "incorrectly" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(password)


def test_weak_new_password_is_refused(client, alice, password):
    client.force_login(alice)
    response = client.post(reverse("password_change"), {"old_password": password, "new_password1": "12345", "new_password2": "12345"})
    assert response.status_code == 200
    assert "too short" in response.content.decode()


def test_password_page_needs_login(client):
    assert client.get(reverse("password_change"))["Location"].startswith(reverse("login"))


def test_fixture_users_are_not_forced_to_change(client, alice, password, trial):
    assert _login(client, "alice", password)["Location"] == reverse("home")
    assert client.get(reverse("home"))["Location"] == reverse("trial_home", args=[trial.code])


# ---------------------------------------------------------------- forced change


@pytest.fixture
def invited(ada, site_a):
    user, one_time = services.user_invite(by=ada, username="carla", role=Role.COORDINATOR, site=site_a, first_name="Carla")
    return user, one_time


def test_invited_user_must_change_the_password_before_anything_else(client, invited, trial, patient_a):
    user, one_time = invited
    assert _login(client, "carla", one_time).status_code == 302
    response = client.get(reverse("patient_detail", args=[patient_a.study_id]))
    assert response.status_code == 302
    assert response["Location"] == reverse("password_change") + "?next=" + reverse("patient_detail", args=[patient_a.study_id]).replace("/", "%2F")
    assert client.get(reverse("password_change")).status_code == 200
    page = client.get(reverse("password_change")).content.decode()
    assert "given to you by someone else" in page
    assert 'aria-label="Main"' not in page  # no links that would only lead back here
    api = client.get("/api/v1/patients/")
    assert api.status_code == 403
    assert api.json()["code"] == "password_change_required"
    response = client.post(
        reverse("password_change"),
        {"old_password": one_time, "new_password1": NEW, "new_password2": NEW, "next": reverse("patient_detail", args=[patient_a.study_id])},
    )
    assert response["Location"] == reverse("patient_detail", args=[patient_a.study_id])
    user.refresh_from_db()
    assert not user.must_change_password
    assert user.check_password(NEW)
    assert client.get(reverse("patient_detail", args=[patient_a.study_id])).status_code == 200
    assert user.history.first().history_change_reason == "Password changed at first login"


def test_forced_user_can_log_out(client, invited):
    _, one_time = invited
    _login(client, "carla", one_time)
    assert client.post(reverse("logout")).status_code == 302


def test_next_must_stay_on_this_site(client, invited):
    _, one_time = invited
    _login(client, "carla", one_time)
    response = client.post(reverse("password_change"), {"old_password": one_time, "new_password1": NEW, "new_password2": NEW, "next": "https://evil.example/"})
    assert response["Location"] == reverse("home")


def test_demo_users_change_the_printed_password_at_first_login(client):
    from io import StringIO

    out = StringIO()
    call_command("seed_demo", demo=True, stdout=out)
    line = next(line for line in out.getvalue().splitlines() if line.strip().startswith("coord01"))
    printed = line.split()[-1]
    assert set(User.objects.filter(username__in=["coord01", "admin", "monitor"]).values_list("must_change_password", flat=True)) == {True}
    _login(client, "coord01", printed)
    assert client.get(reverse("home"))["Location"] == reverse("password_change")


# ---------------------------------------------------------------- the users page


@pytest.mark.parametrize("persona", ["alice", "ivan", "dana", "mona", "olga"])
def test_users_page_is_forbidden_to_other_roles(client, personas, persona):
    client.force_login(personas[persona])
    assert client.get(reverse("user_list")).status_code == 403
    assert client.get(reverse("user_invite")).status_code == 403
    assert client.post(reverse("user_deactivate", args=[personas["bob"].pk]), {"reason": "left"}).status_code == 403


def test_superuser_without_a_role_may_manage_users(client, db):
    root = UserFactory(username="root", role="", is_superuser=True)
    client.force_login(root)
    assert client.get(reverse("user_list")).status_code == 200


def test_users_page_lists_every_account(client, ada, personas):
    client.force_login(ada)
    html = client.get(reverse("user_list")).content.decode()
    for name in ["alice", "bob", "ivan", "dana", "mona", "olga"]:
        assert f'data-username="{name}"' in html


def test_invite_shows_a_one_time_password_once_and_audits(client, ada, site_b):
    client.force_login(ada)
    data = {"username": "newcoord", "first_name": "Nia", "last_name": "New", "email": "", "role": "coordinator", "site": site_b.pk}
    response = client.post(reverse("user_invite"), data)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    one_time = html.split('id="one-time-password">', 1)[1].split("<", 1)[0]
    user = User.objects.get(username="newcoord")
    assert user.role == Role.COORDINATOR
    assert user.site == site_b
    assert user.must_change_password
    assert user.check_password(one_time)
    assert len(one_time) == 14
    created = user.history.last()
    assert created.history_user == ada
    assert created.history_change_reason == "Invited by ada as Research coordinator"
    assert one_time not in client.get(reverse("user_detail", args=[user.pk])).content.decode()


def test_invite_a_coordinator_without_a_site_is_refused(client, ada):
    client.force_login(ada)
    response = client.post(reverse("user_invite"), {"username": "nosite", "role": "coordinator"})
    assert response.status_code == 200
    assert "choose it" in response.content.decode()
    assert not User.objects.filter(username="nosite").exists()


def test_invite_an_existing_username_is_refused(client, ada, alice):
    client.force_login(ada)
    response = client.post(reverse("user_invite"), {"username": "ALICE", "role": "monitor"})
    assert "already exists" in response.content.decode()


def test_edit_role_and_site_with_a_reason_is_audited(client, ada, mona, site_a):
    client.force_login(ada)
    data = {"first_name": "Mona", "last_name": "M", "email": "", "role": "coordinator", "site": site_a.pk, "reason": "moved to site 01"}
    assert client.post(reverse("user_detail", args=[mona.pk]), data).status_code == 302
    mona.refresh_from_db()
    assert mona.role == Role.COORDINATOR
    assert mona.site == site_a
    assert mona.history.first().history_change_reason == "moved to site 01"
    html = client.get(reverse("user_detail", args=[mona.pk])).content.decode()
    assert "moved to site 01" in html
    assert "monitor" in html


def test_admin_reset_gives_a_one_time_password_and_forces_a_change(client, ada, bob, password):
    client.force_login(ada)
    response = client.post(reverse("user_reset", args=[bob.pk]), {"reason": "forgot it"})
    one_time = response.content.decode().split('id="one-time-password">', 1)[1].split("<", 1)[0]
    bob.refresh_from_db()
    assert bob.must_change_password
    assert bob.check_password(one_time)
    assert not bob.check_password(password)
    assert bob.history.first().history_change_reason == "Password reset by ada: forgot it"
    client.logout()
    _login(client, "bob", one_time)
    assert client.get(reverse("home"))["Location"] == reverse("password_change")


def test_reset_needs_a_reason(client, ada, bob, password):
    client.force_login(ada)
    assert client.post(reverse("user_reset", args=[bob.pk]), {"reason": ""}).status_code == 302
    bob.refresh_from_db()
    assert bob.check_password(password)
    assert not bob.must_change_password


def test_deactivate_never_deletes_and_ends_access(client, ada, bob, password, patient_b):
    other = type(client)()
    other.force_login(bob)
    assert other.get(reverse("patient_detail", args=[patient_b.study_id])).status_code == 200
    client.force_login(ada)
    assert client.post(reverse("user_deactivate", args=[bob.pk]), {"reason": "left the site"}).status_code == 302
    bob.refresh_from_db()
    assert not bob.is_active
    assert User.objects.filter(pk=bob.pk).exists()
    assert bob.history.first().history_change_reason == "Deactivated: left the site"
    assert bob.history.first().history_user == ada
    # the open session is no longer a login, and the password no longer logs in
    assert other.get(reverse("patient_detail", args=[patient_b.study_id]))["Location"].startswith(reverse("login"))
    assert _login(type(client)(), "bob", password).status_code == 200
    # the records they made keep their author
    assert patient_b.history.last().history_user == bob


def test_deactivated_token_no_longer_reaches_the_api(client, ada, dana):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=dana)
    services.user_deactivate(by=ada, user=dana, reason="left")
    response = type(client)().get("/api/v1/patients/", headers={"Authorization": f"Token {token.key}"})
    assert response.status_code == 401


def test_reactivate_with_a_reason(client, ada, bob):
    services.user_deactivate(by=ada, user=bob, reason="left")
    client.force_login(ada)
    client.post(reverse("user_reactivate", args=[bob.pk]), {"reason": "came back"})
    bob.refresh_from_db()
    assert bob.is_active
    assert bob.history.first().history_change_reason == "Reactivated: came back"


def test_an_administrator_cannot_deactivate_themselves_or_change_their_own_role(client, ada):
    client.force_login(ada)
    response = client.post(reverse("user_deactivate", args=[ada.pk]), {"reason": "oops"}, follow=True)
    assert "cannot deactivate your own" in response.content.decode()
    data = {"first_name": "", "last_name": "", "email": "", "role": "monitor", "site": "", "reason": "step down"}
    assert "cannot change your own role" in client.post(reverse("user_detail", args=[ada.pk]), data).content.decode()
    ada.refresh_from_db()
    assert ada.is_active
    assert ada.role == Role.ADMIN


def test_a_role_administrator_cannot_take_over_a_superuser(client, ada):
    root = UserFactory(username="root", role=Role.ADMIN, is_superuser=True)
    client.force_login(ada)
    response = client.post(reverse("user_reset", args=[root.pk]), {"reason": "take over"}, follow=True)
    assert "only a superuser may" in response.content.decode()
    assert 'id="one-time-password"' not in response.content.decode()
    root.refresh_from_db()
    assert not root.must_change_password
    client.force_login(root)
    response = client.post(reverse("user_reset", args=[ada.pk]), {"reason": "locked out"})
    assert 'id="one-time-password"' in response.content.decode()


def test_a_password_set_in_the_django_admin_is_changed_at_the_next_login(client, bob):
    root = UserFactory(username="root", role="", is_superuser=True, is_staff=True)
    client.force_login(root)
    url = reverse("admin:auth_user_password_change", args=[bob.pk])
    response = client.post(url, {"usable_password": "true", "password1": NEW, "password2": NEW})
    assert response.status_code == 302, response.content.decode()[:2000]
    bob.refresh_from_db()
    assert bob.check_password(NEW)
    assert bob.must_change_password
    response = client.post(reverse("admin:accounts_user_add"), {"username": "newbie", "usable_password": "true", "password1": NEW, "password2": NEW})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert User.objects.get(username="newbie").must_change_password
