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
  dunst               # a real notification server (org.freedesktop.Notifications) for the tests
  iproute2            # ss: the demo waits until its RDP server listens
  xfce4-panel         # a real StatusNotifierItem host (Status Tray plugin) for the tray test
  xfconf              # xfconfd, the settings store xfce4-panel reads its panel layout from
  adwaita-icon-theme  # the icons the tray names, as the panel draws them
  xdotool             # clicks the tray's icon in that panel
  x11-utils           # xprop: the WM_CLASS of a launched session's window
  imagemagick         # import and convert: the screenshot of the tray's menu
  pkg-config          # finds GTK and libadwaita for radc-gui's build
  make                # builds jemalloc (tikv-jemalloc-sys), radc's allocator
  libgtk-4-dev        # GTK 4 (4.8 on Debian 12), radc-gui's toolkit
  libadwaita-1-dev    # libadwaita (1.2 on Debian 12): radc-gui's GNOME widgets
  at-spi2-core        # the accessibility bus the radc-gui tests drive the windows through
  python3-pyatspi     # the tests' driver: widgets found by role and name, as a screen reader does
  libkrb5-dev         # MIT krb5's GSSAPI headers: Kerberos sign-in (libgssapi crate)
  libclang-dev        # libclang for bindgen, which libgssapi-sys runs on those headers
  krb5-kdc            # a real KDC on loopback for the Kerberos sign-in tests
  krb5-admin-server   # kadmin.local, to create that KDC's principals and keytab
  krb5-user           # kinit, klist, kdestroy: the user's side of those tests
  python3-dev         # headers to build python-gssapi in the test venv (below)
  apache2             # httpd with mod_ssl and mod_proxy: an independent Kerberos acceptor in front of the test feed
  libapache2-mod-auth-gssapi  # mod_auth_gssapi: that acceptor's GSSAPI (SPNEGO) sign-in
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

# --- FreeRDP 3 -----------------------------------------------------------------
# Debian 12's main archive has only FreeRDP 2; its own bookworm-backports suite
# has FreeRDP 3. The suite is added from the same archive the system already
# uses, and pinned so that only the FreeRDP 3 packages (and their own
# libraries) ever come from it.
freerdp3=(freerdp3-x11 freerdp3-sdl freerdp3-shadow-x11)
freerdp3_from_backports=("${freerdp3[@]}" libwinpr3-3 libfreerdp3-3 libfreerdp-client3-3
  libfreerdp-server3-3 libwinpr-tools3-3 libfreerdp-shadow3-3 libfreerdp-shadow-subsystem3-3)
write_freerdp3_pin() {
  {
    printf 'Package: *\nPin: release n=bookworm-backports\nPin-Priority: -10\n\n'
    printf 'Package: %s\nPin: release n=bookworm-backports\nPin-Priority: 500\n' "${freerdp3_from_backports[*]}"
  } > /etc/apt/preferences.d/radc-freerdp3
}
if [[ -e /etc/apt/sources.list.d/radc-bookworm-backports.sources && ! -e /etc/apt/preferences.d/radc-freerdp3 && $(id -u) -eq 0 ]]; then
  write_freerdp3_pin
fi
missing3=()
for p in "${freerdp3[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing3+=("$p")
done
if ((${#missing3[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing ${missing3[*]}; run this script as root" >&2
    exit 1
  fi
  source_file=/etc/apt/sources.list.d/radc-bookworm-backports.sources
  if [[ ! -e $source_file ]]; then
    # The URI of the archive that serves bookworm here, from either format.
    uri=$(awk '/^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") { print u; exit } }' \
            /etc/apt/sources.list.d/*.sources 2>/dev/null)
    if [[ -z $uri ]]; then
      uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
    fi
    if [[ -z $uri ]]; then
      echo "install-deps: no apt source for Debian 12 (bookworm) found; cannot add bookworm-backports" >&2
      exit 1
    fi
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$uri" > "$source_file"
  fi
  write_freerdp3_pin
  echo "install-deps: installing ${missing3[*]} from bookworm-backports"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing3[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo is not on PATH; install a Rust toolchain (1.93 or newer) first" >&2
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
# python-gssapi and krb5 (built against libkrb5-dev) let pyspnego accept Kerberos with
# a keytab: the Kerberos channel-binding tests.
if ! "$radc_test_venv/bin/python" -c 'import gssapi, krb5' >/dev/null 2>&1; then
  echo "install-deps: adding gssapi and krb5 to $radc_test_venv"
  "$radc_test_venv/bin/pip" install -q --disable-pip-version-check gssapi krb5
fi
