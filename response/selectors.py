"""Reads for the response pages: stored results only (dashboards never compute a response)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Case, CharField, Count, Value, When

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


# Patients drawn per plot (issue #16). At 720 px a waterfall of 50 bars still has 12.5 px a bar and its
# rotated study id (labels need 8 px), and a swimmer of 50 lanes of 22 px is about a screen and a half; 50 is
# also a page of the patient list and of the API. Beyond it the plots show a summary of every patient (counted
# in SQL) and the bars and lanes of one page of 50, chosen by level, site and page.
PLOT_CAP = 50

# The waterfall's summary: bands of the best % change between the reference lines (IMWG 2016: MR -25%,
# PR -50%, VGPR -90% on serum) and +25% (the size of an increase that is progression), best first.
CHANGE_BANDS = ("≤ -90%", "-90% to -50%", "-50% to -25%", "-25% to 0%", "0% to +25%", "≥ +25%", "not measurable")


@dataclass(frozen=True)
class PlotView:
    """Which patients the waterfall and swimmer draw: a dose level, a site, a page of PLOT_CAP (by study id)."""

    level: int | None = None
    site: str | None = None
    page: int = 1

    @classmethod
    def from_query(cls, query) -> PlotView:
        """From a request's GET parameters; a value that is not a number is ignored (the whole trial, page 1)."""

        def number(name: str) -> int | None:
            value = query.get(name, "").strip()
            digits = value.removeprefix("-")
            # isdigit() is also true of "²", which int() refuses; more than 9 digits is no level nor page.
            return int(value) if digits.isascii() and digits.isdecimal() and len(digits) <= 9 else None

        site = query.get("site", "").strip()
        return cls(level=number("level"), site=site if site.isascii() and site.isdecimal() else None, page=max(number("page") or 1, 1))

    def query(self, **changes) -> str:
        """The GET parameters of this view with some changed ("" for the whole trial, page 1)."""
        from urllib.parse import urlencode

        values = {"level": self.level, "site": self.site, "page": self.page} | changes
        if values["page"] == 1:
            values["page"] = None
        return urlencode({k: v for k, v in values.items() if v is not None})


def _visible_patients(trial: Trial, user: User, view: PlotView):
    """The enrolled patients the user may see in this view, with their enrolment and level."""
    patients = cohort_selectors.patients_for_user(user, trial)
    if view.level is not None:
        patients = patients.filter(enrolment__level__label=view.level)
    if view.site is not None:
        patients = patients.filter(site__number=view.site)
    return patients.filter(enrolment__isnull=False).select_related(None).select_related("enrolment__level")


def _visible(trial: Trial, user: User, view: PlotView):
    """The ids of the patients the user may see in this view (a subquery)."""
    return _visible_patients(trial, user, view).values("pk")


def _band():
    change = "best_change_pct"
    return Case(
        When(**{f"{change}__isnull": True}, then=Value(CHANGE_BANDS[6])),
        When(**{f"{change}__lte": -90}, then=Value(CHANGE_BANDS[0])),
        When(**{f"{change}__lte": -50}, then=Value(CHANGE_BANDS[1])),
        When(**{f"{change}__lte": -25}, then=Value(CHANGE_BANDS[2])),
        When(**{f"{change}__lte": 0}, then=Value(CHANGE_BANDS[3])),
        When(**{f"{change}__lt": 25}, then=Value(CHANGE_BANDS[4])),
        default=Value(CHANGE_BANDS[5]),
        output_field=CharField(),
    )


