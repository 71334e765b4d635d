#!/usr/bin/env bash
# Runs radc's whole test suite: unit and property tests of the core, and
# integration tests against real dbus-daemons, a real `radc daemon`, and a
# custom client written in Python. Installs what it needs first (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --workspace --all-targets --locked
cargo test --workspace --locked
