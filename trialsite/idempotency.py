"""Idempotent API writes (issue #17, point 5): an `Idempotency-Key` header makes a retried POST safe.

The same key from the same user on the same endpoint (method and path) within WINDOW answers with the stored
status and body of the first request, with `Idempotent-Replayed: true`, and writes nothing. The same key with
another body is refused (422): a key names one request. The key row is inserted first, in the write's own
transaction: a concurrent request with the same key waits on the unique index, then finds the stored answer.
Without the header a write behaves as before. Only successful answers (2xx) are kept: a refused request may be
corrected and sent again with the same key.

Forms that create a record carry a one-time token (FORM_FIELD, a hidden field issued with the form) through
form_once, on the same table: the first successful POST stores the new record's URL; another POST with the same
token (a double click on Save, a resent form) writes nothing and is redirected to that record with a message.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from collections.abc import Callable
from datetime import timedelta

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from .api import error_body
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
WINDOW = timedelta(hours=24)
MAX_KEY = 255


def _hash(request) -> str:
    try:
        body = json.dumps(request.data, sort_keys=True, default=str)
    except TypeError:
        body = repr(request.data)
    return hashlib.sha256(body.encode()).hexdigest()


def _replay(stored: IdempotencyKey, digest: str) -> Response:
    if stored.request_hash != digest:
        detail = f"This {HEADER} was used for another request on this endpoint."
        return Response(error_body(422, "idempotency_key_reused", detail), status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    return Response(stored.response, status=stored.status_code, headers={"Idempotent-Replayed": "true"})


def _once(*, user_id: int, key: str, endpoint: str, digest: str, write, replay, busy):
    """Run `write()` at most once per (user, key, endpoint): it returns (response, answer to keep or None).

    The key is claimed first in a short transaction of its own (no answer yet: in progress), and the write runs
    outside it, in its own transaction as every service does: a refused write (a wrong signature password
    among them) is not rolled back together with what it must keep, such as the count of failed passwords.
    A write that raises or keeps nothing releases the claim, so the corrected request may use the key again.
    Another request holding the claim gets `busy()`; a completed one, `replay(stored)`."""
    mine = IdempotencyKey.objects.filter(user_id=user_id, key=key, endpoint=endpoint)
    mine.filter(created_at__lt=timezone.now() - WINDOW).delete()  # an expired key starts afresh (purge_expired: the rest)
    if (stored := mine.filter(status_code__isnull=False).first()) is not None:
        return replay(stored)
    try:
        with transaction.atomic():
            row = IdempotencyKey.objects.create(user_id=user_id, key=key, endpoint=endpoint, request_hash=digest)
    except IntegrityError:  # another request claimed it first
        stored = mine.filter(status_code__isnull=False).first()
        return replay(stored) if stored is not None else busy()
    try:
        response, kept = write()
    except BaseException:
        row.delete()
        raise
    if kept is None:
        row.delete()
    else:
        row.status_code, row.response = kept
        row.save(update_fields=["status_code", "response"])
    return response


def idempotent(request, write) -> Response:
    """Run `write()` (returning a DRF Response) at most once per (user, key, endpoint) within WINDOW."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return write()
    if len(key) > MAX_KEY or "\x00" in key:
        raise ValidationError({HEADER: [f"At most {MAX_KEY} characters, no NUL byte."]})
    digest = _hash(request)

    def run():
        response = write()
        ok = 200 <= response.status_code < 300
        return response, ((response.status_code, json.loads(json.dumps(response.data, default=str))) if ok else None)

    def busy() -> Response:
        detail = f"A request with this {HEADER} is still being processed: send it again in a moment."
        return Response(error_body(409, "idempotency_key_in_progress", detail), status=status.HTTP_409_CONFLICT)

    endpoint = f"{request.method} {request.path}"[:300]
    return _once(user_id=request.user.pk, key=key, endpoint=endpoint, digest=digest, write=run, replay=lambda stored: _replay(stored, digest), busy=busy)


def idempotent_action(method):
    """A viewset's POST action (sign, confirm, withdraw, retract, enrol, ...) answered once per `Idempotency-Key`, as
    `idempotent`: a retried signature after a lost answer gets the first answer instead of "already signed"."""

    @functools.wraps(method)
    def wrapper(self, request, *args, **kwargs):
        return idempotent(request, lambda: method(self, request, *args, **kwargs))

    return wrapper


def purge_expired(*, now=None) -> int:
    """Delete the keys and form tokens older than WINDOW (run nightly: pipeline.flow.nightly's task)."""
    return IdempotencyKey.objects.filter(created_at__lt=(now or timezone.now()) - WINDOW).delete()[0]


# ---------------------------------------------------------------- forms: a one-time token

FORM_FIELD = "form_token"


def form_token_new() -> str:
    """A fresh token for a hidden field of a form that creates a record (issued with the form, consumed on success)."""
    return secrets.token_urlsafe(24)


def form_token_for(request, action: str | None = None) -> str:
    """The token the posted form carries (kept while the form is shown again with errors), or a fresh one; with
    `action`, only when the form posted was that one (its hidden "action" field): a page's other forms get fresh
    ones. The templates' {% form_token %} (trialsite.templatetags.form_tokens) is the one caller."""
    posted = request.POST.get(FORM_FIELD, "") if request.method == "POST" and (action is None or request.POST.get("action") == action) else ""
    return posted if 0 < len(posted) <= MAX_KEY else form_token_new()  # (a NUL byte never gets here: trialsite.nulbytes)


def form_once(request, write: Callable[[], tuple[HttpResponse, str | None]], *, again: str) -> HttpResponse:
    """Run `write()` once per posted token: it returns the response (a redirect on success) and the URL of the record it
    made. A second POST with the same token (a double click, a resent form) writes nothing and is redirected to that
    record with the message `again` (to the same page while the first is still being saved). A ValidationError from
    `write` propagates with nothing kept: the token stays usable."""
    token = request.POST.get(FORM_FIELD, "")
    if not token or len(token) > MAX_KEY:
        return write()[0]

    def run():
        response, location = write()
        return response, ((response.status_code, {"location": location}) if location and 300 <= response.status_code < 400 else None)

    def replay(stored: IdempotencyKey) -> HttpResponse:
        messages.info(request, again)
        return redirect(stored.response["location"])

    def busy() -> HttpResponse:
        messages.info(request, "This form is being saved: the page shows it once it is.")
        return redirect(request.get_full_path())

    return _once(user_id=request.user.pk, key=token, endpoint=f"FORM {request.path}"[:300], digest="", write=run, replay=replay, busy=busy)
