// amolink embed loader: renders a "connect" button that opens the hosted connect page in a popup
// and reports how it ended, on this script tag (the events bubble to the document):
//
//   amolink:connected  detail { connection_id, end_user_id }
//   amolink:declined   detail {}
//   amolink:error      detail { code }
//   amolink:closed     detail { outcome }  last, once the popup has really closed
//
// Only messages from amolink's origin and from the popup this button opened are believed.
// Optional `data-return-url` on the script tag: the result page links back to it (and the
// hosted page is opened in this window if popups are blocked).
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.parentNode) return;
  var url = __URL__;
  var origin = new URL(url).origin;
  var button = document.createElement("button");
  button.type = "button";
  button.className = "amolink-connect";
  button.textContent = __TITLE__;
  button.style.cssText = "font:600 15px system-ui,sans-serif;padding:10px 18px;border:0;border-radius:6px;background:#1f6f91;color:#fff;cursor:pointer";
  var popup = null;

  function emit(name, detail) {
    script.dispatchEvent(new CustomEvent(name, { bubbles: true, detail: detail }));
  }

  function target() {
    var link = new URL(url);
    link.searchParams.set("embed_origin", window.location.origin);
    var back = script.getAttribute("data-return-url");
    if (back) link.searchParams.set("return_url", new URL(back, window.location.href).href);
    return link.href;
  }

  button.addEventListener("click", function () {
    if (popup && !popup.closed) { popup.focus(); return; }
    var width = 720, height = 760;
    var left = Math.max(0, (screen.width - width) / 2), top = Math.max(0, (screen.height - height) / 2);
    var href = target();
    popup = window.open(href, "amolink_connect", "width=" + width + ",height=" + height + ",left=" + left + ",top=" + top);
    if (!popup) {
      window.location.href = href;
      return;
    }
    var opened = popup;
    var outcome = null;
    function onMessage(event) {
      var data = event.data;
      if (outcome || event.origin !== origin || event.source !== opened || !data || typeof data !== "object") return;
      if (data.type === "amolink:connected") {
        outcome = "connected";
        emit(outcome_event(), {
          connection_id: String(data.connection_id),
          end_user_id: typeof data.end_user_id === "string" ? data.end_user_id : null
        });
      } else if (data.type === "amolink:declined") {
        outcome = "declined";
        emit(outcome_event(), {});
      } else if (data.type === "amolink:error") {
        outcome = "error";
        emit(outcome_event(), { code: typeof data.code === "string" ? data.code : "unknown" });
      }
    }
    function outcome_event() { return "amolink:" + outcome; }
    window.addEventListener("message", onMessage);
    var watch = setInterval(function () {
      if (!opened.closed) return;
      clearInterval(watch);
      window.removeEventListener("message", onMessage);
      emit("amolink:closed", { outcome: outcome });
    }, 250);
  });
  script.parentNode.insertBefore(button, script.nextSibling);
})();
