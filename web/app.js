// atdesk web UI: plain JavaScript over the REST API (/api/v1), no framework, no build step.
// Every element is built with DOM calls (text is never parsed as HTML), every change sends the
// session's CSRF token in X-CSRF-Token.
'use strict';

const state = {session: null, dirty: false, timer: null};

// ---- language: the texts of GET /api/v1/ui-messages (data/messages/<language>.json). The language
// chosen here is kept in this browser (localStorage); without a choice atdeskd answers in the
// browser's Accept-Language, else in [general] language.
const i18n = {language: 'en', languages: ['en'], messages: {}};

function t(key, args) {
  let text = i18n.messages[key];
  if (text === undefined) return key;
  for (const [k, v] of Object.entries(args || {})) text = text.split('{' + k + '}').join(String(v));
  return text;
}

// A text whose placeholders are DOM nodes (a link, a <strong>): the template's words around them
// stay in the catalogue's order, whatever the language puts first.
function tNodes(key, nodes) {
  const text = i18n.messages[key] === undefined ? key : i18n.messages[key];
  return text.split(/(\{[a-z_]+\})/).filter(Boolean).map((part) => {
    const m = /^\{([a-z_]+)\}$/.exec(part);
    return m && nodes[m[1]] !== undefined ? nodes[m[1]] : part;
  });
}

// The name people read for a value of the API (a job's state, a presence, a printer's state):
// `prefix + value` in the catalogue, else the value itself (a value newer than this page).
function named(prefix, value) {
  const text = i18n.messages[prefix + value];
  return text === undefined ? value : text;
}

async function loadMessages() {
  const chosen = localStorage.getItem('atdesk.language') || '';
  try {
    const res = await fetch('/api/v1/ui-messages' + (chosen ? '?lang=' + encodeURIComponent(chosen) : ''),
      {credentials: 'same-origin'});
    if (res.ok) Object.assign(i18n, await res.json());
  } catch (e) { /* the page stays in its own words */ }
  document.documentElement.lang = i18n.language;
  for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll('[data-i18n-label]')) node.setAttribute('aria-label', t(node.dataset.i18nLabel));
  const select = document.getElementById('language');
  if (select) {
    const names = {en: 'English', ja: '日本語'};
    select.replaceChildren(...i18n.languages.map((l) =>
      el('option', {value: l, selected: l === i18n.language, text: names[l] || l})));
    select.onchange = () => { localStorage.setItem('atdesk.language', select.value); location.reload(); };
  }
}

// ---- helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, message, code) { super(message); this.status = status; this.code = code; }
}

function failure(res, data) {
  const e = data && data.error;
  return new ApiError(res.status, (e && e.message) || t('error_http', {status: res.status}), e && e.code);
}

async function api(method, path, body) {
  // Texts the server words for people (a job's reason_text) come in the page's language.
  const headers = {'Accept-Language': i18n.language};
  if (method !== 'GET') headers['X-CSRF-Token'] = state.session ? state.session.csrf : '';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch('/api/v1' + path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    location.assign('/signin?next=' + encodeURIComponent(location.pathname));
    throw new ApiError(401, 'signed out');
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) throw failure(res, data);
  return data;
}

// The recipient table as TOML (docs/api.md): the body goes out as text; a GET answers text.
async function apiToml(method, path, text) {
  const headers = {};
  if (method !== 'GET') {
    headers['X-CSRF-Token'] = state.session ? state.session.csrf : '';
    headers['Content-Type'] = 'application/toml';
  }
  const res = await fetch('/api/v1' + path, {method, headers, credentials: 'same-origin', body: text});
  if (res.status === 401) {
    location.assign('/signin?next=' + encodeURIComponent(location.pathname));
    throw new ApiError(401, 'signed out');
  }
  if (!res.ok) {
    throw failure(res, await res.json().catch(() => null));
  }
  return method === 'GET' ? res.text() : res.json();
}

// A success message: polite, and it fades (errors never go here; see formError).
function say(text) {
  const s = document.getElementById('status');
  s.textContent = text;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { s.textContent = ''; }, 5000);
}

// "pattern: pattern: fax number: …" → "pattern: fax number: …": layers that each name the
// same field say it once.
function tidy(message) {
  const parts = String(message).split(': ');
  const out = [];
  for (const p of parts) if (out[out.length - 1] !== p) out.push(p);
  return out.join(': ');
}

function main() { return document.getElementById('main'); }

function show(title, ...content) {
  document.title = title + ' · atdesk';
  main().replaceChildren(el('h1', {text: title, tabindex: '-1'}), ...content.filter((c) => c !== null && c !== undefined && c !== false));
}

// Focus on the page heading after an action replaced the content (Release, Delete, Cancel…), so a
// keyboard or screen-reader user is not left on <body>.
function focusHeading() {
  const h = main().querySelector('h1');
  if (h) h.focus();
}

// What a page shows for an error: the API's error code in the chosen language ("受け付けられません"),
// then the server's detail, which names the field or value it is about.
function errorText(e) {
  const lead = e.code ? i18n.messages['error_' + e.code] : undefined;
  return lead === undefined ? tidy(e.message) : lead + ': ' + tidy(e.message);
}

function errorBox(e) { return el('p', {class: 'error', role: 'alert', text: errorText(e)}); }

