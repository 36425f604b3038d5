#!/usr/bin/env bash
# Builds lrm (Release) if needed and runs the benchmarks; arguments go to
# lrm_bench (e.g. --quick for the smoke run, or one of burst, latency,
# recurring, memory). Results: table on stdout, JSON lines on stderr.
# `bench/run.sh soak [--duration SECONDS] [--upgrade-every SECONDS]` runs the
# soak (lrm_soak) instead: exit status 1 when one of its invariants fails.
# `bench/run.sh remote [--quick]` compares lrm with pacemaker-remoted through
# Pacemaker's liblrmd (bench/remote.sh). `bench/run.sh systemd [--quick]`
# compares lrm's systemd class with systemctl in a shell loop, on a systemd
# manager booted in private namespaces (bench/systemd.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install-deps.sh --tests
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLRM_BUILD_TESTS=OFF >/dev/null
cmake --build build >/dev/null
if [ "${1:-}" = remote ]; then
  shift
  exec bench/remote.sh build "$@"
fi
if [ "${1:-}" = systemd ]; then
  shift
  exec bench/systemd.sh build "$@"
fi
if [ "${1:-}" = soak ]; then
  shift
  exec build/bin/lrm_soak "$@"
fi
exec build/bin/lrm_bench "$@"
