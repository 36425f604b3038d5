#!/usr/bin/env bash
# ThreadSanitizer run: builds BUILD_DIR (default build-tsan) with
# -DLRM_TSAN=ON — lrmd, its plugins, agents and lrm-agent-host included — and
# runs the tests whose code runs on more than one thread: the kernel unit
# tests (the event loop's postFromAnyThread, the worker pool) and the whole
# integration suite against the TSan-built lrmd (native agents in process on
# the worker pool, the journal's syncer thread, upgrades in place), about
# two minutes on 2 CPUs. A race aborts the process that has it with exit
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
"$build/bin/lrm_kernel_unit_tests"
"$build/bin/lrm_integration_tests"
echo "tsan: no data race in $((SECONDS - start)) s"
