#!/usr/bin/env bash
# No blocking call on Swift's cooperative pool: it has one thread per core (two on CI), so one task
# parked in a socket wait, a sleep, a child-process wait, an flock, a D-Bus or ssh-agent round trip
# stalls every other task of the process. Lists each call in the given directories (relative to
# the repository root; default: Sources Tests) that can block its thread and carries no
# `// off-pool: <reason>` comment on its own or the previous line — the reason says where it runs
# (a dedicated thread, an event loop, `runOffPool`) or why it cannot block there. Exit 1 when one
# is found. A file whose every function is for callers already off the pool (LabSupport's
# synchronous lab helpers, called from `.offPool` suites or `offPool {}`) says so once with a
# `// off-pool-file: <reason>` line instead.
#
#   scripts/check-blocking.sh                 # Sources and Tests
#   scripts/check-blocking.sh Sources/AuditLog
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- Sources Tests
for dir in "$@"; do
  [ -d "$dir" ] || { echo "check-blocking: no directory $dir" >&2; exit 2; }
done

# The blocking calls, one extended regular expression (awk) per line. `free` is a call of a C or
# free function (not a method of the same name); `posix` asks for two unlabelled arguments, which
# Swift methods named read/send/connect… do not have (a call split after its `(` counts too).
free='(^|[^.A-Za-z0-9_]|Glibc[.]|Foundation[.])'
posix='[(]([^:,()]+,[^:,]+,|[ \t]*$)'
patterns="
${free}(sleep|usleep|nanosleep)[(]
Thread[.]sleep[(]
${free}waitpid[(]
[.]waitUntilExit[(]
[.]wait[(]
readDataToEndOfFile|[.]readToEnd[(]|[.]availableData|${free}readLine[(]
${free}flock[(]
${free}(accept4?|connect|recv|recvfrom|recvmsg|send|sendto|sendmsg|read|pread|poll|ppoll|select|epoll_wait)${posix}
[.]accept[(][)]
${free}getaddrinfo[(]
_sync[(]|[.]syncShutdown[(]
libssh2_agent_(connect|list_identities|userauth)[(]
"
# A line holding one of these asks for the non-blocking form, so it is not a hit.
nonblocking='LOCK_NB|LOCK_UN|MSG_DONTWAIT|WNOHANG'

files=$(find "$@" -name '*.swift' -not -path '*/.build/*' | sort | while read -r f; do
  grep -q '// off-pool-file:' "$f" || echo "$f"
done)
[ -n "$files" ] || exit 0
# shellcheck disable=SC2086 # one file name per word
PATTERNS=$patterns NONBLOCKING=$nonblocking awk '
  BEGIN { count = split(ENVIRON["PATTERNS"], list, "\n") }
  FNR == 1 { previous = "" }
  {
    code = $0
    gsub(/"([^"\\]|\\.)*"/, "\"\"", code)  # string literals and comments name calls
    sub(/\/\/.*/, "", code)                    # without making them
    annotated = ($0 ~ /\/\/ off-pool:/ || previous ~ /\/\/ off-pool:/)
    previous = $0
    if (annotated || code ~ ENVIRON["NONBLOCKING"]) next
    for (i = 1; i <= count; i++) {
      if (list[i] == "" || !match(code, list[i])) continue
      before = substr(code, 1, RSTART - 1)
      # `await x.wait()` is an async wait; `func sleep(` declares one.
      if (before ~ /await/ || before ~ /func[ \t]*$/ || substr(code, RSTART, RLENGTH) ~ /^func/) continue
      line = $0
      sub(/^[ \t]+/, "", line)
      printf "%s:%d: %s\n", FILENAME, FNR, line
      hits++
      break
    }
  }
  END {
    if (hits) {
      printf "check-blocking: %d blocking call(s) without an `// off-pool: <where it runs>` comment\n", hits > "/dev/stderr"
      exit 1
    }
  }
' $files
echo "blocking calls: every one is off the cooperative pool or says why it may stay"