// An error that stays next to `form` until dismissed or fixed: role=alert, and the field it names
// ("pattern: …" names the input with data-field=pattern) gets aria-invalid and aria-describedby.
function formError(form, e) {
  clearFormError(form);
  const id = (form.id || 'form') + '-error';
  const text = errorText(e);
  const dismiss = el('button', {type: 'button', class: 'secondary small', 'aria-label': t('dismiss_error'),
    onclick: () => clearFormError(form)}, '×');
  const box = el('div', {class: 'error-box', id, role: 'alert'}, el('span', {text}), ' ', dismiss);
  form.prepend(box);
  const name = tidy(e.message).split(':')[0].trim();
  const field = form.querySelector(`[data-field="${CSS.escape(name)}"]`) ||
    (form.querySelectorAll('input, select, textarea').length === 1 ? form.querySelector('input, select, textarea') : null);
  if (field) {
    field.setAttribute('aria-invalid', 'true');
    field.setAttribute('aria-describedby', id);
    field.addEventListener('input', () => clearFormError(form), {once: true});
  }
}

function clearFormError(form) {
  form.querySelector(':scope > .error-box')?.remove();
  for (const f of form.querySelectorAll('[aria-invalid]')) {
    f.removeAttribute('aria-invalid');
    f.removeAttribute('aria-describedby');
  }
}

// A form's submit: runs `action`, shows its error next to the form (and keeps it).
function submitter(action) {
  return async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    clearFormError(form);
    try { await action(form); } catch (err) { if (err.status !== 401) formError(form, err); }
  };
}

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  if (!i18n.messages.datetime) return d.toLocaleString();
  const two = (n) => String(n).padStart(2, '0');
  return t('datetime', {year: d.getFullYear(), month: two(d.getMonth() + 1), day: two(d.getDate()),
    hour: two(d.getHours()), minute: two(d.getMinutes())});
}

function badge(cls, text) { return el('span', {class: 'state ' + cls, text}); }

// A button that asks "really?" in place before it runs `action` (no modal dialogs).
function confirmButton(label, question, action, name, yesText = t('yes_delete')) {
  const wrap = el('span', {class: 'confirm-wrap'});
  const ask = el('button', {type: 'button', class: 'danger', 'aria-label': name || null, onclick: () => {
    const qid = 'q-' + (++confirmButton.n);
    const yes = el('button', {type: 'button', class: 'danger', text: yesText,
      onclick: async () => {
        try { await action(); } catch (e) {
          if (e.status === 401) return;
          wrap.replaceChildren(ask, ' ', el('span', {class: 'error', role: 'alert', text: errorText(e)}));
          ask.focus();
        }
      }});
    const no = el('button', {type: 'button', class: 'secondary', text: t('cancel'),
      onclick: () => { wrap.replaceChildren(ask); ask.focus(); }});
    wrap.replaceChildren(el('span', {class: 'confirm', role: 'alertdialog', 'aria-labelledby': qid},
      el('span', {id: qid, text: question}), ' ', yes, ' ', no));
    yes.focus();
  }}, label);
  wrap.append(ask);
  return wrap;
}
confirmButton.n = 0;

// A table that reflows into one card per row on a phone (app.css): each cell carries its
// column's name in data-label. An empty header is named for screen readers ("Actions").
function table(headers, rows) {
  for (const tr of rows) {
    let i = 0;
    for (const td of tr.children) {
      if (headers[i]) td.dataset.label = headers[i];
      i += Number(td.getAttribute('colspan') || 1);
    }
  }
  return el('div', {class: 'scroll'}, el('table', {class: 'cards'},
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', {scope: 'col'},
      h || el('span', {class: 'sr-only', text: t('actions')}))))),
    el('tbody', {}, rows)));
}

function jobLink(job) {
  return el('a', {href: '/jobs/' + encodeURIComponent(job.id), text: job.short_id});
}

function senderText(job) {
  const s = job.sender || {};
  return s.display || s.fax || s.sip_uri || s.email || s.ip || s.ipp_user || '';
}

function isAdmin() { return state.session && state.session.role === 'admin'; }

// ---- pages

// The overview and the jobs list read their data again every 10 s and re-render only when it
// changed, keeping the focused link or button focused (not while a form field or a confirmation
// is in use).
function keepFresh(page, sig) {
  const path = location.pathname + location.search;
  state.sig = sig;
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => {
    if (location.pathname + location.search !== path) return;
    const active = document.activeElement;
    if (active && active.matches('input, select, textarea') || main().querySelector('.confirm')) {
      return keepFresh(page, sig);
    }
    try { await page(true); } catch (e) { /* shown on the next navigation */ }
  }, 10000);
}

function refocus(before) {
  if (!before) return;
  if (before.tagName === 'H1') return focusHeading();
  const again = before.id ? document.getElementById(before.id) :
    before.getAttribute('href') ? main().querySelector(`a[href="${CSS.escape(before.getAttribute('href'))}"]`) : null;
  if (again) again.focus();
}

