// Starts the real keel binary for end-to-end tests, and small helpers around it.
//
//   const keel = await startKeel({ providers, models, extra: { api_keys: ['sk-test'] } });
//   const client = makeClient(keel);                   // the official openai SDK, pointed at keel
//   ...
//   await keel.stop();                                 // SIGTERM; resolves with the exit code
//   sqliteJson(keel.dbPath, 'select * from requests'); // rows are flushed by then
//
// KEEL_BIN names the binary (default: ../../build/keel from this folder). The config is written
// as YAML into a fresh temp folder, with `listen: 127.0.0.1:0` and a SQLite state file there;
// keel prints `listening on http://127.0.0.1:PORT` on stderr when it is ready.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, rmSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const here = path.dirname(fileURLToPath(import.meta.url));
export const KEEL_BIN = process.env.KEEL_BIN || path.resolve(here, '../../build/keel');

// Why this keel cannot serve `kind: local` ("" when it can): the local engine is built only with
// llama.cpp (scripts/llama.sh), and sanitizer builds leave it out. `keel fixture` says which
// this binary is (it makes a tiny model only where the engine exists).
export function localEngineMissing() {
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-local-check-'));
  try {
    execFileSync(KEEL_BIN, ['fixture', '--arch', 'llama', path.join(dir, 'check.gguf')], { stdio: 'pipe' });
    return '';
  } catch (err) {
    return `this keel has no local engine: ${String(err.stderr || err.message).trim()}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
export const CLIENT_KEY = 'sk-test';
export const UPSTREAM_KEY = 'sk-upstream';
export const UPSTREAM_KEY_2 = 'sk-upstream-two';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// KEEL_E2E_STDERR_DIR (set by scripts/sanitize.sh): each keel's whole stderr is also written
// there once the process has closed it, so that sanitizer reports that no test looks at are still
// found (UBSan beside ASan reports on stderr only).
function keepStderr(proc, text) {
  const dir = process.env.KEEL_E2E_STDERR_DIR;
  if (dir) writeFileSync(path.join(dir, `keel.${proc.pid}`), text);
}

// --- YAML ----------------------------------------------------------------------------------
// Block-style YAML; every string double-quoted (JSON escapes are valid YAML escapes).
function yamlScalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  return JSON.stringify(String(v));
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function toYaml(value, indent = 0) {
  const pad = ' '.repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return value
      .map((item) => {
        if (isPlainObject(item) && Object.keys(item).length > 0) {
          const body = toYaml(item, indent + 2);
          return `${pad}- ${body.slice(indent + 2)}`;
        }
        if (Array.isArray(item) && item.length > 0) return `${pad}-\n${toYaml(item, indent + 2)}`;
        return `${pad}- ${Array.isArray(item) ? '[]' : isPlainObject(item) ? '{}' : yamlScalar(item)}`;
      })
      .join('\n');
  }
  if (isPlainObject(value)) {
    return Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => {
        if (Array.isArray(v)) return v.length === 0 ? `${pad}${k}: []` : `${pad}${k}:\n${toYaml(v, indent + 2)}`;
        if (isPlainObject(v)) return Object.keys(v).length === 0 ? `${pad}${k}: {}` : `${pad}${k}:\n${toYaml(v, indent + 2)}`;
        return `${pad}${k}: ${yamlScalar(v)}`;
      })
      .join('\n');
  }
  return pad + yamlScalar(value);
}

// --- keel process --------------------------------------------------------------------------

// A provider entry for a fake upstream.
export function fakeProvider(name, fake, apiKey = UPSTREAM_KEY) {
  return { name, kind: 'openai', base_url: fake.url, api_key: apiKey };
}

// Provider entries for the other vendors' fakes (tests/fakes/fake_anthropic.mjs,
// fake_gemini.mjs; Azure is fake_openai.mjs's /openai/deployments/... route).
export function anthropicProvider(name, fake, apiKey) {
  return { name, kind: 'anthropic', base_url: fake.url, api_key: apiKey };
}

export function geminiProvider(name, fake, apiKey) {
  return { name, kind: 'gemini', base_url: fake.url, api_key: apiKey };
}

export function azureProvider(name, fake, apiKey, apiVersion = '2024-10-21') {
  return { name, kind: 'azure', base_url: fake.origin, api_key: apiKey, api_version: apiVersion };
}

export function keelConfig({ providers = [], models = [], extra = {}, dir }) {
  return {
    listen: '127.0.0.1:0',
    state: `sqlite:${path.join(dir, 'keel.db')}`,
    api_keys: [],
    providers,
    models,
    router: { backoff_base_ms: 10, backoff_max_ms: 50, retry_after_cap_ms: 2000, breaker_failures: 5, breaker_cooldown_ms: 30000 },
    // KEEL_E2E_SERVER_THREADS: io threads (default keel's 1); the TSan run uses 2, so that
    // requests on different threads share the router, metrics and store (scripts/sanitize.sh).
    server: { max_body_bytes: 8388608, shutdown_grace_ms: 2000, threads: Number(process.env.KEEL_E2E_SERVER_THREADS) || undefined },
    ...extra,
  };
}

export function requireKeelBin() {
  if (!existsSync(KEEL_BIN)) {
    throw new Error(`keel binary not found at ${KEEL_BIN}: build it (make build) or set KEEL_BIN`);
  }
}

// Starts `keel serve --config FILE`; resolves once it prints its listening line.
// `rawConfig` (a string) replaces the generated YAML entirely.
export async function startKeel({ providers = [], models = [], extra = {}, env = {}, rawConfig, readyTimeoutMs = 10000 } = {}) {
  requireKeelBin();
  const dir = mkdtempSync(path.join(tmpdir(), 'keel-e2e-'));
  const dbPath = path.join(dir, 'keel.db');
  const configPath = path.join(dir, 'keel.yaml');
  const configText = rawConfig ?? `${toYaml(keelConfig({ providers, models, extra, dir }))}\n`;
  writeFileSync(configPath, configText);

  const proc = spawn(KEEL_BIN, ['serve', '--config', configPath], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keel = {
    proc,
    dir,
    dbPath,
    configPath,
    configText,
    stderr: '',
    stdout: '',
    port: 0,
    url: '',
    base: '',
    exitCode: undefined,
    signal: undefined,
  };
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      keel.exitCode = code;
      keel.signal = signal;
      resolve({ code, signal });
    });
  });
  keel.exited = exited;

  await new Promise((resolve, reject) => {
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      err ? reject(err) : resolve();
    };
    const check = () => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(keel.stderr);
      if (m) {
        keel.port = Number(m[1]);
        keel.base = `http://127.0.0.1:${keel.port}`;
        keel.url = `${keel.base}/v1`;
        finish();
      }
    };
    proc.stderr.on('data', (d) => {
      keel.stderr += d.toString();
      if (process.env.KEEL_E2E_VERBOSE) process.stderr.write(d);
      check();
    });
    proc.stdout.on('data', (d) => {
      keel.stdout += d.toString();
    });
    proc.on('close', () => keepStderr(proc, keel.stderr));
    proc.on('error', (err) => finish(err));
    exited.then(({ code, signal }) =>
      finish(new Error(`keel exited before listening (code ${code}, signal ${signal})\nconfig:\n${configText}\nstderr:\n${keel.stderr}`)));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      finish(new Error(`keel did not print its listening line within ${readyTimeoutMs} ms\nstderr:\n${keel.stderr}`));
    }, readyTimeoutMs);
  });

  // SIGTERM, then wait for exit (SIGKILL after timeoutMs). Resolves {code, signal}; idempotent.
  let stopping = null;
  keel.stop = (timeoutMs = 8000) => {
    if (!stopping) {
      stopping = (async () => {
        if (keel.exitCode === undefined && keel.signal === undefined) {
          proc.kill('SIGTERM');
          const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
          await exited;
          clearTimeout(timer);
        }
        return { code: keel.exitCode, signal: keel.signal };
      })();
    }
    return stopping;
  };
  keel.alive = () => keel.exitCode === undefined && keel.signal === undefined;
  // The child's pid (for /proc/<pid>/fd, /proc/<pid>/status), and an abrupt end: sends `signal`
  // (SIGKILL unless told) and resolves {code, signal} once the process is gone.
  keel.pid = proc.pid;
  keel.kill = async (signal = 'SIGKILL') => {
    if (keel.alive()) proc.kill(signal);
    await exited;
    return { code: keel.exitCode, signal: keel.signal };
  };
  keel.cleanup = () => rmSync(dir, { recursive: true, force: true });
  return keel;
}

