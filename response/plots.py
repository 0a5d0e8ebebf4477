"""SVG plots of the response tab, drawn on the server (no script, no CDN). Pure Python.

- waterfall: best % change from baseline in the driving parameter, one bar per
  patient from the largest increase to the largest decrease, coloured by best
  response; reference lines at -25, -50 and -90 %; the y axis is clipped to
  [-100, +100] % (a clipped bar carries a marker and its true value).
- swimmer: time on treatment per patient in months (days / 30.4375) from the
  start of that patient's treatment, coloured by dose level, with responses,
  progression, death and end of treatment marked at their dates.
- km_plot: Kaplan-Meier step curves with their 95% CI band and censoring ticks,
  and the numbers at risk below the plot. Inputs are plain tuples, independent
  of any survival library.

Every mark carries a <title> with its exact values, so the picture can be
checked. Text is escaped; each function returns a self-contained <svg> element,
or "" when there is nothing to draw.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from html import escape

SVG = 'xmlns="http://www.w3.org/2000/svg"'
WIDTH = 720
DAYS_PER_MONTH = 30.4375

# Best response categories, best first (IMWG), and their colours.
CATEGORY_ORDER = ("sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE")
CATEGORY_COLOURS = {
    "sCR": "#1a4d0f",
    "CR": "#2e7d32",
    "VGPR": "#66bb6a",
    "PR": "#a5d6a7",
    "MR": "#fff176",
    "SD": "#bdbdbd",
    "PD": "#d32f2f",
    "NE": "#eeeeee",
}
OTHER_COLOUR = "#9e9e9e"
REFERENCE_LINES = (-25, -50, -90)

# Dose levels (swimmer): light colours, so the dark markers stay visible on them.
LEVEL_COLOURS = ("#a6cee3", "#b2df8a", "#fdbf6f", "#cab2d6", "#fb9a99", "#ffff99", "#8dd3c7", "#bebada", "#d9d9d9", "#fccde5")
# Series (Kaplan-Meier): dark, distinguishable colours.
SERIES_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _num(x: float) -> str:
    """A number as a short exact-looking text: 6 ("6"), 2.5 ("2.5"), 1/3 ("0.333333")."""
    return f"{x:.6g}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _svg_open(kind: str, height: float, label: str, extra: str = "") -> list[str]:
    return [
        f'<svg {SVG} class="plot {kind}"{extra} viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
    ]


# --- waterfall ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WaterfallBar:
    patient: str
    change_pct: Decimal | None  # best % change from baseline; negative = reduction; None = not measurable
    category: str  # best response: sCR, CR, VGPR, PR, MR, SD, PD, NE
    level: str  # dose level label


W_LEFT, W_RIGHT, W_TOP, W_PLOT = 56, 64, 24, 300
W_LABELS = 78  # room for the patient labels under the plot


def _category_colour(category: str) -> str:
    return CATEGORY_COLOURS.get(category, OTHER_COLOUR)


def _w_y(v: float) -> float:
    """y of a % change on the [-100, +100] axis."""
    v = min(max(v, -100.0), 100.0)
    return W_TOP + W_PLOT * (100.0 - v) / 200.0


def _who(b: WaterfallBar) -> str:
    level = f", level {b.level}" if b.level else ""
    return f"{b.category}{level}"


def _w_axes() -> list[str]:
    right = WIDTH - W_RIGHT
    out = [f'<line x1="{W_LEFT}" y1="{W_TOP}" x2="{W_LEFT}" y2="{W_TOP + W_PLOT}" stroke="#888"/>']
    for v in (100, 50, 0, -50, -100):
        y = _w_y(v)
        out.append(f'<line class="y-tick" data-value="{v}" x1="{W_LEFT - 4}" y1="{y:.1f}" x2="{W_LEFT}" y2="{y:.1f}" stroke="#888"/>')
        out.append(f'<text x="{W_LEFT - 6}" y="{y + 3:.1f}" font-size="10" text-anchor="end">{f"{v:+d}" if v else "0"}%</text>')
    for v in REFERENCE_LINES:
        y = _w_y(v)
        out.append(
            f'<line class="ref" data-value="{v}" x1="{W_LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#777" stroke-dasharray="4 3">'
            f"<title>{v}% from baseline</title></line>"
        )
        out.append(f'<text x="{right + 4}" y="{y + 3:.1f}" font-size="10" fill="#555">{v}%</text>')
    out.append(
        f'<text x="12" y="{W_TOP + W_PLOT / 2:.1f}" font-size="10" text-anchor="middle" transform="rotate(-90 12 {W_TOP + W_PLOT / 2:.1f})">'
        "Best % change from baseline</text>"
    )
    return out


def _w_bar(b: WaterfallBar, change: Decimal, x: float, width: float) -> list[str]:
    value = float(change)
    exact = f"{change:f}"
    y0, yv = _w_y(0), _w_y(value)
    top, height = min(y0, yv), max(abs(yv - y0), 1.0)
    clipped = value > 100 or value < -100
    title = f"{escape(b.patient)}: {exact}% ({escape(_who(b))})" + (" — clipped at ±100% on the axis" if clipped else "")
    out = [
        f'<rect class="bar" data-patient="{escape(b.patient)}" data-change="{exact}" data-category="{escape(b.category)}" '
        f'data-clipped="{"true" if clipped else "false"}" x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" height="{height:.1f}" '
        f'fill="{_category_colour(b.category)}" stroke="#555" stroke-width="0.5"><title>{title}</title></rect>'
    ]
    if clipped:
        cx = x + width / 2
        tip, base = (W_TOP - 9, W_TOP - 2) if value > 100 else (W_TOP + W_PLOT + 9, W_TOP + W_PLOT + 2)
        out.append(
            f'<polygon class="clipped" data-patient="{escape(b.patient)}" points="{cx - 4:.1f},{base} {cx + 4:.1f},{base} {cx:.1f},{tip}" fill="#000">'
            f"<title>{title}</title></polygon>"
        )
    return out


def _w_legend(categories: list[str], y: float) -> list[str]:
    out, x = [], W_LEFT
    for c in categories:
        out.append(
            f'<rect class="legend-swatch" data-category="{escape(c)}" x="{x}" y="{y - 9:.1f}" width="10" height="10" fill="{_category_colour(c)}" '
            f'stroke="#555" stroke-width="0.5"/>'
        )
        out.append(f'<text x="{x + 14}" y="{y:.1f}" font-size="10">{escape(c)}</text>')
        x += 24 + 7 * len(c)
    return out


def _w_not_measurable(bars: list[WaterfallBar], y: float) -> list[str]:
    if not bars:
        return []
    out = [f'<text class="not-measurable-heading" x="{W_LEFT}" y="{y:.1f}" font-size="10" font-weight="bold">Not measurable ({len(bars)}):</text>']
    columns, col_w = 4, (WIDTH - W_LEFT - W_RIGHT) / 4
    for i, b in enumerate(bars):
        x, yy = W_LEFT + (i % columns) * col_w, y + 14 * (1 + i // columns)
        out.append(
            f'<text class="not-measurable" data-patient="{escape(b.patient)}" x="{x:.1f}" y="{yy:.1f}" font-size="10">'
            f"<title>{escape(b.patient)}: not measurable ({escape(_who(b))})</title>{escape(b.patient)} ({escape(_who(b))})</text>"
        )
    return out


def waterfall(bars: list[WaterfallBar]) -> str:
    """Best % change from baseline per patient, largest increase first; empty string when there are no patients."""
    if not bars:
        return ""
    measurable = sorted(((b, b.change_pct) for b in bars if b.change_pct is not None), key=lambda bc: -bc[1])
    unmeasurable = [b for b in bars if b.change_pct is None]
    present = {b.category for b in bars}
    categories = [c for c in CATEGORY_ORDER if c in present] + sorted(present - set(CATEGORY_ORDER))
    legend_y = W_TOP + W_PLOT + W_LABELS
    height = legend_y + 16 + (14 * (2 + math.ceil(len(unmeasurable) / 4)) if unmeasurable else 0)
    label = f"Waterfall plot: best % change from baseline for {len(measurable)} patient(s), {len(unmeasurable)} not measurable"
    out = _svg_open("waterfall", height, label)
    out += _w_axes()
    slot = (WIDTH - W_LEFT - W_RIGHT) / max(len(measurable), 1)
    width = max(slot * 0.8, 1.0)
    for i, (b, change) in enumerate(measurable):
        x = W_LEFT + i * slot + (slot - width) / 2
        out += _w_bar(b, change, x, width)
        if slot >= 8:
            cx, ly = x + width / 2, W_TOP + W_PLOT + 12
            out.append(
                f'<text x="{cx:.1f}" y="{ly}" font-size="{min(9, slot - 1):.0f}" text-anchor="end" transform="rotate(-90 {cx:.1f} {ly})">'
                f"{escape(b.patient[:14])}</text>"
            )
    out.append(f'<line class="zero-line" x1="{W_LEFT}" y1="{_w_y(0):.1f}" x2="{WIDTH - W_RIGHT}" y2="{_w_y(0):.1f}" stroke="#333"/>')
    out += _w_legend(categories, legend_y)
    out += _w_not_measurable(unmeasurable, legend_y + 28)
    out.append("</svg>")
    return "".join(out)


# --- summaries beyond a readable number of patients (issue #16) ------------------------------------


def _count_bar(cls: str, data: str, x: float, y: float, width: float, height: float, fill: str, title: str) -> str:
    return (
        f'<rect class="{cls}" {data} x="{x:.1f}" y="{y:.1f}" width="{max(width, 0.0):.1f}" height="{max(height, 0.0):.1f}" fill="{fill}" '
        f'stroke="#555" stroke-width="0.5"><title>{escape(title)}</title></rect>'
    )


def waterfall_summary(bands: list[tuple[str, dict[str, int]]]) -> str:
    """Patients by band of best % change (best first), each bar stacked by best response; "" when nobody has a course.
    What the waterfall becomes beyond a readable number of bars: every patient counted, none drawn alone."""
    total = sum(n for _, counts in bands for n in counts.values())
    if not total:
        return ""
    present = {c for _, counts in bands for c, n in counts.items() if n}
    categories = [c for c in CATEGORY_ORDER if c in present] + sorted(present - set(CATEGORY_ORDER))
    top = max(sum(counts.values()) for _, counts in bands) or 1
    left, plot_h, plot_top = W_LEFT, 220, W_TOP
    slot = (WIDTH - W_LEFT - W_RIGHT) / len(bands)
    height = plot_top + plot_h + 60
    out = _svg_open("waterfall-summary", height, f"Waterfall summary: {total} patient(s) by band of best % change from baseline and best response")
    out.append(f'<line x1="{left}" y1="{plot_top + plot_h}" x2="{WIDTH - W_RIGHT}" y2="{plot_top + plot_h}" stroke="#888"/>')
    for i, (band, counts) in enumerate(bands):
        x, n_band = left + i * slot + slot * 0.1, sum(counts.values())
        y = float(plot_top + plot_h)
        for c in categories:
            n = counts.get(c, 0)
            if n:
                h = plot_h * n / top
                y -= h
                out.append(
                    _count_bar(
                        "band",
                        f'data-band="{escape(band)}" data-category="{escape(c)}" data-n="{n}"',
                        x,
                        y,
                        slot * 0.8,
                        h,
                        _category_colour(c),
                        f"{band}: {n} patient(s) with best response {c}",
                    )
                )
        out.append(f'<text class="band-n" x="{x + slot * 0.4:.1f}" y="{y - 4:.1f}" font-size="10" text-anchor="middle">{n_band}</text>')
        out.append(f'<text x="{x + slot * 0.4:.1f}" y="{plot_top + plot_h + 14}" font-size="9" text-anchor="middle">{escape(band)}</text>')
    out += _w_legend(categories, plot_top + plot_h + 40)
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class LevelSummary:
    """The swimmer's patients of one dose level, counted: started treatment, still on it, responded, progressed, died."""

    level: str
    started: int
    on_treatment: int
    responded: int
    progressed: int
    died: int


