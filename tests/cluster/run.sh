#!/usr/bin/env bash
# A real one-node Corosync + Pacemaker cluster managing an lrm machine as a
# Pacemaker Remote node, built entirely inside private namespaces so that
# nothing of the host's configuration or state is touched.
#
#   tests/cluster/run.sh BUILD_DIR
#   REMOTE=pacemaker-remoted tests/cluster/run.sh BUILD_DIR   (the reference peer)
#
# The cluster node (corosync + pacemakerd and its daemons) runs in its own
# network, mount and PID namespaces, with its own /etc/corosync,
# /etc/pacemaker, /var/lib/pacemaker, /var/lib/corosync, /var/log/pacemaker,
# /run and /dev/shm. The remote node lives in another network namespace
# (joined to the cluster's by a veth pair) with its own mount namespace and
# /run; there run lrmd and lrm-remoted (or Pacemaker's pacemaker-remoted).
# Every scenario waits on the CIB (cibadmin/crm_mon/crm_failcount) or on
# lrmd (lrmctl) with generous deadlines; nothing sleeps a fixed time.
# Everything lives under one /tmp/lrm-cluster-* directory; a trap stops the
# processes this script started, removes the namespaces, the veth pair and
# the directory, and prints the daemons' logs when a scenario failed.
# Exit 0: passed (or skipped, with one line saying why); non-zero: failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
self="$here/$(basename "$0")"

skip() { echo "cluster test skipped: $*"; exit 0; }

# ---------------------------------------------------------------------------
# Entry points run inside the namespaces (this script calls itself).

# The cluster node: pid 1 of its PID namespace, in its own mount and network
# namespaces. Mounts private directories over everything corosync and
# Pacemaker write, starts both, and waits; killing it (pid 1) ends every
# process of the namespace.
cluster_node() {
  local work=$1
  mount --make-rprivate /
  ip link set lo up
  mount -t tmpfs -o mode=0755 lrm-cluster-run /run
  mount -t tmpfs -o mode=1777 lrm-cluster-shm /dev/shm
  mount -t tmpfs -o mode=0755 lrm-cluster-corosync /var/lib/corosync
  mount --bind "$work/cluster/etc-corosync" /etc/corosync
  mount --bind "$work/cluster/etc-pacemaker" /etc/pacemaker
  mount --bind "$work/cluster/lib-pacemaker" /var/lib/pacemaker
  mount --bind "$work/cluster/log" /var/log/pacemaker
  corosync -f -c /etc/corosync/corosync.conf >>"$work/cluster/corosync.stderr" 2>&1 &
  # pacemakerd gives up at once when corosync is not serving yet.
  local deadline=$((SECONDS + 30))
  until corosync-quorumtool -s >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 $! 2>/dev/null; then
      echo "unable to start corosync: not quorate within 30 s" >>"$work/cluster/corosync.stderr"
      exit 1
    fi
    sleep 0.1
  done
  PCMK_logfile="$work/cluster/pacemaker.log" PCMK_logfacility=none \
    PCMK_authkey_location=/etc/pacemaker/authkey \
    pacemakerd -f >>"$work/cluster/pacemakerd.stderr" 2>&1 &
  wait
}

# The remote node: pid 1 of its PID namespace, in its own mount and network
# namespaces, with its own /run (a directory of the work directory, so the
# test can break a resource from outside) and /dev/shm; then it only holds
# the namespaces for the daemons started into them. Killing it ends every
# process of the remote node.
remote_node() {
  local work=$1
  mount --make-rprivate /
  ip link set lo up
  mount --bind "$work/remote/run" /run
  mount -t tmpfs -o mode=1777 lrm-remote-shm /dev/shm
  mount --bind "$work/remote/lib-pacemaker" /var/lib/pacemaker
  mount --bind "$work/remote/log" /var/log/pacemaker
  exec sleep infinity
}

case "${1:-}" in
  --cluster-node) cluster_node "$2"; exit ;;
  --remote-node) remote_node "$2"; exit ;;
esac

