// keel's HTTP API as the console uses it: the client key (api_keys) for /v1/..., the admin key
// (admin_keys) for /admin/.... Keys live in sessionStorage (this tab only) and go nowhere but
// keel's own origin.
import { createParser } from 'eventsource-parser';

export type KeyKind = 'api' | 'admin';

const storageName: Record<KeyKind, string> = { api: 'keel.apiKey', admin: 'keel.adminKey' };

export function getKey(kind: KeyKind): string {
  return sessionStorage.getItem(storageName[kind]) ?? '';
}

export function setKey(kind: KeyKind, key: string): void {
  if (key) sessionStorage.setItem(storageName[kind], key);
  else sessionStorage.removeItem(storageName[kind]);
  keyListeners.forEach((listener) => listener());
}

const keyListeners = new Set<() => void>();
export function onKeyChange(listener: () => void): () => void {
  keyListeners.add(listener);
  return () => keyListeners.delete(listener);
}

// An HTTP error from keel, with its OpenAI-shaped message.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly kind: KeyKind,
  ) {
    super(message);
  }
  get needsKey(): boolean {
    return this.status === 401;
  }
}

async function errorOf(response: Response, kind: KeyKind): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body?.error?.message) message = body.error.message;
  } catch {
    // not JSON: the status line says enough
  }
  return new ApiError(response.status, message, kind);
}

function headers(kind: KeyKind, extra: Record<string, string> = {}): Record<string, string> {
  const key = getKey(kind);
  return key ? { ...extra, authorization: `Bearer ${key}` } : extra;
}

export async function getJson<T>(path: string, kind: KeyKind): Promise<T> {
  const response = await fetch(path, { headers: headers(kind) });
  if (!response.ok) throw await errorOf(response, kind);
  return (await response.json()) as T;
}

export async function postJson<T>(path: string, kind: KeyKind, body: unknown, signal?: AbortSignal): Promise<T> {
  const response = await fetch(path, {
    method: 'POST',
    headers: headers(kind, { 'content-type': 'application/json' }),
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await errorOf(response, kind);
  return (await response.json()) as T;
}

// ---- /v1 ------------------------------------------------------------------------------------

export async function listModels(): Promise<string[]> {
  const body = await getJson<{ data: { id: string }[] }>('/v1/models', 'api');
  return body.data.map((model) => model.id);
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
}

export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
}

// A copilot's citation: OpenAI's url_citation annotation (positions in code points).
export interface Citation {
  url: string;
  title: string;
  start_index: number;
  end_index: number;
}

// What a streamed answer has shown so far.
export interface StreamState {
  text: string;
  toolCalls: ToolCall[];
  citations?: Citation[];
  usage?: Usage;
  finish?: string;
  requestId?: string;
  ttftMs?: number;
  latencyMs?: number;
  error?: string;
}

export const SAMPLE_TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The current weather in a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string', description: 'The city' } },
        required: ['city'],
      },
    },
  },
];

// POST /v1/chat/completions with stream: true; `update` gets the whole state after each chunk.
export async function streamChat(
  model: string,
  messages: ChatMessage[],
  options: { tools: boolean; signal?: AbortSignal },
  update: (state: StreamState) => void,
): Promise<StreamState> {
  const state: StreamState = { text: '', toolCalls: [] };
  const started = performance.now();
  const body: Record<string, unknown> = {
    model,
    messages,
    stream: true,
    stream_options: { include_usage: true },
  };
  if (options.tools) body.tools = SAMPLE_TOOLS;
  let response: Response;
  try {
    response = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: headers('api', { 'content-type': 'application/json' }),
      body: JSON.stringify(body),
      signal: options.signal,
    });
  } catch (error) {
    state.error = String(error);
    update({ ...state });
    return state;
  }
  state.requestId = response.headers.get('x-request-id') ?? undefined;
  if (!response.ok || !response.body) {
    const error = await errorOf(response, 'api');
    if (error.needsKey) throw error;
    state.error = error.message;
    state.latencyMs = Math.round(performance.now() - started);
    update({ ...state });
    return state;
  }
  const parser = createParser({
    onEvent(event) {
      if (event.data === '[DONE]') return;
      let chunk;
      try {
        chunk = JSON.parse(event.data);
      } catch {
        state.error = `keel sent a frame that is not JSON: ${event.data.slice(0, 80)}`;
        return;
      }
      if (chunk.error) {
        state.error = chunk.error.message ?? 'the stream ended with an error';
        return;
      }
      if (chunk.usage) state.usage = chunk.usage;
      for (const choice of chunk.choices ?? []) {
        const delta = choice.delta ?? {};
        const content = typeof delta.content === 'string' ? delta.content : '';
        if ((content || delta.tool_calls) && state.ttftMs === undefined) {
          state.ttftMs = Math.round(performance.now() - started);
        }
        state.text += content;
        for (const call of delta.tool_calls ?? []) {
          const index = typeof call.index === 'number' ? call.index : state.toolCalls.length;
          const known = state.toolCalls[index] ?? { id: '', name: '', arguments: '' };
          state.toolCalls[index] = {
            id: call.id ?? known.id,
            name: known.name + (call.function?.name ?? ''),
            arguments: known.arguments + (call.function?.arguments ?? ''),
          };
        }
        for (const annotation of delta.annotations ?? []) {
          if (annotation.type === 'url_citation' && annotation.url_citation) {
            state.citations = [...(state.citations ?? []), annotation.url_citation];
          }
        }
        if (choice.finish_reason) state.finish = choice.finish_reason;
      }
    },
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(value);
      update({ ...state, toolCalls: [...state.toolCalls] });
    }
  } catch (error) {
    state.error = `the stream broke off: ${String(error)}`;
  }
  state.latencyMs = Math.round(performance.now() - started);
  update({ ...state, toolCalls: [...state.toolCalls] });
  return state;
}

