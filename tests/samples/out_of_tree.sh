#!/usr/bin/env bash
# The SDK as a third party sees it: install lrm into a temporary prefix,
# build samples/ against it with find_package(lrm) and without Boost, check
# what the sample plugin exports, and run the sample plugin, native agent and
# client in the installed lrmd. Usage: tests/samples/out_of_tree.sh [BUILD_DIR] (Release).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
tmp=$(mktemp -d /tmp/lrm-samples-XXXXXX)
daemon=
cleanup() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "samples: FAILED: $*" >&2; [ -f "$tmp/lrmd.log" ] && tail -20 "$tmp/lrmd.log" >&2; exit 1; }

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLRM_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" >/dev/null
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
# The SDK asks nothing of its users but itself: the samples are configured
# with Boost hidden from find_package, and built with a <boost/config.hpp>
# (which every Boost header includes) that stops the compiler.
mkdir -p "$tmp/no-boost/boost"
echo '#error "an installed lrm SDK header needs Boost"' > "$tmp/no-boost/boost/config.hpp"
cmake -S samples -B "$tmp/samples" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON -DCMAKE_CXX_FLAGS="-I$tmp/no-boost" --no-warn-unused-cli >/dev/null
cmake --build "$tmp/samples" >/dev/null

# A plugin exports its descriptor and nothing else of its own.
exports=$(nm -D --defined-only "$tmp/samples/exec_plugin/exec.so" | awk '{print $3}' | grep -v '^_' | sort | tr '\n' ' ')
[ "$exports" = "lrm_plugin_info " ] || fail "exec.so exports: $exports"
exports=$(nm -D --defined-only "$tmp/samples/native_agent/Hello.so" | awk '{print $3}' | grep -v '^_' | sort | tr '\n' ' ')
[ "$exports" = "lrm_agent_info " ] || fail "Hello.so exports: $exports"

mkdir "$tmp/exec"
cat > "$tmp/exec/hello" <<'SCRIPT'
#!/bin/sh
on="$(dirname "$0")/.on-$LRM_INSTANCE"
case "$1" in
start) touch "$on" ;;
stop) rm -f "$on" ;;
monitor) [ -f "$on" ] || exit 7 ;;
esac
exit 0
SCRIPT
chmod +x "$tmp/exec/hello"

# The exec class finds its directory through a key of lrmd's config file
# (every section.name key reaches the plugins as a setting).
printf 'exec.path = %s\n' "$tmp/exec" > "$tmp/lrmd.properties"
# The systemd class is installed too: it gets a bus that leads nowhere, as in
# every test, so that nothing reaches the host's systemd.
DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/no-system-bus" LRM_SERVICE_BACKEND=lsb \
"$tmp/prefix/bin/lrmd" --config "$tmp/lrmd.properties" --foreground --socket "$tmp/lrmd.sock" \
  --plugin-dir "$tmp/prefix/lib/lrm/plugins" --plugin-dir "$tmp/samples/exec_plugin" \
  --agent-dir "$tmp/prefix/lib/lrm/agents" --agent-dir "$tmp/samples/native_agent" \
  --log-target "$tmp/lrmd.log" --log-level info --state-dir "$tmp/state" &
daemon=$!
ctl() { "$tmp/prefix/bin/lrmctl" --socket "$tmp/lrmd.sock" "$@"; }
for _ in $(seq 300); do ctl ping >/dev/null 2>&1 && break; sleep 0.1; done
ctl ping >/dev/null || fail "the installed lrmd did not start"

[ "$(ctl classes | tr '\n' ' ')" = "exec lsb native ocf service systemd " ] || fail "classes: $(ctl classes | tr '\n' ' ')"
ctl register e1 --agent exec:hello >/dev/null
ctl exec e1 start >/dev/null || fail "exec:hello start"
ctl exec e1 monitor >/dev/null || fail "exec:hello monitor"
ctl exec e1 stop >/dev/null || fail "exec:hello stop"
if ctl exec e1 monitor >/dev/null; then fail "exec:hello monitor after stop succeeded"; fi
ctl register h1 --agent native:sample:Hello >/dev/null
ctl exec h1 start >/dev/null || fail "native:sample:Hello start"
ctl exec h1 monitor >/dev/null || fail "native:sample:Hello monitor"
grep -q "hello, h1" "$tmp/lrmd.log" || fail "the agent's log line is missing"
"$tmp/samples/client/lrm_sample_client" "$tmp/lrmd.sock" native:lrm:Dummy "state=$tmp/dummy.state" >/dev/null \
  || fail "lrm_sample_client"
echo "samples out of tree: SDK installed, samples built with find_package(lrm), plugin, agent and client ran"
