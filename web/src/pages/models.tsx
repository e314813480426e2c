// Models & providers: each public model's targets with their breaker state, and the last hour
// from the request log (requests, error rate, latency p50/p95, tokens), drawn as SVG charts.
import { adminModels, type ModelInfo, type ModelsReport } from '../api';
import { Bars, LineChart } from '../charts';
import { Failure, Head, Loading, count, ms, percent, time, useLoad } from '../ui';

export function Models() {
  const { data, error } = useLoadModels();
  if (error) return <Failure error={error} />;
  if (!data) return <Loading />;
  if (data.models.length === 0) return <div class="card">keel serves no public models.</div>;
  return (
    <section class="models">
      <p class="muted">
        The last hour, from the request log ({time(data.until_ms - data.window_ms)}–{time(data.until_ms)}); refreshed every
        10 s.
      </p>
      {data.models.map((model) => (
        <ModelCard key={model.name} model={model} report={data} />
      ))}
    </section>
  );
}

function useLoadModels() {
  return useLoad<ModelsReport>(adminModels, [], 10_000);
}

function ModelCard({ model, report }: { model: ModelInfo; report: ModelsReport }) {
  const w = model.window;
  const labels: [string, string] = [time(report.until_ms - report.window_ms), time(report.until_ms)];
  return (
    <article class="card model" aria-labelledby={`model-${model.name}`}>
      <header class="model-head">
        <h2 id={`model-${model.name}`}>{model.name}</h2>
        <span class="muted">
          {model.configured
            ? `${model.strategy} · ${model.retries} ${model.retries === 1 ? 'retry' : 'retries'} · timeout ${ms(model.timeout_ms)}`
            : 'not a configured model: clients asked for it'}
        </span>
      </header>
      <div class="kpis">
        <Kpi label="requests" value={count(w.requests)} />
        <Kpi label="error rate" value={w.requests ? percent(w.error_rate) : '–'} bad={w.error_rate > 0.05} />
        <Kpi label="latency p50" value={ms(w.latency_p50_ms)} />
        <Kpi label="latency p95" value={ms(w.latency_p95_ms)} />
        <Kpi label="TTFT p50" value={ms(w.ttft_p50_ms)} />
        <Kpi label="tokens" value={`${count(w.prompt_tokens)} in · ${count(w.completion_tokens)} out`} />
      </div>
      <table class="targets">
        <caption class="visually-hidden">Targets of {model.name}</caption>
        <Head columns={['#', 'provider', 'upstream model', 'breaker', 'attempts (1 h)', 'failed', 'avg latency']} />
        <tbody>
          {model.targets.map((target, i) => (
            <tr key={`${target.provider}/${target.model}`}>
              <td>{i + 1}</td>
              <td>
                {target.provider}
                {target.kind && <span class="muted"> ({target.kind})</span>}
              </td>
              <td>{target.model}</td>
              <td>
                {target.breaker ? <span class={`badge breaker-${target.breaker}`}>{target.breaker}</span> : '–'}
              </td>
              <td>{count(target.attempts)}</td>
              <td>{count(target.errors)}</td>
              <td>{ms(target.latency_avg_ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {model.buckets.length > 0 ? (
        <div class="charts">
          <LineChart
            title="Requests per minute"
            unit="requests"
            xLabels={labels}
            series={[
              { label: 'requests', cls: 's-blue', values: model.buckets.map((b) => b.requests) },
              { label: 'errors', cls: 's-red', values: model.buckets.map((b) => b.errors) },
            ]}
          />
          <LineChart
            title="Average latency per minute"
            unit="ms"
            xLabels={labels}
            series={[{ label: 'latency ms', cls: 's-amber', values: model.buckets.map((b) => b.latency_avg_ms) }]}
          />
          <LineChart
            title="Tokens per minute"
            unit="tokens"
            xLabels={labels}
            series={[{ label: 'tokens', cls: 's-green', values: model.buckets.map((b) => b.tokens) }]}
          />
          <Bars
            title="Attempts per target"
            unit="attempts"
            items={model.targets.map((t) => ({ label: t.provider, value: t.attempts }))}
          />
        </div>
      ) : (
        <p class="muted">No requests in the last hour.</p>
      )}
    </article>
  );
}

function Kpi({ label, value, bad }: { label: string; value: string; bad?: boolean }) {
  return (
    <div class={`kpi${bad ? ' bad' : ''}`}>
      <div class="kpi-value">{value}</div>
      <div class="kpi-label">{label}</div>
    </div>
  );
}
