// The console's Evaluations page over real runs: `keel eval` (the real binary, this keel's
// config and state file) scores candidates reached through a fake OpenAI upstream, one that
// answers a small data set right and one that drifts on every other line; a model with
// `shadow:` mirrors live requests to a candidate. The page lists the runs, draws a run's report
// with its per-line diffs, compares two runs with keel's paired statistics, and shows the
// shadow report, with no console errors and no serious axe-core violation.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startKeel, runKeel, fakeProvider, postJSON, waitFor } from '../e2e/harness.mjs';
import { launchBrowser, closeBrowser, openPage, finishPage } from './browser.mjs';

const LINES = [
  ['What is 2 + 3?', '5'],
  ['What is the capital of France?', 'Paris'],
  ['What is 7 times 6?', '42'],
  ['Which planet is known as the red planet?', 'Mars'],
  ['What is 10 minus 4?', '6'],
  ['What colour do you get from blue and yellow?', 'green'],
  ['How many legs has a spider?', 'eight'],
  ['What is the square root of 81?', '9'],
];
const truth = new Map(LINES);
const drifts = (question) => LINES.findIndex(([q]) => q === question) % 2 === 1;

function lastUser(body) {
  const user = body.messages.filter((m) => m.role === 'user').pop();
  return typeof user.content === 'string' ? user.content : user.content.map((p) => p.text).join('');
}

let fake;
let keel;

before(async () => {
  await launchBrowser();
  fake = await startFakeOpenAI({
    answer(body) {
      const question = lastUser(body);
      if (body.model === 'right-up') return truth.get(question);
      if (body.model === 'drift-up') return drifts(question) ? `probably not ${truth.get(question)} but 1` : truth.get(question);
      if (body.model === 'served-up') return `The answer to "${question}" is in the handbook, chapter two.`;
      if (body.model === 'cand-up') return `The answer to "${question}" is in chapter two of the handbook.`;
      return undefined;
    },
  });
  keel = await startKeel({
    providers: [fakeProvider('fake', fake)],
    models: [
      { name: 'right', targets: [{ provider: 'fake', model: 'right-up' }] },
      { name: 'drift', targets: [{ provider: 'fake', model: 'drift-up' }] },
      { name: 'main', targets: [{ provider: 'fake', model: 'served-up' }], shadow: { model: 'cand', percent: 100 } },
      { name: 'cand', targets: [{ provider: 'fake', model: 'cand-up' }] },
    ],
  });
  const data = path.join(keel.dir, 'quiz.jsonl');
  writeFileSync(data, LINES.map(([question, ground_truth]) => JSON.stringify({ question, ground_truth })).join('\n'));
  // Three real runs into this keel's state file: both candidates, then each alone.
  for (const [runId, models] of [['both', 'right,drift'], ['drift-only', 'drift'], ['right-only', 'right']]) {
    const run = await runKeel(['eval', 'right', '--data', data, '--models', models, '--evaluators', 'exact_match,f1',
      '--config', keel.configPath, '--run-id', runId, '--out', path.join(keel.dir, runId)], { timeoutMs: 20000 });
    assert.equal(run.code, 0, run.stderr);
  }
  // Live traffic on `main`, mirrored to `cand` after each answer.
  for (const [question] of LINES.slice(0, 3)) {
    const response = await postJSON(keel, '/v1/chat/completions', { model: 'main', messages: [{ role: 'user', content: question }] }, { key: '' });
    assert.equal(response.status, 200);
  }
  assert.ok(await waitFor(async () => (await (await fetch(`${keel.base}/admin/shadow/main`)).json()).report.pairs === 3, 5000, 50),
    'three shadow pairs stored');
});

after(async () => {
  await closeBrowser();
  await keel?.stop();
  keel?.cleanup();
  await fake?.close();
});

