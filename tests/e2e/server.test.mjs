// keel's HTTP/1.1 server, spoken to over raw sockets: keep-alive, pipelining, header and idle
// timeouts, malformed requests, Expect: 100-continue, chunked request bodies, a client that goes
// away while the upstream hangs, wrong methods and unknown routes, and max_in_flight.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
import { startKeel, fakeProvider, getText, postJSON, errorOf, waitFor, sleep } from './harness.mjs';

// --- raw HTTP/1.1 over node:net ------------------------------------------------------------

// Parses as many whole responses as `buf` holds. 1xx responses come back with interim: true.
function parseResponses(buf) {
  const out = [];
  let off = 0;
  for (;;) {
    const headEnd = buf.indexOf('\r\n\r\n', off);
    if (headEnd < 0) break;
    const [statusLine, ...lines] = buf.subarray(off, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
    if (!m) throw new Error(`not an HTTP status line: ${JSON.stringify(statusLine)}`);
    const status = Number(m[1]);
    const headers = {};
    for (const line of lines) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    let p = headEnd + 4;
    if (status >= 100 && status < 200) {
      out.push({ status, reason: m[2] ?? '', headers, body: '', interim: true, statusLine });
      off = p;
      continue;
    }
    let body;
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts = [];
      let complete = false;
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', p);
        if (lineEnd < 0) break;
        const size = parseInt(buf.subarray(p, lineEnd).toString('latin1').split(';')[0], 16);
        if (Number.isNaN(size)) throw new Error(`bad chunk size at ${p}`);
        if (size === 0) {
          const end = buf.indexOf('\r\n\r\n', lineEnd);
          if (end < 0) break;
          p = end + 4;
          complete = true;
          break;
        }
        if (buf.length < lineEnd + 2 + size + 2) break;
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        p = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
      body = Buffer.concat(parts).toString('utf8');
    } else {
      const n = Number(headers['content-length'] ?? 0);
      if (buf.length < p + n) break;
      body = buf.subarray(p, p + n).toString('utf8');
      p += n;
    }
    let json = null;
    try {
      json = JSON.parse(body);
    } catch {
      json = null;
    }
    out.push({ status, reason: m[2] ?? '', headers, body, json, interim: false, statusLine });
    off = p;
  }
  return out;
}

class Raw {
  constructor(port) {
    this.buf = Buffer.alloc(0);
    this.closedAt = null;
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closedAt = Date.now();
    });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
  }

  static async open(keel) {
    const raw = new Raw(keel.port);
    await raw.connected;
    return raw;
  }

  get closed() {
    return this.closedAt !== null;
  }

  write(data) {
    return new Promise((resolve) => this.socket.write(data, () => resolve(Date.now())));
  }

  all() {
    return parseResponses(this.buf);
  }

  responses() {
    return this.all().filter((r) => !r.interim);
  }

  text() {
    return this.buf.toString('latin1');
  }

  async waitResponses(n, timeoutMs = 3000) {
    const ok = await waitFor(() => this.responses().length >= n, timeoutMs);
    if (!ok) throw new Error(`expected ${n} response(s) within ${timeoutMs} ms; got:\n${this.text()}\n(closed: ${this.closed})`);
    return this.responses();
  }

  async waitClosed(timeoutMs) {
    return waitFor(() => this.closed, timeoutMs);
  }

  destroy() {
    this.socket.destroy();
  }
}

function chatBody(content, model = 'echoer', extra = {}) {
  return JSON.stringify({ model, messages: [{ role: 'user', content }], ...extra });
}

function chatRequest(content, { model = 'echoer', headers = '' } = {}) {
  const body = chatBody(content, model);
  return 'POST /v1/chat/completions HTTP/1.1\r\nHost: keel\r\nContent-Type: application/json\r\n'
    + `Content-Length: ${Buffer.byteLength(body)}\r\n${headers}\r\n${body}`;
}

const GET_HEALTHZ = 'GET /healthz HTTP/1.1\r\nHost: keel\r\n\r\n';

