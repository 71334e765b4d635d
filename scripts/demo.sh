#!/usr/bin/env bash
# radc's main job in one go, on a fresh Debian machine (as root): build radc,
# then, on a private session bus and with a sample RD Web feed served on
# loopback, subscribe to the workspace, list its resources, let a custom
# client register two connections in it, show them with `radc status`, and
# disconnect the whole workspace by its name.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --locked -p radc -p radc-client --examples --bins
export PATH="$PWD/target/release:$PATH"
demo_home=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory scripts/demo-site >/dev/null 2>&1 &
site=$!
trap 'kill "$site" 2>/dev/null; rm -rf "$demo_home"' EXIT
export HOME="$demo_home" XDG_CONFIG_HOME="$demo_home/config" XDG_DATA_HOME="$demo_home/data" \
  XDG_STATE_HOME="$demo_home/state" DEMO_PORT="$port"
sleep 0.5

dbus-run-session -- bash -euo pipefail -c '
  echo "\$ radc subscribe http://127.0.0.1:$DEMO_PORT --allow-http   # a sample feed on loopback"
  radc subscribe "http://127.0.0.1:$DEMO_PORT" --allow-http
  echo; echo "\$ radc resources"
  radc resources
  target/release/examples/custom_client --workspace demo Notepad Paint &
  client=$!
  sleep 1
  echo; echo "\$ radc status"
  radc status
  echo; echo "\$ radc disconnect \"Demo Apps\""
  radc disconnect "Demo Apps"
  wait "$client"
  echo; echo "\$ radc status"
  radc status
  kill "$(radc status --json | python3 -c "import json,sys; print(json.load(sys.stdin)[\"runtime_pid\"])")"
'