# ---------------------------------------------------------------------------
# Preconditions.

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
remote_kind=${REMOTE:-lrm}
case "$remote_kind" in
  lrm | pacemaker-remoted) ;;
  *) echo "REMOTE must be lrm or pacemaker-remoted, not '$remote_kind'" >&2; exit 2 ;;
esac

[ "$(id -u)" -eq 0 ] || skip "needs root (namespaces, mounts)"
for tool in unshare nsenter ip mount; do
  command -v "$tool" >/dev/null || skip "no $tool"
done
for tool in corosync corosync-quorumtool pacemakerd cibadmin crmadmin crm_resource crm_mon crm_failcount; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (corosync, pacemaker, pacemaker-cli-utils)"
done
[ -x /usr/lib/ocf/resource.d/pacemaker/Dummy ] || skip "no ocf:pacemaker:Dummy agent (pacemaker)"
[ -x /usr/lib/ocf/resource.d/pacemaker/remote ] || skip "no ocf:pacemaker:remote agent (pacemaker)"
getent passwd hacluster >/dev/null || skip "no hacluster user (pacemaker)"
if [ "$remote_kind" = lrm ]; then
  for binary in lrmd lrm-remoted lrmctl; do
    [ -x "$build/bin/$binary" ] || { echo "cluster test: $build/bin/$binary is missing" >&2; exit 1; }
  done
fi
unshare --mount --pid --fork --mount-proc true 2>/dev/null || skip "unshare cannot create mount/PID namespaces here"

started_at=$SECONDS
tag="lrmtest-$$"
ns_cluster="$tag-c"
ns_remote="$tag-r"
veth_cluster="lrm$$c"
veth_remote="lrm$$r"
ip netns add "$ns_cluster" 2>/dev/null || skip "ip netns cannot create a network namespace here"
ip netns delete "$ns_cluster"

work=$(mktemp -d /tmp/lrm-cluster-XXXXXX)
chmod 0755 "$work"   # the cluster's daemons run as hacluster and log here
cluster_pid=""       # unshare holding the cluster's PID namespace
remote_pid=""        # unshare holding the remote's PID namespace
cluster_init=""      # the first process of each node's namespaces
remote_init=""
# Daemons of the remote node: each runs under an nsenter (its *_wrapper, our
# child, whose exit status is the daemon's); *_pid is the daemon itself.
lrmd_wrapper="" lrmd_pid=""
remoted_wrapper="" remoted_pid=""   # lrm-remoted or pacemaker-remoted
failed=""
current=""

