#!/bin/sh
# Reads `nm -n --defined-only` output on stdin and writes an assembly file
# holding a sorted table of the image's function symbols, for backtraces.
# Layout (see core/symbols.cpp): u64 count; count x {u64 addr; u32 name_off; u32 pad}; names.
awk 'BEGIN { n = 0 }
$2 ~ /^[tTwW]$/ && $1 ~ /^ffff/ { addr[n] = $1; name[n] = $3; n++ }
END {
    print "\t.section .virtue_symbols, \"a\""
    print "\t.balign 8"
    print "\t.globl virtue_symbol_table"
    print "\t.hidden virtue_symbol_table"
    print "virtue_symbol_table:"
    printf "\t.quad %d\n", n
    off = 0
    for (i = 0; i < n; i++) {
        printf "\t.quad 0x%s\n\t.long %d, 0\n", addr[i], off
        off += length(name[i]) + 1
    }
    for (i = 0; i < n; i++) printf "\t.asciz \"%s\"\n", name[i]
}'
