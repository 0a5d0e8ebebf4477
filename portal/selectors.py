"""Reads that join several apps for one page: the patient calendar (issue #16 point 3). Fixed query counts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from cohorts.models import Patient
from dosing.models import Cycle, Visit
from toxicity import dlt


@dataclass(frozen=True)
class CalendarRow:
    """One line of the calendar: a visit, or a mark (the DLT window, the cycle-2 deadline) on its date."""

    on: date
    label: str
    visit: Visit | None = None
    status: str = ""  # done, due, overdue, cancelled, upcoming; "" for a mark
    status_text: str = ""
    window: tuple[date, date] | None = None
    reason: str = ""
    order: int = 1  # among the rows of one day: 0 before the visits (the window opens), 2 after them
    in_dlt_window: bool = False  # a visit whose date (done, else planned) falls inside the DLT window

    @property
    def is_mark(self) -> bool:
        return self.visit is None


@dataclass
class CalendarBlock:
    title: str
    cycle: Cycle | None
    rows: list[CalendarRow] = field(default_factory=list)


@dataclass(frozen=True)
class PatientCalendar:
    blocks: list[CalendarBlock]
    dlt_window: tuple[date, date] | None
    c2_deadline: date | None


STATUS_TEXT = {"done": "Done", "due": "Due", "overdue": "Overdue", "cancelled": "Missed / cancelled", "upcoming": "Upcoming"}


def visit_status(visit: Visit, today: date) -> str:
    """done (done_on set), cancelled, overdue (window passed), due (today in the window), upcoming."""
    if visit.done_on is not None:
        return "done"
    if visit.cancelled:
        return "cancelled"
    if visit.expected_on + timedelta(days=visit.window_days) < today:
        return "overdue"
    if visit.expected_on - timedelta(days=visit.window_days) <= today:
        return "due"
    return "upcoming"


def _visit_row(visit: Visit, today: date) -> CalendarRow:
    status = visit_status(visit, today)
    text = STATUS_TEXT[status]
    if status == "done" and visit.out_of_window:
        text += ", out of window"
    label = f"Day {visit.day} visit" if visit.cycle_id else "Follow-up visit"
    window = (visit.expected_on - timedelta(days=visit.window_days), visit.expected_on + timedelta(days=visit.window_days))
    return CalendarRow(on=visit.expected_on, label=label, visit=visit, status=status, status_text=text, window=window, reason=visit.note)


def patient_calendar(patient: Patient, *, today: date) -> PatientCalendar:
    """Every planned and actual visit by cycle, then the follow-up visits, with the DLT window (cycle 1 day 1 to its
    last day) and the cycle-2 deadline (planned cycle 2 day 1 + the grace days, as toxicity/dlt.py counts them)
    as rows on their dates, and the visits that fall inside the DLT window flagged. 2 queries (the patient's trial is read from the patient)."""
    trial = patient.trial
    cycles = list(Cycle.objects.filter(patient=patient).order_by("number"))
    visits = list(Visit.objects.filter(patient=patient).order_by("expected_on", "id"))
    blocks = {c.pk: CalendarBlock(f"Cycle {c.number}", c) for c in cycles}
    follow_up = CalendarBlock("Follow-up", None)
    for v in visits:
        blocks.get(v.cycle_id, follow_up).rows.append(_visit_row(v, today))
    dlt_window = c2_deadline = None
    by_number = {c.number: c for c in cycles}
    if 1 in by_number:
        c1 = by_number[1]
        c2 = by_number.get(2)
        w = dlt.PatientWindow(
            cycle1_day1=c1.day1,
            baseline_anc=patient.baseline_anc,
            baseline_platelets=patient.baseline_platelets,
            baseline_marrow_pct=patient.baseline_marrow_pc_pct,
            c2d1_planned=c2.planned_day1 if c2 else c1.day1 + timedelta(days=trial.cycle_length_days),
            window_days=trial.dlt_window_days,
        )
        dlt_window, c2_deadline = (w.cycle1_day1, w.window_end), w.c2d1_deadline
        marks = [
            (w.cycle1_day1, f"DLT window opens (cycle 1 day 1; runs to {w.window_end:%Y-%m-%d})", 0),
            (w.window_end, f"DLT window ends (cycle 1 day {trial.dlt_window_days})", 2),
            (w.c2d1_deadline, f"Cycle 2 deadline (planned cycle 2 day 1 + {dlt.C2D1_GRACE_DAYS} days)", 2),
        ]
        for on, label, order in marks:
            # On the last cycle started by that date (the deadline falls in cycle 2 once it has started).
            started = [c for c in cycles if c.day1 <= on] or cycles[:1]
            blocks[started[-1].pk].rows.append(CalendarRow(on=on, label=label, order=order))
        start, end = dlt_window
        for b in blocks.values():
            b.rows = [replace(r, in_dlt_window=True) if r.visit and start <= (r.visit.done_on or r.on) <= end else r for r in b.rows]
    ordered = [blocks[c.pk] for c in cycles] + ([follow_up] if follow_up.rows else [])
    for b in ordered:
        b.rows.sort(key=lambda r: (r.on, r.order))
    return PatientCalendar(blocks=ordered, dlt_window=dlt_window, c2_deadline=c2_deadline)
