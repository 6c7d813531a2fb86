#!/bin/sh
# Makes a GRUB2 (BIOS) ISO that boots the hypervisor with multiboot2.
# usage: mkiso.sh OUT.iso HYPERVISOR.elf "COMMAND LINE" [MODULE.file "MODULE CMDLINE"]...
# Used by the Makefile (default ISO) and by the integration tests.
set -eu
out=$1 elf=$2 cmdline=$3
shift 3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/boot/grub" "$dir/modules"
cp "$elf" "$dir/boot/virtue.elf"
{
    echo 'set timeout=0'
    echo 'set default=0'
    echo 'menuentry "Virtue" {'
    echo "    multiboot2 /boot/virtue.elf $cmdline"
    n=0
    while [ $# -ge 2 ]; do
        cp "$1" "$dir/modules/$n"
        echo "    module2 /modules/$n $2"
        n=$((n + 1))
        shift 2
    done
    echo '    boot'
    echo '}'
} > "$dir/boot/grub/grub.cfg"
log=$(mktemp)
if ! grub-mkrescue -d /usr/lib/grub/i386-pc -o "$out" "$dir" > "$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
