#!/bin/bash
# Jobs in one sandbox: a real guest kernel, exit codes and signals, output
# streams kept apart and whole, stdin and its EOF, concurrency, timeouts.
. "$(dirname "$0")/lib.sh"

need_daemon_prereqs
start_daemon || fatal "daemon mounts the tree"
fs mkdir "$M/j" || fatal "mkdir j"

# --- a different kernel ---
run_job j -- uname -r
is "$STATUS" "exited 0" "uname -r exits 0"
ok "the guest kernel '$OUT' is not the host's '$(uname -r)'" \
	test -n "$OUT" -a "$OUT" != "$(uname -r)"

# --- the job number comes back on the open ctl ---
exec {fd}<>"$M/j/ctl"
printf 'exec -- echo numbered\n' >&"$fd"
n=
read -r -t 30 n <&"$fd"
exec {fd}>&-
like "$n" '^[0-9]+$' "reading the open ctl after exec returns the job number"
ok "jobs/$n exists" test -n "$n" -a -d "$M/j/jobs/$n"
is "$(fs cat "$M/j/jobs/$n/stdout")" numbered "and it is that job"

# --- exit codes and signals ---
run_job j -- true
is "$STATUS" "exited 0" "true: exited 0"
run_job j -- exit 3
is "$STATUS" "exited 3" "exit 3: exited 3"
run_job j -- "sh -c 'kill -9 \$\$'"
like "$STATUS" '^killed signal (9|KILL|SIGKILL)$' "sh -c 'kill -9 \$\$': killed by signal 9"
run_job j -- 'kill -TERM $$'
like "$STATUS" '^killed signal (15|TERM|SIGTERM)$' "kill -TERM \$\$: killed by signal 15"

# --- output ---
run_job j -- "printf 'one\ntwo'"
is "$(fs cat "$M/j/jobs/$JOB/stdout" | od -An -c | tr -s ' ')" \
	"$(printf 'one\ntwo' | od -An -c | tr -s ' ')" "a last line without newline arrives whole"
run_job j -- 'echo out; echo err >&2; echo out2'
is "$OUT" $'out\nout2' "stdout holds only stdout"
is "$ERR" err "stderr holds only stderr"

t0=$(now_ms)
run_job j -- 'echo a; sleep 2; echo b'
is "$OUT" $'a\nb' "cat of stdout streams until the job ends"
ok "and waited for the job (took $(($(now_ms) - t0)) ms)" test $(($(now_ms) - t0)) -ge 1500

n=$(exec_job j -- 'cd /tmp && head -c 20971520 /dev/urandom >big && sha256sum big >&2 && cat big && rm big')
fs cat "$M/j/jobs/$n/stdout" >"$T/big"
is "$(wait_job j "$n" 120)" "exited 0" "20 MB job exits 0"
guest=$(fs cat "$M/j/jobs/$n/stderr")
is "$(wc -c <"$T/big")" 20971520 "20 MB of stdout, every byte"
is "$(sha256sum <"$T/big" | cut -d' ' -f1)" "${guest%% *}" "sha256 of the host's copy equals the guest's"
rm -f "$T/big"

# --- stdin ---
n=$(exec_job j -- 'cat; echo done')
ok "a job reading stdin started" test -n "$n"
sleep 0.5
is "$(fs cat "$M/j/jobs/$n/status")" running "it waits for input"
printf 'hello\nworld\n' >"$M/j/jobs/$n/stdin"
is "$(wait_job j "$n" 20)" "exited 0" "closing stdin gives the job EOF"
is "$(fs cat "$M/j/jobs/$n/stdout")" $'hello\nworld\ndone' "stdin reached the job"

# --- cwd, env ---
run_job j cwd=/tmp env=FOO=bar env=BAZ= -- 'pwd; echo "$FOO" "[$BAZ]"'
is "$OUT" $'/tmp\nbar []' "exec cwd= and env= reach the job"

# --- kills ---
n=$(exec_job j -- sleep 100)
echo kill >"$M/j/jobs/$n/ctl"
like "$(wait_job j "$n" 10)" '^killed signal (9|KILL|SIGKILL)$' "jobs/N/ctl kill: SIGKILL by default"
n=$(exec_job j -- sleep 100)
echo 'kill TERM' >"$M/j/jobs/$n/ctl"
like "$(wait_job j "$n" 10)" '^killed signal (15|TERM|SIGTERM)$' "jobs/N/ctl kill TERM"
n=$(exec_job j -- sleep 100)
echo "kill $n" >"$M/j/ctl"
like "$(wait_job j "$n" 10)" '^killed signal (9|KILL|SIGKILL)$' "sandbox ctl kill N"
r=$(errno_of write "$M/j/jobs/$n/ctl" $'kill\n')
diag "kill of a job that has ended: $r"
is "$(errno_of write "$M/j/jobs/$n/ctl" $'frobnicate\n')" EINVAL "unknown job ctl verb is EINVAL"

# --- four at once ---
t0=$(now_ms)
ns=()
for i in 1 2 3 4; do
	ns+=("$(exec_job j -- "sleep 3; echo job$i")")
done
accept=$(($(now_ms) - t0))
ok "four execs returned at once, not when their jobs ended ($accept ms)" test "$accept" -lt 2500
running=0
for n in "${ns[@]}"; do
	[ "$(fs cat "$M/j/jobs/$n/status")" = running ] && running=$((running + 1))
done
is "$running" 4 "all four run at the same time"
like "$(status_of "$M/j/status" jobs)" '^4/[0-9]+$' "status says jobs 4/TOTAL"
i=0
for n in "${ns[@]}"; do
	i=$((i + 1))
	is "$(wait_job j "$n" 30)/$(fs cat "$M/j/jobs/$n/stdout")" "exited 0/job$i" "job $i of four ends with its own output"
done
took=$(($(now_ms) - t0))
ok "four 3 s jobs took $took ms: concurrent, not one after another" test "$took" -lt 9000

# --- timeout ---
t0=$(now_ms)
n=$(exec_job j timeout=2 -- sleep 100)
s=$(wait_job j "$n" 30)
took=$(($(now_ms) - t0))
is "$s" "killed timeout" "timeout=2 sleep 100: killed timeout"
ok "within a few seconds ($took ms)" test "$took" -ge 1500 -a "$took" -lt 8000
like "$(events_now j)" "(^|"$'\n'")[0-9]+ [0-9]+ timeout job=$n("$'\n'"| |\$)" "events has 'timeout job=$n'"
like "$(status_of "$M/j/status" jobs)" '^0/[0-9]+$' "nothing left running"

ok "rmdir j" fs rmdir "$M/j"
