// A connect result page (connected, failed or declined). Only a status, the connection id and
// the tenant's own end-user id travel; never a code or a token.
//
// - In amoCRM's consent window (`post_message` mode) the opener is the hosted connect page, on
//   amolink's origin: it is told where the result is and follows it; this window closes.
// - In the window the tenant's page opened through the embed loader, the opener is that page:
//   it is told the outcome at its own origin only, and after a success this window closes.
"use strict";
(function () {
  var script = document.currentScript;
  if (!script) return;
  var status = script.getAttribute("data-status");
  var opener = window.opener;
  if (!opener || opener.closed) return;

  var sameOrigin = false;
  try { sameOrigin = opener.location.origin === window.location.origin; } catch (e) { sameOrigin = false; }
  if (sameOrigin) {
    opener.postMessage(status === "declined"
      ? { type: "amolink:declined" }
      : { type: "amolink:result", path: window.location.pathname }, window.location.origin);
    window.close();
    return;
  }

  var embedOrigin = script.getAttribute("data-embed-origin");
  if (!embedOrigin) return;
  var message;
  if (status === "connected") {
    message = {
      type: "amolink:connected",
      connection_id: script.getAttribute("data-connection-id"),
      end_user_id: script.getAttribute("data-end-user-id") || null
    };
  } else if (status === "declined") {
    message = { type: "amolink:declined" };
  } else {
    message = { type: "amolink:error", code: "connect_failed" };
  }
  opener.postMessage(message, embedOrigin);
  if (status === "connected") window.close();
})();
