"""The response tab's SVG plots: what they draw can be checked against the data."""

import itertools
import re
from datetime import date, timedelta
from decimal import Decimal
from xml.etree import ElementTree

import pytest

from response import plots

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str):
    return ElementTree.fromstring(svg)  # noqa: S314 (our own output)


def by_class(root, cls: str) -> list:
    return [e for e in root.iter() if cls in e.get("class", "").split()]


def title(e) -> str:
    return e.find(f"{NS}title").text


def bar(patient, change, category="PR", level="1"):
    return plots.WaterfallBar(patient, None if change is None else Decimal(change), category, level)


# --- waterfall ---


def test_nothing_to_draw_gives_an_empty_string():
    assert plots.waterfall([]) == ""
    assert plots.swimmer([], today=date(2026, 1, 1)) == ""
    assert plots.km_plot([], x_label="Months", times_at_risk=[0, 6]) == ""


def test_every_plot_is_a_titled_accessible_svg():
    svgs = [
        plots.waterfall([bar("BPD-01-001", "-10")]),
        plots.swimmer([plots.SwimLane("BPD-01-001", "1", date(2026, 1, 1), None, True, ())], today=date(2026, 2, 1)),
        plots.km_plot([plots.KmSeries("All", (1.0,), (0.5,), (0.1,), (0.9,), (), (2,))], x_label="Months", times_at_risk=[0]),
    ]
    for svg in svgs:
        root = parse(svg)
        assert root.tag == f"{NS}svg"
        assert root.get("role") == "img"
        assert root.get("aria-label")
        assert root.find(f"{NS}title").text
        assert "<script" not in svg
        assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no CDN, nothing fetched


def test_waterfall_orders_bars_from_largest_increase_to_largest_decrease_coloured_by_category():
    bars = [bar("A", "-62.5", "PR", "2"), bar("B", "30", "PD", "1"), bar("C", "-100", "CR", "3"), bar("D", "0", "SD", "1"), bar("E", "-92.0", "VGPR", "3")]
    root = parse(plots.waterfall(bars))
    rects = by_class(root, "bar")
    assert [r.get("data-patient") for r in rects] == ["B", "D", "A", "E", "C"]
    assert [r.get("data-change") for r in rects] == ["30", "0", "-62.5", "-92.0", "-100"]
    assert [r.get("fill") for r in rects] == [plots.CATEGORY_COLOURS[c] for c in ("PD", "SD", "PR", "VGPR", "CR")]
    xs = [float(r.get("x")) for r in rects]
    assert xs == sorted(xs)
    assert title(rects[2]) == "A: -62.5% (PR, level 2)"
    legend = [r.get("data-category") for r in by_class(root, "legend-swatch")]
    assert legend == ["CR", "VGPR", "PR", "SD", "PD"]  # best first, only those present


def test_waterfall_bars_extend_from_zero_in_proportion_to_the_change():
    root = parse(plots.waterfall([bar("UP", "40", "PD"), bar("DOWN", "-80", "VGPR")]))
    zero = float(by_class(root, "zero-line")[0].get("y1"))
    up, down = by_class(root, "bar")
    assert float(up.get("y")) + float(up.get("height")) == pytest.approx(zero, abs=0.11)  # an increase rises from 0
    assert float(down.get("y")) == pytest.approx(zero, abs=0.11)  # a decrease hangs from 0
    assert float(down.get("height")) == pytest.approx(2 * float(up.get("height")), abs=0.2)


def test_waterfall_reference_lines_sit_at_minus_25_50_90_percent_of_the_axis():
    root = parse(plots.waterfall([bar("A", "-10")]))
    zero = float(by_class(root, "zero-line")[0].get("y1"))
    ticks = {t.get("data-value"): float(t.get("y1")) for t in by_class(root, "y-tick")}
    full = ticks["-100"] - zero  # pixels from 0 to -100 %
    assert full > 0  # reductions are drawn downwards
    assert ticks["100"] == pytest.approx(zero - full, abs=0.11)  # symmetric axis [-100, +100]
    refs = {r.get("data-value"): float(r.get("y1")) for r in by_class(root, "ref")}
    assert set(refs) == {"-25", "-50", "-90"}
    assert refs["-50"] == pytest.approx(zero + full / 2, abs=0.11)  # halfway between 0 and -100
    assert refs["-25"] == pytest.approx(zero + full / 4, abs=0.11)
    assert refs["-90"] == pytest.approx(zero + full * 0.9, abs=0.11)
    labels = [t.text for t in root.iter(f"{NS}text")]
    assert {"-25%", "-50%", "-90%"} <= set(labels)


