"""Account pages (issue #16): a person's own password; the administrator's users page (invite, edit,
reset a password, deactivate). Thin views: form -> service -> response (house style point 7)."""

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from trialsite.errors import DomainError
from trialsite.forms import apply_errors

from . import selectors, services
from .forms import InviteForm, OwnPasswordForm, ReasonForm, UserEditForm
from .models import User
from .permissions import role_required
from .roles import Perm


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    return target if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()) else ""


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def password_change(request):
    form = OwnPasswordForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_password_change(user=request.user, new_password=form.cleaned_data["new_password1"])
        except ValidationError as error:
            form.add_error("new_password1", error)
        else:
            update_session_auth_hash(request, user)  # stay logged in here, log out every other session
            messages.success(request, "Your password is changed.")
            return redirect(_next(request) or "home")
    return render(request, "accounts/password_change.html", {"form": form, "forced": request.user.must_change_password, "next": _next(request)})


@role_required(Perm.MANAGE)
def user_list(request):
    return render(request, "accounts/user_list.html", {"users": selectors.users_for_admin()})


def _one_time(request, user: User, password: str, what: str):
    """The one-time password, shown on this answer only (never stored in clear, never in a URL or a message)."""
    response = render(request, "accounts/one_time_password.html", {"account": user, "password": password, "what": what})
    response["Cache-Control"] = "no-store"
    return response


@role_required(Perm.MANAGE)
@require_http_methods(["GET", "POST"])
def user_invite(request):
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user, password = services.user_invite(by=request.user, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            return _one_time(request, user, password, "invited")
    return render(request, "accounts/user_invite.html", {"form": form})


@role_required(Perm.MANAGE)
@require_http_methods(["GET", "POST"])
def user_detail(request, pk):
    account = get_object_or_404(User.objects.select_related("site"), pk=pk)
    initial = {"first_name": account.first_name, "last_name": account.last_name, "email": account.email, "role": account.role, "site": account.site}
    form = UserEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(by=request.user, user=account, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"{account.username} is saved.")
            return redirect("user_detail", pk=account.pk)
    return render(
        request,
        "accounts/user_detail.html",
        {"account": account, "form": form, "reason_form": ReasonForm(), "history": selectors.user_history(account)},
    )


def _reason_action(request, pk, action, done: str):
    account = get_object_or_404(User, pk=pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why (a few words): the reason is kept in the account's history.")
        return redirect("user_detail", pk=account.pk)
    try:
        result = action(by=request.user, user=account, reason=form.cleaned_data["reason"])
    except (ValidationError, DomainError) as error:
        messages.error(request, getattr(error, "message", None) or "; ".join(error.messages))
        return redirect("user_detail", pk=account.pk)
    if isinstance(result, str):
        return _one_time(request, account, result, "reset")
    messages.success(request, f"{account.username} is {done}.")
    return redirect("user_detail", pk=account.pk)


@role_required(Perm.MANAGE)
@require_POST
def user_reset(request, pk):
    return _reason_action(request, pk, services.user_password_reset, "reset")


@role_required(Perm.MANAGE)
@require_POST
def user_deactivate(request, pk):
    return _reason_action(request, pk, services.user_deactivate, "deactivated")


@role_required(Perm.MANAGE)
@require_POST
def user_reactivate(request, pk):
    return _reason_action(request, pk, services.user_reactivate, "reactivated")
