// Connection status badges that refresh without a reload: every element marked
// data-status-of="<connection id>" is redrawn from GET /connections/statuses every 10 seconds
// while the page is visible (and at once when it becomes visible again). Without JavaScript
// the badges are simply as the page was rendered.
"use strict";

(function () {
  var PERIOD_MS = 10000;
  var timer = null;
  var stopped = false;

  function badges() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-status-of]"));
  }

  function apply(connections) {
    var byId = {};
    connections.forEach(function (c) { byId[c.id] = c; });
    badges().forEach(function (badge) {
      var c = byId[badge.getAttribute("data-status-of")];
      if (!c || badge.getAttribute("data-status") === c.status) return;
      badge.setAttribute("data-status", c.status);
      badge.textContent = c.label;
      ["ok", "warn", "bad"].forEach(function (tone) { badge.classList.remove(tone); });
      badge.classList.add(c["class"]);
    });
  }

  function refresh() {
    var ids = badges().map(function (b) { return b.getAttribute("data-status-of"); });
    if (stopped || ids.length === 0 || document.hidden) return;
    var unique = ids.filter(function (id, i) { return ids.indexOf(id) === i; }).slice(0, 100);
    fetch("/connections/statuses?ids=" + encodeURIComponent(unique.join(",")), {
      credentials: "same-origin",
      headers: { "Accept": "application/json", "x-amolink-fetch": "1" },
      redirect: "error"
    }).then(function (response) {
      if (!response.ok) throw new Error("status " + response.status);
      return response.json();
    }).then(function (body) {
      apply(body.connections || []);
      document.documentElement.setAttribute("data-status-refreshed", String(Date.now()));
    }).catch(function () {
      // Signed out, or the server is away: keep the badges as they are and stop asking.
      stopped = true;
    });
  }

  function start() {
    if (badges().length === 0) return;
    timer = setInterval(refresh, PERIOD_MS);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) refresh();
    });
    // Lets a page (or a test) ask for a refresh now.
    document.addEventListener("amolink:refresh-status", refresh);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