def test_waterfall_clips_above_plus_100_with_a_marker_and_the_true_value():
    root = parse(plots.waterfall([bar("BIG", "250.5", "PD"), bar("FULL", "100", "PD"), bar("OK", "-30", "MR")]))
    big, full, _ = by_class(root, "bar")
    assert big.get("data-change") == "250.5"
    assert big.get("data-clipped") == "true"
    assert full.get("data-clipped") == "false"
    assert big.get("y") == full.get("y")  # drawn to +100, not beyond
    assert big.get("height") == full.get("height")
    assert "250.5%" in title(big)
    markers = by_class(root, "clipped")
    assert [m.get("data-patient") for m in markers] == ["BIG"]
    assert "250.5%" in title(markers[0])
    assert max(float(y) for p in markers[0].get("points").split() for y in p.split(",")[1:]) <= float(big.get("y"))  # above the bar


def test_waterfall_lists_not_measurable_patients_below_and_draws_no_bar_for_them():
    root = parse(plots.waterfall([bar("A", "-55"), bar("BPD-01-009", None, "NE", "3"), bar("BPD-01-010", None, "NE", "1")]))
    assert [r.get("data-patient") for r in by_class(root, "bar")] == ["A"]
    listed = by_class(root, "not-measurable")
    assert [e.get("data-patient") for e in listed] == ["BPD-01-009", "BPD-01-010"]
    assert "".join(listed[0].itertext()).endswith("BPD-01-009 (NE, level 3)")
    lowest_bar = max(float(r.get("y")) + float(r.get("height")) for r in by_class(root, "bar"))
    assert all(float(e.get("y")) > lowest_bar for e in listed)
    assert "Not measurable (2)" in by_class(root, "not-measurable-heading")[0].text


def test_waterfall_escapes_patient_names():
    svg = plots.waterfall([bar('<b>"x"&y', "-20", "SD"), bar("<i>", None, "NE")])
    assert "<b>" not in svg
    assert "<i>" not in svg
    assert "&lt;b&gt;" in svg
    root = parse(svg)  # still well-formed
    assert by_class(root, "bar")[0].get("data-patient") == '<b>"x"&y'
    assert title(by_class(root, "bar")[0]) == '<b>"x"&y: -20% (SD, level 1)'
    assert by_class(root, "not-measurable")[0].get("data-patient") == "<i>"


# --- swimmer ---


def lane(patient, level, start, end, on_treatment=False, marks=()):
    return plots.SwimLane(patient, level, start, end, on_treatment, tuple(marks))


def test_swimmer_lanes_are_proportional_to_time_on_treatment_and_start_at_day_0():
    start = date(2025, 1, 1)
    lanes = [
        lane("A", "1", start, start + timedelta(days=60)),
        lane("B", "2", date(2025, 6, 1), date(2025, 6, 1) + timedelta(days=180)),  # a later start still begins at 0
        lane("C", "1", start, start + timedelta(days=120)),
    ]
    root = parse(plots.swimmer(lanes, today=date(2026, 1, 1)))
    rects = by_class(root, "lane")
    assert [(r.get("data-patient"), r.get("data-level")) for r in rects] == [("A", "1"), ("B", "2"), ("C", "1")]
    assert len({r.get("x") for r in rects}) == 1
    widths = [float(r.get("width")) for r in rects]
    assert widths[1] / widths[0] == pytest.approx(3, rel=0.01)
    assert widths[2] / widths[0] == pytest.approx(2, rel=0.01)
    assert rects[0].get("fill") == rects[2].get("fill") != rects[1].get("fill")  # coloured by level
    assert [e.get("data-level") for e in by_class(root, "legend-level")] == ["1", "2"]
    assert by_class(root, "ongoing") == []
    assert "60 days" in title(rects[0])


def test_swimmer_x_axis_is_in_months_of_30_4375_days():
    start = date(2025, 1, 1)
    root = parse(plots.swimmer([lane("A", "1", start, start + timedelta(days=487))], today=date(2026, 6, 1)))  # 487 days = 16 months
    ticks = {t.get("data-month"): float(t.get("x1")) for t in by_class(root, "x-tick")}
    rect = by_class(root, "lane")[0]
    assert float(rect.get("x")) == pytest.approx(ticks["0"], abs=0.11)
    assert float(rect.get("x")) + float(rect.get("width")) == pytest.approx(ticks["16"], abs=0.11)
    assert list(ticks) == ["0", "2", "4", "6", "8", "10", "12", "14", "16"]


