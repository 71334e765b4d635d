#!/usr/bin/env bash
# radc's main job in one go, on a fresh Debian machine (as root): build radc,
# then, on a private session bus, let two custom clients register their
# connections in workspace "demo", show them with `radc status`, and
# disconnect the whole workspace with `radc disconnect demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --locked -p radc -p radc-client --examples --bins
export PATH="$PWD/target/release:$PATH"
demo_home=$(mktemp -d)
trap 'rm -rf "$demo_home"' EXIT
export XDG_CONFIG_HOME="$demo_home/config" XDG_STATE_HOME="$demo_home/state"

dbus-run-session -- bash -euo pipefail -c '
  echo "\$ radc status        # starts the runtime"
  radc status
  target/release/examples/custom_client --workspace demo Notepad Paint &
  client=$!
  sleep 1
  echo; echo "\$ radc status"
  radc status
  echo; echo "\$ radc disconnect demo"
  radc disconnect demo
  wait "$client"
  echo; echo "\$ radc status"
  radc status
  kill "$(radc status --json | python3 -c "import json,sys; print(json.load(sys.stdin)[\"runtime_pid\"])")"
'
