// A fake Anthropic Messages API upstream that fails on purpose, for keel's end-to-end tests.
//
//   import { startFakeAnthropic } from '../fakes/fake_anthropic.mjs';
//   const fake = await startFakeAnthropic({ apiKey: 'sk-ant' });   // 127.0.0.1, ephemeral port
//   // keel provider: {kind: anthropic, base_url: fake.url (http://127.0.0.1:PORT), api_key}
//   fake.requests    // every request: {seq, at, method, path, query, headers, body, raw}
//   fake.stats.hits  // {model: number of requests that named it}
//   fake.stats.cancelled  // responses whose client went away before the fake finished
//   await fake.close();
//
// Wire format: the official `@anthropic-ai/sdk` 1.14.0 types (resources/messages/messages.d.ts):
// POST /v1/messages answers a `Message` ({id, type: "message", role, model, content: [TextBlock |
// ToolUseBlock], stop_reason, stop_sequence, stop_details, container, diagnostics, usage}); with
// "stream": true the SSE sequence message_start, content_block_start, ping, content_block_delta
// (text_delta | input_json_delta, the first one of a tool_use an empty "" piece, as Anthropic
// sends), content_block_stop, ..., message_delta (stop_reason, usage), message_stop, each as
// `event: <type>\ndata: <json>\n\n`. Errors: {"type": "error", "error": {"type", "message"},
// "request_id"} with the status Anthropic uses (400 invalid_request_error, 401
// authentication_error, 404 not_found_error, 429 rate_limit_error, 500 api_error, 529
// overloaded_error), and mid-stream as `event: error`.
//
// Every request must carry `x-api-key` (and, when {apiKey} is given, exactly that key: else 401
// authentication_error) and `anthropic-version` (else 400). The body is checked the way the real
// API checks it (else 400 invalid_request_error naming the field): model, max_tokens (positive
// integer) and messages (non-empty) required; no unknown top-level fields ("Extra inputs are not
// permitted": so an OpenAI-only field leaking through is caught); roles user/assistant only;
// non-empty text blocks; tool_use only in assistant turns with ids matching ^[a-zA-Z0-9_-]+$
// and object inputs; tool_result only in user turns, first in their turn, each bound to a tool_use
// of the turn just before, and every tool_use answered in the very next turn; temperature in
// [0, 1]; tool names ^[a-zA-Z0-9_-]{1,128}$ with an object input_schema; tool_choice shapes.
//
// The behaviour is picked by the `model` in the body (prefixes, so tests keep their own counters):
//   ok (and anything unlisted)  text "Hello from anthropic" (streamed in 3 pieces), end_turn,
//                               usage input 11, output 6, cache_read 2 (OpenAI: 13 / 6 / 19)
//   echo*                       text "echo: <text blocks of the last user turn>", then, when the
//                               request held tool_result blocks, "\n[tool_results] <JSON array of
//                               {tool_use_id, name, content, is_error}>" (name: from the matching
//                               tool_use in the request; content flattened to text). See
//                               parseEcho().
//   usage-classic*              as ok, but streamed the way the API did before 2025: message_start
//                               carries input and cache counts, message_delta.usage only
//                               {output_tokens}
//   tools*                      two parallel tool_use blocks toolu_01 / toolu_02, get_weather
//                               {"city":"Paris"} / {"city":"Tokyo"}, stop_reason tool_use;
//                               streamed input_json_delta "" + 3 pieces each
//   tools-text*                 the same after a text block "Let me check."
//   tools-noargs*               one tool_use toolu_03 get_time with input {}; streamed with a
//                               single empty input_json_delta "" (nothing to stream)
//   agent*                      a one-step agent: without tool_result blocks, one tool_use of Bash
//                               {"command": "echo keel-agent-ok", ...} (ANTHROPIC_AGENT_USE), or
//                               exec_command {"cmd": ...} when offered (Codex CLI's); with
//                               them, text "tool said: <the last tool_result's text>"
//   max-tokens*                 text "Hello from", stop_reason max_tokens
//   stop-seq*                   text "Hello", stop_reason stop_sequence, stop_sequence = the first
//                               of the request's stop_sequences (or "END")
//   refusal*                    no content, stop_reason refusal, stop_details {type: refusal}
//   toolloop*                   works through TOOL_LOOP_SCRIPT (fake_common.mjs): one tool_use per
//                               turn, then text "tool said: <the tool_results>"
//   docs*                       text "documents: <JSON array>": each document block the request
//                               carried, as documentsAnswer (fake_common.mjs) describes it (name:
//                               its title); document blocks are checked as the API checks them
//   fail-500*                   500 api_error
//   overloaded*, fail-529*      529 overloaded_error
//   fail-400*                   400 invalid_request_error "messages.0.content: the fake says no
//                               (fail-400)"
//   fail-401*                   401 authentication_error
//   rate-429*                   429 rate_limit_error, retry-after: 1 (or N with "-raN")
//   flaky-N*                    the first N requests for that exact name get 529, then ok
//   hang*                       accepts and never answers, until the client goes away
//   stall*                      streams: message_start + ping, then nothing; else headers only
//   close-before-first*         streams: 200 event-stream headers, then the socket is destroyed;
//                               non-stream: socket destroyed
//   close-mid-stream*           streams: message_start, a text block with "Hello", " from", then
//                               the socket is destroyed; non-stream: half a body, destroyed
//   stream-overloaded*          streams: message_start, ping, then `event: error`
//                               overloaded_error (before any content); non-stream: 529
//   error-after-text*           streams: message_start, text "Hello", " from", then an `error`
//                               event (overloaded_error); non-stream: 529
//   garbage*                    200 application/json "this is not json{{{"; streams: 200
//                               event-stream with `event: message_start\ndata: not-json`
//   schema*                     follows the request as a model would: forced tools, parallel
//                               calls unless disable_parallel_tool_use, output_config.format's
//                               schema (see schemaAnswer())
//   slow-stream*                one text delta every 100 ms for 100 deltas; "slow-stream-NxM":
//                               N deltas every M ms; non-stream: answers after N*M ms
// POST /v1/messages/count_tokens answers a `MessageTokensCount` ({input_tokens}): countTokensOf()
// of the body, a stand-in tokenizer (a quarter of the JSON length of system, messages and tools).
// Its body is checked like a Messages body but against MessageCountTokensParams' fields (so
// max_tokens, stream or sampling fields are "Extra inputs are not permitted"); the failure
// behaviours above (fail-*, overloaded*, rate-429*, flaky-N*, hang*, garbage*) apply to it too.
// Any other path: 404 not_found_error.
//
// Extended thinking, as Anthropic documents it (build-with-claude/extended-thinking): with
// `thinking` {type: "enabled", budget_tokens >= 1024 and < max_tokens} or {type: "adaptive"}
// every answer starts with a `thinking` block ({thinking, signature}; streamed as
// content_block_start with empty thinking and signature, thinking_delta pieces, one
// signature_delta); a model whose name contains "redact" puts a `redacted_thinking` block
// ({data}) before it. Signatures are the fake's own (thinkingSignature: a hash of the thinking
// with the fake's secret), and thinking blocks that come back in assistant turns must carry a
// signature the fake made for that very text (else 400 "Invalid `signature` in `thinking`
// block"), so a client or gateway that alters a byte of them is caught. With thinking on, an
// assistant turn whose tool_use is answered by the last user turn must start with a thinking
// or redacted_thinking block, as the real API demands.
import { createHash } from 'node:crypto';
import {
  createFakeServer, commonApi, sendJSON as writeJSON, sendGarbage, splitText, parametricBehaviour,
  prefixBehaviour, countHit, flakyFails, retryAfterHeaders, instanceOf, schemaInText, nextToolLoopCall,
  strictBase64, documentsAnswer,
} from './fake_common.mjs';

