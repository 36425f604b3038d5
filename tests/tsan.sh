#!/usr/bin/env bash
# ThreadSanitizer run: builds BUILD_DIR (default build-tsan) with
# -DLRM_TSAN=ON — lrmd, its plugins, agents and lrm-agent-host included — and
# runs the tests whose code runs on more than one thread: the event loop's
# postFromAnyThread and the worker pool (unit), native agents in process,
# the journal's syncer thread and upgrades in place (integration, against
# the TSan-built lrmd). A race aborts the process that has it with exit
# status 66 (halt_on_error): in a test binary that fails the run; in lrmd,
# the test sees the daemon die or exit non-zero (TestDaemon checks that lrmd
# exits 0). Usage: tests/tsan.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-tsan}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLRM_TSAN=ON "${launcher[@]}" >/dev/null
cmake --build "$build" --target lrm_kernel_unit_tests lrm_integration_tests

export TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1"
start=$SECONDS
"$build/bin/lrm_kernel_unit_tests" --gtest_filter='EventLoopTest.*:WorkerPoolTest.*'
"$build/bin/lrm_integration_tests" --gtest_filter='Native.*:NativeAgents.*:State.*:Upgrade.*:Metadata.*'
echo "tsan: no data race in $((SECONDS - start)) s"
