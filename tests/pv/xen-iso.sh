#!/bin/sh
# Makes a GRUB2 (BIOS) ISO that boots real Xen (Debian's
# xen-hypervisor-4.17-amd64) with multiboot2 and one PV kernel as dom0: the
# oracle for the PV test kernel (docs/pv-oracle.md).
# usage: xen-iso.sh OUT.iso XEN.gz "XEN COMMAND LINE" KERNEL.elf ["KERNEL COMMAND LINE" [INITRD]]
# Xen takes the first word of a module's command line to be its name, so the
# kernel's is given after a "pv-test" placeholder. GRUB unpacks xen.gz.
set -eu
out=$1 xen=$2 cmdline=$3 kernel=$4 kcmdline=${5:-} initrd=${6:-}
[ -r "$xen" ] || { echo "xen-iso.sh: no Xen image at $xen (install xen-hypervisor-4.17-amd64)" >&2; exit 1; }
[ -r "$kernel" ] || { echo "xen-iso.sh: no PV kernel at $kernel" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/boot/grub"
cp "$xen" "$dir/boot/xen.gz"
cp "$kernel" "$dir/boot/pv-kernel"
initrd_line=""
if [ -n "$initrd" ]; then
    cp "$initrd" "$dir/boot/initrd"
    initrd_line="module2 /boot/initrd initrd"
fi
cat > "$dir/boot/grub/grub.cfg" <<CFG
set timeout=0
set default=0
menuentry "Xen with the PV test kernel as dom0" {
    multiboot2 /boot/xen.gz $cmdline
    module2 /boot/pv-kernel pv-test $kcmdline
    $initrd_line
    boot
}
CFG
log=$(mktemp)
if ! grub-mkrescue -d /usr/lib/grub/i386-pc -o "$out" "$dir" > "$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
