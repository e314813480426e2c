// Evaluations: the runs `keel eval` kept in the state store, a run's report (each candidate's
// metrics with their confidence intervals, per-line outputs side by side with word diffs), two
// runs compared (keel's paired bootstrap and sign test), and shadow traffic's reports. Every
// number comes from keel (/admin/evals, /admin/shadow); this page only draws.
//
// Routes: #/evals, #/evals/run/ID, #/evals/compare/A/B, #/evals/shadow/MODEL; each id is encoded
// twice, since main.tsx decodes the route once and a run id may hold slashes.
import { diffWords } from 'diff';
import { useState } from 'preact/hooks';
import {
  compareRuns,
  evalRun,
  evalRuns,
  shadowReport,
  shadows,
  type CandidateSummary,
  type Comparison,
  type EvalRow,
  type EvalRunReport,
  type Score,
} from '../evals_api';
import { Bars, IntervalChart } from '../charts';
import { Failure, Head, Loading, count, dateTime, ms, percent, useLoad } from '../ui';

const enc = (id: string) => encodeURIComponent(encodeURIComponent(id));
export const runHash = (id: string) => `#/evals/run/${enc(id)}`;
const compareHash = (a: string, b: string) => `#/evals/compare/${enc(a)}/${enc(b)}`;
const shadowHash = (model: string) => `#/evals/shadow/${enc(model)}`;

export function Evaluations({ route }: { route?: string }) {
  const [kind, ...ids] = (route ?? '').split('/').map(decodeURIComponent);
  if (kind === 'run' && ids[0]) return <RunReport id={ids[0]} />;
  if (kind === 'compare' && ids[0] && ids[1]) return <RunCompare a={ids[0]} b={ids[1]} />;
  if (kind === 'shadow' && ids[0]) return <ShadowPage model={ids[0]} />;
  return <RunList />;
}

function fixed(value: number | null | undefined, digits = 3): string {
  return value === null || value === undefined ? '–' : value.toFixed(digits);
}

function cost(value: number | null): string {
  return value === null ? 'unpriced' : `$${value.toFixed(4)}`;
}

// ---- the list -------------------------------------------------------------------------------

