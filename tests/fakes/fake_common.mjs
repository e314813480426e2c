// Plumbing shared by the fake upstreams (fake_openai.mjs, fake_anthropic.mjs, fake_gemini.mjs):
// the HTTP(S) server on 127.0.0.1 port 0, body reading, socket and timer tracking, cancel
// counting (stats.cancelled), JSON and SSE writing, the failure behaviours every fake has
// (hang, stall, close-before-first, close-mid-stream, garbage, slow-stream, flaky, rate-429
// with Retry-After) and the common parts of the object each start function returns.
import http from 'node:http';
import https from 'node:https';
import { createHash } from 'node:crypto';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Waits until pred() is true, polling; false if it is still false after timeoutMs.
export async function waitFor(pred, timeoutMs = 1000, stepMs = 10) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pred()) return true;
    await sleep(stepMs);
  }
  return pred();
}

// Splits text into pieces of 6 whole code points (never splitting a surrogate pair).
export function splitText(text) {
  const chars = Array.from(text);
  const pieces = [];
  for (let i = 0; i < chars.length; i += 6) pieces.push(chars.slice(i, i + 6).join(''));
  return pieces.length ? pieces : [''];
}

// The behaviours with parameters in the name, shared by every fake: flaky-N, slow-stream[-NxM],
// rate-429[-raN]. Null when the name asks for none of them.
export function parametricBehaviour(name) {
  let m;
  if ((m = /^flaky-(\d+)/.exec(name))) return { kind: 'flaky', failures: Number(m[1]) };
  if ((m = /^slow-stream(?:-(\d+)x(\d+))?/.exec(name))) {
    return { kind: 'slow-stream', count: m[1] ? Number(m[1]) : 100, intervalMs: m[2] ? Number(m[2]) : 100 };
  }
  if (name.startsWith('rate-429')) {
    const ra = /-ra(\d+)/.exec(name);
    return { kind: 'rate-429', retryAfter: ra ? Number(ra[1]) : 1 };
  }
  return null;
}

// The first of kinds that name starts with, else ok.
export function prefixBehaviour(name, kinds) {
  for (const kind of kinds) {
    if (name.startsWith(kind)) return { kind };
  }
  return { kind: 'ok' };
}

// Counts one request for model in stats.hits.
export function countHit(stats, model) {
  stats.hits[model] = (stats.hits[model] ?? 0) + 1;
}

// True when a flaky-N behaviour should still fail this request.
export function flakyFails(stats, model, behaviour) {
  return stats.hits[model] <= behaviour.failures;
}

export function retryAfterHeaders(behaviour) {
  return { 'retry-after': String(behaviour.retryAfter) };
}

