"""One error format for the whole API (house style point 9), and its one pagination.

Every error answer is {"status": int, "code": str, "detail": str, "errors": {field: [messages]}}.
Every list is a page of {"next": url|null, "previous": url|null, "results": [...]} (KeysetPagination).
"""

from django.core.exceptions import BadRequest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.views import defaults
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = "non_field_errors" if key in ("__all__", "non_field_errors") else key
            if isinstance(value, dict):
                for sub, messages in _flatten(value).items():
                    out[f"{name}.{sub}"] = messages
            else:
                out[name] = [str(v) for v in (value if isinstance(value, list) else [value])]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {}


class ErrorSerializer(serializers.Serializer):
    """The error format, for the schema of answers that document it."""

    status = serializers.IntegerField()
    code = serializers.CharField()
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


def error_body(status_code: int, code: str, detail: str, errors: dict | None = None) -> dict:
    return {"status": status_code, "code": code, "detail": detail, "errors": errors or {}}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(error_body(exc.status, exc.code, exc.message), status=exc.status)
    if isinstance(exc, DjangoValidationError):
        errors = _flatten(exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages})
        return Response(error_body(400, "invalid", "Some values are invalid.", errors), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(response.status_code, "invalid", "Some values are invalid.", _flatten(exc.detail))
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        response.data = error_body(response.status_code, code if isinstance(code, str) else "error", str(detail))
    return response


# Django's own error views (ROOT_URLCONF handler400/403/404/500): under /api/ the answer is the API's JSON error
# format, also with DEBUG off where Django would render an HTML page (a URL no route matches, an exception
# outside DRF, a SuspiciousOperation such as a body too large); elsewhere the product's pages.


def _api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception=None, *, code: str = "bad_request", errors: dict | None = None):
    """The one 400 outside DRF's views: the API's error shape under /api/, the product's 400 page elsewhere. Django's
    handler400, and trialsite.nulbytes's refusal before any view (with its code and where the NUL was)."""
    # The product's own refusals (BadRequest, e.g. trialsite.http.as_int) say why; other SuspiciousOperations do not.
    message = str(exception) if type(exception) is BadRequest else "The request could not be understood."
    if _api(request):
        return JsonResponse(error_body(400, code, message, errors), status=400)
    return render(request, "400.html", {"message": message}, status=400)


def permission_denied(request, exception=None):
    if _api(request):
        return JsonResponse(error_body(403, "permission_denied", str(exception or "") or "Your role does not allow this."), status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception=None):
    if _api(request):
        return JsonResponse(error_body(404, "not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _api(request):
        return JsonResponse(error_body(500, "server_error", "A server error occurred; it has been logged."), status=500)
    return defaults.server_error(request)


class KeysetPagination(CursorPagination):
    """Every API list, a page at a time by keyset (issue #16): `WHERE key > last ORDER BY key LIMIT n`,
    so the last page costs what the first does and no page counts the whole list (offset pagination
    read and discarded every row before the page, and counted them all, on every page).

    The key is the view's `cursor_ordering` (default "pk": unique, indexed and never changed, so rows
    added or edited while a client walks the list are neither skipped nor repeated). It must be a
    column of the model itself (no `__` lookups) and unique, or nearly so: DRF's cursor keeps the
    position of the first field and an offset among rows tied on it. `?page_size=` up to 500."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "pk"

    def get_ordering(self, request, queryset, view):
        ordering = getattr(view, "cursor_ordering", self.ordering)
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """DRF's cursor, and its position must be a value of the key's column: a forged cursor whose position
        is not a number for a numeric key, or holds a NUL, would reach the database (a 500); it is an invalid
        cursor (404, as DRF answers any cursor it cannot read)."""
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        name = self.ordering[0].lstrip("-")
        field = self._model._meta.pk if name == "pk" else self._model._meta.get_field(name)
        try:
            if "\x00" in cursor.position:
                raise DjangoValidationError("NUL")
            position = field.to_python(cursor.position)
            if position is not None:
                field.run_validators(position)
        except (DjangoValidationError, TypeError, ValueError, OverflowError):
            raise exceptions.NotFound(self.invalid_cursor_message) from None
        return cursor


def signature_password_field(help_text: str = "The investigator's own password: the electronic signature") -> serializers.CharField:
    """The re-entered password of an electronic signature in an API write (checked by the service: trialsite.signatures)."""
    return serializers.CharField(help_text=help_text, style={"input_type": "password"}, allow_blank=True, trim_whitespace=False)
