#!/bin/bash
# Installs what is missing, builds, and runs the whole suite through
# prove (make check); exits with prove's status.  Whatever a crashed test
# left (mounts, daemons, QEMUs, temp dirs under /tmp/sbxfs-test.*) is
# cleaned up afterwards.
set -uo pipefail
cd "$(dirname "$0")/.."

# Processes whose command line or cwd lies in a test's temp dir.
leftover_pids() {
	local d cmd cwd

	for d in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
		cwd=$(readlink "$d/cwd" 2>/dev/null) || cwd=
		case "$cmd $cwd/" in
		*/sbxfs-test.*) echo "${d#/proc/}" ;;
		esac
	done
}

cleanup() {
	local m pids

	awk '$2 ~ "^/tmp/sbxfs-test\\." { print $2 }' /proc/self/mounts |
	while read -r m; do
		echo "test-suite: unmounting leftover $m"
		timeout 10 fusermount3 -u "$m" 2>/dev/null || umount -l "$m" || true
	done
	pids=$(leftover_pids)
	if [ -n "$pids" ]; then
		echo "test-suite: killing leftover processes:" $pids
		kill -KILL $pids 2>/dev/null || true
	fi
	rm -rf /tmp/sbxfs-test.* 2>/dev/null || true
}
trap cleanup EXIT

contrib/install-deps.sh || exit 1
make || exit 1
# What `make check` runs, called directly so that the exit code is
# prove's own (make would turn any failure into 2).  Keep in step with
# the check target of the Makefile.
prove --exec '' build/tests/unit/ tests/
