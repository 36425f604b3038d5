# shellcheck shell=bash
# shellcheck disable=SC2154  # build_dir, work, source_dir are the caller's (see below)
# Sourced by tests/remote/side_by_side.sh and bench/remote.sh: the real
# pacemaker-remoted and lrm (lrmd + lrm-remoted) on 127.0.0.1 with one key,
# inside the private namespaces the caller has entered (run_in_namespaces).
#
# The caller sets: build_dir (bin/lrmd, bin/lrm-remoted), work (the temp
# directory: key in $work/authkey, logs and sockets go there), pcmk_daemon
# (the pacemaker-remoted binary) and source_dir.

readonly pcmk_port=3121 lrm_port=3122

# Loopback up, a private /run (agents keep their state there), and the
# installed OCF agents plus the lrmtest fixtures at the path both daemons
# search (pacemaker-remoted's is compiled in: /usr/lib/ocf/resource.d).
# Everything is undone when the namespace ends.
enter_private_node() {
  ip link set lo up
  mount -t tmpfs -o mode=0755 tmpfs /run
  local ocf=/usr/lib/ocf/resource.d provider
  mkdir -p "$work/ocf-installed" "$work/ocf"
  mount --bind "$ocf" "$work/ocf-installed"
  mount -o remount,bind,ro "$work/ocf-installed"
  for provider in "$work/ocf-installed"/*; do ln -s "$provider" "$work/ocf/$(basename "$provider")"; done
  ln -s "$source_dir/tests/fixtures/ocf/lrmtest" "$work/ocf/lrmtest"
  mount --bind "$work/ocf" "$ocf"
}

# Waits until something accepts on 127.0.0.1:PORT; fails when PID exits first.
wait_listening() {
  local port=$1 pid=$2 name=$3
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "unable to start $name: it exited (log: $(tail -n 3 "$work/$name.log" 2>/dev/null))" >&2
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "unable to start $name: nothing accepts on port $port after 15 s" >&2
  return 1
}

# Waits until lrmd's socket exists; fails when PID exits first.
wait_socket() {
  local socket=$1 pid=$2
  for _ in $(seq 1 300); do
    [ -S "$socket" ] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "unable to start lrmd: it exited (log: $(tail -n 3 "$work/lrmd.log" 2>/dev/null))" >&2
      return 1
    fi
    sleep 0.05
  done
  echo "unable to start lrmd: no socket at $socket after 15 s" >&2
  return 1
}

# Starts pacemaker-remoted; sets pcmk_pid.
start_pacemaker() {
  PCMK_authkey_location=$work/authkey PCMK_remote_port=$pcmk_port PCMK_logfile=$work/pacemaker-remoted.log \
    PCMK_logfacility=none "$pcmk_daemon" &
  pcmk_pid=$!
  wait_listening "$pcmk_port" "$pcmk_pid" pacemaker-remoted
}

# Starts lrmd (journal in STATE_DIR, or none) and lrm-remoted; sets lrmd_pid
# and remoted_pid. lrm-remoted starts once lrmd serves: until it reaches lrmd
# it refuses cluster connections.
start_lrm() {
  local state_dir=$1
  "$build_dir/bin/lrmd" --foreground --socket "$work/lrmd.sock" --state-dir "$state_dir" \
    --log-target "$work/lrmd.log" &
  lrmd_pid=$!
  wait_socket "$work/lrmd.sock" "$lrmd_pid" || return 1
  # The host's /etc/default/pacemaker is not this test's configuration.
  : >"$work/pacemaker-defaults"
  "$build_dir/bin/lrm-remoted" --foreground --socket "$work/lrmd.sock" --address 127.0.0.1 \
    --port "$lrm_port" --authkey "$work/authkey" --log-target "$work/lrm-remoted.log" \
    --pacemaker-defaults "$work/pacemaker-defaults" &
  remoted_pid=$!
  wait_listening "$lrm_port" "$remoted_pid" lrm-remoted
}

start_daemons() {
  start_pacemaker && start_lrm "$work/lrmd-state"
}

# SIGTERM, then SIGKILL if PID has not exited within 10 s.
stop_pid() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Stops lrm, by PID: the endpoint before lrmd.
stop_lrm() {
  stop_pid "${remoted_pid:-}"
  stop_pid "${lrmd_pid:-}"
  remoted_pid="" lrmd_pid=""
}

stop_pacemaker() {
  stop_pid "${pcmk_pid:-}"
  pcmk_pid=""
}

# Stops what is running of what start_daemons starts (also as an EXIT trap).
stop_daemons() {
  stop_pacemaker
  stop_lrm
}

# Whether the daemons can run here: sets pcmk_daemon, or why_not and fails.
can_run_daemons() {
  why_not=
  if [ ! -x "$build_dir/bin/lrmd" ] || [ ! -x "$build_dir/bin/lrm-remoted" ]; then
    why_not="lrmd or lrm-remoted not built in $build_dir"
  elif [ "$(id -u)" != 0 ]; then
    why_not="needs root for private network, mount and PID namespaces"
  elif ! command -v unshare >/dev/null || ! command -v ip >/dev/null; then
    why_not="unshare or ip not installed"
  elif [ ! -d /usr/lib/ocf/resource.d/heartbeat ]; then
    why_not="resource-agents not installed"
  elif ! pcmk_daemon=$("$source_dir/tools/fetch-pacemaker-remote.sh" "$build_dir/pacemaker-remote" 2>&1); then
    why_not="pacemaker-remote package not available: $pcmk_daemon"
  fi
  [ -z "$why_not" ]
}

# A fresh 4096-byte key, as Pacemaker's documentation makes them.
make_key() {
  dd if=/dev/urandom of="$1" bs=4096 count=1 status=none
  chmod 0600 "$1"
}

# Runs "$0 --inside ARGS..." as PID 1 of new network, mount and PID
# namespaces (with its own /proc): when it exits, whatever it left running
# (an agent a daemon did not wait for, a driver) is killed with it. A SIGINT
# or SIGTERM to the caller is passed on to it (unshare ignores them), so that
# its EXIT trap stops the daemons before the caller removes their directory.
run_in_namespaces() {
  unshare --net --mount --pid --fork --mount-proc --kill-child=TERM --propagation private \
    "$BASH" "$0" --inside "$@" &
  local inner=$! status=0
  trap 'kill -TERM $(cat "/proc/$inner/task/$inner/children" 2>/dev/null) 2>/dev/null; wait "$inner"; exit 1' INT TERM
  wait "$inner" || status=$?
  trap - INT TERM
  return $status
}
