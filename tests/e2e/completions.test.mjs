// OpenAI's legacy text completions front door, POST /v1/completions, driven by the official
// openai SDK (client.completions.create), plain and streamed: over the OpenAI-kind, Anthropic and
// Gemini fakes (the prompt goes upstream as one user message; each fake's `echo` model answers
// "echo: <prompt>"), over the local engine (stories260K continues "Once upon a time"; the fixture
// model's chat template is not put around a raw prompt), Prompt flow's `basic` example flow's
// call (hello.py's parameters), failover, the request log, and bad input: 400s in OpenAI's shape
// naming the parameter.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { startFakeOpenAI, FAKE_USAGE } from '../fakes/fake_openai.mjs';
import { startFakeAnthropic, ANTHROPIC_OPENAI_USAGE } from '../fakes/fake_anthropic.mjs';
import { startFakeGemini, GEMINI_OPENAI_USAGE } from '../fakes/fake_gemini.mjs';
import {
  startKeel, makeClient, fakeProvider, anthropicProvider, geminiProvider, postJSON, errorOf, requestsOf, waitFor,
  localEngineMissing, KEEL_BIN, UPSTREAM_KEY,
} from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const STORIES = path.resolve(root, '../shared/models/stories260K.gguf');
const NO_STORIES = existsSync(STORIES) ? false : `needs ${STORIES} (absent)`;
// stories260K's greedy continuation (../shared/models/README.md).
const GREEDY_START = ', there was a little girl named Lily';

const ANT_KEY = 'sk-ant-upstream-key';
const GEM_KEY = 'gm-upstream-key';
const route = (name, ...targets) => ({ name, strategy: 'failover', retries: 0, timeout_ms: 20000, first_token_timeout_ms: 15000, targets });
const user = (content) => [{ role: 'user', content }];

// The requests a fake received while fn ran.
async function during(fake, fn) {
  const from = fake.requests.length;
  const result = await fn();
  return { result, got: fake.requests.slice(from) };
}

// A streamed completion: its chunks, their text joined, the finish reason and the usage chunk.
async function collect(stream) {
  const chunks = [];
  let text = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    chunks.push(chunk);
    assert.equal(chunk.object, 'text_completion');
    assert.match(chunk.id, /^cmpl-/);
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      assert.equal(choice.index, 0);
      assert.equal(choice.logprobs, null);
      text += choice.text;
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  return { chunks, text, finish, usage };
}

const isBadRequest = (param, needle) => (e) => {
  assert.ok(e instanceof OpenAI.APIError, `expected an APIError, got ${e}`);
  assert.equal(e.status, 400, `status ${e.status}: ${e.message}`);
  assert.equal(e.param, param, e.message);
  assert.equal(e.type, 'invalid_request_error');
  if (needle) assert.match(e.message, needle);
  return true;
};
// A 400 that a target gave (the router's final error names no param): its message names it.
const isRefusedByTarget = (needle, param) => (e) => {
  assert.ok(e instanceof OpenAI.APIError, `expected an APIError, got ${e}`);
  assert.equal(e.status, 400, `status ${e.status}: ${e.message}`);
  assert.match(e.message, needle);
  if (param) assert.equal(e.param, param);
  return true;
};

