// /admin/evals, /admin/shadow and /admin/flows (src/server/admin_evals.cpp, admin_flows.cpp),
// what the console's Evaluations and Flows pages read: runs that the real `keel eval` kept in
// the state file of a running keel, summarised by the same code as the run's summary.json,
// compared as `keel eval compare` compares them; the flows as checked graphs; and
// POST /v1/flows/{name}/run's optional node outputs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startKeel, runKeel, fakeProvider, postJSON } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const FLOWS = path.resolve(here, '../../../shared/promptflow/flows');
const hasJinja = (await runKeel(['version'])).stdout.includes('local engine: llama.cpp');

const LINES = [['one', '1'], ['two', '2'], ['three', '3'], ['four', '4']];
const truth = new Map(LINES);

let fake;
let keel;
let data;

const admin = async (pathname) => {
  const response = await fetch(`${keel.base}${pathname}`);
  return { status: response.status, json: await response.json() };
};

async function evalRun(runId, models) {
  const out = path.join(keel.dir, runId);
  const run = await runKeel(['eval', 'right', '--data', data, '--models', models, '--config', keel.configPath,
    '--run-id', runId, '--out', out], { timeoutMs: 20000 });
  assert.equal(run.code, 0, run.stderr);
  return out;
}

before(async () => {
  fake = await startFakeOpenAI({
    answer(body) {
      const question = body.messages.at(-1).content;
      if (body.model === 'right-up') return truth.get(question);
      if (body.model === 'half-up') return question === 'two' || question === 'four' ? 'no' : truth.get(question);
      return undefined;
    },
  });
  keel = await startKeel({
    providers: [fakeProvider('fake', fake)],
    models: [
      { name: 'right', targets: [{ provider: 'fake', model: 'right-up' }] },
      { name: 'half', targets: [{ provider: 'fake', model: 'half-up' }], shadow: { model: 'right', percent: 100 } },
      { name: 'chatty', targets: [{ provider: 'fake', model: 'echo-admin-flow' }] },
    ],
    extra: existsSync(FLOWS)
      ? { flows: [{ name: 'math', path: path.join(FLOWS, 'chat-math-variant'), models: { open_ai_connection: 'chatty' } }] }
      : {},
  });
  data = path.join(keel.dir, 'data.jsonl');
  writeFileSync(data, LINES.map(([question, ground_truth]) => JSON.stringify({ question, ground_truth })).join('\n'));
});

after(async () => {
  await keel?.stop();
  keel?.cleanup();
  await fake?.close();
});

test('/admin/evals lists runs newest first; a run\'s summary is its summary.json\'s', async () => {
  assert.deepEqual((await admin('/admin/evals')).json, { data: [] });
  const out = await evalRun('both', 'right,half');
  await evalRun('half-only', 'half');
  const list = (await admin('/admin/evals')).json.data;
  assert.deepEqual(list.map((r) => [r.id, r.rows]), [['half-only', 4], ['both', 8]]);
  assert.deepEqual(list[1].describe.candidates, ['right', 'half']);
  assert.deepEqual(list[1].describe.evaluators, ['exact_match', 'f1']);

  const run = await admin('/admin/evals/both');
  assert.equal(run.status, 200);
  const written = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.deepEqual(run.json.summary.candidates, written.candidates);
  assert.deepEqual(run.json.summary.versus_best, written.versus_best);
  assert.equal(run.json.results.length, 8);
  assert.equal(run.json.results_truncated, false);
  assert.deepEqual(run.json.results[0].inputs, { question: 'one', ground_truth: '1', context: '' });

  const missing = await admin('/admin/evals/nope');
  assert.equal(missing.status, 404);
  assert.match(missing.json.error.message, /no evaluation run 'nope'/);
});

test('/admin/evals/{a}/compare/{b} is keel eval compare\'s comparison; run ids go percent-encoded', async () => {
  const a = await evalRun('dir/with/slashes', 'right');
  const b = path.join(keel.dir, 'half-only');
  const compared = await admin(`/admin/evals/${encodeURIComponent('dir/with/slashes')}/compare/half-only`);
  assert.equal(compared.status, 200);
  const cli = await runKeel(['eval', 'compare', a, b, '--json']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.deepEqual(compared.json.comparisons, JSON.parse(cli.stdout).comparisons);
  assert.equal(compared.json.comparisons[0].metrics.exact_match.diff, -0.5);
  assert.equal((await admin('/admin/evals/nope/compare/half-only')).status, 404);
  assert.equal((await admin('/admin/evals/%ZZ')).status, 400);
});

test('/admin/shadow lists the shadowed models; /admin/shadow/{model} adds its newest pairs', async () => {
  assert.deepEqual((await admin('/admin/shadow')).json.data,
    [{ model: 'half', candidate: 'right', percent: 100, evaluators: ['f1', 'rouge_l'] }]);
  const answer = await postJSON(keel, '/v1/chat/completions', { model: 'half', messages: [{ role: 'user', content: 'two' }] }, { key: '' });
  assert.equal(answer.status, 200);
  let report;
  for (let i = 0; i < 100 && !(report?.recent?.length); i++) {
    report = (await admin('/admin/shadow/half')).json;
    if (!report.recent.length) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(report.recent.length, 1);
  assert.equal(report.recent[0].shadow_model, 'right');
  assert.equal(report.recent[0].result.question, 'two');
  assert.equal(report.recent[0].result.served.text, 'no');
  assert.equal(report.recent[0].result.shadow.text, '2');
});

test('/admin/flows sends the checked graph; a run with include: ["nodes"] answers every node\'s output',
  { skip: (!existsSync(FLOWS) && `no ${FLOWS}`) || (!hasJinja && 'keel was built without the local engine (no Jinja)') }, async () => {
    const [flow] = (await admin('/admin/flows')).json.data;
    assert.equal(flow.name, 'math');
    assert.equal(flow.chat, true);
    assert.deepEqual(flow.order, ['chat', 'extract_result']);
    const extract = flow.nodes.find((n) => n.name === 'extract_result');
    assert.deepEqual(extract.inputs, [{ name: 'input1', value: '${chat.output}', node: 'chat' }]);
    assert.deepEqual(flow.nodes.find((n) => n.name === 'chat').variants, ['variant_0', 'variant_1', 'variant_2']);
    assert.deepEqual(flow.outputs, [{ name: 'answer', value: '${extract_result.output}', node: 'extract_result', is_chat_output: true }]);

    const run = await postJSON(keel, '/v1/flows/math/run', { inputs: { question: '3*3=$?' }, include: ['nodes'] }, { key: '' });
    assert.equal(run.status, 200, run.text);
    assert.deepEqual(run.json, { outputs: { answer: 'echo: 3*3=?' }, nodes: { chat: 'echo: 3*3=$?', extract_result: 'echo: 3*3=?' } });
    const plain = await postJSON(keel, '/v1/flows/math/run', { inputs: { question: '1' } }, { key: '' });
    assert.deepEqual(Object.keys(plain.json), ['outputs']);
    const bad = await postJSON(keel, '/v1/flows/math/run', { inputs: {}, include: ['everything'] }, { key: '' });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /include: \["nodes"\]/);
  });