function RunList() {
  const runs = useLoad(evalRuns, []);
  const shadowed = useLoad(shadows, []);
  const [a, setA] = useState('');
  const [b, setB] = useState('');
  if (runs.error) return <Failure error={runs.error} />;
  if (!runs.data) return <Loading />;
  const list = runs.data.data;
  const pickA = a || list[1]?.id || '';
  const pickB = b || list[0]?.id || '';
  return (
    <section class="evals">
      <h2>Runs</h2>
      {list.length === 0 ? (
        <div class="card">
          No evaluation runs yet: <code>keel eval TARGET --data FILE</code> with this keel’s config keeps its rows
          here.
        </div>
      ) : (
        <>
          <div class="card table-card">
            <table class="runs">
              <caption class="visually-hidden">Evaluation runs, newest first</caption>
              <Head columns={['run', 'target', 'candidates', 'evaluators', 'rows', 'started', 'last row']} />
              <tbody>
                {list.map((run) => (
                  <tr key={run.id}>
                    <td class="wrap">
                      <a href={runHash(run.id)}>{run.id}</a>
                    </td>
                    <td>{run.describe.target ?? '–'}</td>
                    <td>{(run.describe.candidates ?? []).join(', ') || '–'}</td>
                    <td>{(run.describe.evaluators ?? []).join(', ') || '–'}</td>
                    <td>{count(run.rows)}</td>
                    <td class="nowrap">{dateTime(run.created_ms)}</td>
                    <td class="nowrap">{run.last_ms ? dateTime(run.last_ms) : '–'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {list.length >= 2 && (
            <form
              class="card filters compare-form"
              onSubmit={(event) => {
                event.preventDefault();
                location.hash = compareHash(pickA, pickB);
              }}
            >
              <h2 class="visually-hidden">Compare two runs</h2>
              <RunPick id="run-a" label="Run A (baseline)" value={pickA} runs={list} onChange={setA} />
              <RunPick id="run-b" label="Run B" value={pickB} runs={list} onChange={setB} />
              <div class="field actions">
                <button type="submit" disabled={!pickA || !pickB || pickA === pickB}>
                  Compare
                </button>
              </div>
            </form>
          )}
        </>
      )}
      <h2>Shadow traffic</h2>
      {shadowed.error ? (
        <Failure error={shadowed.error} />
      ) : !shadowed.data ? (
        <Loading />
      ) : shadowed.data.data.length === 0 ? (
        <div class="card">
          No model mirrors its traffic: <code>shadow: {'{model: CANDIDATE, percent: 10}'}</code> on a model does.
        </div>
      ) : (
        <ul class="card plain-list shadows">
          {shadowed.data.data.map((s) => (
            <li key={s.model}>
              <a href={shadowHash(s.model)}>{s.model}</a> → {s.candidate}{' '}
              <span class="muted">
                ({s.percent}% of requests, scored by {s.evaluators.join(', ')})
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function RunPick(props: {
  id: string;
  label: string;
  value: string;
  runs: { id: string; describe: { target?: string } }[];
  onChange: (id: string) => void;
}) {
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <select id={props.id} value={props.value} onChange={(event) => props.onChange(event.currentTarget.value)}>
        {props.runs.map((run) => (
          <option key={run.id} value={run.id}>
            {run.id}
          </option>
        ))}
      </select>
    </div>
  );
}

// ---- one run --------------------------------------------------------------------------------

function RunReport({ id }: { id: string }) {
  const { data, error } = useLoad(() => evalRun(id), [id]);
  if (error) return <Failure error={error} />;
  if (!data) return <Loading />;
  const { summary } = data;
  return (
    <section class="evals">
      <p>
        <a href="#/evals">← All runs</a>
      </p>
      <article class="card" aria-labelledby="run-title">
        <h2 id="run-title" class="wrap-any">
          Run {data.id}
        </h2>
        <dl class="facts">
          <Fact label="target" value={data.describe.target} />
          <Fact label="data" value={data.describe.data} />
          <Fact label="evaluators" value={summary.metrics.join(', ')} />
          <Fact label="rows" value={count(data.rows)} />
          <Fact label="started" value={data.created_ms ? dateTime(data.created_ms) : undefined} />
        </dl>
      </article>
      <CandidateTable candidates={summary.candidates} metrics={summary.metrics} />
      <div class="charts card">
        {summary.metrics.map((metric) => (
          <IntervalChart
            key={metric}
            title={`${metric}: mean with 95% CI`}
            items={summary.candidates
              .filter((c) => c.metrics[metric]?.mean !== null)
              .map((c) => ({
                label: c.model,
                value: c.metrics[metric].mean ?? 0,
                low: c.metrics[metric].ci_low ?? 0,
                high: c.metrics[metric].ci_high ?? 0,
              }))}
          />
        ))}
        <Bars
          title="Latency p50 per candidate"
          unit="ms"
          items={summary.candidates.map((c) => ({ label: c.model, value: Math.round(c.latency_ms.p50) }))}
        />
      </div>
      {summary.versus_best.comparisons.length > 0 && (
        <ComparisonTables
          title={`Against the best ranked (${summary.versus_best.baseline})`}
          comparisons={summary.versus_best.comparisons}
        />
      )}
      <RowsTable report={data} />
    </section>
  );
}

function Fact({ label, value }: { label: string; value?: string }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd class="wrap-any">{value || '–'}</dd>
    </div>
  );
}

function CandidateTable({ candidates, metrics }: { candidates: CandidateSummary[]; metrics: string[] }) {
  return (
    <div class="card table-card">
      <table class="candidates">
        <caption class="visually-hidden">Candidates, best ranked first</caption>
        <Head
          columns={[
            'candidate',
            ...metrics.map((m) => `${m} (95% CI)`),
            'pass rate',
            'errors',
            'latency p50 / p95',
            'tokens',
            'cost',
          ]}
        />
        <tbody>
          {candidates.map((c) => (
            <tr key={c.model}>
              <th scope="row">{c.model}</th>
              {metrics.map((m) => {
                const s = c.metrics[m];
                return (
                  <td key={m} class="nowrap">
                    {fixed(s?.mean)}{' '}
                    {s?.mean !== null && s?.mean !== undefined && (
                      <span class="muted">
                        [{fixed(s.ci_low)}, {fixed(s.ci_high)}]
                      </span>
                    )}
                    {s?.failed ? <span class="muted"> · {s.failed} unscored</span> : null}
                  </td>
                );
              })}
              <td>{percent(c.pass_rate)}</td>
              <td>{count(c.errors)}</td>
              <td class="nowrap">
                {ms(c.latency_ms.p50)} / {ms(c.latency_ms.p95)}
              </td>
              <td class="nowrap">
                {count(c.tokens.prompt)} + {count(c.tokens.completion)}
              </td>
              <td>{cost(c.cost)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// keel's paired comparisons (B against A), a table and a chart of the differences each.
function ComparisonTables({ title, comparisons }: { title: string; comparisons: Comparison[] }) {
  return (
    <>
      {comparisons.map((pair) => {
        const metrics = Object.entries(pair.metrics);
        return (
          <article class="card comparison" key={`${pair.a}/${pair.b}`} aria-label={`${pair.b} against ${pair.a}`}>
            <h2>
              {title}: {pair.b} against {pair.a}
            </h2>
            <div class="comparison-body">
              <table>
                <caption class="visually-hidden">
                  Paired differences, {pair.b} minus {pair.a}
                </caption>
                <Head columns={['metric', 'pairs', `mean ${pair.a}`, `mean ${pair.b}`, 'difference (95% CI)', 'sign test p', '']} />
                <tbody>
                  {metrics.map(([name, m]) => (
                    <tr key={name}>
                      <th scope="row">{name}</th>
                      <td>{m.n}</td>
                      <td>{fixed(m.mean_a)}</td>
                      <td>{fixed(m.mean_b)}</td>
                      <td class="nowrap">
                        {m.diff >= 0 ? '+' : ''}
                        {fixed(m.diff)}{' '}
                        <span class="muted">
                          [{fixed(m.ci_low)}, {fixed(m.ci_high)}]
                        </span>
                      </td>
                      <td>{fixed(m.sign_test_p)}</td>
                      <td>
                        <span class={`badge ${m.significant ? (m.diff > 0 ? 'ok' : 'bad') : 'neutral'}`}>
                          {m.significant ? (m.diff > 0 ? `${pair.b} better` : `${pair.a} better`) : 'no clear difference'}
                        </span>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {metrics.length > 0 && (
                <IntervalChart
                  title={`${pair.b} − ${pair.a}`}
                  items={metrics.map(([name, m]) => ({
                    label: name,
                    value: m.diff,
                    low: m.ci_low,
                    high: m.ci_high,
                    cls: m.significant ? (m.diff > 0 ? 's-green' : 's-red') : 's-blue',
                  }))}
                />
              )}
            </div>
          </article>
        );
      })}
    </>
  );
}

// The row's text as words kept, removed (<del>) and added (<ins>) against `reference`.
function Diff({ reference, text }: { reference: string; text: string }) {
  return (
    <>
      {diffWords(reference, text).map((part, i) =>
        part.added ? <ins key={i}>{part.value}</ins> : part.removed ? <del key={i}>{part.value}</del> : <span key={i}>{part.value}</span>,
      )}
    </>
  );
}

function Scores({ scores }: { scores: Record<string, Score> }) {
  return (
    <div class="scores">
      {Object.entries(scores).map(([name, s]) => (
        <span
          key={name}
          class={`badge ${s.value === null ? 'neutral' : s.passed ? 'ok' : 'bad'}`}
          title={s.error || undefined}
        >
          {name} {s.value === null ? 'unscored' : fixed(s.value, 2)}
        </span>
      ))}
    </div>
  );
}

function Output({ row, reference }: { row?: EvalRow; reference?: string }) {
  if (!row) return <span class="muted">not run</span>;
  if (row.error) return <span class="error">{row.error}</span>;
  const text = row.output ?? '';
  return (
    <>
      <div class="output">{reference !== undefined ? <Diff reference={reference} text={text} /> : text}</div>
      <Scores scores={row.scores} />
    </>
  );
}

const text = (value: unknown) => (value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value));

const PAGE = 50;

// Per data line: the question, the ground truth, and each candidate's output side by side,
// diffed word by word against the ground truth.
function RowsTable({ report }: { report: EvalRunReport }) {
  const [shown, setShown] = useState(PAGE);
  const candidates = report.summary.candidates.map((c) => c.model);
  const lines = new Map<number, Map<string, EvalRow>>();
  for (const row of report.results) {
    if (!lines.has(row.line)) lines.set(row.line, new Map());
    lines.get(row.line)!.set(row.candidate, row);
  }
  const entries = [...lines.entries()];
  return (
    <article class="card table-card rows-card" aria-labelledby="rows-title">
      <h2 id="rows-title" class="pad">
        Rows: each candidate’s answer against the ground truth
      </h2>
      <p class="muted pad">
        Words the answer lacks are <del>struck out</del>, words it adds <ins>underlined</ins>.
        {report.results_truncated && ' Only the first rows are sent; the summary counts all.'}
      </p>
      <table class="eval-rows">
        <caption class="visually-hidden">Rows of run {report.id}</caption>
        <Head columns={['line', 'question', 'ground truth', ...candidates]} />
        <tbody>
          {entries.slice(0, shown).map(([line, rows]) => {
            const first = rows.values().next().value as EvalRow;
            const truth = text(first.inputs.ground_truth);
            return (
              <tr key={line}>
                <td>{line + 1}</td>
                <td class="wrap">{text(first.inputs.question)}</td>
                <td class="wrap">{truth || <span class="muted">–</span>}</td>
                {candidates.map((c) => (
                  <td key={c} class="wrap">
                    <Output row={rows.get(c)} reference={truth || undefined} />
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
      {entries.length > shown && (
        <div class="pager">
          <span class="muted">
            {shown} of {entries.length} lines
          </span>
          <button type="button" class="secondary" onClick={() => setShown(entries.length)}>
            Show all lines
          </button>
        </div>
      )}
    </article>
  );
}

// ---- two runs -------------------------------------------------------------------------------

function RunCompare({ a, b }: { a: string; b: string }) {
  const comparison = useLoad(() => compareRuns(a, b), [a, b]);
  const runA = useLoad(() => evalRun(a), [a]);
  const runB = useLoad(() => evalRun(b), [b]);
  const [onlyChanged, setOnlyChanged] = useState(false);
  const error = comparison.error ?? runA.error ?? runB.error;
  if (error) return <Failure error={error} />;
  if (!comparison.data || !runA.data || !runB.data) return <Loading />;
  const pairs = comparison.data.comparisons;
  return (
    <section class="evals">
      <p>
        <a href="#/evals">← All runs</a>
      </p>
      <div class="card">
        <dl class="facts">
          <Fact label="A (baseline)" value={a} />
          <Fact label="B" value={b} />
        </dl>
        <p class="muted">
          Rows are paired by data line; differences are B − A with a paired bootstrap 95% CI, and called clear when the CI
          excludes 0.
        </p>
      </div>
      <ComparisonTables title="Compared" comparisons={pairs} />
      <label class="check">
        <input type="checkbox" checked={onlyChanged} onChange={(event) => setOnlyChanged(event.currentTarget.checked)} />
        Only lines whose scores differ
      </label>
      {pairs.map((pair) => (
        <PairedRows
          key={`${pair.a}/${pair.b}`}
          pair={pair}
          rowsA={runA.data!.results.filter((r) => r.candidate === pair.a)}
          rowsB={runB.data!.results.filter((r) => r.candidate === pair.b)}
          onlyChanged={onlyChanged}
        />
      ))}
    </section>
  );
}

function sameScores(x?: EvalRow, y?: EvalRow): boolean {
  if (!x || !y) return false;
  const names = new Set([...Object.keys(x.scores), ...Object.keys(y.scores)]);
  return [...names].every((n) => x.scores[n]?.value === y.scores[n]?.value);
}

function PairedRows(props: { pair: Comparison; rowsA: EvalRow[]; rowsB: EvalRow[]; onlyChanged: boolean }) {
  const byLine = new Map(props.rowsB.map((row) => [row.line, row]));
  const lines = props.rowsA
    .map((row) => ({ a: row, b: byLine.get(row.line) }))
    .filter(({ a, b }) => !props.onlyChanged || !sameScores(a, b));
  return (
    <article class="card table-card rows-card" aria-label={`Lines of ${props.pair.a} and ${props.pair.b}`}>
      <h2 class="pad">
        Line by line: {props.pair.a} (A) and {props.pair.b} (B)
      </h2>
      <p class="muted pad">B’s answer is diffed against A’s.</p>
      <table class="paired-rows">
        <caption class="visually-hidden">Paired lines</caption>
        <Head columns={['line', 'question', 'A', 'B']} />
        <tbody>
          {lines.slice(0, 200).map(({ a, b }) => (
            <tr key={a.line} class={sameScores(a, b) ? undefined : 'changed'}>
              <td>{a.line + 1}</td>
              <td class="wrap">{text(a.inputs.question)}</td>
              <td class="wrap">
                <Output row={a} />
              </td>
              <td class="wrap">
                <Output row={b} reference={a.output ?? undefined} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {lines.length > 200 && <p class="muted pad">The first 200 of {lines.length} lines.</p>}
    </article>
  );
}

// ---- shadow traffic -------------------------------------------------------------------------

function ShadowPage({ model }: { model: string }) {
  const { data, error } = useLoad(() => shadowReport(model), [model], 10_000);
  if (error) return <Failure error={error} />;
  if (!data) return <Loading />;
  const { report, mirror } = data;
  const metrics = Object.entries(report.metrics);
  return (
    <section class="evals">
      <p>
        <a href="#/evals">← Evaluations</a>
      </p>
      <article class="card" aria-labelledby="shadow-title">
        <h2 id="shadow-title">
          {model} shadowed by {report.candidates.join(', ') || '–'}
        </h2>
        <dl class="facts">
          <Fact label="pairs scored" value={count(report.pairs)} />
          <Fact label="candidate failures" value={count(report.candidate_failures)} />
          <Fact label="mirrored since start" value={count(mirror.mirrored)} />
          <Fact label="dropped (busy)" value={count(mirror.dropped)} />
          <Fact label="served tokens · cost" value={`${count(report.served.tokens)} · ${cost(report.served.cost)}`} />
          <Fact label="candidate tokens · cost" value={`${count(report.shadow.tokens)} · ${cost(report.shadow.cost)}`} />
        </dl>
        <p class="muted">Scores compare the candidate’s answer with the answer the client was served.</p>
      </article>
      {report.pairs > 0 && (
        <div class="charts card">
          {metrics.length > 0 && (
            <IntervalChart
              title="Candidate against served: mean with 95% CI"
              items={metrics.map(([name, m]) => ({ label: name, value: m.mean, low: m.ci_low, high: m.ci_high }))}
            />
          )}
          <Bars
            title="Latency p50 and p95"
            unit="ms"
            items={[
              { label: 'served p50', value: Math.round(report.served.latency_ms.p50) },
              { label: 'candidate p50', value: Math.round(report.shadow.latency_ms.p50) },
              { label: 'served p95', value: Math.round(report.served.latency_ms.p95) },
              { label: 'candidate p95', value: Math.round(report.shadow.latency_ms.p95) },
            ]}
          />
        </div>
      )}
      <article class="card table-card rows-card" aria-labelledby="pairs-title">
        <h2 id="pairs-title" class="pad">
          The newest pairs
        </h2>
        {data.recent.length === 0 ? (
          <p class="muted pad">No pairs yet.</p>
        ) : (
          <table class="shadow-pairs">
            <caption class="visually-hidden">Served and candidate answers</caption>
            <Head columns={['time', 'question', 'served', 'candidate (diffed against served)']} />
            <tbody>
              {data.recent.map((pair) => {
                const r = pair.result;
                return (
                  <tr key={pair.id}>
                    <td class="nowrap">
                      <a href={`#/log/${encodeURIComponent(pair.id)}`}>{dateTime(pair.created_ms)}</a>
                    </td>
                    <td class="wrap">{r?.question}</td>
                    <td class="wrap">
                      <div class="output">{r?.served.text}</div>
                      <span class="muted">{r?.served.target}</span>
                    </td>
                    <td class="wrap">
                      {r?.shadow.error ? (
                        <span class="error">{r.shadow.error}</span>
                      ) : (
                        <div class="output">
                          <Diff reference={r?.served.text ?? ''} text={r?.shadow.text ?? ''} />
                        </div>
                      )}
                      <Scores scores={r?.scores ?? {}} />
                      <span class="muted">{r?.shadow.target}</span>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </article>
    </section>
  );
}
