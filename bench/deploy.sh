#!/usr/bin/env bash
# Deploy benchmark: two private libvirtds on this machine (root, KVM), the 1-disk standard
# pair. Per round, the plan's deploy steps as a plain shell script of virsh commands (the
# baseline, in the same run) against `lockstep deploy` to "Protected", and `lockstep failover`
# after the primary's QEMU is killed. Targets: deploy at most 0.6x the baseline, failover under
# 100 ms.
# Usage: bench/deploy.sh [rounds]   (prints one JSON line per measurement, then the medians)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${1:-5}"
cd "$ROOT"
source "$ROOT/scripts/lib.sh"
ensure_qemu > /dev/null
ensure_libvirtd
cargo build -q --release -p lockstep-backend --bin lockstep
cargo build -q --release -p lockstep-tests --bin deploybench
exec "$ROOT/target/release/deploybench" --lockstep "$ROOT/target/release/lockstep" --rounds "$ROUNDS"
