// The web UI in headless Chromium (Debian's /usr/bin/chromium via playwright-core). Prepared by
// run.sh: atdeskd + ippeveprinter, accounts alice/bob, three held faxes. Each step asserts a real
// outcome (what the page shows, what the API answers, what reached the printer's spool); a
// failing step saves a screenshot under $ATDESK_E2E_ARTIFACTS and the run exits 1.
import fs from 'node:fs';
import path from 'node:path';
import {createRequire} from 'node:module';
import {check, env, launch, stepper, until} from './lib.mjs';

// axe-core (npm, package-lock.json) runs inside the page; the page's CSP forbids injected scripts,
// so the test contexts bypass CSP (the CSP itself is checked on the headers).
const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const url = env('ATDESK_URL');
const adminPassword = env('ATDESK_ADMIN_PASSWORD');
const jobRelease = env('ATDESK_JOB_RELEASE');
const jobMode = env('ATDESK_JOB_MODE');
const jobBob = env('ATDESK_JOB_BOB');
const spool = env('ATDESK_PRINTER_SPOOL');
const shots = env('ATDESK_SCREENSHOTS');
const artifacts = env('ATDESK_E2E_ARTIFACTS');

// The documents ippeveprinter kept for a job (its files are named after the IPP job-name).
function printed(id) {
  if (!fs.existsSync(spool)) return [];
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.toLowerCase().includes('atdesk-' + id.toLowerCase())) out.push(p);
    }
  };
  walk(spool);
  return out;
}

const browser = await launch();
let context = await browser.newContext({viewport: {width: 1280, height: 900}, bypassCSP: true});
let page = await context.newPage();
page.on('pageerror', (e) => console.error('page error:', e.message));
const {step, failures} = stepper(() => page, artifacts);

async function shot(name) {
  fs.mkdirSync(shots, {recursive: true});
  await page.screenshot({path: path.join(shots, name + '.png'), fullPage: true});
}

// WCAG 2.1 A and AA with axe-core: any violation fails the step, named with its elements.
async function axe(what) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.addScriptTag({content: axeSource});
  }
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}));
  const found = result.violations.map((v) => `${v.id} (${v.impact}): ` +
    v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', '));
  check(found.length === 0, `no WCAG A/AA violation on ${what}, got:\n  ${found.join('\n  ')}`);
}

// A phone: no horizontal scroll, and every visible control inside the viewport (not clipped).
async function fitsPhone(what) {
  const problems = await page.evaluate(() => {
    const out = [];
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth > width) out.push('page scrolls sideways: ' + document.documentElement.scrollWidth);
    for (const e of document.querySelectorAll('button, a, input, select, textarea, th, td')) {
      const r = e.getBoundingClientRect();
      if (!r.width || !r.height || e.closest('.sr-only, thead, .skip')) continue;  // the skip link hides off-screen until focused
      if (r.left < -0.5 || r.right > width + 0.5) out.push(`${e.tagName} "${(e.textContent || e.getAttribute('aria-label') || '').trim().slice(0, 30)}" at ${Math.round(r.left)}..${Math.round(r.right)}`);
      if (e.tagName === 'BUTTON' && e.scrollWidth > e.clientWidth + 1) out.push(`button "${e.textContent.trim()}" clipped`);
    }
    return out;
  });
  check(problems.length === 0, `${what} fits 390 px:\n  ${problems.slice(0, 8).join('\n  ')}`);
}

// Keyboard only: Tab (at most `max` times) until `selector` has the focus.
async function tabTo(selector, max = 80, key = 'Tab') {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(key);
    if (await page.evaluate((sel) => document.activeElement && document.activeElement.matches(sel), selector)) return;
  }
  throw new Error('Tab never reached ' + selector);
}

async function signIn(user, password) {
  await page.goto(url + '/signin');
  await page.fill('#user', user);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
}

// From the page, as its own script would, but choosing whether to send the CSRF token.
async function fetchStatus(method, p, body, csrf) {
  return page.evaluate(async ([method, p, body, csrf]) => {
    const headers = {'Content-Type': 'application/json'};
    if (csrf) {
      const s = await (await fetch('/api/v1/session')).json();
      headers['X-CSRF-Token'] = s.csrf;
    }
    const r = await fetch(p, {method, headers, body: body ? JSON.stringify(body) : undefined});
    return r.status;
  }, [method, p, body, csrf]);
}