export { waitFor } from './fake_common.mjs';

export const ANTHROPIC_TEXT = 'Hello from anthropic';
export const ANTHROPIC_TEXT_CHUNKS = ['Hello', ' from', ' anthropic'];
// What the fake reports (Anthropic's input_tokens excludes cache reads and writes).
export const ANTHROPIC_USAGE = { input_tokens: 11, output_tokens: 6, cache_read_input_tokens: 2, cache_creation_input_tokens: 0 };
// What an OpenAI client should see for it: prompt = input + cache_read + cache_creation.
export const ANTHROPIC_OPENAI_USAGE = { prompt_tokens: 13, completion_tokens: 6, total_tokens: 19, cached_tokens: 2 };
export const ANTHROPIC_TOOL_USES = [
  { id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } },
  { id: 'toolu_02', name: 'get_weather', input: { city: 'Tokyo' } },
];
export const ANTHROPIC_TOOLS_PREFACE = 'Let me check.';
// What agent* calls (a tool Claude Code has, with a harmless command).
export const ANTHROPIC_AGENT_USE = { id: 'toolu_agent', name: 'Bash', input: { command: 'echo keel-agent-ok', description: 'Print a marker' } };
// What agent* calls when the request offers Codex CLI's command tool, exec_command, instead.
export const ANTHROPIC_CODEX_AGENT_USE = { id: 'toolu_agent', name: 'exec_command', input: { cmd: 'echo keel-agent-ok' } };

const KNOWN_FIELDS = new Set([
  'model', 'messages', 'max_tokens', 'system', 'temperature', 'top_p', 'top_k', 'stop_sequences',
  'stream', 'metadata', 'tools', 'tool_choice', 'thinking', 'service_tier', 'output_config',
  'output_format', 'container', 'mcp_servers', 'context_management', 'inference_geo', 'speed',
]);
// MessageCountTokensParams (@anthropic-ai/sdk 1.14.0).
const COUNT_FIELDS = new Set([
  'model', 'messages', 'system', 'tools', 'tool_choice', 'thinking', 'output_config', 'cache_control', 'speed',
  'user_profile_id', 'workspace_id',
]);
const ID_RE = /^[a-zA-Z0-9_-]+$/;

const THINKING_SECRET = 'fake-anthropic-thinking-secret';
// The fake's signature of a thinking block's text.
export function thinkingSignature(thinking) {
  return createHash('sha256').update(`${THINKING_SECRET}\0${thinking}`).digest('base64');
}
// What a redacted_thinking block carries: opaque, and checkable by the fake.
export const REDACTED_THINKING_DATA = `EmwKAhgB${thinkingSignature('redacted')}`;
export function thinkingOf(body) {
  return Array.from(`Thinking about: ${lastUserText(body.messages)}`).slice(0, 200).join('');
}
function thinkingOn(body) {
  return body.thinking?.type === 'enabled' || body.thinking?.type === 'adaptive';
}

