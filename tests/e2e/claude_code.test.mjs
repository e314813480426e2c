// Claude Code itself (the official CLI, npm @anthropic-ai/claude-code, its native binary for this
// platform) pointed at keel by ANTHROPIC_BASE_URL only, as its users do with a gateway: one
// prompt in print mode over each backend kind (each against its fake). Claude Code sends what
// the Anthropic SDK's simple calls do not: its whole tool set, cached system blocks,
// metadata.user_id, the beta route and headers, and, per model, adaptive thinking and context
// editing.
//
// The binary comes from the platform package npm installs beside the wrapper (this npm runs no
// install scripts, so the wrapper's bin is a placeholder); elsewhere the tests skip, saying so.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeOpenAI, FAKE_TEXT } from '../fakes/fake_openai.mjs';
import { startFakeAnthropic, thinkingSignature, ANTHROPIC_TEXT } from '../fakes/fake_anthropic.mjs';
import { startFakeGemini, GEMINI_TEXT } from '../fakes/fake_gemini.mjs';
import {
  startKeel, fakeProvider, anthropicProvider, geminiProvider, UPSTREAM_KEY, CLIENT_KEY,
} from './harness.mjs';

function claudeBinary() {
  const require = createRequire(import.meta.url);
  const name = `@anthropic-ai/claude-code-${process.platform}-${process.arch}`;
  try {
    const file = path.join(path.dirname(require.resolve(`${name}/package.json`)), 'claude');
    return existsSync(file) ? file : null;
  } catch {
    return null;
  }
}
const CLAUDE = claudeBinary();
const SKIP = CLAUDE ? false : `no Claude Code binary for ${process.platform}-${process.arch} in node_modules`;

const ANT_KEY = 'sk-ant-upstream-key';
const GEM_KEY = 'gm-upstream-key';

