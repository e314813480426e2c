// Charts as inline SVG: nothing fetched, nothing styled inline (the CSP forbids both), colours
// from style.css classes.
import type { ComponentChildren } from 'preact';

export interface Series {
  label: string;
  cls: string; // a style.css class: its stroke/fill colour
  values: number[];
}

// A line chart over equally spaced points, with a y axis from 0 and the first/last x labels.
export function LineChart({
  title,
  series,
  xLabels,
  unit,
}: {
  title: string;
  series: Series[];
  xLabels: [string, string];
  unit: string;
}) {
  const width = 320;
  const height = 120;
  const pad = { left: 36, right: 8, top: 8, bottom: 18 };
  const points = Math.max(...series.map((s) => s.values.length), 2);
  const top = Math.max(1, ...series.flatMap((s) => s.values));
  const x = (i: number) => pad.left + (i * (width - pad.left - pad.right)) / (points - 1);
  const y = (v: number) => height - pad.bottom - (v * (height - pad.top - pad.bottom)) / top;
  const summary = series
    .map((s) => `${s.label}: max ${Math.max(0, ...s.values)} ${unit}`)
    .join('; ');
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${title}. ${summary}`}>
        <line class="axis" x1={pad.left} y1={y(0)} x2={width - pad.right} y2={y(0)} />
        <line class="grid" x1={pad.left} y1={y(top)} x2={width - pad.right} y2={y(top)} />
        <text class="tick" x={pad.left - 4} y={y(top) + 4} text-anchor="end">
          {formatTick(top)}
        </text>
        <text class="tick" x={pad.left - 4} y={y(0) + 4} text-anchor="end">
          0
        </text>
        <text class="tick" x={pad.left} y={height - 4}>
          {xLabels[0]}
        </text>
        <text class="tick" x={width - pad.right} y={height - 4} text-anchor="end">
          {xLabels[1]}
        </text>
        {series.map((s) => (
          <polyline
            key={s.label}
            class={`series ${s.cls}`}
            points={s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}
          />
        ))}
      </svg>
      <div class="legend">
        {series.map((s) => (
          <span key={s.label} class={`swatch ${s.cls}`}>
            {s.label}
          </span>
        ))}
      </div>
    </figure>
  );
}

function formatTick(value: number): string {
  if (value >= 1_000_000) return `${(value / 1_000_000).toFixed(1)}M`;
  if (value >= 1000) return `${(value / 1000).toFixed(1)}k`;
  return String(Math.round(value));
}

// A horizontal bar per item, scaled to the largest.
export function Bars({ title, items, unit }: { title: string; items: { label: string; value: number }[]; unit: string }) {
  const top = Math.max(1, ...items.map((item) => item.value));
  const width = 320;
  const row = 22;
  const labelWidth = 120;
  const height = Math.max(row, items.length * row);
  return (
    <Figure
      title={title}
      width={width}
      height={height}
      label={`${title}: ${items.map((item) => `${item.label} ${item.value} ${unit}`).join(', ')}`}
    >
      {items.map((item, i) => {
        const barWidth = ((width - labelWidth - 60) * item.value) / top;
        return (
          <g key={item.label}>
            <RowLabel x={labelWidth - 6} y={i * row + 15} text={item.label} />
            <rect class="bar" x={labelWidth} y={i * row + 4} width={Math.max(barWidth, 1)} height={row - 8} rx="2" />
            <text class="tick" x={labelWidth + barWidth + 6} y={i * row + 15}>
              {`${item.value} ${unit}`}
            </text>
          </g>
        );
      })}
    </Figure>
  );
}

// A chart's frame: its caption, and an SVG that screen readers take as one image, `label`.
function Figure(props: { title: string; label: string; width: number; height: number; children: ComponentChildren }) {
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <svg viewBox={`0 0 ${props.width} ${props.height}`} role="img" aria-label={props.label}>
        {props.children}
      </svg>
    </figure>
  );
}

// An item's name left of its row, cut to fit.
function RowLabel({ x, y, text }: { x: number; y: number; text: string }) {
  return (
    <text class="tick" x={x} y={y} text-anchor="end">
      {text.length > 18 ? `${text.slice(0, 17)}…` : text}
    </text>
  );
}

export interface Interval {
  label: string;
  value: number;
  low: number;
  high: number;
  cls?: string; // a style.css class for the mark: its stroke colour
}

// One row per item: a dot at the value and a line over its confidence interval, on one axis
// from the smallest to the largest bound (0 always shown, drawn as a dashed rule when inside).
export function IntervalChart({ title, items, digits = 2 }: { title: string; items: Interval[]; digits?: number }) {
  const width = 320;
  const row = 24;
  const labelWidth = 110;
  const right = 56;
  const height = items.length * row + 18;
  const low = Math.min(0, ...items.map((item) => item.low));
  // Scores within [0, 1] are drawn on all of it, so that 0.96 does not look like the top.
  const scores = items.every((item) => item.low >= 0 && item.high <= 1);
  const high = scores ? 1 : Math.max(low + 1e-9, ...items.map((item) => item.high), 0);
  const x = (v: number) => labelWidth + ((v - low) * (width - labelWidth - right)) / (high - low);
  const fmt = (v: number) => v.toFixed(digits);
  return (
    <Figure
      title={title}
      width={width}
      height={height}
      label={`${title}: ${items.map((i) => `${i.label} ${fmt(i.value)} (95% CI ${fmt(i.low)} to ${fmt(i.high)})`).join(', ')}`}
    >
      {low < 0 && high > 0 && <line class="grid" x1={x(0)} y1={2} x2={x(0)} y2={height - 16} />}
      <line class="axis" x1={labelWidth} y1={height - 16} x2={width - right} y2={height - 16} />
      <text class="tick" x={labelWidth} y={height - 4}>
        {fmt(low)}
      </text>
      <text class="tick" x={width - right} y={height - 4} text-anchor="end">
        {fmt(high)}
      </text>
      {items.map((item, i) => {
        const y = i * row + 12;
        return (
          <g key={item.label} class={`interval ${item.cls ?? 's-blue'}`}>
            <RowLabel x={labelWidth - 6} y={y + 3} text={item.label} />
            <line class="series" x1={x(item.low)} y1={y} x2={x(item.high)} y2={y} />
            <circle class="dot" cx={x(item.value)} cy={y} r="3.5" />
            <text class="tick" x={width - right + 6} y={y + 3}>
              {fmt(item.value)}
            </text>
          </g>
        );
      })}
    </Figure>
  );
}
