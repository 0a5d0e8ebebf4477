// A Print button (the calendar, the casebook): a <button data-print> opens the browser's print dialog; the print
// stylesheet leaves navigation and forms out. A static file, no inline script (the Content-Security-Policy forbids it).
(function () {
  "use strict";
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.addEventListener("click", function () {
      window.print();
    });
  });
})();
