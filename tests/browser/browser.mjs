// What every browser test file shares: Debian's chromium through playwright-core, a page that
// records console errors, failed and third-party requests and every response body (for the
// secrets check), screenshots into KEEL_BROWSER_OUT (default tests/browser/output/), and
// axe-core's serious and critical violations.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const OUT = process.env.KEEL_BROWSER_OUT || path.join(here, 'output');
const CHROMIUM = process.env.KEEL_CHROMIUM || '/usr/bin/chromium';
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let browser;

export async function launchBrowser() {
  assert.ok(existsSync(CHROMIUM), `no browser at ${CHROMIUM} (apt install chromium; scripts/setup.sh does)`);
  browser = await chromium.launch({ executablePath: CHROMIUM });
}

export async function closeBrowser() {
  await browser?.close();
}

// A page that records what would show in its devtools console as an error, and every response
// body it received (for the secrets check).
export async function openPage(keel, hash = '') {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  page.problems = [];
  page.bodies = [];
  page.on('console', (message) => {
    if (message.type() === 'error') page.problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    // A stream the page cancelled itself is not a problem; nothing else should fail.
    if (request.failure()?.errorText !== 'net::ERR_ABORTED') {
      page.problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
    }
  });
  page.on('request', (request) => {
    if (!request.url().startsWith(keel.base)) page.problems.push(`third-party request: ${request.url()}`);
  });
  page.on('response', async (response) => {
    try {
      page.bodies.push(await response.text());
    } catch {
      // a redirect or a stream still open: nothing to read
    }
  });
  await page.goto(`${keel.base}/${hash}`);
  return page;
}

export async function screenshot(page, name) {
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
}

// axe-core in the page (evaluate runs outside the page's CSP); serious and critical only.
export async function seriousViolations(page) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

// How a page's test ends: its screenshot, then no console error, failed or third-party request,
// and no serious axe-core violation; the page's context closed.
export async function finishPage(page, name) {
  await screenshot(page, name);
  assert.deepEqual(page.problems, []);
  assert.deepEqual(await seriousViolations(page), []);
  await page.context().close();
}
