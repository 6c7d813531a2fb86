// Multiboot2 boot-information layout (Multiboot2 specification, section 3.6).
//
// Facts from the specification, written down here because Debian ships no
// header for them. Every structure is read from the MBI with memcpy at a
// bounds-checked offset, never through a cast pointer.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace virtue::mb2 {

// EAX value the loader passes to a multiboot2 kernel.
inline constexpr uint32_t BOOTLOADER_MAGIC = 0x36d76289;

// Tags start at 8-byte aligned offsets; the MBI itself is 8-byte aligned.
inline constexpr size_t TAG_ALIGN = 8;

enum TagType : uint32_t {
    TAG_END = 0,
    TAG_CMDLINE = 1,
    TAG_BOOTLOADER_NAME = 2,
    TAG_MODULE = 3,
    TAG_BASIC_MEMINFO = 4,
    TAG_BOOTDEV = 5,
    TAG_MMAP = 6,
    TAG_VBE = 7,
    TAG_FRAMEBUFFER = 8,
    TAG_ELF_SECTIONS = 9,
    TAG_APM = 10,
    TAG_EFI32 = 11,
    TAG_EFI64 = 12,
    TAG_SMBIOS = 13,
    TAG_ACPI_OLD = 14, // copy of the ACPI 1.0 RSDP
    TAG_ACPI_NEW = 15, // copy of the ACPI 2.0+ RSDP
    TAG_NETWORK = 16,
    TAG_EFI_MMAP = 17,
    TAG_EFI_BS = 18,
    TAG_EFI32_IH = 19,
    TAG_EFI64_IH = 20,
    TAG_LOAD_BASE_ADDR = 21,
};

// Fixed header at offset 0.
struct InfoHeader {
    uint32_t total_size;
    uint32_t reserved;
};

struct TagHeader {
    uint32_t type;
    uint32_t size; // header included, padding to TAG_ALIGN excluded
};

// Tag 3; a NUL-terminated command line follows.
struct ModuleTag {
    TagHeader h;
    uint32_t mod_start;
    uint32_t mod_end; // exclusive
};

// Tag 4; sizes in KiB.
struct BasicMeminfoTag {
    TagHeader h;
    uint32_t mem_lower;
    uint32_t mem_upper;
};

// Tag 6; entries of entry_size bytes follow.
struct MmapTag {
    TagHeader h;
    uint32_t entry_size;
    uint32_t entry_version;
};

struct MmapEntry {
    uint64_t base_addr;
    uint64_t length;
    uint32_t type;
    uint32_t reserved;
};

// Tag 21.
struct LoadBaseTag {
    TagHeader h;
    uint32_t load_base_addr;
};

// Memory-map types.
enum MemoryType : uint32_t {
    MEMORY_AVAILABLE = 1,
    MEMORY_RESERVED = 2,
    MEMORY_ACPI_RECLAIMABLE = 3,
    MEMORY_NVS = 4,
    MEMORY_BADRAM = 5,
};

inline constexpr size_t RSDP_V1_SIZE = 20;
inline constexpr size_t RSDP_V2_SIZE = 36;

static_assert(sizeof(InfoHeader) == 8);
static_assert(sizeof(TagHeader) == 8);
static_assert(sizeof(ModuleTag) == 16);
static_assert(sizeof(BasicMeminfoTag) == 16);
static_assert(sizeof(MmapTag) == 16);
static_assert(sizeof(MmapEntry) == 24);
static_assert(sizeof(LoadBaseTag) == 12);

} // namespace virtue::mb2
