// Small pieces every page uses: the key form, error and loading states, number formats, and a
// hook that reloads when a key changes.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getKey, onKeyChange, setKey, type KeyKind } from './api';

// Bumps when any key changes, so that pages load again with the new key.
export function useKeyVersion(): number {
  const [version, setVersion] = useState(0);
  useEffect(() => onKeyChange(() => setVersion((v) => v + 1)), []);
  return version;
}

// Runs `load` now, again when a key or a dependency changes, and every `refreshMs` if given.
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], refreshMs = 0) {
  const keys = useKeyVersion();
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    let live = true;
    const run = () =>
      load().then(
        (value) => live && (setData(value), setError(undefined)),
        (problem) => live && setError(problem),
      );
    run();
    const timer = refreshMs > 0 ? setInterval(run, refreshMs) : undefined;
    return () => {
      live = false;
      if (timer) clearInterval(timer);
    };
  }, [keys, ...deps]);
  return { data, error };
}

const keyNames: Record<KeyKind, string> = { api: 'API key', admin: 'admin key' };

export function KeyForm({ kind, message }: { kind: KeyKind; message?: string }) {
  const [value, setValue] = useState('');
  const id = `key-${kind}`;
  return (
    <form
      class="card key-form"
      onSubmit={(event) => {
        event.preventDefault();
        setKey(kind, value.trim());
      }}
    >
      <h2>{kind === 'admin' ? 'This page needs the admin key' : 'keel needs an API key'}</h2>
      <p class="muted">
        {message ? `${message}. ` : ''}
        {kind === 'admin'
          ? 'Enter one of keel’s admin_keys.'
          : 'Enter one of keel’s api_keys.'}{' '}
        It stays in this browser tab and is sent only to keel.
      </p>
      <div class="row">
        <label for={id}>{keyNames[kind]}</label>
        <input
          id={id}
          type="password"
          autocomplete="off"
          value={value}
          onInput={(event) => setValue(event.currentTarget.value)}
        />
        <button type="submit" disabled={!value.trim()}>
          Use key
        </button>
      </div>
    </form>
  );
}

// A failed load: the key form when keel asked for a key, else the message.
export function Failure({ error }: { error: unknown }) {
  if (error instanceof ApiError && error.needsKey) {
    return <KeyForm kind={error.kind} message={getKey(error.kind) ? 'That key was refused' : undefined} />;
  }
  return (
    <div class="card error" role="alert">
      {error instanceof Error ? error.message : String(error)}
    </div>
  );
}

export function Loading() {
  return <p class="muted" aria-live="polite">Loading…</p>;
}

export function ms(value: number | undefined): string {
  if (value === undefined || value < 0) return '–';
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

export function count(value: number): string {
  return value.toLocaleString('en-US');
}

export function percent(value: number): string {
  return `${(value * 100).toFixed(value > 0 && value < 0.1 ? 1 : 0)}%`;
}

export function time(msSinceEpoch: number): string {
  return new Date(msSinceEpoch).toLocaleTimeString('en-GB', { hour12: false });
}

export function dateTime(msSinceEpoch: number): string {
  const date = new Date(msSinceEpoch);
  return `${date.toISOString().slice(0, 10)} ${time(msSinceEpoch)}`;
}

export function StatusBadge({ status, errorClass }: { status: number; errorClass?: string }) {
  const ok = status === 200 && !errorClass;
  return (
    <span class={`badge ${ok ? 'ok' : 'bad'}`} title={errorClass || undefined}>
      {status}
      {errorClass ? ` ${errorClass}` : ''}
    </span>
  );
}

// A table's header row.
export function Head({ columns }: { columns: string[] }) {
  return (
    <thead>
      <tr>
        {columns.map((column) => (
          <th scope="col" key={column}>
            {column}
          </th>
        ))}
      </tr>
    </thead>
  );
}

// The latency, TTFT and tokens cells that a request row and an attempt row share.
export function TimingCells({ r }: { r: { latency_ms: number; ttft_ms: number; prompt_tokens: number; completion_tokens: number } }) {
  return (
    <>
      <td>{ms(r.latency_ms)}</td>
      <td>{ms(r.ttft_ms)}</td>
      <td>
        {count(r.prompt_tokens)} + {count(r.completion_tokens)}
      </td>
    </>
  );
}
