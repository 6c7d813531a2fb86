// ACPI: RSDP -> root table (XSDT or RSDT) -> the tables Virtue decodes.
//
// Every table is reached the same way: map its 36-byte header, check the
// declared length, map exactly that many bytes, verify the checksum. Only
// then does a per-table decoder see it (decode then act).
#include "acpi/acpi.hpp"

#include <new>

#include "acpi/acpi_internal.hpp"
#include "lib/string.hpp"

namespace virtue {

namespace acpi {
namespace {

using layout::load;

uint8_t byte_sum(const uint8_t* p, size_t n) {
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++) s = static_cast<uint8_t>(s + p[i]);
    return s;
}

// Map [phys, phys + len), refusing ranges that wrap the address space.
const uint8_t* map_range(PhysReader& mem, uint64_t phys, size_t len) {
    if (len == 0 || len - 1 > UINT64_MAX - phys) return nullptr;
    return mem.map(phys, len);
}

void copy_printable(char* dst, const char* src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        dst[i] = (c >= 0x20 && c < 0x7F) ? c : '?';
    }
    dst[n] = '\0';
}

// Why a table could not be used, for the caller to turn into an Err (root
// table) or a warning (any other table).
struct Problem {
    Err err;
    Warn warn;
    uint64_t value;
};

// Map and validate the table at `phys`. On failure `t.signature` is set if
// the header was readable, so the warning can name the table.
bool map_table(PhysReader& mem, uint64_t phys, Table& t, Problem& why) {
    copy_printable(t.signature, "????", 4);
    const uint8_t* hdr_bytes = map_range(mem, phys, sizeof(layout::SdtHeader));
    if (hdr_bytes == nullptr) {
        why = {Err::Fault, Warn::TableUnreadable, phys};
        return false;
    }
    auto hdr = load<layout::SdtHeader>(hdr_bytes);
    copy_printable(t.signature, hdr.signature, 4);
    if (hdr.length < sizeof(layout::SdtHeader)) {
        why = {Err::BadFormat, Warn::TableTooShort, hdr.length};
        return false;
    }
    if (hdr.length > MAX_TABLE_LENGTH) {
        why = {Err::BadFormat, Warn::TableTooLong, hdr.length};
        return false;
    }
    const uint32_t length = hdr.length;
    const uint8_t* bytes = map_range(mem, phys, length);
    if (bytes == nullptr) {
        why = {Err::Fault, Warn::TableUnreadable, phys};
        return false;
    }
    // Decode from this mapping only. Memory that changed under us (it must
    // not) would make the length checked differ from the length used.
    hdr = load<layout::SdtHeader>(bytes);
    if (hdr.length != length) {
        why = {Err::BadFormat, Warn::TableUnreadable, phys};
        return false;
    }
    if (byte_sum(bytes, length) != 0) {
        why = {Err::Checksum, Warn::TableChecksum, phys};
        return false;
    }
    t.bytes = bytes;
    t.length = length;
    t.revision = hdr.revision;
    return true;
}

struct RootRef {
    uint64_t address;
    bool xsdt;
};

Result<RootRef> decode_rsdp(const uint8_t* rsdp, size_t len, PlatformInfo& info) {
    if (rsdp == nullptr) return Err::InvalidArgument;
    if (len < sizeof(layout::RsdpV1)) return Err::Truncated;
    auto v1 = load<layout::RsdpV1>(rsdp);
    if (memcmp(v1.signature, "RSD PTR ", 8) != 0) return Err::BadFormat;
    if (byte_sum(rsdp, sizeof(layout::RsdpV1)) != 0) return Err::Checksum;
    copy_printable(info.oem_id, v1.oem_id, 6);
    info.acpi_revision = v1.revision;

    // Revision 0 is ACPI 1.0 (no XSDT); 1 was never defined; 2+ has the
    // extended part.
    if (v1.revision >= 2) {
        if (len < sizeof(layout::RsdpV2)) return Err::Truncated;
        auto v2 = load<layout::RsdpV2>(rsdp);
        if (v2.length < sizeof(layout::RsdpV2)) return Err::BadFormat;
        if (v2.length > len) return Err::Truncated;
        if (byte_sum(rsdp, v2.length) != 0) return Err::Checksum;
        if (v2.xsdt_address != 0) return RootRef{v2.xsdt_address, true};
    }
    if (v1.rsdt_address == 0) return Err::BadFormat;
    return RootRef{v1.rsdt_address, false};
}

// Tables decoded so far: the first of each kind wins.
struct Seen {
    bool madt, hpet, fadt;
};

void note_table(PlatformInfo& info, const Table& t, uint64_t phys) {
    if (info.table_count == MAX_TABLES) {
        warn(info, Warn::TooManyTables, t.signature, phys);
        return;
    }
    TableInfo& ti = info.tables[info.table_count++];
    memcpy(ti.signature, t.signature, sizeof ti.signature);
    ti.address = PhysAddr(phys);
    ti.length = t.length;
    ti.revision = t.revision;
}

void decode_table(PlatformInfo& info, const Table& t, uint64_t phys, Seen& seen) {
    note_table(info, t, phys);
    bool* flag = nullptr;
    void (*decode)(const Table&, PlatformInfo&) = nullptr;
    if (memcmp(t.signature, "APIC", 4) == 0) {
        flag = &seen.madt;
        decode = parse_madt;
    } else if (memcmp(t.signature, "HPET", 4) == 0) {
        flag = &seen.hpet;
        decode = parse_hpet;
    } else if (memcmp(t.signature, "FACP", 4) == 0) {
        flag = &seen.fadt;
        decode = parse_fadt;
    }
    if (decode == nullptr) return; // a table Virtue does not need
    if (*flag) {
        warn(info, Warn::TableDuplicate, t.signature, phys);
        return;
    }
    *flag = true;
    decode(t, info);
}

Status parse_all(const uint8_t* rsdp, size_t rsdp_len, PhysReader& mem, PlatformInfo& info) {
    TRY_ASSIGN(RootRef root, decode_rsdp(rsdp, rsdp_len, info));
    info.uses_xsdt = root.xsdt;

    Table rt{};
    Problem why{};
    if (!map_table(mem, root.address, rt, why)) return why.err;
    if (memcmp(rt.signature, root.xsdt ? "XSDT" : "RSDT", 4) != 0) return Err::BadFormat;
    note_table(info, rt, root.address);

    const size_t entry_size = root.xsdt ? sizeof(uint64_t) : sizeof(uint32_t);
    const size_t body = rt.length - sizeof(layout::SdtHeader);
    if (body % entry_size != 0) warn(info, Warn::RootLengthUneven, rt.signature, rt.length);
    const size_t count = body / entry_size;
    // Entries are re-read one at a time: mapping a child table may end the
    // root table's mapping (PhysReader's contract).
    const uint64_t first_entry = root.address + sizeof(layout::SdtHeader);

    Seen seen{};
    for (size_t i = 0; i < count; i++) {
        // In range and without overflow: the whole root table mapped above.
        const uint64_t entry_phys = first_entry + i * entry_size;
        const uint8_t* e = map_range(mem, entry_phys, entry_size);
        if (e == nullptr) return Err::Fault; // was readable a moment ago
        uint64_t phys = root.xsdt ? load<uint64_t>(e) : load<uint32_t>(e);
        if (phys == 0) {
            warn(info, Warn::NullTableAddress, root.xsdt ? "XSDT" : "RSDT", i);
            continue;
        }
        Table t{};
        if (!map_table(mem, phys, t, why)) {
            warn(info, why.warn, t.signature, why.value);
            continue;
        }
        decode_table(info, t, phys, seen);
    }
    return Status::success();
}

} // namespace
} // namespace acpi

Status parse_acpi_into(const uint8_t* rsdp, size_t rsdp_len, PhysReader& mem,
                       PlatformInfo& out) {
    // Value-initialise in place: PlatformInfo is too big for a temporary.
    new (&out) PlatformInfo();
    Status s = acpi::parse_all(rsdp, rsdp_len, mem, out);
    if (!s.ok()) new (&out) PlatformInfo();
    return s;
}

Result<PlatformInfo> parse_acpi(const uint8_t* rsdp, size_t rsdp_len, PhysReader& mem) {
    PlatformInfo info;
    TRY(parse_acpi_into(rsdp, rsdp_len, mem, info));
    return info;
}

} // namespace virtue
