// A fake Gemini API (generativelanguage.googleapis.com v1beta) upstream that fails on purpose,
// for keel's end-to-end tests.
//
//   import { startFakeGemini } from '../fakes/fake_gemini.mjs';
//   const fake = await startFakeGemini({ apiKey: 'gm-key' });      // 127.0.0.1, ephemeral port
//   // keel provider: {kind: gemini, base_url: fake.url (http://127.0.0.1:PORT), api_key}
//   fake.requests    // every request: {seq, at, method, path, query, model, action, headers, body, raw}
//   fake.stats.hits  // {model: number of requests for it}
//   fake.stats.cancelled  // responses whose client went away before the fake finished
//   await fake.close();
//
// Wire format: the official `@google/genai` 2.32.0 types (dist/genai.d.ts) and the REST
// reference (ai.google.dev/api/generate-content):
//   POST /v1beta/models/{model}:generateContent              -> a GenerateContentResponse
//   POST /v1beta/models/{model}:streamGenerateContent?alt=sse -> SSE, one
//        `data: <GenerateContentResponse>\r\n\r\n` per chunk (CRLF, as Google sends), no [DONE]:
//        the body just ends; running usageMetadata on every chunk, finishReason on the last.
//   (streamGenerateContent without alt=sse answers a JSON array of chunks, as the real API does.)
// GenerateContentResponse: {candidates: [{content: {role: "model", parts: [{text} |
// {functionCall: {id?, name, args}, thoughtSignature?}]}, finishReason, index}], usageMetadata:
// {promptTokenCount, candidatesTokenCount, thoughtsTokenCount, totalTokenCount, ...},
// modelVersion, responseId}. Errors: {"error": {"code", "message", "status"}} (Google's shape).
//
// Every request must carry `x-goog-api-key` (missing: 403 PERMISSION_DENIED; wrong, when {apiKey}
// is given: 400 INVALID_ARGUMENT "API key not valid"). The body is checked the way the real API
// checks it (400 INVALID_ARGUMENT): known top-level fields only ("Invalid JSON payload received.
// Unknown name ..."), known generationConfig fields, non-empty contents with roles user/model,
// non-empty parts each holding exactly one kind of data, non-empty text, functionCall args and
// functionResponse.response objects, tool declarations whose parameters use only Gemini's
// Schema keywords, and every user turn of functionResponse parts answering the model turn just
// before it: as many responses as calls, with the calls' names (and ids, when the calls had ids).
//
// Thinking, as Gemini documents it (ai.google.dev/gemini-api/docs/thinking): generationConfig.
// thinkingConfig {thinkingBudget (-1 dynamic, 0 off, else 1..32768), includeThoughts, thinkingLevel}
// is checked; with includeThoughts true (and a budget other than 0) every answer starts with a
// thought summary part {text, thought: true} (streamed in its own first chunk). Every
// thoughtSignature that comes back in the contents must be one the fake gave
// (GEMINI_THOUGHT_SIGNATURE) or Google's documented "skip_thought_signature_validator"
// (else 400 "Thought signature is not valid"), so a gateway that alters one is caught.
//
// The behaviour is picked by the {model} in the URL path (prefixes):
//   ok (and anything unlisted)  text "Hello from gemini" (streamed in 3 chunks), STOP; usage
//                               prompt 6, candidates 4, thoughts 2, total 12
//                               (OpenAI: prompt 6, completion 6, total 12)
//   echo*                       text "echo: <text parts of the last user turn>", then, when the
//                               request held functionResponse parts, "\n[function_responses]
//                               <JSON array of {id, name, response}>" (id null when absent). See
//                               parseEcho().
//   docs*                       text "documents: <JSON array>": each inlineData part that is not
//                               an image, as documentsAnswer (fake_common.mjs) describes it
//                               (name: displayName); inlineData must be valid base64
//   tools*                      two functionCall parts, get_weather {"city":"Paris"} / {"city":
//                               "Tokyo"}, without ids (as the Gemini API sends them), the first
//                               with a thoughtSignature; finishReason STOP. Streamed: one chunk per
//                               call, the second carrying finishReason.
//   tools-ids*                  the same with ids "fc_paris" / "fc_tokyo"
//   toolloop*                   works through TOOL_LOOP_SCRIPT (fake_common.mjs): one functionCall per
//                               turn, then text "tool said: <the functionResponses>"
//   tools-noargs*               one functionCall get_time with no args field at all
//   schema*                     follows the request as Gemini would: calls of a declared
//                               function (two: Gemini has no switch against parallel calls),
//                               responseSchema with propertyOrdering (see schemaAnswer())
//   max-tokens*                 text "Hello from", MAX_TOKENS
//   agent*                      a one-step agent: without functionResponse parts, one functionCall
//                               of Bash {"command": "echo keel-agent-ok"} (GEMINI_AGENT_CALL);
//                               with them, text "tool said: <the last response's output, content
//                               or result string>"
//   safety*                     a candidate with no content, finishReason SAFETY, safetyRatings
//   blocked*                    no candidates, promptFeedback.blockReason SAFETY
//   fail-500*                   500 INTERNAL
//   fail-503*, overloaded*      503 UNAVAILABLE "The model is overloaded. Please try again later."
//   fail-400*                   400 INVALID_ARGUMENT "the fake says no (fail-400)"
//   rate-429*                   429 RESOURCE_EXHAUSTED, retry-after: 1 (or N with "-raN")
//   flaky-N*                    the first N requests for that exact model get 503, then ok
//   hang*                       accepts and never answers, until the client goes away
//   stall*                      streams: headers and one text chunk, then nothing; else headers
//   close-before-first*         streams: 200 event-stream headers, then the socket is destroyed;
//                               non-stream: socket destroyed
//   close-mid-stream*           streams: "Hello", " from" chunks, then the socket is destroyed;
//                               non-stream: half a body, destroyed
//   stream-error*               streams: "Hello" then an {"error": UNAVAILABLE} chunk; else 503
//   garbage*                    200 application/json "this is not json{{{"; streams: "data: not-json"
//   slow-stream*                one text chunk every 100 ms for 100 chunks; "slow-stream-NxM":
//                               N chunks every M ms; non-stream: answers after N*M ms
// POST /v1beta/models/{model}:countTokens takes {contents} or {generateContentRequest: {model:
// "models/{model}", ...a generateContent body}} (ai.google.dev/api/tokens) and answers a
// CountTokensResponse {totalTokens}: countTokensOf() of what it counts, a stand-in tokenizer.
// The failure behaviours (fail-*, overloaded*, rate-429*, flaky-N*, hang*, garbage*) apply too.
// Any other path: 404 NOT_FOUND.
import {
  createFakeServer, commonApi, sendJSON as writeJSON, sendGarbage, splitText, parametricBehaviour,
  prefixBehaviour, countHit, flakyFails, retryAfterHeaders, instanceOf, schemaInText, nextToolLoopCall,
  strictBase64, documentsAnswer,
} from './fake_common.mjs';

