# Shared set-up for scripts/run and scripts/test. Every step checks first and installs only
# what is missing, so running it again changes nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\n==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages: install the missing ones (apt-get update first). Arguments are package
# names, optionally with a /release suffix (qemu-utils/bookworm).
ensure_packages() {
    local missing=()
    for spec in "$@"; do
        local pkg="${spec%%/*}"
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$spec")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        as_root apt-get update || echo "warning: apt-get update reported errors; trying the install anyway"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            --allow-downgrades "${missing[@]}"
    fi
}

# QEMU 7.2 and its tools at the same version (lab.md: the machine may come with qemu-utils
# 10.0 from backports, which the COLO tests must not use).
ensure_qemu() {
    ensure_packages qemu-system-x86 qemu-utils
    if ! qemu-img --version | grep -q 'version 7\.2'; then
        log "installing qemu-utils 7.2 to match qemu-system-x86"
        as_root apt-get update || true
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            --allow-downgrades qemu-system-x86 qemu-utils/bookworm
    fi
    qemu-img --version | head -1
    qemu-system-x86_64 --version | head -1
}

ensure_wasm_target() {
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        log "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown
    fi
}

# wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock.
ensure_wasm_bindgen() {
    local want
    want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")"
    if [ -z "$want" ]; then
        echo "error: no wasm-bindgen in Cargo.lock" >&2
        exit 1
    fi
    if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $want"; then
        log "installing wasm-bindgen-cli $want (the version in Cargo.lock)"
        cargo install wasm-bindgen-cli --version "$want" --locked --force \
            || cargo install wasm-bindgen-cli --version "$want" --force
    fi
}

# Builds the frontend bundle into dist/ (no trunk, nothing downloaded).
build_frontend() {
    local profile="${1:-release}"
    ensure_wasm_target
    ensure_wasm_bindgen
    log "building the frontend ($profile)"
    local flag=()
    [ "$profile" = release ] && flag=(--release)
    (cd "$ROOT" && cargo build "${flag[@]}" --target wasm32-unknown-unknown -p lockstep-frontend)
    rm -rf "$ROOT/dist.tmp"
    wasm-bindgen --target web --no-typescript --out-dir "$ROOT/dist.tmp" --out-name lockstep \
        "$ROOT/target/wasm32-unknown-unknown/$profile/lockstep-frontend.wasm"
    cp "$ROOT/frontend/index.html" "$ROOT/dist.tmp/"
    rm -rf "$ROOT/dist"
    mv "$ROOT/dist.tmp" "$ROOT/dist"
}
