// /admin/evals and /admin/shadow as the Evaluations page reads them. The numbers (means, CIs,
// paired comparisons) are keel's own (src/evals/report.h); the console only draws them.
import { getJson } from './api';

export interface EvalDescribe {
  target?: string;
  data?: string;
  out?: string;
  candidates?: string[];
  evaluators?: string[];
}

export interface EvalRunInfo {
  id: string;
  created_ms: number;
  describe: EvalDescribe;
  rows: number;
  last_ms: number;
}

export interface MetricSummary {
  mean: number | null;
  ci_low: number | null;
  ci_high: number | null;
  n: number;
  failed: number;
  pass_rate: number | null;
}

export interface CandidateSummary {
  model: string;
  metrics: Record<string, MetricSummary>;
  rows: number;
  errors: number;
  pass_rate: number;
  latency_ms: { p50: number; p95: number };
  tokens: { prompt: number; completion: number };
  cost: number | null;
}

export interface PairedMetric {
  n: number;
  mean_a: number;
  mean_b: number;
  diff: number;
  ci_low: number;
  ci_high: number;
  a_better: number;
  b_better: number;
  sign_test_p: number;
  significant: boolean;
}

export interface Comparison {
  a: string;
  b: string;
  metrics: Record<string, PairedMetric>;
}

export interface EvalSummary {
  candidates: CandidateSummary[];
  metrics: string[];
  versus_best: { baseline?: string; comparisons: Comparison[] };
}

export interface Score {
  value: number | null;
  passed?: boolean;
  error?: string;
}

export interface EvalRow {
  line: number;
  candidate: string;
  inputs: Record<string, unknown>;
  output: string | null;
  error?: string;
  latency_ms: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost: number | null;
  scores: Record<string, Score>;
}

export interface EvalRunReport extends EvalRunInfo {
  summary: EvalSummary;
  results: EvalRow[];
  results_truncated: boolean;
}

export interface RunComparison {
  a: string;
  b: string;
  comparisons: Comparison[];
}

export interface ShadowInfo {
  model: string;
  candidate: string;
  percent: number;
  evaluators: string[];
}

export interface ShadowSide {
  text: string | null;
  error?: string;
  latency_ms: number;
  prompt_tokens: number;
  completion_tokens: number;
  target: string;
  cost: number | null;
}

export interface ShadowPair {
  id: string;
  created_ms: number;
  shadow_model: string;
  result: { question: string; served: ShadowSide; shadow: ShadowSide; scores: Record<string, Score> } | null;
}

export interface LatencyStats {
  p50: number;
  p95: number;
}

export interface ShadowReport {
  model: string;
  mirror: { mirrored: number; dropped: number; failed: number };
  report: {
    pairs: number;
    candidate_failures: number;
    candidates: string[];
    metrics: Record<string, { mean: number; ci_low: number; ci_high: number; n: number; failed: number }>;
    served: { latency_ms: LatencyStats; tokens: number; cost: number | null };
    shadow: { latency_ms: LatencyStats; tokens: number; cost: number | null };
  };
  recent: ShadowPair[];
}

const seg = encodeURIComponent;

export const evalRuns = () => getJson<{ data: EvalRunInfo[] }>('/admin/evals', 'admin');
export const evalRun = (id: string) => getJson<EvalRunReport>(`/admin/evals/${seg(id)}`, 'admin');
export const compareRuns = (a: string, b: string) =>
  getJson<RunComparison>(`/admin/evals/${seg(a)}/compare/${seg(b)}`, 'admin');
export const shadows = () => getJson<{ data: ShadowInfo[] }>('/admin/shadow', 'admin');
export const shadowReport = (model: string) => getJson<ShadowReport>(`/admin/shadow/${seg(model)}`, 'admin');
