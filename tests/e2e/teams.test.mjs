// The Teams service account signed in from the web UI in headless Chromium: authorization code
// with PKCE against the identity platform stand-in (graph_standin: the rules it enforces are in
// tests/fakes/atdesk/testing/fake_identity.hpp). Prepared by teams.sh: atdeskd with a
// [chat.teams] service, a fax for alice held (she is Busy) whose notice waits for the sign-in.
// Each step asserts a real outcome: what the pages show, what the API answers, what the stand-in
// received, what the store holds.
import fs from 'node:fs';
import path from 'node:path';
import {execFileSync} from 'node:child_process';
import {check, env, launch, stepper, until} from './lib.mjs';

const url = env('ATDESK_URL');
const graph = env('ATDESK_GRAPH');
const adminPassword = env('ATDESK_ADMIN_PASSWORD');
const job = env('ATDESK_JOB');
const stateDir = env('ATDESK_STATE_DIR');
const artifacts = env('ATDESK_E2E_ARTIFACTS');
const callbackPath = '/api/v1/chat-services/teams/sign-in/callback';
const authorizePath = '/tenant-1/oauth2/v2.0/authorize';

const browser = await launch();
const context = await browser.newContext({viewport: {width: 1280, height: 900}});
const page = await context.newPage();
page.on('pageerror', (e) => console.error('page error:', e.message));
const {step, failures} = stepper(() => page, artifacts);

const standin = async (p) => (await fetch(graph + p)).json();
// The authorization code redemptions the stand-in's token endpoint received.
const redemptions = async () => (await standin('/_standin/received')).filter((r) =>
  r.path === '/tenant-1/oauth2/v2.0/token' && r.body.includes('grant_type=authorization_code'));
const apiGet = (p) => page.evaluate(async (p) => (await fetch(p)).json(), p);
const teamsState = async () =>
  (await apiGet('/api/v1/chat-services')).services.find((s) => s.name === 'teams').state;
const mainText = async () => (await page.textContent('body')).replace(/\s+/g, ' ');

// The Chat services card of the overview: the Teams row's state badge and its buttons.
const teamsRow = () => page.locator('tr', {has: page.locator('td', {hasText: /^teams$/})});

async function startBrowserSignIn() {
  await page.goto(url + '/');
  await teamsRow().getByRole('button', {name: 'Sign in with browser'}).click();
  await page.waitForURL((u) => u.origin === graph && u.pathname === authorizePath);
  await page.waitForSelector('#accept');
}

let callbackUrl = '';

await step('admin signs in; the Teams service waits for its service account', async () => {
  await page.goto(url + '/signin');
  await page.fill('#user', 'admin');
  await page.fill('#password', adminPassword);
  await page.click('button[type=submit]');
  await page.waitForURL(url + '/');
  await teamsRow().waitFor();
  check((await teamsState()) !== 'connected', 'not connected before the sign-in, got ' + await teamsState());
  check(await teamsRow().getByRole('button', {name: 'Sign in with browser'}).isVisible(),
    'a Sign in with browser button on the Teams row');
  const status = await apiGet('/api/v1/chat-services/teams/sign-in');
  check(status.status === 'idle', 'sign-in idle, got ' + JSON.stringify(status));
});

await step('the browser is sent to the authorize endpoint with PKCE (S256), state, offline_access', async () => {
  await startBrowserSignIn();
  const q = new URL(page.url()).searchParams;
  check(q.get('client_id') === 'client-1', 'client_id');
  check(q.get('response_type') === 'code', 'response_type=code');
  check(q.get('redirect_uri') === url + callbackPath, 'redirect_uri ' + q.get('redirect_uri'));
  check(q.get('code_challenge_method') === 'S256', 'code_challenge_method=S256');
  check(/^[A-Za-z0-9_-]{43}$/.test(q.get('code_challenge') || ''), 'a 43-character challenge');
  check((q.get('state') || '').length >= 32, 'a random state');
  check((q.get('scope') || '').split(' ').includes('offline_access'), 'offline_access in ' + q.get('scope'));
  check(!page.url().includes('code_verifier'), 'the verifier stays in atdeskd');
  check((await mainText()).includes('offline_access'), 'the consent page lists the permissions');
});

await step('declining consent (error=access_denied) is shown to the admin as what it is', async () => {
  // The consent page from the step before: Cancel sends the browser back with the error.
  const answer = page.waitForResponse((r) => new URL(r.url()).pathname === callbackPath);
  await page.click('#cancel');
  const response = await answer;
  await page.waitForLoadState();
  check(response.status() === 400, 'the callback answers 400, got ' + response.status());
  const text = await mainText();
  check(text.includes('Sign-in failed'), 'the page says the sign-in failed: ' + text);
  check(text.includes('access_denied') && text.includes('declined'), 'and why: ' + text);
  check(await page.locator('a[href="/"]').isVisible(), 'a way back to atdesk');
  const status = await apiGet('/api/v1/chat-services/teams/sign-in');
  check(status.status === 'failed' && status.problem.includes('access_denied'),
    'the sign-in status says failed with the reason: ' + JSON.stringify(status));
  check((await redemptions()).length === 0, 'no code was redeemed');
  check((await teamsState()) !== 'connected', 'still not connected');
});