function answerOf(response) {
  assert.equal(response.status, 200, response.body);
  return response.json.choices[0].message.content;
}

// --- keel and the fake ---------------------------------------------------------------------

let fake;
const open = [];  // raw sockets to destroy at the end, whatever happened

before(async () => {
  fake = await startFakeOpenAI();
});
after(async () => {
  for (const raw of open) raw.destroy();
  await fake?.close();
});

async function rawTo(keel) {
  const raw = await Raw.open(keel);
  open.push(raw);
  return raw;
}

const model = (name, target, timeoutMs = 10000) => ({
  name, strategy: 'failover', retries: 0, timeout_ms: timeoutMs, first_token_timeout_ms: timeoutMs,
  targets: [{ provider: 'up', model: target }],
});

async function startServerKeel(server = {}, models = [model('echoer', 'echo-srv'), model('hanger', 'hang-srv')]) {
  return startKeel({
    providers: [fakeProvider('up', fake)],
    models,
    extra: { server: { max_body_bytes: 8388608, shutdown_grace_ms: 500, ...server } },
  });
}

describe('connections', () => {
  let keel;
  before(async () => {
    keel = await startServerKeel();
  });
  after(async () => {
    await keel?.stop();
    keel?.cleanup();
  });

  test('keep-alive: two requests on one socket get two responses, the socket stays open', async () => {
    const raw = await rawTo(keel);
    await raw.write(GET_HEALTHZ);
    const [first] = await raw.waitResponses(1);
    assert.equal(first.status, 200);
    assert.notEqual((first.headers.connection ?? '').toLowerCase(), 'close');
    await raw.write(chatRequest('second on the same socket'));
    const responses = await raw.waitResponses(2);
    assert.equal(answerOf(responses[1]), 'echo: second on the same socket');
    assert.equal(raw.closed, false);
    // And a third, to be sure the connection is really reusable after a proxied request.
    await raw.write(GET_HEALTHZ);
    assert.equal((await raw.waitResponses(3))[2].status, 200);
    raw.destroy();
  });

  test('Connection: close: one response, then keel closes the socket', async () => {
    const raw = await rawTo(keel);
    await raw.write('GET /healthz HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n');
    const [r] = await raw.waitResponses(1);
    assert.equal(r.status, 200);
    assert.ok(await raw.waitClosed(1000), 'closed after the response');
  });

  test('pipelined requests on one socket are all answered, in order', async () => {
    const raw = await rawTo(keel);
    await raw.write(chatRequest('first') + GET_HEALTHZ + chatRequest('third'));
    const responses = await raw.waitResponses(3);
    assert.equal(responses.length, 3, raw.text());
    assert.equal(answerOf(responses[0]), 'echo: first');
    assert.equal(responses[1].status, 200);
    assert.deepEqual(responses[1].json, { status: 'ok' });
    assert.equal(answerOf(responses[2]), 'echo: third');
    assert.equal(raw.closed, false);
    raw.destroy();
  });

  test('a malformed request line: 400, then the socket is closed', async () => {
    const raw = await rawTo(keel);
    await raw.write('THIS IS NOT HTTP\r\n\r\n');
    const [r] = await raw.waitResponses(1);
    assert.equal(r.status, 400, raw.text());
    errorOf(r.json);
    assert.ok(await raw.waitClosed(1000), `closed after the 400:\n${raw.text()}`);
    assert.equal((await getText(keel, '/healthz')).status, 200, 'keel is still up');
  });

  test('Expect: 100-continue: "HTTP/1.1 100 Continue" comes before the body is sent', async () => {
    const raw = await rawTo(keel);
    const body = chatBody('after continue');
    await raw.write('POST /v1/chat/completions HTTP/1.1\r\nHost: keel\r\nContent-Type: application/json\r\n'
      + `Content-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`);
    const gotContinue = await waitFor(() => raw.all().some((r) => r.interim), 2000);
    assert.ok(gotContinue, `no 100 Continue before the body:\n${raw.text()}`);
    assert.ok(raw.text().startsWith('HTTP/1.1 100 Continue\r\n'), raw.text());
    assert.equal(raw.responses().length, 0);
    await raw.write(body);
    const [r] = await raw.waitResponses(1);
    assert.equal(answerOf(r), 'echo: after continue');
    raw.destroy();
  });

  test('a chunked request body is accepted', async () => {
    const raw = await rawTo(keel);
    const body = Buffer.from(chatBody('sent in chunks ✓'));
    await raw.write('POST /v1/chat/completions HTTP/1.1\r\nHost: keel\r\nContent-Type: application/json\r\n'
      + 'Transfer-Encoding: chunked\r\n\r\n');
    const cuts = [0, 7, 20, body.length];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const piece = body.subarray(cuts[i], cuts[i + 1]);
      await raw.write(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]));
      await sleep(20);
    }
    await raw.write('0\r\n\r\n');
    const [r] = await raw.waitResponses(1);
    assert.equal(answerOf(r), 'echo: sent in chunks ✓');
    const sent = fake.requestsFor('echo-srv');
    assert.deepEqual(sent[sent.length - 1].body.messages, [{ role: 'user', content: 'sent in chunks ✓' }]);
    raw.destroy();
  });

  test('a client that disconnects while the upstream hangs: the upstream request is closed within 1 s', async () => {
    const raw = await rawTo(keel);
    const hitsBefore = fake.hits('hang-srv');
    const cancelledBefore = fake.stats.cancelled;
    await raw.write(chatRequest('wait forever', { model: 'hanger' }));
    assert.ok(await waitFor(() => fake.hits('hang-srv') === hitsBefore + 1, 2000), 'the upstream got the request');
    await sleep(50);
    assert.equal(fake.stats.cancelled, cancelledBefore, 'still hanging');
    const t0 = Date.now();
    raw.destroy();
    const seen = await waitFor(() => fake.stats.cancelled > cancelledBefore, 1000);
    assert.ok(seen, `the fake saw the upstream request closed within 1 s (cancelled ${fake.stats.cancelled}, waited ${Date.now() - t0} ms)`);
  });

  // README: "A client that disconnects cancels the upstream request at once." That must hold
  // when the client has pipelined another request behind the hanging one, too.
  test('disconnect while the upstream hangs, with a pipelined request queued behind it: upstream closed within 1 s', async () => {
    const raw = await rawTo(keel);
    const hitsBefore = fake.hits('hang-srv');
    const cancelledBefore = fake.stats.cancelled;
    await raw.write(chatRequest('wait forever', { model: 'hanger' }) + GET_HEALTHZ);
    assert.ok(await waitFor(() => fake.hits('hang-srv') === hitsBefore + 1, 2000), 'the upstream got the request');
    await sleep(50);
    raw.destroy();
    const seen = await waitFor(() => fake.stats.cancelled > cancelledBefore, 1000);
    assert.ok(seen, 'the fake saw the upstream request closed within 1 s of the client going away '
      + '(keel does not watch for a disconnect when pipelined bytes are already buffered)');
  });

  test('disconnect while the upstream hangs, after sending a next request on the socket: upstream closed within 1 s', async () => {
    const raw = await rawTo(keel);
    const hitsBefore = fake.hits('hang-srv');
    const cancelledBefore = fake.stats.cancelled;
    await raw.write(chatRequest('wait forever', { model: 'hanger' }));
    assert.ok(await waitFor(() => fake.hits('hang-srv') === hitsBefore + 1, 2000), 'the upstream got the request');
    await raw.write(GET_HEALTHZ);
    await sleep(50);
    raw.destroy();
    const seen = await waitFor(() => fake.stats.cancelled > cancelledBefore, 1000);
    assert.ok(seen, 'the fake saw the upstream request closed within 1 s of the client going away '
      + '(keel stops watching for a disconnect once the client sends more bytes)');
  });

  test('HEAD: the response has no body, and the connection stays in sync', async () => {
    // RFC 9110 §9.3.2: a HEAD response carries no content. Bytes after the header block would be
    // read as the start of the next response on a keep-alive connection.
    const raw = await rawTo(keel);
    await raw.write('HEAD /healthz HTTP/1.1\r\nHost: keel\r\n\r\n');
    assert.ok(await waitFor(() => raw.text().includes('\r\n\r\n'), 2000), `a response header: ${raw.text()}`);
    await sleep(100);
    const text = raw.text();
    const head = text.slice(0, text.indexOf('\r\n\r\n') + 4);
    assert.match(head, /^HTTP\/1\.1 (200|405) /, text);
    assert.equal(text.slice(head.length), '', `no bytes after the HEAD response's header block:\n${JSON.stringify(text)}`);
    raw.destroy();
  });

  test('Transfer-Encoding that is not chunked: 400 and close (no request smuggling)', async () => {
    // RFC 9112 §6.3: a request whose Transfer-Encoding does not end in chunked MUST get 400 and
    // the connection closed; otherwise the body bytes are read as a next request.
    const raw = await rawTo(keel);
    await raw.write('POST /v1/chat/completions HTTP/1.1\r\nHost: keel\r\nContent-Type: application/json\r\n'
      + `Transfer-Encoding: gzip\r\n\r\n${GET_HEALTHZ}`);
    const [r] = await raw.waitResponses(1);
    assert.equal(r.status, 400, raw.text());
    errorOf(r.json);
    assert.ok(await raw.waitClosed(1000), `closed after the 400, without answering the smuggled request:\n${raw.text()}`);
    assert.equal(raw.responses().length, 1, raw.text());
  });

  test('Content-Length together with Transfer-Encoding: 400 and close', async () => {
    const raw = await rawTo(keel);
    const body = chatBody('cl+te');
    await raw.write('POST /v1/chat/completions HTTP/1.1\r\nHost: keel\r\nContent-Type: application/json\r\n'
      + `Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
    const [r] = await raw.waitResponses(1);
    assert.equal(r.status, 400, raw.text());
    assert.ok(await raw.waitClosed(1000), raw.text());
  });

  test('GET /v1/chat/completions: an OpenAI-shaped error naming the method', async () => {
    const r = await getText(keel, '/v1/chat/completions');
    assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
    const e = errorOf(JSON.parse(r.text));
    assert.match(e.message, /GET/, e.message);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  });

  test('GET /v1/chat/completions answers 405 Method Not Allowed, with Allow: POST', async () => {
    const r = await getText(keel, '/v1/chat/completions');
    assert.equal(r.status, 405, `wrong method must be 405 (RFC 9110 §15.5.6; OpenAI answers 405 too), got ${r.status}: ${r.text}`);
    assert.match(r.headers.get('allow') ?? '', /POST/, 'a 405 carries Allow');
  });

  test('unknown routes: 404, OpenAI-shaped', async () => {
    for (const [method, pathname] of [['GET', '/v1/nope'], ['POST', '/v2/chat/completions'], ['GET', '/nope']]) {
      const res = await fetch(`${keel.base}${pathname}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: method === 'POST' ? '{}' : undefined,
      });
      const text = await res.text();
      assert.equal(res.status, 404, `${method} ${pathname}: ${text}`);
      const e = errorOf(JSON.parse(text));
      assert.ok(e.message.includes(pathname), e.message);
    }
  });
});