await step('pages and API need a session', async () => {
  await page.goto(url + '/jobs');
  check(new URL(page.url()).pathname === '/signin', 'redirect to /signin, got ' + page.url());
  for (const p of ['/', '/modes', '/recipients', '/audit', '/settings', '/accounts', '/jobs/' + jobBob]) {
    const r = await context.request.get(url + p, {maxRedirects: 0});
    check(r.status() === 303 && r.headers()['location'].startsWith('/signin'), p + ' redirects, got ' + r.status());
  }
  for (const p of ['/api/v1/jobs', '/api/v1/jobs/' + jobBob, '/api/v1/modes', '/api/v1/recipients',
    '/api/v1/audit', '/api/v1/presence', '/api/v1/me', '/api/v1/accounts', '/api/v1/session']) {
    const r = await context.request.get(url + p);
    check(r.status() === 401, p + ' gives 401, got ' + r.status());
  }
  const h = (await context.request.get(url + '/signin')).headers();
  check(h['content-security-policy'].startsWith("default-src 'self'"), 'CSP header');
  check(h['x-frame-options'] === 'DENY', 'X-Frame-Options DENY');
});

await step('sign-in fails with a wrong password', async () => {
  await signIn('admin', 'wrong-password');
  await page.waitForSelector('#error:not(:empty)');
  check((await page.textContent('#error')).includes('wrong user name or password'), 'error message');
  check(new URL(page.url()).pathname === '/signin', 'still on /signin');
  await shot('signin');
  await axe('the sign-in page with an error');
});

await step('keyboard only: sign in, open a held job, release it and see it printed', async () => {
  await page.goto(url + '/signin');
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.id === 'user'), 'Tab reaches the user name first');
  await page.keyboard.type('admin');
  await page.keyboard.press('Tab');
  await page.keyboard.type(adminPassword);
  await page.keyboard.press('Enter');
  await page.waitForURL(url + '/');
  await page.waitForSelector(`a[href="/jobs/${jobRelease}"]`);
  const text = await page.textContent('main');
  check(text.includes('user:local:alice'), 'the recipient of the held fax');
  check(text.includes('demo'), 'the printer');
  const cookies = await context.cookies();
  const c = cookies.find((k) => k.name === 'atdesk_session');
  check(c && c.httpOnly && c.sameSite === 'Strict', 'HttpOnly SameSite=Strict session cookie');
  await shot('overview');
  await axe('the overview (admin)');
  // The skip link moves to the content without re-rendering the page.
  await page.evaluate(() => { document.querySelector('main h1').dataset.marker = 'kept'; });
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.classList.contains('skip')), 'the skip link first');
  await page.keyboard.press('Enter');
  check(await page.evaluate(() => document.activeElement.id === 'main'), 'focus on main after the skip link');
  check(await page.evaluate(() => document.querySelector('main h1').dataset.marker === 'kept'), 'no re-render');
  await tabTo(`a[href="/jobs/${jobRelease}"]`);
  await page.keyboard.press('Enter');
  await page.waitForSelector('.thumbs img');
  check((await page.locator('.thumbs img').count()) === 2, 'two page thumbnails');
  check(await page.evaluate(() => document.activeElement.tagName === 'H1'), 'focus on the heading after navigation');
  await until('thumbnails loaded', () => page.evaluate(() =>
    [...document.querySelectorAll('.thumbs img')].every((i) => i.complete && i.naturalWidth > 0)), 15000);
  await shot('job');
  await axe('a held job (admin)');
  check(printed(jobRelease).length === 0, 'nothing at the printer before release');
  await page.evaluate(() => { window.notReloaded = true; });
  await tabTo('#release');
  await page.keyboard.press('Enter');
  await until('the document at the printer', () => printed(jobRelease).length === 1);
  // The page follows the job until it is printed, without a reload, and offers Delete again.
  await page.waitForSelector('dd .state-printed', {timeout: 30000});
  check(await page.evaluate(() => window.notReloaded === true), 'the page was not reloaded');
  await page.waitForSelector('main .confirm-wrap button');
  check(await page.evaluate(() => document.activeElement && document.activeElement.tagName !== 'BODY'),
    'focus is not dropped to <body> after Release');
});

