// Adverse event form: narrow the CTCAE term list as one types (any word of the term or its organ
// class), offer only the chosen term's grades with their descriptions, and ask for the verbatim
// term of an "Other, specify" term. Works without it: the Search button narrows the list on the
// server, the page shows the grades of a term already chosen, and the service checks everything.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("ctcae-grades").textContent);
  var select = document.getElementById("id_term");
  var filter = document.getElementById("term-filter");
  var verbatim = document.getElementById("verbatim-field");
  var count = document.getElementById("term-count");
  if (!select) { return; }
  var options = Array.prototype.slice.call(select.querySelectorAll("option")).filter(function (o) { return o.value; });
  var hay = options.map(function (opt) {
    var group = opt.parentElement.tagName === "OPTGROUP" ? opt.parentElement.label : "";
    return (opt.textContent + " " + group + " " + opt.value).toLowerCase();
  });

  function showGrades() {
    var term = data.terms[select.value];
    var grades = term ? term[0] : "";
    var own = term ? term[1] : {};
    document.querySelectorAll("ul.grades li").forEach(function (li) {
      var g = li.getAttribute("data-grade");
      var has = !term || grades.indexOf(g) !== -1;
      var input = li.querySelector("input");
      li.hidden = !has;
      if (input) {
        input.disabled = !has;
        if (!has) { input.checked = false; }
      }
      li.querySelector(".grade-text").textContent = term && has ? (own[g] || data.generic[g]) : "";
    });
    if (verbatim) { verbatim.hidden = !(term && term[2]) && !document.getElementById("id_verbatim").value; }
  }

  function narrow() {
    var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    var first = null;
    var best = 4;
    var shown = 0;
    options.forEach(function (opt, i) {
      var match = words.every(function (w) { return hay[i].indexOf(w) !== -1; });
      opt.hidden = !match;
      if (!match) { return; }
      shown += 1;
      // The best match first, as the server's search ranks: the name starts with the first word, then a word of it does.
      var name = opt.textContent.toLowerCase();
      var rank = name.indexOf(words[0]) === 0 ? 0 : (" " + name.replace(/-/g, " ")).indexOf(" " + words[0]) !== -1 ? 1 : name.indexOf(words[0]) !== -1 ? 2 : 3;
      if (rank < best) { best = rank; first = opt; }
    });
    if (count) { count.textContent = shown + (shown === 1 ? " term matches" : " terms match") + "; choose one in the list below."; }
    if (words.length && first && (!select.value || select.selectedOptions[0].hidden)) {
      select.value = first.value;
      showGrades();
    }
  }

  select.addEventListener("change", showGrades);
  if (filter) {
    filter.addEventListener("input", narrow);
    // Enter in the search box narrows here rather than reloading the page.
    filter.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); narrow(); } });
  }
  showGrades();
})();
