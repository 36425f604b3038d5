#!/usr/bin/env bash
# The same scenarios against the real pacemaker-remoted and against lrm
# (lrmd + lrm-remoted), driven by remote_driver through Pacemaker's own
# liblrmd; their normalized outputs must be equal except for the differences
# in the allow-list below, each of which docs/pacemaker-remote.md explains
# ("Compared with pacemaker-remoted").
#
#   tests/remote/side_by_side.sh BUILD_DIR [--keep]
#
# Both daemons run in one private network and mount namespace (loopback only,
# a private /run, and an OCF tree that adds tests/fixtures/ocf/lrmtest to the
# installed agents), so nothing of the host is touched or seen. Exits 0 with
# one "side-by-side skipped: <reason>" line where it cannot run. --keep leaves
# the outputs and the daemons' logs in the temp directory and prints its path.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
readonly scenarios=(register info probe start recurring cancel unregister_in_flight timeout failing
                    get_recurring new_client garbage wrong_key)
readonly pcmk_port=3121 lrm_port=3122

# Differences that are lrm's by design. One entry per line:
#   scenario|line pattern (ERE)|field|pacemaker-remoted's value|lrm's value
# The lrm value is rewritten to pacemaker-remoted's on matching lines of lrm's
# output before the diff. Each entry is explained in docs/pacemaker-remote.md,
# "Compared with pacemaker-remoted".
readonly allowed=(
)

skip() {
  echo "side-by-side skipped: $*"
  exit 0
}

# ---- Inside the namespaces -------------------------------------------------

# Waits until something listens on 127.0.0.1:PORT (or the daemon died).
wait_listening() {
  local port=$1 pid=$2 name=$3
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "unable to start $name: it exited (log in $work)" >&2
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "unable to start $name: nothing listens on port $port after 15 s" >&2
  return 1
}

# Runs every scenario against one daemon, outputs in $work/out/SIDE/.
run_scenarios() {
  local side=$1 port=$2
  mkdir -p "$work/out/$side" "$work/state/$side"
  for scenario in "${scenarios[@]}"; do
    local key=$work/authkey
    [ "$scenario" = wrong_key ] && key=$work/wrongkey
    PCMK_authkey_location=$key PCMK_logfacility=none \
      ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 LSAN_OPTIONS=suppressions=$here/lsan.supp \
      UBSAN_OPTIONS=halt_on_error=1 "$build_dir/bin/remote_driver" 127.0.0.1 "$port" "$work/state/$side" "$scenario" \
      >"$work/out/$side/$scenario" 2>>"$work/driver-$side.stderr" || echo "exit status $?" >>"$work/out/$side/$scenario"
  done
}

# Rewrites lrm's value of each allowed difference to pacemaker-remoted's.
apply_allow_list() {
  local scenario=$1 file=$2 entry s pattern field pcmk lrm
  for entry in "${allowed[@]}"; do
    IFS='|' read -r s pattern field pcmk lrm <<<"$entry"
    [ "$s" = "$scenario" ] || continue
    awk -v pattern="$pattern" -v from=" $field=$lrm" -v to=" $field=$pcmk" '
      $0 ~ pattern { i = index($0 " ", from " "); if (i) $0 = substr($0, 1, i - 1) to substr($0, i + length(from)) }
      { print }' "$file" >"$file.allowed"
    mv "$file.allowed" "$file"
  done
}

