// `keel eval` end to end: the real binary evaluates two candidates that it reaches through its
// router (a fake OpenAI upstream: one answers Prompt flow's chat-math-variant questions right,
// one drifts on every third), scored by deterministic evaluators and an LLM judge through the
// same router that sometimes answers garbage. The report must rank them, `keel eval compare`
// must call the difference significant, a rerun must resume, and --max-cost must stop the run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { runKeel, toYaml, keelConfig, fakeProvider, sqliteJson } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const DATA = path.resolve(here, '../../../shared/promptflow/flows/chat-math-variant/data.jsonl');
const lines = existsSync(DATA)
  ? readFileSync(DATA, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l))
  : [];
const answerOf = new Map(lines.map((l) => [l.question, l.answer]));
const indexOf = new Map(lines.map((l, i) => [l.question, i]));
const DRIFTED = (i) => i % 3 === 1;       // questions the drifting candidate gets wrong
const GARBAGE = (i) => i % 5 === 2;       // questions where the judge rambles instead of rating
// The data has 20 lines (one question twice): expectations are counted from it, per line.
const N = lines.length;
const drifted = (line) => DRIFTED(indexOf.get(line.question));
const garbage = (line) => GARBAGE(indexOf.get(line.question));
const DRIFT_WRONG = lines.filter(drifted).length;
const GARBAGE_ROWS = lines.filter(garbage).length;

let fake;
let dir;
let configPath;
const judged = { garbage: 0, rated: 0 };

function lastUser(body) {
  const user = body.messages.filter((m) => m.role === 'user').pop();
  return typeof user.content === 'string' ? user.content : user.content.map((p) => p.text).join('');
}

before(async () => {
  fake = await startFakeOpenAI({
    answer(body) {
      if (body.model === 'right-upstream') return answerOf.get(lastUser(body));
      if (body.model === 'drift-upstream') {
        const q = lastUser(body);
        return DRIFTED(indexOf.get(q)) ? `${answerOf.get(q)}1` : answerOf.get(q);
      }
      if (body.model === 'judge-upstream') {
        const text = lastUser(body);
        if (text.includes('STRICT GRADER')) return '2';   // the user's own copy of a judge prompt
        const question = /QUESTION: ([\s\S]*?)\n\nREFERENCE:/.exec(text)?.[1];
        const reference = /REFERENCE: (.*)/.exec(text)?.[1];
        const answer = /ANSWER: (.*)/.exec(text)?.[1];
        if (GARBAGE(indexOf.get(question))) {
          judged.garbage++;
          return 'This answer seems quite good overall, I would say.';
        }
        judged.rated++;
        return reference === answer ? '5' : '1';
      }
      return undefined;
    },
  });
  dir = mkdtempSync(path.join(tmpdir(), 'keel-eval-'));
  configPath = path.join(dir, 'keel.yaml');
  const price = { input_per_mtok: 1000, output_per_mtok: 2000 };  // 0.011 per fake call (5 + 3 tokens)
  const config = keelConfig({
    dir,
    providers: [fakeProvider('fake', fake)],
    models: [
      { name: 'right', targets: [{ provider: 'fake', model: 'right-upstream' }] },
      { name: 'drift', targets: [{ provider: 'fake', model: 'drift-upstream' }] },
      { name: 'judge', targets: [{ provider: 'fake', model: 'judge-upstream' }] },
      { name: 'emb', targets: [{ provider: 'fake', model: 'text-embedding-fake' }] },
      { name: 'broken', retries: 0, targets: [{ provider: 'fake', model: 'fail-400-eval' }] },
    ],
    extra: {
      pricing: { 'fake/right-upstream': price, 'fake/drift-upstream': price, 'judge-upstream': price },
    },
  });
  writeFileSync(configPath, `${toYaml(config)}\n`);
});

