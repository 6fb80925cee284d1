#!/usr/bin/env bash
# The wheel, installed for real: build it, install it into a fresh virtual environment, and from a
# folder outside the checkout run what a new user runs (init, sample crawl, enrich, serve, digest, eval).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d /tmp/aiwatch-wheel-XXXXXX)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { echo "wheel smoke: $*"; }

step "building the wheel"
"$ROOT/.venv/bin/python" -m build --wheel --outdir "$WORK/dist" "$ROOT" >"$WORK/build.log" 2>&1 \
  || { tail -20 "$WORK/build.log"; exit 1; }
step "installing it into a fresh virtual environment"
"$PYTHON" -m venv "$WORK/venv"
pip_install() {
  "$WORK/venv/bin/pip" install -q "$@" >"$WORK/pip.log" 2>&1 || { tail -20 "$WORK/pip.log"; exit 1; }
}
pip_install --upgrade pip
pip_install torch==2.13.0  # the CPU build first, as make install does
pip_install "$WORK"/dist/aiwatch-*.whl
KB="$WORK/venv/bin/kb"
PKG="$("$WORK/venv/bin/python" -c 'import kb, pathlib; print(pathlib.Path(kb.__file__).parent)')"
touch "$WORK/installed.stamp"
mkdir "$WORK/run" && cd "$WORK/run"
export HF_HUB_OFFLINE=1 AIWATCH_DATA_DIR="$WORK/data" AIWATCH_CACHE_DIR="$WORK/cache"

step "kb init, sample crawl, enrich"
"$KB" init --db news.db
"$KB" sample crawl --db news.db --port 0 -q
"$KB" enrich --db news.db --config demo -q
step "kb serve: the search page with its templates"
PORT=$("$WORK/venv/bin/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
"$KB" serve --db news.db --port "$PORT" >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 120); do
  curl -fs "http://127.0.0.1:$PORT/-/search?q=Mistral" -o search.html && break
  sleep 1
done
grep -q "aiwatch" search.html && grep -qi "mistral" search.html \
  || { echo "the search page did not render"; tail -20 "$WORK/serve.log"; exit 1; }
kill "$SERVER_PID"; SERVER_PID=""
step "kb digest --out"
"$KB" digest --db news.db --week 2026-W44 --out digests -q
ls digests/*.html >/dev/null
step "kb eval"
"$KB" eval --db news.db --quiet | tee eval.txt
grep -q "nDCG" eval.txt
written="$(find "$PKG" -type f -newer "$WORK/installed.stamp" -not -path '*/__pycache__/*')"
if [ -n "$written" ]; then
  echo "the install tree was written to: $written"; exit 1
fi
step "passed"