async function overview(refresh) {
  const [presence, printers, services, held] = await Promise.all([
    api('GET', '/presence'), api('GET', '/printers'), api('GET', '/chat-services'),
    api('GET', '/jobs?state=held&limit=200')]);
  const sig = JSON.stringify([presence, printers, services, held]);
  if (refresh && sig === state.sig) return keepFresh(overview, sig);
  const before = refresh && main().contains(document.activeElement) ? document.activeElement : null;
  const byRecipient = new Map();
  for (const job of held.jobs) {
    for (const r of job.recipients) {
      if (!byRecipient.has(r)) byRecipient.set(r, []);
      byRecipient.get(r).push(job);
    }
  }
  const heldRows = [...byRecipient.entries()].map(([r, jobs]) => el('tr', {},
    el('td', {text: r}),
    el('td', {}, jobs.map((j, i) => [i ? ', ' : '', jobLink(j)])),
    el('td', {text: String(jobs.length)})));
  const presenceRows = presence.recipients.map((r) => el('tr', {},
    el('td', {text: r.recipient}),
    el('td', {text: r.presence ? named('presence_', r.presence.availability) + ' · ' + named('presence_', r.presence.location) :
      (r.members.length ? r.members.map((m) => m.address + ': ' + named('presence_', m.presence.availability)).join(', ') :
        (r.error || t('unknown')))}),
    el('td', {}, badge('action-' + r.action, named('action_', r.action))),
    el('td', {text: String(r.held_jobs)})));
  show(t('nav_overview'),
    el('section', {class: 'card', 'aria-labelledby': 'h-held'},
      el('h2', {id: 'h-held', text: t('held_jobs')}),
      heldRows.length ? table([t('col_recipient'), t('col_jobs'), t('col_count')], heldRows) :
        el('p', {class: 'muted', text: t('no_held_jobs')})),
    el('div', {class: 'grid'},
      el('section', {class: 'card'}, el('h2', {text: t('printers')}),
        table([t('col_printer'), t('col_state'), t('col_message')], printers.printers.map((p) => el('tr', {},
          el('td', {}, p.name, p.default ? t('default_printer_mark') : ''),
          el('td', {}, badge('ps-' + p.state, named('printer_', p.state))),
          el('td', {text: p.message || (p.state_reasons || []).join(', ')}))))),
      el('section', {class: 'card'}, el('h2', {text: t('chat_services')}),
        table([t('col_service'), t('col_state'), ''], services.services.map((s) => el('tr', {},
          el('td', {text: s.name}), el('td', {}, badge('svc-' + s.state, named('service_', s.state))),
          el('td', {}, s.error ? el('span', {class: 'muted', text: s.error}) : null,
            isAdmin() && s.state !== 'connected' ? signInCell(s.name) : null)))))),
    el('section', {class: 'card'}, el('h2', {text: t('recipients_now')}),
      presenceRows.length ? table([t('col_recipient'), t('col_presence'), t('col_action'), t('col_held')], presenceRows) :
        el('p', {class: 'muted', text: t('no_recipients')})));
  refocus(before);
  keepFresh(overview, sig);
}

// The service account's sign-in by OAuth device code (Teams): the code and the link are shown
// here while atdeskd polls the identity platform; this cell follows the status every 5 s.
function signInCell(name) {
  const out = el('span', {class: 'muted'});
  const path = '/chat-services/' + encodeURIComponent(name) + '/sign-in';
  const follow = async () => {
    try {
      const st = await api('GET', path);
      if (st.status === 'pending') {
        out.replaceChildren(...tNodes('ms_enter_code', {code: el('strong', {text: st.user_code}),
          link: el('a', {href: st.verification_uri, target: '_blank', rel: 'noopener noreferrer',
            text: st.verification_uri})}));
        setTimeout(follow, 5000);
      } else {
        out.replaceChildren(st.status === 'signed_in' ? t('ms_signed_in') :
          t('ms_sign_in_status', {status: st.status, problem: st.problem ? ': ' + st.problem : ''}));
      }
    } catch (e) { out.replaceChildren(errorText(e)); }
  };
  const start = async () => {
    try {
      await api('POST', path);
      follow();
    } catch (e) {
      out.replaceChildren(e.status === 404 ? t('ms_no_sign_in') : errorText(e));
    }
  };
  // Authorization code with PKCE in this browser (where Conditional Access blocks device code):
  // atdeskd gives the identity platform's URL; it sends the browser back to atdeskd's callback.
  const browser = async () => {
    try {
      const r = await api('POST', path + '/browser', {redirect_base: location.origin});
      location.assign(r.authorize_url);
    } catch (e) { out.replaceChildren(errorText(e)); }
  };
  return el('span', {}, el('button', {type: 'button', class: 'secondary', onclick: start,
    text: t('sign_in')}), ' ', el('button', {type: 'button', class: 'secondary', onclick: browser,
    text: t('ms_sign_in_browser')}), ' ', out);
}

async function jobs(refresh) {
  const q = new URLSearchParams(location.search);
  const stateSel = el('select', {id: 'f-state', name: 'state'},
    ['', 'stored', 'held', 'releasing', 'printing', 'printed', 'failed', 'deleted', 'expired']
      .map((s) => el('option', {value: s, selected: q.get('state') === s, text: s ? named('state_', s) : t('state_any')})));
  const input = (id, name, type, label) => el('label', {for: id}, label,
    el('input', {id, name, type, value: q.get(name) || ''}));
  const form = el('form', {class: 'inline', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    history.pushState(null, '', '/jobs' + (p.toString() ? '?' + p : ''));
    route();
  }},
  el('label', {for: 'f-state'}, t('col_state'), stateSel),
  input('f-recipient', 'recipient', 'text', t('col_recipient')),
  input('f-sender', 'sender', 'text', t('col_sender')),
  input('f-after', 'after', 'date', t('filter_from')),
  input('f-before', 'before', 'date', t('filter_to')),
  el('button', {type: 'submit', text: t('filter')}));
  const p = new URLSearchParams();
  for (const k of ['state', 'recipient', 'sender']) if (q.get(k)) p.set(k, q.get(k));
  if (q.get('after')) p.set('after', new Date(q.get('after') + 'T00:00:00').toISOString());
  if (q.get('before')) p.set('before', new Date(q.get('before') + 'T23:59:59.999').toISOString());
  p.set('limit', '200');
  let list;
  try {
    list = await api('GET', '/jobs?' + p);
  } catch (e) {
    return show(t('nav_jobs'), form, errorBox(e));
  }
  const sig = JSON.stringify(list);
  if (refresh && sig === state.sig) return keepFresh(jobs, sig);
  const before = refresh && main().contains(document.activeElement) ? document.activeElement : null;
  const rows = list.jobs.map((j) => el('tr', {},
    el('td', {}, jobLink(j)), el('td', {}, badge('state-' + j.state, named('state_', j.state))),
    el('td', {text: senderText(j)}), el('td', {text: j.recipients.join(', ')}),
    el('td', {text: String(j.pages)}), el('td', {text: when(j.received_at)})));
  show(t('nav_jobs'), form, rows.length ? table([t('col_job'), t('col_state'), t('col_sender'),
    t('col_recipients'), t('col_pages'), t('col_received')], rows) :
    el('p', {class: 'muted', text: t('no_jobs_match')}));
  refocus(before);
  keepFresh(jobs, sig);
}

