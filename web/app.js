// atdesk web UI: plain JavaScript over the REST API (/api/v1), no framework, no build step.
// Every element is built with DOM calls (text is never parsed as HTML), every change sends the
// session's CSRF token in X-CSRF-Token.
'use strict';

const state = {session: null};

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
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = {};
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
  if (!res.ok) {
    throw new ApiError(res.status, (data && data.error && data.error.message) || ('HTTP ' + res.status));
  }
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
    const data = await res.json().catch(() => null);
    throw new ApiError(res.status, (data && data.error && data.error.message) || ('HTTP ' + res.status));
  }
  return method === 'GET' ? res.text() : res.json();
}

function say(text) {
  const s = document.getElementById('status');
  s.textContent = text;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { s.textContent = ''; }, 5000);
}

function main() { return document.getElementById('main'); }

function show(title, ...content) {
  document.title = title + ' · atdesk';
  main().replaceChildren(el('h1', {text: title}), ...content);
}

function errorBox(e) { return el('p', {class: 'error', role: 'alert', text: e.message}); }

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

function badge(cls, text) { return el('span', {class: 'state ' + cls, text}); }

// A button that asks "really?" in place before it runs `action` (no modal dialogs).
function confirmButton(label, question, action) {
  const wrap = el('span', {});
  const ask = el('button', {type: 'button', class: 'danger', onclick: () => {
    const yes = el('button', {type: 'button', class: 'danger', text: 'Yes, ' + label.toLowerCase(),
      onclick: async () => { try { await action(); } catch (e) { say(e.message); } }});
    const no = el('button', {type: 'button', class: 'secondary', text: 'Cancel',
      onclick: () => wrap.replaceChildren(ask)});
    wrap.replaceChildren(el('span', {class: 'confirm', role: 'alertdialog'}, question, ' ', yes, ' ', no));
    yes.focus();
  }}, label);
  wrap.append(ask);
  return wrap;
}

function table(headers, rows) {
  return el('div', {class: 'scroll'}, el('table', {},
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', {scope: 'col', text: h})))),
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

async function overview() {
  const [presence, printers, services, held] = await Promise.all([
    api('GET', '/presence'), api('GET', '/printers'), api('GET', '/chat-services'),
    api('GET', '/jobs?state=held&limit=200')]);
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
    el('td', {text: r.presence ? r.presence.availability + ' · ' + r.presence.location :
      (r.members.length ? r.members.map((m) => m.address + ': ' + m.presence.availability).join(', ') :
        (r.error || 'unknown'))}),
    el('td', {}, badge('action-' + r.action, r.action)),
    el('td', {text: String(r.held_jobs)})));
  show('Overview',
    el('section', {class: 'card', 'aria-labelledby': 'h-held'},
      el('h2', {id: 'h-held', text: 'Held jobs'}),
      heldRows.length ? table(['Recipient', 'Jobs', 'Count'], heldRows) :
        el('p', {class: 'muted', text: 'No held jobs.'})),
    el('div', {class: 'grid'},
      el('section', {class: 'card'}, el('h2', {text: 'Printers'}),
        table(['Printer', 'State', 'Message'], printers.printers.map((p) => el('tr', {},
          el('td', {}, p.name, p.default ? ' (default)' : ''),
          el('td', {}, badge('ps-' + p.state, p.state)),
          el('td', {text: p.message || (p.state_reasons || []).join(', ')}))))),
      el('section', {class: 'card'}, el('h2', {text: 'Chat services'}),
        table(['Service', 'State', ''], services.services.map((s) => el('tr', {},
          el('td', {text: s.name}), el('td', {}, badge('svc-' + s.state, s.state)),
          el('td', {}, s.error ? el('span', {class: 'muted', text: s.error}) : null,
            isAdmin() && s.state !== 'connected' ? signInCell(s.name) : null)))))),
    el('section', {class: 'card'}, el('h2', {text: 'Recipients now'}),
      presenceRows.length ? table(['Recipient', 'Presence', 'Action', 'Held'], presenceRows) :
        el('p', {class: 'muted', text: 'No recipients.'})));
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
        out.replaceChildren('Enter code ', el('strong', {text: st.user_code}), ' at ',
          el('a', {href: st.verification_uri, target: '_blank', rel: 'noopener noreferrer',
            text: st.verification_uri}));
        setTimeout(follow, 5000);
      } else {
        out.replaceChildren(st.status === 'signed_in' ? 'Signed in.' :
          'Sign-in ' + st.status + (st.problem ? ': ' + st.problem : '') + '.');
      }
    } catch (e) { out.replaceChildren(e.message); }
  };
  const start = async () => {
    try {
      await api('POST', path);
      follow();
    } catch (e) {
      out.replaceChildren(e.status === 404 ? 'This service has no sign-in here.' : e.message);
    }
  };
  // Authorization code with PKCE in this browser (where Conditional Access blocks device code):
  // atdeskd gives the identity platform's URL; it sends the browser back to atdeskd's callback.
  const browser = async () => {
    try {
      const r = await api('POST', path + '/browser', {redirect_base: location.origin});
      location.assign(r.authorize_url);
    } catch (e) { out.replaceChildren(e.message); }
  };
  return el('span', {}, el('button', {type: 'button', class: 'secondary', onclick: start,
    text: 'Sign in'}), ' ', el('button', {type: 'button', class: 'secondary', onclick: browser,
    text: 'Sign in with browser'}), ' ', out);
}

