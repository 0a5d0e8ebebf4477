"""Failed passwords, limited per username and per address (issue #17 point 2), with django-axes.

A failed login is counted by axes itself (its authentication backend and signal handler). A failed *signature*
password (the password typed again to sign a decision) goes through `signature_failed`, so that the same five
failures lock the account, whichever form they were typed in; `is_locked` says whether a signature must be refused
before the password is even checked. Both use axes' own handler (its AccessAttempt rows), so the administrator sees
and clears signature failures where login failures are (Django admin, `axes_reset_username`).

    if throttle.is_locked(user, request):
        refuse with throttle.locked_message(user, request)
    if not user.check_password(password):
        throttle.signature_failed(user, request)
"""

from __future__ import annotations

from datetime import datetime

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

SIGNATURE_PATH = "signature"  # path_info of a signature attempt without a request (a task, a script)


def _request(request: HttpRequest | None, path: str = SIGNATURE_PATH) -> HttpRequest:
    """Axes needs a request (the address comes from it); without one (a service called from a script), a bare
    request: the failure then counts for the username only."""
    if request is not None:
        return request
    bare = HttpRequest()
    bare.path = bare.path_info = path
    bare.META["REMOTE_ADDR"] = ""
    return bare


def _credentials(user) -> dict:
    return {"username": user.get_username()}


def _address(request_or_attempt) -> str:
    return getattr(request_or_attempt, "axes_ip_address", None) or getattr(request_or_attempt, "ip_address", None) or ""


def lockout_parameters(request_or_attempt, credentials: dict | None = None) -> list[str]:
    """AXES_LOCKOUT_PARAMETERS: the username and, separately, the address; the username only when there is no
    address (a signature checked without a request), so that such failures of different users are not pooled."""
    return ["username", "ip_address"] if _address(request_or_attempt) else ["username"]


def signature_failed(user, request: HttpRequest | None = None) -> bool:
    """Count one failed signature password of `user` (from `request`'s address); True when this failure locks."""
    request = _request(request)
    AxesProxyHandler.user_login_failed(sender=signature_failed, credentials=_credentials(user), request=request)
    return bool(getattr(request, "axes_locked_out", False)) or is_locked(user, request)


def is_locked(user, request: HttpRequest | None = None) -> bool:
    """True while `user` (or the address of `request`) is locked out by failed logins or signatures."""
    request = _request(request)
    return AxesProxyHandler.is_locked(request, _credentials(user))


def locked_until(username: str, request: HttpRequest | None = None) -> datetime | None:
    """When the lockout of `username` or of the request's address ends (the last failure plus the cool-off)."""
    cool_off = get_cool_off(request)
    if not cool_off:
        return None
    queries = [Q(username=username)] if username else []
    if request is not None and _address(request):
        queries.append(Q(ip_address=_address(request)))
    if not queries:
        return None
    query = queries[0] if len(queries) == 1 else queries[0] | queries[1]
    since = timezone.now() - cool_off
    last = AccessAttempt.objects.filter(query, attempt_time__gte=since).aggregate(last=Max("attempt_time"))["last"]
    return last + cool_off if last else None


def locked_message(user, request: HttpRequest | None = None) -> str:
    until = locked_until(user.get_username(), request)
    when = f" until {timezone.localtime(until):%Y-%m-%d %H:%M %Z}" if until else ""
    return f"This account is locked{when} after {settings.AXES_FAILURE_LIMIT} wrong passwords. Try again then, or ask an administrator to unlock it."


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None) -> HttpResponse:
    """What a locked-out login gets (AXES_LOCKOUT_CALLABLE): the login page again, saying the account is locked and
    until when, with status 429 (never a bare 403 or a 500)."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    until = locked_until(username, request)
    context = {
        "locked": True,
        "locked_until": until,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "username": username,
        "next": request.POST.get("next", ""),
    }
    response = render(request, "registration/login.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
    if until:
        response["Retry-After"] = str(max(1, int((until - timezone.now()).total_seconds())))
    return response
