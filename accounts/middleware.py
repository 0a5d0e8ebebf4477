"""A password someone else has seen must be changed before anything else (issue #16)."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from trialsite.api import error_body


class ForcePasswordChangeMiddleware:
    """A user with `must_change_password` (invited, reset by an administrator, a demo user) reaches only
    the password page and logout until they have chosen their own password. Pages redirect there (with
    `next`); the API, reached with the session, answers 403 in its error format. Token-authenticated API
    calls are DRF's: the token belongs to a script, whose password nobody types."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.must_change_password and not self._exempt(request.path):
            if request.path.startswith("/api/"):
                detail = "Change your password first (it was given to you by someone else)."
                return JsonResponse(error_body(403, "password_change_required", detail), status=403)
            target = reverse("password_change")
            if request.method == "GET" and request.path != reverse("home"):
                target += "?" + urlencode({"next": request.get_full_path()})
            return redirect(target)
        return self.get_response(request)

    @staticmethod
    def _exempt(path: str) -> bool:
        return path in {reverse("password_change"), reverse("logout")} or path.startswith("/" + settings.STATIC_URL.lstrip("/"))
