// The connect-button form: choosing the other platform switches the button text and colour to
// that platform's defaults when they were left at the previous platform's, and offers only the
// chosen platform's colours. Without JavaScript the server applies the same defaults.
"use strict";

(function () {
  function setUp(form) {
    var platform = form.querySelector("select[name=platform]");
    var title = form.querySelector("input[name=title]");
    var color = form.querySelector("select[name=color]");
    if (!platform || !title || !color) return;
    var previous = platform.options[platform.selectedIndex];

    function showColours(chosen) {
      Array.prototype.forEach.call(color.options, function (option) {
        var mine = option.getAttribute("data-platform") === chosen.value;
        option.hidden = !mine;
        option.disabled = !mine;
      });
    }

    platform.addEventListener("change", function () {
      var chosen = platform.options[platform.selectedIndex];
      if (title.value.trim() === "" || title.value.trim() === previous.getAttribute("data-title")) {
        title.value = chosen.getAttribute("data-title");
      }
      var current = color.options[color.selectedIndex];
      if (!current || current.getAttribute("data-platform") !== chosen.value) {
        color.value = chosen.getAttribute("data-color");
      }
      showColours(chosen);
      previous = chosen;
    });
    showColours(previous);
  }

  function start() {
    document.querySelectorAll("form[data-button-form]").forEach(setUp);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
