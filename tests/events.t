#!/bin/bash
# The events file: format, order, a log that only grows, and reads that
# block at the end like a pipe and wake when the next event comes.
. "$(dirname "$0")/lib.sh"

need_daemon_prereqs
start_daemon || fatal "daemon mounts the tree"
t0=$(now_ms)
fs mkdir "$M/e" || fatal "mkdir e"

log=$(events_now e)
is "$(event_types e)" "created running" "a new sandbox has 'created' then 'running'"

n=$(exec_job e -- 'echo hi')
is "$(wait_job e "$n" 20)" "exited 0" "a job runs"

# head returns after three events even though the file never ends.
h=$(FS_TIMEOUT=20 fs head -n 3 "$M/e/events")
is "$?" 0 "head -n 3 events returns"
is "$(awk '{ print $3 }' <<<"$h" | tr '\n' ' ')" "created running job-start " \
	"created, running, job-start in order"

log=$(events_now e)
is "$(awk '{ print $3 }' <<<"$log" | tr '\n' ' ')" "created running job-start job-exit " \
	"then job-exit"
like "$(sed -n 3p <<<"$log")" "^3 [0-9]+ job-start job=$n( |\$)" "job-start job=$n"
like "$(sed -n 4p <<<"$log")" "^4 [0-9]+ job-exit job=$n code=0( |\$)" "job-exit job=$n code=0"
is "$(awk '{ print $1 }' <<<"$log" | tr '\n' ' ')" "1 2 3 4 " "SEQ counts from 1"
ok "UNIX_MS is milliseconds since the epoch, in order, near now" \
	awk -v t0="$t0" -v t1="$(now_ms)" '
		$2 !~ /^[0-9]+$/ || $2 < prev || $2 < t0 - 60000 || $2 > t1 + 60000 { bad = 1 }
		{ prev = $2 }
		END { exit bad }' <<<"$log"

size=$(stat -c %s "$M/e/events")
is "$size" "$(printf '%s\n' "$log" | wc -c)" "st_size is the log's true length"

t=$(FS_TIMEOUT=10 fs tail -n 2 "$M/e/events")
is "$t" "$(tail -n 2 <<<"$log")" "tail -n 2 events returns the last two"

# A follower started now sees everything, then wakes for new events.
cat "$M/e/events" >"$T/follow" 2>"$T/follow.err" &
follower=$!
sleep 1
is "$(cat "$T/follow")" "$log" "a blocked reader has the whole log so far"
ok "and is still blocked at the end" kill -0 "$follower"

n=$(exec_job e -- true)
woke=no
for ((i = 0; i < 100; i++)); do
	grep -q " job-exit job=$n " "$T/follow" 2>/dev/null ||
		grep -q " job-exit job=$n\$" "$T/follow" 2>/dev/null && { woke=yes; break; }
	sleep 0.1
done
is "$woke" yes "the blocked read woke for the new events"
sleep 0.5
is "$(cat "$T/follow")" "$(events_now e)" "the follower neither missed nor duplicated an event"
kill "$follower" 2>/dev/null
wait "$follower" 2>/dev/null

# poll(): a reader that has read all there is (as many bytes as st_size
# says, so the read does not block) is not readable; it is readable once
# an event past its offset exists.  The daemon learns a reader's offset
# from its reads, not from lseek, so the reader reads rather than seeks.
timeout 40 perl -e '
	open(my $fh, "<", $ARGV[0]) or die "open: $!";
	my $size = -s $fh;
	my $have = 0;
	while ($have < $size) {
		my $got = sysread($fh, my $chunk, $size - $have);
		die "read: $!" unless $got;
		$have += $got;
	}
	my $rin = ""; vec($rin, fileno($fh), 1) = 1;
	my $n = select(my $r = $rin, undef, undef, 1);
	print "idle=$n\n";
	system("sh", "-c", "echo \"exec -- true\" >$ARGV[1]");
	$n = select($r = $rin, undef, undef, 20);
	print "after=$n\n";
	my $got = sysread($fh, my $buf, 4096);
	print "read=", ($got // -1) > 0 ? "data" : "none", "\n";
' "$M/e/events" "$M/e/ctl" >"$T/poll" 2>&1 &
wait $!
pl=$(cat "$T/poll")
like "$pl" 'idle=0' "poll: not readable at the end of the log"
like "$pl" 'after=1' "poll: readable once a new event exists"
like "$pl" 'read=data' "and the read returns it"

ok "rmdir e" fs rmdir "$M/e"
