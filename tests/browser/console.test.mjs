// keel's web console (web/) in Debian's chromium, driven by playwright-core: every page loads
// with no console errors, the playground streams answers from a fake upstream (side by side,
// with tool calls), a failover shows the provider that answered, the request log shows the
// request, its attempts and its trace as a timeline, the console asks for keys when keel has them, no provider key
// reaches the browser, and axe-core finds no serious accessibility violation. Screenshots of
// every page go to KEEL_BROWSER_OUT (default tests/browser/output/).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startKeel, fakeProvider, UPSTREAM_KEY, UPSTREAM_KEY_2 } from '../e2e/harness.mjs';
import { launchBrowser, closeBrowser, openPage, screenshot, seriousViolations } from './browser.mjs';

const CLIENT_KEY = 'sk-console-client';
const ADMIN_KEY = 'sk-console-admin';

let fake;

async function send(page, text) {
  await page.getByLabel('Message').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByRole('button', { name: 'Send' }).waitFor();   // "Streaming…" until every column is done
}

before(async () => {
  await launchBrowser();
  fake = await startFakeOpenAI();
});

after(async () => {
  await closeBrowser();
  await fake?.close();
});

describe('an open keel (loopback, no keys)', () => {
  let keel;
  before(async () => {
    keel = await startKeel({
      providers: [fakeProvider('primary', fake), fakeProvider('secondary', fake, UPSTREAM_KEY_2)],
      models: [
        { name: 'echo', targets: [{ provider: 'primary', model: 'echo-console' }] },
        { name: 'chatty', targets: [{ provider: 'secondary', model: 'slow-stream-6x150' }] },
        {
          name: 'smart',
          retries: 0,
          targets: [
            { provider: 'primary', model: 'fail-500-console' },
            { provider: 'secondary', model: 'ok-console' },
          ],
        },
        { name: 'agent', targets: [{ provider: 'primary', model: 'tools-console' }] },
      ],
      extra: { log_content: true },
    });
  });
  after(async () => keel?.stop());

  test('/ serves the console with a strict CSP', async () => {
    const response = await fetch(`${keel.base}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type'), /^text\/html/);
    const csp = response.headers.get('content-security-policy');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.match(await response.text(), /<script type="module" src="\/console\/app\.js">/);
  });

  test('the playground streams an answer and shows who answered', async () => {
    const page = await openPage(keel, '#/playground');
    await page.getByLabel('Model', { exact: true }).selectOption('chatty');
    await page.getByLabel('Message').fill('tell me something');
    await page.getByRole('button', { name: 'Send' }).click();
    // slow-stream-6x150: chunks "0 ", "1 ", ... 150 ms apart, from the secondary provider. The
    // first shows while the answer is still streaming.
    const streaming = page.locator('.bubble.assistant[aria-busy="true"]');
    await streaming.getByText('0 1', { exact: false }).waitFor({ timeout: 5000 });
    assert.doesNotMatch(await streaming.textContent(), /5/);
    const answer = page.locator('.bubble.assistant[aria-busy="false"]');
    await answer.getByText('0 1 2 3 4 5').waitFor({ timeout: 5000 });
    const stats = page.locator('.turn-stats').last();
    await stats.getByText('secondary / slow-stream-6x150').waitFor();
    assert.match(await stats.textContent(), /TTFT\d+ ms/);
    assert.match(await stats.textContent(), /latency\d+ ms/);
    await screenshot(page, 'playground');
    assert.deepEqual(page.problems, []);
    assert.deepEqual(await seriousViolations(page), []);
    await page.context().close();
  });

  test('a failover shows the second provider, and the same prompt runs on three models side by side', async () => {
    const page = await openPage(keel, '#/playground');
    await page.getByLabel('Model', { exact: true }).selectOption('smart');
    await page.getByRole('button', { name: '+ Compare with another model' }).click();
    await page.getByLabel('Model 2').selectOption('echo');
    await page.getByRole('button', { name: '+ Compare with another model' }).click();
    await page.getByLabel('Model 3').selectOption('agent');
    await page.getByLabel('Offer a sample tool (get_weather)').check();
    await send(page, 'weather in Paris?');

    const smart = page.getByLabel('Conversation with smart');
    await smart.getByText('Hello from fake').waitFor();
    await smart.getByText('secondary / ok-console').waitFor();
    assert.match(await smart.locator('.answered-by').textContent(), /after 1 failed attempt \(primary\)/);
    assert.match(await smart.locator('.turn-stats').textContent(), /5 in · 3 out/);

    const echo = page.getByLabel('Conversation with echo');
    await echo.getByText('echo: weather in Paris?').waitFor();
    await echo.getByText('primary / echo-console').waitFor();

    // tools-console answers with two get_weather calls, shown as they stream
    const agent = page.getByLabel('Conversation with agent');
    await agent.locator('.tool-call').nth(1).waitFor();
    const calls = await agent.locator('.tool-call').allTextContents();
    assert.deepEqual(calls, ['get_weather{"city":"Paris"}', 'get_weather{"city":"Tokyo"}']);
    assert.match(await agent.locator('.turn-stats').textContent(), /finishtool_calls/);

    await screenshot(page, 'playground-compare');
    assert.deepEqual(page.problems, []);
    assert.deepEqual(await seriousViolations(page), []);
    await page.context().close();
  });

  test('models & providers: targets, breakers and the last hour drawn as charts', async () => {
    const page = await openPage(keel, '#/models');
    const smart = page.getByRole('article', { name: 'smart' });
    await smart.waitFor();
    const rows = await smart.locator('table.targets tbody tr').allTextContents();
    assert.equal(rows.length, 2);
    assert.match(rows[0], /primary \(openai\)fail-500-console(closed|open)/);
    assert.match(rows[1], /secondary \(openai\)ok-consoleclosed/);
    assert.ok((await smart.locator('svg polyline').count()) >= 3, 'line charts drawn');
    assert.match(await smart.locator('.kpis').textContent(), /error rate/);
    await screenshot(page, 'models');
    assert.deepEqual(page.problems, []);
    assert.deepEqual(await seriousViolations(page), []);
    await page.context().close();
  });

  test('the request log shows the request, filters, and its detail with attempts, trace and bodies', async () => {
    const page = await openPage(keel, '#/log');
    const table = page.locator('table.requests');
    await table.waitFor();
    await table.getByRole('cell', { name: 'smart', exact: true }).first().waitFor();
    await page.getByLabel('Model').fill('echo');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForFunction(() =>
      [...document.querySelectorAll('table.requests tbody tr td:nth-child(4)')].every((td) => td.textContent === 'echo'));
    await screenshot(page, 'log');
    assert.deepEqual(await seriousViolations(page), []);

    await page.getByLabel('Model').fill('smart');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.locator('table.requests tbody tr td:nth-child(4)', { hasText: 'smart' }).first().waitFor();
    await page.locator('table.requests tbody tr a').first().click();
    const attempts = page.locator('table.attempts tbody tr');
    await attempts.nth(1).waitFor();
    const cells = await attempts.allTextContents();
    assert.match(cells[0], /^1primaryfail-500-console500/);
    assert.match(cells[1], /^2secondaryok-console200/);
    assert.match(await page.locator('pre.json').textContent(), /"Hello from fake"/);
    // The trace as a timeline: the request's span over its two attempts, the failed one red.
    const spans = page.locator('.timeline table.spans tbody tr');
    await spans.nth(2).waitFor();
    const rows = await spans.allTextContents();
    assert.match(rows[0], /^POST \/v1\/chat\/completions\+0\.0 ms.*ok/);
    assert.match(rows[1], /^chat fail-500-console.*error.*provider=primary/);
    assert.match(rows[2], /^chat ok-console.*ok.*system=openai/);
    assert.equal(await page.locator('.timeline svg g.span').count(), 3);
    assert.equal(await page.locator('.timeline svg g.status-error rect.span-bar').count(), 1);
    await screenshot(page, 'log-detail');
    assert.deepEqual(page.problems, []);
    assert.deepEqual(await seriousViolations(page), []);
    await page.context().close();
  });
});

describe('a keel with api_keys and admin_keys', () => {
  let keel;
  before(async () => {
    keel = await startKeel({
      providers: [fakeProvider('primary', fake)],
      models: [{ name: 'echo', targets: [{ provider: 'primary', model: 'echo-keyed' }] }],
      extra: { api_keys: [CLIENT_KEY], admin_keys: [ADMIN_KEY] },
    });
  });
  after(async () => keel?.stop());

  test('the console asks for the API key, then the admin key, and no provider key reaches it', async () => {
    const page = await openPage(keel, '#/playground');
    await page.getByRole('heading', { name: 'keel needs an API key' }).waitFor();
    await screenshot(page, 'key-form');
    assert.deepEqual(await seriousViolations(page), []);
    await page.getByLabel('API key').fill(CLIENT_KEY);
    await page.getByRole('button', { name: 'Use key' }).click();
    await send(page, 'hi there');
    await page.getByText('echo: hi there').waitFor();
    // The client key does not open /admin: the provider needs the admin key.
    await page.getByText('the provider shows with the admin key').waitFor();

    await page.getByRole('link', { name: 'Request log' }).click();
    await page.getByRole('heading', { name: 'This page needs the admin key' }).waitFor();
    await page.getByLabel('admin key').fill(CLIENT_KEY);
    await page.getByRole('button', { name: 'Use key' }).click();
    await page.getByText('That key was refused').waitFor();
    await page.getByLabel('admin key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Use key' }).click();
    await page.locator('table.requests').getByRole('cell', { name: 'echo', exact: true }).first().waitFor();
    // The request is listed under its client key's id, and the key id filter finds it.
    const keyId = `key_${createHash('sha256').update(CLIENT_KEY).digest('hex').slice(0, 8)}`;
    await page.getByLabel('Key id').fill(keyId);
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.locator('table.requests').getByRole('cell', { name: keyId, exact: true }).waitFor();
    await screenshot(page, 'log-keyed');

    await page.getByRole('link', { name: 'Models & providers' }).click();
    await page.getByRole('article', { name: 'echo' }).waitFor();
    for (const body of page.bodies) {
      assert.ok(!body.includes(UPSTREAM_KEY), 'a provider key reached the browser');
    }
    // 401s for the keys asked for are expected; nothing else went wrong.
    assert.deepEqual(page.problems.filter((p) => !/status of 401/.test(p)), []);
    await page.context().close();
  });
});
