// On-disk (in-memory, firmware-provided) layouts of the ACPI tables Virtue
// reads, from the ACPI specification (6.5) and the IA-PC HPET specification.
//
// All structures are packed and little-endian, as firmware writes them. Table
// memory is untrusted and unaligned: never cast a table pointer to one of
// these types. Copy the bytes into a local with load() after checking that
// they are inside the table.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace virtue::acpi::layout {

// Copy a layout struct out of raw bytes. The caller has bounds-checked
// [p, p + sizeof(T)). __builtin_memcpy keeps this header free of <cstring>
// and lib/string.hpp, which clash when both are seen by one host test file.
template <typename T>
inline T load(const uint8_t* p) {
    T v;
    __builtin_memcpy(&v, p, sizeof(T));
    return v;
}

// Root System Description Pointer, ACPI 1.0 part (revision 0).
struct [[gnu::packed]] RsdpV1 {
    char signature[8]; // "RSD PTR "
    uint8_t checksum;  // bytes 0..19 sum to 0
    char oem_id[6];
    uint8_t revision; // 0 = ACPI 1.0, 2 = ACPI 2.0+
    uint32_t rsdt_address;
};
static_assert(sizeof(RsdpV1) == 20);

// RSDP, ACPI 2.0+ (revision >= 2).
struct [[gnu::packed]] RsdpV2 {
    RsdpV1 v1;
    uint32_t length; // whole structure
    uint64_t xsdt_address;
    uint8_t extended_checksum; // bytes 0..length-1 sum to 0
    uint8_t reserved[3];
};
static_assert(sizeof(RsdpV2) == 36);
static_assert(offsetof(RsdpV2, length) == 20);
static_assert(offsetof(RsdpV2, xsdt_address) == 24);

// Header shared by every System Description Table.
struct [[gnu::packed]] SdtHeader {
    char signature[4];
    uint32_t length; // whole table, header included
    uint8_t revision;
    uint8_t checksum; // all `length` bytes sum to 0
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    uint32_t creator_id;
    uint32_t creator_revision;
};
static_assert(sizeof(SdtHeader) == 36);

// Generic Address Structure (ACPI 6.5 section 5.2.3.2).
struct [[gnu::packed]] GenericAddress {
    uint8_t space_id; // GAS_SPACE_*
    uint8_t bit_width;
    uint8_t bit_offset;
    uint8_t access_size;
    uint64_t address;
};
static_assert(sizeof(GenericAddress) == 12);

inline constexpr uint8_t GAS_SPACE_MEMORY = 0;
inline constexpr uint8_t GAS_SPACE_IO = 1;
inline constexpr uint8_t GAS_SPACE_PCI_CONFIG = 2;

// MADT ("APIC") fixed part after the header.
struct [[gnu::packed]] MadtFixed {
    uint32_t local_apic_address;
    uint32_t flags; // MADT_PCAT_COMPAT
};
static_assert(sizeof(MadtFixed) == 8);
inline constexpr size_t MADT_ENTRIES_OFFSET = sizeof(SdtHeader) + sizeof(MadtFixed);
inline constexpr uint32_t MADT_PCAT_COMPAT = 1u << 0; // dual 8259 present

// Every MADT entry starts with type and length (length includes these two).
struct [[gnu::packed]] MadtEntryHeader {
    uint8_t type;
    uint8_t length;
};

enum MadtType : uint8_t {
    MADT_LOCAL_APIC = 0,
    MADT_IO_APIC = 1,
    MADT_INT_OVERRIDE = 2,
    MADT_NMI_SOURCE = 3,
    MADT_LOCAL_APIC_NMI = 4,
    MADT_LOCAL_APIC_OVERRIDE = 5,
    MADT_LOCAL_X2APIC = 9,
    MADT_LOCAL_X2APIC_NMI = 0xA,
};

// Processor local APIC / x2APIC flags.
inline constexpr uint32_t MADT_CPU_ENABLED = 1u << 0;
inline constexpr uint32_t MADT_CPU_ONLINE_CAPABLE = 1u << 1; // MADT rev >= 5

