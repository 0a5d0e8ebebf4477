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
        return Response(
            {"detail": f"This {HEADER} was used for another request on this endpoint.", "code": "idempotency_key_reused"},
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    return Response(stored.response, status=stored.status_code, headers={"Idempotent-Replayed": "true"})


def idempotent(request, write) -> Response:
    """Run `write()` (returning a DRF Response) at most once per (user, key, endpoint) within WINDOW."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return write()
    if len(key) > MAX_KEY or "\x00" in key:
        raise ValidationError({HEADER: [f"At most {MAX_KEY} characters, no NUL byte."]})
    endpoint = f"{request.method} {request.path}"[:300]
    digest = _hash(request)
    mine = IdempotencyKey.objects.filter(user_id=request.user.pk, key=key, endpoint=endpoint)
    mine.filter(created_at__lt=timezone.now() - WINDOW).delete()  # an expired key starts afresh
    stored = mine.filter(status_code__isnull=False).first()
    if stored is not None:
        return _replay(stored, digest)
    try:
        with transaction.atomic():
            row = IdempotencyKey.objects.create(user_id=request.user.pk, key=key, endpoint=endpoint, request_hash=digest)
            response = write()
            if 200 <= response.status_code < 300:
                row.status_code, row.response = response.status_code, json.loads(json.dumps(response.data, default=str))
                row.save(update_fields=["status_code", "response"])
            else:
                transaction.set_rollback(True)
            return response
    except IntegrityError:
        # A concurrent request with the same key committed first: answer with what it stored.
        stored = mine.filter(status_code__isnull=False).first()
        if stored is None:
            raise
        return _replay(stored, digest)


# ---------------------------------------------------------------- forms: a one-time token

FORM_FIELD = "form_token"


def form_token_new() -> str:
    """A fresh token for a hidden field of a form that creates a record (issued with the form, consumed on success)."""
    return secrets.token_urlsafe(24)


def form_token(request) -> str:
    """The token the posted form carries (kept while the form is shown again with errors), or a fresh one."""
    posted = request.POST.get(FORM_FIELD, "") if request.method == "POST" else ""
    return posted if 0 < len(posted) <= MAX_KEY and "\x00" not in posted else form_token_new()


def form_once(request, write: Callable[[], tuple[HttpResponse, str | None]], *, again: str) -> HttpResponse:
    """Run `write()` once per posted token: it returns the response (a redirect on success) and the URL of the record it
    made. A second POST with the same token (a double click, a resent form) writes nothing and is redirected to that
    record with the message `again`. A ValidationError from `write` propagates with nothing kept: the token stays usable."""
    token = request.POST.get(FORM_FIELD, "")
    if not token or len(token) > MAX_KEY or "\x00" in token:
        return write()[0]
    endpoint = f"FORM {request.path}"[:300]
    mine = IdempotencyKey.objects.filter(user_id=request.user.pk, key=token, endpoint=endpoint, status_code__isnull=False)

    def replay(stored: IdempotencyKey) -> HttpResponse:
        messages.info(request, again)
        return redirect(stored.response["location"])

    if (stored := mine.first()) is not None:
        return replay(stored)
    try:
        with transaction.atomic():
            row = IdempotencyKey.objects.create(user_id=request.user.pk, key=token, endpoint=endpoint, request_hash="")
            response, location = write()
            if location and 300 <= response.status_code < 400:
                row.status_code, row.response = response.status_code, {"location": location}
                row.save(update_fields=["status_code", "response"])
            else:
                transaction.set_rollback(True)
            return response
    except IntegrityError:
        if (stored := mine.first()) is None:
            raise
        return replay(stored)