export { waitFor } from './fake_common.mjs';

export const GEMINI_TEXT = 'Hello from gemini';
export const GEMINI_TEXT_CHUNKS = ['Hello', ' from', ' gemini'];
export const GEMINI_USAGE = { promptTokenCount: 6, candidatesTokenCount: 4, thoughtsTokenCount: 2, totalTokenCount: 12 };
export const GEMINI_OPENAI_USAGE = { prompt_tokens: 6, completion_tokens: 6, total_tokens: 12 };
export const GEMINI_CALLS = [
  { name: 'get_weather', args: { city: 'Paris' }, id: 'fc_paris' },
  { name: 'get_weather', args: { city: 'Tokyo' }, id: 'fc_tokyo' },
];
// What agent* calls (the tool Claude Code and the e2e agents have, with a harmless command).
export const GEMINI_AGENT_CALL = { name: 'Bash', args: { command: 'echo keel-agent-ok' } };
export const GEMINI_THOUGHT_SIGNATURE = 'ZmFrZS10aG91Z2h0LXNpZ25hdHVyZQ==';
export const GEMINI_SKIP_SIGNATURE = 'skip_thought_signature_validator';
export function geminiThoughtOf(contents) {
  return Array.from(`Thinking about: ${lastUserText(contents)}`).slice(0, 200).join('');
}
function thoughtsIncluded(body) {
  const t = body.generationConfig?.thinkingConfig;
  return t?.includeThoughts === true && t.thinkingBudget !== 0;
}

const TOP_LEVEL = new Set(['contents', 'tools', 'toolConfig', 'safetySettings', 'systemInstruction', 'generationConfig', 'cachedContent']);
const GENERATION_CONFIG = new Set([
  'stopSequences', 'responseMimeType', 'responseSchema', 'responseJsonSchema', '_responseJsonSchema', 'responseModalities',
  'candidateCount', 'maxOutputTokens', 'temperature', 'topP', 'topK', 'seed', 'presencePenalty', 'frequencyPenalty',
  'responseLogprobs', 'logprobs', 'enableEnhancedCivicAnswers', 'speechConfig', 'thinkingConfig', 'mediaResolution',
]);
const PART_DATA = ['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse', 'executableCode', 'codeExecutionResult'];
const PART_EXTRA = new Set(['thought', 'thoughtSignature', 'videoMetadata', 'partMetadata', 'mediaResolution']);
const SCHEMA_KEYS = new Set([
  'type', 'format', 'title', 'description', 'nullable', 'enum', 'maxItems', 'minItems', 'properties', 'required',
  'minProperties', 'maxProperties', 'minLength', 'maxLength', 'pattern', 'example', 'anyOf', 'propertyOrdering',
  'default', 'items', 'minimum', 'maximum',
]);
const SCHEMA_TYPES = new Set(['TYPE_UNSPECIFIED', 'STRING', 'NUMBER', 'INTEGER', 'BOOLEAN', 'ARRAY', 'OBJECT', 'NULL']);
const FUNCTION_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_.:-]{0,127}$/;

// Splits an echo answer into {text, functionResponses} ([] when the request had none).
export function parseEcho(answer) {
  const s = String(answer ?? '');
  const marker = '\n[function_responses] ';
  const at = s.indexOf(marker);
  if (at < 0) return { text: s, functionResponses: [] };
  return { text: s.slice(0, at), functionResponses: JSON.parse(s.slice(at + marker.length)) };
}