def test_swimmer_ongoing_lanes_run_to_today_with_an_arrow():
    today = date(2026, 1, 31)
    lanes = [lane("OFF", "1", date(2026, 1, 1), date(2026, 1, 11)), lane("ON", "1", date(2026, 1, 1), None, on_treatment=True)]
    root = parse(plots.swimmer(lanes, today=today))
    off, on = by_class(root, "lane")
    assert (off.get("data-ongoing"), on.get("data-ongoing")) == ("false", "true")
    assert float(on.get("width")) / float(off.get("width")) == pytest.approx(3, rel=0.01)  # 30 days to today vs 10 days
    arrows = by_class(root, "ongoing")
    assert [a.get("data-patient") for a in arrows] == ["ON"]
    right = float(on.get("x")) + float(on.get("width"))
    xs = [float(p.split(",")[0]) for p in arrows[0].get("points").split()]
    assert min(xs) >= right - 0.2  # at the end,
    assert max(xs) > right  # pointing right
    assert "2026-01-31 (ongoing)" in title(on)


def test_swimmer_marks_sit_at_their_dates_with_kind_and_label():
    start = date(2026, 1, 1)
    marks = [
        plots.Mark(date(2026, 3, 2), "response", "PR"),
        plots.Mark(date(2026, 5, 1), "progression", "PD"),
        plots.Mark(date(2026, 5, 31), "off_treatment", ""),
        plots.Mark(date(2026, 7, 30), "death", ""),
    ]
    root = parse(plots.swimmer([lane("BPD-01-003", "2", start, date(2026, 5, 31), marks=marks)], today=date(2026, 9, 1)))
    rect = by_class(root, "lane")[0]
    x0, per_day = float(rect.get("x")), float(rect.get("width")) / (date(2026, 5, 31) - start).days
    mid = float(rect.get("y")) + float(rect.get("height")) / 2
    found = by_class(root, "mark")
    assert [m.get("class") for m in found] == ["mark mark-response", "mark mark-progression", "mark mark-off_treatment", "mark mark-death"]
    assert [m.get("data-kind") for m in found] == ["response", "progression", "off_treatment", "death"]
    for m, mark in zip(found, marks, strict=True):
        x, y = map(float, re.fullmatch(r"translate\(([-\d.]+),([-\d.]+)\)", m.get("transform")).groups())
        assert x == pytest.approx(x0 + per_day * (mark.on - start).days, abs=0.2)
        assert y == pytest.approx(mid, abs=0.11)
        assert mark.on.isoformat() in title(m)
    assert title(found[0]) == "BPD-01-003: 2026-03-02 (day 60): PR"
    assert "PR" in [t.text for t in found[0].iter(f"{NS}text")]  # response marks are labelled
    assert found[1].find(f"{NS}polygon").get("fill") == "#cc0000"  # progression in red
    assert found[3].find(f"{NS}rect").get("fill") == "#000"  # death in black


def test_swimmer_escapes_text():
    svg = plots.swimmer([lane("<p>", "<1>", date(2026, 1, 1), None, True, [plots.Mark(date(2026, 1, 5), "response", "<CR>")])], today=date(2026, 2, 1))
    for raw in ("<p>", "<1>", "<CR>"):
        assert raw not in svg
    root = parse(svg)
    assert by_class(root, "lane")[0].get("data-patient") == "<p>"
    assert title(by_class(root, "mark")[0]).endswith(": <CR>")


# --- Kaplan-Meier ---


def series(name="Level 1", at_risk=(5, 4, 2, 1)):
    return plots.KmSeries(
        name=name,
        times=(2.0, 5.5, 9.0),
        survival=(0.8, 0.6, 0.3),
        lower=(0.5, 0.3, 0.1),
        upper=(0.95, 0.85, 0.6),
        censored_times=(3.0, 7.0, 12.0),
        at_risk=at_risk,
    )


def path_points(d: str) -> list[tuple[float, float]]:
    assert re.fullmatch(r"M[-\d.]+,[-\d.]+( L[-\d.]+,[-\d.]+)*", d)
    return [(float(x), float(y)) for x, y in re.findall(r"([-\d.]+),([-\d.]+)", d)]


