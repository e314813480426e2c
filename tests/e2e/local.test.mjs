// The local engine (provider kind `local`, issue 4) end to end, driven by the official openai
// SDK: plain and streamed chat, concurrent requests, JSON schema, embeddings, cancellation,
// the bad-input cases, tool calls through a chat template, and llama-server (built from the
// same llama.cpp source) as a real OpenAI-compatible peer with the local engine as fallback.
//
// Models: ../shared/models/stories260K.gguf (a real trained model; its tests skip, saying so,
// when it is absent) and fixtures that `keel fixture` generates (tiny random weights).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { freePort } from '../../bench/util.mjs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  startKeel, makeClient, makeAnthropicClient, runKeel, postJSON, errorOf, sqliteJson, sleep, waitFor, KEEL_BIN,
} from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const STORIES = path.resolve(root, '../shared/models/stories260K.gguf');
const HAVE_STORIES = existsSync(STORIES);
const NO_STORIES = HAVE_STORIES ? false : `needs ${STORIES} (absent)`;
// stories260K's greedy continuation (../shared/models/README.md).
const GREEDY_START = ', there was a little girl named Lily';

const dir = mkdtempSync(path.join(tmpdir(), 'keel-local-e2e-'));
const FIXTURE = path.join(dir, 'fixture-llama.gguf');
const BERT = path.join(dir, 'fixture-bert.gguf');

// The local engine is built only with llama.cpp (scripts/llama.sh); sanitizer builds leave it
// out. `keel fixture` says which this binary is.
let LOCAL_SKIP = false;
try {
  execFileSync(KEEL_BIN, ['fixture', '--arch', 'llama', FIXTURE], { stdio: 'pipe' });
  execFileSync(KEEL_BIN, ['fixture', '--arch', 'bert', BERT], { stdio: 'pipe' });
} catch (err) {
  LOCAL_SKIP = `this keel has no local engine: ${String(err.stderr || err.message).trim()}`;
}

function llamaServerPath() {
  if (process.env.KEEL_LLAMA_SERVER) return process.env.KEEL_LLAMA_SERVER;
  try {
    const cache = execFileSync('bash', [path.join(root, 'scripts/llama.sh'), '--print-dir'], { encoding: 'utf8' }).trim();
    return path.join(cache, 'build/bin/llama-server');
  } catch {
    return '';
  }
}

const user = (content) => [{ role: 'user', content }];
const local = (name, model, more = {}) => ({ name, kind: 'local', model, threads: 1, parallel: 4, context: 512, ...more });
const route = (name, ...targets) => ({ name, strategy: 'failover', retries: 0, timeout_ms: 20000, first_token_timeout_ms: 15000, targets });

