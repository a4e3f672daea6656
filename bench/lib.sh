# Shared by the benchmarks: a release server on a private Postgres in a temporary folder, and
# a logged-in user. Sets WORK, SERVER_PID, ADDR, CSRF and COOKIE; removes everything on exit.
# The server serves a placeholder page, or the app in STATIC_DIR when that is set.
# Usage: source bench/lib.sh; start_server TAG TEAM USER

start_server() {
    local tag="$1" team="$2" user="$3"
    WORK="$(mktemp -d "/tmp/lockstep-$tag.XXXXXX")"
    chmod 755 "$WORK"
    mkdir -p "$WORK/static" && echo '<!doctype html>' > "$WORK/static/index.html"
    SERVER_PID=""
    trap cleanup EXIT
    LOCKSTEP_LOG=warn "$LS" serve --bind 127.0.0.1:0 --static-dir "${STATIC_DIR:-$WORK/static}" --data-dir "$WORK/data" > "$WORK/server.out" 2> "$WORK/server.err" &
    SERVER_PID=$!
    ADDR=""
    for _ in $(seq 1 300); do
        ADDR="$(sed -n 's#^lockstep: listening on http://\(.*\)/$#\1#p' "$WORK/server.out")"
        [ -n "$ADDR" ] && break
        sleep 0.1
    done
    [ -n "$ADDR" ] || { cat "$WORK/server.err"; echo "server did not start" >&2; exit 1; }
    LOCKSTEP_PASSWORD=loadtestpassword "$LS" admin create-user --data-dir "$WORK/data" --team "$team" --role admin "$user" > /dev/null
    local login
    login="$(curl -s -c "$WORK/cookies" -H 'content-type: application/json' -d "{\"user\":\"$user\",\"password\":\"loadtestpassword\"}" "http://$ADDR/api/v1/login")"
    CSRF="$(printf '%s' "$login" | python3 -c 'import sys, json; print(json.load(sys.stdin)["csrf_token"])')"
    COOKIE="$(awk '$6 == "lockstep_session" { print $7 }' "$WORK/cookies")"
}

cleanup() {
    if [ -n "${SERVER_PID:-}" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}

# This machine's speed drifts (by a third over minutes, seen on the 2-core VM): one core's time
# to hash 300 MB, before and after the runs, tells a slow phase from a slow change.
reference() {
    local TIMEFORMAT=%R t
    t="$( { time head -c 300000000 /dev/zero | sha256sum > /dev/null; } 2>&1 )"
    echo "{\"machine_reference\": \"$1\", \"sha256_300MB_s\": $t}"
}