def axes(root):
    """Pixel position of t and S, read from the plot's own ticks."""
    xt = {float(t.get("data-time")): float(t.get("x1")) for t in by_class(root, "x-tick")}
    yt = {float(t.get("data-value")): float(t.get("y1")) for t in by_class(root, "y-tick")}
    (t0, x0), (t1, x1) = min(xt.items()), max(xt.items())

    def fx(t):
        return x0 + (x1 - x0) * (t - t0) / (t1 - t0)

    def fy(s):
        return yt[0] + (yt[1] - yt[0]) * s

    return fx, fy, yt


def test_km_curve_is_a_step_function_through_the_given_survival_values():
    s = series()
    root = parse(plots.km_plot([s], x_label="Months from registration", times_at_risk=[0, 3, 6, 9]))
    fx, fy, _ = axes(root)
    curve = by_class(root, "km-curve")
    assert [c.get("data-series") for c in curve] == ["Level 1"]
    pts = path_points(curve[0].get("d"))

    def near(p, q):
        return abs(p[0] - q[0]) <= 0.2 and abs(p[1] - q[1]) <= 0.2

    assert near(pts[0], (fx(0), fy(1)))  # S = 1 at time 0
    previous = 1.0
    for t, v in zip(s.times, s.survival, strict=True):
        i = next(i for i, p in enumerate(pts) if near(p, (fx(t), fy(v))))
        assert near(pts[i - 1], (fx(t), fy(previous)))  # a vertical drop at the event time
        previous = v
    assert near(pts[-1], (fx(12.0), fy(0.3)))  # flat to the last censored time
    for (xa, ya), (xb, yb) in itertools.pairwise(pts):
        assert xa == xb or ya == yb  # only horizontal and vertical segments
        assert xb >= xa  # never goes back in time
        assert yb >= ya  # never rises


def test_km_ci_band_is_drawn_and_can_be_left_out():
    with_ci = series()
    no_ci = plots.KmSeries("No CI", (1.0,), (0.5,), (float("nan"),), (float("nan"),), (), (1, 1, 0, 0))
    root = parse(plots.km_plot([with_ci, no_ci], x_label="Months", times_at_risk=[0, 3, 6, 9]))
    bands = by_class(root, "km-ci")
    assert [b.get("data-series") for b in bands] == ["Level 1"]
    _, fy, _ = axes(root)
    ys = {round(float(p.split(",")[1]), 1) for p in bands[0].get("points").split()}
    assert {round(fy(v), 1) for v in (1.0, 0.95, 0.85, 0.6, 0.5, 0.3, 0.1)} <= ys


def test_km_censor_ticks_one_per_censored_time_on_the_curve():
    s = series()
    root = parse(plots.km_plot([s], x_label="Months", times_at_risk=[0, 3, 6, 9]))
    fx, fy, _ = axes(root)
    ticks = by_class(root, "censor")
    assert len(ticks) == 3
    for tick, t, expected in zip(ticks, (3.0, 7.0, 12.0), (0.8, 0.6, 0.3), strict=True):
        assert float(tick.get("x1")) == float(tick.get("x2")) == pytest.approx(fx(t), abs=0.2)  # vertical
        assert (float(tick.get("y1")) + float(tick.get("y2"))) / 2 == pytest.approx(fy(expected), abs=0.2)
    assert title(ticks[0]) == "Level 1: censored at 3 (S = 80.0%)"


def test_km_axis_median_line_and_legend():
    root = parse(plots.km_plot([series("A"), series("B")], x_label="Months", times_at_risk=[0, 3, 6, 9]))
    _, _, yt = axes(root)
    assert sorted(yt) == [0, 0.25, 0.5, 0.75, 1]
    labels = [t.text for t in root.iter(f"{NS}text")]
    assert {"0%", "25%", "50%", "75%", "100%", "Months"} <= set(labels)
    median = by_class(root, "median-line")[0]
    assert float(median.get("y1")) == pytest.approx(yt[0.5], abs=0.11)
    assert median.get("stroke-dasharray")  # dotted
    legend = by_class(root, "legend-series")
    assert [e.get("data-series") for e in legend] == ["A", "B"]
    curves = by_class(root, "km-curve")
    assert [c.get("stroke") for c in curves] == [e.get("stroke") for e in legend]
    assert curves[0].get("stroke") != curves[1].get("stroke")


