// amocrm-sim: the site button ("кнопка на сайт").
//
// Reads the documented data-* attributes of every <script class="amocrm_oauth"> or
// <script class="kommo_oauth"> tag and renders a button right after it. Clicking opens the
// consent page, found relative to this script's own URL, so the same file works at
// https://www.amocrm.ru/auth/button.min.js and at .../_sim/site/www.amocrm.ru/auth/button.min.js.
//
// Deliberate improvements over the real script: query values are URL-encoded, buttons render
// even when the tag is inserted after page load, messages are accepted only from the consent
// origin, no eval, and styling is done through element.style (allowed by a strict CSP).
(function () {
  'use strict';

  var SCRIPT_CLASSES = ['amocrm_oauth', 'kommo_oauth'];
  var COLORS = {
    'default': '#339DC7', blue: '#1976D2', violet: '#6A1B9A',
    green: '#388E3C', orange: '#F57F17', red: '#D84315'
  };
  var KOMMO_TITLES = {
    en: 'Continue with Kommo', es: 'Continuar con Kommo',
    pt: 'Continuar com Kommo', id: 'Lanjutkan dengan Kommo'
  };
  var REQUIRED_METADATA = ['data-name', 'data-description', 'data-redirect_uri', 'data-secrets_uri', 'data-scopes'];

  // Captured while this script runs: later, document.currentScript is gone.
  var selfScript = document.currentScript;
  var selfSrc = selfScript && selfScript.src ? selfScript.src : null;

  function consentUrl(script) {
    var base = selfSrc || script.src;
    return new URL('../oauth', base);
  }

  function attr(script, name) {
    var value = script.getAttribute(name);
    return value === null || value === '' ? null : value;
  }

  function randomState() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  function buildUrl(script) {
    var url = consentUrl(script);
    var q = url.searchParams;
    q.set('state', attr(script, 'data-state') || randomState());
    q.set('mode', attr(script, 'data-mode') || 'popup');
    q.set('origin', window.location.href);
    var clientId = attr(script, 'data-client-id');
    if (clientId) {
      q.set('client_id', clientId);
    } else {
      q.set('name', attr(script, 'data-name'));
      q.set('description', attr(script, 'data-description'));
      q.set('redirect_uri', attr(script, 'data-redirect_uri'));
      q.set('secrets_uri', attr(script, 'data-secrets_uri'));
      var logo = attr(script, 'data-logo');
      if (logo) { q.set('logo', logo); }
      attr(script, 'data-scopes').split(',').forEach(function (scope) {
        scope = scope.trim();
        if (scope) { q.append('scopes[]', scope); }
      });
    }
    return url;
  }

  function canRender(script) {
    if (attr(script, 'data-client-id')) { return true; }
    return REQUIRED_METADATA.every(function (name) { return attr(script, name) !== null; });
  }

  function callErrorCallback(script, data) {
    var name = attr(script, 'data-error-callback');
    if (!name) { return; }
    var fn = name.split('.').reduce(function (obj, key) { return obj ? obj[key] : undefined; }, window);
    if (typeof fn === 'function') { fn(data); }
  }

  function listen(script, consentOrigin) {
    window.addEventListener('message', function (event) {
      if (event.origin !== consentOrigin || !event.data || typeof event.data !== 'object') { return; }
      if (event.data.error) {
        callErrorCallback(script, event.data);
      } else if (typeof event.data.url === 'string') {
        window.location = event.data.url;
      }
    });
  }

  function render(script) {
    if (script.getAttribute('data-sim-rendered')) { return; }
    script.setAttribute('data-sim-rendered', '1');
    if (!canRender(script)) {
      console.log('No client_id or client_secret or script tag or metadata');
      return;
    }
    var isKommo = script.classList.contains('kommo_oauth');
    var stem = isKommo ? 'kommo' : 'amocrm';
    var locale = attr(script, 'data-locale') || 'en';
    var title = attr(script, 'data-title') ||
      (isKommo ? (KOMMO_TITLES[locale] || KOMMO_TITLES.en) : 'Установить интеграцию');
    var compact = attr(script, 'data-compact') === 'true';
    var dark = attr(script, 'data-theme') === 'dark';

    var button = document.createElement('div');
    button.className = attr(script, 'data-class-name') || (stem + '-oauth');
    button.setAttribute('role', 'button');
    button.setAttribute('tabindex', '0');
    button.setAttribute('data-sim-button', stem);
    button.textContent = compact ? (isKommo ? 'K' : 'amo') : title;
    button.title = title;
    var s = button.style;
    s.display = 'inline-block';
    s.cursor = 'pointer';
    s.padding = compact ? '8px 12px' : '10px 20px';
    s.borderRadius = '4px';
    s.font = '600 14px/1.2 system-ui, sans-serif';
    s.userSelect = 'none';
    if (dark) {
      s.background = '#1d2a36'; s.color = '#ffffff';
    } else if (isKommo && !attr(script, 'data-color')) {
      s.background = '#ffffff'; s.color = '#1d2a36'; s.border = '1px solid #c9d3dd';
    } else {
      s.background = COLORS[attr(script, 'data-color')] || COLORS['default']; s.color = '#ffffff';
    }

    var consentOrigin = consentUrl(script).origin;
    listen(script, consentOrigin);
    function open() {
      var url = buildUrl(script).toString();
      var popup = window.open(url, 'amocrm_oauth', 'width=750,height=580');
      // Popups blocked (or a headless test): run the consent in this window instead; in popup
      // mode the result page then navigates this window to the Redirect URI itself.
      if (!popup) { window.location.assign(url); }
    }
    button.addEventListener('click', open);
    button.addEventListener('keydown', function (event) {
      if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); open(); }
    });
    script.parentNode.insertBefore(button, script.nextSibling);
  }

  function renderAll() {
    SCRIPT_CLASSES.forEach(function (cls) {
      Array.prototype.forEach.call(document.querySelectorAll('script.' + cls), render);
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', renderAll);
  } else {
    renderAll();
  }
})();
