#!/usr/bin/env bash
# Runs radc's whole test suite: unit and property tests of the core, and
# integration tests against real dbus-daemons, a real `radc daemon`, and a
# custom client written in Python. Installs what it needs first (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# A one-off build (as in CI) gains nothing from incremental caches, which
# would take several gigabytes of disk.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi
cargo build --workspace --all-targets --locked
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
# One closing line for the whole run, summing every test binary's result.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "total: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