print_logs() {
  local log
  for log in "$work"/cluster/corosync.log "$work"/cluster/corosync.stderr \
             "$work"/cluster/pacemaker.log "$work"/cluster/pacemakerd.stderr \
             "$work"/remote/*.log "$work"/remote/*.stderr; do
    [ -s "$log" ] || continue
    echo "----- last lines of ${log#"$work"/} -----" >&2
    tail -n 60 "$log" >&2
  done
  if [ -n "$cluster_pid" ] && kill -0 "$cluster_pid" 2>/dev/null; then
    echo "----- crm_mon -----" >&2
    in_cluster crm_mon -1 -r -f -A >&2 2>&1 || true
    echo "----- CIB status of the remote node -----" >&2
    in_cluster cibadmin -Q --xpath "//node_state[@uname='rnode1']" >&2 2>&1 || true
  fi
}

stop_pid() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -KILL "$pid" 2>/dev/null || true
  { wait "$pid"; } 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM ERR
  # Whatever happens to the output (a reader that went away) or to one
  # step, everything below must run.
  trap '' PIPE
  set +e
  if [ $status -ne 0 ] || [ -n "$failed" ]; then
    echo "cluster test FAILED${current:+ in scenario: $current}${failed:+: $failed}" >&2
    print_logs
    [ $status -ne 0 ] || status=1
  fi
  if [ -n "${LOGS_TO:-}" ]; then
    mkdir -p "$LOGS_TO" && cp -r "$work/cluster" "$work/remote" "$LOGS_TO/" 2>/dev/null || true
  fi
  # Killing an unshare kills pid 1 of its PID namespace (--kill-child) and
  # with it every process of that node.
  stop_pid "$remote_pid"
  stop_pid "$remoted_wrapper"
  stop_pid "$lrmd_wrapper"
  stop_pid "$cluster_pid"
  ip link delete "$veth_cluster" 2>/dev/null || true
  ip netns delete "$ns_remote" 2>/dev/null || true
  ip netns delete "$ns_cluster" 2>/dev/null || true
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT
set -E
trap '[ -n "$failed" ] || failed="line $LINENO: $BASH_COMMAND failed"' ERR
trap 'exit 130' INT TERM

fail() { failed="$*"; exit 1; }

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local what=$1 limit=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "$what: not within $limit s"
    sleep 0.2
  done
}

in_cluster() { nsenter -t "$cluster_init" -m -n "$@"; }
cib_lacks() { ! in_cluster cibadmin -Q --xpath "$1"; }
scenario() { current=$1; echo "cluster test: $1 ($((SECONDS - started_at)) s)"; }
# log_has TEXT: the controller logged TEXT (its log file lags the CIB a little).
log_has() { grep -qF "$1" "$work/cluster/pacemaker.log"; }

# The operation history of a resource: history RESOURCE [NODE] takes one
# snapshot of it (an lrm_rsc_op element a line); every check reads a single
# snapshot, so that it never mixes two states of the CIB.
remote_ops="//node_state[@uname='rnode1']/lrm/lrm_resources"
history() {
  in_cluster cibadmin -Q --xpath "//node_state[@uname='${2:-rnode1}']/lrm/lrm_resources/lrm_resource[@id='$1']" \
    2>/dev/null || true
}
op_attr() { # op_attr HISTORY OP_ID ATTRIBUTE
  printf '%s\n' "$1" | sed -n "/<lrm_rsc_op id=\"$2\"/s/.* $3=\"\([^\"]*\)\".*/\1/p" | head -n 1
}
op_ok() { # op_ok HISTORY OP_ID [OPERATION [INTERVAL_MS]]: a success (rc 0, done) of that kind
  [ "$(op_attr "$1" "$2" rc-code)/$(op_attr "$1" "$2" op-status)" = 0/0 ] &&
    { [ -z "${3:-}" ] || [ "$(op_attr "$1" "$2" operation)" = "$3" ]; } &&
    { [ -z "${4:-}" ] || [ "$(op_attr "$1" "$2" interval)" = "$4" ]; }
}

node_online() {
  in_cluster crm_mon -1 --output-as=xml | grep -q "<node name=\"$1\" [^>]*online=\"true\""
}
failcount_is() { [ "$(failcount "$1")" = "$2" ]; }
failcount() { # failcount RESOURCE: the fail count on rnode1, 0 when none
  local value
  value=$(in_cluster crm_failcount --query -r "$1" -N rnode1 2>/dev/null | sed -n 's/.*value=\([0-9A-Za-z]*\).*/\1/p')
  echo "${value:-0}"
}

# ---------------------------------------------------------------------------
# Files: corosync's and Pacemaker's configuration, the key, the directories.

mkdir -p "$work"/cluster/{etc-corosync,etc-pacemaker,lib-pacemaker/{cib,pengine,blackbox,cores},log} \
         "$work"/remote/{run,lib-pacemaker/cores,log,state}
dd if=/dev/urandom of="$work/authkey" bs=4096 count=1 status=none
cp "$work/authkey" "$work/cluster/etc-pacemaker/authkey"
chown -R hacluster:haclient "$work/cluster/etc-pacemaker" "$work/cluster/lib-pacemaker" "$work/cluster/log"
chmod 0640 "$work/cluster/etc-pacemaker/authkey"
chmod 0600 "$work/authkey"
touch "$work/cluster/pacemaker.log"
chown hacluster:haclient "$work/cluster/pacemaker.log"
chmod 0660 "$work/cluster/pacemaker.log"

cat >"$work/cluster/etc-corosync/corosync.conf" <<EOF
totem {
    version: 2
    cluster_name: lrmtest
    transport: knet
    crypto_cipher: none
    crypto_hash: none
}
nodelist {
    node {
        ring0_addr: 127.0.0.1
        name: node1
        nodeid: 1
    }
}
quorum {
    provider: corosync_votequorum
    expected_votes: 1
}
logging {
    to_logfile: yes
    logfile: $work/cluster/corosync.log
    to_syslog: no
    to_stderr: no
    timestamp: on
}
EOF

