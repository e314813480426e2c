// Issue 15's probes, kept: keel probed as an attacker and a careless client would, over raw
// sockets (node:net), so every byte is the test's own. The defects the probe found (a trailer
// that aborted keel, trailers without limit or counting for auth, no send timeout, auth after the
// body, provider key fragments in upstream errors, and the smaller framing items) stay fixed;
// what held (smuggling variants, slowloris, pipelining, path tricks, huge and deep JSON,
// overload) stays held. After each group keel must still answer /healthz.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startFakeAnthropic } from '../fakes/fake_anthropic.mjs';
import {
  startKeel, fakeProvider, anthropicProvider, sqliteJson, rssKiB, sleep, CLIENT_KEY, UPSTREAM_KEY,
} from './harness.mjs';

const MAX_BODY = 1 << 20;
let fake;
let fakeAnt;
let rawUpstream;   // a raw upstream for responses no HTTP library would send
let streamUpstream;   // an OpenAI-compatible upstream streaming without end
let keel;

// Sends `bytes` (Buffer or string, or a list sent `gapMs` apart) and collects what keel sends
// until it closes the socket or `timeoutMs` passes. Resolves {text, closed, ms}.
function exchange(port, bytes, { timeoutMs = 5000, gapMs = 0, halfClose = false } = {}) {
  return new Promise((resolve) => {
    const start = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    const parts = [];
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: Buffer.concat(parts).toString('latin1'), closed, ms: Date.now() - start });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (d) => parts.push(d));
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('connect', async () => {
      const list = Array.isArray(bytes) ? bytes : [bytes];
      for (const piece of list) {
        if (socket.destroyed) return;
        socket.write(piece);
        if (gapMs) await sleep(gapMs);
      }
      if (halfClose) socket.end();
    });
  });
}

const statusOf = (text) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
const statuses = (text) => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
const bodyOf = (text) => text.slice(text.indexOf('\r\n\r\n') + 4);

const CHAT = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] });

