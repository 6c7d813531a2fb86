#!/bin/sh
# Makes the ISO of `make run CONFIG=path/to.dts`: the hypervisor, the
# configuration (compiled .dtb, module "config") and, for every module name
# the /domains nodes give in their `module` (and a PV kernel's `ramdisk`)
# property, the ELF of the native domain of that name as a module with that
# command line.
# usage: config-iso.sh OUT.iso HYPERVISOR.elf "COMMAND LINE" CONFIG.dtb DOMAINS_DIR "NAME=IMAGE ..."
#   Module NAME is DOMAINS_DIR/NAME.elf unless a NAME=IMAGE pair says
#   otherwise: IMAGE is a domain name (DOMAINS_DIR/IMAGE.elf) or, if it
#   contains a '/', a file. A name with no image is left out with a warning:
#   the hypervisor then refuses that domain ("module not found"), as it would
#   on real hardware.
set -eu
out=$1 elf=$2 cmdline=$3 dtb=$4 domains=$5 pairs=$6
here=$(dirname "$0")
nodes=$(fdtget -l "$dtb" /domains) || { echo "$dtb: no /domains node" >&2; exit 1; }
set -- # from here on: the module arguments of mkiso.sh
seen=" config "
names=""
for node in $nodes; do
    if ! name=$(fdtget -t s "$dtb" "/domains/$node" module 2>/dev/null); then
        echo "config-iso: /domains/$node has no module property (the hypervisor will refuse it)" >&2
        continue
    fi
    names="$names $node:$name"
    if ramdisk=$(fdtget -t s "$dtb" "/domains/$node" ramdisk 2>/dev/null); then names="$names $node:$ramdisk"; fi
done
for entry in $names; do
    node=${entry%%:*} name=${entry#*:}
    case "$seen" in *" $name "*) continue ;; esac
    seen="$seen$name "
    image=$name
    for p in $pairs; do
        if [ "${p%%=*}" = "$name" ]; then image=${p#*=}; fi
    done
    case "$image" in
    */*) file=$image ;;
    *) file=$domains/$image.elf ;;
    esac
    if [ ! -f "$file" ]; then
        echo "config-iso: /domains/$node: module '$name' has no image ($file); left out" \
             "(add CONFIG_MODULES='$name=<domain or path/to.elf>')" >&2
        continue
    fi
    echo "  module $name = $file"
    set -- "$@" "$file" "$name"
done
exec sh "$here/mkiso.sh" "$out" "$elf" "$cmdline" "$dtb" config "$@"
