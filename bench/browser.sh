#!/usr/bin/env bash
# Browser benchmark (release app and server, private Postgres, loopback, headless Chromium):
#   size        what the page loads: the wasm and the JS, raw, gzip and brotli
#   navigation  from navigating to a configuration until its editor is interactive
#   edit        one arrow-key move of a node until it is validated and drawn
#   drag        each pointer move of a drag until it is validated and drawn
# for the 1-disk and the 32-disk standard pair. This machine's speed drifts: the sha256
# reference before and after tells a slow phase from a slow change.
# Usage: bench/browser.sh [rounds]   (prints one JSON line per measurement)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${1:-10}"
cd "$ROOT"
source "$ROOT/scripts/lib.sh"
ensure_packages chromium chromium-driver
build_frontend release > /dev/null
cargo build -q --release -p lockstep-backend --bin lockstep
cargo build -q --release -p lockstep-tests --bin browserbench
LS="$ROOT/target/release/lockstep"

for f in dist/lockstep*.js dist/lockstep_bg*.wasm; do
    echo "{\"asset\": \"$(basename "$f")\", \"raw_bytes\": $(stat -c %s "$f"), \"gzip_bytes\": $(stat -c %s "$f.gz"), \"brotli_bytes\": $(stat -c %s "$f.br")}"
done
echo "{\"app_gzip_bytes\": $(cat dist/lockstep*.js.gz dist/lockstep_bg*.wasm.gz | wc -c), \"app_brotli_bytes\": $(cat dist/lockstep*.js.br dist/lockstep_bg*.wasm.br | wc -c), \"target_gzip_bytes\": 300000}"

source "$ROOT/bench/lib.sh"
STATIC_DIR="$ROOT/dist" start_server browser bench bench
echo "# $(nproc) cores, release build, headless Chromium $(chromium --version 2>/dev/null | awk '{print $2}'), $ROUNDS rounds"
reference before
"$ROOT/target/release/browserbench" --addr "$ADDR" --team bench --user bench --password loadtestpassword --rounds "$ROUNDS"
reference after