await step('keyboard only: a mode-table cell is changed and saved, and the held fax prints', async () => {
  await tabTo('header a[href="/modes"]', 30, 'Shift+Tab');  // back from the heading to the menu
  await page.keyboard.press('Enter');
  await page.waitForSelector('button[data-save]');
  const active = await page.evaluate(async () => (await (await fetch('/api/v1/modes')).json()).active);
  const label = `${active}: Busy at Office`;
  const cell = page.getByLabel(label, {exact: true});
  check((await cell.inputValue()) === 'hold', 'busy at office holds at first');
  check(printed(jobMode).length === 0, 'the second fax is held');
  await tabTo(`select[aria-label="${label}"]`, 120);
  await page.keyboard.press('ArrowUp');  // hold → print (the options are print, hold)
  check((await cell.inputValue()) === 'print', 'the arrow key chose print');
  // Leaving with the change unsaved asks first; dismissing stays on the page with the change.
  let asked = '';
  page.once('dialog', (d) => { asked = d.message(); d.dismiss(); });
  await page.click('header a[href="/jobs"]');
  check(asked.includes('not saved'), 'a warning before leaving with unsaved changes');
  check(new URL(page.url()).pathname === '/modes', 'still on /modes');
  check((await cell.inputValue()) === 'print', 'the unsaved cell is kept');
  await cell.focus();
  await tabTo(`button[data-save="${active}"]`, 80);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#status:has-text("Saved")');
  await page.reload();
  await page.waitForSelector(`button[data-save="${active}"]`);
  check((await page.getByLabel(label, {exact: true}).inputValue()) === 'print',
    'the cell is still print after a reload');
  await shot('modes');
  await axe('the mode tables (admin)');
  // The change re-checks held jobs: Alice is busy at the office, which now prints.
  await until('the held fax at the printer', () => printed(jobMode).length === 1);
});

await step('schedule: a rule added and an unknown time zone refused next to the field', async () => {
  await page.getByRole('button', {name: 'Add rule'}).click();
  check(await page.evaluate(() => document.activeElement.tagName === 'SELECT'), 'focus on the new rule');
  await page.locator('#schedule tbody tr').last().locator('input[value=mon]').check();
  await axe('the schedule with a rule added');
  await page.fill('#s-tz', 'Mars/Olympus');
  await page.click('#schedule button[type=submit]');
  const box = page.locator('#schedule-error');
  await box.waitFor();
  const text = await box.textContent();
  check(text.includes('time_zone') && text.includes('Mars/Olympus'), 'the error names the field: ' + text);
  check(await page.getAttribute('#s-tz', 'aria-invalid') === 'true', 'aria-invalid on the time zone');
  check(await page.getAttribute('#s-tz', 'aria-describedby') === 'schedule-error', 'described by the error');
  check(await box.getAttribute('role') === 'alert', 'role=alert');
  await page.getByRole('button', {name: 'Delete mode table'}).first().click();
  await axe('/modes with a form error and a confirmation open');
  await page.getByRole('button', {name: 'Cancel'}).click();
  check(await page.evaluate(() => document.activeElement.textContent === 'Delete'), 'focus back on Delete after Cancel');
  await page.waitForTimeout(5500);  // longer than a success message lives
  check(await box.isVisible(), 'the error stays');
});

await step('a recipient rule is added, modified and deleted', async () => {
  await page.goto(url + '/recipients');
  await page.waitForSelector('#add-rule');
  await page.fill('#n-pattern', 'prefix:0399');
  await page.fill('#n-recipient', 'user:local:carol');
  await page.fill('#n-note', 'front desk');
  await page.click('#add-rule button[type=submit]');
  // The table shows the pattern normalised (prefix:+81399), so rows are found by recipient.
  const row = page.locator('tr', {hasText: 'user:local:carol'});
  await row.waitFor();
  const id = await row.getAttribute('data-rule');
  await row.getByRole('button', {name: 'Edit'}).click();
  await page.fill(`#e${id}-note`, 'night shift');
  await page.click('form.inline button[type=submit] >> text=Save');
  await page.locator('tr', {hasText: 'night shift'}).waitFor();
  await shot('recipients');
  await axe('the recipient table (admin)');
  // A wrong pattern: the error stays next to the form, once, on the field it names.
  await page.fill('#n-pattern', 'prefix:abc');
  await page.fill('#n-recipient', 'user:local:dave');
  await page.click('#add-rule button[type=submit]');
  await page.locator('#add-rule-error').waitFor();
  const error = await page.textContent('#add-rule-error');
  check(!/(\b[\w ]+): \1:/.test(error), 'no repeated prefix: ' + error);
  check(await page.getAttribute('#n-pattern', 'aria-invalid') === 'true', 'aria-invalid on the pattern');
  await axe('the recipient table with a form error');
  await page.locator('tr', {hasText: 'user:local:carol'}).getByRole('button', {name: /^Delete/}).click();
  await axe('the recipient table with a confirmation open');
  await page.getByRole('button', {name: 'Cancel'}).click();
  await page.locator('tr', {hasText: 'user:local:carol'}).getByRole('button', {name: /^Delete/}).click();
  await page.getByRole('button', {name: 'Yes, delete'}).click();
  await page.locator('tr', {hasText: 'user:local:carol'}).waitFor({state: 'detached'});
  const rules = await page.evaluate(async () => (await (await fetch('/api/v1/recipients')).json()).rules);
  check(!rules.some((r) => r.recipient === 'user:local:carol'), 'the rule is gone from the API');
  check(rules.length === 2, 'the other rules stay');
});

