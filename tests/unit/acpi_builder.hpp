// Test helpers for the ACPI parser: build firmware tables byte by byte at the
// offsets the ACPI specification gives (deliberately not through the
// parser's own layout structs, so a layout mistake there makes tests fail),
// and a fake physical memory that hands out exact-size copies, so that any
// read past a mapped range, or of a stale mapping, is caught by ASan.
#pragma once

#include <stdint.h>
#include <string.h>

#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <vector>

#include "acpi/acpi.hpp"

namespace acpitest {

using Bytes = std::vector<uint8_t>;

inline void put(Bytes& b, size_t off, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) b.at(off + i) = static_cast<uint8_t>(v >> (8 * i));
}

inline void append(Bytes& b, uint64_t v, size_t n) {
    b.resize(b.size() + n);
    put(b, b.size() - n, v, n);
}

inline void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

inline uint8_t sum(const Bytes& b, size_t n) {
    uint8_t s = 0;
    for (size_t i = 0; i < n && i < b.size(); i++) s = static_cast<uint8_t>(s + b[i]);
    return s;
}

// Recompute an SDT checksum over the table's declared length (as far as the
// bytes go), as a careless but consistent firmware would.
inline void refresh_checksum(Bytes& t) {
    uint32_t len = static_cast<uint32_t>(t[4] | t[5] << 8 | t[6] << 16 | uint32_t(t[7]) << 24);
    if (len <= 9) return; // checksum byte not covered
    t[9] = 0;
    t[9] = static_cast<uint8_t>(-sum(t, len));
}

inline void set_length(Bytes& t, uint32_t len) {
    put(t, 4, len, 4);
    refresh_checksum(t);
}

inline Bytes sdt(const char* sig, uint8_t rev, const Bytes& body) {
    Bytes t(36, 0);
    memcpy(t.data(), sig, 4);
    put(t, 4, 36 + body.size(), 4);
    t[8] = rev;
    memcpy(t.data() + 10, "BOCHS ", 6);
    memcpy(t.data() + 16, "BXPC", 4);
    memcpy(t.data() + 20, sig, 4);
    put(t, 24, 1, 4);
    memcpy(t.data() + 28, "BXPC", 4);
    put(t, 32, 1, 4);
    append(t, body);
    refresh_checksum(t);
    return t;
}

// ---- MADT entries ----
inline Bytes lapic(uint8_t uid, uint8_t id, uint32_t flags) {
    Bytes e{0, 8, uid, id};
    append(e, flags, 4);
    return e;
}
inline Bytes ioapic(uint8_t id, uint32_t addr, uint32_t gsi_base) {
    Bytes e{1, 12, id, 0};
    append(e, addr, 4);
    append(e, gsi_base, 4);
    return e;
}
inline Bytes iso(uint8_t bus, uint8_t irq, uint32_t gsi, uint16_t flags) {
    Bytes e{2, 10, bus, irq};
    append(e, gsi, 4);
    append(e, flags, 2);
    return e;
}
inline Bytes lapic_nmi(uint8_t uid, uint16_t flags, uint8_t lint) {
    Bytes e{4, 6, uid};
    append(e, flags, 2);
    append(e, lint, 1);
    return e;
}
inline Bytes lapic_override(uint64_t addr) {
    Bytes e{5, 12, 0, 0};
    append(e, addr, 8);
    return e;
}
inline Bytes x2apic(uint32_t id, uint32_t flags, uint32_t uid) {
    Bytes e{9, 16, 0, 0};
    append(e, id, 4);
    append(e, flags, 4);
    append(e, uid, 4);
    return e;
}
inline Bytes x2apic_nmi(uint16_t flags, uint32_t uid, uint8_t lint) {
    Bytes e{0xA, 12};
    append(e, flags, 2);
    append(e, uid, 4);
    append(e, lint, 1);
    append(e, 0, 3);
    return e;
}

inline Bytes madt(uint32_t lapic_addr, uint32_t flags, const std::vector<Bytes>& entries,
                  uint8_t rev = 1) {
    Bytes body;
    append(body, lapic_addr, 4);
    append(body, flags, 4);
    for (const Bytes& e : entries) append(body, e);
    return sdt("APIC", rev, body);
}

