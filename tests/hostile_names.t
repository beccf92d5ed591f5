#!/bin/bash
# Names and bytes a new user threw at the tree: a sandbox named like the
# daemon's own folders, forks onto the root's files, control bytes in a
# name, a file read after its sandbox went, a stdin flood.
. "$(dirname "$0")/lib.sh"

need_daemon_prereqs
plan 12
start_daemon || fatal "daemon mounts the tree"
fs mkdir "$M/first" || fatal "mkdir first"

ok "a sandbox may be called templates" fs mkdir "$M/templates"
ok "and removed" fs rmdir "$M/templates"
t0=$(now_ms)
ok "mkdir still works after that" fs mkdir "$M/after"
ok "warm, from the template ($(( $(now_ms) - t0 )) ms)" sh -c \
	"timeout 2 cat '$M/after/events' | grep -q 'running from=template\$'"

is "$(errno_of write "$M/first/ctl" $'pause\n')" OK "pause"
bad=
for n in status ctl networks shapes images; do
	[ "$(errno_of write "$M/first/ctl" "fork $n"$'\n')" = EEXIST ] || bad="$bad $n"
done
is "$bad" "" "fork onto each of the root's files fails with EEXIST"
is "$(status_of "$M/status" sandboxes)" 2 "and makes no sandbox"

is "$(errno_of mkdir "$M/$(printf 'n\nl')")" EINVAL "a name with a newline is EINVAL"
is "$(wc -l <"$M/status")" 4 "and the root's status keeps one key a line"
like "$(status_of "$M/status" error)" 'n\\x0al' "with the byte escaped"

exec 5<"$M/after/status"
fs rmdir "$M/after"
ok "a file opened before rmdir reads as empty, not an error" sh -c 'cat <&5 >/dev/null'
exec 5<&-

is "$(errno_of write "$M/first/ctl" $'resume\n')" OK "resume"
