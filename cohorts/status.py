"""Patient status and its allowed transitions, declared as data (house style 11).

Pure Python: the service `patient_change_status` reads these tables and refuses
any move not listed. `ENROLLED` is reached only through `patient_enroll`.
"""

from enum import StrEnum


class StatusError(Exception):
    """A status move the protocol does not allow."""


class PatientStatus(StrEnum):
    SCREENING = "screening"
    ENROLLED = "enrolled"
    ON_TREATMENT = "on_treatment"
    OFF_TREATMENT = "off_treatment"
    FOLLOW_UP = "follow_up"
    OFF_STUDY = "off_study"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS = {
    PatientStatus.SCREENING: "Screening",
    PatientStatus.ENROLLED: "Enrolled",
    PatientStatus.ON_TREATMENT: "On treatment",
    PatientStatus.OFF_TREATMENT: "Off treatment",
    PatientStatus.FOLLOW_UP: "Follow-up",
    PatientStatus.OFF_STUDY: "Off study",
}

TRANSITIONS: dict[PatientStatus, frozenset[PatientStatus]] = {
    PatientStatus.SCREENING: frozenset({PatientStatus.ENROLLED, PatientStatus.OFF_STUDY}),
    PatientStatus.ENROLLED: frozenset({PatientStatus.ON_TREATMENT, PatientStatus.OFF_STUDY}),
    PatientStatus.ON_TREATMENT: frozenset({PatientStatus.OFF_TREATMENT}),
    PatientStatus.OFF_TREATMENT: frozenset({PatientStatus.FOLLOW_UP, PatientStatus.OFF_STUDY}),
    PatientStatus.FOLLOW_UP: frozenset({PatientStatus.OFF_STUDY}),
    PatientStatus.OFF_STUDY: frozenset(),
}

# Moves only a dedicated service may make (enrolment takes a slot under a lock).
SERVICE_ONLY = frozenset({PatientStatus.ENROLLED})

# Protocol s.1: treatment stops at progression, unacceptable toxicity or
# withdrawal of consent; death and investigator decision complete the list.
OFF_TREATMENT_REASONS = {
    "progression": "Disease progression",
    "toxicity": "Unacceptable toxicity",
    "withdrawal": "Withdrawal of consent",
    "death": "Death",
    "investigator": "Investigator decision",
}
OFF_STUDY_REASONS = {
    "screen_failure": "Screen failure (not eligible)",
    "withdrawal": "Withdrawal of consent",
    "follow_up_complete": "Follow-up complete (2 years after last dose)",
    "lost_to_follow_up": "Lost to follow-up",
    "death": "Death",
    "investigator": "Investigator decision",
}
REASONS: dict[PatientStatus, dict[str, str]] = {
    PatientStatus.OFF_TREATMENT: OFF_TREATMENT_REASONS,
    PatientStatus.OFF_STUDY: OFF_STUDY_REASONS,
}


def allowed_targets(current: str) -> list[PatientStatus]:
    """Statuses a person may move a patient to from `current`, in display order."""
    targets = TRANSITIONS[PatientStatus(current)] - SERVICE_ONLY
    return [s for s in PatientStatus if s in targets]


def check_transition(current: str, target: str, reason: str | None, *, by_service: bool = False) -> None:
    """Raise StatusError unless `current -> target` is allowed with this reason."""
    try:
        src, dst = PatientStatus(current), PatientStatus(target)
    except ValueError as exc:
        raise StatusError(f"Unknown status: {exc}") from exc
    if dst not in TRANSITIONS[src]:
        raise StatusError(f"A patient cannot move from {src.label} to {dst.label}.")
    if dst in SERVICE_ONLY and not by_service:
        raise StatusError(f"{dst.label} is set by enrolment, not by a status change.")
    reasons = REASONS.get(dst)
    if reasons is not None and reason not in reasons:
        raise StatusError(f"{dst.label} needs a reason: one of {', '.join(reasons.values())}.")
