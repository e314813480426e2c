#!/usr/bin/env bash
# Writes THIRD_PARTY.md: the notices of the third-party code in build/keel, found from what the
# build actually used rather than from a list kept by hand:
#
#   - keel's link line (ninja -t commands keel): the static llama.cpp libraries, whose notices
#     are llama.cpp's LICENSE and those of the vendored code their objects were compiled from
#     (ninja's dependency records in llama.cpp's build tree: vendor/<name>/...);
#   - the headers keel's own objects were compiled from (ninja -t deps in keel's build tree),
#     mapped to the Debian packages that installed them (dpkg -S): header-only code such as
#     Boost.Asio and nlohmann-json is compiled into keel;
#   - the shared libraries keel loads (ldd), mapped to their Debian packages.
#
# Each Debian package's notice is its /usr/share/doc/PKG/copyright; the license named is the one
# of its `Files: *` paragraph (machine-readable copyright files), or a known one.
#
#   scripts/third_party.sh [BUILD_DIR]          # writes THIRD_PARTY.md (default build dir: build)
#   scripts/third_party.sh --check [BUILD_DIR]  # fails when THIRD_PARTY.md is not what it would write
#
# The file describes the build `make build` makes (release preset, local engine on, tcmalloc):
# run it on that build. Versions are left out, so that a Debian point release does not make it
# stale; what changes it is a library linked or dropped, a header package used, a llama.cpp
# upgrade or new vendored code in it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

check=0
if [ "${1:-}" = --check ]; then
  check=1
  shift
fi
build=${1:-build}
out=$root/THIRD_PARTY.md
llama_license=$root/LICENSE.llama.cpp   # llama.cpp's notice beside keel's LICENSE
new=$(mktemp)
trap 'rm -f "$new" "$new.llama"' EXIT

die() { echo "third_party: $*" >&2; exit 1; }
[ -x "$build/keel" ] || die "no $build/keel: build it first (make build)"
command -v dpkg >/dev/null || die "needs dpkg (Debian)"

link=$(ninja -C "$build" -t commands keel | tail -n 1)
[ -n "$link" ] || die "no link command for keel in $build"

# The Debian package that installed PATH ("" when none did).
package_of() {
  local found
  found=$(dpkg -S "$1" 2>/dev/null | head -n 1) || true
  if [ -z "$found" ]; then found=$(dpkg -S "$(readlink -f "$1")" 2>/dev/null | head -n 1) || true; fi
  echo "${found%%:*}"
}

# The license of PKG's `Files: *` paragraph; a known license for copyright files that are not
# machine-readable; else a pointer to the file.
license_of() {
  local file=/usr/share/doc/$1/copyright
  [ -e "$file" ] || { echo "no copyright file"; return; }
  if head -n 1 "$file" | grep -q '^Format:'; then
    awk 'BEGIN { RS = ""; FS = "\n" }
         { files = 0; for (i = 1; i <= NF; i++) if ($i ~ /^Files: *\*( |$)/) files = 1
           if (files) { for (i = 1; i <= NF; i++) if ($i ~ /^License:/) { sub(/^License: */, "", $i); print $i; exit } } }' "$file"
    return
  fi
  case $1 in
    libc6|libc6-dev) echo "LGPL-2.1+ (GNU C Library)" ;;
    libstdc++6|libstdc++-*-dev|libgcc-s1|libgcc-*-dev)
      echo "GPL-3+ with the GCC Runtime Library Exception" ;;
    *) echo "see the copyright file" ;;
  esac
}

# A table row per package of the associative array named $1 (package -> lines of what it gave,
# a column when there are any).
package_rows() {
  local -n items=$1
  local pkg given
  for pkg in $(printf '%s\n' "${!items[@]}" | sort); do
    given=$(sed '/^$/d' <<<"${items[$pkg]}" | sort -u | paste -sd ',' | sed 's/,/, /g')
    printf '| %s | %s |%s /usr/share/doc/%s/copyright |\n' "$pkg" "$(license_of "$pkg")" \
      "${given:+ $given |}" "$pkg"
  done
}

