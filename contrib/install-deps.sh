#!/bin/bash
# Installs the Debian packages sbxfs needs to build, run and test, and
# only those that are missing; when all are there apt is not touched.
# Run as root on Debian 12.  Safe to run any number of times.
set -euo pipefail

PKGS=(
	build-essential pkg-config libfuse3-dev fuse3 libjansson-dev
	qemu-system-x86 busybox-static cpio xz-utils iproute2 util-linux
	perl procps ca-certificates
	clang llvm libbpf-dev bpftool libnftables-dev nftables
	socat dnsmasq-base
)

installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing=()
for p in "${PKGS[@]}"; do
	installed "$p" || missing+=("$p")
done

# make fetches the guest kernel with apt-get download, which needs apt's
# package lists even when every package above is installed.
lists_ok=yes
apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1 || lists_ok=no

if [ ${#missing[@]} -eq 0 ] && [ "$lists_ok" = yes ]; then
	echo "install-deps: every package is installed"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing ${missing[*]:-apt package lists}; run as root" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: apt-get update"
apt-get update
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	apt-get install -y --no-install-recommends "${missing[@]}"
fi