describe('the Evaluations page', () => {
  test('lists the runs and the shadowed models', async () => {
    const page = await openPage(keel, '#/evals');
    const rows = page.locator('table.runs tbody tr');
    await rows.nth(2).waitFor();
    assert.equal(await rows.count(), 3);
    const both = await page.locator('table.runs tbody tr', { hasText: 'both' }).textContent();
    assert.match(both, /bothrightright, driftexact_match, f116/);   // 8 lines x 2 candidates
    await page.getByRole('link', { name: 'main', exact: true }).waitFor();
    assert.match(await page.locator('ul.shadows').textContent(), /main → cand \(100% of requests, scored by f1, rouge_l\)/);
    await finishPage(page, 'evals');
  });

  test('a run\'s report: candidates ranked with CIs, charts, keel\'s comparison, and each line side by side', async () => {
    const page = await openPage(keel, '#/evals');
    await page.getByRole('link', { name: 'both', exact: true }).click();
    const candidates = page.locator('table.candidates tbody tr');
    await candidates.nth(1).waitFor();
    assert.match(await candidates.nth(0).textContent(), /^right1\.000 \[1\.000, 1\.000\]/);
    assert.match(await candidates.nth(1).textContent(), /^drift0\.500 \[/);
    assert.ok((await page.locator('figure.chart svg circle').count()) >= 4, 'an interval per candidate and metric');
    const versus = page.getByRole('article', { name: 'drift against right' });
    assert.match(await versus.locator('tr', { hasText: 'exact_match' }).textContent(), /^exact_match81\.0000\.500-0\.500 \[[-0-9.]+, [-0-9.]+\][0-9.]+right better$/);
    // Each line: the question, the ground truth, both answers; drift's wrong ones diffed.
    const lines = page.locator('table.eval-rows tbody tr');
    assert.equal(await lines.count(), 8);
    const second = lines.nth(1);
    assert.match(await second.textContent(), /What is the capital of France\?Paris/);
    assert.deepEqual(await second.locator('ins').allTextContents(), ['probably not ', 'but 1']);
    assert.equal(await lines.nth(0).locator('ins, del').count(), 0);
    await finishPage(page, 'eval-run');
  });

  test('two runs compared: keel\'s paired bootstrap and sign test, and the lines that changed', async () => {
    const page = await openPage(keel, '#/evals');
    await page.getByLabel('Run A (baseline)').selectOption('drift-only');
    await page.getByLabel('Run B').selectOption('right-only');
    await page.getByRole('button', { name: 'Compare' }).click();
    const pair = page.getByRole('article', { name: 'right against drift' });
    const row = pair.locator('tr', { hasText: 'exact_match' });
    await row.waitFor();
    // 8 pairs, drift 0.5, right 1, B - A = +0.5, 4 lines better, sign test p = 2 / 2^4.
    assert.match(await row.textContent(), /^exact_match80\.5001\.000\+0\.500 \[[0-9.]+, [0-9.]+\]0\.125right better$/);
    const lines = page.locator('table.paired-rows tbody tr');
    assert.equal(await lines.count(), 8);
    await page.getByLabel('Only lines whose scores differ').check();
    await page.waitForFunction(() => document.querySelectorAll('table.paired-rows tbody tr').length === 4);
    assert.equal(await page.locator('table.paired-rows tbody tr.changed').count(), 4);
    await finishPage(page, 'eval-compare');
  });

  test('the shadow report: scores against the served answers, latency, and the pairs side by side', async () => {
    const page = await openPage(keel, '#/evals');
    await page.getByRole('link', { name: 'main', exact: true }).click();
    await page.getByRole('heading', { name: 'main shadowed by cand' }).waitFor();
    assert.match(await page.locator('dl.facts').textContent(), /pairs scored3candidate failures0/);
    assert.ok((await page.locator('figure.chart svg circle').count()) >= 2, 'f1 and rouge_l drawn');
    const pairs = page.locator('table.shadow-pairs tbody tr');
    assert.equal(await pairs.count(), 3);
    const first = await pairs.nth(0).textContent();
    assert.match(first, /served-up/);
    assert.match(first, /cand-up/);
    assert.ok((await pairs.nth(0).locator('ins').count()) > 0, 'the candidate\'s answer diffed against the served one');
    await finishPage(page, 'eval-shadow');
  });
});
