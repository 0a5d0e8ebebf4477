from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from .roles import Perm, Role, has_perm, is_site_scoped


class Site(models.Model):
    """A research site. Its number goes into every study id (BPD-01-003)."""

    number = models.CharField(max_length=2, unique=True, help_text="Two digits, e.g. 01")
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(condition=Q(number__regex=r"^[0-9]{2}$"), name="site_number_two_digits"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class User(AbstractUser):
    role = models.CharField(max_length=20, choices=[("", "No role"), *((r.value, r.label) for r in Role)], blank=True, default="")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="staff")
    # Set for a password someone else has seen (an invitation, an administrator's reset, a demo user's printed
    # password); the person must choose their own before anything else (accounts.middleware). Off by default,
    # so users made by factories and fixtures log in as before.
    must_change_password = models.BooleanField(default=False, help_text="The password was given by someone else; it must be changed at the next login.")
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(role=Role.COORDINATOR) | Q(site__isnull=False),
                name="coordinator_has_site",
            ),
        ]

    def can(self, perm: Perm) -> bool:
        if not self.is_active:
            return False
        if self.is_superuser:
            return True
        return has_perm(self.role, perm)

    @property
    def site_scoped(self) -> bool:
        return not self.is_superuser and is_site_scoped(self.role)

    @property
    def role_label(self) -> str:
        if self.is_superuser:
            return Role.ADMIN.label
        return Role(self.role).label if self.role else "No role"
