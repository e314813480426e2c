#!/usr/bin/env bash
# Knowledge benchmark (issue 23): ingest throughput and retrieval latency/memory.
#  1. `keel ingest` of Python's HTML documentation (Debian's python3-doc, library/*.html: the
#     first BENCH_KB_PAGES pages, default all) embedded by the local engine with the fixture
#     BERT model (`keel fixture --arch bert`, random weights: the cost of a small encoder, not
#     its quality): pages/s and chunks/s, the whole run end to end.
#  2. build/keel_knowledge_bench at each of BENCH_KB_SIZES chunks (default "10000 100000"):
#     hnswlib, BM25 and fused search p50/p99 without the embedding call, the exact scan beside
#     them in the same run, hnswlib's recall@10 against it, RSS per 100k chunks.
# Prints what it measured; writes nothing into bench/RESULTS.md (the lead adds entries).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BENCH_BUILD_DIR:-build}
KEEL=$BUILD_DIR/keel
DOCS=/usr/share/doc/python3-doc/html/library
PAGES=${BENCH_KB_PAGES:-0}
SIZES=${BENCH_KB_SIZES:-"10000 100000"}
DIMS=${BENCH_KB_DIMS:-384}

cmake --build "$BUILD_DIR" --target keel keel_knowledge_bench >/dev/null
[ -d "$DOCS" ] || { echo "bench/knowledge.sh: $DOCS is missing (scripts/setup.sh installs python3-doc)" >&2; exit 1; }

work=$(mktemp -d /tmp/keel-kb-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$KEEL" fixture --arch bert "$work/embed.gguf" >/dev/null
mapfile -t files < <(ls "$DOCS"/*.html | sort)
[ "$PAGES" -gt 0 ] && files=("${files[@]:0:$PAGES}")
{
  echo "state: sqlite:$work/keel.db"
  echo "providers:"
  echo "  - {name: local, kind: local, model: $work/embed.gguf, threads: $(nproc)}"
  echo "models:"
  echo "  - {name: embed, targets: [{provider: local, model: default}]}"
  echo "knowledge:"
  echo "  - name: pydocs"
  echo "    embedding_model: embed"
  # keel estimates tokens (src/knowledge/chunk.h); the fixture BERT's tokenizer counts about
  # twice as many on this text (up to 4.7 times in library/allos.html) and embeds at most 512:
  # chunks it counts longer are cut to fit (src/knowledge/embed_chunks.h).
  echo "    chunk_tokens: 120"
  echo "    overlap_tokens: 20"
  echo "    sources:"
  for f in "${files[@]}"; do echo "      - $f"; done
} >"$work/keel.yaml"

echo "ingest: ${#files[@]} pages of $DOCS, fixture BERT through the local engine ($(nproc) threads)"
start=$(date +%s.%N)
"$KEEL" ingest pydocs --json --config "$work/keel.yaml" >"$work/ingest.json"
end=$(date +%s.%N)
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const s = Number(process.argv[2]);
  console.log(JSON.stringify({ pages: r.files, indexed: r.indexed, chunks: r.chunks_total, seconds: +s.toFixed(2),
    pages_per_s: +(r.indexed / s).toFixed(2), chunks_per_s: +(r.chunks_total / s).toFixed(1), errors: r.errors.length }));
' "$work/ingest.json" "$(echo "$end - $start" | bc)"

for n in $SIZES; do
  echo "retrieval: $n chunks, $DIMS dimensions"
  "$BUILD_DIR/keel_knowledge_bench" --chunks "$n" --dims "$DIMS" --queries 200 --dir "$work/index-$n"
done
