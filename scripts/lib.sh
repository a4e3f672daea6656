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

# libvirt: the library and headers the server links against (the `virt` crate), and for the
# tests a libvirtd with its QEMU driver (not libvirt-daemon-system, which pulls an init
# system). libvirtd looks up its built-in QEMU user before reading qemu.conf, so that user
# must exist even though the tests run QEMU as root (lab notes).
ensure_libvirt_dev() {
    ensure_packages pkg-config libvirt-dev
}

ensure_libvirtd() {
    ensure_libvirt_dev
    ensure_packages libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients util-linux iproute2
    if [ "$(id -u)" = 0 ]; then
        getent group libvirt-qemu > /dev/null || groupadd -r libvirt-qemu
        id libvirt-qemu > /dev/null 2>&1 \
            || useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
    fi
}

ensure_wasm_target() {
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        log "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown
    fi
}

# The release app is built by a pinned nightly compiler that rebuilds the standard library for
# size (-Z build-std with its optimize_for_size feature, panics that abort without formatting a
# message, no panic locations): 11 % less gzip than stable for the same source (498,092 ->
# 441,452 B, measured when this was adopted). Development builds, clippy and every native
# build use the stable toolchain.
WASM_NIGHTLY=nightly-2026-05-20

ensure_wasm_nightly() {
    if ! rustup component list --toolchain "$WASM_NIGHTLY" --installed 2>/dev/null | grep -q '^rust-src'; then
        log "installing $WASM_NIGHTLY with rust-src (the release app's compiler)"
        rustup toolchain install "$WASM_NIGHTLY" --profile minimal --component rust-src
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

# binaryen's wasm-opt at a pinned version, from the npm registry (Debian's binaryen 108 cannot
# parse what today's Rust emits), installed under target/tools.
BINARYEN_VERSION=132.0.0
WASM_OPT="$ROOT/target/tools/binaryen/node_modules/.bin/wasm-opt"
ensure_wasm_opt() {
    if ! command -v npm > /dev/null; then
        ensure_packages nodejs npm
    fi
    if ! "$WASM_OPT" --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
        log "installing binaryen $BINARYEN_VERSION (wasm-opt) from the npm registry"
        mkdir -p "$ROOT/target/tools/binaryen"
        npm install --prefix "$ROOT/target/tools/binaryen" --no-save --no-audit --no-fund \
            "binaryen@$BINARYEN_VERSION"
    fi
}

# Builds the frontend into dist/: the wasm (size-optimised profile, then wasm-opt -Oz), its JS
# glue and index.html, with content-hashed names for the wasm and JS, each also gzip- and
# brotli-compressed (gzip by zopfli). The server embeds dist/ when it is built (backend/build.rs).
build_frontend() {
    local profile="${1:-release}"
    ensure_packages brotli zopfli
    ensure_wasm_target
    ensure_wasm_bindgen
    ensure_wasm_opt
    log "building the frontend ($profile)"
    local wasm
    if [ "$profile" = release ]; then
        ensure_wasm_nightly
        # Its own target folder: the nightly's artifacts never mix with the stable ones.
        (cd "$ROOT" && CARGO_TARGET_DIR="$ROOT/target/wasm-nightly" \
            RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none" \
            cargo "+$WASM_NIGHTLY" build --profile wasm-release --target wasm32-unknown-unknown \
            -p lockstep-frontend -Z build-std=std,panic_abort -Z build-std-features=optimize_for_size)
        wasm="$ROOT/target/wasm-nightly/wasm32-unknown-unknown/wasm-release/lockstep-frontend.wasm"
    else
        (cd "$ROOT" && cargo build --target wasm32-unknown-unknown -p lockstep-frontend)
        wasm="$ROOT/target/wasm32-unknown-unknown/debug/lockstep-frontend.wasm"
    fi
    local out="$ROOT/dist.tmp"
    rm -rf "$out"
    wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name lockstep "$wasm"
    if [ "$profile" = release ]; then
        "$WASM_OPT" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
            --enable-mutable-globals --enable-reference-types --enable-multivalue \
            "$out/lockstep_bg.wasm" -o "$out/lockstep_bg.wasm"
    fi
    # Content-hashed names: the wasm first (the JS names it), then the JS (index.html names it).
    local wasm_hash js_hash
    wasm_hash="$(sha256sum "$out/lockstep_bg.wasm" | cut -c1-12)"
    mv "$out/lockstep_bg.wasm" "$out/lockstep_bg-$wasm_hash.wasm"
    sed -i "s/lockstep_bg\.wasm/lockstep_bg-$wasm_hash.wasm/g" "$out/lockstep.js"
    js_hash="$(sha256sum "$out/lockstep.js" | cut -c1-12)"
    mv "$out/lockstep.js" "$out/lockstep-$js_hash.js"
    sed "s#\./lockstep\.js#/lockstep-$js_hash.js#" "$ROOT/frontend/index.html" > "$out/index.html"
    grep -q "/lockstep-$js_hash.js" "$out/index.html" || { echo "index.html does not load the app" >&2; exit 1; }
    # gzip by zopfli: the same format every browser reads, about 5 % smaller than gzip -9
    # (the app's wasm: 436,720 -> 416,308 B).
    for f in "$out"/*; do
        zopfli "$f"
        brotli -q 11 -k "$f"
    done
    rm -rf "$ROOT/dist"
    mv "$out" "$ROOT/dist"
    log "frontend: $(cd "$ROOT/dist" && ls -l --block-size=1 lockstep* | awk '{ printf "%s %s B; ", $9, $5 }')"
}