describe('timeouts', () => {
  let keel;
  before(async () => {
    keel = await startServerKeel({ header_timeout_ms: 300, idle_timeout_ms: 300 },
      [model('echoer', 'echo-srv-t'), model('slow', 'slow-stream-4x150')]);
  });
  after(async () => {
    await keel?.stop();
    keel?.cleanup();
  });

  test('header timeout: half a request header, then silence: closed within ~1 s', async () => {
    const raw = await rawTo(keel);
    const t0 = await raw.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
    assert.ok(await raw.waitClosed(1500), 'keel closed the socket');
    const elapsed = raw.closedAt - t0;
    assert.ok(elapsed < 1000, `closed after ${elapsed} ms`);
    assert.ok(elapsed >= 200, `not before the timeout (${elapsed} ms)`);
    for (const r of raw.responses()) assert.equal(r.status, 408, raw.text());
  });

  test('header timeout is for the whole header: a byte every 50 ms does not keep it open', async () => {
    const raw = await rawTo(keel);
    const t0 = Date.now();
    const header = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    for (let i = 0; i < header.length && !raw.closed && Date.now() - t0 < 2000; i++) {
      raw.socket.write(header[i]);
      await sleep(50);
    }
    assert.ok(raw.closed, 'keel closed the trickling socket');
    assert.ok(raw.closedAt - t0 < 1000, `closed after ${raw.closedAt - t0} ms`);
  });

  test('idle timeout: a keep-alive socket left idle after a response is closed within ~1 s', async () => {
    const raw = await rawTo(keel);
    await raw.write(GET_HEALTHZ);
    await raw.waitResponses(1);
    const t0 = Date.now();
    assert.ok(await raw.waitClosed(1500), 'keel closed the idle socket');
    assert.ok(raw.closedAt - t0 < 1000, `closed after ${raw.closedAt - t0} ms`);
    assert.ok(raw.closedAt - t0 >= 200, `not before the timeout (${raw.closedAt - t0} ms)`);
  });

  test('idle timeout: a socket that never sends anything is closed within ~1 s', async () => {
    const raw = await rawTo(keel);
    const t0 = Date.now();
    assert.ok(await raw.waitClosed(1500), 'keel closed the silent socket');
    assert.ok(raw.closedAt - t0 < 1000, `closed after ${raw.closedAt - t0} ms`);
  });

  test('a request that takes longer than the idle timeout is not cut by it', async () => {
    // slow-stream-4x150: the upstream answers after 600 ms, twice the idle and header timeouts.
    const raw = await rawTo(keel);
    await raw.write(chatRequest('slow', { model: 'slow' }));
    const [r] = await raw.waitResponses(1, 3000);
    assert.equal(r.status, 200, r.body);
  });
});

