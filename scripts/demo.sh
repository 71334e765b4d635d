#!/usr/bin/env bash
# radc's main job in one go, on a fresh Debian machine (as root): build radc,
# then, on a private session bus, with a sample RD Web feed served on
# loopback and a real RDP server (FreeRDP's shadow server on a virtual X
# display) behind its desktop: subscribe to the workspace, list its
# resources, launch the desktop through FreeRDP, let a custom client
# register two connections in the same workspace, show all three with
# `radc status`, and disconnect the whole workspace by its name.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --locked -p radc -p radc-client --examples --bins
export PATH="$PWD/target/release:$PATH"
demo_home=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$demo_home"' EXIT
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# An X display that Xvfb picks itself (no clash with one already running).
# Sets $display; Xvfb writes the number it took to file descriptor 3.
start_display() {
  local file="$demo_home/display.$RANDOM"
  Xvfb -displayfd 3 -screen 0 1024x768x24 -nolisten tcp 3>"$file" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [[ -s $file ]] && break; sleep 0.1; done
  display=":$(tr -d '[:space:]' <"$file")"
}
export HOME="$demo_home" XDG_CONFIG_HOME="$demo_home/config" XDG_DATA_HOME="$demo_home/data" \
  XDG_STATE_HOME="$demo_home/state"

# The RDP server: the shadow server shares a virtual display on loopback and
# signs users in with NLA against a one-line account file.
start_display
server_display=$display
rdp_port=$(free_port)
winpr-hash -u demo -d DEMO -p 'demo password' -f sam >"$demo_home/SAM"
DISPLAY="$server_display" freerdp-shadow-cli "/port:$rdp_port" /bind-address:127.0.0.1 \
  /sec:nla "/sam-file:$demo_home/SAM" >"$demo_home/rdp-server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  ss -Hltn "sport = :$rdp_port" | grep -q . && break
  sleep 0.1
done

# The feed, with the desktop pointing at that server.
cp -r scripts/demo-site "$demo_home/site"
sed -i "s/^full address:s:.*/full address:s:127.0.0.1:$rdp_port/" \
  "$demo_home/site/RDWeb/Pages/rdp/desktop.rdp"
web_port=$(free_port)
python3 -m http.server "$web_port" --bind 127.0.0.1 --directory "$demo_home/site" >/dev/null 2>&1 &
pids+=($!)

# Where FreeRDP's window goes: a virtual display too, as this may run headless.
start_display
export DISPLAY="$display" DEMO_PORT="$web_port"
sleep 1

dbus-run-session -- bash -euo pipefail -c '
  # A keyring for the password, as a desktop session has one.
  export XDG_RUNTIME_DIR="$HOME/run"; mkdir -m 700 -p "$XDG_RUNTIME_DIR"
  echo -n demo-keyring | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
  for _ in $(seq 100); do
    dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner \
      string:org.freedesktop.secrets 2>/dev/null | grep -q true && break
    sleep 0.1
  done
  echo "\$ radc subscribe http://127.0.0.1:$DEMO_PORT --allow-http -u DEMO\\demo --password-stdin"
  echo "demo password" | radc subscribe "http://127.0.0.1:$DEMO_PORT" --allow-http -u "DEMO\\demo" --password-stdin
  echo; echo "\$ radc resources"
  radc resources
  echo; echo "\$ radc launch \"Demo Apps\" \"Demo Desktop\"   # FreeRDP signs in to the RDP server"
  radc launch "Demo Apps" "Demo Desktop"
  target/release/examples/custom_client --workspace demo Notepad Paint &
  client=$!
  sleep 2
  echo; echo "\$ radc status"
  radc status
  echo; echo "\$ radc disconnect \"Demo Apps\""
  radc disconnect "Demo Apps"
  wait "$client"
  sleep 0.5
  echo; echo "\$ radc status"
  radc status
  kill "$(radc status --json | python3 -c "import json,sys; print(json.load(sys.stdin)[\"runtime_pid\"])")"
'
