// `keel pull` end to end against local node HTTP servers: a whole download with its sha256, a
// wrong sha256 (nothing left behind), resume after a dropped connection (Range), redirects,
// 404, hf:OWNER/REPO/FILE through KEEL_HF_ENDPOINT (the token stays off the CDN), Ctrl-C, and
// `keel models --models-dir` listing a pulled real model (../shared/models/stories260K.gguf).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KEEL_BIN, runKeel, requireKeelBin, waitFor } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const STORIES = path.resolve(here, '../../../shared/models/stories260K.gguf');
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const show = (r) => `exit ${r.code} (signal ${r.signal}, timed out ${r.timedOut})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

const DATA = randomBytes(3 * 1024 * 1024 + 123);
const DATA_SHA = sha256(DATA);

// A file server: GET /files/NAME with Range support; behaviours chosen per test through
// `server.mode`; every request is recorded (path, range, authorization).
function startFileServer(files) {
  const state = { requests: [], mode: {} };
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    state.requests.push({ path: url.pathname, range: req.headers.range, authorization: req.headers.authorization });
    const hook = state.mode[url.pathname];
    if (hook && hook(req, res, state) === true) return;
    const m = /^\/files\/(.+)$/.exec(url.pathname);
    const body = m && files[decodeURIComponent(m[1])];
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Entry not found');
      return;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range || '');
    if (range) {
      const start = Number(range[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` });
        res.end();
        return;
      }
      res.writeHead(206, {
        'content-length': body.length - start,
        'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
        'accept-ranges': 'bytes',
      });
      res.end(body.subarray(start));
      return;
    }
    res.writeHead(200, { 'content-length': body.length, 'accept-ranges': 'bytes' });
    res.end(body);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}`;
      resolve({
        url,
        state,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
      });
    });
  });
}

let files;
let dir;
before(async () => {
  requireKeelBin();
  const served = { 'data.bin': DATA };
  if (existsSync(STORIES)) served['stories260K.gguf'] = readFileSync(STORIES);
  files = await startFileServer(served);
});
after(async () => {
  await files?.close();
});

let counter = 0;
function freshDir() {
  dir = mkdtempSync(path.join(tmpdir(), `keel-e2e-pull-${counter++}-`));
  return dir;
}
after(() => {
  for (const entry of readdirSync(tmpdir())) {
    if (entry.startsWith('keel-e2e-pull-')) rmSync(path.join(tmpdir(), entry), { recursive: true, force: true });
  }
});

const pull = (args, env = {}) => runKeel(['pull', ...args], { env, timeoutMs: 20000 });

describe('keel pull', () => {
  test('a URL with its sha256: the file lands whole, no .part, its path on stdout', async () => {
    const models = freshDir();
    const r = await pull([`${files.url}/files/data.bin`, '--sha256', DATA_SHA.toUpperCase(), '--models-dir', models]);
    assert.equal(r.code, 0, show(r));
    const file = path.join(models, 'data.bin');
    assert.equal(r.stdout.trim(), file, show(r));
    assert.ok(readFileSync(file).equals(DATA), 'file content');
    assert.ok(!existsSync(`${file}.part`), show(r));
    assert.match(r.stderr, new RegExp(DATA_SHA), show(r));

    // Pulled again: already present, nothing downloaded.
    const before = files.state.requests.length;
    const again = await pull([`${files.url}/files/data.bin`, '--sha256', DATA_SHA, '--models-dir', models]);
    assert.equal(again.code, 0, show(again));
    assert.match(again.stderr, /already present/, show(again));
    assert.equal(files.state.requests.length, before, 'no request for a file already in place');
  });

  test('a wrong sha256: nonzero exit, expected and actual named, nothing left in place', async () => {
    const models = freshDir();
    const wrong = 'ab'.repeat(32);
    const r = await pull([`${files.url}/files/data.bin`, '--sha256', wrong, '--models-dir', models]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /sha256 mismatch/, show(r));
    assert.ok(r.stderr.includes(wrong) && r.stderr.includes(DATA_SHA), show(r));
    assert.deepEqual(readdirSync(models), [], 'no file, no .part');
  });

  test('a dropped connection keeps the .part; the next pull resumes it with Range', async () => {
    const models = freshDir();
    let drops = 1;
    files.state.mode['/files/data.bin'] = (req, res) => {
      if (drops === 0) return false;
      drops -= 1;
      res.writeHead(200, { 'content-length': DATA.length });
      res.write(DATA.subarray(0, 1024 * 1024 + 7), () => setTimeout(() => res.socket.destroy(), 50));
      return true;
    };
    try {
      const url = `${files.url}/files/data.bin`;
      const first = await pull([url, '--sha256', DATA_SHA, '--models-dir', models]);
      assert.equal(first.code, 1, show(first));
      assert.match(first.stderr, /interrupted/, show(first));
      const part = path.join(models, 'data.bin.part');
      assert.ok(existsSync(part), show(first));
      const kept = statSync(part).size;
      assert.ok(kept > 0 && kept < DATA.length, `kept ${kept} bytes`);
      assert.ok(!existsSync(path.join(models, 'data.bin')));

      const start = files.state.requests.length;
      const second = await pull([url, '--sha256', DATA_SHA, '--models-dir', models]);
      assert.equal(second.code, 0, show(second));
      assert.match(second.stderr, /resum/, show(second));
      const ranges = files.state.requests.slice(start).map((q) => q.range);
      assert.deepEqual(ranges, [`bytes=${kept}-`]);
      assert.ok(readFileSync(path.join(models, 'data.bin')).equals(DATA));
      assert.ok(!existsSync(part));
    } finally {
      delete files.state.mode['/files/data.bin'];
    }
  });

  test('redirects are followed (relative and absolute); the file is named after the source', async () => {
    const models = freshDir();
    files.state.mode['/go/data.bin'] = (req, res) => {
      res.writeHead(302, { location: '../hop/data.bin' });
      res.end();
      return true;
    };
    files.state.mode['/hop/data.bin'] = (req, res) => {
      res.writeHead(301, { location: `${files.url}/files/data.bin` });
      res.end();
      return true;
    };
    try {
      const r = await pull([`${files.url}/go/data.bin`, '--models-dir', models]);
      assert.equal(r.code, 0, show(r));
      assert.ok(readFileSync(path.join(models, 'data.bin')).equals(DATA));
    } finally {
      delete files.state.mode['/go/data.bin'];
      delete files.state.mode['/hop/data.bin'];
    }
  });

  test('404: nonzero exit naming the status and the body, nothing left', async () => {
    const models = freshDir();
    const r = await pull([`${files.url}/files/absent.gguf`, '--models-dir', models]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /404/, show(r));
    assert.match(r.stderr, /Entry not found/, show(r));
    assert.deepEqual(readdirSync(models), []);
  });

  test('hf:OWNER/REPO/FILE through KEEL_HF_ENDPOINT; HF_TOKEN goes to the hub only, never printed', async () => {
    const models = freshDir();
    const hub = await startFileServer({});
    hub.state.mode['/keel-org/tiny-models/resolve/main/sub/data.bin'] = (req, res) => {
      res.writeHead(302, { location: `${files.url}/files/data.bin?signature=xyz` });
      res.end();
      return true;
    };
    try {
      const start = files.state.requests.length;
      const r = await pull(['hf:keel-org/tiny-models/sub/data.bin', '--sha256', DATA_SHA, '--models-dir', models],
        { KEEL_HF_ENDPOINT: `${hub.url}/`, HF_TOKEN: 'hf_canary_token' });
      assert.equal(r.code, 0, show(r));
      assert.ok(readFileSync(path.join(models, 'data.bin')).equals(DATA));
      assert.deepEqual(hub.state.requests.map((q) => [q.path, q.authorization]),
        [['/keel-org/tiny-models/resolve/main/sub/data.bin', 'Bearer hf_canary_token']]);
      const cdn = files.state.requests.slice(start);
      assert.equal(cdn.length, 1);
      assert.equal(cdn[0].authorization, undefined, 'no token on another origin');
      assert.ok(!r.stdout.includes('hf_canary') && !r.stderr.includes('hf_canary'), show(r));
    } finally {
      await hub.close();
    }
  });

  test('bad usage: exit 2', async () => {
    for (const args of [[], ['hf:only-owner'], ['not-a-url'], ['http://h/x.gguf', '--sha256', 'abc'],
      ['http://h/x.gguf', '--models-dir']]) {
      const r = await pull(args);
      assert.equal(r.code, 2, `${args.join(' ')}\n${show(r)}`);
      assert.match(r.stderr, /usage|expected|sha256|needs a value/, show(r));
    }
  });

  test('Ctrl-C keeps the .part for the next pull (exit 130)', async () => {
    const models = freshDir();
    files.state.mode['/files/slow.bin'] = (req, res) => {
      res.writeHead(200, { 'content-length': DATA.length });
      res.write(DATA.subarray(0, 4096)); // then nothing: keel waits for more
      return true;
    };
    try {
      const proc = spawn(KEEL_BIN, ['pull', `${files.url}/files/slow.bin`, '--models-dir', models], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      proc.stderr.on('data', (d) => { stderr += d; });
      const exited = new Promise((resolve) => proc.on('close', (code) => resolve(code)));
      const part = path.join(models, 'slow.bin.part');
      assert.ok(await waitFor(() => existsSync(part) && statSync(part).size === 4096, 5000), `no .part of 4096 bytes\n${stderr}`);
      proc.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 130, stderr);
      assert.equal(statSync(part).size, 4096, stderr);
      assert.ok(!existsSync(path.join(models, 'slow.bin')));
    } finally {
      delete files.state.mode['/files/slow.bin'];
    }
  });
});

describe('keel models --models-dir', () => {
  test('lists a pulled real model with its architecture', async (t) => {
    if (!existsSync(STORIES)) {
      t.skip(`no ${STORIES} (see ../shared/models/README.md)`);
      return;
    }
    const models = freshDir();
    const expected = sha256(readFileSync(STORIES));
    const r = await pull([`${files.url}/files/stories260K.gguf`, '--sha256', expected, '--models-dir', models]);
    assert.equal(r.code, 0, show(r));
    const listed = await runKeel(['models', '--models-dir', models], { env: { OPENAI_API_KEY: '', ANTHROPIC_API_KEY: '', GEMINI_API_KEY: '', AZURE_OPENAI_API_KEY: '', OPENAI_BASE_URL: '' } });
    assert.equal(listed.code, 0, show(listed));
    if (/local engine not built/.test(listed.stdout)) {
      t.skip('keel was built without the local engine');
      return;
    }
    const line = listed.stdout.split('\n').find((l) => l.includes('stories260K.gguf'));
    assert.ok(line, show(listed));
    assert.match(line, /\bllama\b/, show(listed));
    assert.match(line, /\d+(\.\d+)?K params/, show(listed));
    assert.match(line, /F32/, show(listed));
    assert.ok(listed.stdout.includes(models), show(listed));
  });
});
