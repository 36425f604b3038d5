#!/usr/bin/env bash
# Sets up this machine (apt-get), builds lrm (Release) and runs lrmd in the
# foreground on the default socket. Extra arguments go to lrmd.
set -euo pipefail
cd "$(dirname "$0")"
./tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLRM_BUILD_TESTS=OFF >/dev/null
cmake --build build

socket="${LRM_SOCKET:-}"
if [ -z "$socket" ]; then
  if [ "$(id -u)" -eq 0 ]; then socket=/run/lrm/lrmd.sock
  elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then socket="$XDG_RUNTIME_DIR/lrm/lrmd.sock"
  else socket="/tmp/lrm-$(id -u)/lrmd.sock"; fi
fi
cat <<MSG
lrmd listens on $socket. In another shell, try:
  $PWD/build/bin/lrmctl --socket $socket register r1 --name web --agent ocf:heartbeat:Dummy
  $PWD/build/bin/lrmctl --socket $socket exec r1 start
Stop it with Ctrl-C (running resources are left alone).
MSG
exec ./build/bin/lrmd --foreground --socket "$socket" "$@"