async function job(id) {
  let j;
  try {
    j = await api('GET', '/jobs/' + encodeURIComponent(id));
  } catch (e) {
    // A malformed id (400) is as much "no such job" to a person as a missing one (404).
    if (e.status === 404 || e.status === 400) return show(t('job_not_found'), errorBox(new Error(t('no_such_job'))));
    return show(t('col_job'), errorBox(e));
  }
  const [hist, printers, me] = await Promise.all([
    api('GET', '/jobs/' + encodeURIComponent(j.id) + '/history'), api('GET', '/printers'), api('GET', '/me')]);
  const base = '/api/v1/jobs/' + encodeURIComponent(j.id);
  const thumbs = el('div', {class: 'thumbs'});
  for (let n = 1; n <= j.pages; n++) {
    thumbs.append(el('figure', {},
      el('a', {href: base + '/pages/' + n + '.png?size=1600', target: '_blank', rel: 'noopener'},
        el('img', {src: base + '/pages/' + n + '.png?size=320', alt: t('page_of', {n, total: j.pages}),
          loading: 'lazy', width: '160'})),
      el('figcaption', {text: t('page_n', {n})})));
  }
  const preferred = me.default_printer || j.printer || '';
  const printerSel = el('select', {id: 'printer', name: 'printer'},
    el('option', {value: '', text: t('printer_rule_or_default')}),
    printers.printers.map((p) => el('option', {value: p.name, selected: p.name === preferred,
      text: p.name + ' (' + named('printer_', p.state) + ')'})));
  const actions = el('div', {class: 'row'});
  if (j.state === 'held') {
    const releaseForm = el('form', {class: 'inline', id: 'release-form', onsubmit: submitter(async () => {
      const done = await api('POST', '/jobs/' + encodeURIComponent(j.id) + '/release',
        {printer: printerSel.value || null});
      say(done.printer ? t('released_to', {printer: done.printer}) : t('released'));
      await job(j.id);
      focusHeading();
    })}, el('label', {for: 'printer'}, t('col_printer'), printerSel),
    el('button', {type: 'submit', id: 'release'}, t('release')));
    printerSel.dataset.field = 'printer';
    actions.append(releaseForm);
  }
  if (!['printing', 'releasing', 'deleted'].includes(j.state)) {
    actions.append(confirmButton(t('delete'), t('delete_job_question'), async () => {
      await api('DELETE', '/jobs/' + encodeURIComponent(j.id));
      say(t('job_deleted'));
      history.pushState(null, '', '/jobs');
      await route();
      focusHeading();
    }, t('delete_job')));
  }
  const facts = [
    [t('col_state'), badge('state-' + j.state, named('state_', j.state))], [t('col_sender'), senderText(j)],
    [t('col_recipients'), j.recipients.join(', ')], [t('col_pages'), String(j.pages) + (j.incomplete ? t('incomplete') : '')],
    [t('col_source'), j.source + ' (' + j.format.toUpperCase() + ')' + (j.sender.ip ? t('from_ip', {ip: j.sender.ip}) : '')],
    [t('col_received'), when(j.received_at)], [t('col_mode_table'), j.mode_table], [t('col_printer'), j.printer],
    [t('col_reason'), j.reason_text || j.reason], [t('col_document'), el('a', {href: base + '/document', text: j.document_name || t('original')})]];
  const settling = ['stored', 'releasing', 'printing'].includes(j.state);
  show(t('job_title', {id: j.short_id}),
    settling ? el('p', {class: 'muted', id: 'live', text: t('job_follows')}) : null,
    el('section', {class: 'card'}, el('dl', {}, facts.map(([k, v]) => [el('dt', {text: k}), el('dd', {}, v || '—')])), actions),
    el('section', {class: 'card'}, el('h2', {text: t('pages_heading')}), thumbs),
    el('section', {class: 'card'}, el('h2', {text: t('history')}),
      table([t('col_when'), t('col_from_state'), t('col_to_state'), t('col_who'), t('col_reason')],
        hist.history.map((h) => el('tr', {},
          el('td', {text: when(h.at)}), el('td', {text: named('state_', h.from)}),
          el('td', {text: named('state_', h.to)}), el('td', {text: h.actor}), el('td', {text: h.reason_text || h.reason}))))));
  // Follow the job while it moves (stored → held/printing → printed): re-read it each second
  // until it settles, without a reload, and keep the keyboard focus where it was.
  if (settling) {
    const path = location.pathname;
    state.timer = setTimeout(async () => {
      if (location.pathname !== path) return;
      const had = document.activeElement === main().querySelector('h1');
      try { await job(id); } catch (e) { return; }
      if (had) focusHeading();
      const now = main().querySelector('dd .state');
      if (now && !now.className.match(/state-(stored|releasing|printing)/)) {
        say(t('job_now', {state: now.textContent}));
      }
    }, 1000);
  }
}

