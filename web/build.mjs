// Builds the console into --outdir (default dist/): app.js (esbuild: TypeScript + Preact JSX,
// bundled, minified), index.html, style.css and favicon.svg. keel's build calls it and compiles
// the output into keel (cmake/embed_console.cmake); the files are served under /console/.
// --metafile FILE: esbuild's list of the bundle's inputs (scripts/third_party.sh names the npm
// packages compiled into keel from it).
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const at = process.argv.indexOf('--outdir');
const outdir = path.resolve(at > 0 ? process.argv[at + 1] : path.join(here, 'dist'));

const metaAt = process.argv.indexOf('--metafile');

mkdirSync(outdir, { recursive: true });
const result = await esbuild.build({
  metafile: true,
  absWorkingDir: here,
  entryPoints: ['src/main.tsx'],
  outfile: path.join(outdir, 'app.js'),
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
});
if (metaAt > 0) writeFileSync(process.argv[metaAt + 1], JSON.stringify(result.metafile));
for (const file of ['index.html', 'style.css', 'favicon.svg']) {
  copyFileSync(path.join(here, 'src', file), path.join(outdir, file));
}