async function jobs() {
  const q = new URLSearchParams(location.search);
  const stateSel = el('select', {id: 'f-state', name: 'state'},
    ['', 'stored', 'held', 'releasing', 'printing', 'printed', 'failed', 'deleted', 'expired']
      .map((s) => el('option', {value: s, selected: q.get('state') === s, text: s || 'any'})));
  const input = (id, name, type, label) => el('label', {for: id}, label,
    el('input', {id, name, type, value: q.get(name) || ''}));
  const form = el('form', {class: 'inline', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    history.pushState(null, '', '/jobs' + (p.toString() ? '?' + p : ''));
    route();
  }},
  el('label', {for: 'f-state'}, 'State', stateSel),
  input('f-recipient', 'recipient', 'text', 'Recipient'),
  input('f-sender', 'sender', 'text', 'Sender'),
  input('f-after', 'after', 'date', 'From'),
  input('f-before', 'before', 'date', 'To'),
  el('button', {type: 'submit', text: 'Filter'}));
  const p = new URLSearchParams();
  for (const k of ['state', 'recipient', 'sender']) if (q.get(k)) p.set(k, q.get(k));
  if (q.get('after')) p.set('after', new Date(q.get('after') + 'T00:00:00').toISOString());
  if (q.get('before')) p.set('before', new Date(q.get('before') + 'T23:59:59.999').toISOString());
  p.set('limit', '200');
  let list;
  try {
    list = await api('GET', '/jobs?' + p);
  } catch (e) {
    return show('Jobs', form, errorBox(e));
  }
  const rows = list.jobs.map((j) => el('tr', {},
    el('td', {}, jobLink(j)), el('td', {}, badge('state-' + j.state, j.state)),
    el('td', {text: senderText(j)}), el('td', {text: j.recipients.join(', ')}),
    el('td', {text: String(j.pages)}), el('td', {class: 'hide-narrow', text: when(j.received_at)})));
  show('Jobs', form, rows.length ? table(['Job', 'State', 'Sender', 'Recipients', 'Pages', 'Received'], rows) :
    el('p', {class: 'muted', text: 'No jobs match.'}));
}

