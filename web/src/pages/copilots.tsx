// Copilots: each copilot's definition (/admin/copilots), its knowledge bases with their ingest
// state and counts (/admin/knowledge, refreshed), its starters as buttons, a test chat through
// /v1/chat/completions streamed (citations as footnotes, tool calls as they stream), and its
// entry as YAML in an editor checked as you type by POST /admin/copilots/validate. The editor
// does not write keel.yaml: keel has no config-writing path (the file is the operator's, comments
// and all), and the page says so; its Reload button has keel read the file again (POST
// /admin/reload) and shows what came of it, the copilots listed anew.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, streamChat, type ChatMessage, type StreamState } from '../api';
import { AnswerView, Composer } from '../answer';
import {
  copilots, knowledgeBases, reloadConfig, validateCopilot, type CopilotInfo, type KnowledgeInfo,
  type Validation,
} from '../copilots_api';
import { Failure, Head, Loading, count, dateTime, useKeyVersion, useLoad } from '../ui';

const VALIDATE_DELAY_MS = 400;

export function Copilots({ name }: { name?: string }) {
  const [version, setVersion] = useState(0); // bumped by a reload: the list is read again
  const list = useLoad(copilots, [version]);
  const bases = useLoad(knowledgeBases, [], 5000);
  if (list.error) return <Failure error={list.error} />;
  if (!list.data) return <Loading />;
  if (list.data.data.length === 0) {
    return <div class="card">keel has no copilots: add some under copilots: in its config.</div>;
  }
  const all = list.data.data;
  const copilot = all.find((c) => c.name === name) ?? all[0];
  return (
    <section class="copilots">
      <nav class="toolbar copilot-list" aria-label="Copilots">
        {all.map((c) => (
          <a key={c.name} href={`#/copilots/${encodeURIComponent(c.name)}`} aria-current={c === copilot ? 'page' : undefined}>
            {c.name}
          </a>
        ))}
      </nav>
      <div class="copilot-grid">
        <div>
          <Definition copilot={copilot} />
          <KnowledgeCard copilot={copilot} bases={bases.data?.data} error={bases.error} />
          <YamlEditor key={copilot.name} copilot={copilot} />
          <ReloadCard onReloaded={() => setVersion((v) => v + 1)} />
        </div>
        <TestChat key={copilot.name} copilot={copilot} />
      </div>
    </section>
  );
}

function listed(values: string[]) {
  return values.length ? values.join(', ') : <span class="muted">none</span>;
}

function Definition({ copilot }: { copilot: CopilotInfo }) {
  const { instructions } = copilot;
  return (
    <article class="card" aria-labelledby="copilot-definition">
      <h2 id="copilot-definition">{copilot.name}</h2>
      <dl class="definition">
        <dt>model</dt>
        <dd>{copilot.model}</dd>
        <dt>instructions</dt>
        <dd>
          {instructions.file ? (
            <>
              from <code>{instructions.file}</code>
            </>
          ) : instructions.text ? (
            <pre class="instructions">{instructions.text}</pre>
          ) : (
            <span class="muted">none</span>
          )}
        </dd>
        <dt>tools</dt>
        <dd>{listed(copilot.tools)}</dd>
        <dt>approval</dt>
        <dd>{listed(copilot.approval)}</dd>
        <dt>knowledge</dt>
        <dd>{listed(copilot.knowledge)}</dd>
        <dt>top_k</dt>
        <dd>{copilot.top_k} passages per turn</dd>
        <dt>max_tool_rounds</dt>
        <dd>{copilot.max_tool_rounds}</dd>
      </dl>
    </article>
  );
}

function ingestState(base: KnowledgeInfo) {
  if (base.ingesting) return <span class="badge warn">ingesting…</span>;
  if (base.ingested_at_ms === null) return <span class="badge bad">never ingested</span>;
  return <span class="badge ok">ingested {dateTime(base.ingested_at_ms)}</span>;
}

