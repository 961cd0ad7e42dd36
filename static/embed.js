// amolink embed loader: renders a "connect" button that opens the hosted connect page in a popup.
//
// The hosted page isolates itself from other sites (Cross-Origin-Opener-Policy), so it cannot
// report back to this page. When the popup closes, the script tag fires `amolink:closed`; the
// outcome itself reaches the tenant's backend through the API and signed webhooks.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.parentNode) return;
  var url = __URL__;
  var button = document.createElement("button");
  button.type = "button";
  button.className = "amolink-connect";
  button.textContent = __TITLE__;
  button.style.cssText = "font:600 15px system-ui,sans-serif;padding:10px 18px;border:0;border-radius:6px;background:#339dc7;color:#fff;cursor:pointer";
  button.addEventListener("click", function () {
    var width = 720, height = 760;
    var left = Math.max(0, (screen.width - width) / 2), top = Math.max(0, (screen.height - height) / 2);
    var popup = window.open(url, "amolink_connect", "width=" + width + ",height=" + height + ",left=" + left + ",top=" + top);
    if (!popup) {
      window.location.href = url;
      return;
    }
    var watch = setInterval(function () {
      if (!popup.closed) return;
      clearInterval(watch);
      script.dispatchEvent(new CustomEvent("amolink:closed", { bubbles: true }));
    }, 500);
  });
  script.parentNode.insertBefore(button, script.nextSibling);
})();