SUMMARY_KINDS = (("started", "#bdbdbd"), ("on_treatment", "#a6cee3"), ("responded", "#204a87"), ("progressed", "#cc0000"), ("died", "#000000"))


def swimmer_summary(levels: list[LevelSummary]) -> str:
    """Per dose level, how many patients started, are on treatment, responded, progressed and died: what the
    swimmer becomes beyond a readable number of lanes; "" when nobody started."""
    if not any(s.started for s in levels):
        return ""
    top = max(s.started for s in levels) or 1
    row, bar = 16, 12
    group = row * len(SUMMARY_KINDS) + 10
    plot_w = WIDTH - S_LEFT - S_RIGHT - 40
    height = S_TOP + group * len(levels) + 24
    total = sum(s.started for s in levels)
    out = _svg_open("swimmer-summary", height, f"Swimmer summary: {total} patient(s) who started treatment, by dose level")
    for i, s in enumerate(levels):
        y0 = S_TOP + i * group
        out.append(f'<text x="{S_LEFT - 60}" y="{y0 + group / 2:.1f}" font-size="11" font-weight="bold" text-anchor="end">level {escape(s.level)}</text>')
        for j, (kind, colour) in enumerate(SUMMARY_KINDS):
            n, y = getattr(s, kind), y0 + j * row
            name = kind.replace("_", " ")
            out.append(f'<text x="{S_LEFT - 6}" y="{y + 10:.1f}" font-size="9" text-anchor="end">{name}</text>')
            data = f'data-level="{escape(s.level)}" data-kind="{kind}" data-n="{n}"'
            out.append(_count_bar("level-count", data, S_LEFT, y, plot_w * n / top, bar, colour, f"level {s.level}: {n} {name}"))
            out.append(f'<text x="{S_LEFT + plot_w * n / top + 4:.1f}" y="{y + 10:.1f}" font-size="9">{n}</text>')
    out.append("</svg>")
    return "".join(out)


