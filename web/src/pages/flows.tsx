// Flows: the config's Prompt flows (/admin/flows), each drawn as its DAG, run with inputs through
// POST /v1/flows/{name}/run (asking for the node outputs), and each node's output shown.
// Route: #/flows or #/flows/NAME.
import { useState } from 'preact/hooks';
import { ApiError } from '../api';
import { flows, runFlow, type FlowInfo, type FlowNodeInfo, type FlowRunResult } from '../flows_api';
import { Graph, type GraphEdge, type GraphNode } from '../graph';
import { Failure, Head, Loading, useLoad } from '../ui';

const INPUTS = '\u0000inputs';
const OUTPUTS = '\u0000outputs';

export function Flows({ name }: { name?: string }) {
  const { data, error } = useLoad(flows, []);
  if (error) return <Failure error={error} />;
  if (!data) return <Loading />;
  if (data.data.length === 0) {
    return (
      <div class="card">
        keel serves no flows: a <code>flows:</code> entry in its config (a Prompt flow folder) adds one.
      </div>
    );
  }
  const flow = data.data.find((f) => f.name === name) ?? data.data[0];
  return (
    <section class="flows">
      <div class="toolbar">
        <label for="flow-pick">Flow</label>
        <select
          id="flow-pick"
          value={flow.name}
          onChange={(event) => (location.hash = `#/flows/${encodeURIComponent(event.currentTarget.value)}`)}
        >
          {data.data.map((f) => (
            <option key={f.name} value={f.name}>
              {f.name}
            </option>
          ))}
        </select>
        <span class="muted">
          {flow.nodes.length} nodes · {flow.chat ? 'a chat flow' : 'a standard flow'} · runs {flow.order.join(' → ')}
        </span>
      </div>
      <FlowView key={flow.name} flow={flow} />
    </section>
  );
}

function graphOf(flow: FlowInfo, run?: FlowRunResult): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const edge = (from: string, to: string) => {
    if (!edges.some((e) => e.from === from && e.to === to)) edges.push({ from, to });
  };
  if (flow.inputs.length) nodes.push({ id: INPUTS, label: 'inputs', kind: 'io', sublabel: flow.inputs.map((i) => i.name).join(', ') });
  for (const node of flow.nodes) {
    const ran = run ? (node.name in run.nodes ? ' ran' : ' bypassed') : '';
    nodes.push({ id: node.name, label: node.name, kind: node.type, sublabel: sublabel(node), cls: ran.trim() || undefined });
    for (const value of [...node.inputs, ...(node.activate ? [node.activate] : [])]) {
      if (value.node) edge(value.node, node.name);
      if (value.input && flow.inputs.length) edge(INPUTS, node.name);
    }
  }
  if (flow.outputs.length) {
    nodes.push({ id: OUTPUTS, label: 'outputs', kind: 'io', sublabel: flow.outputs.map((o) => o.name).join(', ') });
    for (const output of flow.outputs) {
      if (output.node) edge(output.node, OUTPUTS);
      if (output.input) edge(INPUTS, OUTPUTS);
    }
  }
  return { nodes, edges };
}

function sublabel(node: FlowNodeInfo): string {
  const variant = node.variant ? ` · ${node.variant}` : '';
  return `${node.type}${node.aggregation ? ' (aggregation)' : ''}${variant}`;
}

const show = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value, null, 2));

// A value in a box that wraps long lines and, when it still scrolls, takes the keyboard's focus.
function Value({ value, cls }: { value: unknown; cls?: string }) {
  return (
    <pre class={`json wrap-text${cls ? ` ${cls}` : ''}`} tabindex={0}>
      {show(value)}
    </pre>
  );
}

// An input's text field as the user typed it -> the JSON value the flow expects.
function parseInput(type: string, text: string): unknown {
  if (type === 'string' || type === 'image') return text;
  if (type === 'int' || type === 'double') {
    const number = Number(text);
    if (text.trim() === '' || Number.isNaN(number)) throw new Error(`expected a number, got '${text}'`);
    return number;
  }
  if (type === 'bool') return text === 'true';
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`expected JSON (${type}), got '${text}'`);
  }
}