// Names people read for the presence values of the chat services (docs/api.md keys).
const nice = (key) => named('presence_', key);

function modeGrid(tableData, onChange) {
  const avails = Object.keys(tableData.cells);
  const locations = avails.length ? Object.keys(tableData.cells[avails[0]]) : [];
  const selects = [];
  const rows = avails.map((a) => el('tr', {}, el('th', {scope: 'row', text: nice(a)}), locations.map((loc) => {
    const s = el('select', {'aria-label': t('cell_label', {table: tableData.name, availability: nice(a), location: nice(loc)}),
      'data-avail': a, 'data-loc': loc, class: 'cell-' + tableData.cells[a][loc],
      onchange: (e) => { e.target.className = 'cell-' + e.target.value; onChange(); }},
      ['print', 'hold'].map((v) => el('option', {value: v, selected: tableData.cells[a][loc] === v, text: named('action_', v)})));
    selects.push(s);
    return el('td', {'data-label': nice(loc)}, s);
  })));
  const grid = el('div', {class: 'scroll'}, el('table', {class: 'modes'},
    el('caption', {class: 'muted', text: t('modes_caption')}),
    el('thead', {}, el('tr', {}, el('th', {scope: 'col', text: t('col_availability')}), locations.map((l) => el('th', {scope: 'col', text: nice(l)})))),
    el('tbody', {}, rows)));
  const cells = () => {
    const out = {};
    for (const s of selects) (out[s.dataset.avail] ||= {})[s.dataset.loc] = s.value;
    return out;
  };
  return {grid, cells};
}

async function modes() {
  const [data, schedule, imported] = await Promise.all([api('GET', '/modes'), api('GET', '/schedule'),
    api('GET', '/holidays')]);
  const unsaved = new Set();  // names of tables with a changed cell (the page warns before leaving)
  const sections = data.tables.map((mt) => {
    const name = mt.name;
    const {grid, cells} = modeGrid(mt, () => { unsaved.add(name); state.dirty = true; });
    const form = el('form', {id: 'mode-' + name, onsubmit: submitter(async () => {
      await api('PUT', '/modes/' + encodeURIComponent(name), {cells: cells()});
      unsaved.delete(name);
      state.dirty = unsaved.size > 0;
      say(t('saved_name', {name}));
    })}, grid, el('div', {class: 'row'},
      el('button', {type: 'submit', 'data-save': name}, t('save_name', {name})),
      confirmButton(t('delete'), t('delete_mode_question', {name}), async () => {
        await api('DELETE', '/modes/' + encodeURIComponent(name)); say(t('deleted_name', {name}));
        await modes(); focusHeading();
      }, t('delete_mode', {name}))));
    return el('section', {class: 'card', 'aria-labelledby': 'h-mode-' + name},
      el('h2', {id: 'h-mode-' + name}, name, mt.active ? t('active_now') : ''), form);
  });
  state.dirty = false;
  const newName = el('input', {id: 'new-table', 'data-field': 'name', pattern: '[A-Za-z0-9_\\-]{1,64}', required: true,
    'aria-describedby': 'new-table-hint'});
  const first = data.tables[0];
  const addForm = el('form', {class: 'inline', id: 'new-table-form', onsubmit: submitter(async () => {
    const cells = {};
    if (first) for (const a of Object.keys(first.cells)) { cells[a] = {}; for (const l of Object.keys(first.cells[a])) cells[a][l] = 'hold'; }
    await api('PUT', '/modes/' + encodeURIComponent(newName.value), {cells}); say(t('created_name', {name: newName.value}));
    await modes(); focusHeading();
  })}, el('label', {for: 'new-table'}, t('new_table_name'), newName),
  el('span', {id: 'new-table-hint', class: 'muted hint', text: t('new_table_hint')}),
  el('button', {type: 'submit', text: t('create_all_hold')}));
  show(t('nav_modes'), el('p', {class: 'muted', text: t('modes_active', {name: data.active})}),
    ...sections, el('section', {class: 'card'}, el('h2', {text: t('new_table')}), addForm),
    scheduleEditor(schedule, data.tables.map((mt) => mt.name)), importedHolidays(imported.holidays));
}

// Holiday dates from [holidays] in atdesk.toml (iCalendar files and URLs): read-only here, with
// where each came from.
function importedHolidays(list) {
  return el('section', {class: 'card', 'aria-labelledby': 'h-imported'},
    el('h2', {id: 'h-imported', text: t('imported_holidays')}),
    list.length === 0
      ? el('p', {class: 'muted', text: t('no_imported_holidays')})
      : el('div', {class: 'scroll'}, el('table', {class: 'cards'},
        el('caption', {class: 'muted', text: t('imported_caption')}),
        el('thead', {}, el('tr', {}, [t('col_date'), t('col_name'), t('col_holiday_source')].map((h) => el('th', {scope: 'col', text: h})))),
        el('tbody', {}, list.map((h) => el('tr', {},
          el('td', {'data-label': t('col_date'), text: h.date}), el('td', {'data-label': t('col_name'), text: h.name}),
          el('td', {'data-label': t('col_holiday_source'), text: h.source})))))));
}