struct [[gnu::packed]] MadtLocalApic { // type 0
    MadtEntryHeader h;
    uint8_t processor_uid;
    uint8_t apic_id;
    uint32_t flags;
};
static_assert(sizeof(MadtLocalApic) == 8);

struct [[gnu::packed]] MadtIoApic { // type 1
    MadtEntryHeader h;
    uint8_t io_apic_id;
    uint8_t reserved;
    uint32_t address;
    uint32_t gsi_base;
};
static_assert(sizeof(MadtIoApic) == 12);

struct [[gnu::packed]] MadtIntOverride { // type 2
    MadtEntryHeader h;
    uint8_t bus; // 0 = ISA
    uint8_t source_irq;
    uint32_t gsi;
    uint16_t flags; // MPS INTI flags
};
static_assert(sizeof(MadtIntOverride) == 10);

struct [[gnu::packed]] MadtLocalApicNmi { // type 4
    MadtEntryHeader h;
    uint8_t processor_uid; // 0xFF = all processors
    uint16_t flags;        // MPS INTI flags
    uint8_t lint;          // LINT0 or LINT1
};
static_assert(sizeof(MadtLocalApicNmi) == 6);

struct [[gnu::packed]] MadtLocalApicOverride { // type 5
    MadtEntryHeader h;
    uint16_t reserved;
    uint64_t address;
};
static_assert(sizeof(MadtLocalApicOverride) == 12);

struct [[gnu::packed]] MadtLocalX2Apic { // type 9
    MadtEntryHeader h;
    uint16_t reserved;
    uint32_t x2apic_id;
    uint32_t flags;
    uint32_t processor_uid;
};
static_assert(sizeof(MadtLocalX2Apic) == 16);

struct [[gnu::packed]] MadtLocalX2ApicNmi { // type 0xA
    MadtEntryHeader h;
    uint16_t flags;         // MPS INTI flags
    uint32_t processor_uid; // 0xFFFFFFFF = all processors
    uint8_t lint;
    uint8_t reserved[3];
};
static_assert(sizeof(MadtLocalX2ApicNmi) == 12);

// MPS INTI flags: polarity in bits 1:0, trigger mode in bits 3:2.
inline constexpr uint16_t INTI_POLARITY_MASK = 0x3;
inline constexpr uint16_t INTI_TRIGGER_SHIFT = 2;
inline constexpr uint16_t INTI_TRIGGER_MASK = 0x3;

// HPET description table body (IA-PC HPET spec 1.0a, table 3).
struct [[gnu::packed]] HpetBody {
    uint32_t event_timer_block_id;
    GenericAddress base_address;
    uint8_t hpet_number;
    uint16_t min_clock_tick;
    uint8_t page_protection;
};
static_assert(sizeof(SdtHeader) + sizeof(HpetBody) == 56);

// FADT ("FACP") fields Virtue reads, by byte offset from the table start.
// Older revisions are shorter; a field exists only if the table covers it.
inline constexpr size_t FADT_PM_TMR_BLK = 76;     // uint32_t I/O port
inline constexpr size_t FADT_PM_TMR_LEN = 91;     // uint8_t, 4 when present
inline constexpr size_t FADT_FLAGS = 112;         // uint32_t
inline constexpr size_t FADT_RESET_REG = 116;     // GenericAddress (ACPI 2.0+)
inline constexpr size_t FADT_RESET_VALUE = 128;   // uint8_t
inline constexpr size_t FADT_X_PM_TMR_BLK = 208;  // GenericAddress (ACPI 2.0+)
inline constexpr size_t FADT_REV1_LENGTH = 116;   // ACPI 1.0 FADT
inline constexpr uint32_t FADT_TMR_VAL_EXT = 1u << 8;       // 32-bit PM timer
inline constexpr uint32_t FADT_RESET_REG_SUP = 1u << 10;    // RESET_REG valid

} // namespace virtue::acpi::layout