# --- swimmer --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    on: date
    kind: str  # "response" (label e.g. "PR"), "progression", "death", "off_treatment", ...
    label: str = ""


@dataclass(frozen=True)
class SwimLane:
    patient: str
    level: str
    start: date  # day 0: start of treatment
    end: date | None  # end of treatment; None = ongoing (drawn to today)
    on_treatment: bool
    marks: tuple[Mark, ...] = ()


S_LEFT, S_RIGHT, S_TOP, S_BOTTOM = 110, 40, 14, 42
MARK_NAMES = {"response": "Response", "progression": "Progression", "death": "Death", "off_treatment": "Off treatment"}


def _months(start: date, day: date) -> float:
    return (day - start).days / DAYS_PER_MONTH


def _level_key(level: str) -> tuple[int, float, str]:
    try:
        return (0, float(level), level)
    except ValueError:
        return (1, 0.0, level)


def _month_step(span: float) -> float:
    for step in (1, 2, 3, 6, 12, 24):
        if span / step <= 12:
            return step
    return 48


def _mark_class(kind: str) -> str:
    return "mark-" + (re.sub(r"[^A-Za-z0-9_-]", "-", kind) or "other")


def _mark_shape(kind: str, label: str) -> str:
    """The symbol of a mark, centred on (0, 0)."""
    if kind == "progression":
        return '<polygon points="0,-6 6,0 0,6 -6,0" fill="#cc0000" stroke="#fff" stroke-width="0.5"/>'
    if kind == "death":
        return '<rect x="-4.5" y="-4.5" width="9" height="9" fill="#000"/>'
    if kind == "off_treatment":
        return '<line x1="0" y1="-7" x2="0" y2="7" stroke="#333" stroke-width="2.5"/>'
    text = f'<text x="5" y="-5" font-size="9" font-weight="bold">{escape(label)}</text>' if label else ""
    fill = "#204a87" if kind == "response" else "#777"
    return f'<polygon points="0,-5 5,4 -5,4" fill="{fill}" stroke="#fff" stroke-width="0.5"/>{text}'


