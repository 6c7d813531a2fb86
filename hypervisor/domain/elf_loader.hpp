// ELF64 image parser for native domains: validates a statically linked x86-64
// ET_EXEC image (a multiboot2 module) and describes its loadable segments so
// that the domain builder can map and fill them. Pure logic: no heap, no
// logging, no floating point. The caller prints out.error on the console.
//
// Accepted images
// ---------------
//   - ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ET_EXEC, EM_X86_64;
//   - a program header table of 1..PN_XNUM-1 entries of sizeof(Elf64_Phdr),
//     inside the file; no PT_INTERP or PT_DYNAMIC (no dynamic linking);
//   - 1..kMaxElfSegments PT_LOAD segments with p_memsz > 0 (PT_LOAD with
//     p_memsz == p_filesz == 0 and other segment types are ignored), each with
//     p_filesz <= p_memsz, file bytes inside the file, p_vaddr congruent to
//     p_offset modulo 4 KiB, not both writable and executable (W^X), and a
//     page-rounded range inside [limits.user_start, limits.user_end);
//   - no two segments sharing a 4 KiB page (each page gets one set of rights);
//   - the entry point inside an executable segment;
//   - the page-rounded total no larger than limits.max_bytes.
//
// Section headers are never looked at: the loader needs only segments.
//
// The checks every ELF64 x86-64 executable must pass (the header and the
// program header table) are a lower layer of their own, elf_read_header and
// elf_program_header, which the Xen PV kernel reader (xen-compat/) shares;
// it places segments by physical address and reads notes and sections.
//
// Errors
// ------
// parse_elf_image returns the first error found and sets out.error to a
// static message naming it; the rest of out is then reset. Err::Truncated:
// something lies outside the buffer. Err::BadFormat: malformed header or
// segment. Err::NotSupported: a valid ELF we do not load (ET_DYN, dynamic
// linking, PN_XNUM). Err::Range: an address outside the domain's range, an
// address overflow, too many segments. Err::Permission: W^X. Err::Overlap:
// segments sharing a page. Err::NoMemory: larger than limits.max_bytes.
// Err::InvalidArgument: bad limits (max_bytes == 0, empty address range) or
// data == nullptr.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/result.hpp"

namespace virtue {

constexpr size_t kMaxElfSegments = 16;
constexpr uint64_t kElfPageSize = 4096;

struct ElfSegment {
    uint64_t vaddr;         // p_vaddr (not rounded)
    uint64_t memsz;         // p_memsz
    uint64_t file_offset;   // p_offset
    uint64_t filesz;        // p_filesz
    bool read, write, exec; // from p_flags
};

struct ElfLimits {
    uint64_t user_start = 0x1000;              // lowest address a segment may touch
    uint64_t user_end = 0x0000800000000000ull; // exclusive end (lower canonical half)
    uint64_t max_bytes = 0; // page-rounded total of all segments may not exceed this
                            // (the partition budget); 0 = Err::InvalidArgument
};

struct ElfImage {
    uint64_t entry = 0;
    ElfSegment segments[kMaxElfSegments] = {};
    size_t segment_count = 0;         // PT_LOAD segments only, sorted by vaddr
    uint64_t pages = 0;               // 4 KiB pages the segments need (page-rounded, no
                                      // overlap so a plain sum)
    uint64_t lowest = 0, highest = 0; // page-rounded [lowest, highest) covering all segments
    const char* error = "";           // on failure: static human-readable reason
};

// The checked ELF header: an ELFCLASS64, little-endian, EV_CURRENT, ET_EXEC,
// EM_X86_64 image whose program header table (1..PN_XNUM-1 entries of
// sizeof(Elf64_Phdr)) lies inside the buffer. The section header table is
// not checked here (see elf_section_table).
struct ElfHeader {
    const uint8_t* bytes = nullptr; // the whole file
    size_t size = 0;
    uint64_t entry = 0; // e_entry
    uint64_t phoff = 0;
    size_t phnum = 0;
    uint64_t shoff = 0;      // e_shoff, unchecked
    size_t shnum = 0;        // e_shnum, unchecked
    size_t shentsize = 0;    // e_shentsize, unchecked
};

// One program header, copied out of the file (fields of Elf64_Phdr).
struct ElfProgramHeader {
    uint32_t type, flags;
    uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

// One section header (the fields a note reader needs).
struct ElfSectionHeader {
    uint32_t type;
    uint64_t offset, size, addralign;
};

// Checks the header of data[0, size) as described at ElfHeader. On failure
// returns Err::Truncated (something outside the buffer), Err::BadFormat or
// Err::NotSupported (not ET_EXEC, PN_XNUM) and sets error to a static reason.
Status elf_read_header(const void* data, size_t size, ElfHeader& out, const char*& error);

// Program header i < h.phnum of a header elf_read_header accepted.
ElfProgramHeader elf_program_header(const ElfHeader& h, size_t i);

// Checks that the section header table (if any: e_shnum > 0) has entries of
// sizeof(Elf64_Shdr) and lies inside the file; Err::BadFormat or
// Err::Truncated with a static reason otherwise. e_shnum == 0 is an empty
// table (an extended section count, kept in section 0, is not read).
Status elf_section_table(const ElfHeader& h, const char*& error);

// Section header i < h.shnum of a table elf_section_table accepted.
ElfSectionHeader elf_section_header(const ElfHeader& h, size_t i);

// Sorts count segments by vaddr (count <= kMaxElfSegments).
void sort_elf_segments(ElfSegment* segs, size_t count);

// Validates and describes the ELF64 image in data[0, size). Never reads
// outside the buffer, never overflows on hostile values. On failure returns
// the error AND sets out.error to a static message.
Status parse_elf_image(const void* data, size_t size, const ElfLimits& limits, ElfImage& out);

// Copies segment s of the image into dst, which represents the page-rounded
// range [round_down(s.vaddr), round_up(s.vaddr + s.memsz)): file bytes at
// their offset, zeros elsewhere. dst_size must equal that rounded size (else
// Err::InvalidArgument). Assumes parse_elf_image accepted the image, but still
// refuses a segment whose bytes lie outside data[0, size) (Err::Truncated).
Status copy_elf_segment(const void* data, size_t size, const ElfSegment& s, void* dst,
                        size_t dst_size);

} // namespace virtue