function scheduleEditor(s, names) {
  const days = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  const tableSelect = (id, value, allowNone, label) => el('select', {id, 'aria-label': label || null},
    allowNone ? el('option', {value: '', text: '—'}) : null,
    names.map((n) => el('option', {value: n, selected: n === value, text: n})));
  const tz = el('input', {id: 's-tz', value: s.time_zone || '', 'data-field': 'time_zone', autocomplete: 'off'});
  const def = tableSelect('s-default', s.default_table);
  def.dataset.field = 'default_table';
  const hol = tableSelect('s-holiday', s.holiday_table, true);
  hol.dataset.field = 'holiday_table';
  const holidays = el('textarea', {id: 's-holidays', rows: '3', 'data-field': 'holidays'});
  holidays.value = (s.holidays || []).join('\n');
  const rulesBody = el('tbody', {});
  let counter = 0;
  const addRule = (r) => {
    const k = counter++;
    const n = rulesBody.children.length + 1;
    const tr = el('tr', {},
      el('td', {'data-label': t('col_table')}, tableSelect('r-table-' + k, r.table, false, t('rule_table', {n}))),
      el('td', {'data-label': t('col_days')}, el('fieldset', {class: 'days'}, el('legend', {class: 'sr-only', text: t('rule_days', {n})}),
        days.map((d) => el('label', {}, el('input', {type: 'checkbox', value: d, checked: (r.days || []).includes(d)}), named('day_', d), ' ')))),
      el('td', {'data-label': t('col_start')}, el('input', {type: 'time', value: r.start || '08:00', 'aria-label': t('rule_from', {n})})),
      el('td', {'data-label': t('col_end')}, el('input', {type: 'time', value: r.end || '18:00', 'aria-label': t('rule_to', {n})})),
      el('td', {}, el('button', {type: 'button', class: 'secondary', 'aria-label': t('rule_remove', {n}),
        onclick: () => { tr.remove(); addBtn.focus(); }}, t('remove'))));
    rulesBody.append(tr);
    return tr;
  };
  const addBtn = el('button', {type: 'button', class: 'secondary', onclick: () => {
    addRule({table: names[0], days: []}).querySelector('select').focus();
  }}, t('add_rule'));
  (s.rules || []).forEach(addRule);
  const save = async () => {
    const rules = [...rulesBody.children].map((tr) => {
      const times = tr.querySelectorAll('input[type=time]');
      return {table: tr.querySelector('select').value,
        days: [...tr.querySelectorAll('input[type=checkbox]:checked')].map((c) => c.value),
        start: times[0].value, end: times[1].value};
    });
    const body = {time_zone: tz.value, default_table: def.value, holiday_table: hol.value,
      holidays: holidays.value.split(/\s+/).filter(Boolean), rules};
    await api('PUT', '/schedule', body); say(t('schedule_saved'));
  };
  return el('section', {class: 'card', 'aria-labelledby': 'h-schedule'}, el('h2', {id: 'h-schedule', text: t('schedule')}),
    el('form', {id: 'schedule', onsubmit: submitter(save)},
      el('div', {class: 'row'},
        el('label', {for: 's-tz'}, t('time_zone'), tz), el('label', {for: 's-default'}, t('default_table'), def),
        el('label', {for: 's-holiday'}, t('holiday_table'), hol),
        el('label', {for: 's-holidays'}, t('holidays'), holidays)),
      el('div', {class: 'scroll'}, el('table', {class: 'cards'},
        el('caption', {class: 'muted', text: t('schedule_caption')}),
        el('thead', {}, el('tr', {}, [t('col_table'), t('col_days'), t('col_start'), t('col_end')].map((h) => el('th', {scope: 'col', text: h})),
          el('th', {scope: 'col'}, el('span', {class: 'sr-only', text: t('actions')})))),
        rulesBody)),
      el('div', {class: 'row'},
        addBtn,
        el('button', {type: 'submit', text: t('save_schedule')}))));
}