function validateThinking(body) {
  const t = body.thinking;
  if (t === undefined) return null;
  if (t === null || typeof t !== 'object') return 'thinking: Input should be a valid dictionary';
  if (t.type === 'enabled') {
    if (!Number.isInteger(t.budget_tokens)) return 'thinking.enabled.budget_tokens: Field required';
    if (t.budget_tokens < 1024) return 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024';
    if (body.max_tokens !== undefined && t.budget_tokens >= body.max_tokens) return '`max_tokens` must be greater than `thinking.budget_tokens`';
  } else if (t.type !== 'adaptive' && t.type !== 'disabled') {
    return "thinking: Input tag does not match any of the expected tags: 'adaptive', 'disabled', 'enabled'";
  }
  for (const key of Object.keys(t)) {
    if (!['type', 'budget_tokens', 'display'].includes(key)) return `thinking.${key}: Extra inputs are not permitted`;
  }
  if (t.display !== undefined && t.display !== null && !['summarized', 'omitted'].includes(t.display)) return 'thinking.display: Input should be \'summarized\' or \'omitted\'';
  return null;
}

// The fake's token count for a count_tokens body: deterministic, and it grows with the content.
export function countTokensOf(body) {
  return Math.ceil(JSON.stringify([body.system ?? null, body.messages, body.tools ?? null]).length / 4);
}
const TOOL_NAME_RE = /^[a-zA-Z0-9_-]{1,128}$/;

// Splits an echo answer into {text, toolResults} (toolResults: [] when the request had none).
export function parseEcho(answer) {
  const s = String(answer ?? '');
  const at = s.indexOf('\n[tool_results] ');
  if (at < 0) return { text: s, toolResults: [] };
  return { text: s.slice(0, at), toolResults: JSON.parse(s.slice(at + '\n[tool_results] '.length)) };
}

export function anthropicErrorBody(type, message, requestId = null) {
  return { type: 'error', error: { type, message }, request_id: requestId };
}

export function behaviourOf(model) {
  const name = typeof model === 'string' ? model : '';
  const param = parametricBehaviour(name);
  if (param) return param;
  if (name.startsWith('fail-529')) return { kind: 'overloaded' };
  return prefixBehaviour(name, ['fail-500', 'fail-400', 'fail-401', 'overloaded', 'hang', 'stall', 'close-before-first',
    'close-mid-stream', 'stream-overloaded', 'error-after-text', 'garbage', 'echo', 'tools-text', 'tools-noargs', 'tools',
    'max-tokens', 'stop-seq', 'refusal', 'usage-classic', 'agent', 'schema', 'toolloop', 'docs']);
}

function blocksOf(content) {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return Array.isArray(content) ? content : [];
}

function flattenToolResult(content) {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((b) => (b && b.type === 'text' ? b.text : `[${b?.type}]`)).join('');
  return JSON.stringify(content);
}

function lastUserText(messages) {
  for (let i = messages.length - 1; i >= 0; i--) {
    const msg = messages[i];
    if (msg?.role !== 'user') continue;
    return blocksOf(msg.content).filter((b) => b?.type === 'text').map((b) => b.text).join('');
  }
  return '';
}

let toolLoopSeq = 0;   // toolloop*'s tool_use ids, unique per process

function toolResultsOf(messages) {
  const names = {};
  for (const msg of messages) {
    for (const b of blocksOf(msg?.content)) if (b?.type === 'tool_use') names[b.id] = b.name;
  }
  const out = [];
  for (const msg of messages) {
    for (const b of blocksOf(msg?.content)) {
      if (b?.type !== 'tool_result') continue;
      out.push({ tool_use_id: b.tool_use_id, name: names[b.tool_use_id] ?? null, content: flattenToolResult(b.content), is_error: b.is_error === true });
    }
  }
  return out;
}

// A DocumentBlockParam (@anthropic-ai/sdk resources/messages/messages.d.ts) as the API checks
// it: source Base64PDFSource {type: base64, media_type: application/pdf, data: base64} or
// PlainTextSource {type: text, media_type: text/plain, data}; URL and content sources are not
// served by this fake. title and context strings or null, citations {enabled?: boolean} or null.
function documentError(b, where) {
  for (const key of Object.keys(b)) {
    if (!['type', 'source', 'title', 'context', 'citations', 'cache_control'].includes(key)) return `${where}.document.${key}: Extra inputs are not permitted`;
  }
  const src = b.source;
  if (src === null || typeof src !== 'object') return `${where}.document.source: Field required`;
  if (src.type === 'base64') {
    if (src.media_type !== 'application/pdf') return `${where}.document.source.base64.media_type: Input should be 'application/pdf'`;
    if (strictBase64(src.data) === null) return `${where}.document.source.base64.data: The PDF specified was not valid base64.`;
  } else if (src.type === 'text') {
    if (src.media_type !== 'text/plain') return `${where}.document.source.text.media_type: Input should be 'text/plain'`;
    if (typeof src.data !== 'string') return `${where}.document.source.text.data: Input should be a valid string`;
  } else {
    return `${where}.document.source: Input tag '${src.type}' found using 'type' does not match any of the expected tags: 'base64', 'text' (this fake)`;
  }
  for (const key of Object.keys(src)) {
    if (!['type', 'media_type', 'data'].includes(key)) return `${where}.document.source.${src.type}.${key}: Extra inputs are not permitted`;
  }
  for (const key of ['title', 'context']) {
    if (b[key] !== undefined && b[key] !== null && typeof b[key] !== 'string') return `${where}.document.${key}: Input should be a valid string`;
  }
  if (b.citations !== undefined && b.citations !== null) {
    if (typeof b.citations !== 'object' || Object.keys(b.citations).some((k) => k !== 'enabled')) return `${where}.document.citations: Input should be a valid dictionary with only 'enabled'`;
    if (b.citations.enabled !== undefined && typeof b.citations.enabled !== 'boolean') return `${where}.document.citations.enabled: Input should be a valid boolean`;
  }
  return null;
}