describe('local engine', { skip: LOCAL_SKIP }, () => {
  let keel;
  let client;

  before(async () => {
    const providers = [local('fixture', FIXTURE, { parallel: 2 }), local('bert', BERT), local('broken', path.join(dir, 'missing.gguf'))];
    const models = [
      route('fixture', { provider: 'fixture', model: 'default' }),
      route('bert', { provider: 'bert', model: 'default' }),
      route('broken', { provider: 'broken', model: 'default' }),
    ];
    if (HAVE_STORIES) {
      providers.push(local('stories', STORIES));
      models.push(route('stories', { provider: 'stories', model: 'default' }));
    }
    keel = await startKeel({ providers, models, readyTimeoutMs: 30000 });
    client = makeClient(keel, { maxRetries: 0, timeout: 30000 });
  });

  after(async () => {
    await keel?.stop();
    keel?.cleanup();
  });

  test('plain chat continues stories260K greedily, with exact usage', { skip: NO_STORIES }, async () => {
    const res = await client.chat.completions.create({ model: 'stories', messages: user('Once upon a time'), temperature: 0, max_tokens: 24 });
    const choice = res.choices[0];
    assert.ok(choice.message.content.startsWith(GREEDY_START), choice.message.content);
    assert.equal(choice.finish_reason, 'length');
    assert.equal(res.usage.completion_tokens, 24);
    assert.equal(res.usage.total_tokens, res.usage.prompt_tokens + 24);
    assert.ok(res.usage.prompt_tokens > 3);
  });

  test('the Anthropic front door serves the local model too', { skip: NO_STORIES }, async () => {
    const anthropic = makeAnthropicClient(keel, { maxRetries: 0 });
    const msg = await anthropic.messages.create({ model: 'stories', max_tokens: 16, temperature: 0, messages: user('Once upon a time') });
    assert.equal(msg.content[0].type, 'text');
    assert.ok(msg.content[0].text.startsWith(GREEDY_START), msg.content[0].text);
    assert.equal(msg.stop_reason, 'max_tokens');
    assert.equal(msg.usage.output_tokens, 16);
  });

  test('streaming gives the same text token by token, then usage', { skip: NO_STORIES }, async () => {
    const whole = await client.chat.completions.create({ model: 'stories', messages: user('Once upon a time'), temperature: 0, max_tokens: 30 });
    const stream = await client.chat.completions.create({
      model: 'stories', messages: user('Once upon a time'), temperature: 0, max_tokens: 30, stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let deltas = 0;
    let usage;
    let finish;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (choice?.delta?.content) {
        text += choice.delta.content;
        deltas += 1;
      }
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    assert.equal(text, whole.choices[0].message.content);
    assert.ok(deltas >= 10, `only ${deltas} deltas: tokens must stream as they decode`);
    assert.equal(finish, 'length');
    assert.equal(usage.completion_tokens, 30);
  });

  test('concurrent requests all complete and agree', { skip: NO_STORIES }, async () => {
    const ask = () => client.chat.completions.create({ model: 'stories', messages: user('Once upon a time'), temperature: 0, max_tokens: 40 });
    const answers = await Promise.all([ask(), ask(), ask(), ask(), ask(), ask()]);
    for (const res of answers) {
      assert.ok(res.choices[0].message.content.startsWith(GREEDY_START));
      assert.equal(res.usage.completion_tokens, 40);
    }
  });

  test('a shared prompt prefix is served from the KV cache (usage.prompt_tokens_details.cached_tokens)', { skip: NO_STORIES }, async () => {
    const system = 'The little dog ran to the park and played with a red ball. '.repeat(15);
    await client.chat.completions.create({ model: 'stories', messages: [{ role: 'system', content: system }, { role: 'user', content: 'Tom said' }], max_tokens: 2 });
    const res = await client.chat.completions.create({ model: 'stories', messages: [{ role: 'system', content: system }, { role: 'user', content: 'Lily asked' }], max_tokens: 2 });
    const cached = res.usage.prompt_tokens_details?.cached_tokens ?? 0;
    assert.ok(cached > res.usage.prompt_tokens / 2, `cached ${cached} of ${res.usage.prompt_tokens}`);
  });

  test('response_format json_schema is enforced', { skip: NO_STORIES }, async () => {
    const res = await client.chat.completions.create({
      model: 'stories',
      messages: user('Once upon a time'),
      max_tokens: 64,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'verdict', strict: true, schema: { type: 'object', properties: { answer: { type: 'string', enum: ['yes', 'no'] } }, required: ['answer'], additionalProperties: false } },
      },
    });
    const parsed = JSON.parse(res.choices[0].message.content);
    assert.ok(['yes', 'no'].includes(parsed.answer), res.choices[0].message.content);
    assert.equal(res.choices[0].finish_reason, 'stop');
  });

  test('stop sequences end the answer and are not sent', { skip: NO_STORIES }, async () => {
    const res = await client.chat.completions.create({ model: 'stories', messages: user('Once upon a time'), temperature: 0, stop: ['Lily'] });
    assert.equal(res.choices[0].message.content, ', there was a little girl named ');
    assert.equal(res.choices[0].finish_reason, 'stop');
  });

  test('the fixture model chats through its own chat template', async () => {
    const res = await client.chat.completions.create({ model: 'fixture', messages: user('hello there'), max_tokens: 8, seed: 7 });
    assert.equal(res.choices[0].message.role, 'assistant');
    assert.equal(typeof res.choices[0].message.content, 'string');
    assert.ok(res.usage.completion_tokens >= 1 && res.usage.completion_tokens <= 8);
    // The template wraps the message, so the prompt is longer than the words.
    assert.ok(res.usage.prompt_tokens > 4, `prompt_tokens ${res.usage.prompt_tokens}`);
  });

  test('count_tokens counts the prompt a chat with the same request decodes', async () => {
    const anthropic = makeAnthropicClient(keel, { maxRetries: 0 });
    const params = { model: 'fixture', system: 'Be brief.', messages: user('hello there, how are you today?') };
    const counted = await anthropic.messages.countTokens(params);
    const msg = await anthropic.messages.create({ ...params, max_tokens: 2 });
    // An Anthropic client's input_tokens leaves out what came from the KV cache.
    assert.equal(counted.input_tokens, msg.usage.input_tokens + (msg.usage.cache_read_input_tokens ?? 0));
    const longer = await anthropic.messages.countTokens({ ...params, messages: user('hello there, how are you today? And tomorrow?') });
    assert.ok(longer.input_tokens > counted.input_tokens, `${longer.input_tokens} vs ${counted.input_tokens}`);
    await assert.rejects(anthropic.messages.countTokens({ ...params, model: 'bert' }),
      (e) => e.status === 400 && /embedding model/.test(e.error?.error?.message ?? ''));
  });

  test('tools and a tool-call round trip go through the model\'s template', async () => {
    // A random-weight model never chooses to call a tool, so this checks the wire -> template
    // path end to end; parsing model output into tool calls is tests/unit/local/chat_format_test.
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
    const messages = [
      { role: 'user', content: 'What is the weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'sunny, 21 C' },
    ];
    const bare = await client.chat.completions.create({ model: 'fixture', messages: messages.slice(0, 1), max_tokens: 1 });
    const res = await client.chat.completions.create({ model: 'fixture', messages, tools, max_tokens: 4 });
    assert.equal(res.choices[0].message.role, 'assistant');
    // The tool list, the call and its result are all in the prompt the model saw.
    assert.ok(res.usage.prompt_tokens > bare.usage.prompt_tokens + 40, `${res.usage.prompt_tokens} vs ${bare.usage.prompt_tokens}`);
  });

  test('embeddings from a BERT model (its own pooling) and from a llama model (mean)', async () => {
    const bert = await client.embeddings.create({ model: 'bert', input: ['the cat sat', 'the cat sat', 'a dog ran fast'] });
    assert.equal(bert.data.length, 3);
    const [a, b, c] = bert.data.map((d) => d.embedding);
    assert.ok(a.length >= 8);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    const norm = Math.sqrt(a.reduce((s, v) => s + v * v, 0));
    assert.ok(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
    assert.ok(bert.usage.prompt_tokens > 6);
    const llama = await client.embeddings.create({ model: 'fixture', input: 'hello' });
    assert.ok(llama.data[0].embedding.length > 0);
  });

  test('an embedding-only model refuses chat with 400', async () => {
    const res = await postJSON(keel, '/v1/chat/completions', { model: 'bert', messages: user('hi') });
    assert.equal(res.status, 400);
    assert.match(errorOf(res.json).message, /embedding model/);
  });

  test('a missing model file: 503 naming the file, and the other models keep serving', async () => {
    const res = await postJSON(keel, '/v1/chat/completions', { model: 'broken', messages: user('hi') });
    assert.equal(res.status, 503);
    assert.match(errorOf(res.json).message, /missing\.gguf/);
    const ok = await client.chat.completions.create({ model: 'fixture', messages: user('hi'), max_tokens: 2 });
    assert.ok(ok.choices[0].message);
  });

  test('a prompt longer than the context: 400 with the token counts', async () => {
    const res = await postJSON(keel, '/v1/chat/completions', { model: 'fixture', messages: user('hello world '.repeat(600)) });
    assert.equal(res.status, 400);
    assert.match(errorOf(res.json).message, /the prompt is \d+ tokens.*holds 512 tokens/);
  });

  test('a client that aborts mid-stream is dropped; keel goes on serving', { skip: NO_STORIES }, async () => {
    // (That the engine drops the sequence at once is checked in tests/unit/local, where the
    // engine's own counters are visible.)
    for (let i = 0; i < 5; i++) {
      const controller = new AbortController();
      const stream = await client.chat.completions.create(
        { model: 'stories', messages: user('Once upon a time'), max_tokens: 400, temperature: 1, stream: true },
        { signal: controller.signal },
      );
      let chunks = 0;
      try {
        for await (const chunk of stream) {
          if (chunk.choices[0]?.delta?.content) chunks += 1;
          if (chunks === 3) {
            controller.abort();
            break;
          }
        }
      } catch (err) {
        assert.match(String(err.name || err), /Abort/);
      }
      assert.equal(chunks, 3);
    }
    const res = await client.chat.completions.create({ model: 'stories', messages: user('Once upon a time'), temperature: 0, max_tokens: 8 });
    assert.equal(res.usage.completion_tokens, 8);
    assert.ok(keel.alive());
    const aborted = () => sqliteJson(keel.dbPath, "select status from requests where model = 'stories' and stream = 1 and status = 499").length;
    assert.ok(await waitFor(() => aborted() >= 5, 3000), `aborted streams logged as 499: ${aborted()}`);
  });
});

// --- llama-server as a real peer, the local engine as fallback -------------------------------


const LLAMA_SERVER = llamaServerPath();
const PEER_SKIP = LOCAL_SKIP || NO_STORIES || (!existsSync(LLAMA_SERVER) && `needs llama-server at '${LLAMA_SERVER}' (scripts/llama.sh builds it)`);

describe('llama-server peer with the local engine as fallback', { skip: PEER_SKIP }, () => {
  let server;
  let keel;
  let client;

  before(async () => {
    const port = await freePort();
    server = spawn(LLAMA_SERVER, ['-m', STORIES, '--host', '127.0.0.1', '--port', String(port), '-t', '1', '-c', '2048', '-np', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    server.stderr.on('data', (d) => { log += d.toString(); });
    const up = await waitFor(async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        return res.status === 200;
      } catch {
        return false;
      }
    }, 30000, 100);
    assert.ok(up, `llama-server did not become healthy:\n${log}`);
    keel = await startKeel({
      providers: [
        { name: 'peer', kind: 'openai', base_url: `http://127.0.0.1:${port}/v1`, api_key: 'none' },
        local('stories', STORIES),
      ],
      models: [route('story', { provider: 'peer', model: 'stories260K' }, { provider: 'stories', model: 'default' })],
      readyTimeoutMs: 30000,
    });
    client = makeClient(keel, { maxRetries: 0, timeout: 30000 });
  });

  after(async () => {
    server?.kill('SIGKILL');
    await keel?.stop();
    keel?.cleanup();
  });

  test('every request succeeds while llama-server is killed mid-test', async () => {
    const results = [];
    const ask = async (i) => {
      const stream = i % 2 === 0;
      if (!stream) {
        const res = await client.chat.completions.create({ model: 'story', messages: user('Once upon a time'), temperature: 0, max_tokens: 16 });
        return res.choices[0].message.content;
      }
      const s = await client.chat.completions.create({ model: 'story', messages: user('Once upon a time'), temperature: 0, max_tokens: 16, stream: true });
      let text = '';
      for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? '';
      return text;
    };
    for (let i = 0; i < 30; i++) {
      if (i === 10) server.kill('SIGKILL');
      const batch = await Promise.all([ask(i), ask(i + 1)]);
      results.push(...batch);
    }
    assert.equal(results.length, 60);
    for (const text of results) assert.ok(text.length > 0);
    // Both served: llama-server before the kill, the local engine after.
    const providers = sqliteJson(keel.dbPath, "select provider, count(*) as n from attempts where status = 200 group by provider");
    const served = Object.fromEntries(providers.map((r) => [r.provider, r.n]));
    assert.ok(served.peer > 0, JSON.stringify(providers));
    assert.ok(served.stories > 0, JSON.stringify(providers));
  });
});

after(() => rmSync(dir, { recursive: true, force: true }));
