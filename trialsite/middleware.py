"""Middleware of the core: the product's own error pages, no caching of pages and API answers, idle sessions."""

from django.conf import settings
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.defaults import page_not_found


class ProductNotFoundMiddleware:
    """With DEBUG on, Django answers a 404 with its technical page (the URL patterns tried); `make run`
    serves with DEBUG on, and a person who follows a stale link there should see the product's own
    page, with its navigation, as in production (issue #16). With DEBUG off Django already renders
    templates/404.html. The API keeps its JSON error format; a 403 is never a debug page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code == 404
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith("/api/")
            and not getattr(response, "product_page", False)
        ):
            response = page_not_found(request, exception=None)
            response.product_page = True
        return response


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every page and API answer (issue #17 point 6): patient data never stays in a
    browser's or a proxy's cache; other directives an answer sets are kept. Static files are served before this
    (whitenoise) and keep their own caching."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_cache_control(response, no_store=True)
        return response


RENEWED = "_trialsite_renewed"  # in the session: when it was last renewed (seconds since the epoch)


class RenewSessionMiddleware:
    """Sessions end after SESSION_COOKIE_AGE idle (issue #17 point 2) without a write on every request.

    The stored session expires SESSION_COOKIE_AGE after its last save (the cookie itself ends with the browser,
    SESSION_EXPIRE_AT_BROWSER_CLOSE). Saving on every request (SESSION_SAVE_EVERY_REQUEST) cost three queries each;
    here a signed-in user's session is marked modified, so SessionMiddleware saves it and its expiry restarts, only
    when it was last renewed TRIALSITE_SESSION_RENEW_SECONDS ago or more. A session therefore ends between
    SESSION_COOKIE_AGE minus that minute and SESSION_COOKIE_AGE after the last request. Anonymous visitors get no
    session written. After AuthenticationMiddleware (it reads request.user)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(timezone.now().timestamp())
            renewed = request.session.get(RENEWED)
            if not isinstance(renewed, int) or now - renewed >= settings.TRIALSITE_SESSION_RENEW_SECONDS or renewed > now:
                request.session[RENEWED] = now
        return self.get_response(request)
