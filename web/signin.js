// Sign-in page: POST /api/v1/session as JSON, then go to the page that sent us here.
'use strict';

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
    fail('Enter your user name and password.', fields.filter((f) => !f.value.trim()));
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
    fail((body.error && body.error.message) || ('Sign-in failed (' + res.status + ')'),
      res.status === 401 ? fields : []);
  } catch (e) {
    fail('atdesk cannot be reached: ' + e.message, []);
  }
});