def test_km_numbers_at_risk_table_below_the_plot():
    def counted(t):  # a callable works as well as a tuple
        return 4 if t < 4 else 3 if t < 8 else 0

    root = parse(plots.km_plot([series("Level 1"), series("Level <2>", at_risk=counted)], x_label="Months", times_at_risk=[0, 3, 6, 9]))
    cells = by_class(root, "at-risk")
    table = {(c.get("data-series"), c.get("data-time")): c.text for c in cells}
    assert table == {
        ("Level 1", "0"): "5",
        ("Level 1", "3"): "4",
        ("Level 1", "6"): "2",
        ("Level 1", "9"): "1",
        ("Level <2>", "0"): "4",
        ("Level <2>", "3"): "4",
        ("Level <2>", "6"): "3",
        ("Level <2>", "9"): "0",
    }
    assert [c.text for c in cells] == ["5", "4", "2", "1", "4", "4", "3", "0"]  # row by row
    fx, fy, _ = axes(root)
    assert all(float(c.get("y")) > fy(0) + 20 for c in cells)  # below the x axis
    for c in cells:
        assert float(c.get("x")) == pytest.approx(fx(float(c.get("data-time"))), abs=0.2)  # under its time
    rows = sorted({float(c.get("y")) for c in cells})
    assert len(rows) == 2  # one row per series


def test_km_at_risk_must_match_the_times():
    with pytest.raises(ValueError, match="3 numbers at risk for 2 times"):
        plots.km_plot([series(at_risk=(5, 4, 2))], x_label="Months", times_at_risk=[0, 6])
    with pytest.raises(ValueError, match="same length"):
        plots.KmSeries("bad", (1.0, 2.0), (0.5,), (0.1,), (0.9,), ())


# --- summaries beyond the cap (issue #16) ---


def test_waterfall_summary_stacks_each_band_by_best_response_and_counts_every_patient():
    bands = [("≤ -90%", {"CR": 3, "VGPR": 2}), ("-90% to -50%", {"PR": 40}), ("0% to +25%", {}), ("not measurable", {"NE": 5})]
    root = parse(plots.waterfall_summary(bands))
    segments = by_class(root, "band")
    assert sum(int(s.get("data-n")) for s in segments) == 50
    assert {(s.get("data-band"), s.get("data-category")) for s in segments} == {
        ("≤ -90%", "CR"),
        ("≤ -90%", "VGPR"),
        ("-90% to -50%", "PR"),
        ("not measurable", "NE"),
    }
    tallest = max(segments, key=lambda s: float(s.get("height")))
    assert tallest.get("data-n") == "40"
    assert "50 patient(s)" in root.get("aria-label")
    assert plots.waterfall_summary([("≤ -90%", {})]) == ""


def test_swimmer_summary_counts_each_level_and_its_bars_are_proportional():
    levels = [plots.LevelSummary("1", 100, 60, 40, 20, 5), plots.LevelSummary("2", 50, 50, 10, 0, 0)]
    root = parse(plots.swimmer_summary(levels))
    started = {b.get("data-level"): float(b.get("width")) for b in by_class(root, "level-count") if b.get("data-kind") == "started"}
    assert started["1"] == pytest.approx(2 * started["2"], abs=0.1)
    assert {b.get("data-n") for b in by_class(root, "level-count") if b.get("data-level") == "1"} == {"100", "60", "40", "20", "5"}
    assert plots.swimmer_summary([plots.LevelSummary("1", 0, 0, 0, 0, 0)]) == ""


def test_km_draws_at_most_one_step_and_one_censor_tick_per_pixel_column():
    n = 5000  # events and censorings every 0.001 month: far more than the plot's 604 px
    times = tuple(i / 1000 for i in range(1, n + 1))
    survival = tuple(1 - i / (n + 1) for i in range(1, n + 1))
    s = plots.KmSeries("All", times, survival, survival, survival, censored_times=tuple(t + 0.0005 for t in times))
    root = parse(plots.km_plot([s], x_label="Months", times_at_risk=[]))
    steps, ticks = by_class(root, "km-step"), by_class(root, "censor")
    assert len(steps) <= plots.WIDTH - plots.K_LEFT - plots.K_RIGHT + 1
    assert len(ticks) <= plots.WIDTH - plots.K_LEFT - plots.K_RIGHT + 1
    assert float(steps[-1].get("data-survival")) == pytest.approx(survival[-1])  # the curve still ends where it ends
