#!/usr/bin/env bash
# Sets up this machine (apt-get), builds lrm with AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs the whole test suite with ctest; then a
# real Pacemaker cluster driving lrm-remoted, lrm side by side with
# pacemaker-remoted, the out-of-tree SDK check, a 60 s soak, the
# ThreadSanitizer run and 30 s of each fuzzer. Exits non-zero on any failure,
# or if a test left a process or a temporary directory behind.
set -euo pipefail
cd "$(dirname "$0")"
./tools/install-deps.sh --tests
build=build-asan
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLRM_SANITIZE=ON >/dev/null
cmake --build "$build"

export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
before_tmp=$(ls -d /tmp/lrm* 2>/dev/null | sort || true)
# lrmd's default state directory and socket for root: no test may use them.
host_state_before=$(ls -d /var/lib/lrm /run/lrm 2>/dev/null || true)
tree_before=$(git status --porcelain --ignored -- tests 2>/dev/null || true)
status=0
(cd "$build" && ctest --output-on-failure --timeout 600 -j2) || status=$?
# A real Corosync + Pacemaker cluster manages this machine as a Pacemaker
# Remote node through lrm-remoted, all in private namespaces (skipped, with
# the reason, where that cannot run: not root, no network namespaces).
./tests/cluster/run.sh "$build" || status=1
# The same scenarios through Pacemaker's own liblrmd against the real
# pacemaker-remoted and against lrm: every field must agree, but for the
# documented differences (tests/remote/side_by_side.sh).
./tests/remote/side_by_side.sh "$build" || status=1
# The SDK as a third party uses it: installed, samples built against it.
./tests/samples/out_of_tree.sh build || status=1
# Mixed load with upgrades against that Release lrmd for 60 s: nothing
# acknowledged lost, nothing leaked (bench/README.md).
build/bin/lrm_soak --duration 60 || status=1
# Races in the threaded code, lrmd's included, under ThreadSanitizer.
./tests/tsan.sh || status=1
# The decoders of untrusted bytes (frames, requests, metadata, the journal,
# the handover file) under libFuzzer, 30 s each (fuzz/run.sh).
./fuzz/run.sh 30 || status=1

# Hygiene: no daemon or temporary directory may outlive the tests.
leftover=$(pgrep -f "$PWD/build[^/]*/bin/(lrmd|lrm-remoted)( |$)" || true)
if [ -n "$leftover" ]; then
  echo "test.sh: lrmd or lrm-remoted processes left running: $leftover" >&2
  kill -9 $leftover 2>/dev/null || true
  status=1
fi
after_tmp=$(ls -d /tmp/lrm* 2>/dev/null | sort || true)
new_tmp=$(comm -13 <(echo "$before_tmp") <(echo "$after_tmp") | sed '/^$/d')
if [ -n "$new_tmp" ]; then
  echo "test.sh: temporary files left behind in /tmp: $new_tmp" >&2
  status=1
fi
host_state_after=$(ls -d /var/lib/lrm /run/lrm 2>/dev/null || true)
if [ "$host_state_before" != "$host_state_after" ]; then
  echo "test.sh: the tests created lrmd's default state directory or socket directory on the host:" \
    "$host_state_after" >&2
  status=1
fi
# Tests must not write into the source tree (fixtures that keep state run
# from temporary copies).
tree_after=$(git status --porcelain --ignored -- tests 2>/dev/null || true)
if [ "$tree_before" != "$tree_after" ]; then
  echo "test.sh: the tests changed the source tree:" >&2
  diff <(echo "$tree_before") <(echo "$tree_after") >&2 || true
  status=1
fi
exit $status
