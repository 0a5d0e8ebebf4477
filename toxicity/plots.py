"""SVG plots of the safety tab, drawn on the server (no script, no CDN). Pure Python.

- lab_plot: one count over time (ANC or platelets, x10^9/L) on a linear scale,
  with the CTCAE v5.0 grade bands behind it and the DLT window shaded. Every
  point carries its date and value as a tooltip, so the picture can be checked.
- ae_timeline: one row per adverse event, one bar per episode from onset to
  resolution (or to today, open-ended), coloured by grade.
Text is escaped; the output is a self-contained <svg> element.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from html import escape

from . import ctcae

GRADE_COLOURS = {1: "#cfe8cf", 2: "#fbe3a1", 3: "#f6b26b", 4: "#b3261e", 5: "#5b0f00"}
BAND_COLOURS = {1: "#f4faf4", 2: "#fdf6e3", 3: "#fcebd9", 4: "#f9dede"}

# (grade, lower bound, upper bound) in x10^9/L: the CTCAE v5.0 grading of toxicity.ctcae.
ANC_BANDS = ctcae.grade_bands("anc")
PLATELET_BANDS = ctcae.grade_bands("platelets")

WIDTH, LEFT, RIGHT, TOP, BOTTOM = 720, 56, 16, 14, 30


@dataclass(frozen=True)
class Episode:
    grade: int
    onset: date
    resolved: date | None
    label: str = ""


@dataclass(frozen=True)
class EventRow:
    name: str
    episodes: tuple[Episode, ...]


def _span(start: date, end: date) -> tuple[date, date]:
    if end <= start:
        end = start + timedelta(days=1)
    return start, end


def _x(day: date, start: date, end: date) -> float:
    width = WIDTH - LEFT - RIGHT
    return LEFT + width * (day - start).days / max((end - start).days, 1)


def _ticks(start: date, end: date) -> list[date]:
    days = (end - start).days
    step = 7 if days <= 70 else 14 if days <= 140 else 28 if days <= 365 else 91
    return [start + timedelta(days=i) for i in range(0, days + 1, step)]


def _axis(start: date, end: date, y: float) -> list[str]:
    out = [f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" stroke="#888"/>']
    for t in _ticks(start, end):
        x = _x(t, start, end)
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 4}" stroke="#888"/>')
        out.append(f'<text x="{x:.1f}" y="{y + 16}" font-size="10" text-anchor="middle">{t.strftime("%m-%d")}</text>')
    return out


def _window(start: date, end: date, window: tuple[date, date] | None, height: float) -> list[str]:
    if window is None:
        return []
    a, b = max(window[0], start), min(window[1] + timedelta(days=1), end)
    if b <= a:
        return []
    x1, x2 = _x(a, start, end), _x(b, start, end)
    return [
        f'<rect class="dlt-window" x="{x1:.1f}" y="{TOP}" width="{x2 - x1:.1f}" height="{height}" fill="none" stroke="#3465a4" stroke-dasharray="4 3">'
        f"<title>DLT window {window[0].isoformat()} to {window[1].isoformat()}</title></rect>",
        f'<text x="{x1 + 3:.1f}" y="{TOP + 11}" font-size="10" fill="#3465a4">DLT window</text>',
    ]


def lab_plot(
    name: str,
    values: list[tuple[date, Decimal]],
    *,
    bands: tuple[tuple[int, Decimal, Decimal], ...],
    window: tuple[date, date] | None = None,
    unit: str = "x10^9/L",
    height: int = 200,
) -> str:
    """A count over time with its grade bands; empty string when there is nothing to draw."""
    if not values:
        return ""
    values = sorted(values)
    start = min([values[0][0]] + ([window[0]] if window else []))
    end = max([values[-1][0]] + ([window[1] + timedelta(days=1)] if window else []))
    start, end = _span(start, end)
    top_band = max(b[2] for b in bands)
    y_max = max(max(v for _, v in values), top_band * Decimal("1.25"))
    plot_h = height - TOP - BOTTOM

    def y(v: Decimal) -> float:
        return TOP + plot_h * (1 - float(v / y_max))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot lab-plot" data-series="{escape(name)}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{escape(name)} over time with CTCAE grade bands">',
        f"<title>{escape(name)} ({escape(unit)}) with CTCAE v5.0 grade bands</title>",
    ]
    for grade, low, high in bands:
        top, h = y(high), y(low) - y(high)
        out.append(
            f'<rect class="band g{grade}" x="{LEFT}" y="{top:.1f}" width="{WIDTH - LEFT - RIGHT}" height="{h:.1f}" fill="{BAND_COLOURS[grade]}">'
            f"<title>Grade {grade}: {low.normalize():f} to &lt; {high.normalize():f} {escape(unit)}</title></rect>"
        )
        out.append(f'<text x="{WIDTH - RIGHT - 4}" y="{y(high) + 11:.1f}" font-size="9" text-anchor="end" fill="#777">G{grade}</text>')
        out.append(f'<text x="{LEFT - 4}" y="{y(high) + 3:.1f}" font-size="9" text-anchor="end">{high.normalize():f}</text>')
    out += _window(start, end, window, plot_h)
    points = [(_x(d, start, end), y(v), d, v) for d, v in values]
    out.append('<polyline fill="none" stroke="#204a87" stroke-width="1.5" points="' + " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points) + '"/>')
    for px, py, d, v in points:
        out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="#204a87"><title>{d.isoformat()}: {v.normalize():f} {escape(unit)}</title></circle>')
    out += _axis(start, end, TOP + plot_h)
    out.append(f'<text x="4" y="{TOP + 8}" font-size="10">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def ae_timeline(rows: list[EventRow], *, today: date, window: tuple[date, date] | None = None, row_height: int = 20) -> str:
    """Adverse events as bars by grade; empty string when there are none."""
    episodes = [e for r in rows for e in r.episodes]
    if not episodes:
        return ""
    start = min([e.onset for e in episodes] + ([window[0]] if window else []))
    end = max([(e.resolved or today) for e in episodes] + ([window[1] + timedelta(days=1)] if window else []))
    start, end = _span(start, end + timedelta(days=1))
    plot_h = row_height * len(rows)
    height = TOP + plot_h + BOTTOM
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot ae-timeline" viewBox="0 0 {WIDTH} {height}" role="img" '
        'aria-label="Adverse events by grade over time">',
        "<title>Adverse events by grade over time</title>",
    ]
    out += _window(start, end, window, plot_h)
    for i, row in enumerate(rows):
        top = TOP + i * row_height
        out.append(f'<text x="{LEFT - 4}" y="{top + row_height * 0.7:.1f}" font-size="10" text-anchor="end">{escape(row.name[:12])}</text>')
        for e in row.episodes:
            x1 = _x(e.onset, start, end)
            x2 = _x((e.resolved or today) + timedelta(days=1), start, end)
            until = e.resolved.isoformat() if e.resolved else "ongoing"
            out.append(
                f'<rect class="episode g{e.grade}" data-grade="{e.grade}" x="{x1:.1f}" y="{top + 3}" width="{max(x2 - x1, 2):.1f}" height="{row_height - 6}" '
                f'fill="{GRADE_COLOURS[e.grade]}" stroke="#555" stroke-width="0.5"><title>{escape(row.name)} grade {e.grade}: '
                f"{e.onset.isoformat()} to {until}{escape(e.label)}</title></rect>"
            )
            if x2 - x1 > 18:
                colour = "#fff" if e.grade >= 4 else "#000"
                out.append(f'<text x="{x1 + 3:.1f}" y="{top + row_height * 0.68:.1f}" font-size="10" fill="{colour}">G{e.grade}</text>')
    out += _axis(start, end, TOP + plot_h)
    out.append("</svg>")
    return "".join(out)
