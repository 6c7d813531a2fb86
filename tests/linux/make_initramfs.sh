#!/bin/sh
# The Linux guest's initramfs (tests/linux/linux.mk): Debian's static
# busybox, tests/linux/init, the benchmark and the two Xen device modules
# it uses, from the package of the kernel that will boot it.
# usage: make_initramfs.sh OUT.cpio.gz BUSYBOX_DEB KERNEL_PACKAGE_DIR GUEST_BENCH INIT
set -eu
out=$1 busybox_deb=$2 kernel_dir=$3 bench=$4 init=$5
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/busybox" "$work/root/bin" "$work/root/lib/modules"
dpkg-deb -x "$busybox_deb" "$work/busybox"
cp "$work/busybox/bin/busybox" "$work/root/bin/busybox"
cp "$bench" "$work/root/bin/guest-bench"
cp "$kernel_dir"/lib/modules/*/kernel/drivers/xen/xen-evtchn.ko \
   "$kernel_dir"/lib/modules/*/kernel/drivers/xen/xen-privcmd.ko "$work/root/lib/modules/"
cp "$init" "$work/root/init"
chmod 755 "$work/root/init"
(cd "$work/root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9) > "$out"