// Writes obj as a JSON response with content-type and content-length, then `headers`.
export function sendJSON(res, status, obj, headers = {}, contentType = 'application/json') {
  const text = JSON.stringify(obj);
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

// A writer that drops text once the response is destroyed.
export function writerFor(res) {
  return (text) => {
    if (!res.destroyed) res.write(text);
  };
}

// garbage*: an unparseable body, as an event stream or as JSON.
export function sendGarbage(res, streaming, sseHeaders, sseBody, jsonContentType = 'application/json') {
  if (streaming) {
    res.writeHead(200, sseHeaders);
    res.end(sseBody);
  } else {
    res.writeHead(200, { 'content-type': jsonContentType });
    res.end('this is not json{{{');
  }
}

// The server, its sockets and timers, and the helpers bound to them.
//   stats: the fake's stats object (connections and cancelled are counted here; with tls,
//          tlsErrors and servernames too).
//   onRequest(req, res, raw, body): called once the body is read; returns a promise.
//   onCrash(res, err): answers when that promise rejects before the headers went out.
export function createFakeServer({ stats, tls = null, onRequest, onCrash }) {
  const sockets = new Set();
  const timers = new Set();

  const handler = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body = null;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw);
        } catch {
          body = null;
        }
      }
      onRequest(req, res, raw, body).catch((err) => {
        if (!res.headersSent) onCrash(res, err);
        else res.destroy();
      });
    });
  };
  const server = tls
    ? https.createServer({ key: tls.key, cert: tls.cert }, handler)
    : http.createServer(handler);
  if (tls) {
    server.on('tlsClientError', (err) => stats.tlsErrors.push(err.message));
    server.on('secureConnection', (socket) => stats.servernames.push(socket.servername || null));
  }
  server.keepAliveTimeout = 5000;
  server.on('connection', (socket) => {
    stats.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  function later(ms, fn) {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  }

  // Counts a response the client abandoned before the fake finished it (and stamps
  // res.fakeEntry.cancelledAt, when the fake set res.fakeEntry).
  function watchCancel(res) {
    const state = { done: false };
    res.on('close', () => {
      if (!state.done && !res.writableFinished) {
        stats.cancelled++;
        if (res.fakeEntry) res.fakeEntry.cancelledAt = Date.now();
      }
    });
    return state;
  }

  function kill(res, state) {
    if (state) state.done = true;
    res.socket?.destroy();
    res.destroy();
  }

  // hang*: never answers; close() or the client ends it.
  function hang(res) {
    watchCancel(res);
  }

  // close-before-first*: streams get event-stream headers, then the socket is destroyed;
  // anything else: the socket is destroyed at once.
  function closeBeforeFirst(res, streaming, sseContentType) {
    if (streaming) {
      const state = watchCancel(res);
      res.writeHead(200, { 'content-type': sseContentType, 'cache-control': 'no-cache' });
      res.flushHeaders();
      later(20, () => kill(res, state));
    } else {
      kill(res, null);
    }
  }

  // stall* (non-stream): headers only, then nothing.
  function stallWhole(res, contentType) {
    watchCancel(res);
    res.writeHead(200, { 'content-type': contentType });
    res.flushHeaders();
  }

  // close-mid-stream* (non-stream): half of obj's JSON, then the socket is destroyed.
  function halfBodyThenClose(res, obj, contentType) {
    const text = JSON.stringify(obj);
    res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
    res.write(text.slice(0, Math.floor(text.length / 2)));
    later(30, () => kill(res, { done: true }));
  }

  // slow-stream* (non-stream): answers after count * intervalMs.
  function answerLater(res, behaviour, send) {
    const state = watchCancel(res);
    later(behaviour.count * behaviour.intervalMs, () => {
      state.done = true;
      if (!res.destroyed) send();
    });
  }

  // Starts an event stream: counts it as cancelled if abandoned; returns {state, write}.
  function openStream(res, headers) {
    const state = watchCancel(res);
    res.writeHead(200, headers);
    res.flushHeaders();
    return { state, write: writerFor(res) };
  }

  // close-mid-stream* (streams): the `first` texts, 20 ms later `second`, 50 ms later the socket
  // is destroyed.
  function closeMidStream(res, state, first, second) {
    const write = writerFor(res);
    for (const text of first) write(text);
    later(20, () => {
      write(second);
      later(50, () => kill(res, state));
    });
  }

  async function listen() {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    return server.address().port;
  }

  async function close() {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(() => resolve()));
  }

  return {
    server, later, watchCancel, kill, hang, closeBeforeFirst, stallWhole, halfBodyThenClose, answerLater,
    openStream, closeMidStream, listen, close,
  };
}

// The members every fake's handle shares: hits, lastRequest, reset, close.
export function commonApi({ requests, stats, fake, onReset = () => {} }) {
  return {
    hits(model) {
      return stats.hits[model] ?? 0;
    },
    lastRequest() {
      return requests[requests.length - 1];
    },
    reset() {
      requests.length = 0;
      stats.cancelled = 0;
      stats.hits = {};
      onReset();
    },
    close: fake.close,
  };
}

// --- answers that follow a schema (the fakes' schema* behaviour) ------------------------------
// A value that a JSON Schema accepts, the way a model following it would write it: an object's
// properties in the schema's order (Gemini-style schemas: uppercase types, and properties in
// propertyOrdering's order when given, else alphabetical, as Gemini answers), the first enum
// value, the first non-null branch of anyOf/oneOf, one item per array, "<name>" for a string.
export function instanceOf(schema, root = schema, name = 'value', depth = 0) {
  if (!schema || typeof schema !== 'object' || depth > 20) return null;
  if (typeof schema.$ref === 'string') {
    const path = schema.$ref.replace(/^#\/?/, '').split('/').filter(Boolean);
    let target = root;
    for (const part of path) target = target?.[part];
    return instanceOf(target, root, name, depth + 1);
  }
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const branches = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(branches)) {
    const branch = branches.find((b) => b && b.type !== 'null' && b.type !== 'NULL') ?? branches[0];
    return instanceOf(branch, root, name, depth + 1);
  }
  if (Array.isArray(schema.allOf)) {
    return Object.assign({}, ...schema.allOf.map((s) => instanceOf(s, root, name, depth + 1) ?? {}));
  }
  let type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  if (!type && schema.properties) type = 'object';
  if (!type && schema.items) type = 'array';
  switch (String(type ?? '').toLowerCase()) {
    case 'object': {
      const properties = schema.properties ?? {};
      let names = Object.keys(properties);
      if (typeof schema.type === 'string' && schema.type === 'OBJECT') {
        names = Array.isArray(schema.propertyOrdering) ? schema.propertyOrdering : [...names].sort();
      }
      const out = {};
      for (const key of names) out[key] = instanceOf(properties[key], root, key, depth + 1);
      return out;
    }
    case 'array':
      return [instanceOf(schema.items, root, name, depth + 1)].filter((v) => v !== null);
    case 'string':
      return `<${name}>`;
    case 'integer':
      return 1;
    case 'number':
      return 1.5;
    case 'boolean':
      return true;
    default:
      return {};
  }
}