// INTI flags as QEMU writes them for PCI IRQs: active high (1), level (3 << 2).
inline constexpr uint16_t LEVEL_HIGH = 0x000D;

// QEMU `pc`: 4 CPUs, one I/O APIC, IRQ0 -> GSI2, PCI IRQs 5/9/10/11 level.
inline Bytes qemu_pc_madt() {
    return madt(0xFEE00000, 1,
                {lapic(0, 0, 1), lapic(1, 1, 1), lapic(2, 2, 1), lapic(3, 3, 1),
                 ioapic(0, 0xFEC00000, 0), iso(0, 0, 2, 0), iso(0, 5, 5, LEVEL_HIGH),
                 iso(0, 9, 9, LEVEL_HIGH), iso(0, 10, 10, LEVEL_HIGH),
                 iso(0, 11, 11, LEVEL_HIGH), lapic_nmi(0xFF, 0, 1)});
}

inline Bytes gas(uint8_t space, uint8_t width, uint8_t access, uint64_t addr) {
    Bytes g{space, width, 0, access};
    append(g, addr, 8);
    return g;
}

inline Bytes hpet(uint8_t space, uint64_t addr, uint8_t number = 0, uint16_t min_tick = 0x80) {
    Bytes body;
    append(body, 0x8086A201, 4);
    append(body, gas(space, 0, 0, addr));
    append(body, number, 1);
    append(body, min_tick, 2);
    append(body, 0, 1);
    return sdt("HPET", 1, body);
}

// ACPI 1.0 FADT as QEMU `pc` has it: 116 bytes, no reset register.
inline Bytes fadt_v1(uint32_t pm_tmr_port = 0x608, uint32_t flags = 0x80A5) {
    Bytes t = sdt("FACP", 1, Bytes(116 - 36, 0));
    put(t, 46, 9, 2);     // SCI_INT
    put(t, 48, 0xB2, 4);  // SMI_CMD
    put(t, 56, 0x600, 4); // PM1a_EVT_BLK
    put(t, 64, 0x604, 4); // PM1a_CNT_BLK
    put(t, 76, pm_tmr_port, 4);
    put(t, 88, 4, 1);    // PM1_EVT_LEN
    put(t, 89, 2, 1);    // PM1_CNT_LEN
    put(t, 91, 4, 1);    // PM_TMR_LEN
    put(t, 112, flags, 4);
    refresh_checksum(t);
    return t;
}

inline constexpr uint32_t FADT_RESET_REG_SUP = 1u << 10;
inline constexpr uint32_t FADT_TMR_VAL_EXT = 1u << 8;

// ACPI 2.0+ FADT (revision 3, 244 bytes) as QEMU `q35` has it.
inline Bytes fadt_v3(uint32_t flags = 0x84A5 | FADT_RESET_REG_SUP, uint8_t reset_space = 1,
                     uint64_t reset_addr = 0xCF9, uint8_t reset_value = 0x0F,
                     uint64_t x_pm_tmr = 0x608) {
    Bytes t = fadt_v1(0x608, flags);
    t.resize(244, 0);
    t[8] = 3;
    put(t, 4, 244, 4);
    Bytes r = gas(reset_space, 8, 1, reset_addr);
    memcpy(t.data() + 116, r.data(), r.size());
    t[128] = reset_value;
    Bytes x = gas(1, 32, 3, x_pm_tmr);
    memcpy(t.data() + 208, x.data(), x.size());
    refresh_checksum(t);
    return t;
}

inline Bytes rsdt(const std::vector<uint64_t>& addrs) {
    Bytes body;
    for (uint64_t a : addrs) append(body, a, 4);
    return sdt("RSDT", 1, body);
}

inline Bytes xsdt(const std::vector<uint64_t>& addrs) {
    Bytes body;
    for (uint64_t a : addrs) append(body, a, 8);
    return sdt("XSDT", 1, body);
}