# stonith-enabled=false: without fencing devices nothing would start.
# dc-deadtime=2s: the first election would otherwise wait 20 s.
cat >"$work/cluster/lib-pacemaker/cib/cib.xml" <<'EOF'
<cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="false"/>
        <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value="2s"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
EOF
chown hacluster:haclient "$work/cluster/lib-pacemaker/cib/cib.xml"
chmod 0600 "$work/cluster/lib-pacemaker/cib/cib.xml"

# ---------------------------------------------------------------------------
# Namespaces: the cluster's and the remote's, joined by a veth pair.

ip netns add "$ns_cluster"
ip netns add "$ns_remote"
ip link add "$veth_cluster" type veth peer name "$veth_remote"
ip link set "$veth_cluster" netns "$ns_cluster"
ip link set "$veth_remote" netns "$ns_remote"
ip -n "$ns_cluster" addr add 10.200.0.1/24 dev "$veth_cluster"
ip -n "$ns_remote" addr add 10.200.0.2/24 dev "$veth_remote"
ip -n "$ns_cluster" link set "$veth_cluster" up
ip -n "$ns_remote" link set "$veth_remote" up

ip netns exec "$ns_cluster" unshare --mount --pid --fork --kill-child --mount-proc \
  "$self" --cluster-node "$work" &
cluster_pid=$!
ip netns exec "$ns_remote" unshare --mount --pid --fork --kill-child --mount-proc \
  "$self" --remote-node "$work" &
remote_pid=$!

# Each node's pid 1 (unshare's child) is where commands enter its namespaces.
child_of() { pgrep -P "$1" | head -n 1; }
wait_for "the cluster's namespaces to exist" 10 child_of "$cluster_pid"
cluster_init=$(child_of "$cluster_pid")
# The remote's pid 1 has mounted everything once it is sleep.
remote_ready() { [ "$(cat /proc/"$(child_of "$remote_pid")"/comm 2>/dev/null)" = sleep ]; }
wait_for "the remote node's namespaces to exist" 10 remote_ready
remote_init=$(child_of "$remote_pid")

# spawn_in_remote NAME STDERR_FILE COMMAND...: starts COMMAND on the remote
# node (its namespaces) in the background; sets NAME_wrapper to the nsenter
# around it and NAME_pid to the command itself.
spawn_in_remote() {
  local name=$1 stderr_file=$2 wrapper status=0
  shift 2
  nsenter -t "$remote_init" -m -n -p "$@" 2>>"$stderr_file" &
  wrapper=$!
  spawned() { [ -n "$(child_of "$wrapper")" ] || ! kill -0 "$wrapper" 2>/dev/null; }
  wait_for "$1 to start on the remote node" 10 spawned
  if [ -z "$(child_of "$wrapper")" ]; then
    wait "$wrapper" || status=$?
    fail "$1 exited as it started, status $status"
  fi
  printf -v "${name}_wrapper" %s "$wrapper"
  printf -v "${name}_pid" %s "$(child_of "$wrapper")"
}

# ---------------------------------------------------------------------------
# The remote node's daemons.

lrmd_socket="$work/remote/run/lrm/lrmd.sock"   # /run/lrm/lrmd.sock inside
lrmctl() { "$build/bin/lrmctl" --socket "$lrmd_socket" "$@"; }

start_lrmd() {
  mkdir -p "$work/remote/run/lrm"
  spawn_in_remote lrmd "$work/remote/lrmd.stderr" \
    "$build/bin/lrmd" --foreground --socket /run/lrm/lrmd.sock \
    --state-dir "$work/remote/state" --log-target "$work/remote/lrmd.log"
  wait_for "lrmd to serve" 30 lrmctl ping
}

