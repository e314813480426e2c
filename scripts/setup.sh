#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for building, running and testing keel.
# Used by `make run` and `make test`; quick (a few dpkg queries) when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  g++ cmake ninja-build pkg-config git
  libboost-dev libboost-system-dev libssl-dev openssl ca-certificates
  nlohmann-json3-dev libyaml-cpp-dev libsqlite3-dev sqlite3
  libtcmalloc-minimal4   # keel's allocator (CMakeLists.txt, KEEL_TCMALLOC)
  libgtest-dev libgmock-dev libbenchmark-dev
  nodejs npm
  ccache   # every keel build compiles through it (scripts/ccache.sh); cache in ~/.cache/ccache
  chromium   # tests/browser drive the web console in it (playwright-core, no browser download)
  libvalijson-dev   # JSON Schema validation for keel eval's json_schema evaluator (header-only)
  python3 python3-requests python3-bs4   # Prompt flow's python nodes (src/flows/python.h) and
                                        # web-classification's fetch node
  libxml2-dev libhnswlib-dev poppler-utils   # knowledge bases: HTML parser, vector index, pdftotext
  qpdf shared-mime-info   # knowledge tests: a password-protected pdf made from a real one (its spec)
  python3-doc   # Python's HTML documentation: the corpus of the knowledge retrieval tests
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Node may come from elsewhere than Debian (e.g. nodesource): accept any node >= 18 with npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs/}")
  missing=("${missing[@]/npm/}")
fi
read -r -a missing <<<"${missing[*]}"
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# llama.cpp for the local engine, built once into ~/.cache/keel (minutes the first time; a stamp
# check afterwards). KEEL_SETUP_LLAMA=0 skips it: keel then builds without the local engine.
if [ "${KEEL_SETUP_LLAMA:-1}" = "1" ]; then
  scripts/llama.sh >/dev/null
fi

# npm packages, each folder's reinstalled only when its lock file changed since the last install:
# tests/e2e: the end-to-end tests (the official client SDKs);
# web: the console's build (esbuild, TypeScript, Preact), which keel's build embeds;
# tests/browser: playwright-core and axe-core.
if [ "${KEEL_SETUP_NPM:-1}" = "1" ]; then
  for dir in tests/e2e web tests/browser; do
    stamp=$dir/node_modules/.keel-lock-stamp
    if [ ! -f "$stamp" ] || ! cmp -s $dir/package-lock.json "$stamp"; then
      echo "setup: installing npm packages for $dir"
      (cd $dir && npm ci --no-audit --no-fund --loglevel=error)
      cp $dir/package-lock.json "$stamp"
    fi
  done
fi
