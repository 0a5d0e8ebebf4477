"""Refuse a NUL character anywhere in a request (issue #17 point 3).

PostgreSQL cannot store NUL (0x00) in text, and psycopg raises ValueError on a string literal that holds one:
without this check a NUL in a path, a query value or a form or JSON value reached the database as a 500.
No field of the product may hold one, so the whole request is refused before any view runs: 400 in the API's
error format under /api/, the product's 400 page elsewhere. One check at the door, rather than one in every field."""

import json
from typing import Any

from django.core.exceptions import BadRequest

from .api import bad_request

MESSAGE = "The request contains a NUL character (0x00), which no value may hold."


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _where(request) -> str | None:
    """Where the request holds a NUL ("path", "query" or "body"), or None."""
    if "\x00" in request.path or "\x00" in request.path_info:
        return "path"
    if any(_has_nul(key) or _has_nul(values) for key, values in request.GET.lists()):
        return "query"
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    content_type = request.content_type or ""
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return "body" if any(_has_nul(key) or _has_nul(values) for key, values in request.POST.lists()) else None
    body = request.body
    if b"\x00" in body:
        return "body"
    if content_type.endswith("json") and b"\\u0000" in body.lower():
        try:
            return "body" if _has_nul(json.loads(body)) else None
        except ValueError:  # the parser of the view answers a body that is not JSON
            return None
    return None


class RefuseNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        where = _where(request)
        if where is None:
            return self.get_response(request)
        return bad_request(request, BadRequest(MESSAGE), code="invalid", errors={where: [MESSAGE]})
