# Sourced by tests/*.t (bash): TAP helpers, a temp dir per test, a daemon
# under test inside its own network namespace, and an EXIT trap that
# always leaves nothing behind: mounts, daemons, QEMUs, files.
# A missing prerequisite is a failure that says what is missing, not a skip.

set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SBXFS=${SBXFS:-$ROOT/build/sbxfs}
IMAGES=${SBXFS_IMAGES:-$ROOT/build/images}
QEMU=${SBXFS_QEMU:-qemu-system-x86_64}

T=$(mktemp -d "${SBXFS_TEST_TMP:-/tmp}/sbxfs-test.XXXXXX") || {
	echo "Bail out! cannot make a temp dir"
	exit 1
}
M=$T/mnt
STATE=$T/state
LOG=$T/daemon.log

_n=0
_failed=0
_planned=
_daemons=()
_mounts=()
_at_exit=()

# --- TAP ---------------------------------------------------------------

plan() {
	_planned=$1
	echo "1..$1"
}

diag() {
	local line

	while IFS= read -r line; do
		printf '# %s\n' "$line" >&2
	done <<<"$*"
}

_result() {
	_n=$((_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_n - $2"
	else
		echo "not ok $_n - $2"
		# Known breakage ("... # TODO see XXX in FILE") fails no run.
		[[ $2 == *"# TODO"* ]] || _failed=$((_failed + 1))
	fi
	return "$1"
}

# ok DESC CMD [ARG...]: passes when CMD exits 0.
ok() {
	local desc=$1 r=0

	shift
	"$@" || r=$?
	_result "$r" "$desc" || diag "command failed ($r): $*"
}

# nok DESC CMD [ARG...]: passes when CMD fails.
nok() {
	local desc=$1 r=0

	shift
	"$@" || r=$?
	[ "$r" -ne 0 ]
	_result $? "$desc" || diag "command succeeded, expected a failure: $*"
}

# is GOT WANT DESC
is() {
	if [ "$1" = "$2" ]; then
		_result 0 "$3"
		return 0
	fi
	_result 1 "$3"
	diag "got:  '$1'"
	diag "want: '$2'"
	return 1
}

# like GOT ERE DESC
like() {
	if [[ $1 =~ $2 ]]; then
		_result 0 "$3"
		return 0
	fi
	_result 1 "$3"
	diag "got:  '$1'"
	diag "want: /$2/"
	return 1
}

# fatal MSG: a failed test point, then the end of this file's tests.
fatal() {
	_result 1 "$1"
	exit 1
}

# --- prerequisites ----------------------------------------------------

# Each is something `contrib/install-deps.sh && make` provides; without
# it the test cannot say anything, so it fails and says what is missing.
need_daemon_prereqs() {
	local missing=() c

	[ "$(id -u)" -eq 0 ] || missing+=("root (FUSE mounts and network namespaces)")
	[ -c /dev/fuse ] || missing+=("/dev/fuse")
	[ -x "$SBXFS" ] || missing+=("$SBXFS (run make)")
	[ -f "$IMAGES/base/1/vmlinuz" ] ||
		missing+=("$IMAGES/base/1/vmlinuz (run make)")
	for c in "$QEMU" fusermount3 unshare perl sha256sum timeout; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ -n "$_planned" ] || plan 1
	fatal "prerequisites: missing ${missing[*]}"
}

# --- the daemon under test ----------------------------------------------

is_mounted() {
	awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts
}

# start_daemon [EXTRA_ARG...]: the daemon on $M with state $STATE, logging
# to $LOG, in a new network namespace so nothing it starts can reach any
# other host (or in the named one $DAEMON_NETNS, which a test built, see
# tests/netlib.sh).  Returns once the tree is mounted and answers.
start_daemon() {
	local i netns=(unshare --net)

	[ -n "${DAEMON_NETNS:-}" ] && netns=(nsenter "--net=/run/netns/$DAEMON_NETNS")
	mkdir -p "$M" "$STATE"
	"${netns[@]}" "$SBXFS" -f --state "$STATE" --images "$IMAGES" \
		--log-level "${SBXFS_LOG_LEVEL:-info}" "$@" "$M" \
		>>"$LOG" 2>&1 &
	DAEMON_PID=$!
	_daemons+=("$DAEMON_PID")
	_mounts+=("$M")

	for ((i = 0; i < 300; i++)); do
		if is_mounted "$M" && timeout 5 cat "$M/status" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	diag "daemon did not mount $M; its log:" "$(tail -n 20 "$LOG" 2>/dev/null)"
	return 1
}

# Processes that belong to this test: QEMUs whose command line mentions
# $T or whose cwd is under it (QEMU runs in its state folder and names its
# files relative to it), and daemons still running from this test.
_test_pids() {
	local d pid cmd cwd

	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] && continue
		cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
		case $cmd in
		*qemu-system*|*sbxfs*) ;;
		*) continue ;;
		esac
		cwd=$(readlink "$d/cwd" 2>/dev/null) || cwd=
		case "$cmd $cwd/" in
		*"$T"/*) echo "$pid" ;;
		esac
	done
}

# The QEMUs of this test still alive (see _test_pids).
test_qemus() {
	local pid

	for pid in $(_test_pids); do
		case $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") in
		*qemu-system*) echo "$pid" ;;
		esac
	done
}

_cleanup() {
	local rc=$? m pid i left

	trap - EXIT
	for m in "${_mounts[@]}"; do
		is_mounted "$m" || continue
		timeout 10 fusermount3 -u "$m" 2>/dev/null ||
			timeout 10 umount -l "$m" 2>/dev/null || true
	done
	for ((i = 0; i < 50; i++)); do
		left=0
		for pid in "${_daemons[@]}"; do
			kill -0 "$pid" 2>/dev/null && left=1
		done
		[ "$left" -eq 0 ] && break
		sleep 0.1
	done
	for pid in "${_daemons[@]}" $(jobs -p); do
		kill -KILL "$pid" 2>/dev/null || true
	done
	for m in "${_mounts[@]}"; do
		is_mounted "$m" && umount -l "$m" 2>/dev/null
	done
	for ((i = 0; i < 50; i++)); do
		left=$(_test_pids)
		[ -z "$left" ] && break
		kill -KILL $left 2>/dev/null || true
		sleep 0.1
	done

	if [ -n "$_planned" ] && [ "$_n" -ne "$_planned" ]; then
		diag "planned $_planned tests, ran $_n"
		rc=1
	elif [ -z "$_planned" ]; then
		echo "1..$_n"
	fi
	[ "$_failed" -gt 0 ] && rc=1
	if [ "$rc" -ne 0 ] && [ -s "$LOG" ]; then
		diag "last lines of $LOG:" "$(tail -n 30 "$LOG")"
	fi
	# Template RAM of this test's daemons (vmm/template.c names the
	# state folder that owns each RAM folder), in case one was killed.
	for m in /dev/shm/sbxfs-*; do
		case $(cat "$m/owner" 2>/dev/null) in
		"$T"/*) rm -rf "$m" ;;
		esac
	done
	# Hooks a test added (at_exit CMD...), once the daemons are gone.
	for ((i = ${#_at_exit[@]} - 1; i >= 0; i--)); do
		eval "${_at_exit[$i]}" || true
	done
	rm -rf "$T"
	exit "$rc"
}
# at_exit CMD...: runs CMD in the EXIT trap after daemons and QEMUs are
# gone, last added first; for worlds a test built (network namespaces).
at_exit() {
	_at_exit+=("$*")
}

trap _cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- the tree ----------------------------------------------------------

# Every operation on the mount runs under a deadline: a hung daemon is a
# failed test, not a hung suite.
fs() {
	timeout "${FS_TIMEOUT:-60}" "$@"
}

# errno_of OP PATH [DATA...]: performs one syscall-level operation and
# prints OK or the errno's name (EINVAL, EEXIST...).  OP is mkdir, rmdir,
# or write (DATA pieces each go out as a separate write(2) on one fd).
errno_of() {
	timeout "${FS_TIMEOUT:-60}" perl -MErrno -e '
		sub err { my ($e) = grep { $!{$_} } keys %!; print $e // "E?"; exit }
		my ($op, $path, @data) = @ARGV;
		if ($op eq "mkdir") { mkdir $path or err }
		elsif ($op eq "rmdir") { rmdir $path or err }
		elsif ($op eq "write") {
			open(my $fh, ">>", $path) or err;
			for (@data) { defined syswrite($fh, $_) or err; select(undef, undef, undef, 0.2) }
			close($fh) or err;
		}
		print "OK";
	' "$@" || echo TIMEOUT
}

# A key's value in a "key value" status file.
status_of() {
	fs awk -v k="$2" '$1 == k { sub(/^[^ \t]+[ \t]+/, ""); print; exit }' "$1"
}

# exec_job SANDBOX [OPTIONS] -- COMMAND: starts a job; prints its N, read
# from the same open ctl as the contract says.  If that read comes back
# empty (tested on its own in jobs.t) it says so and reads again from
# offset 0, so one bug does not fail every test that runs a job.
exec_job() {
	local sb=$1

	shift
	timeout "${FS_TIMEOUT:-60}" perl -e '
		my ($path, $line) = @ARGV;
		open(my $fh, "+<", $path) or die "open $path: $!\n";
		defined syswrite($fh, "exec $line\n") or die "write exec: $!\n";
		my $n = sysread($fh, my $buf, 64);
		if (!$n) {
			if (open(my $m, ">>", $ARGV[2]) && !-s $ARGV[2]) {
				print $m "noted\n";
				print STDERR "# exec_job: reading ctl after exec gave nothing; rereading from offset 0 (not said again)\n";
			}
			sysseek($fh, 0, 0);
			sysread($fh, $buf, 64);
		}
		$buf =~ /^(\d+)\n/ or die "ctl after exec: \"$buf\" is not a job number\n";
		print "$1\n";
	' "$M/$sb/ctl" "$*" "$T/.ctl-reread"
}

# wait_job SANDBOX N [SECS]: waits until the job is no longer running and
# prints its status line.
wait_job() {
	local s i

	[[ $2 =~ ^[0-9]+$ ]] || return 1
	for ((i = 0; i < ${3:-60} * 10; i++)); do
		s=$(fs cat "$M/$1/jobs/$2/status" 2>/dev/null) || s=
		[ -n "$s" ] && [ "$s" != running ] && break
		sleep 0.1
	done
	echo "$s"
}

# run_job SANDBOX [OPTIONS] -- COMMAND: runs a job to its end; sets JOB,
# OUT (stdout), ERR (stderr), STATUS.
run_job() {
	local sb=$1

	JOB=$(exec_job "$@") || JOB=
	OUT= ERR= STATUS=
	[ -n "$JOB" ] || return 1
	OUT=$(fs cat "$M/$sb/jobs/$JOB/stdout")
	ERR=$(fs cat "$M/$sb/jobs/$JOB/stderr")
	STATUS=$(wait_job "$sb" "$JOB")
}

# events_now SANDBOX [SECS]: the events written so far, without waiting
# for more (a read at the end of events blocks, so cat is stopped once it
# has had time to read what is there).
events_now() {
	timeout "${2:-2}" cat "$M/$1/events" 2>/dev/null || true
}

# The type column of the events so far, on one line.
event_types() {
	events_now "$1" | awk '{ print $3 }' | tr '\n' ' ' | sed 's/ $//'
}

now_ms() {
	date +%s%3N
}

# True when PID has exited (gone, or a zombie nobody has reaped yet).
pid_gone() {
	local st

	[[ $1 =~ ^[0-9]+$ ]] || return 1
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "$st" = Z ]
}

# wait_gone PID [SECS]
wait_gone() {
	local i

	for ((i = 0; i < ${2:-10} * 10; i++)); do
		pid_gone "$1" && return 0
		sleep 0.1
	done
	return 1
}
