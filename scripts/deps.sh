#!/usr/bin/env bash
# Installs what Weft needs to build, test and run on Debian 12. Idempotent: packages already
# installed are left alone and the package lists are refreshed only when something is missing.
#
#   scripts/deps.sh           build + test + example dependencies
#   scripts/deps.sh --bench   the same plus the benchmark extras (wrk, nginx, haproxy, gnuplot)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

BENCH=0
for arg in "$@"; do
  case "$arg" in
    --bench) BENCH=1 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deps: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  build-essential cmake ninja-build pkg-config g++ clang libclang-rt-14-dev clang-format
  libuv1-dev libssl-dev libyaml-cpp-dev prometheus-cpp-dev libgtest-dev libgmock-dev
  nlohmann-json3-dev libre2-dev libcli11-dev zlib1g-dev
  python3 python3-pytest python3-cryptography curl openssl prometheus
)
BENCH_PACKAGES=(wrk nginx-light haproxy gnuplot-nox)
if [[ $BENCH == 1 ]]; then PACKAGES+=("${BENCH_PACKAGES[@]}"); fi

SUDO=()
if [[ $(id -u) != 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "deps: not root and sudo is not available; run this script as root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive

log() { printf '==> deps: %s\n' "$*"; }

is_installed() {
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

UPDATED=0
apt_update() {
  if [[ $UPDATED == 0 ]]; then
    log "refreshing package lists (apt-get update)"
    "${SUDO[@]}" apt-get update -qq
    UPDATED=1
  fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  is_installed "$p" || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  log "all ${#PACKAGES[@]} packages already installed"
else
  log "missing: ${missing[*]}"
  apt_update
  log "installing ${#missing[@]} package(s), this can take a few minutes"
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  log "installed: ${missing[*]}"
fi

# llhttp: Debian ships its C sources only in node-llhttp, which depends on nodejs. Unpack the
# package into .deps/llhttp instead of installing it (CMake looks there).
LLHTTP_SYSTEM=/usr/share/llhttp/llhttp.c
LLHTTP_LOCAL=$ROOT/.deps/llhttp/usr/share/llhttp/llhttp.c
if [[ -f $LLHTTP_SYSTEM ]]; then
  log "llhttp sources: $LLHTTP_SYSTEM"
elif [[ -f $LLHTTP_LOCAL ]]; then
  log "llhttp sources: .deps/llhttp (already unpacked)"
else
  mkdir -p "$ROOT/.deps"
  deb=$(ls "$ROOT"/.deps/node-llhttp_*.deb 2>/dev/null | head -n1 || true)
  if [[ -z $deb ]]; then
    log "downloading node-llhttp (C sources only; nodejs is not installed)"
    # apt-get download writes to the current directory; as root it warns that the _apt user
    # cannot write there, which is harmless.
    if ! (cd "$ROOT/.deps" && apt-get download -qq node-llhttp 2>/dev/null); then
      apt_update
      (cd "$ROOT/.deps" && apt-get download -qq node-llhttp 2>/dev/null)
    fi
    deb=$(ls "$ROOT"/.deps/node-llhttp_*.deb 2>/dev/null | head -n1 || true)
    [[ -n $deb ]] || { echo "deps: could not download node-llhttp" >&2; exit 1; }
  fi
  log "unpacking $(basename "$deb") into .deps/llhttp"
  rm -rf "$ROOT/.deps/llhttp"
  dpkg-deb -x "$deb" "$ROOT/.deps/llhttp"
  [[ -f $LLHTTP_LOCAL ]] || { echo "deps: $deb has no llhttp.c where expected" >&2; exit 1; }
fi

log "done"
