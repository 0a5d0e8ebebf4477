// Adverse event term as a search box (issue #16): as one types in a CTCAE term input (data-term-search), the
// term search API (/api/v1/ctcae-terms/?q=) fills its <datalist> with the best matches; once the input names a
// term, the form offers only that term's grades with their descriptions and asks for the verbatim term of an
// "Other, specify" term. Works without it: the server resolves a typed name or MedDRA code, refuses anything
// else with the closest terms offered under the input, and shows the grades of a term already chosen.
(function () {
  "use strict";
  var LIMIT = 20;
  var DELAY_MS = 150;

  function setUp(input) {
    var form = input.form;
    var list = document.getElementById(input.getAttribute("list"));
    var url = input.getAttribute("data-term-search");
    var version = input.getAttribute("data-version");
    var known = {};  // name (lower case) or code -> the API's term
    var timer = null;
    var asked = "";
    if (!list || !url) { return; }

    function named(value) {
      var text = value.trim().replace(/\s+/g, " ");
      return known[text] || known[text.toLowerCase()] || null;
    }

    function showGrades(term) {
      var grades = form.querySelectorAll("ul.grades li");
      Array.prototype.forEach.call(grades, function (li) {
        var g = li.getAttribute("data-grade");
        var has = !term || Object.prototype.hasOwnProperty.call(term.grades, g);
        var radio = li.querySelector("input");
        li.hidden = !has;
        if (radio) {
          radio.disabled = !has;
          if (!has) { radio.checked = false; }
        }
        var text = li.querySelector(".grade-text");
        if (text) { text.textContent = term && has ? term.grades[g] : ""; }
      });
      var generic = form.querySelector("#grade-generic");
      if (generic) { generic.hidden = !(term && term.generic_texts); }
      var verbatim = form.querySelector("#verbatim-field");
      var verbatimInput = form.querySelector("#id_verbatim");
      if (verbatim && verbatimInput) { verbatim.hidden = !(term && term.other_specify) && !verbatimInput.value; }
    }

    function fill(terms) {
      while (list.firstChild) { list.removeChild(list.firstChild); }
      terms.forEach(function (t) {
        known[t.name.toLowerCase()] = t;
        known[t.code] = t;
        var option = document.createElement("option");
        option.value = t.name;
        option.textContent = t.soc + " · MedDRA " + t.code;
        list.appendChild(option);
      });
    }

    function search() {
      var text = input.value.trim();
      if (text.length < 2 || text === asked) { return; }
      asked = text;
      var query = "?q=" + encodeURIComponent(text) + "&limit=" + LIMIT + (version ? "&version=" + encodeURIComponent(version) : "");
      fetch(url + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : []; })
        .then(function (terms) {
          if (input.value.trim() !== text) { return; }  // typed on since: a newer search follows
          fill(terms);
          var term = named(input.value);
          if (term) { showGrades(term); }
        })
        .catch(function () { asked = ""; });  // offline: the server still resolves what is typed
    }

    input.addEventListener("input", function () {
      showGrades(named(input.value));  // a term not (yet) known: every grade, until the search names it
      window.clearTimeout(timer);
      timer = window.setTimeout(search, DELAY_MS);
    });
    input.addEventListener("change", function () {
      var term = named(input.value);
      if (term) { showGrades(term); } else { search(); }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[data-term-search]"), setUp);
})();