// Runs `claude -p PROMPT [ARGS]` against keel; resolves {code, stdout, stderr}.
function claude(keel, model, prompt, home, args = [], extraEnv = {}) {
  const env = {
    ...extraEnv,
    PATH: process.env.PATH,
    HOME: home,
    ANTHROPIC_BASE_URL: keel.base,
    ANTHROPIC_AUTH_TOKEN: CLIENT_KEY,
    ANTHROPIC_MODEL: model,
    ANTHROPIC_DEFAULT_HAIKU_MODEL: model,   // its background calls go to keel's model too
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
  };
  return new Promise((resolve, reject) => {
    const child = spawn(CLAUDE, ['-p', prompt, ...args], { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('Claude Code through keel', { skip: SKIP }, () => {
  let fakeO;
  let fakeA;
  let fakeG;
  let keel;
  let home;

  before(async () => {
    fakeO = await startFakeOpenAI({ apiKey: UPSTREAM_KEY });
    fakeA = await startFakeAnthropic({ apiKey: ANT_KEY });
    fakeG = await startFakeGemini({ apiKey: GEM_KEY });
    const m = (name, provider) => ({ name, retries: 0, timeout_ms: 20000, targets: [{ provider, model: 'ok' }] });
    keel = await startKeel({
      providers: [fakeProvider('oa', fakeO), anthropicProvider('claude', fakeA, ANT_KEY), geminiProvider('gem', fakeG, GEM_KEY)],
      // claude-opus-4-6: a name Claude Code knows, so it asks for adaptive thinking; the others
      // are gateway names it does not know.
      models: [
        m('claude-opus-4-6', 'claude'), m('house-openai', 'oa'), m('house-gemini', 'gem'),
        { ...m('agent-claude', 'claude'), targets: [{ provider: 'claude', model: 'agent' }] },
        { ...m('agent-openai', 'oa'), targets: [{ provider: 'oa', model: 'agent' }] },
        // A name Claude Code knows as a thinking model with a fixed budget: it asks for
        // thinking of type enabled, and the fake thinks and signs its thinking.
        { ...m('claude-sonnet-4-5', 'claude'), targets: [{ provider: 'claude', model: 'agent' }] },
      ],
      extra: { api_keys: [CLIENT_KEY] },
    });
    home = mkdtempSync(path.join(tmpdir(), 'keel-claude-code-'));
  });

  after(async () => {
    await keel?.stop();
    await Promise.all([fakeO?.close(), fakeA?.close(), fakeG?.close()]);
    keel?.cleanup();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('an anthropic backend: the answer, and Claude Code\'s request reaches it in Anthropic\'s form', async () => {
    const from = fakeA.requests.length;
    const run = await claude(keel, 'claude-opus-4-6', 'say hi', home);
    assert.equal(run.code, 0, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
    assert.equal(run.stdout.trim(), ANTHROPIC_TEXT);
    const chats = fakeA.requests.slice(from).filter((r) => r.path === '/v1/messages');
    assert.ok(chats.length >= 1);
    const body = chats.at(-1).body;
    assert.equal(body.model, 'ok');
    assert.equal(body.stream, true);
    assert.ok(body.tools.length >= 5, `${body.tools.length} tools`);
    assert.ok(body.tools.some((t) => t.name === 'Bash'), body.tools.map((t) => t.name).join(' '));
    assert.equal(body.thinking.type, 'adaptive');   // relayed as Claude Code asked it
    assert.equal(body.context_management, undefined);
    const lastUser = body.messages.at(-1);
    const text = typeof lastUser.content === 'string' ? lastUser.content : lastUser.content.map((b) => b.text ?? '').join('');
    assert.match(text, /say hi/);
  });

  test('an OpenAI-compatible backend: the tools arrive as functions', async () => {
    const from = fakeO.requests.length;
    const run = await claude(keel, 'house-openai', 'say hi', home);
    assert.equal(run.code, 0, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
    assert.equal(run.stdout.trim(), FAKE_TEXT);
    const body = fakeO.requests.slice(from).at(-1).body;
    assert.ok(body.tools.every((t) => t.type === 'function' && typeof t.function.name === 'string'));
    assert.ok(body.tools.some((t) => t.function.name === 'Bash'));
    assert.equal(body.messages[0].role, 'system');
  });

  test('a gemini backend', async () => {
    const run = await claude(keel, 'house-gemini', 'say hi', home);
    assert.equal(run.code, 0, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
    assert.equal(run.stdout.trim(), GEMINI_TEXT);
    const request = fakeG.lastRequest();
    assert.ok(request.body.tools[0].functionDeclarations.some((f) => f.name === 'Bash'));
  });

  test('claude-sonnet-4-5 thinks: the signed thinking goes back to the fake through the tool turn', async () => {
    const from = fakeA.requests.length;
    const run = await claude(keel, 'claude-sonnet-4-5', 'print the marker', home, ['--allowedTools', 'Bash(echo:*)']);
    assert.equal(run.code, 0, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
    // Claude Code adds a token-budget reminder to a thinking model's tool result; the fake says it back.
    assert.match(run.stdout.trim(), /^tool said: keel-agent-ok/);
    const chats = fakeA.requests.slice(from).filter((r) => r.path === '/v1/messages' && r.body.model === 'agent');
    const first = chats.find((r) => r.body.thinking?.type === 'enabled');
    assert.ok(first, `no request asked for enabled thinking: ${chats.map((r) => JSON.stringify(r.body.thinking)).join(' ')}`);
    assert.ok(first.body.thinking.budget_tokens >= 1024 && first.body.thinking.budget_tokens < first.body.max_tokens);
    // The turn after the tool ran: the assistant turn starts with the thinking the fake signed
    // (the fake also refuses the request otherwise).
    const last = chats.at(-1).body;
    const turn = last.messages.findLast((msg) => msg.role === 'assistant' && Array.isArray(msg.content) && msg.content.some((b) => b.type === 'tool_use'));
    assert.ok(turn, JSON.stringify(last.messages).slice(0, 400));
    assert.equal(turn.content[0].type, 'thinking');
    assert.equal(turn.content[0].signature, thinkingSignature(turn.content[0].thinking));
  });

  // The fakes' agent* model calls Claude Code's Bash tool with `echo keel-agent-ok`, then says
  // what the tool returned: a tool call made by the upstream, run by Claude Code, and its result
  // sent back, all through keel.
  for (const [model, fake, tool] of [['agent-claude', () => fakeA, 'toolu_agent'], ['agent-openai', () => fakeO, 'call_agent']]) {
    test(`${model}: a tool-use round trip (the upstream calls Bash, Claude Code runs it, the result goes back)`, async () => {
      const from = fake().requests.length;
      const run = await claude(keel, model, 'print the marker', home, ['--allowedTools', 'Bash(echo:*)']);
      assert.equal(run.code, 0, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
      assert.equal(run.stdout.trim(), 'tool said: keel-agent-ok');
      const last = fake().requests.slice(from).at(-1).body;
      const sent = JSON.stringify(last.messages);
      assert.ok(sent.includes(tool), `the tool call id ${tool} is not in ${sent.slice(0, 400)}`);
    });
  }
});
