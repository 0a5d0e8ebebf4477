"""Roles and what each may do: one table, no Django import (house style point 2).

Coordinators are the only site-scoped role: they see and enter data for their
own site's patients. Every other role reads the whole trial.
"""

from enum import StrEnum


class Role(StrEnum):
    COORDINATOR = "coordinator"
    INVESTIGATOR = "investigator"
    DATA_MANAGER = "data_manager"
    MONITOR = "monitor"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.COORDINATOR: "Research coordinator",
    Role.INVESTIGATOR: "Investigator",
    Role.DATA_MANAGER: "Data manager",
    Role.MONITOR: "Monitor (read-only)",
    Role.ADMIN: "Administrator",
}


class Perm(StrEnum):
    VIEW = "view"  # read patients and trial pages
    ENTER_DATA = "enter_data"  # register, enrol, edit clinical data
    SIGN = "sign"  # sign escalation decisions
    ADJUDICATE = "adjudicate"  # confirm or reject DLT proposals
    EXPORT = "export"  # CSV exports
    QUERY = "query"  # raise and close data queries
    AUDIT = "audit"  # read the audit trail browser
    LOCK = "lock"  # lock and unlock data
    MANAGE = "manage"  # users, sites, protocol


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.COORDINATOR: frozenset({Perm.VIEW, Perm.ENTER_DATA}),
    Role.INVESTIGATOR: frozenset({Perm.VIEW, Perm.SIGN, Perm.ADJUDICATE, Perm.AUDIT}),
    Role.DATA_MANAGER: frozenset({Perm.VIEW, Perm.EXPORT, Perm.QUERY, Perm.AUDIT, Perm.LOCK}),
    Role.MONITOR: frozenset({Perm.VIEW, Perm.AUDIT}),
    Role.ADMIN: frozenset(Perm),
}

SITE_SCOPED_ROLES = frozenset({Role.COORDINATOR})


def has_perm(role: str | None, perm: Perm) -> bool:
    if role is None or role not in ROLE_PERMS:
        return False
    return perm in ROLE_PERMS[Role(role)]


def is_site_scoped(role: str | None) -> bool:
    return role in SITE_SCOPED_ROLES
