#!/usr/bin/env bash
# Installs what lrm needs on Debian 12 / Ubuntu, with apt-get, only when
# something is missing: to build and run it (./run.sh), and with --tests also
# what its tests and benchmarks need (./test.sh, bench/run.sh): GoogleTest,
# clang for the fuzzers, the real peers of the Pacemaker Remote tests
# (corosync, pacemaker, pacemaker-dev's liblrmd, iproute2 for namespaces), and
# what the systemd tests boot in private namespaces: systemd's manager,
# busctl and systemctl (systemd), the system bus (dbus: dbus-daemon and its
# units), unshare/nsenter (util-linux) and pgrep (procps).
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config
          libpoco-dev libboost-dev libtinyxml2-dev libbz2-dev libgnutls28-dev
          libsystemd-dev resource-agents)
if [ "${1:-}" = --tests ]; then
  packages+=(libgtest-dev libgmock-dev googletest
             clang libclang-rt-14-dev
             corosync pacemaker pacemaker-cli-utils pacemaker-dev iproute2
             systemd dbus util-linux procps)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "lrm: installing ${missing[*]}" >&2
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
# corosync and pacemaker would start their services on this machine when
# installed: a policy-rc.d answering 101 ("action forbidden") stops that,
# unless the machine already has its own policy.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  "${sudo[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod 0755 $policy"
  trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
# libsystemd-dev at the version of the machine's libsystemd0: any other would
# upgrade libsystemd0 and, with it, the systemd the machine runs.
for i in "${!missing[@]}"; do
  if [ "${missing[$i]}" = libsystemd-dev ] &&
     version=$(dpkg-query -W -f='${Version}' libsystemd0 2>/dev/null) && [ -n "$version" ]; then
    missing[i]=libsystemd-dev=$version
  fi
done
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Installed only as the tests' peers: not started at the next boot either.
if [[ " ${missing[*]} " == *" corosync "* || " ${missing[*]} " == *" pacemaker "* ]] &&
   command -v systemctl >/dev/null; then
  "${sudo[@]}" systemctl disable --quiet corosync.service pacemaker.service 2>/dev/null || true
fi