// ---- /admin ---------------------------------------------------------------------------------

export interface RequestSummary {
  id: string;
  started_ms: number;
  endpoint: string;
  model: string;
  stream: boolean;
  status: number;
  error_class: string;
  latency_ms: number;
  ttft_ms: number;
  prompt_tokens: number;
  completion_tokens: number;
  key_id: string;
}

export interface Attempt {
  started_ms: number;
  provider: string;
  target_model: string;
  status: number;
  error_class: string;
  error_message: string;
  latency_ms: number;
  ttft_ms: number;
  prompt_tokens: number;
  completion_tokens: number;
}

export interface RequestDetail extends RequestSummary {
  attempts: Attempt[];
  content: unknown;
  trace_id?: string;
}

// GET /admin/traces/{id} (src/server/trace_json.h): spans in tree order.
export interface TraceSpan {
  span_id: string;
  parent_id: string | null;
  name: string;
  kind: string;
  status: 'ok' | 'error' | 'unset';
  status_message: string;
  depth: number;
  start_ms: number; // from the trace's start
  duration_ms: number;
  attributes: Record<string, string | number | boolean>;
}

export interface TraceTree {
  trace_id: string;
  request_id: string | null;
  start_unix_nano: string;
  duration_ms: number;
  spans: TraceSpan[];
}

export interface RequestPage {
  data: RequestSummary[];
  offset: number;
  limit: number;
  has_more: boolean;
}

export interface WindowStats {
  requests: number;
  errors: number;
  error_rate: number;
  latency_p50_ms: number;
  latency_p95_ms: number;
  ttft_p50_ms: number;
  prompt_tokens: number;
  completion_tokens: number;
}

export interface Bucket {
  start_ms: number;
  requests: number;
  errors: number;
  latency_avg_ms: number;
  tokens: number;
}

export interface TargetInfo {
  provider: string;
  model: string;
  kind?: string;
  breaker?: string;
  latency_ewma_ms?: number;
  attempts: number;
  errors: number;
  latency_avg_ms: number;
}

export interface ModelInfo {
  name: string;
  configured: boolean;
  strategy?: string;
  retries?: number;
  timeout_ms?: number;
  targets: TargetInfo[];
  window: WindowStats;
  buckets: Bucket[];
}

export interface ModelsReport {
  window_ms: number;
  bucket_ms: number;
  until_ms: number;
  models: ModelInfo[];
}

export const adminModels = () => getJson<ModelsReport>('/admin/models', 'admin');
export const adminRequest = (id: string) =>
  getJson<RequestDetail>(`/admin/requests/${encodeURIComponent(id)}`, 'admin');
export const adminTrace = (id: string) =>
  getJson<TraceTree>(`/admin/traces/${encodeURIComponent(id)}`, 'admin');
export function adminRequests(filters: Record<string, string>): Promise<RequestPage> {
  const query = new URLSearchParams(Object.entries(filters).filter(([, value]) => value !== ''));
  return getJson<RequestPage>(`/admin/requests?${query}`, 'admin');
}