async function job(id) {
  let j;
  try {
    j = await api('GET', '/jobs/' + encodeURIComponent(id));
  } catch (e) {
    return show('Job', errorBox(e.status === 404 ? new Error('No such job.') : e));
  }
  const [hist, printers, me] = await Promise.all([
    api('GET', '/jobs/' + encodeURIComponent(j.id) + '/history'), api('GET', '/printers'), api('GET', '/me')]);
  const base = '/api/v1/jobs/' + encodeURIComponent(j.id);
  const thumbs = el('div', {class: 'thumbs'});
  for (let n = 1; n <= j.pages; n++) {
    thumbs.append(el('figure', {},
      el('a', {href: base + '/pages/' + n + '.png?size=1600', target: '_blank', rel: 'noopener'},
        el('img', {src: base + '/pages/' + n + '.png?size=320', alt: 'Page ' + n + ' of ' + j.pages,
          loading: 'lazy', width: '160'})),
      el('figcaption', {text: 'Page ' + n})));
  }
  const preferred = me.default_printer || j.printer || '';
  const printerSel = el('select', {id: 'printer', name: 'printer'},
    el('option', {value: '', text: 'rule or default printer'}),
    printers.printers.map((p) => el('option', {value: p.name, selected: p.name === preferred,
      text: p.name + ' (' + p.state + ')'})));
  const actions = el('div', {class: 'row'});
  if (j.state === 'held') {
    actions.append(el('label', {for: 'printer'}, 'Printer', printerSel),
      el('button', {type: 'button', id: 'release', onclick: async () => {
        try {
          const done = await api('POST', '/jobs/' + encodeURIComponent(j.id) + '/release',
            {printer: printerSel.value || null});
          say('Released to ' + (done.printer || 'the printer') + '.');
          job(j.id);
        } catch (e) { say(e.message); }
      }}, 'Release (print)'));
  }
  if (!['printing', 'releasing', 'deleted'].includes(j.state)) {
    actions.append(confirmButton('Delete', 'Delete this job and its documents?', async () => {
      await api('DELETE', '/jobs/' + encodeURIComponent(j.id));
      say('Job deleted.');
      history.pushState(null, '', '/jobs');
      route();
    }));
  }
  const facts = [
    ['State', badge('state-' + j.state, j.state)], ['Sender', senderText(j)],
    ['Recipients', j.recipients.join(', ')], ['Pages', String(j.pages) + (j.incomplete ? ' (incomplete)' : '')],
    ['Received', when(j.received_at)], ['Mode table', j.mode_table], ['Printer', j.printer],
    ['Reason', j.reason], ['Document', el('a', {href: base + '/document', text: j.document_name || 'original'})]];
  show('Job ' + j.short_id,
    el('section', {class: 'card'}, el('dl', {}, facts.map(([k, v]) => [el('dt', {text: k}), el('dd', {}, v || '—')])), actions),
    el('section', {class: 'card'}, el('h2', {text: 'Pages'}), thumbs),
    el('section', {class: 'card'}, el('h2', {text: 'History'}),
      table(['When', 'From', 'To', 'Who', 'Reason'], hist.history.map((t) => el('tr', {},
        el('td', {text: when(t.at)}), el('td', {text: t.from}), el('td', {text: t.to}),
        el('td', {text: t.actor}), el('td', {text: t.reason}))))));
}

function modeGrid(tableData) {
  const avails = Object.keys(tableData.cells);
  const locations = avails.length ? Object.keys(tableData.cells[avails[0]]) : [];
  const selects = [];
  const rows = avails.map((a) => el('tr', {}, el('th', {scope: 'row', text: a}), locations.map((loc) => {
    const s = el('select', {'aria-label': tableData.name + ': ' + a + ' at ' + loc,
      'data-avail': a, 'data-loc': loc},
      ['print', 'hold'].map((v) => el('option', {value: v, selected: tableData.cells[a][loc] === v, text: v})));
    selects.push(s);
    return el('td', {}, s);
  })));
  const grid = el('div', {class: 'scroll'}, el('table', {class: 'modes'},
    el('caption', {class: 'muted', text: 'Availability × work location'}),
    el('thead', {}, el('tr', {}, el('th', {scope: 'col', text: ''}), locations.map((l) => el('th', {scope: 'col', text: l})))),
    el('tbody', {}, rows)));
  const cells = () => {
    const out = {};
    for (const s of selects) (out[s.dataset.avail] ||= {})[s.dataset.loc] = s.value;
    return out;
  };
  return {grid, cells};
}

