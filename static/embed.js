// amolink embed loader: renders a "connect" button that opens the hosted connect page.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.parentNode) return;
  var url = __URL__;
  var origin = __ORIGIN__;
  var button = document.createElement("button");
  button.type = "button";
  button.className = "amolink-connect";
  button.textContent = __TITLE__;
  button.style.cssText = "font:600 15px system-ui,sans-serif;padding:10px 18px;border:0;border-radius:6px;background:#339dc7;color:#fff;cursor:pointer";
  button.addEventListener("click", function () {
    var width = 720, height = 760;
    var left = Math.max(0, (screen.width - width) / 2), top = Math.max(0, (screen.height - height) / 2);
    var popup = window.open(url, "amolink_connect", "width=" + width + ",height=" + height + ",left=" + left + ",top=" + top);
    if (!popup) window.location.href = url;
  });
  script.parentNode.insertBefore(button, script.nextSibling);
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || !event.data || typeof event.data.type !== "string") return;
    if (event.data.type.indexOf("amolink:") !== 0) return;
    script.dispatchEvent(new CustomEvent(event.data.type, { bubbles: true, detail: event.data }));
  });
})();
