// A real, deterministic text embedding for fake upstreams, so that retrieval tests measure
// something: feature hashing (Weinberger et al. 2009) of lower-cased word unigrams and of the
// character trigrams inside each word (padded "#word#", as fastText's subwords), into DIMS
// buckets with a sign bit, each feature weighted 1 + log(count) (sublinear tf), L2-normalised.
// Words match across inflections through shared trigrams ("restarts" ~ "restarting"); there is
// no learned semantics (no synonyms), and no idf (an upstream sees no corpus).
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
