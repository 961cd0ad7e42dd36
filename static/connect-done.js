// Tells the page that opened the connect window how it ended, then closes it.
// Only a status travels: no ids, codes or tokens.
"use strict";
(function () {
  var script = document.currentScript;
  var status = script ? script.getAttribute("data-status") : "unknown";
  if (window.opener && !window.opener.closed) {
    window.opener.postMessage({ type: "amolink:" + status }, "*");
    setTimeout(function () { window.close(); }, 1500);
  }
})();