// The documents of every user turn, as documentsAnswer (fake_common.mjs) describes them.
function documentsOf(messages) {
  const out = [];
  for (const msg of messages) {
    for (const b of blocksOf(msg?.content)) {
      if (b?.type !== 'document') continue;
      const text = b.source.type === 'text';
      out.push({ mediaType: b.source.media_type, bytes: text ? Buffer.from(b.source.data, 'utf8') : strictBase64(b.source.data), name: b.title ?? null });
    }
  }
  return out;
}

// Returns an error message when the body is not a request the real API would take.
export function validateMessagesRequest(body) {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'Invalid JSON body';
  for (const key of Object.keys(body)) {
    if (!KNOWN_FIELDS.has(key)) return `${key}: Extra inputs are not permitted`;
  }
  if (typeof body.model !== 'string' || body.model === '') return 'model: Field required';
  if (body.max_tokens === undefined) return 'max_tokens: Field required';
  if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) return 'max_tokens: Input should be a valid positive integer';
  if (!Array.isArray(body.messages)) return 'messages: Field required';
  if (body.messages.length === 0) return 'messages: at least one message is required';
  if (body.temperature !== undefined && (typeof body.temperature !== 'number' || body.temperature < 0 || body.temperature > 1)) {
    return 'temperature: range: 0..1';
  }
  if (body.top_p !== undefined && (typeof body.top_p !== 'number' || body.top_p < 0 || body.top_p > 1)) return 'top_p: range: 0..1';
  if (body.top_k !== undefined && (!Number.isInteger(body.top_k) || body.top_k < 0)) return 'top_k: Input should be a valid integer';
  if (body.stop_sequences !== undefined) {
    if (!Array.isArray(body.stop_sequences)) return 'stop_sequences: Input should be a valid list';
    for (const [i, s] of body.stop_sequences.entries()) {
      if (typeof s !== 'string' || s.trim() === '') return `stop_sequences.${i}: each stop sequence must contain non-whitespace`;
    }
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean') return 'stream: Input should be a valid boolean';
  if (body.system !== undefined) {
    if (Array.isArray(body.system)) {
      for (const [i, b] of body.system.entries()) {
        if (b?.type !== 'text' || typeof b.text !== 'string') return `system.${i}: Input tag '${b?.type}' found using 'type' does not match any of the expected tags: 'text'`;
        if (b.text === '') return 'system: text content blocks must be non-empty';
      }
    } else if (typeof body.system !== 'string') {
      return 'system: Input should be a valid string or list';
    }
  }
  if (body.metadata !== undefined) {
    if (body.metadata === null || typeof body.metadata !== 'object') return 'metadata: Input should be a valid dictionary';
    for (const key of Object.keys(body.metadata)) if (key !== 'user_id') return `metadata.${key}: Extra inputs are not permitted`;
  }
  const toolNames = new Set();
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return 'tools: Input should be a valid list';
    for (const [i, t] of body.tools.entries()) {
      if (t === null || typeof t !== 'object') return `tools.${i}: Input should be a valid dictionary`;
      if (t.type !== undefined && t.type !== 'custom') return `tools.${i}: unsupported tool type ${t.type} in this fake`;
      for (const key of Object.keys(t)) {
        if (!['type', 'name', 'description', 'input_schema', 'cache_control', 'strict', 'input_examples', 'eager_input_streaming', 'defer_loading', 'allowed_callers'].includes(key)) {
          return `tools.${i}.custom.${key}: Extra inputs are not permitted`;
        }
      }
      if (typeof t.name !== 'string' || !TOOL_NAME_RE.test(t.name)) return `tools.${i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`;
      if (toolNames.has(t.name)) return `tools: Tool names must be unique.`;
      toolNames.add(t.name);
      if (t.input_schema === null || typeof t.input_schema !== 'object' || t.input_schema.type !== 'object') {
        return `tools.${i}.custom.input_schema.type: Input should be 'object'`;
      }
    }
  }
  if (body.tool_choice !== undefined) {
    const tc = body.tool_choice;
    if (tc === null || typeof tc !== 'object' || !['auto', 'any', 'tool', 'none'].includes(tc.type)) {
      return "tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'";
    }
    if (tc.type === 'tool' && (typeof tc.name !== 'string' || !toolNames.has(tc.name))) return `tool_choice.tool.name: Tool '${tc.name}' not found in tools`;
    if (tc.type !== 'none' && tc.type !== 'auto' && toolNames.size === 0) return 'tool_choice: may only be specified while providing tools';
  }
  const msgs = body.messages;
  for (const [i, msg] of msgs.entries()) {
    if (msg === null || typeof msg !== 'object') return `messages.${i}: Input should be a valid dictionary`;
    if (msg.role !== 'user' && msg.role !== 'assistant') return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    for (const key of Object.keys(msg)) if (key !== 'role' && key !== 'content') return `messages.${i}.${key}: Extra inputs are not permitted`;
    if (typeof msg.content === 'string') {
      if (msg.content === '' && !(msg.role === 'assistant' && i === msgs.length - 1)) return `messages.${i}: user messages must have non-empty content`;
      continue;
    }
    if (!Array.isArray(msg.content)) return `messages.${i}.content: Input should be a valid list`;
    if (msg.content.length === 0 && !(msg.role === 'assistant' && i === msgs.length - 1)) return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
    let seenNonResult = false;
    for (const [j, b] of msg.content.entries()) {
      const where = `messages.${i}.content.${j}`;
      if (b === null || typeof b !== 'object') return `${where}: Input should be a valid dictionary`;
      switch (b.type) {
        case 'text':
          if (typeof b.text !== 'string') return `${where}.text.text: Input should be a valid string`;
          if (b.text === '') return 'messages: text content blocks must be non-empty';
          seenNonResult = true;
          break;
        case 'image':
          if (msg.role !== 'user') return `${where}: image blocks are only allowed in user messages`;
          if (!b.source || !['base64', 'url'].includes(b.source.type)) return `${where}.image.source: Input tag does not match any of the expected tags: 'base64', 'url'`;
          seenNonResult = true;
          break;
        case 'document': {
          if (msg.role !== 'user') return `${where}: document blocks are only allowed in user messages`;
          const why = documentError(b, where);
          if (why) return why;
          seenNonResult = true;
          break;
        }
        case 'tool_use':
          if (msg.role !== 'assistant') return `${where}: tool_use blocks are only allowed in assistant messages`;
          if (typeof b.id !== 'string' || !ID_RE.test(b.id)) return `${where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'`;
          if (typeof b.name !== 'string' || b.name === '') return `${where}.tool_use.name: Field required`;
          if (b.input === null || typeof b.input !== 'object' || Array.isArray(b.input)) return `${where}.tool_use.input: Input should be a valid dictionary`;
          break;
        case 'tool_result':
          if (msg.role !== 'user') return `${where}: tool_result blocks are only allowed in user messages`;
          if (typeof b.tool_use_id !== 'string' || !ID_RE.test(b.tool_use_id)) return `${where}.tool_result.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'`;
          if (seenNonResult) return `messages.${i}: tool_result blocks must come first in the content array, before any other block`;
          if (b.content !== undefined && typeof b.content !== 'string' && !Array.isArray(b.content)) return `${where}.tool_result.content: Input should be a valid string or list`;
          break;
        case 'thinking':
          if (msg.role !== 'assistant') return `${where}: thinking blocks are only allowed in assistant messages`;
          if (typeof b.thinking !== 'string') return `${where}.thinking.thinking: Field required`;
          if (typeof b.signature !== 'string') return `${where}.thinking.signature: Field required`;
          if (b.signature !== thinkingSignature(b.thinking)) return `${where}: Invalid \`signature\` in \`thinking\` block`;
          break;
        case 'redacted_thinking':
          if (msg.role !== 'assistant') return `${where}: thinking blocks are only allowed in assistant messages`;
          if (b.data !== REDACTED_THINKING_DATA) return `${where}: Invalid \`data\` in \`redacted_thinking\` block`;
          break;
        default:
          return `${where}: Input tag '${b.type}' found using 'type' does not match any of the expected tags`;
      }
    }
  }
  const thinkingWhy = validateThinking(body);
  if (thinkingWhy) return thinkingWhy;
  // With thinking on, the assistant turn whose tool calls the last user turn answers must start
  // with its thinking (Anthropic: "a final `assistant` message must start with a thinking block").
  if (thinkingOn(body) && msgs.length >= 2) {
    const last = msgs.at(-1);
    const prev = msgs.at(-2);
    const answersTools = last.role === 'user' && blocksOf(last.content).some((b) => b?.type === 'tool_result');
    if (answersTools && prev.role === 'assistant') {
      const first = blocksOf(prev.content)[0];
      if (first?.type !== 'thinking' && first?.type !== 'redacted_thinking') {
        return `messages.${msgs.length - 2}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${first?.type}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks). We recommend you include thinking blocks from previous turns.`;
      }
    }
  }
  // tool_use / tool_result pairing, as the real API enforces it.
  for (let i = 0; i < msgs.length; i++) {
    const results = blocksOf(msgs[i].content).filter((b) => b.type === 'tool_result').map((b) => b.tool_use_id);
    if (results.length > 0) {
      const prev = i > 0 ? msgs[i - 1] : null;
      const prevUses = prev && prev.role === 'assistant' ? blocksOf(prev.content).filter((b) => b.type === 'tool_use').map((b) => b.id) : [];
      if (prevUses.length === 0) return `messages.${i}.content.0: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${results[0]}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
      const unknown = results.filter((id) => !prevUses.includes(id));
      if (unknown.length > 0) return `messages.${i}.content.0: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${unknown.join(', ')}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
      if (new Set(results).size !== results.length) return `messages.${i}: each tool_use_id may be answered only once`;
    }
  }
  for (let i = 0; i < msgs.length; i++) {
    const uses = blocksOf(msgs[i].content).filter((b) => b.type === 'tool_use').map((b) => b.id);
    if (uses.length > 0) {
      if (new Set(uses).size !== uses.length) return `messages.${i}: \`tool_use\` ids must be unique`;
      const next = msgs[i + 1];
      if (next) {
        const nextResults = next.role === 'user' ? blocksOf(next.content).filter((b) => b.type === 'tool_result').map((b) => b.tool_use_id) : [];
        const missing = uses.filter((id) => !nextResults.includes(id));
        if (missing.length > 0) return `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`;
      }
    }
  }
  return null;
}

