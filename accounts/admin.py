from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from simple_history.admin import SimpleHistoryAdmin

from .models import Site, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "first_name", "last_name", "role", "site", "is_active")
    list_filter = ("role", "site", "is_active")
    fieldsets = (*BaseUserAdmin.fieldsets, ("Trial role", {"fields": ("role", "site", "must_change_password")}))
    add_fieldsets = (*BaseUserAdmin.add_fieldsets, ("Trial role", {"fields": ("role", "site")}))


@admin.register(Site)
class SiteAdmin(SimpleHistoryAdmin):
    list_display = ("number", "name", "active")
