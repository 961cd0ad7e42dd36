// The hosted connect page. Loaded before amoCRM's button script, so it can see the consent
// window the button opens. It tells the end user why nothing happened when amoCRM reports an
// error (a declined consent, an account they do not administer) or its window closes without
// granting access, tells the embedding page (at its origin only) the outcome, and follows the
// result page that a `post_message`-mode consent window reports (same origin only).
"use strict";
(function () {
  var script = document.currentScript;
  var embedOrigin = script ? script.getAttribute("data-embed-origin") : "";
  var settled = false;

  function show(kind) {
    var status = document.getElementById("connect-status");
    if (!status) return;
    status.textContent = status.getAttribute("data-" + kind) || "";
    status.className = kind === "declined" ? "alert" : "alert error";
    status.hidden = false;
    status.focus();
  }

  function tellEmbedder(message) {
    var opener = window.opener;
    if (!embedOrigin || !opener || opener.closed) return;
    try { opener.postMessage(message, embedOrigin); } catch (e) { /* the embedder left */ }
  }

  function failed(code) {
    settled = true;
    if (code === "access_denied") {
      show("declined");
      tellEmbedder({ type: "amolink:declined" });
    } else {
      show("error");
      tellEmbedder({ type: "amolink:error", code: code });
    }
  }

  // amoCRM's button calls the global named in data-error-callback with the consent window's
  // message when it reports an error.
  window.amolinkConnectError = function (data) {
    var code = data && typeof data.error === "string" ? data.error : "unknown";
    failed(code);
  };

  window.addEventListener("message", function (event) {
    var data = event.data;
    // amoCRM's consent window hands a granted consent's redirect to its button as `{url}`.
    if (data && typeof data === "object" && typeof data.url === "string") settled = true;
    if (event.origin !== window.location.origin || !data || typeof data !== "object") return;
    if (data.type === "amolink:result" && typeof data.path === "string" &&
        data.path.indexOf("/connect/done/") === 0) {
      settled = true;
      window.location.assign(data.path);
    } else if (data.type === "amolink:declined") {
      failed("access_denied");
    }
  });

  // The consent window amoCRM's button opens: when it closes and nothing came back (amoCRM
  // showed its own error, or the person closed it), say what to do next. In popup mode a
  // granted consent first posts its `{url}` here (see above).
  var open = window.open;
  window.open = function () {
    var consent = open.apply(window, arguments);
    if (consent) {
      settled = false;
      var watch = setInterval(function () {
        if (!consent.closed) return;
        clearInterval(watch);
        if (!settled) show("closed");
      }, 250);
    }
    return consent;
  };
})();
