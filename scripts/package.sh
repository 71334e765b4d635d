#!/usr/bin/env bash
# Builds radc's Debian package with dpkg-deb: TARGET/debian/radc_VERSION_ARCH.deb,
# where TARGET is cargo's target directory. Prints the package's path as its
# last line on standard output; progress goes to standard error.
#
# The package is native (no Debian revision) and built from this tree alone:
# the release binaries (radc, and radc-gui with its desktop entry), the D-Bus
# activation file and systemd user unit, man pages and shell completions
# generated from radc's own command-line definition, and the documentation
# Debian policy asks for.
#
# Needs dpkg-dev (dpkg-shlibdeps), binutils (strip), desktop-file-utils
# (desktop-file-validate) and GTK 4 and libadwaita to build radc-gui;
# scripts/install-deps.sh installs them. SOURCE_DATE_EPOCH, if set, fixes every timestamp; otherwise
# the last commit's time is used, so rebuilding a commit gives the same files.
set -euo pipefail
cd "$(dirname "$0")/.."

maintainer='radc developers <radc@lists.radc-project.org>'
# What radc runs besides the libraries it links: FreeRDP for connections
# (2.x or 3.x; README "Launching"), the desktop database and MIME tools a
# sync calls, and a session bus for the runtime (Debian's dbus convention for
# packages that need one).
runtime_depends='freerdp2-x11 | freerdp3-x11 | freerdp3-sdl, desktop-file-utils, shared-mime-info, default-dbus-session-bus | dbus-session-bus'

for tool in cargo dpkg-deb dpkg-shlibdeps strip gzip desktop-file-validate; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "package: $tool is missing; run scripts/install-deps.sh as root" >&2
    exit 1
  }
done

