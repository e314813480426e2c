// One streamed answer as the playground and the copilots' test chat show it: the text with its
// citation markers linked to footnotes (a copilot's url_citation annotations), tool calls as
// they stream, and the stream's error.
import type { Citation, StreamState } from './api';

const isWebUrl = (url: string) => /^https?:\/\//.test(url);

// The answer's text cut at its citations' markers (positions count code points, as OpenAI's).
function withMarkers(text: string, citations: Citation[]) {
  const chars = Array.from(text);
  const sorted = [...citations].sort((a, b) => a.start_index - b.start_index);
  const parts = [];
  let at = 0;
  for (const citation of sorted) {
    if (citation.start_index < at || citation.end_index > chars.length) continue;
    parts.push(chars.slice(at, citation.start_index).join(''));
    const marker = chars.slice(citation.start_index, citation.end_index).join('');
    parts.push(
      <sup class="cite" key={citation.start_index} title={citation.title}>
        {isWebUrl(citation.url) ? <a href={citation.url}>{marker}</a> : marker}
      </sup>,
    );
    at = citation.end_index;
  }
  parts.push(chars.slice(at).join(''));
  return { parts, chars };
}

// The sources an answer cites, once each, labelled by their marker.
function Footnotes({ citations, chars }: { citations: Citation[]; chars: string[] }) {
  const seen = new Map<string, Citation>();
  for (const citation of citations) {
    const marker = chars.slice(citation.start_index, citation.end_index).join('');
    if (!seen.has(marker)) seen.set(marker, citation);
  }
  return (
    <ol class="citations" aria-label="Sources">
      {[...seen].map(([marker, citation]) => (
        <li key={marker}>
          <span class="cite-marker">{marker}</span> <span class="cite-title">{citation.title}</span>{' '}
          {isWebUrl(citation.url) ? <a href={citation.url}>{citation.url}</a> : <code>{citation.url}</code>}
        </li>
      ))}
    </ol>
  );
}

export function AnswerView({ answer }: { answer: StreamState }) {
  const done = answer.latencyMs !== undefined;
  const citations = answer.citations ?? [];
  const { parts, chars } = withMarkers(answer.text, citations);
  return (
    <div class="bubble assistant" aria-live="polite" aria-busy={!done}>
      {parts}
      {!done && <span class="cursor" aria-hidden="true" />}
      {answer.toolCalls.map((call, i) => (
        <div class="tool-call" key={i}>
          <span class="tool-name">{call.name || '…'}</span>
          <code>{call.arguments}</code>
        </div>
      ))}
      {citations.length > 0 && <Footnotes citations={citations} chars={chars} />}
      {answer.error && (
        <div class="error" role="alert">
          {answer.error}
        </div>
      )}
    </div>
  );
}

// The message box under a chat (the playground's and a copilot's test chat): Enter sends,
// Shift+Enter starts a new line; the button waits while an answer streams.
export function Composer(props: {
  id: string;
  label: string;
  rows: number;
  value: string;
  busy: boolean;
  onInput: (value: string) => void;
  onSend: () => void;
}) {
  const { id, label, rows, value, busy, onInput, onSend } = props;
  return (
    <form
      class="composer"
      onSubmit={(event) => {
        event.preventDefault();
        onSend();
      }}
    >
      <label for={id} class="visually-hidden">
        {label}
      </label>
      <textarea
        id={id}
        rows={rows}
        placeholder="Message (Enter sends, Shift+Enter a new line)"
        value={value}
        onInput={(event) => onInput(event.currentTarget.value)}
        onKeyDown={(event) => {
          if (event.key === 'Enter' && !event.shiftKey) {
            event.preventDefault();
            onSend();
          }
        }}
      />
      <button type="submit" disabled={busy || !value.trim()}>
        {busy ? 'Streaming…' : 'Send'}
      </button>
    </form>
  );
}
