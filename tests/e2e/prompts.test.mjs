// Prompts (`prompts:` in the config, POST /v1/prompts/{name}/run, `keel prompt run`): the
// router renders, for each attempt, the variant of that attempt's target, so a failover from an
// OpenAI target to an Anthropic one also switches to the Anthropic variant. Checked at the fake
// upstreams, which record what they received. Prompt flow's own example .prompty files
// (../shared/promptflow/prompty-examples) render to the messages their runtimes document, and
// the two known-defective ones fail with errors that name the defect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startFakeAnthropic } from '../fakes/fake_anthropic.mjs';
import {
  startKeel, runKeel, makeClient, fakeProvider, anthropicProvider, attemptsOf, keelConfig, toYaml,
  waitFor,
} from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLES = path.resolve(here, '../../../shared/promptflow/prompty-examples');
const ANTHROPIC_KEY = 'sk-ant-prompts';

const DEFAULT_PROMPT = `---
name: Summarize
description: the default variant, in Prompt flow's dialect
model:
  api: chat
  configuration:
    type: openai
    model: gpt-4o
  parameters:
    max_tokens: 64
inputs:
  text:
    type: string
  style:
    type: string
    default: short
sample:
  text: hello
---
system:
DEFAULT VARIANT: summarize in a {{style}} way.

user:
Summarize: {{text}}
`;

const CLAUDE_PROMPT = `---
name: summarize-claude
description: the Anthropic variant, in prompty v2's dialect
model:
  id: claude-sonnet-4-5
  provider: anthropic
  options:
    maxOutputTokens: 64
inputs:
  - name: text
    kind: string
    required: true
  - name: style
    kind: string
    default: short
---
system:
CLAUDE VARIANT: <instructions>summarize, {{style}}</instructions>

user:
<document>{{text}}</document>
`;

const GPT_PROMPT = DEFAULT_PROMPT.replace('DEFAULT VARIANT', 'GPT-4O VARIANT');

let fakeOA;
let fakeAN;
let keel;
let client;
let dir;
// Prompts need llama.cpp's Jinja engine, which comes with the local engine.
const hasJinja = (await runKeel(['version'])).stdout.includes('local engine: llama.cpp');
const examples = existsSync(EXAMPLES);

const bodiesFor = (fake, model) => fake.requests.filter((r) => r.body?.model === model).map((r) => r.body);

function config(extraPrompts = []) {
  const file = (name) => path.join(dir, name);
  const variants = { anthropic: file('claude.prompty'), 'gpt-4o*': file('gpt.prompty') };
  const examplePrompts = examples
    ? [
        { name: 'basic', file: path.join(EXAMPLES, 'basic/basic.prompty'), model: 'plain' },
        { name: 'chat-basic', file: path.join(EXAMPLES, 'chat-basic/chat.prompty'), model: 'plain' },
        { name: 'json-format', file: path.join(EXAMPLES, 'format-output/json_format.prompty'), model: 'plain' },
        { name: 'apology', file: path.join(EXAMPLES, 'eval-apology/apology.prompty'), model: 'plain' },
      ]
    : [];
  return {
    providers: [fakeProvider('oa', fakeOA), anthropicProvider('claude', fakeAN, ANTHROPIC_KEY)],
    models: [
      // OpenAI first: it fails with 500 (and once more on its retry), then Anthropic answers.
      { name: 'smart', strategy: 'failover', retries: 1, targets: [
        { provider: 'oa', model: 'fail-500-prompts' }, { provider: 'claude', model: 'echo-prompts' }] },
      { name: 'gpt', targets: [{ provider: 'oa', model: 'gpt-4o-mini' }] },
      { name: 'plain', targets: [{ provider: 'oa', model: 'echo-examples' }] },
    ],
    extra: {
      prompts: [
        { name: 'summarize', file: file('default.prompty'), model: 'smart', variants },
        { name: 'summarize-gpt', file: file('default.prompty'), model: 'gpt', variants },
        ...examplePrompts,
        ...extraPrompts,
      ],
    },
  };
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'keel-prompts-'));
  writeFileSync(path.join(dir, 'default.prompty'), DEFAULT_PROMPT);
  writeFileSync(path.join(dir, 'claude.prompty'), CLAUDE_PROMPT);
  writeFileSync(path.join(dir, 'gpt.prompty'), GPT_PROMPT);
  fakeOA = await startFakeOpenAI();
  fakeAN = await startFakeAnthropic({ apiKey: ANTHROPIC_KEY });
  if (!hasJinja) return;
  keel = await startKeel(config());
  client = makeClient(keel);
});