// Runs `keel ARGS...` to completion (a one-shot command: version, config check, models, chat,
// or a serve that should refuse to start). `input` (a string) is written to stdin, which is then
// closed; without it stdin is closed at once. `env` is merged over process.env (a value of
// undefined removes that variable). Resolves {code, signal, stdout, stderr, timedOut}; a command
// still running after timeoutMs is killed with SIGKILL and reported with timedOut: true.
export async function runKeel(args, options = {}) {
  requireKeelBin();
  const result = await runProgram(KEEL_BIN, args, options);
  keepStderr({ pid: result.pid }, result.stderr);
  return result;
}

// Runs any program as runKeel runs keel (Claude Code, Codex CLI, ...); `inheritEnv: false` starts
// it with `env` alone. Resolves {code, signal, stdout, stderr, timedOut, pid}.
export async function runProgram(file, args, { env = {}, inheritEnv = true, input, cwd, timeoutMs = 5000 } = {}) {
  const proc = spawn(file, args, {
    cwd: cwd ?? tmpdir(),
    env: inheritEnv ? { ...process.env, ...env } : env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  proc.stdin.on('error', () => {}); // it may exit before reading its input
  proc.stdin.end(input ?? '');
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, timeoutMs);
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, pid: proc.pid });
    });
  });
}