describe('/v1/completions over the vendors', () => {
  let fakeO;
  let fakeA;
  let fakeG;
  let keel;
  let client;
  let V;

  before(async () => {
    fakeO = await startFakeOpenAI({ apiKey: UPSTREAM_KEY });
    fakeA = await startFakeAnthropic({ apiKey: ANT_KEY });
    fakeG = await startFakeGemini({ apiKey: GEM_KEY });
    const t = (provider, model) => ({ provider, model });
    keel = await startKeel({
      providers: [fakeProvider('oa', fakeO), anthropicProvider('claude', fakeA, ANT_KEY), geminiProvider('gem', fakeG, GEM_KEY)],
      models: [
        route('oa-echo', t('oa', 'echo')),
        route('claude-echo', t('claude', 'echo')),
        route('gem-echo', t('gem', 'echo')),
        route('claude-max', t('claude', 'max-tokens')),
        route('claude-500-fo', t('claude', 'fail-500-fo'), t('gem', 'echo')),
      ],
    });
    client = makeClient(keel);
    V = {
      oa: { fake: fakeO, usage: FAKE_USAGE, sent: (req) => req.body.messages, maxTokens: (req) => req.body.max_tokens },
      claude: { fake: fakeA, usage: ANTHROPIC_OPENAI_USAGE, sent: (req) => req.body.messages, maxTokens: (req) => req.body.max_tokens },
      gem: { fake: fakeG, usage: GEMINI_OPENAI_USAGE, sent: (req) => req.body.contents, maxTokens: (req) => req.body.generationConfig?.maxOutputTokens },
    };
  });

  after(async () => {
    await keel?.stop();
    await Promise.all([fakeO?.close(), fakeA?.close(), fakeG?.close()]);
    keel?.cleanup();
  });

  for (const vendor of ['oa', 'claude', 'gem']) {
    test(`${vendor}: a text_completion whose prompt went upstream as one user message, max_tokens 16 by default`, async () => {
      const v = V[vendor];
      const { result: r, got } = await during(v.fake, () => client.completions.create({ model: `${vendor}-echo`, prompt: 'Say this is a test' }));
      assert.equal(r.object, 'text_completion');
      assert.match(r.id, /^cmpl-/);
      assert.equal(r.model, `${vendor}-echo`);
      assert.equal(typeof r.created, 'number');
      assert.equal(r.choices.length, 1);
      assert.equal(r.choices[0].index, 0);
      assert.equal(r.choices[0].logprobs, null);
      assert.equal(r.choices[0].finish_reason, 'stop');
      assert.match(r.choices[0].text, /^echo: Say this is a test/);
      assert.equal(r.usage.prompt_tokens, v.usage.prompt_tokens);
      assert.equal(r.usage.completion_tokens, v.usage.completion_tokens);
      assert.equal(r.usage.total_tokens, v.usage.total_tokens);
      assert.equal(got.length, 1);
      const sent = v.sent(got[0]);
      assert.equal(sent.length, 1, JSON.stringify(sent));
      assert.equal(sent[0].role, 'user');
      assert.equal(v.maxTokens(got[0]), 16);
    });

    test(`${vendor}: streamed, the same text in text_completion chunks, then finish_reason and usage`, async () => {
      const v = V[vendor];
      const whole = await client.completions.create({ model: `${vendor}-echo`, prompt: 'Stream this' });
      const stream = await client.completions.create({
        model: `${vendor}-echo`, prompt: 'Stream this', max_tokens: 40, stream: true, stream_options: { include_usage: true },
      });
      const { text, finish, usage, chunks } = await collect(stream);
      assert.equal(text, whole.choices[0].text);
      assert.equal(finish, 'stop');
      assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
      const last = chunks.at(-1);
      assert.deepEqual(last.choices, []);
      assert.equal(usage.total_tokens, v.usage.total_tokens);
    });
  }

  test('sampling options reach the upstream; a prompt given as one string in an array is that string', async () => {
    const { result: r, got } = await during(fakeA, () => client.completions.create({
      model: 'claude-echo', prompt: ['Count to three'], max_tokens: 50, temperature: 0.5, top_p: 0.9, stop: ['THE END'],
    }));
    assert.match(r.choices[0].text, /^echo: Count to three/);
    assert.equal(got[0].body.max_tokens, 50);
    assert.equal(got[0].body.temperature, 0.5);
    assert.deepEqual(got[0].body.stop_sequences, ['THE END']);
  });

  test('a length-limited answer finishes with length', async () => {
    const r = await client.completions.create({ model: 'claude-max', prompt: 'Tell me everything', max_tokens: 5 });
    assert.equal(r.choices[0].finish_reason, 'length');
    const s = await collect(await client.completions.create({ model: 'claude-max', prompt: 'Tell me everything', max_tokens: 5, stream: true }));
    assert.equal(s.finish, 'length');
    assert.equal(s.text, r.choices[0].text);
  });

  test('Prompt flow\'s basic example flow (hello.py): its call with every parameter it passes', async () => {
    // ../shared/promptflow/flows/basic/hello.py: completions.create(prompt, model, suffix=None,
    // max_tokens=120, temperature=1.0, top_p=1.0, n=1, logprobs=None, echo=False, stop=None,
    // presence_penalty=0, frequency_penalty=0, best_of=1, logit_bias={}, user="").
    const r = await client.completions.create({
      prompt: 'Write a simple Hello World! program that displays the greeting message.',
      model: 'oa-echo', suffix: null, max_tokens: 120, temperature: 1.0, top_p: 1.0, n: 1, logprobs: null, echo: false,
      stop: null, presence_penalty: 0, frequency_penalty: 0, best_of: 1, logit_bias: {}, user: '',
    });
    assert.match(r.choices[0].text, /^echo: Write a simple Hello World!/);
  });

  test('failover applies: a 500 from the first target, the answer from the next', async () => {
    const r = await client.completions.create({ model: 'claude-500-fo', prompt: 'Fail over' });
    assert.match(r.choices[0].text, /^echo: Fail over/);
    let rows = [];
    await waitFor(() => (rows = requestsOf(keel.dbPath, 'claude-500-fo')).length > 0, 3000);
    assert.equal(rows[0].endpoint, '/v1/completions');
    assert.equal(rows[0].status, 200);
  });

  test('a logit_bias a vendor cannot express is a 400 naming it; OpenAI-compatible upstreams get it', async () => {
    await assert.rejects(
      client.completions.create({ model: 'claude-echo', prompt: 'x', logit_bias: { 50256: -100 } }),
      isRefusedByTarget(/logit_bias is not supported by provider kind anthropic/, 'logit_bias'),
    );
    const { got } = await during(fakeO, () => client.completions.create({ model: 'oa-echo', prompt: 'x', logit_bias: { 50256: -100 } }));
    assert.deepEqual(got[0].body.logit_bias, { 50256: -100 });
  });

  test('what no target can honour is a 400 naming the parameter, in OpenAI\'s error shape', async () => {
    const cases = [
      [{ model: 'oa-echo' }, 'prompt', /prompt is required/],
      [{ model: 'oa-echo', prompt: [1, 2, 3] }, 'prompt', /token ids/],
      [{ model: 'oa-echo', prompt: [[1, 2], [3]] }, 'prompt', /token ids/],
      [{ model: 'oa-echo', prompt: ['one', 'two'] }, 'prompt', /more than one/],
      [{ model: 'oa-echo', prompt: [] }, 'prompt', /empty/],
      [{ model: 'oa-echo', prompt: 42 }, 'prompt', /string/],
      [{ model: 'oa-echo', prompt: 'x', n: 2 }, 'n', /n > 1/],
      [{ model: 'oa-echo', prompt: 'x', best_of: 3 }, 'best_of', /best_of > 1/],
      [{ model: 'oa-echo', prompt: 'x', echo: true }, 'echo', /echo/],
      [{ model: 'oa-echo', prompt: 'x', logprobs: 2 }, 'logprobs', /logprobs/],
      [{ model: 'oa-echo', prompt: 'def f(', suffix: '\n  return 1' }, 'suffix', /fill in the middle/],
      [{ model: 'oa-echo', prompt: 'x', max_tokens: 0 }, 'max_tokens', /positive/],
      [{ model: 'oa-echo', prompt: 'x', temperature: 3 }, 'temperature', /between/],
      [{ prompt: 'x' }, 'model', /model is required/],
    ];
    const from = fakeO.requests.length;
    for (const [body, param, needle] of cases) {
      const res = await postJSON(keel, '/v1/completions', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      const e = errorOf(res.json);
      assert.equal(e.param, param, `${JSON.stringify(body)}: ${res.text}`);
      assert.match(e.message, needle, `${JSON.stringify(body)}: ${res.text}`);
    }
    assert.equal(fakeO.requests.length, from, 'a refused request reached the upstream');
    // And through the SDK.
    await assert.rejects(client.completions.create({ model: 'oa-echo', prompt: [101, 102] }), isBadRequest('prompt', /token ids/));
    await assert.rejects(client.completions.create({ model: 'oa-echo', prompt: 'x', n: 2 }), isBadRequest('n'));
  });

  test('an unknown model is a 404 in OpenAI\'s shape', async () => {
    const res = await postJSON(keel, '/v1/completions', { model: 'nope', prompt: 'x' });
    assert.equal(res.status, 404);
    assert.equal(errorOf(res.json).code, 'model_not_found');
  });
});

describe('/v1/completions over the local engine', () => {
  const LOCAL_SKIP = localEngineMissing() || false;
  let dir;
  let keel;
  let client;

  before(async () => {
    if (LOCAL_SKIP) return;
    dir = mkdtempSync(path.join(tmpdir(), 'keel-completions-e2e-'));
    const fixture = path.join(dir, 'fixture-llama.gguf');
    execFileSync(KEEL_BIN, ['fixture', '--arch', 'llama', fixture], { stdio: 'pipe' });
    const local = (name, model) => ({ name, kind: 'local', model, threads: 1, parallel: 2, context: 512 });
    const providers = [local('fixture', fixture)];
    const models = [route('fixture', { provider: 'fixture', model: 'default' })];
    if (!NO_STORIES) {
      providers.push(local('stories', STORIES));
      models.push(route('stories', { provider: 'stories', model: 'default' }));
    }
    keel = await startKeel({ providers, models, readyTimeoutMs: 30000 });
    client = makeClient(keel, { timeout: 30000 });
  });

  after(async () => {
    await keel?.stop();
    keel?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('stories260K continues "Once upon a time" greedily, plain and streamed', { skip: LOCAL_SKIP || NO_STORIES }, async () => {
    const r = await client.completions.create({ model: 'stories', prompt: 'Once upon a time', temperature: 0, max_tokens: 24 });
    assert.ok(r.choices[0].text.startsWith(GREEDY_START), JSON.stringify(r.choices[0].text));
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 24);
    const s = await collect(await client.completions.create({
      model: 'stories', prompt: 'Once upon a time', temperature: 0, max_tokens: 24, stream: true, stream_options: { include_usage: true },
    }));
    assert.equal(s.text, r.choices[0].text);
    assert.equal(s.finish, 'length');
    assert.equal(s.usage.prompt_tokens, r.usage.prompt_tokens);
    assert.equal(s.usage.completion_tokens, r.usage.completion_tokens);
  });

  test('max_tokens defaults to 16', { skip: LOCAL_SKIP || NO_STORIES }, async () => {
    const r = await client.completions.create({ model: 'stories', prompt: 'Once upon a time', temperature: 0 });
    assert.equal(r.usage.completion_tokens, 16);
    assert.equal(r.choices[0].finish_reason, 'length');
  });

  test('the raw prompt is completed without the model\'s chat template', { skip: LOCAL_SKIP }, async () => {
    // The fixture model has a chat template: a chat turn adds its role markers around the text,
    // a text completion decodes the text alone.
    const prompt = 'Hello there, how are you today?';
    const chat = await client.chat.completions.create({ model: 'fixture', messages: user(prompt), temperature: 0, max_tokens: 2 });
    const completion = await client.completions.create({ model: 'fixture', prompt, temperature: 0, max_tokens: 2 });
    assert.ok(completion.usage.prompt_tokens > 0);
    assert.ok(completion.usage.prompt_tokens < chat.usage.prompt_tokens,
      `completion ${completion.usage.prompt_tokens} tokens, chat ${chat.usage.prompt_tokens}`);
  });

  test('logit_bias is honoured: +100 makes a token the greedy choice; an id outside the vocabulary is a 400', { skip: LOCAL_SKIP || NO_STORIES }, async () => {
    const ask = (more) => client.completions.create({ model: 'stories', prompt: 'Once upon a time', temperature: 0, max_tokens: 1, ...more });
    const free = (await ask({})).choices[0].text;
    // stories260K's 512 tokens: 3 special, 256 bytes, then merged pieces such as 300 and 301.
    const a = (await ask({ logit_bias: { 300: 100 } })).choices[0].text;
    const b = (await ask({ logit_bias: { 301: 100 } })).choices[0].text;
    assert.notEqual(a, b, `tokens 300 and 301 both gave ${JSON.stringify(a)}`);
    assert.ok(a !== free || b !== free, 'the bias did not change the greedy token');
    await assert.rejects(ask({ logit_bias: { 99999: 5 } }), isRefusedByTarget(/logit_bias: '99999' is not a token id/));
  });
});
