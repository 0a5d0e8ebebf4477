"""Account writes (issue #16): each is a service, one transaction, full_clean before save, and audited in
the user's history (django-simple-history: who, when, old and new values, the reason for change).

Accounts are never deleted: a person who leaves is deactivated, so every record they signed keeps its
author. A password chosen by someone else (an invitation, a reset by an administrator) is shown once, to
that administrator, and must be changed at the next login."""

from __future__ import annotations

import secrets
import string

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from trialsite.audit import audited_save, reason_missing
from trialsite.errors import DomainError

from .models import Site, User
from .roles import Role, is_site_scoped

ONE_TIME_PASSWORD_LENGTH = 14


class AccountRefused(DomainError):
    code = "account_refused"


def one_time_password(username: str = "") -> str:
    """14 letters and digits (83 bits), without look-alikes, to be read off a screen once; drawn again in the
    (rare) case it contains the username, which no password may (accounts.validators)."""
    alphabet = "".join(c for c in string.ascii_letters + string.digits if c not in "0OIl1")
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(ONE_TIME_PASSWORD_LENGTH))
        if len(username) < 3 or username.casefold() not in password.casefold():
            return password


def _check_reason(reason: str) -> None:
    if reason_missing(reason):
        raise ValidationError({"reason": "Say why (a few words)."})


def _check_may_manage(by: User, user: User) -> None:
    """A superuser's account is managed by a superuser only: a role administrator who could reset it
    would hold every permission after logging in with the new password."""
    if user.is_superuser and not by.is_superuser:
        raise AccountRefused(f"{user.username} is a superuser: only a superuser may change this account.")


def _check_role_site(role: str, site: Site | None) -> None:
    if role not in {r.value for r in Role}:
        raise ValidationError({"role": "Choose a role."})
    if is_site_scoped(role) and site is None:
        raise ValidationError({"site": "A research coordinator works at one site: choose it."})


@transaction.atomic
def user_invite(*, by: User, username: str, role: str, site: Site | None, first_name: str = "", last_name: str = "", email: str = "") -> tuple[User, str]:
    """A new account with a role and a site and a one-time password (returned, to be shown once)."""
    _check_role_site(role, site)
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "A user with that username already exists."})
    password = one_time_password(username)
    user = User(
        username=username,
        role=role,
        site=site,
        first_name=first_name,
        last_name=last_name,
        email=email,
        is_staff=role == Role.ADMIN,
        must_change_password=True,
    )
    user.set_password(password)
    audited_save(user, by=by, reason=f"Invited by {by.username} as {Role(role).label}")
    return user, password


@transaction.atomic
def user_update(*, by: User, user: User, role: str, site: Site | None, first_name: str, last_name: str, email: str, reason: str) -> User:
    """Change a person's role, site or name, with the reason."""
    _check_reason(reason)
    _check_role_site(role, site)
    user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    _check_may_manage(by, user)
    if user == by and role != user.role:
        raise AccountRefused("You cannot change your own role; ask another administrator.")
    user.role, user.site, user.first_name, user.last_name, user.email = role, site, first_name, last_name, email
    if not user.is_superuser:
        user.is_staff = role == Role.ADMIN
    audited_save(user, by=by, reason=reason.strip())
    return user


@transaction.atomic
def user_password_reset(*, by: User, user: User, reason: str) -> str:
    """A new one-time password, chosen by the system, shown once to the administrator; changed at next login."""
    _check_reason(reason)
    user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    _check_may_manage(by, user)
    if not user.is_active:
        raise AccountRefused(f"{user.username} is deactivated: reactivate the account first.")
    password = one_time_password(user.username)
    user.set_password(password)
    user.must_change_password = True
    audited_save(user, by=by, reason=f"Password reset by {by.username}: {reason.strip()}")
    return password


@transaction.atomic
def user_password_change(*, user: User, new_password: str) -> User:
    """The person's own new password (the form has checked the current one); clears the forced change."""
    validate_password(new_password, user)
    user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    user.set_password(new_password)
    forced = user.must_change_password
    user.must_change_password = False
    audited_save(user, by=user, reason="Password changed at first login" if forced else "Password changed by the user")
    return user


@transaction.atomic
def user_deactivate(*, by: User, user: User, reason: str) -> User:
    """Deactivate, never delete: the person can no longer log in (pages or API), their records keep their name."""
    _check_reason(reason)
    user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    _check_may_manage(by, user)
    if user == by:
        raise AccountRefused("You cannot deactivate your own account; ask another administrator.")
    if not user.is_active:
        raise AccountRefused(f"{user.username} is already deactivated.")
    user.is_active = False
    audited_save(user, by=by, reason=f"Deactivated: {reason.strip()}")
    return user


@transaction.atomic
def user_reactivate(*, by: User, user: User, reason: str) -> User:
    _check_reason(reason)
    user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    _check_may_manage(by, user)
    if user.is_active:
        raise AccountRefused(f"{user.username} is already active.")
    user.is_active = True
    audited_save(user, by=by, reason=f"Reactivated: {reason.strip()}")
    return user