def _s_lane(lane: SwimLane, colour: str, top: float, row: int, today: date, x: Callable[[float], float]) -> list[str]:
    end = lane.end or today
    ongoing = lane.end is None or lane.on_treatment
    months = max(_months(lane.start, end), 0.0)
    x0, x1 = x(0), x(months)
    mid = top + row / 2
    until = f"{end.isoformat()} (ongoing)" if ongoing else end.isoformat()
    name = escape(lane.patient)
    out = [
        f'<text x="{S_LEFT - 6}" y="{mid + 3:.1f}" font-size="10" text-anchor="end">{escape(lane.patient[:16])}</text>',
        f'<rect class="lane" data-patient="{name}" data-level="{escape(lane.level)}" data-ongoing="{"true" if ongoing else "false"}" '
        f'x="{x0:.1f}" y="{top + 4:.1f}" width="{max(x1 - x0, 1.0):.1f}" height="{row - 8}" fill="{colour}" stroke="#555" stroke-width="0.5">'
        f"<title>{name} (level {escape(lane.level)}): {lane.start.isoformat()} to {until}, {(end - lane.start).days} days = {_num(round(months, 2))} months"
        "</title></rect>",
    ]
    if ongoing:
        out.append(
            f'<polygon class="ongoing" data-patient="{name}" points="{x1 + 1:.1f},{top + 3:.1f} {x1 + 10:.1f},{mid:.1f} {x1 + 1:.1f},{top + row - 3:.1f}" '
            f'fill="#333"><title>{name}: on treatment, ongoing at {end.isoformat()}</title></polygon>'
        )
    for m in sorted(lane.marks, key=lambda m: m.on):
        days = (m.on - lane.start).days
        mx = x(max(days / DAYS_PER_MONTH, 0.0))
        what = escape(m.label or MARK_NAMES.get(m.kind, m.kind))
        out.append(
            f'<g class="mark {_mark_class(m.kind)}" data-kind="{escape(m.kind)}" data-patient="{name}" data-date="{m.on.isoformat()}" '
            f'transform="translate({mx:.1f},{mid:.1f})"><title>{name}: {m.on.isoformat()} (day {days}): {what}</title>'
            f"{_mark_shape(m.kind, m.label)}</g>"
        )
    return out


