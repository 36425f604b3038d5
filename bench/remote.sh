#!/usr/bin/env bash
# `bench/run.sh remote`: N instances x (start, monitor, stop) of
# ocf:heartbeat:Dummy over TLS through Pacemaker's liblrmd (the client the
# cluster's controller uses), against the real pacemaker-remoted and against
# lrm (lrmd + lrm-remoted) on the same machine, N = 100 and 500 (--quick: 20).
# Each phase is submitted at once, as the burst benchmark does. Reported: wall
# time, ops/s, and each side's own CPU per op (utime + stime from /proc of
# pacemaker-remoted; of lrmd plus lrm-remoted), and lrm's ratios to
# pacemaker-remoted. lrm runs twice: with lrmd's journal (as installed) and
# without (pacemaker-remoted keeps nothing). One daemon runs at a time, in a
# private network, mount and PID namespace (tests/remote/remote_daemons.sh).
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

# One measurement against PORT: prints the driver's JSON line, also on stderr.
measure() {
  local port=$1 n=$2 line
  shift 2
  mkdir -p "$work/state"
  line=$(PCMK_authkey_location=$work/authkey PCMK_logfacility=none ASAN_OPTIONS=detect_leaks=0 \
    "$build_dir/bin/remote_driver" 127.0.0.1 "$port" "$work/state" bench "$n" "$agent" "$@") || status=1
  echo "$line" >&2
  echo "$line"
}

# A number out of the driver's JSON line; cpu_ms is an array, one per PID.
field() {
  sed -E "s/.*\"$2\":([-0-9.]+).*/\1/" <<<"$1"
}
cpu_of() {
  sed -E 's/.*"cpu_ms":\[([-0-9.,]+)\].*/\1/' <<<"$1" | cut -d, -f"$2"
}

# One table row; for lrm, the ratios to pacemaker-remoted's row of the same N.
row() {
  local n=$1 side=$2 line=$3 parts=$4 reference=${5:-}
  awk -v n="$n" -v side="$side" -v parts="$parts" -v wall="$(field "$line" wall_ms)" \
      -v rate="$(field "$line" ops_per_s)" -v cpu="$(field "$line" cpu_ms_per_op)" \
      -v rate0="$([ -n "$reference" ] && field "$reference" ops_per_s)" \
      -v cpu0="$([ -n "$reference" ] && field "$reference" cpu_ms_per_op)" 'BEGIN {
    printf "%-5d %-20s %9.0f %8.1f %10.3f  %-26s", n, side, wall, rate, cpu, parts
    if (rate0 > 0 && cpu0 > 0) printf " %7.1fx %8.2f", rate / rate0, cpu / cpu0
    printf "\n" }'
}

# lrm at N: a row, its CPU split into lrmd's and lrm-remoted's.
lrm_row() {
  local n=$1 side=$2 reference=$3 line
  line=$(measure "$lrm_port" "$n" "$lrmd_pid" "$remoted_pid")
  row "$n" "$side" "$line" "$(awk -v a="$(cpu_of "$line" 1)" -v b="$(cpu_of "$line" 2)" -v n="$n" \
    'BEGIN { printf "lrmd %.3f + remoted %.3f", a / (3 * n), b / (3 * n) }')" "$reference"
}

inside() {
  trap stop_daemons EXIT
  trap 'exit 1' INT TERM
  enter_private_node
  local sizes=(100 500) n pcmk
  [ "$quick" = --quick ] && sizes=(20)
  status=0
  echo "== remote: N instances x (start, monitor, stop) of ocf:$agent over TLS through liblrmd, each phase submitted at once"
  printf '%-5s %-20s %9s %8s %10s  %-26s %8s %8s\n' N side "wall ms" "ops/s" "CPU ms/op" "" "ops/s x" "CPU/op x"
  for n in "${sizes[@]}"; do
    start_pacemaker || return 1
    pcmk=$(measure "$pcmk_port" "$n" "$pcmk_pid")
    stop_pacemaker
    row "$n" pacemaker-remoted "$pcmk" ""
    start_lrm "$work/lrmd-state" || return 1
    lrm_row "$n" "lrm" "$pcmk"
    stop_lrm
    start_lrm none || return 1
    lrm_row "$n" "lrm, no journal" "$pcmk"
    stop_lrm
  done
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
run_in_namespaces "$build_dir" "$work" "$pcmk_daemon" "$quick"