def summary_counts(trial: Trial) -> dict:
    """The plots' summaries counted in SQL over every enrolled patient of the trial, by site and dose level (three
    GROUP BY queries; rows bounded by sites x levels x bands x categories, not by patients). Stored with the
    endpoints snapshot (response.services.endpoints_compute, the pipeline's endpoints stage, which every change
    they read leads to: courses, enrolments, cycles, stops, follow-up), so that a dashboard or a download only
    adds up these rows for its view (`_summary`), at any trial size.
    enrolled: [site id, site number, level, patients] (what the plots page through); bands: [site id, site number,
    level, band, best, patients]; lanes: [site id, site number, level, started, off treatment, responded,
    progressed, died]."""
    enrolled = Patient.objects.filter(trial=trial, enrolment__isnull=False).values("pk")
    site, number, level = "patient__site_id", "patient__site__number", "patient__enrolment__level__label"
    bands = (
        ResponseResult.objects.filter(patient__in=enrolled)
        .annotate(band=_band())
        .values(site, number, level, "band", "best")
        .annotate(n=Count("pk"))
        .order_by(site, level, "band", "best")
    )
    lanes = (
        Enrolment.objects.filter(patient__trial=trial, patient__cycles__number=1)
        .values(site, number, "level__label")
        .annotate(
            started=Count("pk"),
            off=Count("patient__off_treatment"),
            responded=Count("patient__response__first_response_on"),
            progressed=Count("patient__response__progression_on"),
            died=Count("patient__follow_up__death_on"),
        )
        .order_by(site, "level__label")
    )
    enrolled = Enrolment.objects.filter(patient__trial=trial).values(site, number, "level__label").annotate(n=Count("pk")).order_by(site, "level__label")
    return {
        "enrolled": [[r[site], r[number], str(r["level__label"]), r["n"]] for r in enrolled],
        "bands": [[r[site], r[number], str(r[level]), r["band"], r["best"], r["n"]] for r in bands],
        "lanes": [[r[site], r[number], str(r["level__label"]), r["started"], r["off"], r["responded"], r["progressed"], r["died"]] for r in lanes],
    }


def _summary(snapshot: EndpointSnapshot | None, user: User, view: PlotView) -> dict:
    """The summaries of the view (the user's sites, the level and site chosen), added up from the counts stored
    with the endpoints snapshot (`summary_counts`): no query, the same work at any trial size. A snapshot stored
    before these counts were (or none yet) summarises nobody until the pipeline next computes the endpoints."""
    counts = (snapshot.data.get("summary") if snapshot is not None else None) or {"bands": [], "lanes": []}

    def shown(site_id: int, number: str, level: str) -> bool:
        if user.site_scoped and site_id != user.site_id:
            return False
        if view.site is not None and number != view.site:
            return False
        return view.level is None or level == str(view.level)

    bands: dict[str, dict[str, int]] = {b: {} for b in CHANGE_BANDS}
    for site_id, number, level, band, best, n in counts["bands"]:
        if shown(site_id, number, level):
            bands[band][best] = bands[band].get(best, 0) + n
    by_level: dict[str, list[int]] = {}
    for site_id, number, level, *values in counts["lanes"]:
        if shown(site_id, number, level):
            by_level[level] = [a + b for a, b in zip(by_level.get(level, [0] * 5), values, strict=True)]
    lanes = [
        plots.LevelSummary(level, started, started - off, responded, progressed, died)
        for level, (started, off, responded, progressed, died) in sorted(by_level.items(), key=lambda kv: int(kv[0]))
    ]
    bars = [(b, bands[b]) for b in CHANGE_BANDS]
    enrolled = sum(n for site_id, number, level, n in counts["enrolled"] if shown(site_id, number, level)) if "enrolled" in counts else None
    return {
        "bands": bars,
        "levels": lanes,
        "courses": sum(sum(c.values()) for c in bands.values()),
        "started": sum(r.started for r in lanes),
        "enrolled": enrolled,
    }