const STATUS_NAME = { 400: 'INVALID_ARGUMENT', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED' };
export function geminiErrorBody(code, message, status = STATUS_NAME[code] ?? 'UNKNOWN') {
  return { error: { code, message, status } };
}

export function behaviourOf(model) {
  const name = typeof model === 'string' ? model : '';
  const param = parametricBehaviour(name);
  if (param) return param;
  if (name.startsWith('overloaded')) return { kind: 'fail-503' };
  return prefixBehaviour(name, ['fail-500', 'fail-503', 'fail-400', 'hang', 'stall', 'close-before-first', 'close-mid-stream',
    'stream-error', 'garbage', 'echo', 'tools-ids', 'tools-noargs', 'tools', 'max-tokens', 'safety', 'blocked', 'schema', 'agent',
    'toolloop', 'docs']);
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkSchema(schema, path) {
  if (!isObject(schema)) return `${path}: Invalid value (a Schema object expected)`;
  for (const key of Object.keys(schema)) {
    if (!SCHEMA_KEYS.has(key)) return `Invalid JSON payload received. Unknown name "${key}" at '${path}': Cannot find field.`;
  }
  if (schema.type !== undefined && !SCHEMA_TYPES.has(String(schema.type).toUpperCase())) {
    return `Invalid JSON payload received. Invalid value at '${path}.type', "${schema.type}"`;
  }
  if (schema.enum !== undefined && (!Array.isArray(schema.enum) || schema.enum.some((v) => typeof v !== 'string'))) {
    return `Invalid JSON payload received. Invalid value at '${path}.enum': enum values must be strings`;
  }
  if (schema.properties !== undefined) {
    if (!isObject(schema.properties)) return `${path}.properties: Invalid value`;
    for (const [k, v] of Object.entries(schema.properties)) {
      const why = checkSchema(v, `${path}.properties[${k}].value`);
      if (why) return why;
    }
    if (String(schema.type).toUpperCase() === 'OBJECT' && Object.keys(schema.properties).length === 0) {
      return `${path}.properties: should be non-empty for OBJECT type`;
    }
  }
  if (Array.isArray(schema.required) && schema.properties) {
    for (const r of schema.required) {
      if (!(r in schema.properties)) return `${path}.required[${r}]: property is not defined`;
    }
  }
  if (schema.items !== undefined) {
    const why = checkSchema(schema.items, `${path}.items`);
    if (why) return why;
  }
  if (schema.anyOf !== undefined) {
    if (!Array.isArray(schema.anyOf)) return `${path}.any_of: Invalid value`;
    for (const [i, s] of schema.anyOf.entries()) {
      const why = checkSchema(s, `${path}.any_of[${i}]`);
      if (why) return why;
    }
  }
  return null;
}

function checkParts(parts, where) {
  if (!Array.isArray(parts) || parts.length === 0) return `* GenerateContentRequest.${where}.parts: contents.parts must not be empty.`;
  for (const [j, p] of parts.entries()) {
    const at = `${where}.parts[${j}]`;
    if (!isObject(p)) return `Invalid JSON payload received. Invalid value at '${at}'`;
    for (const key of Object.keys(p)) {
      if (!PART_DATA.includes(key) && !PART_EXTRA.has(key)) return `Invalid JSON payload received. Unknown name "${key}" at '${at}': Cannot find field.`;
    }
    const data = PART_DATA.filter((k) => k in p);
    if (data.length !== 1) return `* GenerateContentRequest.${at}.data: required oneof field 'data' must have one initialized field`;
    if ('text' in p && (typeof p.text !== 'string' || p.text === '')) return `* GenerateContentRequest.${at}.text: must not be empty (Unable to submit request because it has an empty text parameter.)`;
    if (p.thoughtSignature !== undefined && p.thoughtSignature !== GEMINI_THOUGHT_SIGNATURE && p.thoughtSignature !== GEMINI_SKIP_SIGNATURE) {
      return `* GenerateContentRequest.${at}.thought_signature: Thought signature is not valid.`;
    }
    if (p.thought !== undefined && typeof p.thought !== 'boolean') return `Invalid JSON payload received. Invalid value at '${at}.thought'`;
    if (p.functionCall !== undefined) {
      const fc = p.functionCall;
      if (!isObject(fc) || typeof fc.name !== 'string' || !FUNCTION_NAME_RE.test(fc.name)) return `* GenerateContentRequest.${at}.function_call.name: Invalid function name`;
      if (fc.args !== undefined && !isObject(fc.args)) return `Invalid JSON payload received. Invalid value at '${at}.function_call.args' (type.googleapis.com/google.protobuf.Struct)`;
      for (const key of Object.keys(fc)) if (!['id', 'name', 'args'].includes(key)) return `Invalid JSON payload received. Unknown name "${key}" at '${at}.function_call': Cannot find field.`;
    }
    if (p.functionResponse !== undefined) {
      const fr = p.functionResponse;
      if (!isObject(fr) || typeof fr.name !== 'string' || !FUNCTION_NAME_RE.test(fr.name)) return `* GenerateContentRequest.${at}.function_response.name: Invalid function name`;
      if (!isObject(fr.response)) return `Invalid JSON payload received. Invalid value at '${at}.function_response.response' (type.googleapis.com/google.protobuf.Struct)`;
      for (const key of Object.keys(fr)) if (!['id', 'name', 'response', 'parts', 'willContinue', 'scheduling'].includes(key)) return `Invalid JSON payload received. Unknown name "${key}" at '${at}.function_response': Cannot find field.`;
      // FunctionResponse.parts (@google/genai): media only, each one inlineData or fileData.
      if (fr.parts !== undefined && !Array.isArray(fr.parts)) return `Invalid JSON payload received. Invalid value at '${at}.function_response.parts'`;
      for (const [k, fp] of (fr.parts ?? []).entries()) {
        const where = `${at}.function_response.parts[${k}]`;
        if (!isObject(fp)) return `Invalid JSON payload received. Invalid value at '${where}'`;
        for (const key of Object.keys(fp)) if (!['inlineData', 'fileData', 'mediaProcessing'].includes(key)) return `Invalid JSON payload received. Unknown name "${key}" at '${where}': Cannot find field.`;
        if (('inlineData' in fp) === ('fileData' in fp)) return `* GenerateContentRequest.${where}.data: required oneof field 'data' must have one initialized field`;
        if (fp.inlineData !== undefined && (!isObject(fp.inlineData) || typeof fp.inlineData.mimeType !== 'string' || typeof fp.inlineData.data !== 'string')) return `* GenerateContentRequest.${where}.inline_data: mime_type and data are required`;
        if (fp.fileData !== undefined && (!isObject(fp.fileData) || typeof fp.fileData.fileUri !== 'string' || typeof fp.fileData.mimeType !== 'string')) return `* GenerateContentRequest.${where}.file_data: file_uri and mime_type are required`;
      }
    }
    if (p.inlineData !== undefined && (!isObject(p.inlineData) || typeof p.inlineData.mimeType !== 'string' || typeof p.inlineData.data !== 'string')) {
      return `* GenerateContentRequest.${at}.inline_data: mime_type and data are required`;
    }
    // Blob (@google/genai): {mimeType, data: base64 bytes, displayName?}.
    if (p.inlineData !== undefined) {
      for (const key of Object.keys(p.inlineData)) {
        if (!['mimeType', 'data', 'displayName'].includes(key)) return `Invalid JSON payload received. Unknown name "${key}" at '${at}.inline_data': Cannot find field.`;
      }
      if (strictBase64(p.inlineData.data) === null) return `Invalid value at '${at}.inline_data.data' (TYPE_BYTES), Base64 decoding failed for "${p.inlineData.data.slice(0, 20)}"`;
    }
    if (p.fileData !== undefined && (!isObject(p.fileData) || typeof p.fileData.fileUri !== 'string')) {
      return `* GenerateContentRequest.${at}.file_data.file_uri: required`;
    }
  }
  return null;
}

// Returns an error message when the body is not a request the real API would take.
export function validateGenerateContent(body) {
  if (!isObject(body)) return 'Invalid JSON payload received. Expected an object.';
  for (const key of Object.keys(body)) {
    if (!TOP_LEVEL.has(key)) return `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`;
  }
  if (!Array.isArray(body.contents) || body.contents.length === 0) return '* GenerateContentRequest.contents: contents is not specified';
  for (const [i, c] of body.contents.entries()) {
    if (!isObject(c)) return `Invalid JSON payload received. Invalid value at 'contents[${i}]'`;
    for (const key of Object.keys(c)) if (key !== 'role' && key !== 'parts') return `Invalid JSON payload received. Unknown name "${key}" at 'contents[${i}]': Cannot find field.`;
    if (c.role !== undefined && c.role !== 'user' && c.role !== 'model') return `Please use a valid role: user, model. (contents[${i}].role "${c.role}")`;
    const why = checkParts(c.parts, `contents[${i}]`);
    if (why) return why;
  }
  if (body.systemInstruction !== undefined) {
    if (!isObject(body.systemInstruction)) return "Invalid JSON payload received. Invalid value at 'system_instruction'";
    const why = checkParts(body.systemInstruction.parts, 'system_instruction');
    if (why) return why;
    if (body.systemInstruction.parts.some((p) => !('text' in p))) return '* GenerateContentRequest.system_instruction: only text parts are supported';
  }
  if (body.generationConfig !== undefined) {
    if (!isObject(body.generationConfig)) return "Invalid JSON payload received. Invalid value at 'generation_config'";
    for (const key of Object.keys(body.generationConfig)) {
      if (!GENERATION_CONFIG.has(key)) return `Invalid JSON payload received. Unknown name "${key}" at 'generation_config': Cannot find field.`;
    }
    const g = body.generationConfig;
    if (g.temperature !== undefined && (typeof g.temperature !== 'number' || g.temperature < 0 || g.temperature > 2)) return '* GenerateContentRequest.generation_config.temperature: must be in [0, 2]';
    if (g.maxOutputTokens !== undefined && (!Number.isInteger(g.maxOutputTokens) || g.maxOutputTokens < 1)) return '* GenerateContentRequest.generation_config.max_output_tokens: must be positive';
    if (g.stopSequences !== undefined && (!Array.isArray(g.stopSequences) || g.stopSequences.length > 5)) return '* GenerateContentRequest.generation_config.stop_sequences: at most 5';
    if (g.thinkingConfig !== undefined) {
      const t = g.thinkingConfig;
      if (!isObject(t)) return "Invalid JSON payload received. Invalid value at 'generation_config.thinking_config'";
      for (const key of Object.keys(t)) {
        if (!['thinkingBudget', 'includeThoughts', 'thinkingLevel'].includes(key)) return `Invalid JSON payload received. Unknown name "${key}" at 'generation_config.thinking_config': Cannot find field.`;
      }
      if (t.thinkingBudget !== undefined && (!Number.isInteger(t.thinkingBudget) || t.thinkingBudget < -1 || t.thinkingBudget > 32768)) return '* GenerateContentRequest.generation_config.thinking_config.thinking_budget: must be -1, 0 or in [1, 32768]';
      if (t.includeThoughts !== undefined && typeof t.includeThoughts !== 'boolean') return "Invalid JSON payload received. Invalid value at 'generation_config.thinking_config.include_thoughts'";
    }
    if (g.responseSchema !== undefined) {
      const why = checkSchema(g.responseSchema, 'generation_config.response_schema');
      if (why) return why;
    }
  }
  const declared = new Set();
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return "Invalid JSON payload received. Invalid value at 'tools'";
    for (const [i, t] of body.tools.entries()) {
      if (!isObject(t)) return `Invalid JSON payload received. Invalid value at 'tools[${i}]'`;
      for (const key of Object.keys(t)) if (key !== 'functionDeclarations') return `Invalid JSON payload received. Unknown name "${key}" at 'tools[${i}]' (this fake serves function tools only)`;
      if (!Array.isArray(t.functionDeclarations)) return `tools[${i}].function_declarations: Invalid value`;
      for (const [j, fd] of t.functionDeclarations.entries()) {
        const at = `tools[${i}].function_declarations[${j}]`;
        if (!isObject(fd) || typeof fd.name !== 'string' || !FUNCTION_NAME_RE.test(fd.name)) return `* GenerateContentRequest.${at}.name: Invalid function name. Must start with a letter or an underscore. Must be a-z, A-Z, 0-9, or contain underscores, dots, colons and dashes, with a maximum length of 128.`;
        for (const key of Object.keys(fd)) if (!['name', 'description', 'parameters', 'parametersJsonSchema', 'response', 'responseJsonSchema', 'behavior'].includes(key)) return `Invalid JSON payload received. Unknown name "${key}" at '${at}': Cannot find field.`;
        if (fd.parameters !== undefined) {
          const why = checkSchema(fd.parameters, `${at}.parameters`);
          if (why) return why;
        }
        declared.add(fd.name);
      }
    }
  }
  if (body.toolConfig !== undefined) {
    const fcc = body.toolConfig?.functionCallingConfig;
    if (!isObject(body.toolConfig) || (fcc !== undefined && !isObject(fcc))) return "Invalid JSON payload received. Invalid value at 'tool_config'";
    if (fcc?.mode !== undefined && !['AUTO', 'ANY', 'NONE', 'VALIDATED', 'MODE_UNSPECIFIED'].includes(fcc.mode)) return `Invalid JSON payload received. Invalid value at 'tool_config.function_calling_config.mode' (${fcc.mode})`;
    for (const n of fcc?.allowedFunctionNames ?? []) {
      if (!declared.has(n)) return `* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: function ${n} is not declared`;
    }
  }
  // Each turn of function responses answers the model turn of calls just before it.
  const contents = body.contents;
  for (let i = 0; i < contents.length; i++) {
    const responses = contents[i].parts.filter((p) => p.functionResponse).map((p) => p.functionResponse);
    if (responses.length === 0) continue;
    if ((contents[i].role ?? 'user') !== 'user') return `* GenerateContentRequest.contents[${i}]: function responses must be in a user turn`;
    const prev = i > 0 ? contents[i - 1] : null;
    const calls = prev && prev.role === 'model' ? prev.parts.filter((p) => p.functionCall).map((p) => p.functionCall) : [];
    if (calls.length !== responses.length) {
      return `Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn. (contents[${i}]: ${responses.length} responses, ${calls.length} calls)`;
    }
    const names = calls.map((c) => c.name).sort();
    const got = responses.map((r) => r.name).sort();
    if (JSON.stringify(names) !== JSON.stringify(got)) return `* GenerateContentRequest.contents[${i}]: function response names ${JSON.stringify(got)} do not match the calls ${JSON.stringify(names)}`;
    const callIds = calls.map((c) => c.id).filter((x) => x !== undefined);
    for (const r of responses) {
      if (r.id !== undefined && callIds.length > 0 && !callIds.includes(r.id)) return `* GenerateContentRequest.contents[${i}]: function response id ${r.id} matches no function call id`;
    }
  }
  return null;
}

// The inlineData parts of every turn that are not images, as documentsAnswer (fake_common.mjs)
// describes them (name: displayName).
function documentsOf(contents) {
  const out = [];
  for (const c of contents ?? []) {
    for (const p of c?.parts ?? []) {
      const blob = p?.inlineData;
      if (!blob || blob.mimeType.startsWith('image/')) continue;
      out.push({ mediaType: blob.mimeType, bytes: strictBase64(blob.data), name: blob.displayName ?? null });
    }
  }
  return out;
}

function lastUserText(contents) {
  for (let i = contents.length - 1; i >= 0; i--) {
    const c = contents[i];
    if ((c.role ?? 'user') !== 'user') continue;
    return c.parts.filter((p) => typeof p.text === 'string').map((p) => p.text).join('');
  }
  return '';
}

function functionResponsesOf(contents) {
  const out = [];
  for (const c of contents) {
    for (const p of c.parts) {
      if (p.functionResponse) out.push({ id: p.functionResponse.id ?? null, name: p.functionResponse.name, response: p.functionResponse.response });
    }
  }
  return out;
}

// The fake's token count of a GenerateContentRequest: deterministic, growing with the content.
export function countTokensOf(request) {
  return Math.ceil(JSON.stringify([request.systemInstruction ?? null, request.contents, request.tools ?? null]).length / 4);
}

// Returns an error message when a countTokens body is not one the real API would take.
function validateCountTokens(body, model) {
  if (!isObject(body)) return 'Invalid JSON payload received. Expected an object.';
  for (const key of Object.keys(body)) {
    if (key !== 'contents' && key !== 'generateContentRequest') return `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`;
  }
  if (body.generateContentRequest === undefined) return validateGenerateContent({ contents: body.contents });
  if (body.contents !== undefined) return 'contents and generateContentRequest cannot both be set';
  const { model: named, ...request } = isObject(body.generateContentRequest) ? body.generateContentRequest : {};
  if (named !== `models/${model}`) return `* CountTokensRequest.generate_content_request.model: must be "models/${model}", got ${JSON.stringify(named)}`;
  return validateGenerateContent(request);
}

export async function startFakeGemini(options = {}) {
  const requiredKey = options.apiKey ?? null;
  const requests = [];
  const stats = { cancelled: 0, hits: {}, connections: 0 };
  let seq = 0;

  const fake = createFakeServer({
    stats,
    onRequest(req, res, raw, body) {
      const url = new URL(req.url, 'http://x');
      const m = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|countTokens)$/.exec(url.pathname);
      const entry = {
        seq: seq++, at: Date.now(), method: req.method, path: url.pathname, query: url.search,
        model: m ? decodeURIComponent(m[1]) : null, action: m ? m[2] : null, headers: { ...req.headers }, body, raw,
      };
      requests.push(entry);
      return handle(req, res, url, entry);
    },
    onCrash(res, err) {
      sendError(res, 500, `fake crashed: ${err.message}`);
    },
  });
  const { later } = fake;

  function sendJSON(res, status, obj, headers = {}) {
    writeJSON(res, status, obj, headers, 'application/json; charset=UTF-8');
  }

  function sendError(res, code, message, headers = {}, status) {
    sendJSON(res, code, geminiErrorBody(code, message, status), headers);
  }

  async function handle(req, res, url, entry) {
    if (req.method !== 'POST' || !entry.model) return sendError(res, 404, `Not Found: ${req.method} ${url.pathname}`);
    const key = req.headers['x-goog-api-key'];
    if (!key) return sendError(res, 403, 'Method doesn\'t allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.');
    if (requiredKey !== null && key !== requiredKey) return sendError(res, 400, 'API key not valid. Please pass a valid API key.');
    if (entry.action === 'countTokens') return countTokens(res, entry);
    const why = validateGenerateContent(entry.body);
    if (why) return sendError(res, 400, why);
    const model = entry.model;
    countHit(stats, model);
    const behaviour = behaviourOf(model);
    const streaming = entry.action === 'streamGenerateContent';
    const sse = url.searchParams.get('alt') === 'sse';
    if (await failure(res, behaviour, model, streaming)) return;
    if (!streaming) return whole(res, entry.body, model, behaviour);
    return stream(res, entry.body, model, behaviour, sse);
  }

  async function countTokens(res, entry) {
    const why = validateCountTokens(entry.body, entry.model);
    if (why) return sendError(res, 400, why);
    countHit(stats, entry.model);
    if (await failure(res, behaviourOf(entry.model), entry.model, false)) return;
    const counted = entry.body.generateContentRequest ?? { contents: entry.body.contents };
    sendJSON(res, 200, { totalTokens: countTokensOf(counted) });
  }

  async function failure(res, behaviour, model, streaming) {
    switch (behaviour.kind) {
      case 'fail-500':
        sendError(res, 500, 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting');
        return true;
      case 'fail-503':
        sendError(res, 503, 'The model is overloaded. Please try again later.');
        return true;
      case 'fail-400':
        sendError(res, 400, 'the fake says no (fail-400)');
        return true;
      case 'rate-429':
        sendError(res, 429, `Resource has been exhausted (e.g. check quota). (${model})`, retryAfterHeaders(behaviour));
        return true;
      case 'flaky':
        if (flakyFails(stats, model, behaviour)) {
          sendError(res, 503, `The model is overloaded (flaky ${stats.hits[model]} of ${behaviour.failures}).`);
          return true;
        }
        return false;
      case 'hang':
        fake.hang(res);
        return true;
      case 'close-before-first':
        fake.closeBeforeFirst(res, streaming, 'text/event-stream');
        return true;
      case 'stream-error':
        if (!streaming) {
          sendError(res, 503, 'The model is overloaded. Please try again later.');
          return true;
        }
        return false;
      case 'garbage':
        sendGarbage(res, streaming, { 'content-type': 'text/event-stream' }, 'data: not-json\r\n\r\n',
          'application/json; charset=UTF-8');
        return true;
      default:
        return false;
    }
  }

  const responseId = () => `fakeResp${seq}`;

  function usage(candidates = GEMINI_USAGE.candidatesTokenCount) {
    const thoughts = GEMINI_USAGE.thoughtsTokenCount;
    return {
      promptTokenCount: GEMINI_USAGE.promptTokenCount,
      candidatesTokenCount: candidates,
      thoughtsTokenCount: thoughts,
      totalTokenCount: GEMINI_USAGE.promptTokenCount + candidates + thoughts,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: GEMINI_USAGE.promptTokenCount }],
    };
  }

  function callPart(c, index, withIds) {
    const part = { functionCall: { ...(withIds ? { id: c.id } : {}), name: c.name, args: c.args } };
    if (index === 0) part.thoughtSignature = GEMINI_THOUGHT_SIGNATURE;
    return part;
  }

  // schema*: answers as Gemini would follow the request. Function declarations in play (mode
  // ANY, or AUTO with no function responses yet): two calls of the first allowed function
  // (Gemini has no switch against parallel calls), args built from its parameters; else
  // generationConfig.responseSchema followed (properties in propertyOrdering's order, else
  // alphabetical, as Gemini answers); responseMimeType application/json without a schema: the
  // schema in the prompt (schemaInText) followed; else plain text.
  function schemaAnswer(body) {
    const declarations = (body.tools ?? []).flatMap((t) => t?.functionDeclarations ?? []);
    const fcc = body.toolConfig?.functionCallingConfig ?? { mode: 'AUTO' };
    const allowed = Array.isArray(fcc.allowedFunctionNames) ? declarations.filter((d) => fcc.allowedFunctionNames.includes(d.name)) : declarations;
    const answered = functionResponsesOf(body.contents).length > 0;
    if (allowed.length > 0 && fcc.mode !== 'NONE' && (fcc.mode === 'ANY' || !answered)) {
      const fn = allowed[0];
      const args = instanceOf(fn.parameters) ?? {};
      return { parts: [0, 1].map((i) => callPart({ name: fn.name, args }, i, false)), finishReason: 'STOP' };
    }
    const config = body.generationConfig ?? {};
    if (config.responseSchema) return { parts: [{ text: JSON.stringify(instanceOf(config.responseSchema)) }], finishReason: 'STOP' };
    if (config.responseMimeType === 'application/json') {
      const said = [body.systemInstruction, ...(body.contents ?? [])].flatMap((c) => c?.parts ?? []).map((p) => p?.text ?? '').join('\n');
      const inPrompt = schemaInText(said);
      return { parts: [{ text: JSON.stringify(inPrompt ? instanceOf(inPrompt) : { answer: '<answer>' }) }], finishReason: 'STOP' };
    }
    const responses = functionResponsesOf(body.contents);
    return { parts: [{ text: responses.length > 0 ? `done: ${JSON.stringify(responses.at(-1).response)}` : GEMINI_TEXT }], finishReason: 'STOP' };
  }

  // The answer, a thought summary first when the request includes thoughts.
  function answerOf(body, behaviour) {
    const answer = plainAnswerOf(body, behaviour);
    if (!thoughtsIncluded(body) || answer.blocked || answer.parts.length === 0) return answer;
    return { ...answer, parts: [{ text: geminiThoughtOf(body.contents), thought: true }, ...answer.parts] };
  }

  // The answer: {parts, finishReason, blocked}.
  function plainAnswerOf(body, behaviour) {
    switch (behaviour.kind) {
      case 'echo': {
        let t = `echo: ${lastUserText(body.contents)}`;
        const responses = functionResponsesOf(body.contents);
        if (responses.length > 0) t += `\n[function_responses] ${JSON.stringify(responses)}`;
        return { parts: [{ text: t }], finishReason: 'STOP' };
      }
      case 'docs':
        return { parts: [{ text: documentsAnswer(documentsOf(body.contents)) }], finishReason: 'STOP' };
      case 'tools':
      case 'tools-ids':
        return { parts: GEMINI_CALLS.map((c, i) => callPart(c, i, behaviour.kind === 'tools-ids')), finishReason: 'STOP' };
      case 'tools-noargs':
        return { parts: [{ functionCall: { name: 'get_time' }, thoughtSignature: GEMINI_THOUGHT_SIGNATURE }], finishReason: 'STOP' };
      case 'max-tokens':
        return { parts: [{ text: 'Hello from' }], finishReason: 'MAX_TOKENS' };
      case 'safety':
        return { parts: [], finishReason: 'SAFETY' };
      case 'blocked':
        return { parts: [], blocked: true };
      case 'schema':
        return schemaAnswer(body);
      case 'agent': {
        const responses = functionResponsesOf(body.contents);
        if (responses.length === 0) return { parts: [{ functionCall: { name: GEMINI_AGENT_CALL.name, args: GEMINI_AGENT_CALL.args } }], finishReason: 'STOP' };
        const response = responses.at(-1).response ?? {};
        const said = ['output', 'content', 'result'].map((k) => response[k]).find((v) => typeof v === 'string') ?? JSON.stringify(response);
        return { parts: [{ text: `tool said: ${said.trim()}` }], finishReason: 'STOP' };
      }
      case 'toolloop': {
        const offered = (body.tools ?? []).flatMap((t) => t?.functionDeclarations ?? []).map((d) => d.name);
        const responses = functionResponsesOf(body.contents);
        const next = nextToolLoopCall('', offered, responses.map((r) => r.name));
        if (next && body.toolConfig?.functionCallingConfig?.mode !== 'NONE') return { parts: [callPart({ name: next.name, args: next.arguments }, 0, false)], finishReason: 'STOP' };
        const said = responses.map((r) => r.response?.result ?? r.response?.error)
          .map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
        return { parts: [{ text: `tool said: ${said.join(' | ')}` }], finishReason: 'STOP' };
      }
      default:
        return { parts: [{ text: GEMINI_TEXT }], finishReason: 'STOP' };
    }
  }

  const safetyRatings = (blocked) => [
    { category: 'HARM_CATEGORY_HATE_SPEECH', probability: 'NEGLIGIBLE' },
    { category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: blocked ? 'HIGH' : 'NEGLIGIBLE', ...(blocked ? { blocked: true } : {}) },
  ];

  function responseOf(model, answer) {
    if (answer.blocked) {
      return {
        promptFeedback: { blockReason: 'SAFETY', safetyRatings: safetyRatings(true) },
        usageMetadata: { promptTokenCount: GEMINI_USAGE.promptTokenCount, totalTokenCount: GEMINI_USAGE.promptTokenCount },
        modelVersion: model,
        responseId: responseId(),
      };
    }
    const candidate = { index: 0, finishReason: answer.finishReason };
    if (answer.parts.length > 0) candidate.content = { role: 'model', parts: answer.parts };
    if (answer.finishReason === 'SAFETY') candidate.safetyRatings = safetyRatings(true);
    return { candidates: [candidate], usageMetadata: usage(), modelVersion: model, responseId: responseId() };
  }

  function whole(res, body, model, behaviour) {
    if (behaviour.kind === 'stall') return fake.stallWhole(res, 'application/json; charset=UTF-8');
    const response = responseOf(model, answerOf(body, behaviour));
    if (behaviour.kind === 'close-mid-stream') return fake.halfBodyThenClose(res, response, 'application/json; charset=UTF-8');
    if (behaviour.kind === 'slow-stream') return fake.answerLater(res, behaviour, () => sendJSON(res, 200, response));
    sendJSON(res, 200, response);
  }

  function stream(res, body, model, behaviour, sse) {
    const rid = responseId();
    const chunkOf = (parts, finishReason, candidates) => {
      const candidate = { index: 0 };
      if (parts.length > 0) candidate.content = { role: 'model', parts };
      if (finishReason) candidate.finishReason = finishReason;
      if (finishReason === 'SAFETY') candidate.safetyRatings = safetyRatings(true);
      return { candidates: [candidate], usageMetadata: usage(candidates), modelVersion: model, responseId: rid };
    };
    let chunks;
    if (behaviour.kind === 'slow-stream' || behaviour.kind === 'stall' || behaviour.kind === 'close-mid-stream' || behaviour.kind === 'stream-error') {
      chunks = null; // timed below
    } else {
      const answer = answerOf(body, behaviour);
      if (answer.blocked) {
        chunks = [responseOf(model, answer)];
      } else if (answer.parts.length === 0) {
        chunks = [chunkOf([], answer.finishReason, 0)];
      } else {
        const thought = answer.parts[0].thought ? [answer.parts[0]] : [];
        const parts = answer.parts.slice(thought.length);
        if (parts[0].functionCall) {
          chunks = parts.map((p, i) => chunkOf([p], i === parts.length - 1 ? answer.finishReason : null, i + 1));
        } else {
          const pieces = behaviour.kind === 'ok' ? GEMINI_TEXT_CHUNKS : splitText(parts[0].text);
          chunks = pieces.map((t, i) => chunkOf([{ text: t }], i === pieces.length - 1 ? answer.finishReason : null, i + 1));
          // The real API ends with the counts that match the whole answer.
          chunks[chunks.length - 1].usageMetadata = usage();
        }
        if (thought.length > 0) chunks.unshift(chunkOf(thought, null, 0));
      }
    }
    if (!sse) {
      // streamGenerateContent without alt=sse: a JSON array, as the real API answers.
      if (chunks === null) return sendError(res, 400, 'this fake serves timed behaviours with alt=sse only');
      return sendJSON(res, 200, chunks);
    }
    const { state, write } = fake.openStream(res, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    const data = (obj) => `data: ${JSON.stringify(obj)}\r\n\r\n`;
    switch (behaviour.kind) {
      case 'stall':
        write(data(chunkOf([{ text: 'Hello' }], null, 1)));
        return;
      case 'close-mid-stream':
        fake.closeMidStream(res, state, [data(chunkOf([{ text: 'Hello' }], null, 1))], data(chunkOf([{ text: ' from' }], null, 2)));
        return;
      case 'stream-error':
        write(data(chunkOf([{ text: 'Hello' }], null, 1)));
        later(20, () => {
          state.done = true;
          if (!res.destroyed) res.end(data(geminiErrorBody(503, 'The model is overloaded. Please try again later.')));
        });
        return;
      case 'slow-stream': {
        let i = 0;
        const tick = () => {
          if (res.destroyed) return;
          const last = i === behaviour.count - 1;
          write(data(chunkOf([{ text: `${i} ` }], last ? 'STOP' : null, i + 1)));
          i++;
          if (last) {
            state.done = true;
            res.end();
            return;
          }
          later(behaviour.intervalMs, tick);
        };
        tick();
        return;
      }
      default:
        state.done = true;
        res.end(chunks.map(data).join(''));
    }
  }

  const port = await fake.listen();

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    stats,
    requestsFor(model) {
      return requests.filter((r) => r.model === model);
    },
    ...commonApi({ requests, stats, fake }),
  };
}