# --- llama.cpp and what it vendors --------------------------------------------------------------
llama_libs=$(grep -oE '[^ ]*/lib(ggml|llama|cpp-httplib)[^/ ]*\.a' <<<"$link" | sort -u || true)
llama_section=""
if [ -n "$llama_libs" ]; then
  first=$(head -n 1 <<<"$llama_libs")
  cache=${first%%/build/*}
  stamp=$cache/keel-llama.cmake
  [ -e "$stamp" ] || die "no $stamp beside $first"
  stamp_value() { sed -n "s/^set($1 \"\\(.*\\)\")$/\\1/p" "$stamp"; }
  version=$(stamp_value KEEL_LLAMA_VERSION)
  commit=$(stamp_value KEEL_LLAMA_COMMIT)
  src=$(stamp_value KEEL_LLAMA_SOURCE_DIR)
  lbuild=$(stamp_value KEEL_LLAMA_BUILD_DIR)
  names=$(sed 's#.*/##' <<<"$llama_libs" | tr '\n' ' ')
  # Objects of the linked libraries (lib<name>.a is built from CMakeFiles/<name>.dir/), and the
  # vendored files they were compiled from.
  dirs=$(sed -E 's#.*/lib(.*)\.a#\1#' <<<"$llama_libs" | sed 's/[.+]/\\&/g' | paste -sd '|')
  deps=$(ninja -C "$lbuild" -t deps | awk -v dirs="CMakeFiles/($dirs)\\\\.dir/" '
    /^[^ ].*\.o:/ { keep = ($1 ~ dirs); obj = $1; sub(/:$/, "", obj); if (keep) print "OBJ " obj; next }
    keep && NF { print $1 }')
  vendored=$(grep -oE "^$src/vendor/[^/]+" <<<"$deps" | sed "s#^$src/vendor/##" | sort -u || true)
  # shellcheck disable=SC2016 # the backquotes are Markdown's
  fence() { printf '```\n%s\n```\n' "$(cat)"; }
  cp "$src/LICENSE" "$new.llama"
  llama_section+="### llama.cpp $version (commit $commit): MIT"$'\n\n'
  llama_section+="The local engine. Static libraries: ${names% }. Source: node-llama-cpp's bundle of"$'\n'
  llama_section+="llama.cpp (DESIGN.md, \"Local engine\"); its LICENSE:"$'\n\n'
  llama_section+=$(fence <"$src/LICENSE")$'\n'
  if grep -q '^OBJ .*/llamafile/sgemm\.cpp\.o$' <<<"$deps"; then
    llama_section+=$'\n'"### llamafile's sgemm (in ggml-cpu): MIT"$'\n\n'
    llama_section+="ggml/src/ggml-cpu/llamafile/sgemm.cpp carries its own notice:"$'\n\n'
    llama_section+=$(sed -n '/Copyright/,/SOFTWARE\./p' "$src/ggml/src/ggml-cpu/llamafile/sgemm.cpp" |
      sed 's#^// \{0,1\}##' | fence)$'\n'
  fi
  for name in $vendored; do
    case $name in
      cpp-httplib) title="cpp-httplib: MIT"; notice=$(cat "$src/vendor/cpp-httplib/LICENSE") ;;
      nlohmann) title="nlohmann/json (llama.cpp's copy): MIT"; notice=$(cat "$src/licenses/LICENSE-jsonhpp") ;;
      sheredom)
        title="sheredom/subprocess.h: public domain (The Unlicense)"
        notice=$(sed -n '/This is free and unencumbered/,/unlicense\.org/p' "$src/vendor/sheredom/subprocess.h" |
          sed -E 's#^ {0,3}##') ;;
      *) die "llama.cpp's vendor/$name is compiled into keel and has no notice here yet: add it to $0" ;;
    esac
    llama_section+=$'\n'"### $title"$'\n\n'"Vendored in llama.cpp (vendor/$name), compiled into its libraries:"$'\n\n'
    llama_section+=$(fence <<<"$notice")$'\n'
  done
fi

# --- the web console's npm packages (web/, bundled by esbuild into keel) ---------------------------
# build/web-bundle.json is esbuild's metafile of the bundle that console_assets.cpp embeds; absent
# in a build without the console.
console_section=""
if [ -e "$build/web-bundle.json" ] && grep -q 'asset0' "$build/generated/console_assets.cpp" 2>/dev/null; then
  for pkg in $(grep -oE 'node_modules/(@[^/"]+/)?[^/"]+' "$build/web-bundle.json" | sed 's#node_modules/##' | sort -u); do
    dir=$root/web/node_modules/$pkg
    [ -e "$dir/package.json" ] || die "$pkg is in the console's bundle but not in web/node_modules"
    license=$(node -p "require('$dir/package.json').license" 2>/dev/null)
    notice_file=$(ls "$dir"/LICENSE* "$dir"/license* 2>/dev/null | head -n 1 || true)
    [ -n "$notice_file" ] || die "the console bundles $pkg, which ships no LICENSE file: add its notice to $0"
    console_section+="### $pkg (npm): $license"$'\n\n'"Bundled into the web console (web/, embedded in keel); its $(basename "$notice_file"):"$'\n\n'
    console_section+=$(printf '```\n%s\n```\n' "$(cat "$notice_file")")$'\n\n'
  done
