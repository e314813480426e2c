// `keel eval` with the local engine as the judge (issue 22). The only models here are tiny
// (../shared/models holds TinyStories' stories260K; `keel fixture` makes random-weight ones):
// none can judge meaningfully, so this shows the pipeline, not the judgement. A copy of the
// built-in similarity judge (passed with --judges DIR, as users copy them) asks for its rating
// through response_format: a JSON schema allowing only 1-5, which the local engine turns into a
// grammar. Every judge answer then parses as a rating, and the report is written. The ranking
// itself is asserted with a fake judge in eval.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { runKeel, toYaml, keelConfig, fakeProvider, KEEL_BIN } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const DATA = path.resolve(here, '../../../shared/promptflow/flows/chat-math-variant/data.jsonl');
const lines = existsSync(DATA) ? readFileSync(DATA, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l)) : [];
const answerOf = new Map(lines.map((l) => [l.question, l.answer]));

const dir = mkdtempSync(path.join(tmpdir(), 'keel-eval-local-'));
const FIXTURE = path.join(dir, 'fixture-llama.gguf');
let SKIP = lines.length ? false : `${DATA} is absent`;
if (!SKIP) {
  try {
    execFileSync(KEEL_BIN, ['fixture', '--arch', 'llama', FIXTURE], { stdio: 'pipe' });
  } catch (err) {
    SKIP = `this keel has no local engine: ${String(err.stderr || err.message).trim()}`;
  }
}

let fake;
let configPath;
const judges = path.join(dir, 'judges');

before(async () => {
  if (SKIP) return;
  fake = await startFakeOpenAI({
    answer(body) {
      const user = body.messages.filter((m) => m.role === 'user').pop();
      const question = typeof user.content === 'string' ? user.content : user.content.map((p) => p.text).join('');
      if (body.model === 'right-upstream') return answerOf.get(question);
      if (body.model === 'drift-upstream') return `${answerOf.get(question)}1`;
      return undefined;
    },
  });
  configPath = path.join(dir, 'keel.yaml');
  writeFileSync(configPath, `${toYaml(keelConfig({
    dir,
    providers: [fakeProvider('fake', fake), { name: 'local', kind: 'local', model: FIXTURE, threads: 1, parallel: 4, context: 1024 }],
    models: [
      { name: 'right', targets: [{ provider: 'fake', model: 'right-upstream' }] },
      { name: 'drift', targets: [{ provider: 'fake', model: 'drift-upstream' }] },
      { name: 'local-judge', timeout_ms: 120000, first_token_timeout_ms: 120000, targets: [{ provider: 'local', model: 'default' }] },
    ],
  }))}\n`);
  // The built-in judge, as a user copies it, with the rating forced by a schema.
  const builtin = readFileSync(path.resolve(here, '../../evals/judges/similarity.prompty'), 'utf8');
  const forced = builtin.replace('    max_tokens: 8\n', [
    '    max_tokens: 8',
    '    response_format:',
    '      type: json_schema',
    '      json_schema:',
    '        name: rating',
    '        schema: {type: integer, enum: [1, 2, 3, 4, 5]}',
    '',
  ].join('\n'));
  assert.notEqual(forced, builtin, 'the built-in similarity judge changed its parameters');
  mkdirSync(judges);
  writeFileSync(path.join(judges, 'similarity.prompty'), forced);
});

after(async () => {
  await fake?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the local engine judges every row with a parseable rating; the report is written', { skip: SKIP }, async () => {
  const out = path.join(dir, 'out');
  const r = await runKeel(['eval', 'math', '--config', configPath, '--data', DATA, '--models', 'right,drift',
    '--evaluators', 'exact_match,similarity', '--judge', 'local-judge', '--judges', judges,
    '--column-mapping', 'ground_truth=${data.answer}', '--out', out, '--concurrency', '4'], { timeoutMs: 240000 });
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.deepEqual(summary.candidates.map((c) => c.model).sort(), ['drift', 'right']);
  for (const c of summary.candidates) {
    assert.equal(c.metrics.similarity.failed, 0, `${c.model}: a judge answer did not parse`);
    assert.equal(c.metrics.similarity.n, lines.length);
    assert.ok(c.metrics.similarity.mean >= 1 && c.metrics.similarity.mean <= 5, String(c.metrics.similarity.mean));
  }
  // exact_match still tells them apart; the tiny judge cannot, and is not asked to here.
  const byModel = Object.fromEntries(summary.candidates.map((c) => [c.model, c]));
  assert.equal(byModel.right.metrics.exact_match.mean, 1);
  assert.equal(byModel.drift.metrics.exact_match.mean, 0);
  const rows = readFileSync(path.join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 2 * lines.length);
  const ratings = rows.map((row) => row.scores.similarity.value);
  assert.ok(ratings.every((v) => Number.isInteger(v) && v >= 1 && v <= 5), JSON.stringify(ratings));
  const html = readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.match(html, /similarity/);
});
