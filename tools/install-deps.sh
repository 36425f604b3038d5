#!/usr/bin/env bash
# Installs what lrm needs to build, test and run on Debian 12 / Ubuntu, with
# apt-get, only when something is missing. Used by ./run.sh and ./test.sh.
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config
          libpoco-dev libboost-dev libtinyxml2-dev libbz2-dev libgnutls28-dev
          libgtest-dev libgmock-dev googletest
          resource-agents
          corosync pacemaker pacemaker-cli-utils pacemaker-dev iproute2
          clang libclang-rt-14-dev)

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
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
