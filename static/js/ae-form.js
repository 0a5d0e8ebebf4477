// Adverse event form: narrow the CTCAE term list as one types, and show the chosen
// term's grade descriptions beside the grade buttons. Works without it: the server
// renders the descriptions of a term already chosen, and the service checks the grade.
(function () {
  "use strict";
  var grades = JSON.parse(document.getElementById("ctcae-grades").textContent);
  var select = document.getElementById("id_term");
  var filter = document.getElementById("term-filter");
  if (!select) { return; }

  function showGrades() {
    var texts = grades[select.value] || {};
    document.querySelectorAll(".grade-text").forEach(function (span) {
      var g = span.getAttribute("data-grade");
      var text = texts[g];
      span.textContent = text ? text : (select.value ? "(not a grade of this term)" : "");
      var input = span.parentElement.querySelector("input");
      if (input) { input.disabled = Boolean(select.value) && !text; }
    });
  }

  function narrow() {
    var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    var first = null;
    select.querySelectorAll("option").forEach(function (opt) {
      if (!opt.value) { return; }
      var group = opt.parentElement.tagName === "OPTGROUP" ? opt.parentElement.label : "";
      var hay = (opt.textContent + " " + opt.value + " " + group).toLowerCase();
      var match = words.every(function (w) { return hay.indexOf(w) !== -1; });
      opt.hidden = !match;
      if (match && first === null) { first = opt; }
    });
    if (words.length && first && (!select.value || select.selectedOptions[0].hidden)) {
      select.value = first.value;
      showGrades();
    }
  }

  select.addEventListener("change", showGrades);
  if (filter) { filter.addEventListener("input", narrow); }
  showGrades();
})();