start_remoted() {
  if [ "$remote_kind" = lrm ]; then
    spawn_in_remote remoted "$work/remote/lrm-remoted.stderr" \
      "$build/bin/lrm-remoted" --foreground --socket /run/lrm/lrmd.sock \
      --address 10.200.0.2 --authkey "$work/authkey" --log-target "$work/remote/lrm-remoted.log"
  else
    spawn_in_remote remoted "$work/remote/pacemaker-remoted.stderr" \
      env PCMK_logfile="$work/remote/pacemaker-remoted.log" PCMK_logfacility=none \
      PCMK_authkey_location="$work/authkey" PCMK_remote_address=10.200.0.2 "$pacemaker_remoted"
  fi
}

if [ "$remote_kind" = pacemaker-remoted ]; then
  pacemaker_remoted=${PACEMAKER_REMOTED:-}
  if [ -z "$pacemaker_remoted" ]; then
    # pacemaker-remote conflicts with pacemaker: unpacked, not installed.
    pacemaker_remoted=$("$here/../../tools/fetch-pacemaker-remote.sh" "$build/pacemaker-remote") ||
      skip "cannot download pacemaker-remote (set PACEMAKER_REMOTED=/path/to/pacemaker-remoted)"
  fi
else
  start_lrmd
fi
start_remoted

# ---------------------------------------------------------------------------
# Scenarios.

scenario "the cluster comes up"
dc_idle() { in_cluster crmadmin -q -S node1 2>&1 | grep -q S_IDLE; }
wait_for "node1 to be the idle DC" 60 dc_idle

scenario "the remote node comes online"
in_cluster cibadmin -C -o resources -X '
  <primitive id="rnode1" class="ocf" provider="pacemaker" type="remote">
    <instance_attributes id="rnode1-instance_attributes">
      <nvpair id="rnode1-server" name="server" value="10.200.0.2"/>
      <nvpair id="rnode1-reconnect_interval" name="reconnect_interval" value="2s"/>
    </instance_attributes>
    <operations>
      <op id="rnode1-monitor-5s" name="monitor" interval="5s" timeout="15s"/>
    </operations>
  </primitive>'
wait_for "rnode1 to be online" 30 node_online rnode1

# place_dummy ID: an ocf:pacemaker:Dummy allowed only on rnode1, monitored
# every second; created stopped because a constraint cannot name a
# resource that does not exist yet.
place_dummy() {
  local id=$1
  in_cluster cibadmin -C -o resources -X "
    <primitive id=\"$id\" class=\"ocf\" provider=\"pacemaker\" type=\"Dummy\">
      <meta_attributes id=\"$id-meta_attributes\">
        <nvpair id=\"$id-meta_attributes-target-role\" name=\"target-role\" value=\"Stopped\"/>
      </meta_attributes>
      <operations>
        <op id=\"$id-monitor-1s\" name=\"monitor\" interval=\"1s\" timeout=\"20s\"/>
      </operations>
    </primitive>"
  in_cluster cibadmin -C -o constraints -X "<rsc_location id=\"$id-on-rnode1\" rsc=\"$id\" node=\"rnode1\" score=\"INFINITY\"/>"
  in_cluster cibadmin -C -o constraints -X "<rsc_location id=\"$id-not-node1\" rsc=\"$id\" node=\"node1\" score=\"-INFINITY\"/>"
  in_cluster crm_resource -r "$id" --meta -d target-role >/dev/null
}

# cluster_view RESOURCE: what the cluster knows of it on rnode1: the last
# operation (id, call, rc, status), whether a failure is recorded, the
# fail-count, the connection's last operation and failure.
cluster_view() {
  local h op
  h=$(history "$1")
  for op in "$1_last_0" "$1_last_failure_0" "$1_monitor_1000"; do
    echo "$op: $(op_attr "$h" "$op" operation_key) call $(op_attr "$h" "$op" call-id)" \
      "rc $(op_attr "$h" "$op" rc-code) status $(op_attr "$h" "$op" op-status)"
  done
  echo "fail-count $(failcount "$1")"
  h=$(history rnode1 node1)
  for op in rnode1_last_0 rnode1_last_failure_0; do
    echo "$op: $(op_attr "$h" "$op" operation_key) call $(op_attr "$h" "$op" call-id)"
  done
}
lost_connections() { grep -cF "Lost connection to Pacemaker Remote node rnode1" "$work/cluster/pacemaker.log" || true; }
connection_starts() { grep -cF "Requesting local execution of start operation for rnode1 " "$work/cluster/pacemaker.log" || true; }
failed_connection_starts() {
  grep -F "Result of start operation for rnode1 on node1: " "$work/cluster/pacemaker.log" | grep -vc ": ok |" || true
}
# lrmd_last RESOURCE ACTION INTERVAL_MS FIELD: a field of lrmd's last result
# of that operation (rc, t_run: when it ran, epoch s); empty when none.
lrmd_last() {
  lrmctl --json info "$1" | grep -o "\"action\":\"$2\",\"interval_ms\":$3,[^}]*" |
    sed -n "s/.*\"$4\":\\([0-9]*\\).*/\\1/p"
}
lrmd_last_run() { lrmd_last "$1" "$2" "$3" t_run; }

