#!/bin/bash
# Installs what is missing, builds, and runs the whole suite through
# prove (make check); exits with prove's status.  Whatever a crashed test
# left (mounts, daemons, QEMUs, temp dirs) is cleaned up afterwards.  The
# tests of this run keep their temp dirs under a root of its own, so a
# second run on the same machine is neither seen nor touched.
set -uo pipefail
cd "$(dirname "$0")/.."
RUN=$(mktemp -d /tmp/sbxfs-run.XXXXXX) || exit 1
export SBXFS_TEST_TMP=$RUN

# Processes whose command line or cwd lies in a test's temp dir.
leftover_pids() {
	local d cmd cwd

	for d in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
		cwd=$(readlink "$d/cwd" 2>/dev/null) || cwd=
		case "$cmd $cwd/" in
		*"$RUN"/*) echo "${d#/proc/}" ;;
		esac
	done
}

cleanup() {
	local m pids

	awk -v run="$RUN/" 'index($2, run) == 1 { print $2 }' /proc/self/mounts |
	while read -r m; do
		echo "test-suite: unmounting leftover $m"
		timeout 10 fusermount3 -u "$m" 2>/dev/null || umount -l "$m" || true
	done
	pids=$(leftover_pids)
	if [ -n "$pids" ]; then
		echo "test-suite: killing leftover processes:" $pids
		kill -KILL $pids 2>/dev/null || true
	fi
	rm -rf "$RUN" 2>/dev/null || true
}
trap cleanup EXIT

contrib/install-deps.sh || exit 1
make || exit 1
# What `make check` runs, called directly so that the exit code is
# prove's own (make would turn any failure into 2).  Keep in step with
# the check target of the Makefile.
prove --exec '' build/tests/unit/ tests/
