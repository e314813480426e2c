// /admin/flows (each flow's checked graph) and POST /v1/flows/{name}/run with its node outputs.
import { getJson, postJson } from './api';

// A node input or an output as written; `node` / `input` when it reads one.
export interface FlowValue {
  value: unknown;
  node?: string;
  input?: string;
}

export interface FlowNodeInfo {
  name: string;
  type: string;
  source: string;
  inputs: (FlowValue & { name: string })[];
  aggregation: boolean;
  variant: string;
  variants?: string[];
  connection?: string;
  api?: string;
  activate?: FlowValue & { is: unknown };
}

export interface FlowInfo {
  name: string;
  chat: boolean;
  inputs: { name: string; type: string; default?: unknown; is_chat_input: boolean; is_chat_history: boolean }[];
  outputs: (FlowValue & { name: string; is_chat_output: boolean })[];
  nodes: FlowNodeInfo[];
  order: string[];
}

export interface FlowRunResult {
  outputs: Record<string, unknown>;
  nodes: Record<string, unknown>;
}

export const flows = () => getJson<{ data: FlowInfo[] }>('/admin/flows', 'admin');
export const runFlow = (name: string, inputs: Record<string, unknown>) =>
  postJson<FlowRunResult>(`/v1/flows/${encodeURIComponent(name)}/run`, 'api', { inputs, include: ['nodes'] });
