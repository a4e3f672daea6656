#!/usr/bin/env bash
# Load benchmark of the server (release build, private local Postgres, loopback):
#   baseline  GET /healthz                        one trivial Postgres query
#   read      GET /api/v1/configurations/{id}     a configuration with its current version
#   save      PUT /api/v1/configurations/{id}     validate + cross-check + new version + audit
# at 50 concurrent keep-alive connections, 10 s each; then saves again while Postgres is
# restarted, and a check that every acknowledged save is in the database.
# Usage: bench/load.sh [seconds]   (prints one JSON line per run)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECS="${1:-10}"
CONNS=50
cd "$ROOT"
cargo build -q --release -p lockstep-backend --bin lockstep
cargo build -q --release -p lockstep-tests --bin loadgen
LS="$ROOT/target/release/lockstep"
LOADGEN="$ROOT/target/release/loadgen"

source "$ROOT/bench/lib.sh"
start_server load load bench

# One configuration per connection: the 1-disk standard pair, each on its own ports and files.
IDS=""
for i in $(seq 1 $CONNS); do
    "$LS" new --name "vm$i" --uuid 3f1c2a9e-6b1d-4c2e-9a57-0d7c1e5b8f21 --base-port $((10000 + 10 * i)) \
        --disk "/var/lib/colo/vm$i.qcow2:10G:qcow2" --primary 10.0.0.1 --secondary 10.0.0.2 > "$WORK/doc$i.json"
    id="$(python3 - "$WORK/doc$i.json" "vm$i" <<'PY' | curl -s -b "$WORK/cookies" -H "x-csrf-token: $CSRF" -H 'content-type: application/json' --data-binary @- "http://$ADDR/api/v1/teams/load/configurations" | python3 -c 'import sys, json; print(json.load(sys.stdin)["id"])'
import json, sys
print(json.dumps({"name": sys.argv[2], "document": json.load(open(sys.argv[1]))}))
PY
)"
    IDS="$IDS${IDS:+,}$id"
done
run() { "$LOADGEN" --addr "$ADDR" --connections $CONNS --cookie "$COOKIE" --csrf "$CSRF" --ids "$IDS" --document "$WORK/doc{i}.json" "$@"; }

echo "# $(nproc) cores, $CONNS connections, ${SECS}s per run, release build, private Postgres on a unix socket"
reference before
run --scenario baseline --seconds "$SECS"
run --scenario read --seconds "$SECS"
# Each connection saves its own configuration with its own document (no cross findings).
run --scenario save --seconds "$SECS"

# Restart Postgres in the middle of a save run; every acknowledged save must be stored.
DATA_PG="$WORK/data/postgres/data"
PG_CTL="$(ls /usr/lib/postgresql/*/bin/pg_ctl | head -1)"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
( sleep 3; as_pg "$PG_CTL" -D "$DATA_PG" -m fast -w restart -o "-c listen_addresses='' -c unix_socket_directories='$WORK/data/postgres/socket'" > "$WORK/restart.log" 2>&1 ) &
RESTARTER=$!
run --scenario save --seconds $((SECS > 8 ? SECS : 8)) --record "$WORK/acked.txt"
wait "$RESTARTER"
total="$(wc -l < "$WORK/acked.txt")"
found="$( { echo "CREATE TEMP TABLE acked (configuration_id bigint, version int);"
    echo "COPY acked FROM STDIN;"; tr ' ' '\t' < "$WORK/acked.txt"; echo '\.'
    echo "SELECT count(*) FROM acked a JOIN configuration_versions v USING (configuration_id, version);"
  } | psql -h "$WORK/data/postgres/socket" -U lockstep -d lockstep -qAt -v ON_ERROR_STOP=1)"
missing=$((total - found))
echo "{\"restart\": true, \"acknowledged_saves\": $total, \"missing_after_restart\": $missing}"
run --scenario read --seconds 3
reference after
[ "$missing" = 0 ]
