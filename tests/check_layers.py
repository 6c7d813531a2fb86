#!/usr/bin/env python3
"""Checks that the hypervisor's includes run one way: down the layers.

Every `#include "..."` in the hypervisor's sources (hypervisor/ and
xen-compat/, which are compiled into one image) is resolved to a file, and
both the including file and the included one are mapped to a unit (a
folder, or a set of files) and each unit to a layer. An include is
allowed only within one unit or from a unit to one in a lower layer;
anything else (upward, or sideways to another unit of the same layer) is
reported as `file:line: ...` and the check fails (exit status 1). So do a
generic file that includes an "arch/x86/..." path (arch headers are found
by include path, as "arch/..."), and inline assembly outside arch.

usage: check_layers.py [repository root]    (default: the current directory)
"""
import fnmatch
import os
import re
import sys

# ---- The layers, lowest first (the one place this order is written) ----
# Each layer is a list of units; each unit is (name, [paths]). A path ending
# in "/" is a folder; others are glob patterns ("*" matches any text). A file
# belongs to the unit whose matching path is the longest. Units of one layer
# do not include each other.
LAYERS = [
    # The freestanding library: vocabulary types (Result, addresses, range
    # sets), formatting, the C string functions. No hardware, no global
    # state; every layer above may use it.
    [("lib", ["hypervisor/lib/"])],
    # Everything x86 (arch/x86/, and its headers found as "arch/..."). It
    # calls upward only through functions it declares and the layers above
    # define (arch/traps.hpp, arch/smp.hpp). lib/spinlock.hpp counts here:
    # it is built on the CPU's interrupt flag (arch/cpu.hpp), as NOVA keeps
    # its spinlock per architecture.
    [("arch", ["hypervisor/arch/x86/", "hypervisor/lib/spinlock.hpp", "hypervisor/lib/spinlock.cpp"])],
    # Boot-time services: the system clock (TSC), the command line and its
    # values, the symbol table; then the console, boot information and
    # ACPI tables; then panic, shutdown and the boot options.
    [("clock", ["hypervisor/time/clock.*"]),
     ("cmdline", ["hypervisor/core/cmdline*", "hypervisor/core/log_level.hpp"]),
     ("symbols", ["hypervisor/core/symbols.*"])],
    [("console", ["hypervisor/console/"]), ("boot", ["hypervisor/boot/"]), ("acpi", ["hypervisor/acpi/"])],
    [("panic", ["hypervisor/core/panic.*", "hypervisor/core/shutdown.*", "hypervisor/core/boot_options.*"])],
    # Memory: frame table, buddy allocator, object caches, heap.
    [("mm", ["hypervisor/mm/"])],
    # Core objects. Their interfaces (headers) build on each other in this
    # order: handles; waiting and share accounting; the objects a domain
    # holds; threads; domains; the scheduler. Their implementations (the
    # .cpp files and private headers) come above all core interfaces: a
    # domain holds its event and grant tables by value, and their code
    # works on the domain (see docs/architecture.md).
    [("cap", ["hypervisor/cap/"])],
    [("wait", ["hypervisor/sched/wait.hpp", "hypervisor/sched/credit.*"])],
    [("event-if", ["hypervisor/event/*.hpp"]), ("grant-if", ["hypervisor/grant/*.hpp"]),
     ("ipc-if", ["hypervisor/ipc/*.hpp"]), ("vm-if", ["hypervisor/vm/address_space.hpp"]),
     ("timer-if", ["hypervisor/time/timer_object.hpp"]),
     ("domain-parts-if", ["hypervisor/domain/fault.hpp", "hypervisor/domain/kernel_stack.hpp",
                          "hypervisor/domain/boot_config.hpp", "hypervisor/domain/elf_loader.hpp",
                          "hypervisor/domain/boot_info.hpp", "hypervisor/domain/domain_hooks.hpp"])],
    [("thread-if", ["hypervisor/domain/thread.hpp"])],
    [("domain-if", ["hypervisor/domain/*.hpp"])],
    [("sched-if", ["hypervisor/sched/*.hpp", "hypervisor/time/timer_tick.hpp"])],
    [("core-objects", ["hypervisor/sched/", "hypervisor/domain/", "hypervisor/vm/", "hypervisor/time/",
                       "hypervisor/event/", "hypervisor/grant/", "hypervisor/ipc/"])],
    # CPU bring-up and the idle loop (runs the scheduler).
    [("smp", ["hypervisor/smp/"])],
    # Personalities: the native family's calls and the Xen family.
    [("native", ["hypervisor/native/"]), ("xen-compat", ["xen-compat/"])],
    # Entry: the system-call dispatcher (who is calling decides which
    # family runs) and the interrupt and exception dispatch.
    [("entry", ["hypervisor/entry/"])],
    # The boot sequence, which wires all layers together (it registers the
    # personalities' domain hooks), and the boot self-tests.
    [("boot-sequence", ["hypervisor/core/main.*", "hypervisor/core/selftest.*"])],
]