export async function startFakeAnthropic(options = {}) {
  const requiredKey = options.apiKey ?? null;
  const requests = [];
  const stats = { cancelled: 0, hits: {}, connections: 0 };
  let seq = 0;

  const fake = createFakeServer({
    stats,
    onRequest(req, res, raw, body) {
      const url = new URL(req.url, 'http://x');
      requests.push({ seq: seq++, at: Date.now(), method: req.method, path: url.pathname, query: url.search, headers: { ...req.headers }, body, raw });
      return handle(req, res, url.pathname, body);
    },
    onCrash(res, err) {
      sendError(res, 500, 'api_error', `fake crashed: ${err.message}`);
    },
  });
  const { later, kill } = fake;

  function sendJSON(res, status, obj, headers = {}) {
    writeJSON(res, status, obj, { 'request-id': `req_fake_${seq}`, ...headers });
  }

  function sendError(res, status, type, message, headers = {}) {
    sendJSON(res, status, anthropicErrorBody(type, message, `req_fake_${seq}`), headers);
  }

  async function handle(req, res, path, body) {
    const counting = path === '/v1/messages/count_tokens';
    if (!(req.method === 'POST' && (path === '/v1/messages' || counting))) {
      return sendError(res, 404, 'not_found_error', `Not Found: ${req.method} ${path}`);
    }
    const key = req.headers['x-api-key'];
    if (!key) return sendError(res, 401, 'authentication_error', 'x-api-key header is required');
    if (requiredKey !== null && key !== requiredKey) return sendError(res, 401, 'authentication_error', 'invalid x-api-key');
    if (!req.headers['anthropic-version']) return sendError(res, 400, 'invalid_request_error', 'anthropic-version: header is required');
    if (counting) return countTokens(req, res, body);
    const why = validateMessagesRequest(body);
    if (why) return sendError(res, 400, 'invalid_request_error', why);
    const model = body.model;
    countHit(stats, model);
    const behaviour = behaviourOf(model);
    if (await failure(req, res, behaviour, model, body)) return;
    return body.stream === true ? stream(res, body, model, behaviour) : whole(res, body, model, behaviour);
  }

  async function countTokens(req, res, body) {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return sendError(res, 400, 'invalid_request_error', 'Invalid JSON body');
    const extra = Object.keys(body).find((key) => !COUNT_FIELDS.has(key));
    if (extra) return sendError(res, 400, 'invalid_request_error', `${extra}: Extra inputs are not permitted`);
    const why = validateMessagesRequest({ ...body, max_tokens: 1 });  // the rest as for Messages
    if (why) return sendError(res, 400, 'invalid_request_error', why);
    countHit(stats, body.model);
    const behaviour = behaviourOf(body.model);
    if (await failure(req, res, behaviour, body.model, body)) return;
    sendJSON(res, 200, { input_tokens: countTokensOf(body) });
  }

  async function failure(req, res, behaviour, model, body) {
    const streaming = body.stream === true;
    switch (behaviour.kind) {
      case 'fail-500':
        sendError(res, 500, 'api_error', 'Internal server error');
        return true;
      case 'overloaded':
        sendError(res, 529, 'overloaded_error', 'Overloaded');
        return true;
      case 'fail-400':
        sendError(res, 400, 'invalid_request_error', 'messages.0.content: the fake says no (fail-400)');
        return true;
      case 'fail-401':
        sendError(res, 401, 'authentication_error', 'invalid x-api-key');
        return true;
      case 'rate-429':
        sendError(res, 429, 'rate_limit_error', `Number of request tokens has exceeded your per-minute rate limit (${model})`,
          retryAfterHeaders(behaviour));
        return true;
      case 'flaky':
        if (flakyFails(stats, model, behaviour)) {
          sendError(res, 529, 'overloaded_error', `Overloaded (flaky ${stats.hits[model]} of ${behaviour.failures})`);
          return true;
        }
        return false;
      case 'hang':
        fake.hang(res);
        return true;
      case 'close-before-first':
        fake.closeBeforeFirst(res, streaming, 'text/event-stream; charset=utf-8');
        return true;
      case 'stream-overloaded':
      case 'error-after-text':
        if (!streaming) {
          sendError(res, 529, 'overloaded_error', 'Overloaded');
          return true;
        }
        return false;
      case 'garbage':
        sendGarbage(res, streaming, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' },
          'event: message_start\ndata: not-json\n\n');
        return true;
      default:
        return false;
    }
  }

  function usageFull(output = ANTHROPIC_USAGE.output_tokens) {
    return {
      input_tokens: ANTHROPIC_USAGE.input_tokens,
      output_tokens: output,
      cache_creation_input_tokens: ANTHROPIC_USAGE.cache_creation_input_tokens,
      cache_read_input_tokens: ANTHROPIC_USAGE.cache_read_input_tokens,
      cache_creation: { ephemeral_1h_input_tokens: 0, ephemeral_5m_input_tokens: 0 },
      inference_geo: null,
      output_tokens_details: null,
      server_tool_use: null,
      service_tier: 'standard',
      speed: null,
    };
  }

  // The answer, with the thinking blocks first when the request turned thinking on.
  function answerOf(body, behaviour) {
    const answer = plainAnswerOf(body, behaviour);
    if (!thinkingOn(body)) return answer;
    const thinking = thinkingOf(body);
    const blocks = [{ type: 'thinking', thinking, signature: thinkingSignature(thinking) }];
    if (String(body.model).includes('redact')) blocks.unshift({ type: 'redacted_thinking', data: REDACTED_THINKING_DATA });
    return { ...answer, content: [...blocks, ...answer.content] };
  }

  // The answer as {content: [blocks], stop_reason, stop_sequence, stop_details}.
  function plainAnswerOf(body, behaviour) {
    const text = (t) => ({ type: 'text', text: t, citations: null });
    const toolUse = (u) => ({ type: 'tool_use', id: u.id, name: u.name, input: u.input, caller: { type: 'direct' } });
    const base = { stop_reason: 'end_turn', stop_sequence: null, stop_details: null };
    switch (behaviour.kind) {
      case 'echo': {
        let t = `echo: ${lastUserText(body.messages)}`;
        const results = toolResultsOf(body.messages);
        if (results.length > 0) t += `\n[tool_results] ${JSON.stringify(results)}`;
        return { ...base, content: [text(t)] };
      }
      case 'docs':
        return { ...base, content: [text(documentsAnswer(documentsOf(body.messages)))] };
      case 'tools':
        return { ...base, stop_reason: 'tool_use', content: ANTHROPIC_TOOL_USES.map(toolUse) };
      case 'agent': {
        const results = toolResultsOf(body.messages);
        const codex = (Array.isArray(body.tools) ? body.tools : []).some((t) => t?.name === 'exec_command');
        const use = codex ? ANTHROPIC_CODEX_AGENT_USE : ANTHROPIC_AGENT_USE;
        if (results.length === 0) return { ...base, stop_reason: 'tool_use', content: [toolUse(use)] };
        return { ...base, content: [text(`tool said: ${results.at(-1).content.trim()}`)] };
      }
      case 'toolloop': {
        const results = toolResultsOf(body.messages);
        const next = nextToolLoopCall(body.model, (body.tools ?? []).map((t) => t?.name), results.map((r) => r.name));
        if (next && body.tool_choice?.type !== 'none') {
          return { ...base, stop_reason: 'tool_use', content: [toolUse({ id: `toolu_loop_${++toolLoopSeq}`, name: next.name, input: next.arguments })] };
        }
        return { ...base, content: [text(`tool said: ${results.map((r) => r.content).join(' | ')}`)] };
      }
      case 'tools-noargs':
        return { ...base, stop_reason: 'tool_use', content: [toolUse({ id: 'toolu_03', name: 'get_time', input: {} })] };
      case 'tools-text':
        return { ...base, stop_reason: 'tool_use', content: [text(ANTHROPIC_TOOLS_PREFACE), ...ANTHROPIC_TOOL_USES.map(toolUse)] };
      case 'max-tokens':
        return { ...base, stop_reason: 'max_tokens', content: [text('Hello from')] };
      case 'stop-seq':
        return { ...base, stop_reason: 'stop_sequence', stop_sequence: body.stop_sequences?.[0] ?? 'END', content: [text('Hello')] };
      case 'refusal':
        return { ...base, stop_reason: 'refusal', stop_details: { type: 'refusal', category: null, explanation: null }, content: [] };
      case 'schema':
        return schemaAnswer(body, base, text, toolUse);
      default:
        return { ...base, content: [text(ANTHROPIC_TEXT)] };
    }
  }

  // schema*: answers as a model that follows the request would. A forced tool (tool_choice
  // tool) gets one call with an input built from its input_schema; tool_choice any, or auto with
  // tools and no tool results yet, gets calls of the first tool (two of them, one when
  // disable_parallel_tool_use); after tool results, a text answer; output_config.format's
  // schema gets a text answer that follows it (instanceOf); else the schema in the prompt
  // (schemaInText) or plain text.
  function schemaAnswer(body, base, text, toolUse) {
    const tools = Array.isArray(body.tools) ? body.tools : [];
    const choice = body.tool_choice ?? { type: 'auto' };
    const resultsGiven = toolResultsOf(body.messages).length > 0;
    const system = typeof body.system === 'string' ? body.system : blocksOf(body.system).map((b) => b?.text ?? '').join('\n');
    const said = body.messages.flatMap((m) => blocksOf(m?.content)).map((b) => (b?.type === 'text' ? b.text : '')).join('\n');
    const inPrompt = schemaInText(`${system}\n${said}`);
    // An open object schema (no properties) is filled as the prompt's schema says, if it has one.
    const inputOf = (schema) => (schema?.properties ? instanceOf(schema) : instanceOf(inPrompt) ?? {});
    const use = (tool, n) => toolUse({ id: `toolu_schema_${n}`, name: tool.name, input: inputOf(tool.input_schema) });
    if (choice.type === 'tool') {
      const tool = tools.find((t) => t.name === choice.name);
      return { ...base, stop_reason: 'tool_use', content: [use(tool, 1)] };
    }
    if (tools.length > 0 && choice.type !== 'none' && (choice.type === 'any' || !resultsGiven)) {
      const calls = choice.disable_parallel_tool_use === true ? [use(tools[0], 1)] : [use(tools[0], 1), use(tools[0], 2)];
      return { ...base, stop_reason: 'tool_use', content: calls };
    }
    const schema = body.output_config?.format?.schema ?? body.output_format?.schema;
    if (schema) return { ...base, content: [text(JSON.stringify(instanceOf(schema)))] };
    if (inPrompt) return { ...base, content: [text(JSON.stringify(instanceOf(inPrompt)))] };
    return { ...base, content: [text(resultsGiven ? `done: ${toolResultsOf(body.messages).at(-1).content}` : ANTHROPIC_TEXT)] };
  }

  function messageOf(model, answer, content, usage) {
    return {
      id: `msg_fake${seq}`,
      type: 'message',
      role: 'assistant',
      model,
      content,
      stop_reason: answer ? answer.stop_reason : null,
      stop_sequence: answer ? answer.stop_sequence : null,
      stop_details: answer ? answer.stop_details : null,
      container: null,
      diagnostics: null,
      usage,
    };
  }

  function whole(res, body, model, behaviour) {
    if (behaviour.kind === 'stall') return fake.stallWhole(res, 'application/json');
    const answer = answerOf(body, behaviour);
    const message = messageOf(model, answer, answer.content, usageFull());
    if (behaviour.kind === 'close-mid-stream') return fake.halfBodyThenClose(res, message, 'application/json');
    if (behaviour.kind === 'slow-stream') return fake.answerLater(res, behaviour, () => sendJSON(res, 200, message));
    sendJSON(res, 200, message);
  }

  function stream(res, body, model, behaviour) {
    const { state, write } = fake.openStream(res, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'request-id': `req_fake_${seq}`,
    });
    const ev = (type, data) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    const start = ev('message_start', { message: messageOf(model, null, [], usageFull(1)) });
    const ping = ev('ping', {});
    const textStart = (index) => ev('content_block_start', { index, content_block: { type: 'text', text: '', citations: null } });
    const textDelta = (index, t) => ev('content_block_delta', { index, delta: { type: 'text_delta', text: t } });
    const stop = (index) => ev('content_block_stop', { index });
    const end = (answer, output = ANTHROPIC_USAGE.output_tokens) => {
      state.done = true;
      res.end(ev('message_delta', {
        delta: { stop_reason: answer.stop_reason, stop_sequence: answer.stop_sequence, stop_details: answer.stop_details, container: null },
        usage: behaviour.kind === 'usage-classic' ? { output_tokens: output } : {
          input_tokens: ANTHROPIC_USAGE.input_tokens,
          output_tokens: output,
          cache_creation_input_tokens: ANTHROPIC_USAGE.cache_creation_input_tokens,
          cache_read_input_tokens: ANTHROPIC_USAGE.cache_read_input_tokens,
          output_tokens_details: null,
          server_tool_use: null,
        },
      }) + ev('message_stop', {}));
    };
    const overloaded = `event: error\ndata: ${JSON.stringify(anthropicErrorBody('overloaded_error', 'Overloaded', `req_fake_${seq}`))}\n\n`;

    switch (behaviour.kind) {
      case 'stall':
        write(start + ping);
        return;
      case 'close-mid-stream':
        fake.closeMidStream(res, state, [start + textStart(0) + ping + textDelta(0, 'Hello')], textDelta(0, ' from'));
        return;
      case 'stream-overloaded':
        state.done = true;
        res.end(start + ping + overloaded);
        return;
      case 'error-after-text':
        write(start + textStart(0) + ping + textDelta(0, 'Hello'));
        later(20, () => {
          write(textDelta(0, ' from'));
          later(20, () => {
            state.done = true;
            if (!res.destroyed) res.end(overloaded);
          });
        });
        return;
      case 'slow-stream': {
        write(start + textStart(0) + ping);
        let i = 0;
        const tick = () => {
          if (res.destroyed) return;
          write(textDelta(0, `${i} `));
          i++;
          if (i >= behaviour.count) {
            write(stop(0));
            return end({ stop_reason: 'end_turn', stop_sequence: null, stop_details: null }, behaviour.count);
          }
          later(behaviour.intervalMs, tick);
        };
        tick();
        return;
      }
      default: {
        const answer = answerOf(body, behaviour);
        let out = start;
        answer.content.forEach((block, index) => {
          if (block.type === 'thinking') {
            out += ev('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } });
            if (index === 0) out += ping;
            for (const p of splitText(block.thinking)) out += ev('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: p } });
            out += ev('content_block_delta', { index, delta: { type: 'signature_delta', signature: block.signature } });
          } else if (block.type === 'redacted_thinking') {
            out += ev('content_block_start', { index, content_block: block });
            if (index === 0) out += ping;
          } else if (block.type === 'text') {
            out += textStart(index);
            if (index === 0) out += ping;
            const pieces = behaviour.kind === 'ok' ? ANTHROPIC_TEXT_CHUNKS : splitText(block.text);
            for (const p of pieces) out += textDelta(index, p);
          } else {
            out += ev('content_block_start', { index, content_block: { ...block, input: {} } });
            if (index === 0) out += ping;
            const json = JSON.stringify(block.input);
            const pieces = json === '{}' ? [''] : ['', json.slice(0, 3), json.slice(3, 9), json.slice(9)];
            for (const piece of pieces) {
              out += ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } });
            }
          }
          out += stop(index);
        });
        if (answer.content.length === 0) out += ping;
        write(out);
        return end(answer);
      }
    }
  }

  const port = await fake.listen();

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    stats,
    requestsFor(model) {
      return requests.filter((r) => r.body && r.body.model === model);
    },
    ...commonApi({ requests, stats, fake }),
  };
}