started_and_monitored() { # RESOURCE: last op a successful start, monitor running fine
  local h
  h=$(history "$1")
  op_ok "$h" "$1_last_0" start && op_ok "$h" "$1_monitor_1000" monitor 1000
}

scenario "a Dummy is placed on the remote node, probed, started and monitored"
place_dummy d1
wait_for "d1 to be started and monitored on rnode1" 30 started_and_monitored d1
wait_for "the probe of d1 on rnode1 in the controller's log" 10 \
  log_has "Result of probe operation for d1 on rnode1: not running"
[ -e "$work/remote/run/Dummy-d1.state" ] || fail "d1's state file is not in the remote node's /run"
if [ "$remote_kind" = lrm ]; then
  # lrmd itself ran the probe, the start and the recurring monitor.
  [ "$(lrmd_last d1 monitor 0 rc)/$(lrmd_last d1 start 0 rc)/$(lrmd_last d1 monitor 1000 rc)" = 7/0/0 ] ||
    fail "lrmd's results of d1 (probe/start/monitor) are not 7/0/0: $(lrmctl info d1)"
fi

scenario "breaking d1 from outside its node is detected and Pacemaker recovers it"
start_call=$(op_attr "$(history d1)" d1_last_0 call-id)
rm "$work/remote/run/Dummy-d1.state"   # the remote's /run, from the host's side
monitor_failed() {
  local h
  h=$(history d1)
  [ "$(op_attr "$h" d1_last_failure_0 operation_key)/$(op_attr "$h" d1_last_failure_0 rc-code)" = d1_monitor_1000/7 ]
}
wait_for "d1's monitor failure (not running) to be recorded" 30 monitor_failed
wait_for "d1's fail-count to be 1" 30 failcount_is d1 1
restarted() { # RESOURCE CALL_ID: started again after that call, monitored since
  local h
  h=$(history "$1")
  op_ok "$h" "$1_last_0" start && op_ok "$h" "$1_monitor_1000" monitor 1000 &&
    [ "$(op_attr "$h" "$1_last_0" call-id)" -gt "$2" ] &&
    [ "$(op_attr "$h" "$1_monitor_1000" call-id)" -gt "$(op_attr "$h" "$1_last_0" call-id)" ]
}
wait_for "d1 to be started again" 30 restarted d1 "$start_call"
[ -e "$work/remote/run/Dummy-d1.state" ] || fail "d1 was restarted but its state file is missing"
failcount_is d1 1 || fail "d1's fail-count is $(failcount d1) after one failure, not 1"