await step('a callback with a state atdeskd did not issue is refused and its code not redeemed', async () => {
  await startBrowserSignIn();
  // The stand-in's answer to Accept is the redirect to atdeskd's callback: keep it instead of
  // following it, to send it on with a forged state first.
  await page.route(graph + authorizePath, async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    const r = await route.fetch({maxRedirects: 0});
    callbackUrl = r.headers()['location'] || '';
    await route.fulfill({status: 200, contentType: 'text/html',
      body: '<!doctype html><title>held</title><p>The redirect is held by the test.</p>'});
  });
  await page.click('#accept');
  await until('the redirect with the code', () => callbackUrl);
  await page.unroute(graph + authorizePath);
  const real = new URL(callbackUrl);
  check(real.origin + real.pathname === url + callbackPath, 'back to the registered redirect URI');
  check(real.searchParams.get('code') && real.searchParams.get('state'), 'code and state');
  const forged = new URL(callbackUrl);
  forged.searchParams.set('state', 'forged-' + real.searchParams.get('state').slice(7));
  const response = await page.goto(forged.href);
  check(response.status() === 400, 'refused with 400, got ' + response.status());
  check((await mainText()).includes('not known here'), 'the page says so: ' + await mainText());
  check((await redemptions()).length === 0, 'the code was not redeemed');
});

await step('the real callback signs the service account in; the token is stored sealed', async () => {
  const response = await page.goto(callbackUrl);
  check(response.status() === 200, 'the callback answers 200, got ' + response.status());
  check((await mainText()).includes('Signed in'), 'the page says signed in: ' + await mainText());
  const redeemed = await redemptions();
  check(redeemed.length === 1 && redeemed[0].status === 200, 'one redemption, accepted: ' +
    JSON.stringify(redeemed.map((r) => [r.status, r.reply])));
  const body = new URLSearchParams(redeemed[0].body);
  check(body.get('code_verifier') && body.get('redirect_uri') === url + callbackPath,
    'the code redeemed with the verifier and the same redirect_uri');
  // The tokens the stand-in issued are nowhere in atdeskd's files as they are; the store keeps
  // them sealed in the settings (namespace graph.tokens).
  const issued = JSON.parse(redeemed[0].reply);
  check(issued.refresh_token && issued.access_token, 'a refresh token was issued (offline_access)');
  const files = [];
  const walk = (d) => fs.readdirSync(d, {withFileTypes: true}).forEach((e) =>
    e.isDirectory() ? walk(path.join(d, e.name)) : files.push(path.join(d, e.name)));
  walk(stateDir);
  await until('the sealed tokens in the store', () => {
    const db = files.find((f) => f.endsWith('.db') || f.endsWith('.sqlite'));
    const rows = execFileSync('sqlite3', ['-readonly', db,
      "SELECT count(*) FROM settings WHERE ns = 'graph.tokens'"], {encoding: 'utf8'}).trim();
    return Number(rows) >= 1;
  }, 10000);
  for (const f of files) {
    const bytes = fs.readFileSync(f);
    for (const t of [issued.refresh_token, issued.access_token]) {
      check(!bytes.includes(t), `no token in the clear in ${path.basename(f)}`);
    }
  }
});

await step('a replayed callback (the state used already) is refused', async () => {
  const response = await page.goto(callbackUrl);
  check(response.status() === 400, 'refused with 400, got ' + response.status());
  check((await mainText()).includes('not known here'), 'the page says so');
  check((await redemptions()).length === 1, 'the code was not redeemed a second time');
});

await step('the Teams service turns connected, on the overview and in /api/v1/chat-services', async () => {
  await page.goto(url + '/');
  await until('connected', async () => (await teamsState()) === 'connected', 15000);
  await page.reload();
  await teamsRow().locator('.svc-connected').waitFor();
  check(!(await teamsRow().getByRole('button', {name: 'Sign in with browser'}).isVisible()),
    'no sign-in button once connected');
  const status = await apiGet('/api/v1/chat-services/teams/sign-in');
  check(status.status === 'signed_in', 'sign-in status signed_in: ' + JSON.stringify(status));
});

await step("the held job's notice, waiting since before the sign-in, reaches Teams", async () => {
  const {short_id: shortId, state} = await apiGet('/api/v1/jobs/' + job);
  check(state === 'held', 'the job is still held');
  const notice = await until('the notice in alice\'s 1:1 chat', async () =>
    (await standin('/_standin/received')).find((r) => r.method === 'POST' &&
      /^\/v1\.0\/chats\/[^/]+\/messages$/.test(r.path) && r.status === 201 && r.body.includes(shortId)),
  20000);
  const message = JSON.parse(notice.body);
  check(message.body.contentType === 'html', 'an HTML notice');
  check(decodeURIComponent(notice.path).includes('alice-id'), "in alice's chat: " + notice.path);
  const violations = await standin('/_standin/violations');
  check(violations.length === 0, 'atdeskd broke no rule of the stand-in: ' + violations.join('; '));
});