async function modes() {
  const [data, schedule] = await Promise.all([api('GET', '/modes'), api('GET', '/schedule')]);
  const sections = data.tables.map((t) => {
    const {grid, cells} = modeGrid(t);
    return el('section', {class: 'card', 'aria-label': 'Mode table ' + t.name},
      el('h2', {}, t.name, t.active ? ' (active now)' : ''), grid,
      el('div', {class: 'row'},
        el('button', {type: 'button', 'data-save': t.name, onclick: async () => {
          try { await api('PUT', '/modes/' + encodeURIComponent(t.name), {cells: cells()}); say('Saved ' + t.name + '.'); } catch (e) { say(e.message); }
        }}, 'Save ' + t.name),
        confirmButton('Delete', 'Delete mode table ' + t.name + '?', async () => {
          await api('DELETE', '/modes/' + encodeURIComponent(t.name)); say('Deleted.'); modes();
        })));
  });
  const newName = el('input', {id: 'new-table', pattern: '[A-Za-z0-9_-]{1,64}', required: true});
  const first = data.tables[0];
  const addForm = el('form', {class: 'inline', onsubmit: async (e) => {
    e.preventDefault();
    const cells = {};
    if (first) for (const a of Object.keys(first.cells)) { cells[a] = {}; for (const l of Object.keys(first.cells[a])) cells[a][l] = 'hold'; }
    try { await api('PUT', '/modes/' + encodeURIComponent(newName.value), {cells}); say('Created.'); modes(); } catch (err) { say(err.message); }
  }}, el('label', {for: 'new-table'}, 'New table name', newName), el('button', {type: 'submit', text: 'Create (all hold)'}));
  show('Mode tables', el('p', {class: 'muted'}, 'Active table now: ', data.active, '. Changes take effect at once and re-check held jobs.'),
    ...sections, el('section', {class: 'card'}, el('h2', {text: 'New table'}), addForm),
    scheduleEditor(schedule, data.tables.map((t) => t.name)));
}

function scheduleEditor(s, names) {
  const days = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  const tableSelect = (id, value, allowNone) => el('select', {id},
    allowNone ? el('option', {value: '', text: '—'}) : null,
    names.map((n) => el('option', {value: n, selected: n === value, text: n})));
  const tz = el('input', {id: 's-tz', value: s.time_zone || ''});
  const def = tableSelect('s-default', s.default_table);
  const hol = tableSelect('s-holiday', s.holiday_table, true);
  const holidays = el('textarea', {id: 's-holidays', rows: '3'});
  holidays.value = (s.holidays || []).join('\n');
  const rulesBody = el('tbody', {});
  let counter = 0;
  const addRule = (r) => {
    const k = counter++;
    const tr = el('tr', {},
      el('td', {}, tableSelect('r-table-' + k, r.table)),
      el('td', {}, days.map((d) => el('label', {}, el('input', {type: 'checkbox', value: d, checked: (r.days || []).includes(d)}), d, ' '))),
      el('td', {}, el('input', {type: 'time', value: r.start || '08:00', 'aria-label': 'start'})),
      el('td', {}, el('input', {type: 'time', value: r.end || '18:00', 'aria-label': 'end'})),
      el('td', {}, el('button', {type: 'button', class: 'secondary', onclick: () => tr.remove()}, 'Remove')));
    rulesBody.append(tr);
  };
  (s.rules || []).forEach(addRule);
  const save = async (e) => {
    e.preventDefault();
    const rules = [...rulesBody.children].map((tr) => {
      const times = tr.querySelectorAll('input[type=time]');
      return {table: tr.querySelector('select').value,
        days: [...tr.querySelectorAll('input[type=checkbox]:checked')].map((c) => c.value),
        start: times[0].value, end: times[1].value};
    });
    const body = {time_zone: tz.value, default_table: def.value, holiday_table: hol.value,
      holidays: holidays.value.split(/\s+/).filter(Boolean), rules};
    try { await api('PUT', '/schedule', body); say('Schedule saved.'); } catch (err) { say(err.message); }
  };
  return el('section', {class: 'card'}, el('h2', {text: 'Schedule'}),
    el('form', {onsubmit: save},
      el('div', {class: 'row'},
        el('label', {for: 's-tz'}, 'Time zone', tz), el('label', {for: 's-default'}, 'Default table', def),
        el('label', {for: 's-holiday'}, 'Holiday table', hol),
        el('label', {for: 's-holidays'}, 'Holidays (YYYY-MM-DD, one per line)', holidays)),
      el('div', {class: 'scroll'}, el('table', {},
        el('thead', {}, el('tr', {}, ['Table', 'Days', 'From', 'To', ''].map((h) => el('th', {scope: 'col', text: h})))),
        rulesBody)),
      el('div', {class: 'row'},
        el('button', {type: 'button', class: 'secondary', onclick: () => addRule({table: names[0], days: []})}, 'Add rule'),
        el('button', {type: 'submit', text: 'Save schedule'}))));
}