function FlowView({ flow }: { flow: FlowInfo }) {
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(
      flow.inputs.map((i) => [i.name, i.default === undefined ? (i.is_chat_history ? '[]' : '') : show(i.default)]),
    ),
  );
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const [running, setRunning] = useState(false);
  const [result, setResult] = useState<FlowRunResult | undefined>(undefined);
  const [failure, setFailure] = useState<unknown>(undefined);
  const graph = graphOf(flow, result);

  const run = async () => {
    setRunning(true);
    setFailure(undefined);
    try {
      const inputs = Object.fromEntries(flow.inputs.map((i) => [i.name, parseInput(i.type, values[i.name] ?? '')]));
      setResult(await runFlow(flow.name, inputs));
    } catch (error) {
      setResult(undefined);
      setFailure(error);
    } finally {
      setRunning(false);
    }
  };

  const node = flow.nodes.find((n) => n.name === selected);
  return (
    <>
      <div class="flow-layout">
        <div class="card">
          <h2>Graph</h2>
          <Graph
            title={`The graph of flow ${flow.name}: select a node to see its inputs and output`}
            nodes={graph.nodes}
            edges={graph.edges}
            selected={selected}
            onSelect={(id) => setSelected(id === selected ? undefined : id)}
          />
        </div>
        <div>
          <form
            class="card flow-form"
            onSubmit={(event) => {
              event.preventDefault();
              void run();
            }}
          >
            <h2>Run {flow.name}</h2>
            {flow.inputs.map((input) => {
              const id = `flow-input-${input.name}`;
              const multiline = !['string', 'int', 'double', 'bool', 'image'].includes(input.type);
              const set = (text: string) => setValues({ ...values, [input.name]: text });
              return (
                <div class="field" key={input.name}>
                  <label for={id}>
                    {input.name} <span class="muted">({input.type})</span>
                  </label>
                  {multiline ? (
                    <textarea id={id} rows={3} value={values[input.name]} onInput={(e) => set(e.currentTarget.value)} />
                  ) : (
                    <input id={id} type="text" value={values[input.name]} onInput={(e) => set(e.currentTarget.value)} />
                  )}
                </div>
              );
            })}
            <div>
              <button type="submit" disabled={running}>
                {running ? 'Running…' : 'Run flow'}
              </button>
            </div>
          </form>
          {failure !== undefined &&
            (failure instanceof ApiError && failure.needsKey ? (
              <Failure error={failure} />
            ) : (
              <div class="card error" role="alert">
                {failure instanceof Error ? failure.message : String(failure)}
              </div>
            ))}
          {result && (
            <div class="card" aria-live="polite">
              <h2>Outputs</h2>
              <Value value={result.outputs} cls="flow-outputs" />
            </div>
          )}
          {node && <NodeDetail node={node} output={result?.nodes[node.name]} ran={!!result} />}
        </div>
      </div>
      {result && (
        <div class="card table-card">
          <table class="node-outputs">
            <caption class="pad">Each node’s output, in the order the flow ran them</caption>
            <Head columns={['node', 'type', 'output']} />
            <tbody>
              {flow.order.map((name) => {
                const n = flow.nodes.find((x) => x.name === name)!;
                return (
                  <tr key={name}>
                    <th scope="row">{name}</th>
                    <td>{n.type}</td>
                    <td>
                      {name in result.nodes ? (
                        <Value value={result.nodes[name]} />
                      ) : (
                        <span class="muted">bypassed (activate)</span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function NodeDetail({ node, output, ran }: { node: FlowNodeInfo; output: unknown; ran: boolean }) {
  return (
    <article class="card node-detail" aria-labelledby="node-title">
      <h2 id="node-title">Node {node.name}</h2>
      <dl class="facts">
        <div>
          <dt>type</dt>
          <dd>{sublabel(node)}</dd>
        </div>
        <div>
          <dt>source</dt>
          <dd class="wrap-any">{node.source || '–'}</dd>
        </div>
        {node.connection && (
          <div>
            <dt>connection</dt>
            <dd>{node.connection}</dd>
          </div>
        )}
        {node.variants && (
          <div>
            <dt>variants</dt>
            <dd>{node.variants.join(', ')}</dd>
          </div>
        )}
        {node.activate && (
          <div>
            <dt>runs when</dt>
            <dd>
              {show(node.activate.value)} is {show(node.activate.is)}
            </dd>
          </div>
        )}
      </dl>
      <table>
        <caption class="visually-hidden">Inputs of {node.name}</caption>
        <Head columns={['input', 'value']} />
        <tbody>
          {node.inputs.map((input) => (
            <tr key={input.name}>
              <th scope="row">{input.name}</th>
              <td class="wrap-any">
                <code>{show(input.value)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2 class="output-title">Output</h2>
      {!ran ? (
        <p class="muted">Run the flow to see it.</p>
      ) : output === undefined ? (
        <p class="muted">Bypassed in the last run.</p>
      ) : (
        <Value value={output} />
      )}
    </article>
  );
}
