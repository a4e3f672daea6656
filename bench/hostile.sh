#!/usr/bin/env bash
# Cost of the most expensive requests the hostile walk found (issue 11), next to ordinary
# requests measured in the same run, on the release server with a private Postgres: wall time
# per request (one client, one request at a time), the server process's CPU time per request
# (from /proc, 10 ms ticks, so averaged over the repeats) and its resident memory at the end.
# Usage: bench/hostile.sh [repeats]   (prints one JSON line per case)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPEATS="${1:-5}"
cd "$ROOT"
cargo build -q --release -p lockstep-backend --bin lockstep
LS="$ROOT/target/release/lockstep"
source "$ROOT/bench/lib.sh"
start_server hostile ops bench
echo "# $(nproc) cores, $REPEATS repeats per case, release build, private Postgres on a unix socket"
reference before
python3 "$ROOT/bench/hostile.py" "$ADDR" "$CSRF" "$COOKIE" "$SERVER_PID" "$LS" "$REPEATS" "$WORK"
reference after
