#!/usr/bin/env bash
# `bench/run.sh systemd [--quick]`: N systemd units x (start, monitor, stop)
# through lrm's systemd class against the same work done by `systemctl` in a
# shell loop, N = 100 and 500 (--quick: 20), on one real systemd manager that
# this script boots as PID 1 of private namespaces with a hermetic unit set
# (tests/support/systemd_pid1.sh; the units are tests/fixtures/systemd's
# lrm-bench@1..N, each a process that sleeps until stopped). The host's
# systemd, units and /run are never touched.
#
# systemctl: one `nsenter -t PID -m -p sh -c 'for ...; do systemctl ...'`, so
# the loop itself runs inside the manager's mount and pid namespaces, where
# systemctl finds /run/systemd/private as on a host booted with systemd; each
# systemctl waits for its job, as an administrator's loop would. lrm: lrmd
# with the systemd class on the manager's bus (DBUS_SYSTEM_BUS_ADDRESS), its
# drop-ins in the manager's /run/systemd/system, driven by `lrm_bench systemd
# N` three ways: each phase submitted at once, one op after the other (as the
# shell loop), and at once without the drop-in (no Reload before a start).
# Reported: wall time, ops/s, lrm's throughput over systemctl's, and lrmd's
# own CPU per op (utime + stime from /proc; systemd's own work is in neither).
#
#   bench/systemd.sh BUILD_DIR [--quick]
#
# Table on stdout, one JSON line per measurement on stderr. Skipped, with the
# reason, without root, namespaces, cgroup2, systemd/dbus or the class.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/.." && pwd)

# Why no manager can be booted or measured here; nothing when it can.
why_not() {
  [ "$(id -u)" -eq 0 ] || { echo "needs root to boot a systemd manager in private namespaces"; return; }
  local binary
  for binary in /lib/systemd/systemd /usr/bin/dbus-daemon /usr/bin/busctl /usr/bin/systemctl \
      /usr/bin/unshare /usr/bin/nsenter; do
    [ -x "$binary" ] || { echo "$binary is missing (packages systemd, dbus)"; return; }
  done
  [ -n "$cgroup_root" ] || { echo "no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified"; return; }
  unshare --pid --fork --mount --uts --ipc --cgroup true 2>/dev/null ||
    { echo "cannot create private namespaces"; return; }
  [ -e "$build_dir/lib/lrm/plugins/systemd.so" ] ||
    echo "the systemd class is not built ($build_dir/lib/lrm/plugins/systemd.so)"
}

cgroup2_root() {
  local path
  for path in /sys/fs/cgroup /sys/fs/cgroup/unified; do
    if [ "$(stat -f -c %T "$path" 2>/dev/null)" = cgroup2fs ]; then echo "$path"; return; fi
  done
}

manager_state() {
  busctl --address="$bus" get-property org.freedesktop.systemd1 /org/freedesktop/systemd1 \
    org.freedesktop.systemd1.Manager SystemState 2>/dev/null || true
}

# Boot the manager in its own cgroup (as SystemdManager does); sets pid1.
boot() {
  mkdir -p "$work/units" "$work/run-units" "$work/run-dbus"
  cgroup=$cgroup_root$(sed -n 's/^0:://p' /proc/self/cgroup | sed 's:^/$::')/lrm-bench-systemd-$$
  mkdir "$cgroup"
  (echo 0 >"$cgroup/cgroup.procs"
   exec unshare --pid --fork --kill-child --mount --mount-proc --uts --ipc --cgroup --propagation private \
     /bin/sh "$source_dir/tests/support/systemd_pid1.sh" "$work" "$source_dir/tests/fixtures/systemd") \
    </dev/null >"$work/manager.log" 2>&1 &
  unshare_pid=$!
  local deadline=$((SECONDS + 30))
  until [ "$(manager_state)" = 's "running"' ]; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$unshare_pid" 2>/dev/null; then
      echo "the systemd manager did not reach running; its output:" >&2
      cat "$work/manager.log" >&2
      return 1
    fi
    sleep 0.05
  done
  pid1=$(pgrep -P "$unshare_pid")
}

