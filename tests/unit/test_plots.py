"""The safety tab's SVG plots: what they draw can be checked against the data."""

import re
from datetime import date
from decimal import Decimal
from xml.etree import ElementTree

from toxicity import plots

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str):
    return ElementTree.fromstring(svg)  # noqa: S314 (our own output)


def test_lab_plot_draws_each_value_with_its_date_and_the_four_grade_bands():
    values = [(date(2026, 1, 10), Decimal("0.40")), (date(2026, 1, 14), Decimal("0.30")), (date(2026, 1, 19), Decimal("0.90"))]
    root = parse(plots.lab_plot("ANC", values, bands=plots.ANC_BANDS, window=(date(2026, 1, 1), date(2026, 1, 28))))
    titles = [c.find(f"{NS}title").text for c in root.iter(f"{NS}circle")]
    assert titles == ["2026-01-10: 0.4 x10^9/L", "2026-01-14: 0.3 x10^9/L", "2026-01-19: 0.9 x10^9/L"]
    bands = [r for r in root.iter(f"{NS}rect") if "band" in r.get("class", "")]
    assert [b.get("class") for b in bands] == ["band g1", "band g2", "band g3", "band g4"]
    assert bands[3].find(f"{NS}title").text == "Grade 4: 0 to < 0.5 x10^9/L"
    assert any(r.get("class") == "dlt-window" for r in root.iter(f"{NS}rect"))


def test_lower_values_are_drawn_lower():
    values = [(date(2026, 1, 1), Decimal("1.5")), (date(2026, 1, 8), Decimal("0.2"))]
    root = parse(plots.lab_plot("ANC", values, bands=plots.ANC_BANDS))
    ys = [float(c.get("cy")) for c in root.iter(f"{NS}circle")]
    assert ys[1] > ys[0]  # SVG y grows downwards


def test_nothing_to_draw_gives_an_empty_string():
    assert plots.lab_plot("ANC", [], bands=plots.ANC_BANDS) == ""
    assert plots.ae_timeline([], today=date(2026, 1, 1)) == ""


def test_timeline_draws_one_bar_per_episode_coloured_by_grade_and_open_ones_until_today():
    rows = [
        plots.EventRow("Rash <maculo-papular>", (plots.Episode(3, date(2026, 1, 5), date(2026, 1, 12)), plots.Episode(1, date(2026, 1, 12), None))),
        plots.EventRow("Nausea", (plots.Episode(2, date(2026, 1, 3), date(2026, 1, 4)),)),
    ]
    svg = plots.ae_timeline(rows, today=date(2026, 1, 20))
    root = parse(svg)
    bars = [r for r in root.iter(f"{NS}rect") if r.get("class", "").startswith("episode")]
    assert [b.get("data-grade") for b in bars] == ["3", "1", "2"]
    assert bars[1].find(f"{NS}title").text == "Rash <maculo-papular> grade 1: 2026-01-12 to ongoing"
    assert "&lt;maculo-papular&gt;" in svg  # text is escaped
    x = [float(b.get("x")) + float(b.get("width")) for b in bars]
    assert x[1] == max(x)  # the ongoing episode reaches today, the right edge


def test_ticks_are_weekly_for_a_cycle():
    svg = plots.lab_plot("Platelets", [(date(2026, 1, 1), Decimal(100)), (date(2026, 1, 28), Decimal(20))], bands=plots.PLATELET_BANDS)
    assert re.findall(r">(\d\d-\d\d)</text>", svg) == ["01-01", "01-08", "01-15", "01-22"]


def test_escalation_path_draws_the_latest_cohorts_that_fit_and_counts_the_earlier_ones():
    from escalation.plots import CohortMark, path_svg

    cohorts = [CohortMark(number=i, level=str(1 + i % 3), patients=3, dlts=i % 2) for i in range(1, 201)]
    svg = path_svg(("1", "2", "3"), cohorts)
    drawn = svg.count('class="cohort"')
    assert drawn == (640 - 50 - 30) // 30
    assert "Cohort 200 " in svg
    assert f"Cohort {200 - drawn} " not in svg
    assert f'data-cohorts="{200 - drawn}"' in svg
    assert f"{3 * (200 - drawn)} patient(s)" in svg
    few = path_svg(("1", "2", "3"), cohorts[:4])
    assert few.count('class="cohort"') == 4
    assert "earlier-cohorts" not in few