function chatRequest({ key = CLIENT_KEY, body = CHAT, path = '/v1/chat/completions', extra = '' } = {}) {
  return `POST ${path} HTTP/1.1\r\nHost: x\r\n${key ? `Authorization: Bearer ${key}\r\n` : ''}` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

// A chunked request whose body is `body` and whose trailer section is `trailer` (CRLF-ended fields).
function chunkedRequest({ path = '/v1/chat/completions', headers = '', body = CHAT, trailer = '' } = {}) {
  const size = Buffer.byteLength(body).toString(16);
  return `POST ${path} HTTP/1.1\r\nHost: x\r\n${headers}Transfer-Encoding: chunked\r\n\r\n` +
    `${size}\r\n${body}\r\n0\r\n${trailer}\r\n`;
}

async function healthy() {
  const r = await exchange(keel.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(statusOf(r.text), 200, `keel is not healthy: ${r.text.slice(0, 200)}\n${keel.stderr.slice(-2000)}`);
  assert.equal(keel.exitCode, undefined, `keel exited: ${keel.stderr.slice(-2000)}`);
}

// An upstream that answers every request with the bytes `respond(path)` gives, then closes.
async function startRawUpstream(respond) {
  const server = net.createServer((socket) => {
    let got = '';
    socket.on('data', (d) => {
      got += d.toString('latin1');
      const headEnd = got.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(got)?.[1] ?? 0);
      if (got.length < headEnd + 4 + length) return;
      const body = got.slice(headEnd + 4);
      socket.end(respond(body));
      got = '';
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/v1`, close: () => new Promise((r) => server.close(r)) };
}

// An OpenAI-compatible upstream that streams chunks until the connection closes.
async function startEndlessStream() {
  const state = { open: 0, closed: 0 };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      state.open++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: 'x'.repeat(4000) }, finish_reason: null }] })}\n\n`;
      const timer = setInterval(() => {
        while (res.write(chunk)) { /* fill what the socket takes */ }
      }, 2);
      res.on('close', () => {
        clearInterval(timer);
        state.closed++;
      });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/v1`,
    state,
    close: () => { server.closeAllConnections(); return new Promise((r) => server.close(r)); },
  };
}

const model = (name, provider, target, timeoutMs = 60000) => ({
  name, strategy: 'failover', retries: 0, timeout_ms: timeoutMs, first_token_timeout_ms: timeoutMs,
  targets: [{ provider, model: target }],
});

before(async () => {
  fake = await startFakeOpenAI({ apiKey: UPSTREAM_KEY });
  fakeAnt = await startFakeAnthropic();
  const bigTrailer = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
  const answer = JSON.stringify({ id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }] });
  rawUpstream = await startRawUpstream((body) => {
    const target = /"model":"([^"]*)"/.exec(body)?.[1] ?? '';
    const size = Buffer.byteLength(answer).toString(16);
    if (target === 'trailer-value') return `${bigTrailer}${size}\r\n${answer}\r\n0\r\nX: ${'a'.repeat(65534)}\r\n\r\n`;
    if (target === 'trailer-name') return `${bigTrailer}${size}\r\n${answer}\r\n0\r\n${'a'.repeat(65534)}: v\r\n\r\n`;
    if (target === 'trailer-many') return `${bigTrailer}${size}\r\n${answer}\r\n0\r\n${'X: v\r\n'.repeat(30000)}\r\n`;
    if (target === 'masked-key') {
      const error = JSON.stringify({ error: { message: 'Incorrect API key provided: sk-upstr****-key. You can find your API key at https://platform.openai.com/account/api-keys.', type: 'invalid_request_error', code: 'invalid_api_key' } });
      return `HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${error.length}\r\n\r\n${error}`;
    }
    if (target === 'forbidden-base64') {
      const quoted = Buffer.from('sk-raw-upstream-key').toString('base64');
      const error = JSON.stringify({ error: { message: `key ${quoted} has no access; sk-raw-up was tried`, type: 'permission_error' } });
      return `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${error.length}\r\n\r\n${error}`;
    }
    return `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(answer)}\r\n\r\n${answer}`;
  });
  streamUpstream = await startEndlessStream();
  keel = await startKeel({
    providers: [
      fakeProvider('up', fake, UPSTREAM_KEY),
      { name: 'raw', kind: 'openai', base_url: rawUpstream.url, api_key: 'sk-raw-upstream-key' },
      { name: 'endless', kind: 'openai', base_url: streamUpstream.url, api_key: 'k' },
      anthropicProvider('ant', fakeAnt, 'sk-ant-key'),
    ],
    models: [
      model('chat', 'up', 'echo'),
      model('hang', 'up', 'hang'),
      model('trailer-value', 'raw', 'trailer-value'),
      model('trailer-name', 'raw', 'trailer-name'),
      model('trailer-many', 'raw', 'trailer-many'),
      model('masked-key', 'raw', 'masked-key'),
      model('forbidden-base64', 'raw', 'forbidden-base64'),
      model('endless', 'endless', 'endless'),
      model('claude', 'ant', 'claude-ok'),
    ],
    extra: {
      api_keys: [CLIENT_KEY],
      server: { max_body_bytes: MAX_BODY, header_timeout_ms: 500, send_timeout_ms: 500, max_in_flight: 3, shutdown_grace_ms: 1000 },
    },
  });
});

after(async () => {
  if (keel) await keel.stop();
  await fake?.close();
  await fakeAnt?.close();
  await rawUpstream?.close();
  await streamUpstream?.close();
  keel?.cleanup();
});

describe('defect 1: a 64 KiB trailer field no longer aborts keel', () => {
  test('the bytes of the issue: a trailer value of 65,534 bytes on /healthz', async () => {
    const r = await exchange(keel.port, `POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ${'a'.repeat(65534)}\r\n\r\n`);
    assert.equal(statusOf(r.text), 431, r.text.slice(0, 300));
    assert.ok(r.closed);
    await healthy();
  });
  test('a trailer name of 65,534 bytes', async () => {
    const r = await exchange(keel.port, `POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${'a'.repeat(65534)}: v\r\n\r\n`);
    assert.equal(statusOf(r.text), 431, r.text.slice(0, 300));
    await healthy();
  });
  for (const name of ['trailer-value', 'trailer-name', 'trailer-many']) {
    test(`an upstream whose chunked answer carries a huge trailer (${name}): 502`, async () => {
      const r = await exchange(keel.port, chatRequest({ body: JSON.stringify({ model: name, messages: [{ role: 'user', content: 'hi' }] }), extra: 'Connection: close\r\n' }));
      assert.equal(statusOf(r.text), 502, r.text.slice(0, 300));
      await healthy();
    });
  }
});

describe('defect 2: trailers are bounded', () => {
  test('1.5 million trailer fields (about 9 MB), without a key: 431 at the limit, not read to the end', async () => {
    const rssBefore = rssKiB(keel.proc.pid);
    // /healthz asks no key, so the trailer is what stops it (an API route says 401 first).
    const pieces = [chunkedRequest({ path: '/healthz', trailer: '' }).slice(0, -2)];
    const block = 'X: v\r\n'.repeat(100000);
    for (let i = 0; i < 15; ++i) pieces.push(block);
    pieces.push('\r\n');
    const r = await exchange(keel.port, pieces);
    assert.equal(statusOf(r.text), 431, r.text.slice(0, 300));
    const grown = rssKiB(keel.proc.pid) - rssBefore;
    assert.ok(grown < 20 * 1024, `RSS grew by ${grown} KiB`);
    await healthy();
  });
  test('a trailer that never ends is refused at the limit', async () => {
    const r = await exchange(keel.port, chunkedRequest({ path: '/healthz', trailer: '' }).slice(0, -2) + `X: ${'a'.repeat(300000)}`);
    assert.equal(statusOf(r.text), 431, r.text.slice(0, 300));
  });
  test('chunk extensions that never end are refused at the limit', async () => {
    const r = await exchange(keel.port, `POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;${'e'.repeat(300000)}`);
    assert.equal(statusOf(r.text), 431, r.text.slice(0, 300));
  });
  test('the same trailer flood on an API route without a key: 401 before any of it is read', async () => {
    const pieces = [chunkedRequest({ trailer: '' }).slice(0, -2), 'X: v\r\n'.repeat(100000), '\r\n'];
    const r = await exchange(keel.port, pieces);
    assert.equal(statusOf(r.text), 401, r.text.slice(0, 300));
  });
});

describe('defect 3: trailer fields never count as header fields', () => {
  test('Authorization only as a trailer: 401 on /v1/chat/completions', async () => {
    const r = await exchange(keel.port, chunkedRequest({ headers: 'Content-Type: application/json\r\n', trailer: `Authorization: Bearer ${CLIENT_KEY}\r\n` }));
    assert.equal(statusOf(r.text), 401, r.text.slice(0, 300));
  });
  test('Authorization only as a trailer: 401 on /metrics', async () => {
    const r = await exchange(keel.port, `GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nAuthorization: Bearer ${CLIENT_KEY}\r\n\r\n`);
    assert.equal(statusOf(r.text), 401, r.text.slice(0, 300));
  });
  test('x-api-key only as a trailer: 401 on /v1/messages', async () => {
    const body = JSON.stringify({ model: 'claude', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    const r = await exchange(keel.port, chunkedRequest({ path: '/v1/messages', headers: 'Content-Type: application/json\r\n', body, trailer: `x-api-key: ${CLIENT_KEY}\r\n` }));
    assert.equal(statusOf(r.text), 401, r.text.slice(0, 300));
    assert.match(bodyOf(r.text), /authentication_error/);
  });
  test('Content-Type only as a trailer: 415', async () => {
    const r = await exchange(keel.port, chunkedRequest({ headers: `Authorization: Bearer ${CLIENT_KEY}\r\nConnection: close\r\n`, trailer: 'Content-Type: application/json\r\n' }));
    assert.equal(statusOf(r.text), 415, r.text.slice(0, 300));
  });
  test('small trailers after a good header are ignored: 200', async () => {
    const r = await exchange(keel.port, chunkedRequest({ headers: `Authorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\nConnection: close\r\n`, trailer: 'Authorization: Bearer wrong\r\nX-Checksum: 1\r\n' }));
    assert.equal(statusOf(r.text), 200, r.text.slice(0, 300));
  });
});

describe('defect 4: send timeout', () => {
  test('streaming clients that stop reading lose their slots after send_timeout_ms', async () => {
    // max_in_flight is 3: three clients that read nothing would make every other request a 503.
    const body = JSON.stringify({ model: 'endless', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const sockets = [];
    for (let i = 0; i < 3; ++i) {
      const socket = net.connect(keel.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.pause();   // reads nothing
      socket.write(chatRequest({ body }));
      sockets.push(socket);
    }
    await sleep(300);
    // Within send_timeout_ms (500) plus the time to fill the socket buffers, the slots free up.
    let status = 0;
    const start = Date.now();
    while (Date.now() - start < 8000) {
      const r = await exchange(keel.port, chatRequest({ extra: 'Connection: close\r\n' }));
      status = statusOf(r.text);
      if (status === 200) break;
      await sleep(200);
    }
    for (const socket of sockets) socket.destroy();
    assert.equal(status, 200, 'a request still gets 503 while clients that read nothing hold the slots');
    assert.ok(streamUpstream.state.closed >= 3, `upstream streams closed: ${streamUpstream.state.closed}`);
  });
});

describe('defect 5: auth is checked on the header', () => {
  test('no key and a 1 MB Content-Length: 401 at once, without the body', async () => {
    const r = await exchange(keel.port, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${MAX_BODY}\r\n\r\n`, { timeoutMs: 3000 });
    assert.equal(statusOf(r.text), 401, r.text.slice(0, 300));
    assert.ok(r.ms < 1000, `took ${r.ms} ms`);
  });
  test('Expect: 100-continue without a key: 401, never 100', async () => {
    const r = await exchange(keel.port, `POST /v1/messages HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`, { timeoutMs: 3000 });
    assert.deepEqual(statuses(r.text), [401], r.text.slice(0, 300));
    assert.match(bodyOf(r.text), /authentication_error/);
  });
  test('HEAD without a key: 401 with no body', async () => {
    const r = await exchange(keel.port, 'HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(statusOf(r.text), 401, r.text.slice(0, 300));
    assert.equal(bodyOf(r.text), '');
  });
  test('Expect: 100-continue with the key: 100, then the answer', async () => {
    const r = await exchange(keel.port, [chatRequest({ body: '', extra: `Expect: 100-continue\r\nConnection: close\r\n` }).replace('Content-Length: 0', `Content-Length: ${CHAT.length}`), CHAT], { gapMs: 200 });
    assert.deepEqual(statuses(r.text), [100, 200], r.text.slice(0, 300));
  });
});

describe('defect 6: an upstream authentication failure names the provider, not the vendor text', () => {
  for (const name of ['masked-key', 'forbidden-base64']) {
    test(`${name}: 502 with keel's message; the vendor's text only in keel's log, redacted`, async () => {
      const r = await exchange(keel.port, chatRequest({ body: JSON.stringify({ model: name, messages: [{ role: 'user', content: 'hi' }] }), extra: 'Connection: close\r\n' }));
      assert.equal(statusOf(r.text), 502, r.text.slice(0, 300));
      const message = JSON.parse(bodyOf(r.text)).error.message;
      assert.match(message, /provider 'raw'/);
      assert.doesNotMatch(message, /sk-|Incorrect|c2st/, message);
      await sleep(100);
      assert.match(keel.stderr, /provider 'raw' refused keel's credentials/);
      assert.doesNotMatch(keel.stderr, /sk-upstr\*|sk-raw-up|c2stcmF3/);
      const rows = sqliteJson(keel.dbPath, `select error_message from attempts where error_message like '%provider ''raw''%'`);
      for (const row of rows) assert.doesNotMatch(row.error_message, /sk-|Incorrect/);
    });
  }
});

describe('defect 7: the smaller items', () => {
  test('two Host headers: 400', async () => {
    const r = await exchange(keel.port, 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
    assert.equal(statusOf(r.text), 400, r.text.slice(0, 300));
  });
  test('HTTP/1.0 with Transfer-Encoding: answered, then closed', async () => {
    const r = await exchange(keel.port, 'POST /healthz HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n');
    assert.equal(statuses(r.text).length, 1, r.text.slice(0, 500));
    assert.ok(r.closed);
  });
  test('a bad chunk size: 400, not a silent close', async () => {
    const r = await exchange(keel.port, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`);
    assert.equal(statusOf(r.text), 400, r.text.slice(0, 300));
  });
  for (const method of ['CONNECT', 'TRACE', 'POST', 'DELETE']) {
    test(`${method} /healthz: 405`, async () => {
      const r = await exchange(keel.port, `${method} /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(statusOf(r.text), 405, r.text.slice(0, 300));
      assert.match(r.text, /Allow: GET, HEAD/i);
    });
  }
  test('Transfer-Encoding: gzip, chunked: 501', async () => {
    const r = await exchange(keel.port, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`);
    assert.equal(statusOf(r.text), 501, r.text.slice(0, 300));
  });
  test('an http:// image URL toward an Anthropic upstream: 400, nothing forwarded', async () => {
    const before = fakeAnt.requests.length;
    const body = JSON.stringify({ model: 'claude', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://example.com/a.png' } }] }] });
    const r = await exchange(keel.port, chatRequest({ body, extra: 'Connection: close\r\n' }));
    assert.equal(statusOf(r.text), 400, r.text.slice(0, 300));
    assert.match(bodyOf(r.text), /https/);
    assert.equal(fakeAnt.requests.length, before);
  });
  test('a huge unknown model name: 404, and the request log keeps a few hundred bytes of it', async () => {
    // The probe's 5 MB name, cut to this keel's max_body_bytes (1 MiB).
    const name = 'm'.repeat(900000);
    const r = await exchange(keel.port, chatRequest({ body: JSON.stringify({ model: name, messages: [{ role: 'user', content: 'hi' }] }), extra: 'Connection: close\r\n' }));
    assert.equal(statusOf(r.text), 404, r.text.slice(0, 300));
    assert.ok(bodyOf(r.text).length < 2000, `the error echoes ${bodyOf(r.text).length} bytes`);
    await sleep(200);
    const rows = sqliteJson(keel.dbPath, "select length(model) as n from requests where model like 'mmmm%'");
    assert.ok(rows.length >= 1);
    for (const row of rows) assert.ok(row.n <= 300, `logged ${row.n} bytes of the name`);
  });
});

describe('what held, kept', () => {
  const smuggling = [
    ['CL and TE', 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG'],
    ['TE and CL', 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nG'],
    ['two different Content-Lengths', 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    ['a Content-Length with a sign', 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na'],
    // RFC 9110 8.6 lets a recipient take identical values as one: the body is that one byte,
    // and the request after it is answered as the next (the framing is not ambiguous).
    ['a Content-Length list of one value', 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\na', [405, 401]],
    ['TE xchunked', 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n'],
    ['TE chunked, identity', 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'],
    ['TE with a space before the colon', 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n'],
    // RFC 9112 5.2 lets a server replace obs-fold with a space: TE is chunked, read as such.
    ['TE by obs-fold', 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n', [405, 401]],
    ['a bare LF in the header', 'POST /healthz HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n0\n\n'],
    ['a NUL in a header value', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n'],
    ['a chunk size with a leading space', 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n 1\r\na\r\n0\r\n\r\n'],
    ['a chunk without its CRLF', 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'],
  ];
  for (const [name, bytes, framed] of smuggling) {
    test(`smuggling: ${name}: ${framed ? 'each request answered as framed' : 'one 4xx answer, then closed; no second request'}`, async () => {
      const r = await exchange(keel.port, `${bytes}GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const seen = statuses(r.text);
      if (framed) {
        assert.deepEqual(seen, framed, `${name}: ${r.text.slice(0, 400)}`);
        return;
      }
      assert.equal(seen.length, 1, `${name}: ${r.text.slice(0, 400)}`);
      assert.ok(seen[0] >= 400 && seen[0] < 500, `${name}: ${seen[0]}`);
      assert.ok(r.closed, name);
    });
  }
  test('slowloris: a header a byte at a time is cut at header_timeout_ms', async () => {
    const bytes = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200);
    const r = await exchange(keel.port, bytes.split(''), { gapMs: 20, timeoutMs: 6000 });
    assert.ok(r.closed, 'not closed');
    assert.ok(r.ms < 2500, `closed after ${r.ms} ms`);
  });
  test('pipelining: three requests in one write, three answers in order', async () => {
    const get = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const r = await exchange(keel.port, get + chatRequest() + get.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    assert.deepEqual(statuses(r.text), [200, 200, 200], r.text.slice(0, 500));
  });
  for (const [target, status] of [
    ['/metrics?x=1', 401], ['http://x/metrics', 401], ['/v1/chat/completions?a', 401],
    ['//metrics', 404], ['/metrics/../metrics', 404], ['/%6detrics', 404], ['/METRICS', 404],
    ['/v1/chat/completions/', 404], ['/healthz/../metrics', 404], ['*', 404],
  ]) {
    test(`path trick ${target}: ${status}`, async () => {
      const r = await exchange(keel.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(statusOf(r.text), status, r.text.slice(0, 300));
    });
  }
  test('huge JSON: a body over max_body_bytes is a 413', async () => {
    const body = `{"model":"chat","messages":[{"role":"user","content":"${'a'.repeat(MAX_BODY)}"}]}`;
    const r = await exchange(keel.port, chatRequest({ body }));
    assert.equal(statusOf(r.text), 413, r.text.slice(0, 300));
  });
  test('deep JSON: 100,000 levels are a quick 400', async () => {
    const body = '['.repeat(100000) + ']'.repeat(100000);
    const r = await exchange(keel.port, chatRequest({ body, extra: 'Connection: close\r\n' }));
    assert.equal(statusOf(r.text), 400, r.text.slice(0, 300));
    assert.ok(r.ms < 2000, `took ${r.ms} ms`);
  });
  test('overload: past max_in_flight against a hung upstream, 503 at once; /healthz stays up', async () => {
    const body = JSON.stringify({ model: 'hang', messages: [{ role: 'user', content: 'hi' }] });
    const hung = [];
    for (let i = 0; i < 3; ++i) {
      const socket = net.connect(keel.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(chatRequest({ body }));
      hung.push(socket);
    }
    await sleep(300);
    const r = await exchange(keel.port, chatRequest({ extra: 'Connection: close\r\n' }));
    assert.equal(statusOf(r.text), 503, r.text.slice(0, 300));
    await healthy();
    for (const socket of hung) socket.destroy();
  });
  test('keel is still healthy after every probe', async () => {
    await healthy();
  });
});
