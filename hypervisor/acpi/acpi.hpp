// ACPI table parser: from the RSDP to what the hypervisor needs to know about
// the platform (CPUs, interrupt controllers, HPET, reset register, PM timer).
//
// Pure logic, no logging, no hardware access: physical memory is read only
// through a PhysReader the caller provides. Firmware tables are untrusted
// input. Problems with the RSDP or the root table (RSDT/XSDT) are fatal;
// a bad individual table is skipped and recorded in PlatformInfo::warnings.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <compare> // lib/addr.hpp uses <=> without including it

#include "lib/addr.hpp"
#include "lib/result.hpp"

namespace virtue {

// Read access to machine physical memory. map() returns a pointer to
// [phys, phys + len), or nullptr if any byte of that range may not be read.
// The pointer need only stay valid until the next map() call. The parser
// never asks for an empty range or one that wraps past 2^64.
//
// Deliberately not pure virtual: an abstract class's vtable refers to
// __cxa_pure_virtual, which the freestanding image would have to provide.
// The default reads nothing. The destructor is protected and non-virtual
// because readers are never deleted through this type (no heap).
struct PhysReader {
    virtual const uint8_t* map(uint64_t phys, size_t len) {
        (void)phys;
        (void)len;
        return nullptr;
    }

  protected:
    PhysReader() = default;
    PhysReader(const PhysReader&) = default;
    PhysReader& operator=(const PhysReader&) = default;
    ~PhysReader() = default;
};

namespace acpi {

inline constexpr size_t MAX_CPUS = 256;
inline constexpr size_t MAX_IO_APICS = 8;
// One per ISA IRQ: duplicates and IRQs above 15 are rejected, so it never fills.
inline constexpr size_t MAX_OVERRIDES = 16;
inline constexpr size_t MAX_TABLES = 32;
inline constexpr size_t MAX_WARNINGS = 32;
// No table Virtue reads comes near this; a larger length is corruption.
inline constexpr uint32_t MAX_TABLE_LENGTH = 1u << 20;
inline constexpr uint8_t NO_NMI_LINT = 0xFF;

enum class Polarity : uint8_t { Conforming, ActiveHigh, ActiveLow };
enum class Trigger : uint8_t { Conforming, Edge, Level };

struct Cpu {
    uint32_t apic_id; // xAPIC id (< 255) or x2APIC id
    uint32_t processor_uid;
    bool enabled;        // usable now
    bool online_capable; // disabled, but may be brought online later
    bool from_x2apic;    // described by an x2APIC entry (type 9)
    uint8_t nmi_lint;    // LINT pin wired to NMI, or NO_NMI_LINT
    Polarity nmi_polarity;
    Trigger nmi_trigger;
};

struct IoApic {
    uint8_t id;
    PhysAddr address;
    uint32_t gsi_base;
};

// An ISA IRQ that is not identity-mapped to a GSI, or not edge/active-high.
struct IrqOverride {
    uint8_t source_irq; // ISA IRQ 0..15 (bus 0 only)
    uint32_t gsi;
    Polarity polarity;
    Trigger trigger;
};

struct GenericAddress {
    uint8_t space_id; // layout::GAS_SPACE_* in acpi_tables.hpp
    uint8_t bit_width;
    uint8_t bit_offset;
    uint8_t access_size;
    uint64_t address;
};

struct Hpet {
    bool present;
    PhysAddr base; // system memory
    uint32_t event_timer_block_id;
    uint8_t number;
    uint16_t min_tick;
};

struct ResetRegister {
    bool present;
    GenericAddress reg; // system memory, I/O or PCI config space
    uint8_t value;
};

struct PmTimer {
    bool present;
    GenericAddress reg; // I/O or system memory
    bool is_32bit;      // otherwise 24 bits wide
};

struct TableInfo {
    char signature[5]; // NUL-terminated, non-printable bytes shown as '?'
    PhysAddr address;
    uint32_t length;
    uint8_t revision;
};

// What went wrong with one table or entry; `value` says which (see text).
enum class Warn : uint8_t {
    RootLengthUneven,   // value = root table length; trailing bytes ignored
    NullTableAddress,   // value = index of the root-table entry
    TableUnreadable,    // value = table address
    TableTooShort,      // value = declared length
    TableTooLong,       // value = declared length
    TableChecksum,      // value = table address
    TableDuplicate,     // value = table address; the first one is used
    TooManyTables,      // value = table address; not listed, still parsed
    MadtTooShort,       // value = table length
    MadtEntryBad,       // value = offset; entry length < 2 or past the end
    MadtEntryShort,     // value = offset; too short for its type, skipped
    CpuDuplicateId,     // value = APIC id; the first entry is used
    TooManyCpus,        // value = APIC id that did not fit
    TooManyIoApics,     // value = I/O APIC address that did not fit
    IoApicBad,          // value = I/O APIC address (zero)
    OverrideBad,        // value = bus << 8 | source IRQ (not ISA IRQ 0-15)
    OverrideDuplicate,  // value = source IRQ; the first entry is used
    InterruptFlagsBad,  // value = MPS INTI flags with a reserved encoding
    LapicAddressBad,    // value = 64-bit override address (zero)
    HpetTooShort,       // value = table length
    HpetNotMemory,      // value = GAS address space id
    HpetNullAddress,    // value = 0
    NmiBad,             // value = LINT pin (not 0 or 1)
    ResetRegisterBad,   // value = register address (bad space or zero)
    PmTimerBad,         // value = register address (bad space or length)
};
const char* warn_text(Warn w);

struct Warning {
    Warn code;
    char table[5]; // signature of the table concerned, NUL-terminated
    uint64_t value;
};

} // namespace acpi

struct PlatformInfo {
    char oem_id[7];        // RSDP OEM id, NUL-terminated
    uint8_t acpi_revision; // RSDP revision (0 = ACPI 1.0, 2 = 2.0+)
    bool uses_xsdt;