after(async () => {
  await keel?.stop();
  keel?.cleanup();
  await fakeOA?.close();
  await fakeAN?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const runPrompt = (name, body, opts = {}) => client.post(`/prompts/${name}/run`, { body, ...opts });

test('a failover from OpenAI to Anthropic sends each target its own variant', { skip: !hasJinja }, async () => {
  const { data, response } = await runPrompt('summarize', { inputs: { text: 'the quarterly report' } }).withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.equal(data.model, 'smart');
  assert.equal(data.choices[0].message.content, 'echo: <document>the quarterly report</document>');

  // At the OpenAI fake: both tries (the first and its retry) got the default variant.
  const openai = bodiesFor(fakeOA, 'fail-500-prompts');
  assert.equal(openai.length, 2);
  for (const body of openai) {
    assert.deepEqual(body.messages, [
      { role: 'system', content: 'DEFAULT VARIANT: summarize in a short way.' },
      { role: 'user', content: 'Summarize: the quarterly report' },
    ]);
    assert.equal(body.max_tokens ?? body.max_completion_tokens, 64);
  }
  // At the Anthropic fake: the Anthropic variant, its system text in `system`.
  const anthropic = bodiesFor(fakeAN, 'echo-prompts');
  assert.equal(anthropic.length, 1);
  const system = typeof anthropic[0].system === 'string'
    ? anthropic[0].system : anthropic[0].system.map((b) => b.text).join('');
  assert.equal(system, 'CLAUDE VARIANT: <instructions>summarize, short</instructions>');
  assert.deepEqual(anthropic[0].messages.map((m) => m.role), ['user']);
  const userText = typeof anthropic[0].messages[0].content === 'string'
    ? anthropic[0].messages[0].content : anthropic[0].messages[0].content.map((b) => b.text).join('');
  assert.equal(userText, '<document>the quarterly report</document>');
  assert.equal(anthropic[0].max_tokens, 64);

  // The request log names the variant each attempt sent.
  const requestId = response.headers.get('x-request-id');
  let attempts = [];
  await waitFor(() => (attempts = attemptsOf(keel.dbPath, requestId)).length === 3, 5000);
  assert.deepEqual(attempts.map((a) => [a.provider, a.status, a.variant]), [
    ['oa', 500, path.join(dir, 'default.prompty')],
    ['oa', 500, path.join(dir, 'default.prompty')],
    ['claude', 200, path.join(dir, 'claude.prompty')],
  ]);
});

test('streams as chat.completion.chunk events, and a model glob picks its variant', { skip: !hasJinja }, async () => {
  const stream = await runPrompt('summarize', { inputs: { text: 'x', style: 'long' }, stream: true }, { stream: true });
  let text = '';
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, 'echo: <document>x</document>');

  const before = bodiesFor(fakeOA, 'gpt-4o-mini').length;
  const data = await runPrompt('summarize-gpt', { inputs: { text: 'y' } });
  assert.equal(data.model, 'gpt');
  const sent = bodiesFor(fakeOA, 'gpt-4o-mini').slice(before);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].messages[0].content, 'GPT-4O VARIANT: summarize in a short way.');
});