function KnowledgeCard({ copilot, bases, error }: { copilot: CopilotInfo; bases?: KnowledgeInfo[]; error: unknown }) {
  return (
    <article class="card" aria-labelledby="copilot-knowledge">
      <h2 id="copilot-knowledge">Knowledge bases</h2>
      {copilot.knowledge.length === 0 ? (
        <p class="muted">This copilot searches no knowledge base.</p>
      ) : error ? (
        <Failure error={error} />
      ) : !bases ? (
        <Loading />
      ) : (
        <table class="knowledge">
          <caption class="visually-hidden">Knowledge bases of {copilot.name}</caption>
          <Head columns={['base', 'state', 'files', 'chunks', 'embedding model', 'sources']} />
          <tbody>
            {copilot.knowledge.map((baseName) => {
              const base = bases.find((b) => b.name === baseName);
              if (!base) {
                return (
                  <tr key={baseName}>
                    <td>{baseName}</td>
                    <td colSpan={5} class="muted">not open in this keel</td>
                  </tr>
                );
              }
              return (
                <tr key={base.name}>
                  <td>{base.name}</td>
                  <td>
                    {ingestState(base)}
                    {base.error && <div class="error">{base.error}</div>}
                    {base.failures.length > 0 && (
                      <ul class="failures" aria-label={`Files of ${base.name} that failed`}>
                        {base.failures.map((failure) => (
                          <li key={failure.path}>
                            <code>{failure.path}</code>: {failure.error}
                          </li>
                        ))}
                      </ul>
                    )}
                  </td>
                  <td class="num">{count(base.files)}</td>
                  <td class="num">{count(base.chunks)}</td>
                  <td>{base.embedding_model}</td>
                  <td class="wrap">
                    {base.sources.map((source) => (
                      <div key={source}>
                        <code>{source}</code>
                      </div>
                    ))}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </article>
  );
}

interface Turn {
  prompt: string;
  answer: StreamState;
}

function TestChat({ copilot }: { copilot: CopilotInfo }) {
  const [turns, setTurns] = useState<Turn[]>([]);
  const [prompt, setPrompt] = useState('');
  const [busy, setBusy] = useState(false);
  const [keyError, setKeyError] = useState<ApiError | undefined>(undefined);
  const abort = useRef<AbortController | undefined>(undefined);
  const keys = useKeyVersion();
  useEffect(() => () => abort.current?.abort(), []);
  useEffect(() => setKeyError(undefined), [keys]); // a key typed into the form: try again
  if (keyError) return <Failure error={keyError} />;

  const send = async (text: string) => {
    text = text.trim();
    if (!text || busy) return;
    setBusy(true);
    setPrompt('');
    const controller = new AbortController();
    abort.current = controller;
    const history: ChatMessage[] = turns.flatMap((turn) => [
      { role: 'user' as const, content: turn.prompt },
      { role: 'assistant' as const, content: turn.answer.text },
    ]);
    history.push({ role: 'user', content: text });
    const index = turns.length;
    const show = (answer: StreamState) =>
      setTurns((all) => all.map((turn, i) => (i === index ? { ...turn, answer } : turn)));
    setTurns((all) => [...all, { prompt: text, answer: { text: '', toolCalls: [] } }]);
    try {
      await streamChat(copilot.name, history, { tools: false, signal: controller.signal }, show);
    } catch (error) {
      if (error instanceof ApiError && error.needsKey) {
        setTurns((all) => all.slice(0, index)); // asked again once the key is in
        setKeyError(error);
      }
      else show({ text: '', toolCalls: [], error: String(error), latencyMs: 0 });
    }
    setBusy(false);
  };

  return (
    <article class="card copilot-chat" aria-labelledby="copilot-chat">
      <h2 id="copilot-chat">Test chat</h2>
      {copilot.starters.length > 0 && (
        <div class="starters" role="group" aria-label="Starters">
          {copilot.starters.map((starter) => (
            <button type="button" class="secondary" key={starter} disabled={busy} onClick={() => send(starter)}>
              {starter}
            </button>
          ))}
        </div>
      )}
      {turns.length === 0 && <p class="muted">Ask {copilot.name} something, or pick a starter.</p>}
      {turns.map((turn, i) => (
        <div class="turn" key={i}>
          <div class="bubble user">{turn.prompt}</div>
          <AnswerView answer={turn.answer} />
        </div>
      ))}
      <Composer
        id="copilot-prompt"
        label={`Message to ${copilot.name}`}
        rows={2}
        value={prompt}
        busy={busy}
        onInput={setPrompt}
        onSend={() => send(prompt)}
      />
      <button type="button" class="link" disabled={busy || turns.length === 0} onClick={() => setTurns([])}>
        Start over
      </button>
    </article>
  );
}

// The entry as YAML, checked against the running config a moment after each change.
function YamlEditor({ copilot }: { copilot: CopilotInfo }) {
  const [text, setText] = useState(copilot.yaml);
  const [result, setResult] = useState<Validation | undefined>(undefined);
  const [failure, setFailure] = useState<unknown>(undefined);
  const [checking, setChecking] = useState(false);
  useEffect(() => {
    const controller = new AbortController();
    setChecking(true);
    const timer = setTimeout(() => {
      validateCopilot(text, controller.signal).then(
        (validation) => {
          setResult(validation);
          setFailure(undefined);
          setChecking(false);
        },
        (error) => {
          if (controller.signal.aborted) return;
          setFailure(error);
          setChecking(false);
        },
      );
    }, VALIDATE_DELAY_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [text]);
  const lines = text.split('\n');
  const errors = result?.errors ?? [];
  return (
    <article class="card" aria-labelledby="copilot-yaml">
      <h2 id="copilot-yaml">Edit as YAML</h2>
      <p class="muted">
        This checks the entry against the running config; it does not change keel’s config. Put the entry under{' '}
        <code>copilots:</code> in keel.yaml, then reload (below, or <code>keel reload</code>): keel checks the file, and
        the copilot serves its next turn as written; a file that fails the checks changes nothing.
      </p>
      <label for="copilot-yaml-text">Copilot YAML</label>
      <textarea
        id="copilot-yaml-text"
        class="yaml"
        spellcheck={false}
        rows={Math.max(8, lines.length + 1)}
        value={text}
        aria-invalid={errors.length > 0}
        aria-describedby="copilot-yaml-status"
        onInput={(event) => setText(event.currentTarget.value)}
      />
      <div id="copilot-yaml-status" class="yaml-status" aria-live="polite">
        {failure ? (
          <Failure error={failure} />
        ) : checking || !result ? (
          <span class="muted">Checking…</span>
        ) : result.valid ? (
          <span class="badge ok">valid against the running config</span>
        ) : (
          <ul class="yaml-errors">
            {errors.map((error, i) => (
              <li key={i} class="yaml-error">
                <span class="error">
                  Line {error.line}, column {error.column}
                  {error.path ? ` (${error.path})` : ''}: {error.message}
                </span>
                {lines[error.line - 1] !== undefined && (
                  <pre class="yaml-line" aria-hidden="true">
                    {lines[error.line - 1]}
                    {'\n'}
                    {' '.repeat(Math.max(0, error.column - 1))}^
                  </pre>
                )}
              </li>
            ))}
          </ul>
        )}
      </div>
    </article>
  );
}

// Has keel read its config file again (POST /admin/reload) and says what came of it: the public
// names it now serves, or why the file was refused (nothing changed then).
function ReloadCard({ onReloaded }: { onReloaded: () => void }) {
  const [state, setState] = useState<{ busy: boolean; ok?: string; error?: string }>({ busy: false });
  const reload = () => {
    setState({ busy: true });
    reloadConfig().then(
      (answer) => {
        const names = answer.public_names?.length ? answer.public_names.join(', ') : 'none';
        const restart = answer.needs_restart.length
          ? `; after a restart only: ${answer.needs_restart.join(', ')}`
          : '';
        setState({ busy: false, ok: `Reloaded ${answer.source}. Copilots and chat flows: ${names}${restart}.` });
        onReloaded();
      },
      (problem) => setState({ busy: false, error: problem instanceof ApiError ? problem.message : String(problem) }),
    );
  };
  return (
    <article class="card" aria-labelledby="config-reload">
      <h2 id="config-reload">Reload the config</h2>
      <button type="button" onClick={reload} disabled={state.busy}>
        {state.busy ? 'Reloading…' : 'Reload keel.yaml'}
      </button>
      <div class="yaml-status" role="status" aria-live="polite">
        {state.ok && <span class="badge ok">{state.ok}</span>}
        {state.error && <p class="error">{state.error}</p>}
      </div>
    </article>
  );
}
