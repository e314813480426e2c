// Playground: chat with any public name from /v1/models through keel's own
// /v1/chat/completions, streamed; up to three models side by side on the same prompt. Each answer
// shows its tool calls as they stream, then the provider and upstream model that answered (from
// /admin/requests/{id}, when the admin API is readable), tokens, latency and time to first token.
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  ApiError, adminRequest, listModels, streamChat, type Attempt, type ChatMessage, type StreamState,
} from '../api';
import { AnswerView, Composer } from '../answer';
import { Failure, Loading, count, ms, useLoad } from '../ui';

const MAX_COLUMNS = 3;

interface Turn {
  prompt: string;
  answer: StreamState;
  attempts?: Attempt[];
  attemptsNote?: string;
}

interface Column {
  id: number;
  model: string;
  turns: Turn[];
}

let nextColumnId = 1;

// The request's attempts, once the log has it (the store writes in the background).
async function attemptsOf(requestId: string): Promise<Attempt[]> {
  let last: unknown;
  for (let i = 0; i < 10; i++) {
    try {
      return (await adminRequest(requestId)).attempts;
    } catch (error) {
      last = error;
      if (!(error instanceof ApiError) || error.status !== 404) break;
      await new Promise((resolve) => setTimeout(resolve, 100 * (i + 1)));
    }
  }
  throw last;
}