def _s_axis(x: Callable[[float], float], span: float, step: float, y: float) -> list[str]:
    out = [f'<line x1="{x(0):.1f}" y1="{y:.1f}" x2="{x(span):.1f}" y2="{y:.1f}" stroke="#888"/>']
    for i in range(int(span / step) + 1):
        tx = x(i * step)
        out.append(f'<line class="x-tick" data-month="{_num(i * step)}" x1="{tx:.1f}" y1="{y:.1f}" x2="{tx:.1f}" y2="{y + 4:.1f}" stroke="#888"/>')
        out.append(f'<text x="{tx:.1f}" y="{y + 15:.1f}" font-size="10" text-anchor="middle">{_num(i * step)}</text>')
    mid = (x(0) + x(span)) / 2
    out.append(f'<text x="{mid:.1f}" y="{y + 30:.1f}" font-size="10" text-anchor="middle">Months from start of treatment</text>')
    return out


def _s_legend(levels: list[str], colours: dict[str, str], kinds: list[str], y: float) -> list[str]:
    out, lx = [], S_LEFT
    for level in levels:
        out.append(
            f'<rect class="legend-level" data-level="{escape(level)}" x="{lx}" y="{y - 9:.1f}" width="12" height="10" fill="{colours[level]}" '
            'stroke="#555" stroke-width="0.5"/>'
        )
        out.append(f'<text x="{lx + 16}" y="{y:.1f}" font-size="10">level {escape(level)}</text>')
        lx += 52 + 6 * len(level)
    lx = S_LEFT
    for kind in kinds:
        out.append(
            f'<g class="legend-mark" data-kind="{escape(kind)}" transform="translate({lx + 5},{y + 14:.1f})">{_mark_shape(kind, "")}</g>'
            f'<text x="{lx + 14}" y="{y + 18:.1f}" font-size="10">{escape(MARK_NAMES.get(kind, kind))}</text>'
        )
        lx += 30 + 6 * len(MARK_NAMES.get(kind, kind))
    return out


