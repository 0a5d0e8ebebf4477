from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, AdminUserCreationForm
from simple_history.admin import SimpleHistoryAdmin

from .models import Site, User


class PasswordSetByAdmin(AdminPasswordChangeForm):
    """A password an administrator sets is one-time: its user chooses their own at the next login."""

    def save(self, commit=True):
        self.user.must_change_password = True
        return super().save(commit)


class UserAddedByAdmin(AdminUserCreationForm):
    """A user an administrator adds with a password changes it at the first login."""

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("username",)

    def save(self, commit=True):
        self.instance.must_change_password = True
        return super().save(commit)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    change_password_form = PasswordSetByAdmin
    add_form = UserAddedByAdmin
    list_display = ("username", "first_name", "last_name", "role", "site", "is_active")
    list_filter = ("role", "site", "is_active")
    fieldsets = (*BaseUserAdmin.fieldsets, ("Trial role", {"fields": ("role", "site", "must_change_password")}))
    add_fieldsets = (*BaseUserAdmin.add_fieldsets, ("Trial role", {"fields": ("role", "site")}))


@admin.register(Site)
class SiteAdmin(SimpleHistoryAdmin):
    list_display = ("number", "name", "active")
