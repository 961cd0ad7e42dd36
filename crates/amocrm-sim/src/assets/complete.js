// amocrm-sim: popup-mode result. Posts the result to the window that opened the consent popup
// (only to that window's own origin) and closes; without an opener, navigates itself instead.
(function () {
  'use strict';
  var el = document.getElementById('sim-complete');
  if (!el) { return; }
  var url = el.getAttribute('data-url');
  var origin = el.getAttribute('data-origin');
  var message = null;
  try { message = JSON.parse(el.getAttribute('data-message') || 'null'); } catch (e) { message = null; }
  var opener = window.opener;
  if (opener && !opener.closed && origin && message) {
    try {
      opener.postMessage(message, origin);
      window.close();
      return;
    } catch (e) { /* fall through to navigating ourselves */ }
  }
  if (url) { window.location.replace(url); }
})();
