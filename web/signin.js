// Sign-in page: POST /api/v1/session as JSON, then go to the page that sent us here.
'use strict';

// The page's texts in the language chosen in this browser, else the browser's (GET
// /api/v1/ui-messages, as app.js does).
const i18n = {messages: {}};
function t(key, args) {
  let text = i18n.messages[key];
  if (text === undefined) return null;
  for (const [k, v] of Object.entries(args || {})) text = text.split('{' + k + '}').join(String(v));
  return text;
}
(async () => {
  const chosen = localStorage.getItem('atdesk.language') || '';
  try {
    const res = await fetch('/api/v1/ui-messages' + (chosen ? '?lang=' + encodeURIComponent(chosen) : ''));
    if (!res.ok) return;
    Object.assign(i18n, await res.json());
  } catch (e) { return; }
  document.documentElement.lang = i18n.language;
  document.title = t('sign_in_title') || document.title;
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n) || node.textContent;
})();

// Only a path of this site (no "//host", no scheme): an open redirect is not possible.
function nextPage() {
  const next = new URLSearchParams(location.search).get('next') || '/';
  return /^\/(?!\/)[A-Za-z0-9/_-]*$/.test(next) ? next : '/';
}

document.getElementById('signin').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = document.getElementById('error');
  const fields = [document.getElementById('user'), document.getElementById('password')];
  error.textContent = '';
  for (const f of fields) f.removeAttribute('aria-invalid');
  // The message stays until the next attempt; the fields it is about point to it.
  const fail = (text, which) => {
    error.textContent = text;
    for (const f of which) f.setAttribute('aria-invalid', 'true');
  };
  const user = document.getElementById('user').value.trim();
  const password = document.getElementById('password').value;
  if (!user || !password) {
    fail(t('enter_credentials') || 'Enter your user name and password.', fields.filter((f) => !f.value.trim()));
    return;
  }
  try {
    const res = await fetch('/api/v1/session', {
      method: 'POST',
      credentials: 'same-origin',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({user, password}),
    });
    if (res.ok) {
      location.assign(nextPage());
      return;
    }
    const body = await res.json().catch(() => ({}));
    // 401 and 429 in the chosen language; anything else with the server's words (it names the
    // field), after the catalogue's name of its error code.
    const detail = body.error && body.error.message;
    const lead = body.error && i18n.messages['error_' + body.error.code];
    fail((res.status === 401 && t('sign_in_wrong')) ||
      (res.status === 429 && t('sign_in_throttled', {status: res.status})) ||
      (detail && (lead ? lead + ': ' + detail : detail)) ||
      (t('sign_in_failed', {status: res.status}) || ('Sign-in failed (' + res.status + ')')),
      res.status === 401 ? fields : []);
  } catch (e) {
    fail(t('unreachable', {error: e.message}) || ('atdesk cannot be reached: ' + e.message), []);
  }
});