fi

# --- headers compiled into keel's own objects ----------------------------------------------------
keel_libs=$(grep -oE '(^| )libkeel_[a-z]+\.a' <<<"$link" | sed -E 's/^ //; s/^lib(.*)\.a$/\1/' | paste -sd '|')
headers=$(ninja -C "$build" -t deps | awk -v dirs="^CMakeFiles/(keel|$keel_libs)\\\\.dir/" '
  /^[^ ].*\.o:/ { keep = ($1 ~ dirs); next }
  keep && $1 ~ /^\/usr\// { print $1 }' | sort -u)
declare -A header_pkgs=()   # package -> "" (a set)
while IFS= read -r line; do
  [ -n "$line" ] || continue
  pkg=${line%%: *}
  # Packages only, not which of their headers: that changes with every #include, and the file
  # would be out of date after most changes to keel.
  # shellcheck disable=SC2034 # read through package_rows' nameref
  header_pkgs[${pkg%%:*}]=""
done < <(printf '%s\n' "$headers" | awk '
           # One header per folder below the top ones (a folder comes from one package; dpkg -S
           # per header took a minute), every header in /usr/include and its multiarch folder.
           { d = $0; sub(/\/[^\/]*$/, "", d) }
           d ~ /^\/usr\/include(\/x86_64-linux-gnu)?$/ || !(d in seen) { seen[d] = 1; print }' |
         xargs -r dpkg -S 2>/dev/null | grep -v '^diversion' || true)

# --- shared libraries keel loads -----------------------------------------------------------------
declare -A so_pkg=()        # package -> its libraries, a line each
while read -r soname path; do
  pkg=$(package_of "$path")
  [ -n "$pkg" ] || die "$path (ldd $build/keel) belongs to no Debian package"
  so_pkg[$pkg]+="$soname"$'\n'
done < <(ldd "$build/keel" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 } $1 ~ /^\// { n = split($1, p, "/"); print p[n], $1 }')

{
  cat <<'EOF'
# Third-party notices

keel itself is under the Apache License 2.0 (LICENSE). This file lists the third-party code in
the `keel` binary that `make build` makes, with its notices. It is written by
`scripts/third_party.sh` from what that build used: keel's link line, the headers its objects
were compiled from, and `ldd build/keel`; `scripts/test.sh` fails when it is out of date. Do not
edit it by hand: rerun the script.

## Compiled into keel

EOF
  if [ -n "$llama_section" ]; then
    printf '%s\n' "$llama_section"
  else
    printf 'This build has no local engine (KEEL_LOCAL=OFF): no llama.cpp code.\n\n'
  fi
  printf '%s' "$console_section"
  cat <<'EOF'
### Debian packages whose headers keel is compiled from

Header-only libraries (Boost.Asio and Beast, nlohmann-json) and the inline parts of the others
become part of keel's own code. Each notice is the package's copyright file, installed with it.

| package | license (`Files: *`) | notice |
|---|---|---|
EOF
  package_rows header_pkgs
  cat <<'EOF'

## Shared libraries keel loads

Installed from Debian packages, not shipped with keel; each notice is the package's copyright
file.

| package | license (`Files: *`) | libraries | notice |
|---|---|---|---|
EOF
  package_rows so_pkg
} >"$new"

if [ "$check" = 1 ]; then
  diff -u "$out" "$new" >&2 ||
    die "THIRD_PARTY.md is out of date with $build/keel: run scripts/third_party.sh and commit it"
  if [ -e "$new.llama" ]; then
    diff -u "$llama_license" "$new.llama" >&2 ||
      die "LICENSE.llama.cpp differs from the linked llama.cpp's LICENSE: run scripts/third_party.sh"
  fi
  echo "third_party: THIRD_PARTY.md and LICENSE.llama.cpp match $build/keel"
else
  cat "$new" >"$out"
  if [ -e "$new.llama" ]; then cat "$new.llama" >"$llama_license"; fi
  echo "third_party: wrote THIRD_PARTY.md (and LICENSE.llama.cpp) from $build/keel"
fi
