#!/bin/bash
# A fork that would not fit on the state folder's disk fails with ENOSPC
# before anything is made, and leaves the parent as it was.
. "$(dirname "$0")/lib.sh"

need_daemon_prereqs
plan 7
small=$T/small
mkdir -p "$small"
mount -t tmpfs -o size=48m tmpfs "$small" || fatal "mount a 48 MiB tmpfs"
at_exit "umount -l '$small'"
start_daemon --state "$small/state" || fatal "daemon with its state on 48 MiB"
fs mkdir "$M/p" || fatal "mkdir p"
run_job p -- 'echo kept > /tmp/mark'
is "$(errno_of write "$M/p/ctl" $'pause\n')" OK "pause"
is "$(errno_of write "$M/p/ctl" $'fork c\n')" ENOSPC "fork to a full disk fails with ENOSPC"
like "$(status_of "$M/p/status" error)" 'MiB free' "saying how much is free and needed"
ok "no half-made child in the tree" test ! -e "$M/c"
ok "nor in the state folder" test ! -e "$small/state/sandboxes/c"
is "$(errno_of write "$M/p/ctl" $'resume\n')" OK "the parent resumes"
run_job p -- 'cat /tmp/mark'
is "$OUT" kept "with its files"