async function recipients() {
  const data = await api('GET', '/recipients');
  const field = (id, label, value, hint) => el('label', {for: id}, label,
    el('input', {id, value: value || '', placeholder: hint || '', 'data-field': id.split('-').pop()}));
  // The language of the recipient's chat messages ("": the chat service's or the server's).
  const languageField = (id, value) => el('label', {for: id}, t('col_language'),
    el('select', {id, 'data-field': 'language'},
      [['', t('language_default')], ['en', 'English'], ['ja', '日本語']].map(([v, name]) =>
        el('option', {value: v, selected: v === (value || ''), text: name}))));
  const ruleFrom = (prefix) => ({
    pattern: document.getElementById(prefix + '-pattern').value.trim(),
    recipient: document.getElementById(prefix + '-recipient').value.trim(),
    printer: document.getElementById(prefix + '-printer').value.trim(),
    note: document.getElementById(prefix + '-note').value.trim(),
    language: document.getElementById(prefix + '-language').value});
  const rows = data.rules.map((r) => {
    const tr = el('tr', {'data-rule': r.id},
      el('td', {text: r.pattern}), el('td', {text: r.recipient}), el('td', {text: r.printer}),
      el('td', {text: r.note}), el('td', {text: r.language || ''}),
      el('td', {class: 'actions'},
        el('button', {type: 'button', class: 'secondary', 'aria-label': t('edit_rule', {pattern: r.pattern}), onclick: () => {
          const p = 'e' + r.id;
          const editForm = el('form', {class: 'inline', id: 'edit-' + r.id, onsubmit: submitter(async () => {
            await api('PUT', '/recipients/' + r.id, ruleFrom(p)); say(t('rule_saved')); await recipients(); focusHeading();
          })}, field(p + '-pattern', t('col_pattern'), r.pattern), field(p + '-recipient', t('col_recipient'), r.recipient),
          field(p + '-printer', t('col_printer'), r.printer), field(p + '-note', t('col_note'), r.note),
          languageField(p + '-language', r.language),
          el('button', {type: 'submit', text: t('save')}),
          el('button', {type: 'button', class: 'secondary', onclick: async () => { await recipients(); focusHeading(); }}, t('cancel')));
          tr.replaceChildren(el('td', {colspan: '6'}, editForm));
          editForm.querySelector('input').focus();
        }}, t('edit')), ' ',
        confirmButton(t('delete'), t('delete_rule_question', {pattern: r.pattern}), async () => {
          await api('DELETE', '/recipients/' + r.id); say(t('rule_deleted')); await recipients(); focusHeading();
        }, t('delete_rule', {pattern: r.pattern}))));
    return tr;
  });
  const add = el('form', {class: 'inline', id: 'add-rule', onsubmit: submitter(async () => {
    await api('POST', '/recipients', ruleFrom('n')); say(t('rule_added')); await recipients(); focusHeading();
  })},
  field('n-pattern', t('col_pattern'), '', '+81312345678, prefix:03, others, all, sip:…, @example.org, 10.0.0.0/8'),
  field('n-recipient', t('col_recipient'), '', t('hint_recipient')),
  field('n-printer', t('printer_optional'), ''), field('n-note', t('col_note'), ''),
  languageField('n-language', ''),
  el('button', {type: 'submit', text: t('add_rule')}));
  const exportLink = el('button', {type: 'button', class: 'secondary', onclick: () => {
    const rules = data.rules.map(({id, ...rest}) => rest);
    const blob = new Blob([JSON.stringify({rules}, null, 2)], {type: 'application/json'});
    const a = el('a', {href: URL.createObjectURL(blob), download: 'atdesk-recipients.json'});
    document.body.append(a); a.click(); a.remove();
  }}, t('export_json'));
  const file = el('input', {type: 'file', id: 'import', accept: 'application/json,.json'});
  const importForm = el('form', {class: 'inline', id: 'import-json', onsubmit: submitter(async () => {
    if (!file.files.length) throw new Error(t('choose_file'));
    const parsed = JSON.parse(await file.files[0].text());
    const rules = (parsed.rules || []).map(({id, ...rest}) => rest);
    await api('PUT', '/recipients', {rules});
    say(t('imported_rules', {count: rules.length})); await recipients(); focusHeading();
  })}, el('label', {for: 'import'}, t('replace_from_file'), file), el('button', {type: 'submit', text: t('import')}), exportLink);
  const exportToml = el('button', {type: 'button', class: 'secondary', onclick: async () => {
    try {
      const blob = new Blob([await apiToml('GET', '/recipients/export.toml')], {type: 'application/toml'});
      const a = el('a', {href: URL.createObjectURL(blob), download: 'recipients.toml'});
      document.body.append(a); a.click(); a.remove();
    } catch (err) { formError(tomlForm, err); }
  }}, t('export_toml'));
  const tomlFile = el('input', {type: 'file', id: 'import-toml', accept: '.toml,application/toml'});
  const tomlForm = el('form', {class: 'inline', id: 'import-toml-form', onsubmit: submitter(async () => {
    if (!tomlFile.files.length) throw new Error(t('choose_file'));
    const result = await apiToml('PUT', '/recipients/import.toml', await tomlFile.files[0].text());
    say(t('imported_rules', {count: result.rules.length})); await recipients(); focusHeading();
  })}, el('label', {for: 'import-toml'}, t('replace_from_toml'), tomlFile),
  el('button', {type: 'submit', text: t('import_toml')}), exportToml);
  show(t('recipient_table'),
    el('p', {class: 'muted', text: t('recipients_intro')}),
    rows.length ? table([t('col_pattern'), t('col_recipient'), t('col_printer'), t('col_note'), t('col_language'), ''], rows) : el('p', {class: 'muted', text: t('no_rules')}),
    el('section', {class: 'card', 'aria-labelledby': 'h-add-rule'}, el('h2', {id: 'h-add-rule', text: t('add_a_rule')}), add),
    el('section', {class: 'card', 'aria-labelledby': 'h-import'}, el('h2', {id: 'h-import', text: t('import_export')}), importForm, tomlForm));
}

async function audit(before) {
  const data = await api('GET', '/audit?limit=100' + (before ? '&before=' + before : ''));
  const last = data.entries.length ? data.entries[data.entries.length - 1].id : 0;
  show(t('nav_audit'),
    table([t('col_when'), t('col_who'), t('col_action'), t('col_subject'), t('col_detail')], data.entries.map((e) => el('tr', {},
      el('td', {text: when(e.at)}), el('td', {text: e.actor}), el('td', {text: e.action}),
      el('td', {text: e.subject}), el('td', {text: e.detail})))),
    data.entries.length ? null : el('p', {class: 'muted', text: t('no_entries')}),
    data.entries.length === 100 ? el('button', {type: 'button', class: 'secondary', onclick: async () => { await audit(last); focusHeading(); }}, t('older_entries')) : null);
}