async function recipients() {
  const data = await api('GET', '/recipients');
  const field = (id, label, value, hint) => el('label', {for: id}, label,
    el('input', {id, value: value || '', placeholder: hint || ''}));
  const ruleFrom = (prefix) => ({
    pattern: document.getElementById(prefix + '-pattern').value.trim(),
    recipient: document.getElementById(prefix + '-recipient').value.trim(),
    printer: document.getElementById(prefix + '-printer').value.trim(),
    note: document.getElementById(prefix + '-note').value.trim()});
  const rows = data.rules.map((r) => {
    const tr = el('tr', {'data-rule': r.id},
      el('td', {text: r.pattern}), el('td', {text: r.recipient}), el('td', {text: r.printer}),
      el('td', {class: 'hide-narrow', text: r.note}),
      el('td', {},
        el('button', {type: 'button', class: 'secondary', onclick: () => {
          const p = 'e' + r.id;
          tr.replaceChildren(el('td', {colspan: '5'}, el('form', {class: 'inline', onsubmit: async (e) => {
            e.preventDefault();
            try { await api('PUT', '/recipients/' + r.id, ruleFrom(p)); say('Rule saved.'); recipients(); } catch (err) { say(err.message); }
          }}, field(p + '-pattern', 'Pattern', r.pattern), field(p + '-recipient', 'Recipient', r.recipient),
          field(p + '-printer', 'Printer', r.printer), field(p + '-note', 'Note', r.note),
          el('button', {type: 'submit', text: 'Save'}),
          el('button', {type: 'button', class: 'secondary', onclick: () => recipients()}, 'Cancel'))));
        }}, 'Edit'), ' ',
        confirmButton('Delete', 'Delete the rule for ' + r.pattern + '?', async () => {
          await api('DELETE', '/recipients/' + r.id); say('Rule deleted.'); recipients();
        })));
    return tr;
  });
  const add = el('form', {class: 'inline', id: 'add-rule', onsubmit: async (e) => {
    e.preventDefault();
    try { await api('POST', '/recipients', ruleFrom('n')); say('Rule added.'); recipients(); } catch (err) { say(err.message); }
  }},
  field('n-pattern', 'Pattern', '', '+81312345678, prefix:03, others, all, sip:…, @example.org, 10.0.0.0/8'),
  field('n-recipient', 'Recipient', '', 'user:local:alice or channel:local:desk'),
  field('n-printer', 'Printer (optional)', ''), field('n-note', 'Note', ''),
  el('button', {type: 'submit', text: 'Add rule'}));
  const exportLink = el('button', {type: 'button', class: 'secondary', onclick: () => {
    const rules = data.rules.map(({id, ...rest}) => rest);
    const blob = new Blob([JSON.stringify({rules}, null, 2)], {type: 'application/json'});
    const a = el('a', {href: URL.createObjectURL(blob), download: 'atdesk-recipients.json'});
    document.body.append(a); a.click(); a.remove();
  }}, 'Export (JSON)');
  const file = el('input', {type: 'file', id: 'import', accept: 'application/json,.json'});
  const importForm = el('form', {class: 'inline', onsubmit: async (e) => {
    e.preventDefault();
    if (!file.files.length) return say('Choose a file first.');
    try {
      const parsed = JSON.parse(await file.files[0].text());
      const rules = (parsed.rules || []).map(({id, ...rest}) => rest);
      await api('PUT', '/recipients', {rules});
      say('Imported ' + rules.length + ' rules.'); recipients();
    } catch (err) { say(err.message); }
  }}, el('label', {for: 'import'}, 'Replace the table from a file', file), el('button', {type: 'submit', text: 'Import'}), exportLink);
  const exportToml = el('button', {type: 'button', class: 'secondary', onclick: async () => {
    try {
      const blob = new Blob([await apiToml('GET', '/recipients/export.toml')], {type: 'application/toml'});
      const a = el('a', {href: URL.createObjectURL(blob), download: 'recipients.toml'});
      document.body.append(a); a.click(); a.remove();
    } catch (err) { say(err.message); }
  }}, 'Export TOML');
  const tomlFile = el('input', {type: 'file', id: 'import-toml', accept: '.toml,application/toml'});
  const tomlForm = el('form', {class: 'inline', onsubmit: async (e) => {
    e.preventDefault();
    if (!tomlFile.files.length) return say('Choose a file first.');
    try {
      const result = await apiToml('PUT', '/recipients/import.toml', await tomlFile.files[0].text());
      say('Imported ' + result.rules.length + ' rules.'); recipients();
    } catch (err) { say(err.message); }
  }}, el('label', {for: 'import-toml'}, 'Replace the table from a TOML file', tomlFile),
  el('button', {type: 'submit', text: 'Import TOML'}), exportToml);
  show('Recipient table',
    el('p', {class: 'muted', text: 'Who gets a job, by its sender or the number it called. Rules are checked in order.'}),
    rows.length ? table(['Pattern', 'Recipient', 'Printer', 'Note', ''], rows) : el('p', {class: 'muted', text: 'No rules.'}),
    el('section', {class: 'card'}, el('h2', {text: 'Add a rule'}), add),
    el('section', {class: 'card'}, el('h2', {text: 'Import and export'}), importForm, tomlForm));
}