export function Playground() {
  const models = useLoad(listModels, []);
  const [columns, setColumns] = useState<Column[]>([]);
  const [prompt, setPrompt] = useState('');
  const [tools, setTools] = useState(false);
  const [busy, setBusy] = useState(false);
  const [keyError, setKeyError] = useState<ApiError | undefined>(undefined);
  const abort = useRef<AbortController | undefined>(undefined);

  useEffect(() => {
    if (models.data && models.data.length > 0 && columns.length === 0) {
      setColumns([{ id: nextColumnId++, model: models.data[0], turns: [] }]);
    }
  }, [models.data]);
  useEffect(() => () => abort.current?.abort(), []);

  if (models.error) return <Failure error={models.error} />;
  if (keyError) return <Failure error={keyError} />;
  if (!models.data) return <Loading />;
  if (models.data.length === 0) {
    return <div class="card">keel serves no public models: add some under models: in its config.</div>;
  }
  const names = models.data;

  const updateTurn = (columnId: number, index: number, change: Partial<Turn>) =>
    setColumns((all) =>
      all.map((column) =>
        column.id !== columnId
          ? column
          : { ...column, turns: column.turns.map((turn, i) => (i === index ? { ...turn, ...change } : turn)) },
      ),
    );

  const send = async () => {
    const text = prompt.trim();
    if (!text || busy) return;
    setBusy(true);
    setPrompt('');
    const controller = new AbortController();
    abort.current = controller;
    const snapshot = columns;
    setColumns((all) => all.map((column) => ({ ...column, turns: [...column.turns, { prompt: text, answer: { text: '', toolCalls: [] } }] })));
    await Promise.all(
      snapshot.map(async (column) => {
        const index = column.turns.length;
        const history: ChatMessage[] = column.turns.flatMap((turn) => [
          { role: 'user' as const, content: turn.prompt },
          { role: 'assistant' as const, content: turn.answer.text },
        ]);
        history.push({ role: 'user', content: text });
        try {
          const answer = await streamChat(column.model, history, { tools, signal: controller.signal }, (state) =>
            updateTurn(column.id, index, { answer: state }),
          );
          if (answer.requestId) {
            try {
              updateTurn(column.id, index, { attempts: await attemptsOf(answer.requestId) });
            } catch (error) {
              const note =
                error instanceof ApiError && (error.status === 401 || error.status === 403)
                  ? 'the provider shows with the admin key (Request log)'
                  : `provider unknown: ${error instanceof Error ? error.message : String(error)}`;
              updateTurn(column.id, index, { attemptsNote: note });
            }
          }
        } catch (error) {
          if (error instanceof ApiError && error.needsKey) setKeyError(error);
          else updateTurn(column.id, index, { answer: { text: '', toolCalls: [], error: String(error) } });
        }
      }),
    );
    setBusy(false);
  };

  return (
    <section class="playground">
      <div class="toolbar">
        {columns.map((column, i) => (
          <div class="model-pick" key={column.id}>
            <label for={`model-${column.id}`}>{columns.length > 1 ? `Model ${i + 1}` : 'Model'}</label>
            <select
              id={`model-${column.id}`}
              value={column.model}
              disabled={busy}
              onChange={(event) => {
                const model = event.currentTarget.value;
                setColumns((all) => all.map((c) => (c.id === column.id ? { ...c, model } : c)));
              }}
            >
              {names.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
            {columns.length > 1 && (
              <button
                type="button"
                class="icon"
                aria-label={`Remove ${column.model}`}
                disabled={busy}
                onClick={() => setColumns((all) => all.filter((c) => c.id !== column.id))}
              >
                ×
              </button>
            )}
          </div>
        ))}
        {columns.length < MAX_COLUMNS && (
          <button
            type="button"
            class="secondary"
            disabled={busy}
            onClick={() =>
              setColumns((all) => [
                ...all,
                { id: nextColumnId++, model: names[all.length % names.length], turns: [] },
              ])
            }
          >
            + Compare with another model
          </button>
        )}
        <label class="check">
          <input type="checkbox" checked={tools} onChange={(event) => setTools(event.currentTarget.checked)} />
          Offer a sample tool (get_weather)
        </label>
        <button
          type="button"
          class="secondary"
          disabled={busy}
          onClick={() => setColumns((all) => all.map((c) => ({ ...c, turns: [] })))}
        >
          Clear
        </button>
      </div>
      <div class={`columns n${columns.length}`}>
        {columns.map((column) => (
          <div class="column card" key={column.id} role="region" aria-label={`Conversation with ${column.model}`}>
            <h2 class="column-title">{column.model}</h2>
            {column.turns.length === 0 && <p class="muted">Ask something below.</p>}
            {column.turns.map((turn, i) => (
              <TurnView key={i} turn={turn} />
            ))}
          </div>
        ))}
      </div>
      <Composer
        id="prompt"
        label="Message"
        rows={3}
        value={prompt}
        busy={busy}
        onInput={setPrompt}
        onSend={send}
      />
    </section>
  );
}

function TurnView({ turn }: { turn: Turn }) {
  const { answer } = turn;
  const done = answer.latencyMs !== undefined;
  const answered = turn.attempts?.[turn.attempts.length - 1];
  return (
    <div class="turn">
      <div class="bubble user">{turn.prompt}</div>
      <AnswerView answer={answer} />
      {done && (
        <dl class="turn-stats">
          <div>
            <dt>answered by</dt>
            <dd class="answered-by">
              {answered
                ? `${answered.provider} / ${answered.target_model}`
                : turn.attemptsNote ?? (answer.requestId ? 'looking up…' : '–')}
              {turn.attempts && turn.attempts.length > 1 && (
                <span class="muted"> after {turn.attempts.length - 1} failed attempt{turn.attempts.length > 2 ? 's' : ''} ({turn.attempts.slice(0, -1).map((a) => a.provider).join(', ')})</span>
              )}
            </dd>
          </div>
          <div>
            <dt>tokens</dt>
            <dd>{answer.usage ? `${count(answer.usage.prompt_tokens)} in · ${count(answer.usage.completion_tokens)} out` : '–'}</dd>
          </div>
          <div>
            <dt>TTFT</dt>
            <dd>{ms(answer.ttftMs)}</dd>
          </div>
          <div>
            <dt>latency</dt>
            <dd>{ms(answer.latencyMs)}</dd>
          </div>
          {answer.finish && (
            <div>
              <dt>finish</dt>
              <dd>{answer.finish}</dd>
            </div>
          )}
          {answer.requestId && (
            <div>
              <dt>request</dt>
              <dd>
                <a href={`#/log/${encodeURIComponent(answer.requestId)}`}>{answer.requestId}</a>
              </dd>
            </div>
          )}
        </dl>
      )}
    </div>
  );
}
