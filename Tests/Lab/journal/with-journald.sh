#!/usr/bin/env bash
# Runs COMMAND in a private mount namespace in which a real systemd-journald listens on
# /run/systemd/journal/socket (tmpfs over /run and /var/log/journal, so nothing of the host's is
# touched or seen). Used by the audit.journal lab test: `up` sends to the journal's default path,
# and the test reads what journald stored with
#   nsenter --mount --target PID journalctl -D /run/log/journal -o json
# where PID is the one this script was started as: after the setup it execs COMMAND, so COMMAND
# has that pid. journald is stopped when COMMAND exits.
# Needs root (unshare -m); systemd's journald comes with the `systemd` package (make deps).
# Usage: with-journald.sh COMMAND [ARG...]
set -euo pipefail
if [[ ${1:-} != --inside ]]; then
  exec unshare --mount --propagation private -- "$0" --inside "$@"
fi
shift
mount -t tmpfs -o mode=0755 tmpfs /run
[[ -d /var/log/journal ]] && mount -t tmpfs -o mode=0755 tmpfs /var/log/journal
mkdir -p /run/systemd/journal /run/log/journal
journald=/lib/systemd/systemd-journald
[[ -x $journald ]] || journald=/usr/lib/systemd/systemd-journald
# --pdeathsig: journald goes when this process (by then COMMAND) does, even on SIGKILL.
setpriv --pdeathsig TERM "$journald" </dev/null >/dev/null 2>&1 &
journald_pid=$!
# journald creates its sockets itself when not socket-activated; wait for the native one.
for _ in $(seq 600); do
  [[ -S /run/systemd/journal/socket ]] && break
  kill -0 "$journald_pid" 2>/dev/null || { echo "with-journald: systemd-journald exited" >&2; exit 1; }
  sleep 0.1
done
[[ -S /run/systemd/journal/socket ]] || { echo "with-journald: no journal socket after 60 s" >&2; exit 1; }

# COMMAND becomes this process (its pid is the one the caller started): signals reach it directly,
# whatever signal mask this shell inherited. journald gets SIGTERM when it exits (--pdeathsig).
exec "$@"