def swimmer(lanes: list[SwimLane], *, today: date, row_height: int = 22) -> str:
    """Time on treatment per patient (in the order given), from each patient's day 0; empty string when there are no lanes."""
    if not lanes:
        return ""
    span = max([_months(lane.start, lane.end or today) for lane in lanes] + [_months(lane.start, m.on) for lane in lanes for m in lane.marks] + [1.0])
    step = _month_step(span)
    span = step * math.ceil(span / step)
    plot_w = WIDTH - S_LEFT - S_RIGHT

    def x(months: float) -> float:
        return S_LEFT + plot_w * months / span

    levels = sorted({lane.level for lane in lanes}, key=_level_key)
    colours = {level: LEVEL_COLOURS[i % len(LEVEL_COLOURS)] for i, level in enumerate(levels)}
    kinds = sorted({m.kind for lane in lanes for m in lane.marks}, key=lambda k: (list(MARK_NAMES).index(k) if k in MARK_NAMES else 99, k))
    plot_h = row_height * len(lanes)
    height = S_TOP + plot_h + S_BOTTOM + 20 + (20 if kinds else 0)
    out = _svg_open("swimmer", height, f"Swimmer plot: time on treatment in months for {len(lanes)} patient(s), by dose level")
    for i, lane in enumerate(lanes):
        out += _s_lane(lane, colours[lane.level], S_TOP + i * row_height, row_height, today, x)
    out += _s_axis(x, span, step, S_TOP + plot_h)
    out += _s_legend(levels, colours, kinds, S_TOP + plot_h + S_BOTTOM + 8)
    out.append("</svg>")
    return "".join(out)


# --- Kaplan-Meier ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KmSeries:
    """One Kaplan-Meier estimate as plain numbers.

    `times` are the event times (ascending) and `survival[i]` is S just after
    `times[i]`; `lower`/`upper` the 95% CI at the same times (None or NaN: no
    band is drawn for the series). S is 1 before the first event. `at_risk` is
    either a function of time giving the number at risk, or a tuple aligned with
    the `times_at_risk` passed to km_plot.
    """

    name: str
    times: tuple[float, ...]
    survival: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    censored_times: tuple[float, ...]
    at_risk: Callable[[float], int] | tuple[int, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.times)
        if not (len(self.survival) == len(self.lower) == len(self.upper) == n):
            raise ValueError(f"{self.name}: times, survival, lower and upper must have the same length")
        if any(b < a for a, b in zip(self.times, self.times[1:], strict=False)):
            raise ValueError(f"{self.name}: times must be ascending")

    def survival_at(self, t: float) -> float:
        """S(t), right-continuous: the value after the last event at or before t."""
        i = bisect_right(self.times, t)
        return self.survival[i - 1] if i else 1.0

    def at_risk_values(self, times_at_risk: list[float]) -> list[int]:
        if callable(self.at_risk):
            return [self.at_risk(t) for t in times_at_risk]
        if len(self.at_risk) != len(times_at_risk):
            raise ValueError(f"{self.name}: {len(self.at_risk)} numbers at risk for {len(times_at_risk)} times")
        return list(self.at_risk)

    def end(self) -> float:
        return max([0.0, *self.times, *self.censored_times])


K_LEFT, K_RIGHT, K_TOP, K_PLOT = 96, 20, 34, 240
K_ROW = 16


def _finite(values: tuple[float, ...]) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _steps(times: tuple[float, ...], values: tuple[float, ...], end: float) -> list[tuple[float, float]]:
    """The corners of a step function that is 1 from time 0 and drops to values[i] at times[i], drawn to `end`."""
    points, prev = [(0.0, 1.0)], 1.0
    for t, v in zip(times, values, strict=True):
        points += [(t, prev), (t, v)]
        prev = v
    points.append((max(end, points[-1][0]), prev))
    out: list[tuple[float, float]] = []
    for p in points:
        if not out or p != out[-1]:
            out.append(p)
    return out


def _nice_ticks(end: float) -> list[float]:
    raw = end / 6
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(end / step + 1e-9) + 1)]


