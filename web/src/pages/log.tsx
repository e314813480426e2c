// Request log: filter by model, status and time; page through; a request's detail with its
// attempts, its trace as a timeline and, where log_content kept them, its bodies.
import { useState } from 'preact/hooks';
import { adminRequest, adminRequests, adminTrace } from '../api';
import { TraceTimeline } from '../timeline';
import { Failure, Head, Loading, StatusBadge, TimingCells, count, dateTime, ms, useLoad } from '../ui';

const PAGE = 25;

interface Filters {
  model: string;
  status: string;
  key_id: string; // which client key ("key_" + 8 hex digits of its SHA-256), never a key
  since: string; // datetime-local values, the browser's local time
  until: string;
}

const emptyFilters: Filters = { model: '', status: '', key_id: '', since: '', until: '' };

function toMillis(local: string): string {
  if (!local) return '';
  const value = new Date(local).getTime();
  return Number.isFinite(value) ? String(value) : '';
}

export function RequestLog({ id }: { id?: string }) {
  return id ? <RequestDetailView id={id} /> : <RequestList />;
}

function RequestList() {
  const [draft, setDraft] = useState<Filters>(emptyFilters);
  const [filters, setFilters] = useState<Filters>(emptyFilters);
  const [offset, setOffset] = useState(0);
  const query = {
    model: filters.model.trim(),
    status: filters.status,
    key_id: filters.key_id.trim(),
    since: toMillis(filters.since),
    until: toMillis(filters.until),
    limit: String(PAGE),
    offset: String(offset),
  };
  const { data, error } = useLoad(() => adminRequests(query), [JSON.stringify(query)], 5_000);
  const field = (name: keyof Filters) => ({
    id: `filter-${name}`,
    value: draft[name],
    onInput: (event: Event) => setDraft({ ...draft, [name]: (event.currentTarget as HTMLInputElement).value }),
  });
  return (
    <section class="log">
      <form
        class="card filters"
        onSubmit={(event) => {
          event.preventDefault();
          setOffset(0);
          setFilters(draft);
        }}
      >
        <div class="field">
          <label for="filter-model">Model</label>
          <input type="text" placeholder="any" {...field('model')} />
        </div>
        <div class="field">
          <label for="filter-status">Status</label>
          <select {...field('status')} onChange={field('status').onInput}>
            <option value="">any</option>
            <option value="ok">ok (200)</option>
            <option value="error">errors</option>
            <option value="400">400</option>
            <option value="401">401</option>
            <option value="404">404</option>
            <option value="429">429</option>
            <option value="499">499 (client gone)</option>
            <option value="502">502</option>
            <option value="503">503</option>
            <option value="504">504</option>
          </select>
        </div>
        <div class="field">
          <label for="filter-key_id">Key id</label>
          <input type="text" placeholder="any" {...field('key_id')} />
        </div>
        <div class="field">
          <label for="filter-since">From</label>
          <input type="datetime-local" {...field('since')} />
        </div>
        <div class="field">
          <label for="filter-until">Until</label>
          <input type="datetime-local" {...field('until')} />
        </div>
        <div class="field actions">
          <button type="submit">Filter</button>
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setDraft(emptyFilters);
              setFilters(emptyFilters);
              setOffset(0);
            }}
          >
            Reset
          </button>
        </div>
      </form>
      {error ? (
        <Failure error={error} />
      ) : !data ? (
        <Loading />
      ) : data.data.length === 0 ? (
        <div class="card muted">No requests match.</div>
      ) : (
        <div class="card table-card">
          <table class="requests">
            <caption class="visually-hidden">Requests, newest first</caption>
            <Head columns={['time', 'request', 'endpoint', 'model', 'key id', 'status', 'latency', 'TTFT', 'tokens']} />
            <tbody>
              {data.data.map((r) => (
                <tr key={r.id}>
                  <td class="nowrap">{dateTime(r.started_ms)}</td>
                  <td>
                    <a href={`#/log/${encodeURIComponent(r.id)}`}>{r.id}</a>
                  </td>
                  <td>
                    {r.endpoint}
                    {r.stream && <span class="muted"> stream</span>}
                  </td>
                  <td>{r.model || '–'}</td>
                  <td>{r.key_id || '–'}</td>
                  <td>
                    <StatusBadge status={r.status} errorClass={r.error_class} />
                  </td>
                  <TimingCells r={r} />
                </tr>
              ))}
            </tbody>
          </table>
          <nav class="pager" aria-label="Request log pages">
            <button type="button" class="secondary" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
              ← Newer
            </button>
            <span class="muted">
              {offset + 1}–{offset + data.data.length}
            </span>
            <button type="button" class="secondary" disabled={!data.has_more} onClick={() => setOffset(offset + PAGE)}>
              Older →
            </button>
          </nav>
        </div>
      )}
    </section>
  );
}

