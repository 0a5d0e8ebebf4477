"""Reads for the response pages: stored results only (dashboards never compute a response)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from accounts.models import User
from cohorts import selectors as cohort_selectors
from cohorts.models import Enrolment, Patient, Trial
from dosing.models import Cycle, OffTreatment

from . import plots
from .models import EndpointSnapshot, FollowUp, MyelomaAssessment, RecomputeJob, ResponseResult


@dataclass
class AssessmentRow:
    assessment: MyelomaAssessment
    result: dict | None
    dflc: Decimal | None = None  # involved - uninvolved, the involved chain of the stored course's baseline


def patient_response(patient: Patient) -> dict:
    assessments = list(MyelomaAssessment.objects.filter(patient=patient).order_by("on"))
    result = ResponseResult.objects.filter(patient=patient).first()
    by_date = {r["on"]: r for r in result.rows()} if result else {}
    involved = result.baseline.get("involved") if result else None
    rows = [AssessmentRow(a, by_date.get(a.on.isoformat()), a.dflc(involved)) for a in assessments]
    day1 = Cycle.objects.filter(patient=patient, number=1).values_list("day1", flat=True).first()
    return {"rows": rows, "result": result, "involved": involved, "follow_up": FollowUp.objects.filter(patient=patient).first(), "cycle1_day1": day1}


def _km_series(name: str, summary: dict) -> plots.KmSeries | None:
    curve = summary.get("curve")
    if not curve:
        return None
    events = [t for t, e in zip(curve["times"], curve["events"], strict=True) if e]
    keep = [i for i, e in enumerate(curve["events"]) if e]
    at_risk = curve["at_risk"]
    return plots.KmSeries(
        name=name,
        times=tuple(events),
        survival=tuple(curve["survival"][i] for i in keep),
        lower=tuple(curve["lower"][i] if curve["lower"][i] is not None else float("nan") for i in keep),
        upper=tuple(curve["upper"][i] if curve["upper"][i] is not None else float("nan") for i in keep),
        censored_times=tuple(curve["censored_times"]),
        at_risk=lambda t, at_risk=at_risk: at_risk.get(str(int(t)) if float(t).is_integer() else str(t), 0),
    )


def km_svg(snapshot: EndpointSnapshot | None, endpoint: str, x_label: str) -> str:
    if snapshot is None:
        return ""
    series = [_km_series("All patients", snapshot.data["overall"][endpoint])]
    series += [_km_series(f"Level {level}", group[endpoint]) for level, group in snapshot.data["by_level"].items()]
    series = [s for s in series if s is not None]
    return plots.km_plot(series, x_label=x_label, times_at_risk=[float(m) for m in snapshot.data["at_risk_months"]]) if series else ""


def latest_snapshot(trial: Trial) -> EndpointSnapshot | None:
    return EndpointSnapshot.objects.filter(trial=trial).order_by("-computed_at").first()


def latest_job(trial: Trial) -> RecomputeJob | None:
    return RecomputeJob.objects.filter(trial=trial).order_by("-requested_at").first()


KM_PLOTS = {
    "pfs": ("pfs", "Months from cycle 1 day 1"),
    "ttnt": ("ttnt", "Months from cycle 1 day 1"),
    "ttp": ("ttp", "Months from first confirmed response"),
}


def _patient_plots(trial: Trial, user: User, *, today: date) -> tuple[list[plots.WaterfallBar], list[plots.SwimLane], int]:
    """Per visible patient the stored best response and course: the waterfall bars, the swimmer lanes, the
    number of stored courses (five queries)."""
    visible = cohort_selectors.patients_for_user(user, trial)
    enrolments = {e.patient_id: e for e in Enrolment.objects.filter(patient__in=visible.values("pk")).select_related("patient", "level")}
    results = {r.patient_id: r for r in ResponseResult.objects.filter(patient_id__in=list(enrolments))}
    day1 = dict(Cycle.objects.filter(patient_id__in=list(enrolments), number=1).values_list("patient_id", "day1"))
    off = {o.patient_id: o for o in OffTreatment.objects.filter(patient_id__in=list(enrolments))}
    follow = {f.patient_id: f for f in FollowUp.objects.filter(patient_id__in=list(enrolments))}
    bars, lanes = [], []
    for pid, e in sorted(enrolments.items(), key=lambda kv: kv[1].patient.study_id):
        r = results.get(pid)
        level = str(e.level.label)
        if r is not None:
            bars.append(plots.WaterfallBar(e.patient.study_id, Decimal(r.best_change_pct) if r.best_change_pct is not None else None, r.best, level))
        if pid in day1:
            marks = []
            if r is not None:
                seen = set()
                for category, on in r.confirmed:
                    if category != "PD" and category not in seen:
                        seen.add(category)
                        marks.append(plots.Mark(date.fromisoformat(on), "response", category))
                if r.progression_on:
                    marks.append(plots.Mark(r.progression_on, "progression", "PD"))
            f = follow.get(pid)
            if f and f.death_on:
                marks.append(plots.Mark(f.death_on, "death", "death"))
            o = off.get(pid)
            if o:
                marks.append(plots.Mark(o.decided_on, "off_treatment", "off treatment"))
            lanes.append(plots.SwimLane(e.patient.study_id, level, day1[pid], o.last_dose_on if o else None, o is None, tuple(marks)))
    lanes.sort(key=lambda lane: ((lane.end or today) - lane.start).days, reverse=True)
    return bars, lanes, len(results)


def dashboard(trial: Trial, user: User, *, today: date) -> dict:
    """The trial's stored endpoints and what the dashboard draws (never computes a response)."""
    bars, lanes, results = _patient_plots(trial, user, today=today)
    snapshot = latest_snapshot(trial)
    return {
        "snapshot": snapshot,
        "waterfall": plots.waterfall(bars),
        "swimmer": plots.swimmer(lanes, today=today),
        "pfs": km_svg(snapshot, *KM_PLOTS["pfs"]),
        "ttnt": km_svg(snapshot, *KM_PLOTS["ttnt"]),
        "job": latest_job(trial),
        "results": results,
    }


def plot_svg(trial: Trial, user: User, name: str, *, today: date) -> str:
    """One of the dashboard's plots (a download), built alone: waterfall, swimmer, or a Kaplan-Meier curve (KM_PLOTS)."""
    if name in KM_PLOTS:
        return km_svg(latest_snapshot(trial), *KM_PLOTS[name])
    bars, lanes, _ = _patient_plots(trial, user, today=today)
    return plots.waterfall(bars) if name == "waterfall" else plots.swimmer(lanes, today=today)
