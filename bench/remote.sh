#!/usr/bin/env bash
# `bench/run.sh remote`: N instances x (start, monitor, stop) of
# ocf:heartbeat:Dummy over TLS through Pacemaker's liblrmd (the client the
# cluster's controller uses), against the real pacemaker-remoted and against
# lrm (lrmd + lrm-remoted) on the same machine, N = 100 and 500 (--quick: 20).
# Each phase is submitted at once, as the burst benchmark does. Reported: wall
# time, ops/s, and each side's own CPU per op (utime + stime from /proc of
# pacemaker-remoted; of lrmd plus lrm-remoted), and lrm's ratios. Both daemons
# run in a private network and mount namespace (tests/remote/remote_daemons.sh).
#
#   bench/remote.sh BUILD_DIR [--quick]
#
# Table on stdout, one JSON line per measurement on stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/.." && pwd)
readonly agent=heartbeat:Dummy
# shellcheck source-path=SCRIPTDIR source=../tests/remote/remote_daemons.sh
source "$source_dir/tests/remote/remote_daemons.sh"

# One measurement: prints the driver's JSON line (exit status 1 on failures).
measure() {
  local port=$1 n=$2
  shift 2
  mkdir -p "$work/state"
  PCMK_authkey_location=$work/authkey PCMK_logfacility=none ASAN_OPTIONS=detect_leaks=0 \
    "$build_dir/bin/remote_driver" 127.0.0.1 "$port" "$work/state" bench "$n" "$agent" "$@"
}

# A number out of a JSON line: field NAME (the first element of an array).
field() {
  sed -E "s/.*\"$2\":\[?([-0-9.]+).*/\1/" <<<"$1"
}

inside() {
  enter_private_node
  start_daemons || return 1
  local sizes=(100 500) n pcmk lrm status=0
  [ "$quick" = --quick ] && sizes=(20)
  echo "== remote: N instances x (start, monitor, stop) of ocf:$agent over TLS through liblrmd, each phase submitted at once"
  printf '%-5s %9s %9s %10s %10s %9s %12s %12s %14s %9s\n' N "pcmk ms" "lrm ms" "pcmk op/s" "lrm op/s" \
    "lrm/pcmk" "pcmk ms/op" "lrm ms/op" "(lrmd+remoted)" "cpu l/p"
  for n in "${sizes[@]}"; do
    pcmk=$(measure "$pcmk_port" "$n" "$pcmk_pid") || status=1
    lrm=$(measure "$lrm_port" "$n" "$lrmd_pid" "$remoted_pid") || status=1
    echo "$pcmk" >&2
    echo "$lrm" >&2
    local lrmd_cpu remoted_cpu
    lrmd_cpu=$(sed -E 's/.*"cpu_ms":\[([-0-9.]+),.*/\1/' <<<"$lrm")
    remoted_cpu=$(sed -E 's/.*"cpu_ms":\[[-0-9.]+,([-0-9.]+)\].*/\1/' <<<"$lrm")
    awk -v n="$n" -v pw="$(field "$pcmk" wall_ms)" -v lw="$(field "$lrm" wall_ms)" \
        -v pr="$(field "$pcmk" ops_per_s)" -v lr="$(field "$lrm" ops_per_s)" \
        -v pc="$(field "$pcmk" cpu_ms_per_op)" -v lc="$(field "$lrm" cpu_ms_per_op)" \
        -v ld="$lrmd_cpu" -v lx="$remoted_cpu" 'BEGIN {
      printf "%-5d %9.0f %9.0f %10.1f %10.1f %9.2f %12.3f %12.3f %6.3f+%-7.3f %9.2f\n",
        n, pw, lw, pr, lr, (pr > 0 ? lr / pr : 0), pc, lc, ld / (3 * n), lx / (3 * n), (pc > 0 ? lc / pc : 0) }'
  done
  stop_daemons
  return $status
}

if [ "${1:-}" = --inside ]; then
  build_dir=$2 work=$3 pcmk_daemon=$4 quick=$5
  inside
  exit $?
fi

if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [--quick]" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
quick=${2:-}
if [ ! -x "$build_dir/bin/remote_driver" ]; then
  echo "remote benchmark skipped: remote_driver not built (pacemaker-dev not installed)"
  exit 0
fi
if ! can_run_daemons; then
  echo "remote benchmark skipped: $why_not"
  exit 0
fi
work=$(mktemp -d /tmp/lrm-remote-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
make_key "$work/authkey"
unshare --net --mount --propagation private "$BASH" "$0" --inside "$build_dir" "$work" "$pcmk_daemon" "$quick"