function TraceView({ id }: { id: string }) {
  const { data, error } = useLoad(() => adminTrace(id), [id]);
  if (error) return <Failure error={error} />;
  if (!data) return <Loading />;
  return <TraceTimeline trace={data} />;
}

function RequestDetailView({ id }: { id: string }) {
  const { data, error } = useLoad(() => adminRequest(id), [id]);
  if (error) return <Failure error={error} />;
  if (!data) return <Loading />;
  return (
    <section class="detail">
      <p>
        <a href="#/log">← Request log</a>
      </p>
      <article class="card">
        <h2>{data.id}</h2>
        <dl class="facts">
          <div>
            <dt>started</dt>
            <dd>{dateTime(data.started_ms)}</dd>
          </div>
          <div>
            <dt>endpoint</dt>
            <dd>
              {data.endpoint}
              {data.stream ? ' (stream)' : ''}
            </dd>
          </div>
          <div>
            <dt>model</dt>
            <dd>{data.model || '–'}</dd>
          </div>
          <div>
            <dt>key id</dt>
            <dd>{data.key_id || '–'}</dd>
          </div>
          <div>
            <dt>status</dt>
            <dd>
              <StatusBadge status={data.status} errorClass={data.error_class} />
            </dd>
          </div>
          <div>
            <dt>latency</dt>
            <dd>{ms(data.latency_ms)}</dd>
          </div>
          <div>
            <dt>TTFT</dt>
            <dd>{ms(data.ttft_ms)}</dd>
          </div>
          <div>
            <dt>tokens</dt>
            <dd>
              {count(data.prompt_tokens)} in · {count(data.completion_tokens)} out
            </dd>
          </div>
        </dl>
      </article>
      <article class="card">
        <h2>Attempts</h2>
        {data.attempts.length === 0 ? (
          <p class="muted">No upstream was called.</p>
        ) : (
          <table class="attempts">
            <Head columns={['#', 'provider', 'upstream model', 'status', 'error', 'latency', 'TTFT', 'tokens']} />
            <tbody>
              {data.attempts.map((a, i) => (
                <tr key={i}>
                  <td>{i + 1}</td>
                  <td>{a.provider}</td>
                  <td>{a.target_model}</td>
                  <td>
                    <StatusBadge status={a.status} errorClass={a.error_class} />
                  </td>
                  <td class="wrap">{a.error_message || '–'}</td>
                  <TimingCells r={a} />
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </article>
      <article class="card">
        <h2>Trace</h2>
        <TraceView id={data.trace_id ?? data.id} />
      </article>
      <article class="card">
        <h2>Bodies</h2>
        {data.content === null || data.content === undefined ? (
          <p class="muted">Not kept: keel logs request and response bodies only with log_content: true.</p>
        ) : (
          <pre class="json" tabIndex={0}>{JSON.stringify(data.content, null, 2)}</pre>
        )}
      </article>
    </section>
  );
}
