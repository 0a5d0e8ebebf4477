import pytest

from accounts.roles import ROLE_PERMS, Perm, Role, has_perm, is_site_scoped


@pytest.mark.parametrize(
    ("role", "perm", "allowed"),
    [
        (Role.COORDINATOR, Perm.ENTER_DATA, True),
        (Role.COORDINATOR, Perm.SIGN, False),
        (Role.INVESTIGATOR, Perm.SIGN, True),
        (Role.INVESTIGATOR, Perm.ENTER_DATA, False),
        (Role.DATA_MANAGER, Perm.EXPORT, True),
        (Role.DATA_MANAGER, Perm.ENTER_DATA, False),
        (Role.MONITOR, Perm.VIEW, True),
        (Role.MONITOR, Perm.ENTER_DATA, False),
        (Role.ADMIN, Perm.MANAGE, True),
        ("", Perm.VIEW, False),
        (None, Perm.VIEW, False),
        ("surgeon", Perm.VIEW, False),
    ],
)
def test_role_table(role, perm, allowed):
    assert has_perm(role, perm) is allowed


def test_every_role_can_view_and_only_coordinators_are_site_scoped():
    assert all(Perm.VIEW in perms for perms in ROLE_PERMS.values())
    assert [r for r in Role if is_site_scoped(r)] == [Role.COORDINATOR]


def test_monitor_is_read_only():
    assert ROLE_PERMS[Role.MONITOR] == {Perm.VIEW, Perm.AUDIT}
