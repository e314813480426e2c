// A trace as a timeline (GET /admin/traces/{id}): one row per span in tree order, indented by
// depth, its bar placed by start and duration. Inline SVG with attributes only (the console's
// CSP forbids inline styles); a table beside it gives the same facts in text.
import type { TraceSpan, TraceTree } from './api';
import { Head } from './ui';

const ROW = 22;
const LABEL = 230; // px of the view box for names
const WIDTH = 720;

function fmt(msValue: number): string {
  return msValue >= 1000 ? `${(msValue / 1000).toFixed(2)} s` : `${msValue.toFixed(1)} ms`;
}

// The attributes worth a glance, short names first.
const SHOWN: [string, string][] = [
  ['model', 'gen_ai.request.model'],
  ['provider', 'keel.provider'],
  ['system', 'gen_ai.provider.name'],
  ['tool', 'gen_ai.tool.name'],
  ['result', 'keel.tool.status'],
  ['bytes', 'keel.tool.output_bytes'],
  ['in', 'gen_ai.usage.input_tokens'],
  ['out', 'gen_ai.usage.output_tokens'],
  ['node', 'keel.flow.node'],
];

function facts(span: TraceSpan): string {
  const parts = SHOWN.filter(([, key]) => span.attributes[key] !== undefined).map(
    ([label, key]) => `${label}=${String(span.attributes[key])}`,
  );
  if (span.status_message) parts.push(span.status_message);
  return parts.join(' · ');
}

export function TraceTimeline({ trace }: { trace: TraceTree }) {
  const total = Math.max(trace.duration_ms, 0.001);
  const scale = (WIDTH - LABEL - 8) / total;
  const height = trace.spans.length * ROW + 8;
  return (
    <div class="timeline">
      <p class="muted">
        Trace <code>{trace.trace_id}</code>: {trace.spans.length} spans over {fmt(trace.duration_ms)}
      </p>
      <svg
        viewBox={`0 0 ${WIDTH} ${height}`}
        role="img"
        aria-label={`Timeline of trace ${trace.trace_id}: ${trace.spans.length} spans over ${fmt(trace.duration_ms)}`}
      >
        {trace.spans.map((span, i) => {
          const y = 4 + i * ROW;
          const x = LABEL + span.start_ms * scale;
          const w = Math.max(span.duration_ms * scale, 2);
          return (
            <g key={span.span_id} class={`span status-${span.status}`}>
              <text class="span-name" x={4 + span.depth * 12} y={y + 15}>
                {span.name.length > 30 ? `${span.name.slice(0, 29)}…` : span.name}
              </text>
              <rect class="span-bar" x={x} y={y + 3} width={w} height={ROW - 8} rx={3}>
                <title>{`${span.name}: ${fmt(span.duration_ms)} from +${fmt(span.start_ms)}, ${span.status}`}</title>
              </rect>
            </g>
          );
        })}
      </svg>
      <table class="spans">
        <Head columns={['span', 'start', 'duration', 'status', 'details']} />
        <tbody>
          {trace.spans.map((span) => (
            <tr key={span.span_id} class={`depth-${Math.min(span.depth, 4)}`}>
              <td class="span-cell">{span.name}</td>
              <td>+{fmt(span.start_ms)}</td>
              <td>{fmt(span.duration_ms)}</td>
              <td>
                <span class={`badge ${span.status === 'error' ? 'bad' : 'ok'}`}>{span.status}</span>
              </td>
              <td class="wrap">{facts(span)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
