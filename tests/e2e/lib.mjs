// Helpers of the browser tests (ui.test.mjs, teams.test.mjs): assertions, waiting for a condition
// with a deadline, Debian's chromium, and named steps that save a screenshot when they fail.
import {chromium} from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (the suite's shell script sets it)`);
  return v;
};

export function check(cond, what) {
  if (!cond) throw new Error('expected: ' + what);
}

// Calls fn every 200 ms until it returns something truthy (returned), or throws after ms.
export async function until(what, fn, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.ATDESK_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

// step(name, fn) runs fn, prints ok/FAIL with the time taken, and on a failure saves a screenshot
// of page() under `artifacts`; failures() counts the failed steps.
export function stepper(page, artifacts) {
  let failed = 0;
  async function step(name, fn) {
    const started = Date.now();
    try {
      await fn();
      console.log(`ok   ${name} (${Date.now() - started} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${e.message}`);
      fs.mkdirSync(artifacts, {recursive: true});
      const file = path.join(artifacts, name.replace(/[^a-z0-9]+/gi, '-') + '.png');
      await page().screenshot({path: file, fullPage: true}).catch(() => {});
      console.log(`     screenshot: ${file} (page ${page().url()})`);
    }
  }
  return {step, failures: () => failed};
}