def _patient_plots(
    trial: Trial, user: User, view: PlotView, *, today: date, enrolled: int | None
) -> tuple[list[plots.WaterfallBar], list[plots.SwimLane], int, int, int]:
    """The page's patients (at most PLOT_CAP, by study id) with their stored best response and course: the
    waterfall bars, the swimmer lanes, the index of the page's first patient, how many patients the page and the view
    have (five queries). A page beyond the last is the last, as the patient list does.

    The view's patients are counted from the rows stored with the endpoints (`enrolled`, from `_summary`); only a
    snapshot stored before those rows counts them in SQL. The page is read in study-id order from the patients'
    unique study-id index, the enrolment and level joined to each (no sort of every enrolment of the view): the first
    page, what the downloads draw, reads the PLOT_CAP rows it draws, whatever the number of patients."""
    visible = _visible(trial, user, view)
    total = enrolled if enrolled is not None else Patient.objects.filter(pk__in=visible).count()
    first = (min(view.page, max(-(-total // PLOT_CAP), 1)) - 1) * PLOT_CAP
    page = list(_visible_patients(trial, user, view).order_by("study_id")[first : first + PLOT_CAP])
    enrolments = {p.pk: p.enrolment for p in page}
    ids = list(enrolments)
    courses = ResponseResult.objects.filter(patient_id__in=ids).only("patient_id", "best", "best_change_pct", "confirmed", "progression_on")
    results = {r.patient_id: r for r in courses}
    day1 = dict(Cycle.objects.filter(patient_id__in=ids, number=1).values_list("patient_id", "day1"))
    off = {o.patient_id: o for o in OffTreatment.objects.filter(patient_id__in=ids)}
    follow = {f.patient_id: f for f in FollowUp.objects.filter(patient_id__in=ids)}
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
    return bars, lanes, first, len(enrolments), total


def dashboard(trial: Trial, user: User, *, today: date, view: PlotView | None = None) -> dict:
    """The trial's stored endpoints and what the dashboard draws (never computes a response); the same
    number of queries at any trial size."""
    view = view or PlotView()
    snapshot = latest_snapshot(trial)
    summary = _summary(snapshot, user, view)
    bars, lanes, first, on_page, total = _patient_plots(trial, user, view, today=today, enrolled=summary["enrolled"])
    pages = max(-(-total // PLOT_CAP), 1)
    view = PlotView(level=view.level, site=view.site, page=first // PLOT_CAP + 1)
    return {
        "snapshot": snapshot,
        "waterfall": plots.waterfall(bars),
        "swimmer": plots.swimmer(lanes, today=today),
        "summarised": total > PLOT_CAP,
        "waterfall_summary": plots.waterfall_summary(summary["bands"]) if total > PLOT_CAP else "",
        "swimmer_summary": plots.swimmer_summary(summary["levels"]) if total > PLOT_CAP else "",
        "summary": summary,
        "view": view,
        "plot_query": view.query(),
        "shown": (first + 1 if on_page else 0, first + on_page, total),
        "plot_cap": PLOT_CAP,
        "pages": pages,
        "previous_query": view.query(page=view.page - 1) if view.page > 1 else None,
        "next_query": view.query(page=view.page + 1) if view.page < pages else None,
        "levels": list(trial.levels.order_by("order").values_list("label", flat=True)),
        "sites": list(cohort_selectors.sites_for_user(user).values_list("number", flat=True)),
        "pfs": km_svg(snapshot, *KM_PLOTS["pfs"]),
        "ttnt": km_svg(snapshot, *KM_PLOTS["ttnt"]),
        "job": latest_job(trial),
        "results": summary["courses"],
    }


SUMMARY_PLOTS = ("waterfall-summary", "swimmer-summary")


def plot_svg(trial: Trial, user: User, name: str, *, today: date, view: PlotView | None = None) -> str:
    """One of the dashboard's plots (a download), built alone: the waterfall or swimmer of the view's page,
    their summaries over every patient of the view, or a Kaplan-Meier curve (KM_PLOTS)."""
    view = view or PlotView()
    if name in KM_PLOTS:
        return km_svg(latest_snapshot(trial), *KM_PLOTS[name])
    summary = _summary(latest_snapshot(trial), user, view)
    if name in SUMMARY_PLOTS:
        return plots.waterfall_summary(summary["bands"]) if name == "waterfall-summary" else plots.swimmer_summary(summary["levels"])
    bars, lanes, *_ = _patient_plots(trial, user, view, today=today, enrolled=summary["enrolled"])
    return plots.waterfall(bars) if name == "waterfall" else plots.swimmer(lanes, today=today)
