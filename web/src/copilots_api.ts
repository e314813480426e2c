// /admin/copilots (each copilot as configured), /admin/knowledge (each base's ingest state),
// POST /admin/copilots/validate (an edited copilots: entry checked against the running config) and
// POST /admin/reload (keel's config file read again: copilots rebuilt, a bad file changes nothing).
import { getJson, postJson } from './api';

export interface CopilotInfo {
  name: string;
  instructions: { text?: string; file?: string };
  model: string;
  tools: string[];
  knowledge: string[];
  starters: string[];
  max_tool_rounds: number;
  approval: string[];
  top_k: number;
  yaml: string; // the entry as keel.yaml holds it under copilots:
}

export interface KnowledgeInfo {
  name: string;
  sources: string[];
  embedding_model: string;
  rerank_model: string;
  chunk_tokens: number;
  overlap_tokens: number;
  ingesting: boolean;
  ingested_at_ms: number | null;
  files: number;
  chunks: number;
  failures: { path: string; error: string }[];
  error?: string;
}

export interface YamlError {
  line: number;
  column: number;
  path: string;
  message: string;
}

export interface Validation {
  valid: boolean;
  errors: YamlError[];
  copilot?: CopilotInfo;
}

// POST /admin/reload's answer (server/reload.cpp); a file that fails its checks is a 400.
export interface Reloaded {
  reloaded: boolean;
  source: string;
  public_names?: string[];
  needs_restart: string[];
}

export const copilots = () => getJson<{ data: CopilotInfo[] }>('/admin/copilots', 'admin');
export const knowledgeBases = () => getJson<{ data: KnowledgeInfo[] }>('/admin/knowledge', 'admin');
export const validateCopilot = (yaml: string, signal?: AbortSignal) =>
  postJson<Validation>('/admin/copilots/validate', 'admin', { yaml }, signal);
export const reloadConfig = () => postJson<Reloaded>('/admin/reload', 'admin', {});
