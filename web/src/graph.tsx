// A directed acyclic graph drawn as layered SVG (Sugiyama's scheme, small): each node's layer is
// its longest path from a source, an edge that spans layers passes through a point per layer
// between, and nodes within a layer are ordered by the mean position of their neighbours, a few
// sweeps down and up. Flows have a handful of nodes; nothing here needs to be faster.
export interface GraphNode {
  id: string;
  label: string;
  kind: string; // a style class suffix: kind-io, kind-llm, ...
  sublabel?: string;
  cls?: string; // more classes: ran, bypassed, selected
}

export interface GraphEdge {
  from: string;
  to: string;
}

interface Placed {
  id: string;
  layer: number;
  x: number;
  y: number;
  dummy: boolean;
}

const NODE_W = 168;
const NODE_H = 42;
const GAP_X = 28;
const GAP_Y = 54;
const PAD = 16;

export interface Layout {
  width: number;
  height: number;
  nodes: Map<string, Placed>;
  edges: { from: string; to: string; points: { x: number; y: number }[] }[];
}

export function layout(nodes: GraphNode[], edges: GraphEdge[]): Layout {
  const ids = nodes.map((n) => n.id);
  const parents = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const e of edges) parents.get(e.to)?.push(e.from);
  // Longest path from a source; the graph is checked acyclic by keel, `seen` guards anyway.
  const layerOf = new Map<string, number>();
  const seen = new Set<string>();
  const layer = (id: string): number => {
    const known = layerOf.get(id);
    if (known !== undefined) return known;
    if (seen.has(id)) return 0;
    seen.add(id);
    const value = Math.max(-1, ...(parents.get(id) ?? []).map(layer)) + 1;
    layerOf.set(id, value);
    return value;
  };
  ids.forEach(layer);

  // Long edges through a dummy point per layer between.
  const layers: string[][] = [];
  const put = (id: string, l: number) => (layers[l] ??= []).push(id);
  ids.forEach((id) => put(id, layerOf.get(id)!));
  const chains: { from: string; to: string; via: string[] }[] = [];
  const neighbours = new Map<string, { up: string[]; down: string[] }>();
  const link = (a: string, b: string) => {
    if (!neighbours.has(a)) neighbours.set(a, { up: [], down: [] });
    if (!neighbours.has(b)) neighbours.set(b, { up: [], down: [] });
    neighbours.get(a)!.down.push(b);
    neighbours.get(b)!.up.push(a);
  };
  edges.forEach((e, index) => {
    const via: string[] = [];
    let previous = e.from;
    for (let l = layerOf.get(e.from)! + 1; l < layerOf.get(e.to)!; l++) {
      const dummy = `\u0000${index}:${l}`;
      put(dummy, l);
      layerOf.set(dummy, l);
      link(previous, dummy);
      via.push(dummy);
      previous = dummy;
    }
    link(previous, e.to);
    chains.push({ from: e.from, to: e.to, via });
  });

  // Order within layers: the mean position of the neighbours in the layer before (down sweeps)
  // or after (up sweeps); stable, so the file's order breaks ties.
  const position = new Map<string, number>();
  const renumber = () => layers.forEach((row) => row.forEach((id, i) => position.set(id, i)));
  renumber();
  const sweep = (row: string[], side: 'up' | 'down') => {
    const key = (id: string) => {
      const near = neighbours.get(id)?.[side] ?? [];
      return near.length ? near.reduce((sum, n) => sum + position.get(n)!, 0) / near.length : position.get(id)!;
    };
    const keys = new Map(row.map((id) => [id, key(id)]));
    row.sort((a, b) => keys.get(a)! - keys.get(b)!);
    row.forEach((id, i) => position.set(id, i));
  };
  for (let round = 0; round < 4; round++) {
    for (let l = 1; l < layers.length; l++) sweep(layers[l], 'up');
    for (let l = layers.length - 2; l >= 0; l--) sweep(layers[l], 'down');
  }

  const widest = Math.max(1, ...layers.map((row) => row.length));
  const width = PAD * 2 + widest * NODE_W + (widest - 1) * GAP_X;
  const placed = new Map<string, Placed>();
  layers.forEach((row, l) => {
    const rowWidth = row.length * NODE_W + (row.length - 1) * GAP_X;
    const left = (width - rowWidth) / 2;
    row.forEach((id, i) => {
      placed.set(id, {
        id,
        layer: l,
        x: left + i * (NODE_W + GAP_X) + NODE_W / 2,
        y: PAD + l * (NODE_H + GAP_Y) + NODE_H / 2,
        dummy: id.startsWith('\u0000'),
      });
    });
  });
  const height = PAD * 2 + layers.length * NODE_H + (layers.length - 1) * GAP_Y;
  return {
    width,
    height,
    nodes: placed,
    edges: chains.map((chain) => {
      const from = placed.get(chain.from)!;
      const to = placed.get(chain.to)!;
      return {
        from: chain.from,
        to: chain.to,
        points: [
          { x: from.x, y: from.y + NODE_H / 2 },
          ...chain.via.map((id) => ({ x: placed.get(id)!.x, y: placed.get(id)!.y })),
          { x: to.x, y: to.y - NODE_H / 2 - 3 },
        ],
      };
    }),
  };
}

// Vertical cubic curves through the points.
function curve(points: { x: number; y: number }[]): string {
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    const mid = (a.y + b.y) / 2;
    d += ` C${a.x},${mid} ${b.x},${mid} ${b.x},${b.y}`;
  }
  return d;
}

export function Graph(props: {
  title: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
  onSelect?: (id: string) => void;
  selected?: string;
}) {
  const placed = layout(props.nodes, props.edges);
  // Long names are squeezed into the box rather than cut, so that what shows is the node's whole
  // name (its accessible name too: it comes from this text).
  const fit = (text: string, size: number) =>
    text.length * size * 0.6 > NODE_W - 20 ? { textLength: NODE_W - 20, lengthAdjust: 'spacingAndGlyphs' } : {};
  return (
    <svg class="dag" viewBox={`0 0 ${placed.width} ${placed.height}`} role="group" aria-label={props.title}>
      <defs>
        <marker id="dag-arrow" viewBox="0 0 8 8" refX="4" refY="4" markerWidth="8" markerHeight="8" orient="auto">
          <path class="arrow" d="M0,0 L8,4 L0,8 z" />
        </marker>
      </defs>
      {placed.edges.map((edge) => (
        <path key={`${edge.from}->${edge.to}`} class="edge" d={curve(edge.points)} marker-end="url(#dag-arrow)" />
      ))}
      {props.nodes.map((node) => {
        const at = placed.nodes.get(node.id)!;
        const select = () => props.onSelect?.(node.id);
        return (
          <g
            key={node.id}
            class={`node kind-${node.kind}${node.cls ? ` ${node.cls}` : ''}${props.selected === node.id ? ' selected' : ''}`}
            transform={`translate(${at.x - NODE_W / 2},${at.y - NODE_H / 2})`}
            role="button"
            tabindex={0}
            aria-pressed={props.selected === node.id}
            onClick={select}
            onKeyDown={(event) => {
              if (event.key === 'Enter' || event.key === ' ') {
                event.preventDefault();
                select();
              }
            }}
          >
            <rect width={NODE_W} height={NODE_H} rx="6" />
            <text x="10" y="18" {...fit(node.label, 12)}>
              {node.label}
            </text>
            {node.sublabel && (
              <text class="node-kind" x="10" y="33" {...fit(node.sublabel, 10)}>
                {` ${node.sublabel}`}
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
}