metadata=$(cargo metadata --no-deps --format-version 1 --locked)
json_field() { grep -o "\"$1\":\"[^\"]*\"" <<<"$metadata" | head -n 1 | cut -d '"' -f 4; }
target_dir=$(json_field target_directory)
repository=$(json_field repository)
pkgid=$(cargo pkgid --locked -p radc)
version=${pkgid##*[#@]}
arch=$(dpkg --print-architecture)
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

echo "package: building radc $version (release)" >&2
cargo build --release --locked -p radc -p radc-gui --bin radc --bin radc-gui >&2

out_dir=$target_dir/debian
root=$out_dir/radc_${version}_${arch}
deb=$root.deb
rm -rf "$root" "$deb"
umask 022
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The binaries, stripped the way dh_strip does it.
for name in radc radc-gui; do
  install -D -m 755 "$target_dir/release/$name" "$root/usr/bin/$name"
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/$name"
done
bin=$root/usr/bin/radc
gui=$root/usr/bin/radc-gui

# The Workspaces window in the application menu.
entry=crates/radc-gui/data/org.radc.Workspaces.desktop
desktop-file-validate "$entry" >&2
install -D -m 644 "$entry" "$root/usr/share/applications/org.radc.Workspaces.desktop"

# The D-Bus activation file and the systemd user unit, rendered by the
# binary itself for /usr/bin/radc: the same text `radc setup` writes.
install -d "$root/usr/share/dbus-1/services" "$root/usr/lib/systemd/user"
"$bin" setup --print dbus-service --bin /usr/bin/radc \
  >"$root/usr/share/dbus-1/services/org.radc.Runtime.service"
"$bin" setup --print systemd-unit --bin /usr/bin/radc >"$root/usr/lib/systemd/user/radc.service"
chmod 644 "$root/usr/share/dbus-1/services/org.radc.Runtime.service" \
  "$root/usr/lib/systemd/user/radc.service"

# The tray's XDG autostart entry, rendered the same way. Under /etc, so a
# configuration file: an administrator may turn the tray off for everyone
# (Hidden=true) and dpkg keeps that across upgrades.
install -d "$root/etc/xdg/autostart"
"$bin" setup --print tray-autostart --bin /usr/bin/radc >"$root/etc/xdg/autostart/radc-tray.desktop"
chmod 644 "$root/etc/xdg/autostart/radc-tray.desktop"

# Man pages: radc.1, radc-SUBCOMMAND.1 and radc-gui.1, compressed as policy
# requires.
"$bin" generate man "$work/man"
install -d "$root/usr/share/man/man1"
# radc-gui's page is written by hand (its unit tests check that it names
# every option).
cp crates/radc-gui/data/radc-gui.1 "$work/man/"
for page in "$work"/man/*.1; do
  gzip -9n <"$page" >"$root/usr/share/man/man1/$(basename "$page").gz"
done

# Completions, in each shell's directory for packaged completions.
completions() { install -d "$(dirname "$2")" && "$bin" generate completions "$1" >"$2"; }
completions bash "$root/usr/share/bash-completion/completions/radc"
completions zsh "$root/usr/share/zsh/vendor-completions/_radc"
completions fish "$root/usr/share/fish/vendor_completions.d/radc.fish"

# Documentation: the machine-readable copyright file built from LICENSE, the
# README (compressed: policy wants documentation over 4 kB compressed) and
# the changelog a native package must carry.
doc=$root/usr/share/doc/radc
install -d "$doc"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: radc"
  echo "Upstream-Contact: $maintainer"
  echo "Source: $repository"
  echo
  echo "Files: *"
  sed -n 's/^Copyright (c) /Copyright: /p' LICENSE
  echo "License: MIT"
  echo
  echo "License: MIT"
  # The licence text after its copyright line, as a continuation field:
  # indented, with blank lines written as " .".
  awk 'seen && (NF || started) { started = 1; print (NF ? " " $0 : " .") } /^Copyright/ { seen = 1 }' LICENSE
} >"$doc/copyright"
gzip -9n <README.md >"$doc/README.md.gz"
{
  echo "radc ($version) unstable; urgency=medium"
  echo
  echo "  * radc $version, built from its source tree; the project's history is"
  echo "    in its repository, $repository."
  echo
  echo " -- $maintainer  $(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.gz"

# Shared-library dependencies as dpkg-shlibdeps computes them, which needs a
# debian/control naming the package.
mkdir -p "$work/shlibs/debian"
printf 'Source: radc\n\nPackage: radc\nArchitecture: any\n' >"$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O -e"$bin" -e"$gui" 2>/dev/null)
shlibs=${shlibs#shlibs:Depends=}
[[ -n $shlibs ]] || { echo "package: dpkg-shlibdeps found no libraries" >&2; exit 1; }

# Installed-Size the way dpkg-gencontrol counts it: KiB per file, rounded up,
# and one per directory or link.
installed_size=$(find "$root" -mindepth 1 \( -type f -printf '%s\n' -o -printf '1024\n' \) |
  awk '{ s += int(($1 + 1023) / 1024) } END { print s }')

install -d "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<EOF
Package: radc
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $shlibs, $runtime_depends
Section: net
Priority: optional
Homepage: $repository
Description: RemoteApp and Desktop Connections for Linux
 radc subscribes to RD Web Access workspaces (with NTLM/Negotiate sign-in),
 puts their RemoteApps and desktops in the application menu with icons,
 folders and file types, and launches them through FreeRDP after checking
 their .rdp signatures.
 .
 Its per-user runtime on the session bus tracks every live connection of a
 workspace, whether radc or another client that registers through its D-Bus
 API opened it, and disconnects a whole workspace with one command.
 .
 The Remote Workspaces window (radc-gui) does all of this without a
 terminal, like Windows' RemoteApp and Desktop Connections control panel.
EOF
(cd "$root" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
# Every file under /etc is a configuration file (as debhelper marks them).
(cd "$root" && find etc -type f -printf '/%p\n' | LC_ALL=C sort) >"$root/DEBIAN/conffiles"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums" "$root/DEBIAN/conffiles"

find "$root" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