test('bad inputs and unknown prompts are errors in OpenAI\'s shape naming the file and line', { skip: !hasJinja }, async () => {
  const expectError = async (promise, status, pattern) => {
    await assert.rejects(promise, (e) => {
      assert.ok(e instanceof OpenAI.APIError, String(e));
      assert.equal(e.status, status, e.message);
      assert.match(e.error?.message ?? '', pattern);
      return true;
    });
  };
  const file = path.join(dir, 'default.prompty');
  await expectError(runPrompt('summarize', { inputs: {} }), 400,
    new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:12: Missing required input 'text'`));
  await expectError(runPrompt('summarize', { inputs: { text: 'a', tone: 'b' } }), 400, /default\.prompty:11: unknown input 'tone' \(declared: text, style\)/);
  await expectError(runPrompt('summarize', { inputs: { text: 3 } }), 400, /default\.prompty:12: input 'text' must be string, got an integer/);
  await expectError(runPrompt('summarize', { inputs: { text: 'a' }, temperature: 1 }), 400, /unknown field 'temperature'/);
  await expectError(runPrompt('nope', { inputs: {} }), 404, /prompt 'nope' does not exist/);
  // Nothing reached an upstream for these.
  assert.equal(bodiesFor(fakeOA, 'fail-500-prompts').length, 4);
});

test('Prompt flow\'s example prompts render to the messages their runtimes document', { skip: !hasJinja }, async (t) => {
  if (!examples) return t.skip(`no ${EXAMPLES}`);
  const sample = (file) => JSON.parse(readFileSync(path.join(EXAMPLES, file), 'utf8'));
  const sentFor = async (name, inputs) => {
    const count = fakeOA.requests.length;
    await runPrompt(name, { inputs });
    const sent = fakeOA.requests.slice(count).filter((r) => r.body?.model === 'echo-examples');
    assert.equal(sent.length, 1);
    return sent[0].body;
  };

  const basic = await sentFor('basic', sample('basic/sample.json'));
  assert.deepEqual(basic.messages, [
    { role: 'system', content: 'You are an AI assistant who helps people find information.\nAs the assistant, you answer questions briefly, succinctly. ' },
    { role: 'user', content: 'Who is the most famous person in the world?' },
  ]);
  assert.equal(basic.max_tokens ?? basic.max_completion_tokens, 128);
  assert.equal(basic.temperature, 0.2);

  // chat_history items become turns between the system message and the question.
  const chat = await sentFor('chat-basic', sample('chat-basic/sample.json'));
  const history = sample('chat-basic/sample.json').chat_history;
  assert.deepEqual(chat.messages.slice(1, -1), history);
  assert.equal(chat.messages[0].role, 'system');
  assert.deepEqual(chat.messages.at(-1), { role: 'user', content: 'How many questions did the user ask?' });

  // The example's sample.json says firstName/lastName where the file declares first_name and
  // last_name: Prompt flow drops such keys (and renders the defaults); keel refuses an unknown
  // input, so they are left out here. Defaults fill the rest; response_format passes through.
  const { firstName, lastName, ...jsonInputs } = sample('format-output/sample.json');
  assert.ok(firstName && lastName);
  const json = await sentFor('json-format', jsonInputs);
  assert.match(json.messages[0].content, /You are helping John Doh to find answers/);
  assert.deepEqual(json.response_format, { type: 'json_object' });
});

test('the two known-defective example prompts fail with errors that name the defect', { skip: !hasJinja }, async (t) => {
  if (!examples) return t.skip(`no ${EXAMPLES}`);
  // apology.prompty writes "user: ..." inline: no dialect reads that as a marker.
  await assert.rejects(runPrompt('apology', { inputs: JSON.parse(readFileSync(path.join(EXAMPLES, 'eval-apology/sample.json'), 'utf8')) }), (e) => {
    assert.equal(e.status, 400);
    assert.match(e.error.message, /apology\.prompty:34: 'user: Where can I get my car fixed\?' is an inline role line/);
    return true;
  });
  // eval.prompty declares ground_truth but renders {{statement}}: the config itself is refused.
  const cfgDir = mkdtempSync(path.join(tmpdir(), 'keel-prompts-cfg-'));
  try {
    const cfg = keelConfig({ ...config([{ name: 'eval', file: path.join(EXAMPLES, 'eval-basic/eval.prompty'), model: 'plain' }]), dir: cfgDir });
    const cfgPath = path.join(cfgDir, 'keel.yaml');
    writeFileSync(cfgPath, toYaml(cfg));
    const checked = await runKeel(['config', 'check', cfgPath]);
    assert.equal(checked.code, 1, checked.stderr);
    assert.match(checked.stderr, /eval\.prompty:47: the template uses 'statement', which is not a declared input \(inputs: question, answer, ground_truth\); declared but never used: ground_truth/);
  } finally {
    rmSync(cfgDir, { recursive: true, force: true });
  }
});

test('keel prompt run renders each attempt\'s variant, with relative paths from the config\'s folder', { skip: !hasJinja }, async () => {
  const cfgDir = mkdtempSync(path.join(tmpdir(), 'keel-prompts-cli-'));
  try {
    writeFileSync(path.join(cfgDir, 'default.prompty'), DEFAULT_PROMPT);
    writeFileSync(path.join(cfgDir, 'claude.prompty'), CLAUDE_PROMPT);
    const cfg = keelConfig({ ...config(), dir: cfgDir });
    cfg.prompts = [{ name: 'summarize', file: 'default.prompty', model: 'smart', variants: { anthropic: 'claude.prompty' } }];
    delete cfg.extra;
    const cfgPath = path.join(cfgDir, 'keel.yaml');
    writeFileSync(cfgPath, toYaml(cfg));
    const checked = await runKeel(['config', 'check', cfgPath]);
    assert.equal(checked.code, 0, checked.stderr);

    const before = bodiesFor(fakeAN, 'echo-prompts').length;
    const run = await runKeel(['prompt', 'run', 'summarize', '--config', cfgPath, '--input', 'text=from the CLI', '--json'], { timeoutMs: 15000 });
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout);
    assert.equal(out.choices[0].message.content, 'echo: <document>from the CLI</document>');
    assert.deepEqual(out.attempts.map((a) => [a.provider, a.variant]), [
      ['oa', 'default.prompty'], ['oa', 'default.prompty'], ['claude', 'claude.prompty']]);
    const sent = bodiesFor(fakeAN, 'echo-prompts').slice(before);
    assert.equal(sent.length, 1);
    assert.match(JSON.stringify(sent[0].system), /CLAUDE VARIANT/);

    const plain = await runKeel(['prompt', 'run', 'summarize', '--config', cfgPath, '--input', 'text=again'], { timeoutMs: 15000 });
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, 'echo: <document>again</document>\n');
    assert.match(plain.stderr, /attempt: claude\/echo-prompts variant claude\.prompty: 200/);

    const missing = await runKeel(['prompt', 'run', 'summarize', '--config', cfgPath]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /default\.prompty:12: Missing required input 'text'/);
  } finally {
    rmSync(cfgDir, { recursive: true, force: true });
  }
});

test('without the local engine a config with prompts is refused, saying why', { skip: hasJinja }, async () => {
  const cfgDir = mkdtempSync(path.join(tmpdir(), 'keel-prompts-nojinja-'));
  try {
    writeFileSync(path.join(cfgDir, 'default.prompty'), DEFAULT_PROMPT);
    const cfg = keelConfig({ providers: [{ name: 'oa', kind: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: 'k' }],
      models: [{ name: 'smart', targets: [{ provider: 'oa', model: 'm' }] }], dir: cfgDir });
    cfg.prompts = [{ name: 'summarize', file: 'default.prompty', model: 'smart' }];
    const cfgPath = path.join(cfgDir, 'keel.yaml');
    writeFileSync(cfgPath, toYaml(cfg));
    const checked = await runKeel(['config', 'check', cfgPath]);
    assert.equal(checked.code, 1, checked.stderr);
    assert.match(checked.stderr, /prompts: summarize: prompts need the Jinja engine of llama\.cpp, and this keel was built without the local engine/);
  } finally {
    rmSync(cfgDir, { recursive: true, force: true });
  }
});