async function accounts() {
  const data = await api('GET', '/accounts');
  const rows = data.accounts.map((a) => el('tr', {},
    el('td', {text: a.name}), el('td', {text: named('role_', a.role)}), el('td', {text: a.recipients.join(', ')}),
    el('td', {}, a.name === state.session.user ? el('span', {class: 'muted', text: t('you')}) :
      confirmButton(t('delete'), t('delete_account_question', {name: a.name}), async () => {
        await api('DELETE', '/accounts/' + encodeURIComponent(a.name)); say(t('deleted_name', {name: a.name}));
        await accounts(); focusHeading();
      }, t('delete_account', {name: a.name})))));
  const v = (id) => document.getElementById(id).value;
  const add = el('form', {class: 'inline', id: 'add-account', onsubmit: submitter(async () => {
    await api('POST', '/accounts', {name: v('a-name'), password: v('a-password'), role: v('a-role'),
      recipients: v('a-recipients').split(/[\s,]+/).filter(Boolean)});
    say(t('account_added')); await accounts(); focusHeading();
  })},
  el('label', {for: 'a-name'}, t('col_name'), el('input', {id: 'a-name', autocomplete: 'off', 'data-field': 'name'})),
  el('label', {for: 'a-password'}, t('password_min'), el('input', {id: 'a-password', type: 'password', autocomplete: 'new-password', 'data-field': 'password'})),
  el('label', {for: 'a-role'}, t('col_role'), el('select', {id: 'a-role', 'data-field': 'role'}, el('option', {value: 'user', text: t('role_user')}), el('option', {value: 'admin', text: t('role_admin')}))),
  el('label', {for: 'a-recipients'}, t('recipient_keys'), el('input', {id: 'a-recipients', placeholder: 'user:local:alice', 'data-field': 'recipients'})),
  el('button', {type: 'submit', text: t('add_account')}));
  show(t('nav_accounts'), table([t('col_name'), t('col_role'), t('col_recipients'), ''], rows),
    el('section', {class: 'card', 'aria-labelledby': 'h-add-account'}, el('h2', {id: 'h-add-account', text: t('add_an_account')}), add));
}

async function settings() {
  const [me, printers] = await Promise.all([api('GET', '/me'), api('GET', '/printers')]);
  const hold = el('input', {type: 'checkbox', id: 'hold-all', checked: me.hold_all, disabled: !me.recipients.length, 'data-field': 'hold_all'});
  const printer = el('select', {id: 'default-printer', 'data-field': 'default_printer'}, el('option', {value: '', text: t('printer_rule_or_default')}),
    printers.printers.map((p) => el('option', {value: p.name, selected: p.name === me.default_printer, text: p.name})));
  show(t('nav_settings'),
    el('p', {}, tNodes('signed_in_as', {user: el('strong', {text: me.user}), role: named('role_', me.role),
      keys: me.recipients.length ? me.recipients.join(', ') : t('none')})),
    el('form', {class: 'card', id: 'my-settings', onsubmit: submitter(async () => {
      const body = {default_printer: printer.value};
      if (me.recipients.length) body.hold_all = hold.checked;
      await api('PUT', '/me', body); say(t('settings_saved'));
    })},
    el('p', {}, el('label', {}, hold, t('hold_all'))),
    el('p', {}, el('label', {for: 'default-printer'}, t('my_default_printer')), printer),
    el('button', {type: 'submit', text: t('save')})));
}

// ---- routing

const routes = [
  [/^\/$/, () => overview()], [/^\/jobs$/, () => jobs()], [/^\/jobs\/([^/]+)$/, (id) => job(decodeURIComponent(id))],
  [/^\/modes$/, modes], [/^\/recipients$/, recipients], [/^\/audit$/, () => audit(0)],
  [/^\/accounts$/, accounts], [/^\/settings$/, settings]];

async function route() {
  state.path = location.pathname + location.search;
  clearTimeout(state.timer);
  state.dirty = false;
  const path = location.pathname;
  for (const a of document.querySelectorAll('header nav ul a')) {
    if (a.getAttribute('href') === path || (path.startsWith('/jobs') && a.getAttribute('href') === '/jobs')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const found = routes.find(([re]) => re.test(path));
  try {
    if (!found) return show(t('not_found'), el('p', {text: t('no_such_page')}));
    document.body.classList.remove('menu-open');
    document.getElementById('menu')?.setAttribute('aria-expanded', 'false');
    await found[1](...path.match(found[0]).slice(1));
  } catch (e) {
    if (e.status !== 401) show(t('error'), errorBox(e));
  }
}

const leaveQuestion = () => t('leave_question');

document.addEventListener('click', async (e) => {
  const a = e.target.closest('a');
  if (!a || a.target || a.hasAttribute('download') || e.ctrlKey || e.metaKey || e.shiftKey) return;
  // In-page links (the skip link "#main") keep the browser's own behaviour: no re-render.
  if ((a.getAttribute('href') || '').startsWith('#')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || !routes.some(([re]) => re.test(url.pathname))) return;
  e.preventDefault();
  if (state.dirty && !confirm(leaveQuestion())) return;
  history.pushState(null, '', url.pathname + url.search);
  await route();
  focusHeading();
});
window.addEventListener('popstate', () => {
  // Only the #fragment changed (the skip link): the page stays as it is.
  if (location.pathname + location.search === state.path) return;
  if (state.dirty && !confirm(leaveQuestion())) {
    history.pushState(null, '', '/modes');
    return;
  }
  route();
});
// Closing the tab or reloading with unsaved mode-table cells: the browser's own warning.
window.addEventListener('beforeunload', (e) => {
  if (state.dirty) { e.preventDefault(); e.returnValue = ''; }
});

async function start() {
  try {
    state.session = await api('GET', '/session');
  } catch (e) {
    return;
  }
  await loadMessages();
  document.getElementById('who').textContent = state.session.user + ' (' + named('role_', state.session.role) + ')';
  for (const li of document.querySelectorAll('[data-admin]')) li.hidden = !isAdmin();
  const menu = document.getElementById('menu');
  menu.addEventListener('click', () => {
    const open = document.body.classList.toggle('menu-open');
    menu.setAttribute('aria-expanded', String(open));
  });
  document.getElementById('signout').addEventListener('click', async () => {
    if (state.dirty && !confirm(leaveQuestion())) return;
    try { await api('DELETE', '/session'); } catch (e) { /* signed out either way */ }
    location.assign('/signin');
  });
  route();
}
start();