after(async () => {
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const hits = (model) => fake.requests.filter((r) => r.body?.model === model).length;

function evalArgs(out, models, extra = []) {
  return ['eval', 'math', '--config', configPath, '--data', DATA, '--models', models,
    '--evaluators', 'exact_match,similarity,f1,contains', '--judge', 'judge',
    '--column-mapping', 'ground_truth=${data.answer}', '--out', out, '--concurrency', '4', ...extra];
}

test('two candidates over chat-math-variant: ranked, judged strictly, reported', { skip: !lines.length && `${DATA} is absent` }, async () => {
  assert.ok(N >= 19 && DRIFT_WRONG >= 5 && GARBAGE_ROWS >= 3, `${N} ${DRIFT_WRONG} ${GARBAGE_ROWS}`);
  const out = path.join(dir, 'both');
  const r = await runKeel(evalArgs(out, 'drift,right'), { timeoutMs: 60000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wrote .*report\.html/);
  const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
  const [first, second] = summary.candidates;
  assert.equal(first.model, 'right');
  assert.equal(second.model, 'drift');
  assert.equal(first.metrics.exact_match.mean, 1);
  // The report names the significant difference itself, against the best ranked candidate.
  assert.equal(summary.versus_best.baseline, 'right');
  const versus = summary.versus_best.comparisons[0];
  assert.equal(versus.b, 'drift');
  assert.equal(versus.metrics.exact_match.significant, true);
  assert.equal(versus.metrics.contains.significant, false);
  assert.match(r.stdout, /against the best ranked \(right\):[\s\S]*exact_match: .*significant, right is better/);
  assert.equal(second.metrics.exact_match.mean, (N - DRIFT_WRONG) / N);
  for (const c of summary.candidates) {
    for (const m of Object.values(c.metrics).filter((x) => x.mean !== null)) {
      assert.ok(m.ci_low <= m.mean && m.mean <= m.ci_high, JSON.stringify(m));
    }
    // The judge's garbage is a failed score, counted apart, never a zero.
    assert.equal(c.metrics.similarity.failed, GARBAGE_ROWS);
    assert.equal(c.metrics.similarity.n, N - GARBAGE_ROWS);
    assert.equal(c.rows, N);
    assert.equal(c.errors, 0);
    assert.equal(c.tokens.prompt, N * 5 * 2);
    assert.ok(Math.abs(c.cost - N * 0.022) < 1e-9, String(c.cost));
    assert.ok(c.latency_ms.p50 >= 0 && c.latency_ms.p95 >= c.latency_ms.p50);
  }
  assert.equal(first.metrics.similarity.mean, 5);
  // The mean over the rated rows only.
  const driftRated = lines.filter((l) => !garbage(l));
  const expected = driftRated.reduce((s, l) => s + (drifted(l) ? 1 : 5), 0) / driftRated.length;
  assert.ok(Math.abs(second.metrics.similarity.mean - expected) < 1e-12);
  assert.equal(judged.garbage, 2 * GARBAGE_ROWS);
  assert.equal(judged.rated, 2 * (N - GARBAGE_ROWS));

  const rows = readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 2 * N);
  assert.ok(drifted(lines[7]) && garbage(lines[7]));
  const row7 = rows.find((x) => x.line === 7 && x.candidate === 'drift');
  assert.equal(row7.inputs.question, lines[7].question);
  assert.equal(row7.inputs.ground_truth, lines[7].answer);
  assert.equal(row7.output, `${lines[7].answer}1`);
  assert.equal(row7.scores.exact_match.value, 0);
  assert.equal(row7.scores.similarity.value, null);
  assert.match(row7.scores.similarity.error, /not a rating 1-5/);

  // The row state is in the store, by run.
  const db = path.join(dir, 'keel.db');
  const stored = sqliteJson(db, 'select count(*) as n from eval_rows');
  assert.equal(stored[0].n, 2 * N);

  const html = readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.match(html, /<svg /);
  assert.doesNotMatch(html, /<script|\bsrc=|\bhref=|url\(/);   // nothing to fetch
  assert.ok(html.indexOf('<td>right</td>') < html.indexOf('<td>drift</td>'));
  assert.equal((html.match(/<tr><td class='num'>\d+<\/td><td class='out'>/g) ?? []).length, N);
  assert.ok(html.includes('Compute $\\dbinom{16}{5}$.'));
  assert.match(html, /<table id='versus'>[\s\S]*<td>drift<\/td><td>exact_match<\/td>[^\n]*?>significant</);

  const chromium = ['chromium', 'chromium-browser'].find((bin) => {
    try { execFileSync('which', [bin], { stdio: 'ignore' }); return true; } catch { return false; }
  });
  if (!chromium) {
    console.log('# skipped: chromium is not installed, so report.html was not screenshotted');
  } else {
    // Outside the repository: KEEL_E2E_SCREENSHOT_DIR, else the system's temp folder.
    const shot = path.join(process.env.KEEL_E2E_SCREENSHOT_DIR || tmpdir(), 'keel-eval-report.png');
    execFileSync(chromium, ['--headless', '--no-sandbox', '--disable-gpu', `--screenshot=${shot}`,
      '--window-size=1280,1400', `file://${path.join(out, 'report.html')}`], { stdio: 'ignore', timeout: 60000 });
    assert.ok(existsSync(shot));
    console.log(`# report screenshot: ${shot}`);
  }
});

test('a rerun with the same --out resumes: no candidate is asked again', { skip: !lines.length }, async () => {
  const out = path.join(dir, 'resume');
  let r = await runKeel(evalArgs(out, 'right'), { timeoutMs: 60000 });
  assert.equal(r.code, 0, r.stderr);
  const before = { right: hits('right-upstream'), judge: hits('judge-upstream') };
  r = await runKeel(evalArgs(out, 'right'), { timeoutMs: 60000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`${N} rows taken from the earlier run`));
  assert.equal(hits('right-upstream'), before.right);
  // Only the failed judge scores are asked for again (and fail again).
  assert.equal(hits('judge-upstream'), before.judge + GARBAGE_ROWS);
  const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.resumed, N);
  assert.equal(summary.candidates[0].metrics.exact_match.mean, 1);
});

test('keel eval compare names the significant difference', { skip: !lines.length }, async () => {
  const a = path.join(dir, 'cmp-right');
  const b = path.join(dir, 'cmp-drift');
  for (const [out, model] of [[a, 'right'], [b, 'drift']]) {
    const r = await runKeel(evalArgs(out, model), { timeoutMs: 60000 });
    assert.equal(r.code, 0, r.stderr);
  }
  const r = await runKeel(['eval', 'compare', a, b], { timeoutMs: 10000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /A = right, B = drift/);
  assert.match(r.stdout, /exact_match: .*significant, right is better/);
  // The drifted answers ("4368" + "1") still contain the right one: no difference there.
  assert.match(r.stdout, /contains: A 1\.000, B 1\.000, .*: not significant/);
  assert.match(r.stdout, /similarity: .*significant, right is better/);
  const j = await runKeel(['eval', 'compare', a, b, '--json'], { timeoutMs: 10000 });
  const m = JSON.parse(j.stdout).comparisons[0].metrics;
  assert.equal(m.exact_match.n, N);
  assert.equal(m.exact_match.a_better, DRIFT_WRONG);
  assert.equal(m.exact_match.significant, true);
  assert.ok(m.exact_match.ci_high < 0);
  assert.ok(Math.abs(m.exact_match.sign_test_p - 2 * 0.5 ** DRIFT_WRONG) < 1e-12);
  // The same run against itself: nothing significant.
  const same = await runKeel(['eval', 'compare', a, a, '--json'], { timeoutMs: 10000 });
  for (const metric of Object.values(JSON.parse(same.stdout).comparisons[0].metrics)) {
    assert.equal(metric.significant, false);
  }
});

test('--max-cost stops the run once the spend reaches it', { skip: !lines.length }, async () => {
  const out = path.join(dir, 'capped');
  const before = hits('right-upstream');
  const r = await runKeel([...evalArgs(out, 'right', ['--max-cost', '0.05']).filter((x, i, all) => !(x === '--concurrency' || all[i - 1] === '--concurrency')), '--concurrency', '1'], { timeoutMs: 60000 });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`stopped early \\(${N - 3} rows not run\\): the spend reached --max-cost`));
  assert.equal(hits('right-upstream') - before, 3);  // 0.022 a row: 3 rows reach 0.05
  const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.candidates[0].rows, 3);
  assert.equal(summary.not_run, N - 3);
});

