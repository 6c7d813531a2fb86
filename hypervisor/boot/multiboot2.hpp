// Parser for the multiboot2 boot information (MBI) that GRUB2 hands over.
//
// Pure logic: the caller maps the MBI and says how many bytes it may read.
// Structural damage (sizes, alignment, missing end tag) is fatal and returns
// an Err. A bad individual item (a zero-length module, an odd memory-map
// entry size, an unterminated string) is skipped and recorded as a warning,
// as data, for the caller to print once the console is up.
//
// Strings in BootInfo point into the MBI: they stay valid only while the MBI
// stays mapped and untouched, so the hypervisor copies what it keeps.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/addr.hpp"
#include "lib/result.hpp"

namespace virtue {

inline constexpr size_t MB2_MAX_MEMORY_REGIONS = 128;
inline constexpr size_t MB2_MAX_MODULES = 16;
inline constexpr size_t MB2_MAX_WARNINGS = 16;

// One non-fatal problem: a fixed message and up to two offending values.
struct BootWarning {
    const char* what;
    uint64_t a;
    uint64_t b;
};

struct BootWarnings {
    BootWarning items[MB2_MAX_WARNINGS];
    size_t count;
    size_t dropped; // warnings that did not fit (counted, not stored)

    void add(const char* what, uint64_t a = 0, uint64_t b = 0);
};

// A string inside the MBI; verified NUL-terminated within its tag
// (ptr[len] == '\0'). Absent when ptr is null.
struct BootString {
    const char* ptr;
    size_t len;
    bool present() const { return ptr != nullptr; }
};

// One memory-map entry as the loader reported it (types: mb2::MemoryType).
struct MemoryRegion {
    uint64_t base;
    uint64_t length;
    uint32_t type;
};

struct BootModule {
    PhysAddr start;
    PhysAddr end; // exclusive; start < end
    BootString cmdline;
};

enum class RsdpKind : uint8_t { None, V1, V2 };

// Raw copy of the RSDP the loader found (20 bytes for v1, 36 for v2); the
// ACPI code checks signature and checksums.
struct RsdpCopy {
    RsdpKind kind;
    uint8_t length;
    uint8_t bytes[36];
};

struct BootInfo {
    PhysAddr mbi_start; // [mbi_start, mbi_end) holds the MBI itself
    PhysAddr mbi_end;

    BootString cmdline;
    BootString bootloader_name;

    bool has_basic_meminfo;
    uint32_t mem_lower_kib;
    uint32_t mem_upper_kib;

    bool has_memory_map;
    MemoryRegion memory_map[MB2_MAX_MEMORY_REGIONS];
    size_t memory_map_count;

    BootModule modules[MB2_MAX_MODULES];
    size_t module_count;

    RsdpCopy rsdp; // v2 preferred when the loader gives both

    bool has_load_base;
    PhysAddr load_base; // where the loader placed the image (tag 21)

    BootWarnings warnings;
};

// Parses the MBI at `mbi` (physical address `mbi_phys`), reading at most
// `available_bytes`. Fills `out` (several KiB: keep it in static storage,
// not on the boot stack). On error `out` is left cleared.
//   Err::InvalidArgument  mbi is null
//   Err::BadFormat        MBI not 8-byte aligned, total_size < 8, a tag
//                         smaller than its header, a bad or missing end tag
//   Err::Truncated        total_size > available_bytes, or a tag running
//                         past total_size
//   Err::Range            the MBI's physical range wraps past 2^64
[[nodiscard]] Status parse_multiboot2(const uint8_t* mbi, size_t available_bytes,
                                      uint64_t mbi_phys, BootInfo& out);

} // namespace virtue