async function audit(before) {
  const data = await api('GET', '/audit?limit=100' + (before ? '&before=' + before : ''));
  const last = data.entries.length ? data.entries[data.entries.length - 1].id : 0;
  show('Audit log',
    table(['When', 'Who', 'Action', 'Subject', 'Detail'], data.entries.map((e) => el('tr', {},
      el('td', {text: when(e.at)}), el('td', {text: e.actor}), el('td', {text: e.action}),
      el('td', {text: e.subject}), el('td', {text: e.detail})))),
    data.entries.length === 100 ? el('button', {type: 'button', class: 'secondary', onclick: () => audit(last)}, 'Older entries') : null);
}

async function accounts() {
  const data = await api('GET', '/accounts');
  const rows = data.accounts.map((a) => el('tr', {},
    el('td', {text: a.name}), el('td', {text: a.role}), el('td', {text: a.recipients.join(', ')}),
    el('td', {}, a.name === state.session.user ? el('span', {class: 'muted', text: 'you'}) :
      confirmButton('Delete', 'Delete account ' + a.name + '?', async () => {
        await api('DELETE', '/accounts/' + encodeURIComponent(a.name)); say('Deleted.'); accounts();
      }))));
  const v = (id) => document.getElementById(id).value;
  const add = el('form', {class: 'inline', onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api('POST', '/accounts', {name: v('a-name'), password: v('a-password'), role: v('a-role'),
        recipients: v('a-recipients').split(/[\s,]+/).filter(Boolean)});
      say('Account added.'); accounts();
    } catch (err) { say(err.message); }
  }},
  el('label', {for: 'a-name'}, 'Name', el('input', {id: 'a-name', autocomplete: 'off'})),
  el('label', {for: 'a-password'}, 'Password (8+)', el('input', {id: 'a-password', type: 'password', autocomplete: 'new-password'})),
  el('label', {for: 'a-role'}, 'Role', el('select', {id: 'a-role'}, el('option', {value: 'user', text: 'user'}), el('option', {value: 'admin', text: 'admin'}))),
  el('label', {for: 'a-recipients'}, 'Recipient keys', el('input', {id: 'a-recipients', placeholder: 'user:local:alice'})),
  el('button', {type: 'submit', text: 'Add account'}));
  show('Accounts', table(['Name', 'Role', 'Recipients', ''], rows),
    el('section', {class: 'card'}, el('h2', {text: 'Add an account'}), add));
}

