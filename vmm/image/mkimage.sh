#!/bin/sh
# Builds the guest image: Debian's cloud kernel (fetched once into a cache,
# never installed), and a reproducible initramfs of busybox, the virtio
# modules, our /init and the agent.  vmlinuz is written last: it is the
# make target, so a failed run leaves no image that looks complete.
set -eu

usage() {
	echo "usage: mkimage.sh OUTDIR AGENT_BINARY CACHEDIR" >&2
	exit 2
}

die() {
	echo "mkimage: $*" >&2
	exit 1
}

[ $# -eq 3 ] || usage
out=$1
agent=$2
cache=$3

# In dependency order: busybox insmod does not resolve dependencies and
# fails with "unknown symbol" when a module comes before what it needs.
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev
virtio_pci virtio_console virtio_blk failover net_failover virtio_net
pvpanic pvpanic-pci"
BUSYBOX=/bin/busybox
: "${SOURCE_DATE_EPOCH:=0}"

for tool in apt-cache apt-get dpkg-deb cpio gzip xz find sort dirname mktemp; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "'$tool' is missing (apt-get install cpio xz-utils gzip dpkg apt)"
done
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$BUSYBOX" ] || die "$BUSYBOX is missing (apt-get install busybox-static)"
"$BUSYBOX" --list-full >/dev/null 2>&1 ||
	die "$BUSYBOX cannot list its applets: is it busybox-static?"
[ -x "$agent" ] || die "agent binary '$agent' is missing or not executable"
[ -f "$here/init" ] || die "'$here/init' is missing"

mkdir -p "$out" "$cache"
out=$(cd "$out" && pwd)
cache=$(cd "$cache" && pwd)
work=$(mktemp -d "$out/.mkimage.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Prints the path of the cached kernel .deb, downloading it only when the
# version the meta package points at is not cached yet.
kernel_deb() {
	pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
	      sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' |
	      head -n 1) || true

	if [ -z "$pkg" ]; then
		deb=$(ls "$cache"/linux-image-*-cloud-amd64_*.deb 2>/dev/null |
		      sort -V | tail -n 1) || true
		[ -n "$deb" ] ||
			die "cannot resolve linux-image-cloud-amd64 (apt-get update?) and nothing is cached in '$cache'"
		echo "$deb"
		return
	fi

	deb=$(ls "$cache/${pkg}"_*.deb 2>/dev/null | sort -V | tail -n 1) || true
	if [ -z "$deb" ]; then
		echo "mkimage: downloading $pkg into $cache" >&2
		# apt-get download warns that it runs "unsandboxed" as root
		# when _apt cannot write the cache; that is harmless here.
		(cd "$cache" && apt-get download -q "$pkg" >&2) ||
			die "apt-get download $pkg failed"
		deb=$(ls "$cache/${pkg}"_*.deb 2>/dev/null | sort -V | tail -n 1)
		[ -n "$deb" ] || die "apt-get download left no $pkg .deb in '$cache'"
	fi
	echo "$deb"
}

# Copies one module into the image, decompressing it if the package ships
# it compressed; a module built into the kernel is skipped.
copy_module() {
	m=$1
	f=$(find "$kroot/lib/modules" \( -name "$m.ko" -o -name "$m.ko.xz" \) |
	    head -n 1)
	if [ -z "$f" ]; then
		grep -q "/$m.ko\$" "$kroot"/lib/modules/*/modules.builtin 2>/dev/null &&
			return 0
		die "module $m is neither in the kernel package nor built in"
	fi
	case $f in
	*.xz) xz -dc "$f" >"$root/lib/modules/virtio/$m.ko" ;;
	*) cp "$f" "$root/lib/modules/virtio/$m.ko" ;;
	esac
	echo "$m" >>"$root/lib/modules/virtio/order"
}

deb=$(kernel_deb)
kroot=$work/kernel
dpkg-deb -x "$deb" "$kroot" || die "cannot extract '$deb'"
vmlinuz=$(ls "$kroot"/boot/vmlinuz-* 2>/dev/null | head -n 1) || true
[ -n "$vmlinuz" ] || die "'$deb' holds no boot/vmlinuz-*"

root=$work/root
mkdir -p "$root"
for d in bin sbin usr/bin usr/sbin etc proc sys dev tmp run root \
	 lib/modules/virtio; do
	mkdir -p "$root/$d"
done
: >"$root/lib/modules/virtio/order"
for m in $MODULES; do
	copy_module "$m"
done

cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list-full); do
	[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
cp "$here/init" "$root/init"
chmod 755 "$root/init"
cp "$agent" "$root/sbin/sbxfs-agent"
chmod 755 "$root/sbin/sbxfs-agent"
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
echo "sandbox" >"$root/etc/hostname"

# The kernel opens /dev/console for /init before anything is mounted;
# without the node init's first messages go nowhere.  Needs root.
if [ "$(id -u)" -eq 0 ]; then
	mknod -m 600 "$root/dev/console" c 5 1
fi

# Reproducible: sorted names, one mtime, owner root, no gzip timestamp.
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$root" && find . -print | LC_ALL=C sort |
	cpio --quiet --reproducible -o -H newc -R 0:0) |
	gzip -n -9 >"$work/initrd.img" || die "cannot build the initramfs"

mv "$work/initrd.img" "$out/initrd.img"
cp "$vmlinuz" "$work/vmlinuz"
mv "$work/vmlinuz" "$out/vmlinuz"
