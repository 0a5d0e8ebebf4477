"""The escalation path as a picture: one mark per cohort, at its dose level, in order. Pure Python (SVG text).

Each mark shows the cohort's patients and DLTs ("3/1" = 3 patients, 1 DLT) and
is coloured by its DLTs: none (green), one (amber), two or more (red); pending
patients make it hollow. A line joins the cohorts in the order they were opened. The expansion
cohorts of a level are one mark (the escalation's DLT counts are the engine's; the expansion's are not).
Beyond the cohorts that fit at the narrowest spacing (30 px: PATH_COHORTS at the
default width) the latest are drawn and the earlier ones counted in one line of
text (issue #16: the picture stayed readable and its size bounded).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

COLOURS = {0: "#4e9a06", 1: "#f5a623", 2: "#cc0000"}
MIN_STEP = 30  # px between two cohorts' marks (r = 11)


@dataclass(frozen=True)
class CohortMark:
    number: int
    level: str
    patients: int
    dlts: int
    pending: int = 0
    phase: str = "escalation"
    cohorts: int = 1  # the expansion cohorts of a level are one mark (numbers `number` to `last`)
    last: int = 0


def path_svg(labels: tuple[str, ...], cohorts: list[CohortMark], *, width: int = 640, row: int = 34) -> str:
    """`labels` lowest first; the highest level is drawn at the top."""
    if not cohorts:
        return ""
    left, top = 50, 14
    fit = int((width - left - 30) // MIN_STEP)
    earlier, cohorts = cohorts[:-fit], cohorts[-fit:]
    height = top * 2 + row * len(labels) + 16 + (14 if earlier else 0)
    step = max(min((width - left - 30) / max(len(cohorts), 1), 80), MIN_STEP)

    def y(label: str) -> float:
        return top + row * (len(labels) - 1 - labels.index(label)) + row / 2

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot escalation-path" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Escalation path: cohorts by dose level in order">',
        "<title>Escalation path: each cohort at its dose level, in order</title>",
    ]
    for label in labels:
        out.append(f'<line x1="{left}" y1="{y(label):.1f}" x2="{width - 10}" y2="{y(label):.1f}" stroke="#e3e7ec"/>')
        out.append(f'<text x="{left - 8}" y="{y(label) + 4:.1f}" font-size="11" text-anchor="end">level {escape(label)}</text>')
    points = [(left + 20 + i * step, y(c.level), c) for i, c in enumerate(cohorts)]
    out.append('<polyline fill="none" stroke="#555" stroke-width="1.2" points="' + " ".join(f"{x:.1f},{yy:.1f}" for x, yy, _ in points) + '"/>')
    for x, yy, c in points:
        colour = COLOURS[min(c.dlts, 2)]
        fill = "#fff" if c.pending else colour
        pending = f", {c.pending} pending" if c.pending else ""
        name = f"Cohort {c.number}" if c.cohorts == 1 else f"Cohorts {c.number}-{c.last}"
        title = f"{name} ({escape(c.phase)}) at level {escape(c.level)}: {c.patients} patient(s), {c.dlts} DLT(s){pending}"
        out.append(
            f'<circle class="cohort" data-level="{escape(c.level)}" data-dlts="{c.dlts}" cx="{x:.1f}" cy="{yy:.1f}" r="11" fill="{fill}" stroke="{colour}" '
            f'stroke-width="2"><title>{title}</title></circle>'
        )
        out.append(f'<text x="{x:.1f}" y="{yy + 25:.1f}" font-size="9" text-anchor="middle">{c.patients}/{c.dlts}</text>')
    if earlier:
        patients, dlts = sum(c.patients for c in earlier), sum(c.dlts for c in earlier)
        out.append(
            f'<text class="earlier-cohorts" data-cohorts="{len(earlier)}" x="{left}" y="{height - 6}" font-size="10">'
            f"Cohorts {earlier[0].number}–{earlier[-1].number} before these not drawn: {patients} patient(s), {dlts} DLT(s)</text>"
        )
    out.append("</svg>")
    return "".join(out)


OC_COLOURS = {"select": "#1f77b4", "patients": "#a6cee3", "none": "#9e9e9e"}


def oc_svg(
    labels: tuple[str, ...], true_tox: tuple[float, ...], p_select: tuple[float, ...], p_none: float, expected_n: tuple[float, ...], *, width: int = 640
) -> str:
    """Operating characteristics as bars (issue 18): per level, P(selected as the MTD) and the share of the expected
    patients treated there, the level's true DLT rate under its name; a last bar for P(no MTD selected)."""
    if not labels:
        return ""
    left, right, top, plot_h = 44, 10, 14, 180
    height = top + plot_h + 62
    total_n = sum(expected_n) or 1.0
    slot = (width - left - right) / (len(labels) + 1)
    bar = min(slot * 0.36, 40)

    def y(p: float) -> float:
        return top + plot_h * (1 - max(0.0, min(p, 1.0)))

    label = f"Operating characteristics: P(selecting each of {len(labels)} levels as the MTD), the share of patients per level, P(no MTD)"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot oc-plot" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        out.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" stroke="{"#888" if tick == 0 else "#e3e7ec"}"/>')
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="10" text-anchor="end">{tick:g}</text>')

    def rect(cls: str, data: str, x: float, p: float, fill: str, title: str) -> str:
        return (
            f'<rect class="{cls}" {data} x="{x:.1f}" y="{y(p):.1f}" width="{bar:.1f}" height="{y(0) - y(p):.1f}" fill="{fill}" '
            f'stroke="#555" stroke-width="0.5"><title>{escape(title)}</title></rect>'
        )

    for i, name in enumerate(labels):
        x0 = left + i * slot + (slot - 2 * bar) / 2
        share = expected_n[i] / total_n
        lv = escape(name)
        out.append(
            rect(
                "oc-select",
                f'data-level="{lv}" data-p="{p_select[i]:.4f}"',
                x0,
                p_select[i],
                OC_COLOURS["select"],
                f"Level {name}: P(selected) {p_select[i]:.3f}",
            )
        )
        out.append(
            rect(
                "oc-patients",
                f'data-level="{lv}" data-share="{share:.4f}"',
                x0 + bar,
                share,
                OC_COLOURS["patients"],
                f"Level {name}: {expected_n[i]:.2f} patients expected ({share:.1%})",
            )
        )
        out.append(f'<text x="{x0 + bar / 2:.1f}" y="{y(p_select[i]) - 3:.1f}" font-size="9" text-anchor="middle">{p_select[i]:.2f}</text>')
        out.append(f'<text x="{x0 + bar:.1f}" y="{y(0) + 14:.1f}" font-size="11" text-anchor="middle">level {lv}</text>')
        out.append(f'<text x="{x0 + bar:.1f}" y="{y(0) + 27:.1f}" font-size="9" text-anchor="middle">true {true_tox[i]:.2f}</text>')
    x0 = left + len(labels) * slot + (slot - bar) / 2
    out.append(rect("oc-none", f'data-p="{p_none:.4f}"', x0, p_none, OC_COLOURS["none"], f"No MTD selected: {p_none:.3f}"))
    out.append(f'<text x="{x0 + bar / 2:.1f}" y="{y(p_none) - 3:.1f}" font-size="9" text-anchor="middle">{p_none:.2f}</text>')
    out.append(f'<text x="{x0 + bar / 2:.1f}" y="{y(0) + 14:.1f}" font-size="11" text-anchor="middle">no MTD</text>')
    legend_y = height - 10
    for j, (key, text) in enumerate((("select", "P(selected as the MTD)"), ("patients", "share of the patients treated"))):
        lx = left + j * 220
        out.append(f'<rect x="{lx}" y="{legend_y - 9}" width="10" height="10" fill="{OC_COLOURS[key]}" stroke="#555" stroke-width="0.5"/>')
        out.append(f'<text x="{lx + 14}" y="{legend_y}" font-size="10">{text}</text>')
    out.append("</svg>")
    return "".join(out)