# Temporary: includes accepted while the files that make them are being
# rewritten elsewhere. Each entry is (including file, included file). Delete
# an entry (or the whole list) as soon as its file no longer needs it.
TEMPORARY_EXCEPTIONS = []

# Where `#include "x"` looks, after the including file's own folder (the
# hypervisor's -I flags, hypervisor/hypervisor.mk).
INCLUDE_PATH = ["hypervisor/arch/x86/include", "hypervisor", "."]
# Headers generated into build/ (hypercalls/gen_native.py), by name.
# Each is placed in the layer of the code it belongs to: the ABI header
# (numbers and structures only) with lib, each family's handler
# declarations with its personality, the glue and dispatch tables with the
# entry, the only code that includes them.
GENERATED = {
    "virtue/native_abi.h": "hypervisor/lib/native_abi.h (generated)",
    "native_handlers.hpp": "hypervisor/native/native_handlers.hpp (generated)",
    "xen_handlers.hpp": "xen-compat/xen_handlers.hpp (generated)",
    "native_dispatch.hpp": "hypervisor/entry/native_dispatch.hpp (generated)",
    "xen_dispatch.hpp": "hypervisor/entry/xen_dispatch.hpp (generated)",
}
SOURCE_ROOTS = ["hypervisor", "xen-compat"]
SOURCE_SUFFIXES = (".cpp", ".hpp", ".h", ".S", ".ld.in")

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
# Inline assembly belongs to arch: generic code calls a named arch function.
ASM_RE = re.compile(r'\b(asm|__asm__)\s*(volatile|__volatile__)?\s*(goto\s*)?\(')


def unit_table():
    units = []  # (prefix, unit name, layer index)
    for level, layer in enumerate(LAYERS):
        for name, prefixes in layer:
            units += [(p, name, level) for p in prefixes]
    return sorted(units, key=lambda u: -len(u[0]))


def unit_of(path, units):
    for pattern, name, level in units:
        if path.startswith(pattern) if pattern.endswith("/") else fnmatch.fnmatchcase(path, pattern):
            return name, level
    return None


def resolve(root, including, target):
    candidates = [os.path.join(os.path.dirname(including), target)]
    candidates += [os.path.join(d, target) for d in INCLUDE_PATH]
    for c in candidates:
        if os.path.isfile(os.path.join(root, c)):
            return os.path.normpath(c)
    return GENERATED.get(target)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    units = unit_table()
    exceptions = set(TEMPORARY_EXCEPTIONS)
    errors, excused, files = [], [], 0
    for top in SOURCE_ROOTS:
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for n in sorted(names):
                if not n.endswith(SOURCE_SUFFIXES):
                    continue
                path = os.path.relpath(os.path.join(dirpath, n), root)
                files += 1
                src = unit_of(path, units)
                if src is None:
                    errors.append(f"{path}:1: file is in no layer (add its folder to LAYERS)")
                    continue
                with open(os.path.join(root, path), encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        if src[0] != "arch" and ASM_RE.search(line.split("//")[0]):
                            errors.append(f"{path}:{lineno}: inline assembly outside arch/ (add a named arch function)")
                        m = INCLUDE_RE.match(line)
                        if not m:
                            continue
                        where = f"{path}:{lineno}: #include \"{m.group(1)}\""
                        target = resolve(root, path, m.group(1))
                        if target is None:
                            errors.append(f"{where}: no such file")
                            continue
                        dst = unit_of(target, units)
                        if "arch/x86/" in m.group(1) and src[0] != "arch":
                            msg = f"{where}: generic code reaches into arch/x86/ (use an \"arch/...\" header)"
                            (excused if (path, target) in exceptions else errors).append(msg)
                            continue
                        if dst is None:
                            errors.append(f"{where}: {target} is in no layer")
                            continue
                        if dst[0] == src[0] or dst[1] < src[1]:
                            continue
                        way = "upward" if dst[1] > src[1] else "sideways"
                        msg = f"{where}: {src[0]} -> {dst[0]} goes {way}"
                        if (path, target) in exceptions:
                            excused.append(msg)
                        else:
                            errors.append(msg)
    for e in errors:
        print(e)
    for e in excused:
        print(f"{e} (temporary exception)")
    used = {(e.split(":")[0]) for e in excused}
    for path, target in TEMPORARY_EXCEPTIONS:
        if path not in used:
            print(f"note: temporary exception ({path}, {target}) is no longer needed: delete it")
    status = "FAILED" if errors else "ok"
    print(f"layers: {status}: {files} files, {len(errors)} violations, {len(excused)} temporary exceptions")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
