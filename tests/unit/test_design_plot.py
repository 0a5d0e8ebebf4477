"""Issue 18: the design page's operating-characteristics plot, drawn server-side as SVG (no database)."""

from xml.etree import ElementTree

from escalation.plots import oc_svg

SVG = "{http://www.w3.org/2000/svg}"


def test_oc_plot_draws_one_selection_and_one_patients_bar_per_level_and_a_no_mtd_bar():
    svg = oc_svg(("1", "2", "3"), (0.1, 0.3, 0.5), (0.2, 0.5, 0.25), 0.05, (6.0, 9.0, 3.0))
    root = ElementTree.fromstring(svg)  # noqa: S314 (our own output; well-formed)
    rects = [r for r in root.iter(f"{SVG}rect") if r.get("class")]
    select = {r.get("data-level"): float(r.get("data-p")) for r in rects if r.get("class") == "oc-select"}
    share = {r.get("data-level"): float(r.get("data-share")) for r in rects if r.get("class") == "oc-patients"}
    assert select == {"1": 0.2, "2": 0.5, "3": 0.25}
    assert share == {"1": 0.3333, "2": 0.5, "3": 0.1667}
    assert [float(r.get("data-p")) for r in rects if r.get("class") == "oc-none"] == [0.05]
    heights = {r.get("data-level"): float(r.get("height")) for r in rects if r.get("class") == "oc-select"}
    assert heights["2"] == 2 * heights["3"] > heights["1"]  # bars proportional to the probabilities


def test_oc_plot_escapes_labels_and_is_empty_without_levels():
    assert oc_svg((), (), (), 0.0, ()) == ""
    svg = oc_svg(("<b>",), (0.2,), (1.0,), 0.0, (3.0,))
    assert "<b>" not in svg
    assert "&lt;b&gt;" in svg
    ElementTree.fromstring(svg)  # noqa: S314 (our own output)