await step('a forged POST without the CSRF token gets 403', async () => {
  const rule = {pattern: 'prefix:0388', recipient: 'user:local:mallory'};
  check((await fetchStatus('POST', '/api/v1/recipients', rule, false)) === 403, 'same page, no token: 403');
  const forged = await context.request.post(url + '/api/v1/recipients', {
    headers: {'Origin': 'http://evil.example', 'Content-Type': 'application/json'}, data: rule});
  check(forged.status() === 403, 'with the cookie from another origin: 403, got ' + forged.status());
  const rules = await page.evaluate(async () => (await (await fetch('/api/v1/recipients')).json()).rules);
  check(!rules.some((r) => r.recipient === 'user:local:mallory'), 'nothing was added');
});

await step('the audit log names the signed-in admin', async () => {
  await page.goto(url + '/audit');
  await page.waitForSelector('table');
  const text = await page.textContent('main');
  check(text.includes('user:admin'), 'actor user:admin');
  check(text.includes('job.release') || text.includes('release'), 'the release');
  check(!text.includes('null'), 'no "null" under the table');
  await shot('audit');
  await axe('the audit log');
  for (const p of ['/jobs', '/accounts', '/settings']) {
    await page.goto(url + p);
    await page.waitForSelector('main h1:not(:empty)');
    await page.waitForLoadState('networkidle');
    await axe(p + ' (admin)');
  }
  await page.goto(url + '/jobs/NOSUCHJOB');
  await page.waitForSelector('main .error');
  check((await page.title()) === 'Job not found · atdesk', 'title of a missing job: ' + await page.title());
});

await step('headers once, an HTML page for unknown paths, a favicon', async () => {
  const signin = await context.request.get(url + '/signin');
  const names = (await signin.headersArray()).map((h) => h.name.toLowerCase());
  for (const h of ['x-content-type-options', 'cache-control', 'content-security-policy']) {
    check(names.filter((n) => n === h).length === 1, h + ' once on /signin');
  }
  const missing = await context.request.get(url + '/no-such-page');
  check(missing.status() === 404 && missing.headers()['content-type'].startsWith('text/html'), 'HTML 404');
  const api404 = await context.request.get(url + '/api/v1/no-such-thing');
  check(api404.status() === 404 && api404.headers()['content-type'].startsWith('application/json'), 'JSON 404 under /api/');
  const icon = await context.request.get(url + '/favicon.ico');
  check(icon.status() === 200 && icon.headers()['content-type'] === 'image/svg+xml', 'a favicon');
  await page.goto(url + '/no-such-page');
  await axe('the not-found page');
});

await step('sign out', async () => {
  await page.goto(url + '/');
  await page.click('#signout');
  await page.waitForURL(/\/signin/);
  const r = await context.request.get(url + '/api/v1/jobs');
  check(r.status() === 401, 'signed out: 401');
});