test('CSV data with quoting reads as the JSONL does', { skip: !lines.length }, async () => {
  const quote = (s) => `"${s.replaceAll('"', '""')}"`;
  const csv = ['question,answer', ...lines.slice(0, 5).map((l) => `${quote(l.question)},${quote(l.answer)}`)].join('\r\n');
  const csvPath = path.join(dir, 'math.csv');
  writeFileSync(csvPath, csv);
  const out = path.join(dir, 'csv');
  const r = await runKeel(['eval', 'right', '--config', configPath, '--data', csvPath, '--evaluators', 'exact_match',
    '--column-mapping', 'ground_truth=${data.answer}', '--out', out], { timeoutMs: 30000 });
  assert.equal(r.code, 0, r.stderr);
  const rows = readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((x) => x.inputs.question), lines.slice(0, 5).map((l) => l.question));
  assert.ok(rows.every((x) => x.scores.exact_match.value === 1));
});

test('embedding_similarity through an embeddings model; a judge prompt copied and changed', { skip: !lines.length }, async () => {
  const judges = path.join(dir, 'my-judges');
  mkdirSync(judges, { recursive: true });
  const builtIn = readFileSync(path.resolve(here, '../../evals/judges/relevance.prompty'), 'utf8');
  writeFileSync(path.join(judges, 'relevance.prompty'), builtIn.replace('QUESTION: {{question}}', 'STRICT GRADER\nQUESTION: {{question}}'));
  const out = path.join(dir, 'embed');
  const embedBefore = fake.requests.filter((x) => x.path === '/v1/embeddings').length;
  const r = await runKeel(['eval', 'math', '--config', configPath, '--data', DATA, '--models', 'right,drift',
    '--evaluators', 'embedding_similarity,relevance', '--embedding-model', 'emb', '--judge', 'judge', '--judges', judges,
    '--column-mapping', 'ground_truth=${data.answer}', '--out', out], { timeoutMs: 60000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fake.requests.filter((x) => x.path === '/v1/embeddings').length - embedBefore, 2 * N);
  const rows = readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  for (const row of rows) {
    const same = row.candidate === 'right' || !drifted(lines[row.line]);
    const value = row.scores.embedding_similarity.value;
    assert.ok(same ? Math.abs(value - 1) < 1e-6 : value < 0.999, `${row.candidate} ${row.line} ${value}`);
    assert.equal(row.scores.relevance.value, 2);
  }
  const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.candidates[0].model, 'right');
  assert.equal(summary.candidates[0].metrics.relevance.pass_rate, 0);   // 2 is below the judges' 3
});