describe('max_in_flight', () => {
  let keel;
  before(async () => {
    keel = await startKeel({
      providers: [fakeProvider('up', fake)],
      models: [model('echoer', 'echo-lim'), model('hanger', 'hang-lim')],
      extra: { server: { max_body_bytes: 8388608, shutdown_grace_ms: 500, max_in_flight: 2 } },
    });
  });
  after(async () => {
    await keel?.stop();
    keel?.cleanup();
  });

  test('max_in_flight: 2 with 3 hanging requests: the 3rd gets 503 at once, /healthz stays 200', async () => {
    const a = await rawTo(keel);
    const b = await rawTo(keel);
    await a.write(chatRequest('one', { model: 'hanger' }));
    await b.write(chatRequest('two', { model: 'hanger' }));
    assert.ok(await waitFor(() => fake.hits('hang-lim') === 2, 2000), 'both reached the upstream');

    const t0 = Date.now();
    const third = await postJSON(keel, '/v1/chat/completions', JSON.parse(chatBody('three', 'hanger')),
      { signal: AbortSignal.timeout(3000) });
    const took = Date.now() - t0;
    assert.equal(third.status, 503, third.text);
    assert.ok(took < 500, `refused at once (${took} ms)`);
    const e = errorOf(third.json);
    assert.match(e.message, /overload|in flight/i, e.message);
    assert.equal(fake.hits('hang-lim'), 2, 'the refused request never reached the upstream');

    const health = await getText(keel, '/healthz');
    assert.equal(health.status, 200);

    // Free one slot: a next request gets through (once keel has noticed the disconnect).
    a.destroy();
    let fourth;
    assert.ok(await waitFor(async () => {
      fourth = await postJSON(keel, '/v1/chat/completions', JSON.parse(chatBody('four', 'echoer')),
        { signal: AbortSignal.timeout(3000) });
      return fourth.status === 200;
    }, 2000, 50), `a freed slot is usable again: ${fourth?.status} ${fourth?.text}`);
    assert.equal(fourth.json.choices[0].message.content, 'echo: four');
    b.destroy();
  });
});