def _k_series(s: KmSeries, colour: str, fx: Callable[[float], float], fy: Callable[[float], float]) -> list[str]:
    name = escape(s.name)
    curve = _steps(s.times, s.survival, s.end())
    out = []
    if s.times and _finite(s.lower) and _finite(s.upper):
        upper = _steps(s.times, s.upper, s.end())
        lower = _steps(s.times, s.lower, s.end())
        points = " ".join(f"{fx(t):.1f},{fy(v):.1f}" for t, v in upper + lower[::-1])
        out.append(
            f'<polygon class="km-ci" data-series="{name}" points="{points}" fill="{colour}" fill-opacity="0.15" stroke="none">'
            f"<title>{name}: 95% confidence interval</title></polygon>"
        )
    path = "M" + " L".join(f"{fx(t):.1f},{fy(v):.1f}" for t, v in curve)
    steps = "; ".join(f"{_num(t)}: {_pct(v)}" for t, v in zip(s.times, s.survival, strict=True)) or "no events"
    out.append(
        f'<path class="km-curve" data-series="{name}" d="{path}" fill="none" stroke="{colour}" stroke-width="1.8">'
        f"<title>{name}: S(t) after each event: {steps}</title></path>"
    )
    for t, v, lo, hi in zip(s.times, s.survival, s.lower, s.upper, strict=True):
        ci = f" (95% CI {_pct(lo)}–{_pct(hi)})" if _finite((lo, hi)) else ""
        out.append(
            f'<circle class="km-step" data-series="{name}" data-time="{_num(t)}" data-survival="{_num(v)}" cx="{fx(t):.1f}" cy="{fy(v):.1f}" r="3" '
            f'fill="{colour}" fill-opacity="0" pointer-events="all"><title>{name} at {_num(t)}: S = {_pct(v)}{ci}</title></circle>'
        )
    for t in s.censored_times:
        cx, cy = fx(t), fy(s.survival_at(t))
        out.append(
            f'<line class="censor" data-series="{name}" data-time="{_num(t)}" x1="{cx:.1f}" y1="{cy - 4:.1f}" x2="{cx:.1f}" y2="{cy + 4:.1f}" '
            f'stroke="{colour}" stroke-width="1.2"><title>{name}: censored at {_num(t)} (S = {_pct(s.survival_at(t))})</title></line>'
        )
    return out


def _k_axes(ticks: list[float], x_label: str, fx: Callable[[float], float], fy: Callable[[float], float]) -> list[str]:
    bottom, right = fy(0), WIDTH - K_RIGHT
    out = [
        f'<line x1="{K_LEFT}" y1="{fy(1):.1f}" x2="{K_LEFT}" y2="{bottom:.1f}" stroke="#888"/>',
        f'<line x1="{K_LEFT}" y1="{bottom:.1f}" x2="{right}" y2="{bottom:.1f}" stroke="#888"/>',
    ]
    for v in (0, 0.25, 0.5, 0.75, 1):
        y = fy(v)
        out.append(f'<line class="y-tick" data-value="{v:g}" x1="{K_LEFT - 4}" y1="{y:.1f}" x2="{K_LEFT}" y2="{y:.1f}" stroke="#888"/>')
        out.append(f'<text x="{K_LEFT - 6}" y="{y + 3:.1f}" font-size="10" text-anchor="end">{100 * v:.0f}%</text>')
    out.append(
        f'<line class="median-line" x1="{K_LEFT}" y1="{fy(0.5):.1f}" x2="{right}" y2="{fy(0.5):.1f}" stroke="#999" stroke-dasharray="1 3">'
        "<title>50% (median)</title></line>"
    )
    for t in ticks:
        out.append(f'<line class="x-tick" data-time="{_num(t)}" x1="{fx(t):.1f}" y1="{bottom:.1f}" x2="{fx(t):.1f}" y2="{bottom + 4:.1f}" stroke="#888"/>')
        out.append(f'<text x="{fx(t):.1f}" y="{bottom + 15:.1f}" font-size="10" text-anchor="middle">{_num(t)}</text>')
    out.append(f'<text x="{(K_LEFT + right) / 2:.1f}" y="{bottom + 30:.1f}" font-size="10" text-anchor="middle">{escape(x_label)}</text>')
    mid = (fy(1) + bottom) / 2
    out.append(f'<text x="14" y="{mid:.1f}" font-size="10" text-anchor="middle" transform="rotate(-90 14 {mid:.1f})">Probability</text>')
    return out


