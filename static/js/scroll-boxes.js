// A table wider than the page scrolls inside its own .scroll box (issue #16 point 9). A box that does scroll is
// made reachable from the keyboard (tabindex 0, so arrow keys scroll it) and named after its table's heading, as
// WCAG 2.1.1 asks (axe rule scrollable-region-focusable). A box that fits is left out of the tab order.
(function () {
  "use strict";
  function label(box) {
    var table = box.querySelector("table");
    var caption = table && table.querySelector("caption");
    if (caption) return caption.textContent.trim();
    var el = box.previousElementSibling;
    while (el && !/^H[1-6]$/.test(el.tagName)) el = el.previousElementSibling;
    if (!el) {
      var section = box.closest("section, article");
      el = section && section.querySelector("h1, h2, h3");
    }
    return el ? el.textContent.trim() : "Table";
  }
  function mark() {
    document.querySelectorAll(".scroll").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        if (!box.hasAttribute("aria-label")) box.setAttribute("aria-label", label(box) + " (scrolls sideways)");
      } else if (box.getAttribute("tabindex") === "0") {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
      }
    });
  }
  mark();
  window.addEventListener("resize", mark);
  document.addEventListener("htmx:afterSettle", mark);
})();
