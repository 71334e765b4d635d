#!/usr/bin/env bash
# Installs what building and testing radc needs on Debian, as root.
# Idempotent: packages already present are left alone, and apt's package
# lists are only refreshed when something is missing.
set -euo pipefail

packages=(
  dbus            # dbus-daemon and dbus-run-session: the real bus the tests use
  dbus-x11        # dbus-launch, for desktop sessions started by hand
  python3         # Debian's own Python, matching python3-dbus and python3-gi
  python3-dbus    # the custom client written in Python (language-neutral contract)
  python3-gi      # GLib main loop for that client
  util-linux      # setpriv, to call the runtime as an unprivileged user
  procps          # ps/pgrep, used by the benchmarks
  dnsmasq-base    # a real DNS server on loopback for e-mail discovery tests
  gnome-keyring   # a real Secret Service for the stored-password tests
  desktop-file-utils  # desktop-file-validate, update-desktop-database
  shared-mime-info    # update-mime-database, for file types a feed brings
  freerdp2-x11        # xfreerdp, the RDP client radc launches
  freerdp2-shadow-x11 # freerdp-shadow-cli, the real RDP server of the end-to-end tests
  winpr-utils         # winpr-hash, for that server's SAM file
  xvfb                # X displays for that server to shadow and for xfreerdp
  systemd             # systemd-analyze, which checks the user unit radc setup writes
  dpkg-dev            # dpkg-shlibdeps: the library dependencies of the Debian package
  binutils            # strip for that package, readelf for its test
  lintian             # checks the package against Debian policy (scripts/package.sh)
  man-db              # man, to render the installed man pages in the package test
  pkg-config          # finds GTK and libadwaita for radc-gui's build
  libgtk-4-dev        # GTK 4 (4.8 on Debian 12), radc-gui's toolkit
  libadwaita-1-dev    # libadwaita (1.2 on Debian 12): radc-gui's GNOME widgets
  at-spi2-core        # the accessibility bus the radc-gui tests drive the windows through
  python3-pyatspi     # the tests' driver: widgets found by role and name, as a screen reader does
  xdotool             # typing and key presses in the radc-gui tests
  imagemagick         # import: screenshots of the radc-gui tests (target/test-artifacts)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing ${missing[*]}; run this script as root" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo is not on PATH; install a Rust toolchain (1.89 or newer) first" >&2
  exit 1
fi

# --- radc-subscribe HTTP login tests ----------------------------------------
# The test feed server (crates/radc-subscribe/tests/server/feed_server.py) uses
# pyspnego as an independent NTLM/SPNEGO implementation. It lives in its own
# venv built from Debian's Python; pip runs only when pyspnego is missing.
radc_test_venv=/opt/radc-test-venv
for p in python3-venv openssl; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    if [[ $(id -u) -ne 0 ]]; then
      echo "install-deps: missing $p; run this script as root" >&2
      exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$p" >/dev/null
  fi
done
if ! "$radc_test_venv/bin/python" -c 'import spnego, cryptography' >/dev/null 2>&1; then
  echo "install-deps: creating $radc_test_venv with pyspnego"
  [[ -x $radc_test_venv/bin/python ]] || /usr/bin/python3 -m venv "$radc_test_venv"
  "$radc_test_venv/bin/pip" install -q --disable-pip-version-check pyspnego
fi