// The stand-in itself refuses what the documents say is refused (a stand-in that let everything
// through would prove nothing). Last: its redemptions replace the tenant's refresh token.
await step('the stand-in enforces the flow: redirect URI, S256, verifier, single use, expiry', async () => {
  const b64url = (buf) => buf.toString('base64url');
  const {createHash, randomBytes} = await import('node:crypto');
  const verifier = () => b64url(randomBytes(32));
  const challenge = (v) => b64url(createHash('sha256').update(v).digest());
  const authorize = (params) => fetch(graph + authorizePath + '?' + new URLSearchParams({
    client_id: 'client-1', response_type: 'code', redirect_uri: url + callbackPath,
    scope: 'offline_access User.Read', state: 's-1', code_challenge_method: 'S256', ...params,
  }), {redirect: 'manual'});
  // A code for `v`: the consent page's Accept, as the browser would post it.
  const code = async (v, params = {}) => {
    const page = await (await authorize({code_challenge: challenge(v), ...params})).text();
    const request = /name="request" value="([^"]+)"/.exec(page)[1];
    const r = await fetch(graph + authorizePath, {method: 'POST', redirect: 'manual',
      headers: {'Content-Type': 'application/x-www-form-urlencoded'},
      body: new URLSearchParams({request, consent: 'accept'})});
    const back = new URL(r.headers.get('location'));
    check(back.searchParams.get('state') === 's-1', 'state echoed');
    return back.searchParams.get('code');
  };
  const redeem = async (c, v, params = {}) => {
    const r = await fetch(graph + '/tenant-1/oauth2/v2.0/token', {method: 'POST',
      headers: {'Content-Type': 'application/x-www-form-urlencoded'},
      body: new URLSearchParams({client_id: 'client-1', client_secret: 'secret-1',
        grant_type: 'authorization_code', code: c, redirect_uri: url + callbackPath,
        code_verifier: v, ...params})});
    return {status: r.status, body: await r.json()};
  };
  const refused = (r, error, aadsts) => r.status === 400 && r.body.error === error &&
    r.body.error_codes[0] === aadsts && r.body.error_description.startsWith('AADSTS' + aadsts) &&
    'timestamp' in r.body && 'trace_id' in r.body && 'correlation_id' in r.body;

  const plain = await authorize({code_challenge: 'x'.repeat(43), code_challenge_method: 'plain'});
  const plainBack = new URL(plain.headers.get('location'));
  check(plain.status === 302 && plainBack.searchParams.get('error') === 'invalid_request' &&
    plainBack.searchParams.get('state') === 's-1', 'plain refused, back with the state');
  const stranger = await authorize({code_challenge: challenge(verifier()),
    redirect_uri: url + '/elsewhere'});
  check(stranger.status === 400 && !stranger.headers.get('location') &&
    (await stranger.text()).includes('AADSTS50011'), 'an unregistered redirect URI: no redirect');

  const v1 = verifier();
  const wrong = await redeem(await code(v1), verifier());
  check(refused(wrong, 'invalid_grant', 501481), 'a wrong verifier: ' + JSON.stringify(wrong));
  const v2 = verifier();
  const c2 = await code(v2);
  const otherRedirect = await redeem(await code(v2), v2, {redirect_uri: url + '/elsewhere'});
  check(refused(otherRedirect, 'invalid_grant', 50011), 'another redirect_uri: ' + JSON.stringify(otherRedirect));
  const good = await redeem(c2, v2);
  check(good.status === 200 && good.body.refresh_token, 'the right verifier: ' + JSON.stringify(good));
  const again = await redeem(c2, v2);
  check(refused(again, 'invalid_grant', 54005), 'a code used twice: ' + JSON.stringify(again));
  await fetch(graph + '/_standin/code-lifetime', {method: 'POST', body: '0'});
  const late = await redeem(await code(v2), v2);
  await fetch(graph + '/_standin/code-lifetime', {method: 'POST', body: '600'});
  check(refused(late, 'invalid_grant', 70008), 'an expired code: ' + JSON.stringify(late));
  const noOffline = await redeem(await code(v2, {scope: 'User.Read'}), v2);
  check(noOffline.status === 200 && !noOffline.body.refresh_token, 'no offline_access, no refresh token');
  const violations = await standin('/_standin/violations');
  check(violations.length === 1 && violations[0].includes('offline_access'),
    'and that is recorded as a broken rule: ' + violations.join('; '));
});

await browser.close();
if (failures()) {
  console.log(`${failures()} step(s) failed`);
  process.exit(1);
}
console.log('all steps passed');
