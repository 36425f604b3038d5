#!/usr/bin/env bash
# Unpacks Debian's pacemaker-remote package into DEST without installing it
# (it conflicts with the pacemaker package), so that tests and benchmarks can
# run the real pacemaker-remoted on the installed Pacemaker libraries. Prints
# the path of the daemon; does nothing when DEST already holds it. Exit
# status 1 with the reason on stderr when the package cannot be had.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 DEST" >&2
  exit 2
fi
dest=$1
daemon=$dest/usr/sbin/pacemaker-remoted
if [ -x "$daemon" ]; then
  echo "$daemon"
  exit 0
fi
# The daemon must match the installed libraries: ask for the same version.
version=$(dpkg-query -W -f '${Version}' pacemaker 2>/dev/null || dpkg-query -W -f '${Version}' libpacemaker1 2>/dev/null || true)
scratch=$(mktemp -d /tmp/lrm-fetch-pacemaker-remote-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
package=pacemaker-remote${version:+=$version}
if ! (cd "$scratch" && apt-get download "$package" >download.log 2>&1); then
  echo "unable to download $package: $(tail -n 1 "$scratch/download.log")" >&2
  exit 1
fi
mkdir -p "$dest"
dpkg-deb -x "$scratch"/pacemaker-remote_*.deb "$dest"
if [ ! -x "$daemon" ]; then
  echo "unable to find pacemaker-remoted in $package" >&2
  exit 1
fi
echo "$daemon"
