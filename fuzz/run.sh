#!/usr/bin/env bash
# Builds the libFuzzer targets (build-fuzz/, Clang, LRM_FUZZ=ON) and runs
# each for SECONDS_PER_TARGET (default 30) on a copy of its seed corpus in a
# temporary directory, so nothing is written into the source tree. Prints one
# line per target; on a crash, exits non-zero leaving the crashing input in
# the directory it names (the temporary directory is then kept).
#
#   fuzz/run.sh [SECONDS_PER_TARGET]
set -euo pipefail

# name max_len: what a target reads at most per input (libFuzzer -max_len).
# A new target is one line here and one lrm_add_fuzzer() in fuzz/CMakeLists.txt.
targets=(
  "fuzz_frame 65536"
  "fuzz_request 65536"
  "fuzz_metadata 131072"
  "fuzz_journal 1048576"
  "fuzz_handover 262144"
  "fuzz_pcmk_frame 65536"
)

seconds=${1:-30}
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: fuzz/run.sh [SECONDS_PER_TARGET]" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
names=()
for target in "${targets[@]}"; do names+=("${target%% *}"); done

work=$(mktemp -d "${TMPDIR:-/tmp}/lrm-fuzz.XXXXXX")
keep=0
trap '[ "$keep" -eq 1 ] || rm -rf "$work"' EXIT

# Quiet unless the build fails.
if ! { CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
         -DLRM_FUZZ=ON -DLRM_BUILD_TESTS=OFF "${launcher[@]}" &&
       cmake --build "$build" --target "${names[@]}"; } >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  echo "fuzz: unable to build the fuzz targets" >&2
  exit 1
fi

status=0
for target in "${targets[@]}"; do
  name=${target%% *}
  max_len=${target##* }
  corpus=$work/$name/corpus
  artifacts=$work/$name/artifacts
  mkdir -p "$corpus" "$artifacts"
  cp -R "$root/fuzz/corpus/$name/." "$corpus/"
  log=$work/$name/log
  start=$(date +%s)
  if "$build/fuzz/$name" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $name ${execs:-?} execs in $(( $(date +%s) - start )) s, no crash"
  else
    keep=1
    status=1
    tail -n 40 "$log" >&2
    echo "fuzz: $name FAILED; crashing input: $(ls -d "$artifacts"/* 2>/dev/null | head -n 1); log: $log" >&2
  fi
done
exit $status