await step('a user on a phone sees only their own jobs, readable at 390×844', async () => {
  await context.close();
  context = await browser.newContext({viewport: {width: 390, height: 844}, isMobile: true, hasTouch: true, bypassCSP: true});
  page = await context.newPage();
  await signIn('bob', 'bob-password');
  await page.waitForURL(url + '/');
  await page.waitForSelector(`a[href="/jobs/${jobBob}"]`);
  const header = await page.locator('header').boundingBox();
  check(header.height <= 64, 'a compact header, got ' + header.height + ' px');
  await fitsPhone('the overview (user)');
  await axe('the overview (user)');
  await shot('overview-phone');
  await page.click('#menu');
  check(await page.isVisible('header a[href="/jobs"]'), 'the menu opens');
  await fitsPhone('the open menu');
  await shot('menu-phone');
  await page.click('header a[href="/jobs"]');
  await page.waitForSelector(`a[href="/jobs/${jobBob}"]`);
  check((await page.locator(`a[href="/jobs/${jobRelease}"]`).count()) === 0, "not Alice's job in the list");
  await fitsPhone('the jobs list');
  await axe('the jobs list (user)');
  await shot('jobs-phone');
  await page.goto(url + '/jobs/' + jobBob);
  await page.waitForSelector('.thumbs img');
  await fitsPhone('a job');
  await axe('a held job (user)');
  await page.locator('main').getByRole('button', {name: /^Delete/}).click();
  await axe('a job with the delete confirmation open (user)');
  await fitsPhone('a job with the confirmation open');
  await shot('job-phone');
  await page.getByRole('button', {name: 'Cancel'}).click();
  await page.goto(url + '/jobs/' + jobRelease);
  await page.waitForSelector('main .error');
  check((await page.textContent('main .error')).includes('No such job'), "Alice's job by URL: no such job");
  check((await fetchStatus('GET', '/api/v1/jobs/' + jobRelease, null, false)) === 404, 'API: 404');
  check((await fetchStatus('GET', '/api/v1/modes', null, false)) === 403, 'admin API: 403');
  await page.goto(url + '/modes');
  check(new URL(page.url()).pathname === '/', 'admin page sends a user to /');
  check(!(await page.isVisible('a[href="/modes"]')), 'no admin links for a user');
  await page.goto(url + '/settings');
  await page.waitForSelector('#hold-all');
  await page.check('#hold-all');
  await page.click('main form button[type=submit]');
  await page.waitForSelector('#status:has-text("saved")');
  const me = await page.evaluate(async () => (await (await fetch('/api/v1/me')).json()));
  check(me.hold_all === true, 'hold everything saved');
  await fitsPhone('my settings');
  await axe('my settings (user)');
  await shot('settings-phone');
  await page.click('#menu');
  await page.click('#signout');
  await page.waitForURL(/\/signin/);
});

await step('an admin on a phone: mode grid, recipients, audit, accounts fit 390×844', async () => {
  await signIn('admin', adminPassword);
  await page.waitForURL(url + '/');
  for (const [p, name] of [['/modes', 'modes-phone'], ['/recipients', 'recipients-phone'],
    ['/audit', 'audit-phone'], ['/accounts', 'accounts-phone']]) {
    await page.goto(url + p);
    await page.waitForSelector('main h1:not(:empty)');
    await page.waitForLoadState('networkidle');
    await fitsPhone(p);
    await shot(name);
  }
});

// A browser that asks for Japanese (Accept-Language ja-JP): the sign-in page, the navigation, the
// overview and the jobs list in Japanese with Japanese dates (the screenshot needs a Japanese font,
// fonts-ipafont-gothic); then the language chosen in the header wins over the browser's.
await step('the web UI in Japanese, then English chosen in the header', async () => {
  const ja = await browser.newContext({viewport: {width: 1280, height: 900}, bypassCSP: true, locale: 'ja-JP'});
  page = await ja.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(url + '/signin');
  await page.waitForFunction(() => document.documentElement.lang === 'ja');
  check((await page.textContent('form h2')) === 'サインイン', 'the sign-in form in Japanese');
  check((await page.textContent('label[for=user]')) === 'ユーザー名', 'the user name label in Japanese');
  await signIn('admin', adminPassword);
  await page.waitForURL(url + '/');
  await page.waitForSelector('#h-held');
  check((await page.textContent('#h-held')) === '保留中のジョブ', 'the held jobs heading in Japanese');
  check((await page.textContent('main h1')) === '概要', 'the page heading in Japanese');
  const nav = await page.textContent('header nav');
  for (const word of ['概要', 'ジョブ', '受信者', 'サインアウト']) check(nav.includes(word), 'the navigation says ' + word);
  const main = await page.textContent('main');
  for (const word of ['プリンター', 'チャットサービス', '受信者の現在の状況']) check(main.includes(word), 'the overview says ' + word);
  check(main.includes('user:local:alice'), 'the data is there as before');
  await shot('overview-ja');
  await axe('the overview in Japanese');
  await page.goto(url + '/jobs');
  await page.waitForSelector('main table');
  const jobsText = await page.textContent('main');
  check(/\d{4}年\d{2}月\d{2}日 \d{2}:\d{2}/.test(jobsText), 'received times as 2026年11月30日 09:38');
  check(jobsText.includes('受信日時') && jobsText.includes('絞り込み'), 'the jobs list in Japanese');
  await shot('jobs-ja');
  await page.selectOption('#language', 'en');
  await page.waitForFunction(() => document.documentElement.lang === 'en');
  await page.waitForSelector('main h1:not(:empty)');
  check((await page.textContent('main h1')) === 'Jobs', 'English once chosen, although the browser asks for Japanese');
  check(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}/.test(await page.textContent('main')), 'received times as 2026-11-30 09:38');
  await ja.close();
});

