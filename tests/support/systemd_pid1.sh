#!/bin/sh
# PID 1 of fresh namespaces, until it becomes systemd: the one recipe for a
# hermetic systemd manager, used by the tests' SystemdManager
# (tests/support/systemd_manager.cpp) and by bench/systemd.sh. Started as
#
#   unshare --pid --fork --kill-child --mount --mount-proc --uts --ipc \
#     --cgroup --propagation private /bin/sh systemd_pid1.sh DIR FIXTURES
#
# by a process already moved into the manager's own, empty cgroup. DIR holds
# units/ (the caller's units, which win over those of FIXTURES), run-units/
# and run-dbus/, which become the manager's /run/systemd/system (drop-ins) and
# /run/dbus (its bus socket): reachable from the host at fixed paths, and kept
# across a restart of the manager. Never the host's unit directories, never
# multi-user.target: that would start the host's services.
set -eu
dir=$1
fixtures=$2

# Enough for basic.target, the system bus, journald and Manager.Exit.
for unit in basic.target sysinit.target sockets.target paths.target slices.target timers.target \
    shutdown.target final.target exit.target halt.target poweroff.target reboot.target \
    umount.target dbus.socket dbus.service systemd-journald.service systemd-journald.socket \
    systemd-journald-dev-log.socket systemd-journald-audit.socket systemd-exit.service \
    systemd-halt.service systemd-poweroff.service; do
  cp "/lib/systemd/system/$unit" "$dir/units/$unit"
done
for file in "$fixtures"/*; do
  [ -e "$dir/units/${file##*/}" ] || cp "$file" "$dir/units/"
done

# A private /run (the bus and unit directories bound from DIR), a volatile
# journal (the host's /var/log/journal untouched), and a cgroup2-only view
# rooted at the manager's own cgroup.
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/system /run/dbus /run/systemd/journald.conf.d
mount --bind "$dir/run-units" /run/systemd/system
mount --bind "$dir/run-dbus" /run/dbus
printf '[Journal]\nStorage=volatile\n' >/run/systemd/journald.conf.d/lrm-test.conf
umount -l /sys/fs/cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup

# No trailing ':' in the unit path: only these directories, none of the host's.
export container=lrm-test SYSTEMD_UNIT_PATH="/run/systemd/system:$dir/units"
exec /lib/systemd/systemd --system --unit=lrm-test.target --log-target=journal --show-status=no
