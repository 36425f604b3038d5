#!/usr/bin/env bash
# The same scenarios against the real pacemaker-remoted and against lrm
# (lrmd + lrm-remoted), driven by remote_driver through Pacemaker's own
# liblrmd; their normalized outputs must be equal except for the differences
# in the allow-list below, each of which docs/pacemaker-remote.md explains
# ("Compared with pacemaker-remoted").
#
#   tests/remote/side_by_side.sh BUILD_DIR [--keep]
#
# Both daemons run in one private network, mount and PID namespace (loopback
# only, a private /run, and an OCF tree that adds tests/fixtures/ocf/lrmtest to
# the installed agents), so nothing of the host is touched or seen. Exits 0 with
# one "side-by-side skipped: <reason>" line where it cannot run. --keep leaves
# the outputs and the daemons' logs in the temp directory and prints its path.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
readonly scenarios=(register info probe start recurring cancel unregister_in_flight timeout failing
                    get_recurring new_client garbage wrong_key)
# shellcheck source-path=SCRIPTDIR source=remote_daemons.sh
source "$here/remote_daemons.sh"

# Differences that are lrm's by design, each explained in docs/pacemaker-remote.md
# ("Compared with pacemaker-remoted"). One entry per line:
#   scenario|line pattern (ERE)|field|pacemaker-remoted's value|lrm's value
# On lines that match the pattern, lrm's " field=value" is rewritten to
# pacemaker-remoted's before the diff.
readonly allowed=(
  # Exit reasons lrm writes itself (here: a missing agent) are in lrm's words.
  "failing|^event type=exec_complete rsc=fai-missing |exit_reason|NoSuchAgent: No such file or directory|agent ocf:lrmtest:NoSuchAgent not found: no executable lrmtest/NoSuchAgent in /usr/lib/ocf/resource.d"
  # A peer whose stream is not Pacemaker's framing cannot be resynchronised:
  # lrm-remoted closes it (and logs why); pacemaker-remoted 2.1.5 keeps
  # reading from it. Every other connection is served on either way.
  "garbage|^garbage-tls |daemon|kept|closed"
  # A header that promises more than 20 MB: lrm-remoted closes the connection
  # before allocating anything; pacemaker-remoted 2.1.5 waits for the payload.
  "garbage|^oversize-tls |daemon|kept|closed"
  # lrm-remoted announces a new client when it signs on, pacemaker-remoted when
  # its TLS handshake completes. A controller signs on right after the
  # handshake, so it sees the same; the raw TLS peers above never sign on.
  "garbage|^raw-peers |new_client_events|2|0"
)

skip() {
  echo "side-by-side skipped: $*"
  exit 0
}

# ---- Inside the namespaces -------------------------------------------------

# Runs every scenario against one daemon, outputs in $work/out/SIDE/; a
# driver that fails (a wait ran out, a sanitizer's report) is listed in
# $work/driver-failures, whether or not the other side failed alike.
run_scenarios() {
  local side=$1 port=$2 scenario key
  mkdir -p "$work/out/$side" "$work/state/$side"
  for scenario in "${scenarios[@]}"; do
    key=$work/authkey
    [ "$scenario" = wrong_key ] && key=$work/wrongkey
    PCMK_authkey_location=$key PCMK_logfacility=none \
      ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0 LSAN_OPTIONS=suppressions=$here/lsan.supp \
      UBSAN_OPTIONS=halt_on_error=1 "$build_dir/bin/remote_driver" 127.0.0.1 "$port" "$work/state/$side" \
      "$scenario" >"$work/out/$side/$scenario" 2>>"$work/driver-$side.stderr" \
      || { echo "exit status $?" >>"$work/out/$side/$scenario"; echo "$side/$scenario" >>"$work/driver-failures"; }
  done
}

# Both daemons at once: each has one client at a time, so neither sees the
# other's traffic, and the run takes as long as the slower side.
inside() {
  trap stop_daemons EXIT
  trap 'exit 1' INT TERM
  enter_private_node
  local status=0
  if start_daemons; then
    run_scenarios pacemaker "$pcmk_port" &
    local pcmk_runner=$!
    run_scenarios lrm "$lrm_port"
    wait "$pcmk_runner"
  else
    status=1
  fi
  stop_daemons
  return $status
}

# Writes lrm's output of SCENARIO to out/lrm-allowed/ with the value of each
# allowed difference rewritten to pacemaker-remoted's.
apply_allow_list() {
  local scenario=$1 entry s pattern field pcmk lrm
  local lrm_file=$work/out/lrm-allowed/$scenario
  mkdir -p "$work/out/lrm-allowed"
  cp "$work/out/lrm/$scenario" "$lrm_file"
  for entry in "${allowed[@]}"; do
    IFS='|' read -r s pattern field pcmk lrm <<<"$entry"
    [ "$s" = "$scenario" ] || continue
    awk -v pattern="$pattern" -v from=" $field=$lrm" -v to=" $field=$pcmk" '
      $0 ~ pattern { line = " " $0 " "; i = index(line, from " ")
                     if (i) $0 = substr(line, 2, i - 2) to substr(line, i + length(from), length(line) - i - length(from)) }
      { print }' "$lrm_file" >"$lrm_file.allowed"
    mv "$lrm_file.allowed" "$lrm_file"
  done
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
can_run_daemons || skip "$why_not"

work=$(mktemp -d /tmp/lrm-remote-XXXXXX)
cleanup() {  # shellcheck disable=SC2317  # run by the trap
  if [ "$keep" = --keep ]; then echo "outputs and logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
make_key "$work/authkey"
make_key "$work/wrongkey"

# The mounts end with the namespaces; the inner script stops its daemons.
if ! run_in_namespaces "$build_dir" "$work" "$pcmk_daemon"; then
  echo "side-by-side: FAILED to run the daemons; logs:" >&2
  tail -n 20 "$work"/*.log >&2 || true
  exit 1
fi
failed=0
for scenario in "${scenarios[@]}"; do
  apply_allow_list "$scenario"
  if ! diff -u --label "pacemaker-remoted/$scenario" --label "lrm/$scenario" \
      "$work/out/pacemaker/$scenario" "$work/out/lrm-allowed/$scenario"; then
    failed=1
  fi
done
if [ -s "$work/driver-failures" ]; then
  echo "side-by-side: remote_driver failed in: $(tr '\n' ' ' <"$work/driver-failures")" >&2
  tail -n 20 "$work"/driver-*.stderr >&2 || true
  failed=1
fi
if [ $failed = 0 ]; then
  echo "side-by-side: ${#scenarios[@]} scenarios agree (${#allowed[@]} allowed differences)"
else
  echo "side-by-side: lrm differs from pacemaker-remoted (above: - pacemaker-remoted, + lrm; --keep keeps the logs)"
fi
exit $failed