# The upgrade in place: lrmd replaces its image while monitors run every
# second; the cluster must see nothing (same start, no failure, no new
# fail-count, the connection untouched) and monitors must go on.
if [ "$remote_kind" = lrm ]; then
  scenario "lrmctl upgrade of lrmd while the cluster watches changes nothing the cluster sees"
  history_before=$(cluster_view d1)
  start_before=$(lrmd_last_run d1 start 0)
  # Three upgrades in a row, each once lrmd has run another monitor (every
  # second), then monitors for three more seconds, by lrmd's own record.
  monitored_since() { [ "$(lrmd_last_run d1 monitor 1000)" -ge "$1" ]; }
  for upgrade in 1 2 3; do
    wait_for "a monitor of d1 before upgrade $upgrade" 30 monitored_since $(($(date +%s) + 1))
    lrmctl upgrade >/dev/null || fail "lrmctl upgrade failed (upgrade $upgrade)"
    kill -0 "$lrmd_pid" || fail "lrmd's pid $lrmd_pid is gone after upgrade $upgrade"
  done
  wait_for "d1 to be monitored 3 s after the upgrades" 30 monitored_since $(($(date +%s) + 3))
  [ "$(lrmd_last_run d1 start 0)" = "$start_before" ] || fail "lrmd ran a start of d1 during the upgrade"
  [ "$(cluster_view d1)" = "$history_before" ] ||
    fail "the cluster's view of d1 changed across the upgrade: before: $history_before; after: $(cluster_view d1)"
  node_online rnode1 || fail "rnode1 went offline during the upgrade"
fi

# What Pacemaker does when the remote daemon dies (seen with
# pacemaker-remoted): the connection's monitor fails ("Lost connection to
# Pacemaker Remote node"), the node is lost (unclean; without fencing it is
# taken as down), the connection is stopped and, after reconnect_interval,
# started again; the resources are probed again and, found running, only
# monitored again: no stop, no start; the lost node's transient attributes,
# fail-counts included, are erased (so d1's is 0 afterwards). lrm
# does the same when lrmd dies: lrm-remoted closes the cluster's
# connections and reconnects to the restarted lrmd.
if [ "$remote_kind" = lrm ]; then
  scenario "kill -9 of lrmd and its restart"
else
  scenario "kill -9 of pacemaker-remoted and its restart"
fi
monitor_key=$(op_attr "$(history d1)" d1_monitor_1000 transition-key)
[ -n "$monitor_key" ] || fail "d1 has no recurring monitor in the CIB"
lost_before=$(lost_connections)
starts_before=$(connection_starts) start_failures_before=$(failed_connection_starts)
if [ "$remote_kind" = lrm ]; then
  kill -KILL "$lrmd_pid"
  { wait "$lrmd_wrapper"; } 2>/dev/null || true
  lrmd_wrapper="" lrmd_pid=""
  # Without lrmd, lrm-remoted does not listen: the cluster's reconnection
  # attempt is refused, which the controller retries until the connection's
  # start times out (a TLS session closed at once would be a wrong key to
  # liblrmd, a hard error). Keep lrmd down until that attempt has begun.
  wait_for "lrm-remoted to stop listening without lrmd" 30 \
    grep -q "until lrmd at /run/lrm/lrmd.sock is reachable" "$work/remote/lrm-remoted.log"
  reconnecting() { [ "$(connection_starts)" -gt "$starts_before" ]; }
  wait_for "the cluster to try reconnecting to rnode1 while lrmd is down" 60 reconnecting
  start_lrmd
else
  kill -KILL "$remoted_pid"
  { wait "$remoted_wrapper"; } 2>/dev/null || true
  remoted_wrapper="" remoted_pid=""
  start_remoted
fi
connection_lost() { [ "$(lost_connections)" -gt "$lost_before" ]; }
wait_for "the cluster to see the connection lost" 30 connection_lost
# probed_and_monitored RESOURCE OLD_MONITOR_KEY: its last operation a probe
# that found it running, and a new recurring monitor running fine.
probed_and_monitored() {
  local h
  h=$(history "$1")
  op_ok "$h" "$1_last_0" monitor 0 && op_ok "$h" "$1_monitor_1000" monitor 1000 &&
    [ "$(op_attr "$h" "$1_monitor_1000" transition-key)" != "$2" ]
}
found_running_again() { node_online rnode1 && probed_and_monitored d1 "$monitor_key"; }
wait_for "d1 to be probed (found running, not restarted) and monitored again on rnode1" 60 found_running_again
failcount_is d1 0 || fail "d1's fail-count is $(failcount d1), not 0 as after a lost node"
[ "$(failed_connection_starts)" = "$start_failures_before" ] ||
  fail "the cluster's reconnection to rnode1 failed instead of being retried until lrmd was back"
[ -e "$work/remote/run/Dummy-d1.state" ] || fail "d1's state file vanished"