def _k_legend(curves: list[KmSeries], colours: list[str]) -> list[str]:
    out, x = [], K_LEFT
    for s, colour in zip(curves, colours, strict=True):
        out.append(f'<line class="legend-series" data-series="{escape(s.name)}" x1="{x}" y1="12" x2="{x + 18}" y2="12" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{x + 22}" y="16" font-size="10">{escape(s.name)}</text>')
        x += 40 + 6 * len(s.name)
    return out


def _k_at_risk(curves: list[KmSeries], colours: list[str], times_at_risk: list[float], fx: Callable[[float], float], top: float) -> list[str]:
    if not times_at_risk:
        return []
    out = [f'<text class="at-risk-heading" x="4" y="{top:.1f}" font-size="10" font-weight="bold">Number at risk</text>']
    for i, (s, colour) in enumerate(zip(curves, colours, strict=True)):
        y, name = top + K_ROW * (i + 1), escape(s.name)
        out.append(f'<text x="{K_LEFT - 14}" y="{y:.1f}" font-size="10" text-anchor="end" fill="{colour}"><title>{name}</title>{escape(s.name[:14])}</text>')
        for t, n in zip(times_at_risk, s.at_risk_values(times_at_risk), strict=True):
            out.append(
                f'<text class="at-risk" data-series="{name}" data-time="{_num(t)}" x="{fx(t):.1f}" y="{y:.1f}" font-size="10" text-anchor="middle">'
                f"{_num(n)}</text>"
            )
    return out


def _thin(s: KmSeries, fx: Callable[[float], float]) -> KmSeries:
    """The series as drawn: at most one event step (the last) and one censoring tick (the first) per pixel column
    (issue #16). Steps closer than a pixel cannot be told apart on the plot, and without this the SVG grew with
    the number of distinct event and censoring times, that is with the patients and their follow-up."""
    last: dict[int, int] = {}
    for i, t in enumerate(s.times):
        last[round(fx(t))] = i
    keep = sorted(last.values())
    ticks: dict[int, float] = {}
    for t in sorted(s.censored_times):
        ticks.setdefault(round(fx(t)), t)
    if len(keep) == len(s.times) and len(ticks) == len(s.censored_times):
        return s
    return replace(
        s,
        times=tuple(s.times[i] for i in keep),
        survival=tuple(s.survival[i] for i in keep),
        lower=tuple(s.lower[i] for i in keep),
        upper=tuple(s.upper[i] for i in keep),
        censored_times=tuple(ticks.values()),
    )


def km_plot(curves: list[KmSeries], *, x_label: str, times_at_risk: list[float]) -> str:
    """Kaplan-Meier curves with 95% CI bands, censoring ticks and the numbers at risk; empty string when there are no curves."""
    if not curves:
        return ""
    end = max([s.end() for s in curves] + list(times_at_risk))
    ticks = sorted(times_at_risk) if times_at_risk else _nice_ticks(end or 1.0)
    end = max(end, ticks[-1]) or 1.0
    plot_w = WIDTH - K_LEFT - K_RIGHT

    def fx(t: float) -> float:
        return K_LEFT + plot_w * t / end

    def fy(v: float) -> float:
        return K_TOP + K_PLOT * (1 - v)

    colours = [SERIES_COLOURS[i % len(SERIES_COLOURS)] for i in range(len(curves))]
    table_top = K_TOP + K_PLOT + 52
    height = table_top + (K_ROW * len(curves) + 8 if times_at_risk else -30)
    names = ", ".join(s.name for s in curves)
    out = _svg_open("km-plot", height, f"Kaplan-Meier estimates ({names}) against {x_label}")
    out += _k_legend(curves, colours)
    out += _k_axes(ticks, x_label, fx, fy)
    for s, colour in zip(curves, colours, strict=True):
        out += _k_series(_thin(s, fx), colour, fx, fy)
    out += _k_at_risk(curves, colours, list(times_at_risk), fx, table_top)
    out.append("</svg>")
    return "".join(out)