inline Bytes rsdp_v1(uint32_t rsdt_addr, const char* oem = "BOCHS ") {
    Bytes r(20, 0);
    memcpy(r.data(), "RSD PTR ", 8);
    memcpy(r.data() + 9, oem, 6);
    put(r, 16, rsdt_addr, 4);
    r[8] = static_cast<uint8_t>(-sum(r, 20));
    return r;
}

inline Bytes rsdp_v2(uint32_t rsdt_addr, uint64_t xsdt_addr) {
    Bytes r = rsdp_v1(rsdt_addr);
    r[15] = 2;
    r[8] = 0;
    r[8] = static_cast<uint8_t>(-sum(r, 20));
    append(r, 36, 4);
    append(r, xsdt_addr, 8);
    append(r, 0, 4);
    r[32] = static_cast<uint8_t>(-sum(r, 36));
    return r;
}

// Physical memory [base, base + size). map() returns a fresh heap copy of
// exactly the requested bytes and frees the previous one.
struct Memory : virtue::PhysReader {
    uint64_t base;
    Bytes ram;
    size_t next = 0;
    std::unique_ptr<uint8_t[]> window;
    size_t calls = 0;
    size_t max_len = 0;
    size_t bad_requests = 0; // empty, or wrapping past 2^64: never valid

    explicit Memory(uint64_t b = 0x7FE0000, size_t size = 0x20000) : base(b), ram(size, 0xEE) {}

    uint64_t place(const Bytes& t) {
        size_t off = next;
        if (t.size() > ram.size() - off) throw std::runtime_error("test memory full");
        memcpy(ram.data() + off, t.data(), t.size());
        next = (off + t.size() + 15) & ~size_t{15};
        return base + off;
    }

    void write(uint64_t phys, const Bytes& t) {
        memcpy(ram.data() + (phys - base), t.data(), t.size());
    }

    const uint8_t* map(uint64_t phys, size_t len) override {
        calls++;
        if (len > max_len) max_len = len;
        if (len == 0 || len - 1 > UINT64_MAX - phys) bad_requests++;
        window.reset();
        if (phys < base) return nullptr;
        uint64_t off = phys - base;
        if (off > ram.size() || len > ram.size() - off) return nullptr;
        window.reset(new uint8_t[len]);
        memcpy(window.get(), ram.data() + off, len);
        return window.get();
    }
};

// A machine: tables placed in memory, a root table listing them, an RSDP.
struct Machine {
    Memory mem;
    Bytes rsdp;
    std::vector<uint64_t> addrs; // of the tables, in the order given
    uint64_t root = 0;

    virtue::Result<virtue::PlatformInfo> parse() {
        return virtue::parse_acpi(rsdp.data(), rsdp.size(), mem);
    }
};

inline std::unique_ptr<Machine> build(const std::vector<Bytes>& tables, bool use_xsdt = false) {
    auto m = std::make_unique<Machine>();
    for (const Bytes& t : tables) m->addrs.push_back(m->mem.place(t));
    if (use_xsdt) {
        m->root = m->mem.place(xsdt(m->addrs));
        m->rsdp = rsdp_v2(0, m->root);
    } else {
        m->root = m->mem.place(rsdt(m->addrs));
        m->rsdp = rsdp_v1(static_cast<uint32_t>(m->root));
    }
    return m;
}

inline std::vector<Bytes> qemu_pc_tables() {
    return {fadt_v1(), qemu_pc_madt(), hpet(0, 0xFED00000)};
}

// Find a warning by code; nullptr if absent.
inline const virtue::acpi::Warning* find_warning(const virtue::PlatformInfo& p,
                                                 virtue::acpi::Warn code) {
    for (size_t i = 0; i < p.warning_count; i++)
        if (p.warnings[i].code == code) return &p.warnings[i];
    return nullptr;
}

inline size_t count_warnings(const virtue::PlatformInfo& p, virtue::acpi::Warn code) {
    size_t n = 0;
    for (size_t i = 0; i < p.warning_count; i++) n += p.warnings[i].code == code;
    return n;
}

} // namespace acpitest