scenario "crm_resource --refresh forgets d1 and finds it running"
monitor_key=$(op_attr "$(history d1)" d1_monitor_1000 transition-key)
in_cluster crm_resource --refresh -r d1 >/dev/null
wait_for "d1 to be probed again, found running and monitored" 30 probed_and_monitored d1 "$monitor_key"
failcount_is d1 0 || fail "d1's fail-count is $(failcount d1) after the refresh, not 0"
# lrmd's d1 is a new registration: its results start with the new probe.
if [ "$remote_kind" = lrm ]; then
  [ "$(lrmd_last d1 monitor 0 rc)/$(lrmd_last d1 start 0 rc)" = 0/ ] ||
    fail "lrmd's d1 was not registered anew by the refresh: $(lrmctl info d1)"
fi

scenario "deleting d1 stops it and removes it from the remote node"
in_cluster crm_resource -r d1 --meta -p target-role -v Stopped >/dev/null
stopped() { op_ok "$(history "$1" "${2:-rnode1}")" "$1_last_0" stop; } # RESOURCE [NODE]
wait_for "d1 to be stopped" 30 stopped d1
[ ! -e "$work/remote/run/Dummy-d1.state" ] || fail "d1 was stopped but its state file is still there"
in_cluster cibadmin -D -o constraints -X '<rsc_location id="d1-on-rnode1"/>'
in_cluster cibadmin -D -o constraints -X '<rsc_location id="d1-not-node1"/>'
in_cluster cibadmin -D -o resources -X '<primitive id="d1"/>'
wait_for "d1's history to leave the CIB" 30 cib_lacks "$remote_ops/lrm_resource[@id='d1']"
if [ "$remote_kind" = lrm ]; then
  lrmd_forgot() { ! lrmctl info d1; }
  wait_for "lrmd to forget d1" 30 lrmd_forgot
fi

# The shutdown handshake: SIGTERM makes lrm-remoted ask the cluster
# (shutdown_req); the cluster stops the node's resources and acknowledges;
# lrm-remoted exits 0 after the acknowledgement and the disconnect.
# (pacemaker-remoted 2.1.5 exits at once instead, an upstream bug fixed in
# 2.1.6, so this runs against lrm only.)
if [ "$remote_kind" = lrm ]; then
  scenario "SIGTERM to lrm-remoted: the cluster stops the resources, then lrm-remoted exits 0"
  place_dummy d2
  wait_for "d2 to be started and monitored on rnode1" 30 started_and_monitored d2
  connection_failure() { op_attr "$(history rnode1 node1)" rnode1_last_failure_0 transition-magic; }
  connection_failure_before=$(connection_failure)
  kill -TERM "$remoted_pid"
  remoted_exited() { ! kill -0 "$remoted_pid" 2>/dev/null; }
  wait_for "lrm-remoted to exit after SIGTERM" 60 remoted_exited
  status=0
  wait "$remoted_wrapper" || status=$?
  remoted_wrapper="" remoted_pid=""
  [ $status -eq 0 ] || fail "lrm-remoted exited with status $status after SIGTERM, not 0"
  # The stop's result reached the controller through lrm-remoted: before it exited.
  wait_for "the controller to log lrm-remoted's shutdown request" 10 \
    log_has "rnode1 requested shutdown of its remote connection"
  wait_for "the controller to log d2's stop" 10 log_has "Result of stop operation for d2 on rnode1: ok"
  [ -n "$(lrmd_last_run d2 stop 0)" ] || fail "lrmd did not run a stop of d2"
  [ ! -e "$work/remote/run/Dummy-d2.state" ] || fail "d2 is still running on the remote node"
  node_offline() { ! node_online rnode1; }
  wait_for "rnode1 to be offline" 30 node_offline
  wait_for "the cluster to stop the connection" 30 stopped rnode1 node1
  [ "$(connection_failure)" = "$connection_failure_before" ] ||
    fail "the cluster took lrm-remoted's exit for a failure of the connection: $(connection_failure)"
fi

echo "cluster test: passed in $((SECONDS - started_at)) s ($remote_kind)"
