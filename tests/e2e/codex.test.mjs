// Codex CLI itself (npm @openai/codex, its native binary for this platform, run offline) pointed
// at keel by a [model_providers.keel] entry with wire_api = "responses", as its users point it
// at a gateway: `codex exec` answers through keel's Responses front door over an
// OpenAI-compatible, an Anthropic and a Gemini fake, and runs a tool round trip (the fake model
// calls Codex's exec_command tool, Codex runs it, the output goes back through keel).
//
// Codex offers web_search (a hosted tool no other vendor runs) unless the config says
// `web_search = "disabled"`; keel answers it with a 400 naming the tool type, so the config here
// turns it off, as README.md tells Codex users to.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeOpenAI, FAKE_TEXT } from '../fakes/fake_openai.mjs';
import { startFakeAnthropic, ANTHROPIC_TEXT } from '../fakes/fake_anthropic.mjs';
import { startFakeGemini, GEMINI_TEXT } from '../fakes/fake_gemini.mjs';
import {
  startKeel, runProgram, fakeProvider, anthropicProvider, geminiProvider, UPSTREAM_KEY, CLIENT_KEY,
} from './harness.mjs';

const TRIPLES = { 'linux-x64': 'x86_64-unknown-linux-musl', 'linux-arm64': 'aarch64-unknown-linux-musl' };

function codexBinary() {
  const require = createRequire(import.meta.url);
  const platform = `${process.platform}-${process.arch}`;
  if (!TRIPLES[platform]) return null;
  try {
    const root = path.dirname(require.resolve(`@openai/codex-${platform}/package.json`));
    const file = path.join(root, 'vendor', TRIPLES[platform], 'bin', 'codex');
    return existsSync(file) ? file : null;
  } catch {
    return null;
  }
}
const CODEX = codexBinary();
const SKIP = CODEX ? false : `no Codex CLI binary for ${process.platform}-${process.arch} in node_modules`;

const ANT_KEY = 'sk-ant-upstream-key';
const GEM_KEY = 'gm-upstream-key';

// A CODEX_HOME with keel as the model provider (Codex warns that it makes no helper links under
// /tmp, and goes on).
function codexHome(keel) {
  const home = mkdtempSync(path.join(tmpdir(), 'keel-codex-e2e-'));
  writeFileSync(path.join(home, 'config.toml'), [
    'model_provider = "keel"',
    'web_search = "disabled"',
    '[model_providers.keel]',
    'name = "keel"',
    `base_url = "${keel.url}"`,
    'env_key = "KEEL_API_KEY"',
    'wire_api = "responses"',
    '',
  ].join('\n'));
  return home;
}

// `codex exec PROMPT` against keel; resolves {code, stdout, stderr, last} (last: its final message).
async function codex(home, model, prompt, args = []) {
  const lastFile = path.join(home, 'last-message.txt');
  rmSync(lastFile, { force: true });
  const env = { PATH: process.env.PATH, HOME: home, CODEX_HOME: home, KEEL_API_KEY: CLIENT_KEY };
  const run = await runProgram(CODEX, ['exec', '--skip-git-repo-check', '-m', model, '--output-last-message', lastFile, ...args, prompt], {
    cwd: home, env, inheritEnv: false, timeoutMs: 60000,
  });
  return { ...run, last: existsSync(lastFile) ? readFileSync(lastFile, 'utf8').trim() : null };
}

describe('Codex CLI through keel', { skip: SKIP }, () => {
  let fakeO;
  let fakeA;
  let fakeG;
  let keel;
  let home;

  before(async () => {
    fakeO = await startFakeOpenAI({ apiKey: UPSTREAM_KEY });
    fakeA = await startFakeAnthropic({ apiKey: ANT_KEY });
    fakeG = await startFakeGemini({ apiKey: GEM_KEY });
    const m = (name, provider, model = 'ok') => ({ name, retries: 0, timeout_ms: 20000, targets: [{ provider, model }] });
    keel = await startKeel({
      providers: [fakeProvider('oa', fakeO), anthropicProvider('claude', fakeA, ANT_KEY), geminiProvider('gem', fakeG, GEM_KEY)],
      models: [
        m('house-openai', 'oa'), m('house-claude', 'claude'), m('house-gemini', 'gem'),
        m('agent-openai', 'oa', 'agent'), m('agent-claude', 'claude', 'agent'),
      ],
      extra: { api_keys: [CLIENT_KEY] },
    });
    home = codexHome(keel);
  });

  after(async () => {
    await keel?.stop();
    await Promise.all([fakeO?.close(), fakeA?.close(), fakeG?.close()]);
    keel?.cleanup?.();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  for (const [model, text, fake] of [
    ['house-openai', FAKE_TEXT, () => fakeO],
    ['house-claude', ANTHROPIC_TEXT, () => fakeA],
    ['house-gemini', GEMINI_TEXT, () => fakeG],
  ]) {
    test(`${model}: codex exec answers through /v1/responses`, async () => {
      const from = fake().requests.length;
      const run = await codex(home, model, 'say hi');
      assert.equal(run.code, 0, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
      assert.equal(run.last, text);
      assert.ok(fake().requests.length > from, 'the upstream got no request');
      // Codex's tools reached the vendor, its command tool among them.
      const body = fake().requests.at(-1).body;
      const names = JSON.stringify(body.tools);
      assert.match(names, /exec_command/);
    });
  }

  for (const [model, fake, callId] of [['agent-openai', () => fakeO, 'call_agent'], ['agent-claude', () => fakeA, 'toolu_agent']]) {
    test(`${model}: a tool round trip (the upstream calls exec_command, Codex runs it, the output goes back)`, async () => {
      const from = fake().requests.length;
      const run = await codex(home, model, 'print the marker', ['--dangerously-bypass-approvals-and-sandbox']);
      assert.equal(run.code, 0, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
      assert.match(run.last, /^tool said: .*keel-agent-ok/s);
      const sent = JSON.stringify(fake().requests.slice(from).at(-1).body.messages);
      assert.ok(sent.includes(callId), `the call id ${callId} is not in ${sent.slice(0, 400)}`);
      assert.ok(sent.includes('keel-agent-ok'));
    });
  }
});