// --- the keel process, seen from /proc (Linux) -----------------------------------------------

// Number of open file descriptors of process `pid` (entries of /proc/<pid>/fd).
export function fdCount(pid) {
  return readdirSync(`/proc/${pid}/fd`).length;
}

// Resident set size of process `pid` in KiB (VmRSS of /proc/<pid>/status).
export function rssKiB(pid) {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

export function makeClient(keel, options = {}) {
  return new OpenAI({ baseURL: keel.url, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 15000, ...options });
}

// The official @anthropic-ai/sdk pointed at keel's root (it appends /v1/messages). This SDK
// version sends `apiKey` as `Authorization: Bearer`; pass {apiKey: null, defaultHeaders:
// {'x-api-key': KEY}} to authenticate with x-api-key instead.
export function makeAnthropicClient(keel, options = {}) {
  return new Anthropic({ baseURL: keel.base, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 15000, ...options });
}

// --- HTTP helpers --------------------------------------------------------------------------

export function authHeaders(key = CLIENT_KEY) {
  return { authorization: `Bearer ${key}` };
}

// POSTs JSON (or a raw string body) to keel; returns {status, headers, text, json}.
export async function postJSON(keel, pathname, body, { headers = {}, contentType = 'application/json', key = CLIENT_KEY, signal } = {}) {
  const h = { 'content-type': contentType, ...(key ? authHeaders(key) : {}), ...headers };
  const res = await fetch(`${keel.base}${pathname}`, {
    method: 'POST',
    headers: h,
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export async function getText(keel, pathname, { key = CLIENT_KEY } = {}) {
  const res = await fetch(`${keel.base}${pathname}`, { headers: key ? authHeaders(key) : {} });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

// Splits an SSE body into its events' data fields (multi-line data joined with \n).
export function sseData(text) {
  const out = [];
  for (const block of text.replace(/\r\n/g, '\n').split('\n\n')) {
    const lines = block.split('\n').filter((l) => l.startsWith('data:'));
    if (lines.length === 0) continue;
    out.push(lines.map((l) => l.slice(5).replace(/^ /, '')).join('\n'));
  }
  return out;
}

// Splits an SSE body into its events: [{event (null when none), data}] (data lines joined).
export function sseEvents(text) {
  const out = [];
  for (const block of text.replace(/\r\n/g, '\n').split('\n\n')) {
    const lines = block.split('\n');
    const data = lines.filter((l) => l.startsWith('data:'));
    const event = lines.find((l) => l.startsWith('event:'));
    if (data.length === 0 && !event) continue;
    out.push({
      event: event ? event.slice(6).replace(/^ /, '') : null,
      data: data.map((l) => l.slice(5).replace(/^ /, '')).join('\n'),
    });
  }
  return out;
}

// Asserts Anthropic's error shape {"type": "error", "error": {"type", "message"}}; returns error.
export function anthropicErrorOf(json) {
  if (!json || typeof json !== 'object' || json.type !== 'error' || !json.error || typeof json.error !== 'object') {
    throw new Error(`not an Anthropic error body: ${JSON.stringify(json)}`);
  }
  const e = json.error;
  if (typeof e.type !== 'string' || e.type.length === 0) throw new Error(`error.type missing: ${JSON.stringify(json)}`);
  if (typeof e.message !== 'string' || e.message.length === 0) throw new Error(`error.message missing: ${JSON.stringify(json)}`);
  return e;
}

// Asserts the OpenAI error shape; returns the error object.
export function errorOf(json) {
  if (!json || typeof json !== 'object' || !json.error || typeof json.error !== 'object') {
    throw new Error(`not an OpenAI error body: ${JSON.stringify(json)}`);
  }
  const e = json.error;
  if (typeof e.message !== 'string' || e.message.length === 0) throw new Error(`error.message missing: ${JSON.stringify(json)}`);
  if (typeof e.type !== 'string' || e.type.length === 0) throw new Error(`error.type missing: ${JSON.stringify(json)}`);
  if (!('code' in e)) throw new Error(`error.code missing: ${JSON.stringify(json)}`);
  if (!('param' in e)) throw new Error(`error.param missing: ${JSON.stringify(json)}`);
  return e;
}

// --- metrics -------------------------------------------------------------------------------

// Parses Prometheus text exposition into [{name, labels, value}].
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(line.trim());
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let lm;
      while ((lm = re.exec(m[3]))) labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    const raw = m[4];
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    out.push({ name: m[1], labels, value });
  }
  return out;
}

// Sum of the samples named `name` whose labels include `labels`.
export function metricSum(samples, name, labels = {}) {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((acc, s) => acc + s.value, 0);
}

export async function scrapeMetrics(keel) {
  const res = await getText(keel, '/metrics');
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${res.text}`);
  return { text: res.text, samples: parseMetrics(res.text), contentType: res.headers.get('content-type') };
}

// --- SQLite --------------------------------------------------------------------------------

export function sqliteJson(dbPath, sql) {
  const out = execFileSync('sqlite3', ['-json', dbPath, sql], { encoding: 'utf8' });
  return out.trim() ? JSON.parse(out) : [];
}

// SQL literal for an id that may be a number or a string.
export function sqlLiteral(v) {
  if (typeof v === 'number') return String(v);
  return `'${String(v).replace(/'/g, "''")}'`;
}

// The attempts of one request, in order.
export function attemptsOf(dbPath, requestId) {
  return sqliteJson(dbPath, `select * from attempts where request_id = ${sqlLiteral(requestId)} order by seq`);
}

// The requests rows for a public model name, oldest first.
export function requestsOf(dbPath, model) {
  return sqliteJson(dbPath, `select * from requests where model = ${sqlLiteral(model)} order by started_ms`);
}

export function sqliteDump(dbPath) {
  return execFileSync('sqlite3', [dbPath, '.dump'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

// Waits until pred() is true, polling; false if it is still false after timeoutMs.
export async function waitFor(pred, timeoutMs = 1000, stepMs = 10) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return true;
    await sleep(stepMs);
  }
  return !!(await pred());
}

// Whether python3 (KEEL_PYTHON, else Debian's) imports every one of `modules`: flows' python
// nodes need what their code imports (web-classification's fetch node: requests, bs4).
export function pythonImports(...modules) {
  try {
    execFileSync(process.env.KEEL_PYTHON || '/usr/bin/python3', ['-c', `import ${modules.join(', ')}`]);
    return true;
  } catch {
    return false;
  }
}
