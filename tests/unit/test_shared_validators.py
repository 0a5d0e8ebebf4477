"""One rule for the forms, the API and the services (issue #17, point 5): initials, as a table."""

import pytest

from cohorts.registration import check_registration, initials_error


@pytest.mark.parametrize(
    ("value", "ok"),
    [("AB", True), ("abc", True), ("ABCD", True), (" AB ", True), ("A", False), ("ABCDE", False), ("A1", False), ("A-B", False), ("", False), ("  ", False)],
)
def test_initials_are_two_to_four_letters(value, ok):
    assert (initials_error(value) is None) is ok


def test_registration_checks_carry_the_initials_rule():
    from datetime import date

    assert check_registration({"initials": "J2"}, today=date(2026, 1, 1)) == {"initials": ["Initials are 2 to 4 letters."]}
    assert check_registration({"initials": "JD"}, today=date(2026, 1, 1)) == {}
