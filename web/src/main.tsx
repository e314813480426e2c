// The console's shell: a page registry, hash routing (#/playground, #/log/ID, ...), the nav.
// A page is one entry in `pages`.
import { render, type ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getKey, setKey } from './api';
import { Copilots } from './pages/copilots';
import { Evaluations } from './pages/evals';
import { Flows } from './pages/flows';
import { Models } from './pages/models';
import { Playground } from './pages/playground';
import { RequestLog } from './pages/log';
import { useKeyVersion } from './ui';

interface Page {
  path: string; // the hash route's first segment
  title: string;
  // `rest`: the route after the page's segment, decoded ("req_1" for #/log/req_1)
  view: (rest: string | undefined) => ComponentChildren;
}

const pages: Page[] = [
  { path: 'playground', title: 'Playground', view: () => <Playground /> },
  { path: 'models', title: 'Models & providers', view: () => <Models /> },
  { path: 'log', title: 'Request log', view: (rest) => <RequestLog id={rest} /> },
  { path: 'copilots', title: 'Copilots', view: (rest) => <Copilots name={rest} /> },
  { path: 'flows', title: 'Flows', view: (rest) => <Flows name={rest} /> },
  { path: 'evals', title: 'Evaluations', view: (rest) => <Evaluations route={rest} /> },
];

function parseHash(hash: string): { page: Page; rest?: string } {
  const [segment, ...rest] = hash.replace(/^#\/?/, '').split('/');
  const page = pages.find((p) => p.path === segment) ?? pages[0];
  const tail = rest.join('/');
  return { page, rest: tail ? decodeURIComponent(tail) : undefined };
}

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const listener = () => setHash(location.hash);
    addEventListener('hashchange', listener);
    return () => removeEventListener('hashchange', listener);
  }, []);
  return hash;
}

function Keys() {
  useKeyVersion();
  const held = (['api', 'admin'] as const).filter((kind) => getKey(kind));
  if (held.length === 0) return null;
  return (
    <button
      type="button"
      class="link"
      onClick={() => {
        setKey('api', '');
        setKey('admin', '');
      }}
    >
      Forget keys
    </button>
  );
}

function App() {
  const { page, rest } = parseHash(useHash());
  useEffect(() => {
    document.title = `${page.title} · keel`;
  }, [page]);
  return (
    <>
      <header class="top">
        <a class="brand" href="#/playground">
          <img src="/console/favicon.svg" alt="" width={24} height={24} />
          keel
        </a>
        <nav aria-label="Pages">
          {pages.map((p) => (
            <a key={p.path} href={`#/${p.path}`} aria-current={p === page ? 'page' : undefined}>
              {p.title}
            </a>
          ))}
        </nav>
        <Keys />
      </header>
      <main>
        <h1>{page.title}</h1>
        {page.view(rest)}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
