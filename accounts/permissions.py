"""Role checks for views and the API, in one place."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .roles import Perm


def role_required(perm: Perm):
    """Login required, then the role must grant `perm`; otherwise 403."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.can(perm):
                raise PermissionDenied(f"Your role does not allow this ({perm.value}).")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


class HasRole(BasePermission):
    """Reads need Perm.VIEW; writes need the view's `write_perm` (default ENTER_DATA)."""

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if request.method in SAFE_METHODS:
            return user.can(getattr(view, "read_perm", Perm.VIEW))
        return user.can(getattr(view, "write_perm", Perm.ENTER_DATA))