# Manager.Exit, SIGKILL after 15 s; then the cgroup tree, deepest first.
teardown() {
  if [ -n "${unshare_pid:-}" ]; then
    busctl --address="$bus" call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
      org.freedesktop.systemd1.Manager Exit >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 15))
    while kill -0 "$unshare_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
    kill -KILL "$unshare_pid" 2>/dev/null || true
    wait "$unshare_pid" 2>/dev/null || true
  fi
  if [ -n "${cgroup:-}" ] && [ -d "$cgroup" ]; then
    echo 1 >"$cgroup/cgroup.kill" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    until find "$cgroup" -depth -type d -exec rmdir {} + 2>/dev/null || [ $SECONDS -ge $deadline ]; do
      sleep 0.05
    done
  fi
  rm -rf "$work"
}

# systemctl in a shell loop inside the manager's namespaces: one JSON line.
systemctl_loop() {
  local n=$1 start
  start=$(date +%s%N)
  # shellcheck disable=SC2016 # expanded by the inner shell
  nsenter -t "$pid1" -m -p sh -c '
    n=$1
    for action in start is-active stop; do
      i=1
      while [ $i -le "$n" ]; do
        systemctl "$action" --quiet "lrm-bench@$i.service" || echo "systemctl $action lrm-bench@$i failed" >&2
        i=$((i + 1))
      done
    done' sh "$n"
  awk -v n="$n" -v ns=$(($(date +%s%N) - start)) 'BEGIN {
    printf "{\"bench\":\"systemd\",\"side\":\"systemctl loop\",\"n\":%d,\"wall_ms\":%.1f,\"ops_per_s\":%.1f}\n",
      n, ns / 1e6, 3 * n / (ns / 1e9) }'
}

# A field of a JSON line, string or number ("" when absent).
field() {
  sed -nE -e "s/.*\"$2\":\"([^\"]*)\".*/\1/p" -e t -e "s/.*\"$2\":([^,}]*).*/\1/p" <<<"$1"
}

# One table row; lrm's rows with their throughput over the systemctl loop's.
row() {
  local line=$1 reference=$2
  echo "$line" >&2
  awk -v n="$(field "$line" n)" -v side="$(field "$line" side)" -v wall="$(field "$line" wall_ms)" \
      -v rate="$(field "$line" ops_per_s)" -v cpu="$(field "$line" cpu_ms_per_op)" \
      -v failed="$(field "$line" failed)" -v rate0="$(field "$reference" ops_per_s)" 'BEGIN {
    printf "%-5d %-26s %9.0f %8.1f", n, side, wall, rate
    if (cpu != "") printf " %10.3f %8.2fx", cpu, rate / rate0
    if (failed > 0) printf "  (%d ops failed)", failed
    printf "\n" }'
}

measure() {
  local sizes=(100 500) n systemctl_line lrm_lines line status=0
  [ "$quick" = --quick ] && sizes=(20)
  echo "== systemd: N units x (start, monitor, stop): lrm's systemd class against systemctl in a shell loop"
  printf '%-5s %-26s %9s %8s %10s %9s\n' N side "wall ms" "ops/s" "lrmd ms/op" "vs loop"
  for n in "${sizes[@]}"; do
    systemctl_line=$(systemctl_loop "$n")
    row "$systemctl_line" "$systemctl_line"
    lrm_lines=$(DBUS_SYSTEM_BUS_ADDRESS=$bus LRM_BENCH_SYSTEMD_DROPIN_DIR=$work/run-units \
      ASAN_OPTIONS=detect_leaks=0 "$build_dir/bin/lrm_bench" systemd "$n") || status=$?
    if [ $status -eq 77 ]; then
      echo "systemd benchmark skipped: lrmd has no systemd class"
      return 0
    fi
    while IFS= read -r line; do
      [ -n "$line" ] && row "$line" "$systemctl_line"
    done <<<"$lrm_lines"
  done
  echo "targets: lrm at least as fast as the systemctl loop; lrmd CPU < 1 ms per op"
  return $status
}

if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [--quick]" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
quick=${2:-}
cgroup_root=$(cgroup2_root)
reason=$(why_not)
if [ -n "$reason" ]; then
  echo "systemd benchmark skipped: $reason"
  exit 0
fi
work=$(mktemp -d /tmp/lrm-systemd-bench-XXXXXX)
bus=unix:path=$work/run-dbus/system_bus_socket
trap teardown EXIT
trap 'exit 1' INT TERM
boot
measure