// The last JSON Schema of an object (a JSON object text holding "properties") in `text`, as
// clients in JSON mode put it in the prompt; null when there is none.
export function schemaInText(text) {
  const s = String(text ?? '');
  for (let at = s.lastIndexOf('{'); at >= 0; at = s.lastIndexOf('{', at - 1)) {
    let depth = 0;
    let inString = false;
    for (let i = at; i < s.length; i++) {
      const c = s[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
      } else if (c === '"') {
        inString = true;
      } else if (c === '{') {
        depth++;
      } else if (c === '}' && --depth === 0) {
        try {
          const value = JSON.parse(s.slice(at, i + 1));
          if (value && typeof value === 'object' && value.properties) return value;
        } catch {
          // not JSON: keep looking
        }
        break;
      }
    }
    if (at === 0) break;
  }
  return null;
}

// toolloop*: a model that works through a script of tool calls, one per turn, then answers with
// what the tools said. Each step runs only when the request offers its tool and no earlier turn
// of the conversation has its result; once every offered step has a result, the answer is
// `tool said: <each result's text, joined by " | ">`. "toolloop-badargs" sends the calculator
// arguments its schema refuses.
export const TOOL_LOOP_SCRIPT = [
  { name: 'calculator', arguments: { expression: '6*7' } },
  { name: 'echo', arguments: { message: 'hi from the model' } },
  { name: 'get_weather', arguments: { city: 'Paris' } },
  { name: 'grow', arguments: {} },
  { name: 'crash', arguments: {} },
  // Jira's createIssue (tests/e2e/copilots.test.mjs: a copilot files an issue).
  { name: 'createIssue', arguments: { body: { fields: { summary: 'VPN is down', project: { key: 'KEEL' }, issuetype: { name: 'Bug' } } } } },
  { name: 'jira_search_issues', arguments: { jql: 'project = KEEL', fields: ['summary', 'status'] } },
  // The Responses API's file_search tool as keel offers it (tests/e2e/file_search.test.mjs).
  { name: 'file_search', arguments: { query: 'when does the alpha service restart' } },
];

// The next scripted call, {name, arguments (object)}, or null when every offered step is done.
// `offered`: the request's tool names; `done`: names of the tools whose results it holds.
export function nextToolLoopCall(model, offered, done) {
  const offeredSet = new Set(offered);
  const doneSet = new Set(done);
  const step = TOOL_LOOP_SCRIPT.find((s) => offeredSet.has(s.name) && !doneSet.has(s.name));
  if (!step) return null;
  if (String(model).includes('badargs') && step.name === 'calculator') {
    return { name: step.name, arguments: { expr: '6*7' } };
  }
  return step;
}

// --- documents (docs* in every fake) --------------------------------------------------------

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// The bytes of standard, padded base64 text; null when it is not that (the vendors reject it).
export function strictBase64(text) {
  if (typeof text !== 'string' || !BASE64_RE.test(text)) return null;
  return Buffer.from(text, 'base64');
}

// {mediaType, bytes} of a data URL "data:<media type>;base64,<data>"; null when it is not one.
export function dataUrlBytes(url) {
  const m = typeof url === 'string' ? /^data:([^;,]+);base64,(.*)$/s.exec(url) : null;
  const bytes = m ? strictBase64(m[2]) : null;
  return bytes ? { mediaType: m[1], bytes } : null;
}

// What docs* answers: "documents: " and a JSON array describing each document the request
// carried, in order, as the fake received it ({mediaType, bytes: Buffer, name}): its media type,
// name (filename or title; null when none), byte length and SHA-256 of its bytes, and the first
// 40 characters of a text document, so that a test proves the document arrived intact.
export function documentsAnswer(docs) {
  return `documents: ${JSON.stringify(docs.map((d) => ({
    media_type: d.mediaType,
    name: d.name ?? null,
    bytes: d.bytes.length,
    sha256: createHash('sha256').update(d.bytes).digest('hex'),
    text: d.mediaType.startsWith('text/') ? d.bytes.toString('utf8').slice(0, 40) : null,
  })))}`;
}

// The array documentsAnswer wrote.
export function parseDocuments(answer) {
  const m = /^documents: (.*)$/s.exec(answer ?? '');
  if (!m) throw new Error(`not a docs* answer: ${answer}`);
  return JSON.parse(m[1]);
}
