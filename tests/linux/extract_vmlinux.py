#!/usr/bin/env python3
"""Writes the ELF vmlinux inside an x86 bzImage (as Xen's toolstack loads a
PV kernel): the setup header says where the compressed payload is; Debian's
cloud kernel compresses it with LZ4 (legacy frame), its generic kernel with
XZ, which the `lz4` and `xz` tools decompress.

usage: extract_vmlinux.py BZIMAGE OUT.elf
"""
import struct
import subprocess
import sys


def main() -> None:
    src, out = sys.argv[1], sys.argv[2]
    data = open(src, "rb").read()
    if data[0x202:0x206] != b"HdrS":
        sys.exit(f"{src}: no bzImage setup header")
    setup_sects = data[0x1F1] or 4
    payload_offset, payload_length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + payload_offset
    payload = data[start:start + payload_length]
    if payload[:4] == bytes.fromhex("02214c18"):
        tool = ["lz4", "-d", "-c"]
    elif payload[:6] == bytes.fromhex("fd377a585a00"):
        tool = ["xz", "-d", "-c"]
    else:
        sys.exit(f"{src}: payload is neither LZ4 nor XZ (magic {payload[:6].hex()})")
    # The kernel's build appends the decompressed size (4 bytes) to the
    # data, which the tools report as trailing garbage (exit status 1): the
    # output is checked against that size instead.
    elf = subprocess.run(tool, input=payload, capture_output=True).stdout
    (size,) = struct.unpack_from("<I", payload, len(payload) - 4)
    if elf[:4] != b"\x7fELF" or len(elf) != size:
        sys.exit(f"{src}: the payload did not decompress to a {size}-byte ELF ({len(elf)} bytes)")
    open(out, "wb").write(elf)


if __name__ == "__main__":
    main()
