// amolink page helpers. Loaded as a file (never inline) so the CSP can forbid inline script.
"use strict";

document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy-target]");
  if (!button) return;
  var target = document.getElementById(button.getAttribute("data-copy-target"));
  if (!target) return;
  var text = target.value || target.textContent || "";
  var label = button.getAttribute("data-label") || button.textContent;
  button.setAttribute("data-label", label);
  function copied() {
    button.textContent = button.getAttribute("data-copied") || "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  }
  // Selecting the text lets the person copy it by hand when the browser refuses.
  function selectText() {
    var range = document.createRange();
    range.selectNodeContents(target);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    try { if (document.execCommand("copy")) copied(); } catch (e) { /* left selected */ }
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(copied, selectText);
  } else {
    selectText();
  }
});

// A form marked data-confirm (revoke, delete) asks first; without JavaScript it submits as is.
document.addEventListener("submit", function (event) {
  var form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
});

// A table, snippet or value wider than its box scrolls (see app.css): let the keyboard reach
// it too.
function markScrollingTables() {
  document.querySelectorAll("main table, main pre, main code").forEach(function (box) {
    if (box.scrollWidth > box.clientWidth + 1) {
      box.tabIndex = 0;
    } else if (box.getAttribute("tabindex") === "0") {
      box.removeAttribute("tabindex");
    }
  });
}
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", markScrollingTables);
} else {
  markScrollingTables();
}
window.addEventListener("resize", markScrollingTables);

// A select marked data-autosubmit (the workspace switcher) submits its form when changed; its
// form keeps a submit button for browsers without JavaScript.
document.addEventListener("change", function (event) {
  var select = event.target.closest("select[data-autosubmit]");
  if (select && select.form) select.form.submit();
});

// Dates are shown in the browser's time zone until the user saves one: remember it in a cookie
// the server reads (IANA name, e.g. Europe/Moscow).
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("amolink_tz=") === -1) {
      document.cookie = "amolink_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* no Intl: dates stay in UTC */ }
})();
