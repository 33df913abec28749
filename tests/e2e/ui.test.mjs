// The web UI in headless Chromium (Debian's /usr/bin/chromium via playwright-core). Prepared by
// run.sh: atdeskd + ippeveprinter, accounts alice/bob, three held faxes. Each step asserts a real
// outcome (what the page shows, what the API answers, what reached the printer's spool); a
// failing step saves a screenshot under $ATDESK_E2E_ARTIFACTS and the run exits 1.
import {chromium} from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run.sh sets it)`);
  return v;
};
const url = env('ATDESK_URL');
const adminPassword = env('ATDESK_ADMIN_PASSWORD');
const jobRelease = env('ATDESK_JOB_RELEASE');
const jobMode = env('ATDESK_JOB_MODE');
const jobBob = env('ATDESK_JOB_BOB');
const spool = env('ATDESK_PRINTER_SPOOL');
const shots = env('ATDESK_SCREENSHOTS');
const artifacts = env('ATDESK_E2E_ARTIFACTS');

function check(cond, what) {
  if (!cond) throw new Error('expected: ' + what);
}

async function until(what, fn, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 200));
  }
}

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

const browser = await chromium.launch({
  executablePath: process.env.ATDESK_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
let context = await browser.newContext({viewport: {width: 1280, height: 900}});
let page = await context.newPage();
page.on('pageerror', (e) => console.error('page error:', e.message));
let failures = 0;

async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e.message}`);
    fs.mkdirSync(artifacts, {recursive: true});
    const file = path.join(artifacts, name.replace(/[^a-z0-9]+/gi, '-') + '.png');
    await page.screenshot({path: file, fullPage: true}).catch(() => {});
    console.log(`     screenshot: ${file} (page ${page.url()})`);
  }
}

async function shot(name) {
  fs.mkdirSync(shots, {recursive: true});
  await page.screenshot({path: path.join(shots, name + '.png'), fullPage: true});
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
});

await step('sign-in succeeds and the overview shows the held fax', async () => {
  await signIn('admin', adminPassword);
  await page.waitForURL(url + '/');
  await page.waitForSelector(`a[href="/jobs/${jobRelease}"]`);
  const text = await page.textContent('main');
  check(text.includes('user:local:alice'), 'the recipient of the held fax');
  check(text.includes('demo'), 'the printer');
  check(text.includes('local'), 'the chat service');
  const cookies = await context.cookies();
  const c = cookies.find((k) => k.name === 'atdesk_session');
  check(c && c.httpOnly && c.sameSite === 'Strict', 'HttpOnly SameSite=Strict session cookie');
  await shot('overview');
});

await step('the job page shows page thumbnails and releasing prints it', async () => {
  await page.goto(url + '/jobs/' + jobRelease);
  await page.waitForSelector('.thumbs img');
  const images = page.locator('.thumbs img');
  check((await images.count()) === 2, 'two page thumbnails');
  await until('thumbnails loaded', () => page.evaluate(() =>
    [...document.querySelectorAll('.thumbs img')].every((i) => i.complete && i.naturalWidth > 0)), 15000);
  await shot('job');
  check(printed(jobRelease).length === 0, 'nothing at the printer before release');
  await page.selectOption('#printer', 'demo');
  await page.click('#release');
  await until('the document at the printer', () => printed(jobRelease).length === 1);
  await page.waitForSelector('.state-printed, .state-printing, .state-releasing');
});

await step('a mode-table cell is saved and the held fax prints', async () => {
  await page.goto(url + '/modes');
  const active = await page.evaluate(async () => (await (await fetch('/api/v1/modes')).json()).active);
  const cell = page.getByLabel(`${active}: busy at office`, {exact: true});
  check((await cell.inputValue()) === 'hold', 'busy at office holds at first');
  check(printed(jobMode).length === 0, 'the second fax is held');
  await cell.selectOption('print');
  await page.click(`button[data-save="${active}"]`);
  await page.waitForSelector('#status:has-text("Saved")');
  await page.reload();
  await page.waitForSelector(`button[data-save="${active}"]`);
  check((await page.getByLabel(`${active}: busy at office`, {exact: true}).inputValue()) === 'print',
    'the cell is still print after a reload');
  await shot('modes');
  // The change re-checks held jobs: Alice is busy at the office, which now prints.
  await until('the held fax at the printer', () => printed(jobMode).length === 1);
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
  await page.locator('tr', {hasText: 'user:local:carol'}).getByRole('button', {name: 'Delete'}).click();
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
  await shot('audit');
});

await step('sign out', async () => {
  await page.click('#signout');
  await page.waitForURL(/\/signin/);
  const r = await context.request.get(url + '/api/v1/jobs');
  check(r.status() === 401, 'signed out: 401');
});

await step('a user sees only their own jobs', async () => {
  await context.close();
  context = await browser.newContext({viewport: {width: 390, height: 844}, isMobile: true});  // a phone
  page = await context.newPage();
  await signIn('bob', 'bob-password');
  await page.waitForURL(url + '/');
  await page.waitForSelector(`a[href="/jobs/${jobBob}"]`);
  await page.goto(url + '/jobs');
  await page.waitForSelector(`a[href="/jobs/${jobBob}"]`);
  check((await page.locator(`a[href="/jobs/${jobRelease}"]`).count()) === 0, "not Alice's job in the list");
  await shot('jobs-phone');
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
  await shot('settings-phone');
});

await browser.close();
if (failures) {
  console.log(`${failures} step(s) failed`);
  process.exit(1);
}
console.log('all steps passed');