    acpi::TableInfo tables[acpi::MAX_TABLES]; // valid tables, root-table order
    size_t table_count;

    // From the MADT ("APIC").
    bool madt_present;
    PhysAddr local_apic_base; // after the 64-bit override, if any
    bool pcat_compat;         // dual 8259 PICs present: mask them
    acpi::Cpu cpus[acpi::MAX_CPUS]; // usable CPUs only, MADT order
    size_t cpu_count;
    size_t cpus_ignored; // disabled and not online-capable, or invalid id
    size_t cpus_dropped; // usable, but beyond MAX_CPUS
    acpi::IoApic io_apics[acpi::MAX_IO_APICS];
    size_t io_apic_count;
    acpi::IrqOverride overrides[acpi::MAX_OVERRIDES];
    size_t override_count;

    acpi::Hpet hpet;                    // from "HPET"
    uint8_t fadt_revision;              // from "FACP"; 0 if absent
    acpi::ResetRegister reset;          // from "FACP"
    acpi::PmTimer pm_timer;             // from "FACP"

    acpi::Warning warnings[acpi::MAX_WARNINGS];
    size_t warning_count;
    size_t warnings_dropped; // warnings beyond MAX_WARNINGS
};

// Parse the ACPI tables. `rsdp` is a copy of the RSDP (multiboot2 tag 15's
// payload if present, else tag 14's) of `rsdp_len` bytes.
// Errors: Truncated (RSDP shorter than its revision needs), BadFormat (bad
// signature, length, or root table), Checksum (RSDP or root table),
// Fault (root table not readable through `mem`).
Result<PlatformInfo> parse_acpi(const uint8_t* rsdp, size_t rsdp_len, PhysReader& mem);

// The same, filling `out` in place (PlatformInfo is several KiB: callers on
// a small boot stack keep it in static storage). On error `out` is cleared.
Status parse_acpi_into(const uint8_t* rsdp, size_t rsdp_len, PhysReader& mem,
                       PlatformInfo& out);

} // namespace virtue