// Every page of the web UI in Japanese (the catalogues' web_ keys): specific texts asserted, and
// no heading, label, button, column, term, option, caption or aria-label left in English — each
// is compared with every English text of the catalogue that differs in Japanese (a text with
// {placeholders} as a pattern). The job page and the mode tables are screenshotted.
async function englishLeft() {
  const en = (await (await fetch(url + '/api/v1/ui-messages?lang=en')).json()).messages;
  const ja = (await (await fetch(url + '/api/v1/ui-messages?lang=ja')).json()).messages;
  const texts = Object.keys(en).filter((k) => en[k] !== ja[k] && k !== 'datetime').map((k) => en[k].trim());
  return page.evaluate((texts) => {
    const escape = (s) => s.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
    const patterns = texts.filter((x) => x).map((x) => new RegExp('^' + escape(x).replace(/\{[a-z_]+\}/g, '.+') + '$'));
    const english = (s) => s && patterns.some((re) => re.test(s.trim()));
    const found = [];
    for (const e of document.querySelectorAll('h1, h2, th, label, button, dt, caption, legend, option, a, .muted, [aria-label]')) {
      if (e.closest('#language')) continue;  // the language names, each in its own language
      const own = [...e.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join('').trim();
      if (english(own)) found.push(`${e.tagName} "${own}"`);
      if (english(e.getAttribute('aria-label'))) found.push(`${e.tagName} aria-label "${e.getAttribute('aria-label')}"`);
    }
    if (english(document.title.replace(/ · atdesk$/, ''))) found.push('title ' + document.title);
    return found;
  }, texts);
}

await step('every page in Japanese: job page, mode tables, schedule, audit, accounts, settings, errors', async () => {
  const ja = await browser.newContext({viewport: {width: 1280, height: 900}, bypassCSP: true, locale: 'ja-JP'});
  page = await ja.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  const noEnglish = async (what) => {
    const left = await englishLeft();
    check(left.length === 0, `no English left on ${what}, got:\n  ${left.slice(0, 10).join('\n  ')}`);
  };
  // Sign-in with a wrong password: the error in Japanese.
  await signIn('admin', 'wrong-password');
  await page.waitForSelector('#error:not(:empty)');
  check((await page.textContent('#error')).includes('ユーザー名またはパスワードが違います'), 'the sign-in error in Japanese');
  await noEnglish('the sign-in page');
  await signIn('admin', adminPassword);
  await page.waitForURL(url + '/');
  // The job page (Bob's fax is still held).
  await page.goto(url + '/jobs/' + jobBob);
  await page.waitForSelector('.thumbs img');
  check((await page.textContent('main h1')).startsWith('ジョブ '), 'the job heading in Japanese');
  const terms = await page.locator('main dt').allTextContents();
  for (const word of ['状態', '送信者', '受信者', 'ページ数', '受信経路', '受信日時', 'モード表', '理由', '文書']) {
    check(terms.includes(word), 'the job page names ' + word + ', got ' + terms.join(', '));
  }
  check((await page.textContent('main dd .state')) === '保留中', 'the state "held" in Japanese');
  check((await page.textContent('#release')) === '解放（印刷）', 'the release button in Japanese');
  const jobText = await page.textContent('main');
  check(jobText.includes('履歴') && jobText.includes('変更前') && jobText.includes('実行者'), 'the history in Japanese');
  // The decision's reason and the history's reasons and states, rendered in Japanese from the
  // stored English (GET /jobs/{id} reason_text).
  check((await page.textContent('main dl')).includes('保留: bob はオフライン・不明（モード表「'), 'the reason in Japanese');
  const history = (await page.locator('main table tbody tr').allTextContents()).join('\n');
  check(history.includes('受信') && history.includes('ページを受信') && !/received|held|stored/.test(history),
    'the history in Japanese: ' + history);
  check(/\d{4}年\d{2}月\d{2}日 \d{2}:\d{2}/.test(jobText), 'dates as 2026年11月30日 09:38');
  await until('thumbnails loaded', () => page.evaluate(() =>
    [...document.querySelectorAll('.thumbs img')].every((i) => i.complete && i.naturalWidth > 0)), 15000);
  await noEnglish('the job page');
  await shot('job-ja');
  await axe('the job page in Japanese');
  // A job that does not exist.
  await page.goto(url + '/jobs/ffffffffffffffffffffffffffffffff');
  await page.waitForSelector('main .error');
  check((await page.textContent('main .error')) === 'そのジョブはありません。', 'no such job, in Japanese');
  // The mode tables, the schedule and the imported holidays.
  await page.goto(url + '/modes');
  await page.waitForSelector('button[data-save]');
  const active = await page.evaluate(async () => (await (await fetch('/api/v1/modes')).json()).active);
  const cell = page.getByLabel(`${active}: 取り込み中・オフィス`, {exact: true});
  check((await cell.count()) === 1, 'a cell named in Japanese (busy at the office)');
  check((await cell.locator('option').allTextContents()).join(',') === '印刷,保留', 'print / hold in Japanese');
  check((await page.textContent('main h1')) === 'モード表', 'the mode tables heading in Japanese');
  const modesText = await page.textContent('main');
  for (const word of ['在席状況', 'スケジュール', 'タイムゾーン', '祝日の表', '取り込んだ祝日', 'ルールを追加', '新しい表']) {
    check(modesText.includes(word), 'the mode tables page says ' + word);
  }
  await page.getByRole('button', {name: 'ルールを追加'}).click();
  check((await page.locator('#schedule tbody tr').last().locator('label').first().textContent()).trim() === '月',
    'the days of the week in Japanese');
  await page.locator('#schedule tbody tr').last().locator('input[value=mon]').check();
  await noEnglish('the mode tables and the schedule');
  await page.fill('#s-tz', 'Mars/Olympus');
  await page.click('#schedule button[type=submit]');
  await page.locator('#schedule-error').waitFor();
  const error = await page.textContent('#schedule-error span');
  check(error.startsWith('受け付けられません: ') && error.includes('time_zone'), 'the refusal in Japanese, naming the field: ' + error);
  await page.reload();
  await page.waitForSelector('button[data-save]');
  await shot('modes-ja');
  await axe('the mode tables in Japanese');
  // The audit log, the accounts and the settings.
  await page.goto(url + '/audit');
  await page.waitForSelector('main table');
  const auditHead = (await page.locator('main th').allTextContents()).join(',');
  check(auditHead === '日時,実行者,動作,対象,詳細', 'the audit columns in Japanese, got ' + auditHead);
  await noEnglish('the audit log');
  await page.goto(url + '/accounts');
  await page.waitForSelector('#add-account');
  check((await page.textContent('main h1')) === 'アカウント', 'the accounts heading');
  const accountsText = await page.textContent('main');
  check(accountsText.includes('管理者') && accountsText.includes('アカウントの追加'), 'the accounts page in Japanese');
  await noEnglish('the accounts');
  await page.goto(url + '/settings');
  await page.waitForSelector('#my-settings');
  const settingsText = await page.textContent('main');
  check(settingsText.includes('としてサインインしています') && settingsText.includes('自分の既定のプリンター'),
    'the settings in Japanese');
  await noEnglish('the settings');
  await page.goto(url + '/recipients');
  await page.waitForSelector('#add-rule');
  check((await page.textContent('main h1')) === '受信者表', 'the recipient table heading');
  await noEnglish('the recipient table');
  // The check itself finds English where there is some: the same page with English chosen.
  await page.selectOption('#language', 'en');
  await page.waitForFunction(() => document.documentElement.lang === 'en');
  await page.waitForSelector('#add-rule');
  check((await englishLeft()).length > 10, 'English texts are found on an English page');
  await ja.close();
});

await browser.close();
if (failures()) {
  console.log(`${failures()} step(s) failed`);
  process.exit(1);
}
console.log('all steps passed');
