import pytest

from cohorts.status import TRANSITIONS, PatientStatus, StatusError, allowed_targets, check_transition

S = PatientStatus


@pytest.mark.parametrize(
    ("current", "target", "reason"),
    [
        (S.SCREENING, S.OFF_STUDY, "screen_failure"),
        (S.ENROLLED, S.ON_TREATMENT, None),
        (S.ENROLLED, S.OFF_STUDY, "withdrawal"),
        (S.ON_TREATMENT, S.OFF_TREATMENT, "progression"),
        (S.ON_TREATMENT, S.OFF_TREATMENT, "toxicity"),
        (S.ON_TREATMENT, S.OFF_TREATMENT, "death"),
        (S.OFF_TREATMENT, S.FOLLOW_UP, None),
        (S.FOLLOW_UP, S.OFF_STUDY, "follow_up_complete"),
    ],
)
def test_declared_moves_are_allowed(current, target, reason):
    check_transition(current, target, reason)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.SCREENING, S.ON_TREATMENT),
        (S.ON_TREATMENT, S.SCREENING),
        (S.OFF_STUDY, S.SCREENING),
        (S.OFF_STUDY, S.ON_TREATMENT),
        (S.FOLLOW_UP, S.ON_TREATMENT),
        (S.OFF_TREATMENT, S.ON_TREATMENT),
    ],
)
def test_undeclared_moves_are_refused(current, target):
    with pytest.raises(StatusError, match="cannot move"):
        check_transition(current, target, "investigator")


def test_enrolled_is_reached_only_through_the_enrolment_service():
    with pytest.raises(StatusError, match="set by enrolment"):
        check_transition(S.SCREENING, S.ENROLLED, None)
    check_transition(S.SCREENING, S.ENROLLED, None, by_service=True)


@pytest.mark.parametrize("reason", [None, "", "because", "follow_up_complete"])
def test_off_treatment_needs_one_of_its_reasons(reason):
    with pytest.raises(StatusError, match="needs a reason"):
        check_transition(S.ON_TREATMENT, S.OFF_TREATMENT, reason)


def test_off_study_is_final():
    assert TRANSITIONS[S.OFF_STUDY] == frozenset()
    assert allowed_targets(S.OFF_STUDY) == []


def test_allowed_targets_hide_service_only_moves():
    assert allowed_targets(S.SCREENING) == [S.OFF_STUDY]