test('a progress bar on stderr when it is a terminal, none when it is not', { skip: !lines.length }, async () => {
  let script = null;
  try { execFileSync('which', ['script'], { stdio: 'ignore' }); script = 'script'; } catch {}
  const args = ['eval', 'right', '--config', configPath, '--data', DATA, '--evaluators', 'exact_match',
    '--column-mapping', 'ground_truth=${data.answer}', '--out', path.join(dir, 'progress')];
  const plain = await runKeel(args, { timeoutMs: 30000 });
  assert.equal(plain.code, 0, plain.stderr);
  assert.doesNotMatch(plain.stderr, /\[#/);
  if (!script) {
    console.log('# skipped: util-linux script is absent, so no terminal to see the progress bar on');
    return;
  }
  // util-linux `script` runs keel on a pseudo-terminal (stdout and stderr both).
  const quoted = [process.env.KEEL_BIN || path.resolve(here, '../../build/keel'), ...args, '--run-id', 'tty']
    .map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  // Asynchronously: the fake upstream answers from this process's event loop.
  const { stdout: out } = await promisify(execFile)('script', ['-qec', quoted, '/dev/null'], { encoding: 'utf8', timeout: 30000 });
  assert.match(out, new RegExp(`\\r\\[#{30}\\] ${N}/${N} rows`));
  assert.match(out, /\r\[#*\.+\] 1\/\d+ rows/);
});

test('a candidate that fails: its rows are errors, counted, shown, never scored', { skip: !lines.length }, async () => {
  const out = path.join(dir, 'broken');
  const r = await runKeel(['eval', 'math', '--config', configPath, '--data', DATA, '--models', 'right,broken',
    '--evaluators', 'exact_match', '--column-mapping', 'ground_truth=${data.answer}', '--out', out], { timeoutMs: 60000 });
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
  const broken = summary.candidates.find((c) => c.model === 'broken');
  assert.equal(broken.errors, N);
  assert.equal(broken.metrics.exact_match.n, 0);
  assert.equal(broken.metrics.exact_match.mean, null);
  assert.equal(summary.candidates[0].model, 'right');
  const rows = readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const row = rows.find((x) => x.candidate === 'broken');
  assert.equal(row.output, null);
  assert.match(row.error, /./);
  assert.deepEqual(row.scores, {});
  assert.match(readFileSync(path.join(out, 'report.html'), 'utf8'), /<span class='fail'>error: /);
});

test('bad input: a broken data line, an unknown evaluator, a judge without a model', async () => {
  const bad = path.join(dir, 'bad.jsonl');
  writeFileSync(bad, '{"question": "1+1", "answer": "2"}\n{"question": \n');
  let r = await runKeel(['eval', 'right', '--config', configPath, '--data', bad], { timeoutMs: 10000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.jsonl: line 2: /);
  const good = path.join(dir, 'good.jsonl');
  writeFileSync(good, '{"question": "1+1", "answer": "2"}\n');
  r = await runKeel(['eval', 'right', '--config', configPath, '--data', good, '--evaluators', 'bleu'], { timeoutMs: 10000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /unknown evaluator 'bleu'/);
  r = await runKeel(['eval', 'right', '--config', configPath, '--data', good, '--evaluators', 'relevance'], { timeoutMs: 10000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /relevance is an LLM judge: name its model with --judge MODEL/);
  r = await runKeel(['eval', 'right', '--config', configPath, '--data', good, '--column-mapping', 'ground_truth=answer'], { timeoutMs: 10000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /every value is a literal/);
});