async function settings() {
  const [me, printers] = await Promise.all([api('GET', '/me'), api('GET', '/printers')]);
  const hold = el('input', {type: 'checkbox', id: 'hold-all', checked: me.hold_all, disabled: !me.recipients.length});
  const printer = el('select', {id: 'default-printer'}, el('option', {value: '', text: 'the rule\'s or the default printer'}),
    printers.printers.map((p) => el('option', {value: p.name, selected: p.name === me.default_printer, text: p.name})));
  show('My settings',
    el('p', {}, 'Signed in as ', el('strong', {text: me.user}), ' (', me.role, '). Recipient keys: ',
      me.recipients.length ? me.recipients.join(', ') : 'none'),
    el('form', {class: 'card', onsubmit: async (e) => {
      e.preventDefault();
      const body = {default_printer: printer.value};
      if (me.recipients.length) body.hold_all = hold.checked;
      try { await api('PUT', '/me', body); say('Settings saved.'); } catch (err) { say(err.message); }
    }},
    el('p', {}, el('label', {}, hold, ' Hold everything for me until I resume (the chat commands hold / resume do the same)')),
    el('p', {}, el('label', {for: 'default-printer'}, 'My default printer when I release a job '), printer),
    el('button', {type: 'submit', text: 'Save'})));
}

// ---- routing

const routes = [
  [/^\/$/, overview], [/^\/jobs$/, jobs], [/^\/jobs\/([^/]+)$/, (id) => job(decodeURIComponent(id))],
  [/^\/modes$/, modes], [/^\/recipients$/, recipients], [/^\/audit$/, () => audit(0)],
  [/^\/accounts$/, accounts], [/^\/settings$/, settings]];

async function route() {
  const path = location.pathname;
  for (const a of document.querySelectorAll('header nav a')) {
    if (a.getAttribute('href') === path || (path.startsWith('/jobs') && a.getAttribute('href') === '/jobs')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const found = routes.find(([re]) => re.test(path));
  try {
    if (!found) return show('Not found', el('p', {text: 'There is no such page.'}));
    await found[1](...path.match(found[0]).slice(1));
  } catch (e) {
    if (e.status !== 401) show('Error', errorBox(e));
  }
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a');
  if (!a || a.target || a.hasAttribute('download') || e.ctrlKey || e.metaKey || e.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || !routes.some(([re]) => re.test(url.pathname))) return;
  e.preventDefault();
  history.pushState(null, '', url.pathname + url.search);
  route();
  main().focus();
});
window.addEventListener('popstate', route);

async function start() {
  try {
    state.session = await api('GET', '/session');
  } catch (e) {
    return;
  }
  document.getElementById('who').textContent = state.session.user + ' (' + state.session.role + ')';
  for (const li of document.querySelectorAll('[data-admin]')) li.hidden = !isAdmin();
  document.getElementById('signout').addEventListener('click', async () => {
    try { await api('DELETE', '/session'); } catch (e) { /* signed out either way */ }
    location.assign('/signin');
  });
  route();
}
start();