inside() {
  ip link set lo up
  mount -t tmpfs -o mode=0755 tmpfs /run
  # The installed agents read-only plus lrmtest, at the path both daemons use.
  local ocf=/usr/lib/ocf/resource.d
  mkdir -p "$work/ocf-installed" "$work/ocf"
  mount --bind "$ocf" "$work/ocf-installed"
  mount -o remount,bind,ro "$work/ocf-installed"
  for provider in "$work/ocf-installed"/*; do ln -s "$provider" "$work/ocf/$(basename "$provider")"; done
  ln -s "$source_dir/tests/fixtures/ocf/lrmtest" "$work/ocf/lrmtest"
  mount --bind "$work/ocf" "$ocf"

  PCMK_authkey_location=$work/authkey PCMK_remote_port=$pcmk_port PCMK_logfile=$work/pacemaker-remoted.log \
    PCMK_logfacility=none "$pcmk_daemon" &
  local pcmk_pid=$!
  "$build_dir/bin/lrmd" --foreground --socket "$work/lrmd.sock" --state-dir "$work/lrmd-state" \
    --log-target "$work/lrmd.log" &
  local lrmd_pid=$!
  "$build_dir/bin/lrm-remoted" --foreground --socket "$work/lrmd.sock" --address 127.0.0.1 --port "$lrm_port" \
    --authkey "$work/authkey" --log-target "$work/lrm-remoted.log" &
  local remoted_pid=$!
  local status=0
  if wait_listening "$pcmk_port" "$pcmk_pid" pacemaker-remoted && wait_listening "$lrm_port" "$remoted_pid" lrm-remoted; then
    run_scenarios pacemaker "$pcmk_port" &
    local pcmk_runner=$!
    run_scenarios lrm "$lrm_port"
    wait "$pcmk_runner"
  else
    status=1
  fi
  kill "$pcmk_pid" "$remoted_pid" 2>/dev/null || true
  wait "$pcmk_pid" "$remoted_pid" 2>/dev/null || true
  kill "$lrmd_pid" 2>/dev/null || true
  wait "$lrmd_pid" 2>/dev/null || true
  return $status
}

# ---- Outside ---------------------------------------------------------------

if [ "${1:-}" = --inside ]; then
  build_dir=$2 work=$3 pcmk_daemon=$4
  inside
  exit $?
fi

if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [--keep]" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
keep=${2:-}
[ -x "$build_dir/bin/remote_driver" ] || skip "remote_driver not built (pacemaker-dev not installed)"
[ -x "$build_dir/bin/lrmd" ] && [ -x "$build_dir/bin/lrm-remoted" ] || skip "lrmd or lrm-remoted not built in $build_dir"
[ "$(id -u)" = 0 ] || skip "needs root for private network and mount namespaces"
command -v unshare >/dev/null && command -v ip >/dev/null || skip "unshare or ip not installed"
[ -d /usr/lib/ocf/resource.d/heartbeat ] || skip "resource-agents not installed"
pcmk_daemon=$("$source_dir/tools/fetch-pacemaker-remote.sh" "$build_dir/pacemaker-remote" 2>&1) \
  || skip "pacemaker-remote package not available: $pcmk_daemon"

work=$(mktemp -d /tmp/lrm-remote-XXXXXX)
cleanup() {
  if [ "$keep" = --keep ]; then echo "outputs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
dd if=/dev/urandom of="$work/authkey" bs=4096 count=1 status=none
dd if=/dev/urandom of="$work/wrongkey" bs=4096 count=1 status=none
chmod 0600 "$work/authkey" "$work/wrongkey"

# The namespaces end with this process: their mounts and daemons go with them.
if ! unshare --net --mount --propagation private "$BASH" "$0" --inside "$build_dir" "$work" "$pcmk_daemon"; then
  echo "side-by-side: FAILED to run the daemons; logs:" >&2
  tail -n 20 "$work"/*.log >&2 || true
  exit 1
fi

failed=0
for scenario in "${scenarios[@]}"; do
  apply_allow_list "$scenario" "$work/out/lrm/$scenario"
  if ! diff -u --label "pacemaker-remoted/$scenario" --label "lrm/$scenario" \
      "$work/out/pacemaker/$scenario" "$work/out/lrm/$scenario"; then
    failed=1
  fi
done
if [ $failed = 0 ]; then
  echo "side-by-side: ${#scenarios[@]} scenarios agree (${#allowed[@]} allowed differences)"
else
  echo "side-by-side: lrm differs from pacemaker-remoted (above: - pacemaker-remoted, + lrm; --keep keeps the logs)"
fi
exit $failed
