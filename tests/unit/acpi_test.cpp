// ACPI parser: RSDP, root tables, generic table checks, HPET and FADT.
// MADT decoding is in acpi_madt_test.cpp.
#include <boost/test/unit_test.hpp>

#include "acpi_builder.hpp"

using namespace acpitest;
using virtue::Err;
using virtue::PhysAddr;
using virtue::acpi::Warn;

namespace {

// Err as text, so a failed comparison prints something readable.
std::string e(Err x) { return virtue::err_name(x); }

bool has_table(const virtue::PlatformInfo& p, const char* sig) {
    for (size_t i = 0; i < p.table_count; i++)
        if (strcmp(p.tables[i].signature, sig) == 0) return true;
    return false;
}

// The QEMU pc set parsed: everything a boot needs is there.
void check_pc_madt(const virtue::PlatformInfo& p) {
    BOOST_TEST(p.madt_present);
    BOOST_TEST(p.local_apic_base.raw() == 0xFEE00000u);
    BOOST_TEST(p.pcat_compat);
    BOOST_TEST(p.cpu_count == 4u);
    BOOST_TEST(p.io_apic_count == 1u);
    BOOST_TEST(p.override_count == 5u);
}

void check_pc_hpet(const virtue::PlatformInfo& p) {
    BOOST_TEST(p.hpet.present);
    BOOST_TEST(p.hpet.base.raw() == 0xFED00000u);
}

} // namespace

BOOST_AUTO_TEST_SUITE(acpi)

BOOST_AUTO_TEST_CASE(qemu_pc_rsdt) {
    auto m = build(qemu_pc_tables());
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    const auto& p = *r;
    BOOST_TEST(std::string(p.oem_id) == "BOCHS ");
    BOOST_TEST(p.acpi_revision == 0);
    BOOST_TEST(!p.uses_xsdt);
    BOOST_TEST(p.warning_count == 0u);
    BOOST_TEST(p.warnings_dropped == 0u);

    BOOST_TEST_REQUIRE(p.table_count == 4u);
    BOOST_TEST(std::string(p.tables[0].signature) == "RSDT");
    BOOST_TEST(p.tables[0].address.raw() == m->root);
    BOOST_TEST(std::string(p.tables[1].signature) == "FACP");
    BOOST_TEST(p.tables[1].address.raw() == m->addrs[0]);
    BOOST_TEST(p.tables[1].length == 116u);
    BOOST_TEST(p.tables[1].revision == 1);
    BOOST_TEST(std::string(p.tables[2].signature) == "APIC");
    BOOST_TEST(std::string(p.tables[3].signature) == "HPET");
    BOOST_TEST(p.tables[3].length == 56u);

    check_pc_madt(p);
    BOOST_TEST(p.hpet.present);
    BOOST_TEST(p.hpet.base.raw() == 0xFED00000u);
    BOOST_TEST(p.hpet.event_timer_block_id == 0x8086A201u);
    BOOST_TEST(p.hpet.number == 0);
    BOOST_TEST(p.hpet.min_tick == 0x80);

    // ACPI 1.0 FADT: no reset register; legacy 24-bit PM timer at 0x608.
    BOOST_TEST(p.fadt_revision == 1);
    BOOST_TEST(!p.reset.present);
    BOOST_TEST(p.pm_timer.present);
    BOOST_TEST(p.pm_timer.reg.space_id == 1);
    BOOST_TEST(p.pm_timer.reg.address == 0x608u);
    BOOST_TEST(p.pm_timer.reg.bit_width == 32);
    BOOST_TEST(!p.pm_timer.is_32bit);

    // Never maps more than the largest table.
    BOOST_TEST(m->mem.max_len <= 144u);
}

BOOST_AUTO_TEST_CASE(v2_rsdp_uses_xsdt) {
    auto m = build({fadt_v3(), qemu_pc_madt(), hpet(0, 0xFED00000)}, true);
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    const auto& p = *r;
    BOOST_TEST(p.acpi_revision == 2);
    BOOST_TEST(p.uses_xsdt);
    BOOST_TEST(p.warning_count == 0u);
    BOOST_TEST(std::string(p.tables[0].signature) == "XSDT");
    BOOST_TEST(p.table_count == 4u);
    check_pc_madt(p);
    check_pc_hpet(p);

    BOOST_TEST(p.fadt_revision == 3);
    BOOST_TEST(p.reset.present);
    BOOST_TEST(p.reset.reg.space_id == 1);
    BOOST_TEST(p.reset.reg.bit_width == 8);
    BOOST_TEST(p.reset.reg.address == 0xCF9u);
    BOOST_TEST(p.reset.value == 0x0F);
    BOOST_TEST(p.pm_timer.present);
    BOOST_TEST(p.pm_timer.reg.address == 0x608u);
    BOOST_TEST(p.pm_timer.reg.access_size == 3);
}

BOOST_AUTO_TEST_CASE(v2_rsdp_with_zero_xsdt_falls_back_to_rsdt) {
    auto m = build(qemu_pc_tables());
    m->rsdp = rsdp_v2(static_cast<uint32_t>(m->root), 0);
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST(!r->uses_xsdt);
    BOOST_TEST(r->acpi_revision == 2);
    check_pc_madt(*r);
}

BOOST_AUTO_TEST_CASE(xsdt_preferred_over_rsdt) {
    // Both roots valid but listing different tables: the XSDT must win.
    Memory mem;
    uint64_t madt_a = mem.place(qemu_pc_madt());
    uint64_t hpet_b = mem.place(hpet(0, 0xFED00000));
    uint64_t r = mem.place(rsdt({madt_a}));
    uint64_t x = mem.place(xsdt({hpet_b}));
    Bytes rsdp = rsdp_v2(static_cast<uint32_t>(r), x);
    auto res = virtue::parse_acpi(rsdp.data(), rsdp.size(), mem);
    BOOST_TEST_REQUIRE(res.ok());
    BOOST_TEST(res->uses_xsdt);
    BOOST_TEST(res->hpet.present);
    BOOST_TEST(!res->madt_present);
}

BOOST_AUTO_TEST_CASE(xsdt_entry_above_4g_unreadable) {
    auto m = build(qemu_pc_tables(), true);
    Bytes x = xsdt({m->addrs[0], 0x1'0000'0000ull, m->addrs[1], m->addrs[2]});
    m->root = m->mem.place(x);
    m->rsdp = rsdp_v2(0, m->root);
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    const auto* w = find_warning(*r, Warn::TableUnreadable);
    BOOST_TEST_REQUIRE(w != nullptr);
    BOOST_TEST(w->value == 0x1'0000'0000ull);
    BOOST_TEST(std::string(w->table) == "????");
    check_pc_madt(*r);
    check_pc_hpet(*r);
}

// ---- RSDP ----

BOOST_AUTO_TEST_CASE(rsdp_null_and_short) {
    auto m = build(qemu_pc_tables());
    auto r = virtue::parse_acpi(nullptr, 20, m->mem);
    BOOST_TEST(!r.ok());
    BOOST_TEST(e(r.error()) == e(Err::InvalidArgument));
    for (size_t len = 0; len < 20; len++) {
        // An exact-size heap copy: ASan catches a read past `len`.
        std::unique_ptr<uint8_t[]> copy(new uint8_t[len]);
        memcpy(copy.get(), m->rsdp.data(), len);
        auto res = virtue::parse_acpi(copy.get(), len, m->mem);
        BOOST_TEST(!res.ok());
        BOOST_TEST(e(res.error()) == e(Err::Truncated));
    }
}

BOOST_AUTO_TEST_CASE(rsdp_v2_truncated_at_every_length) {
    auto m = build(qemu_pc_tables(), true);
    for (size_t len = 0; len < 36; len++) {
        std::unique_ptr<uint8_t[]> copy(new uint8_t[len]);
        memcpy(copy.get(), m->rsdp.data(), len);
        auto res = virtue::parse_acpi(copy.get(), len, m->mem);
        BOOST_TEST(!res.ok());
        BOOST_TEST(e(res.error()) == e(Err::Truncated));
    }
    // A longer buffer than the structure is fine (tags may be padded).
    Bytes padded = m->rsdp;
    padded.resize(48, 0);
    auto res = virtue::parse_acpi(padded.data(), padded.size(), m->mem);
    BOOST_TEST(res.ok());
}

BOOST_AUTO_TEST_CASE(rsdp_bad_signature) {
    auto m = build(qemu_pc_tables());
    m->rsdp[0] = 'X';
    m->rsdp[8] = static_cast<uint8_t>(m->rsdp[8] + 'R' - 'X'); // keep checksum right
    BOOST_TEST(sum(m->rsdp, 20) == 0);
    auto r = m->parse();
    BOOST_TEST(!r.ok());
    BOOST_TEST(e(r.error()) == e(Err::BadFormat));
}

BOOST_AUTO_TEST_CASE(rsdp_bad_checksum) {
    auto m = build(qemu_pc_tables());
    m->rsdp[8] ^= 1;
    auto r = m->parse();
    BOOST_TEST(!r.ok());
    BOOST_TEST(e(r.error()) == e(Err::Checksum));
    BOOST_TEST(m->mem.calls == 0u); // nothing mapped on a bad RSDP
}

BOOST_AUTO_TEST_CASE(rsdp_bad_extended_checksum) {
    auto m = build(qemu_pc_tables(), true);
    m->rsdp[32] ^= 0x40; // first 20 bytes still sum to zero
    BOOST_TEST(sum(m->rsdp, 20) == 0);
    auto r = m->parse();
    BOOST_TEST(!r.ok());
    BOOST_TEST(e(r.error()) == e(Err::Checksum));
}

BOOST_AUTO_TEST_CASE(rsdp_v2_length_field) {
    auto m = build(qemu_pc_tables(), true);
    auto with_length = [&](uint32_t len) {
        Bytes r = m->rsdp;
        put(r, 20, len, 4);
        r[32] = 0;
        r[32] = static_cast<uint8_t>(-sum(r, len < r.size() ? len : r.size()));
        return virtue::parse_acpi(r.data(), r.size(), m->mem);
    };
    auto a = with_length(35);
    BOOST_TEST(!a.ok());
    BOOST_TEST(e(a.error()) == e(Err::BadFormat));
    auto b = with_length(37); // claims more than the caller has
    BOOST_TEST(!b.ok());
    BOOST_TEST(e(b.error()) == e(Err::Truncated));
    auto c = with_length(0xFFFFFFFF);
    BOOST_TEST(!c.ok());
    BOOST_TEST(e(c.error()) == e(Err::Truncated));
    auto d = with_length(36);
    BOOST_TEST(d.ok());
}

BOOST_AUTO_TEST_CASE(rsdp_zero_rsdt) {
    Memory mem;
    Bytes r = rsdp_v1(0);
    auto res = virtue::parse_acpi(r.data(), r.size(), mem);
    BOOST_TEST(!res.ok());
    BOOST_TEST(e(res.error()) == e(Err::BadFormat));
}

BOOST_AUTO_TEST_CASE(oem_id_made_printable) {
    auto m = build(qemu_pc_tables());
    m->rsdp = rsdp_v1(static_cast<uint32_t>(m->root), "AB\x01\xff\n ");
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST(std::string(r->oem_id) == "AB??? ");
}

// ---- Root table ----

BOOST_AUTO_TEST_CASE(root_table_unreadable) {
    auto m = build(qemu_pc_tables());
    m->rsdp = rsdp_v1(0x1000); // below the test memory
    auto r = m->parse();
    BOOST_TEST(!r.ok());
    BOOST_TEST(e(r.error()) == e(Err::Fault));
}

BOOST_AUTO_TEST_CASE(root_table_errors_are_fatal) {
    struct Case {
        uint32_t length;
        Err expected;
    } cases[] = {{0, Err::BadFormat}, {35, Err::BadFormat}, {0xFFFFFFFF, Err::BadFormat},
                 {virtue::acpi::MAX_TABLE_LENGTH + 1, Err::BadFormat},
                 // Past the end of memory: header readable, table not.
                 {0x20000, Err::Fault}};
    for (const Case& c : cases) {
        auto m = build(qemu_pc_tables());
        Bytes root = rsdt(m->addrs);
        set_length(root, c.length);
        m->mem.write(m->root, root);
        auto r = m->parse();
        BOOST_TEST(!r.ok());
        BOOST_TEST(e(r.error()) == e(c.expected), "length " << c.length);
        // The huge length was refused before mapping: nothing big was mapped.
        BOOST_TEST(m->mem.max_len <= 0x20000u);
    }
}

BOOST_AUTO_TEST_CASE(root_table_bad_checksum_or_signature) {
    auto m = build(qemu_pc_tables());
    m->mem.ram[m->root - m->mem.base + 9] ^= 1;
    auto r = m->parse();
    BOOST_TEST(!r.ok());
    BOOST_TEST(e(r.error()) == e(Err::Checksum));

    // An XSDT where the RSDP promises an RSDT.
    auto m2 = build(qemu_pc_tables());
    uint64_t x = m2->mem.place(xsdt(m2->addrs));
    m2->rsdp = rsdp_v1(static_cast<uint32_t>(x));
    auto r2 = m2->parse();
    BOOST_TEST(!r2.ok());
    BOOST_TEST(e(r2.error()) == e(Err::BadFormat));
}

BOOST_AUTO_TEST_CASE(root_length_not_multiple_of_entry_size) {
    auto m = build(qemu_pc_tables());
    Bytes root = rsdt(m->addrs);
    append(root, 0xAB, 2); // 36 + 4*3 + 2
    set_length(root, static_cast<uint32_t>(root.size()));
    m->mem.write(m->root, root);
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    const auto* w = find_warning(*r, Warn::RootLengthUneven);
    BOOST_TEST_REQUIRE(w != nullptr);
    BOOST_TEST(w->value == 50u);
    BOOST_TEST(std::string(w->table) == "RSDT");
    BOOST_TEST(r->table_count == 4u); // the 3 whole entries still used
    check_pc_madt(*r);
}

BOOST_AUTO_TEST_CASE(root_table_truncated_at_every_length) {
    // The RSDT's declared length cut to every value below its real one.
    auto full = build(qemu_pc_tables());
    const size_t real = rsdt(full->addrs).size();
    for (uint32_t cut = 0; cut < real; cut++) {
        auto m = build(qemu_pc_tables());
        Bytes root = rsdt(m->addrs);
        set_length(root, cut);
        m->mem.write(m->root, root);
        auto r = m->parse();
        if (cut < 36) {
            BOOST_TEST(!r.ok());
            BOOST_TEST(e(r.error()) == e(Err::BadFormat));
            continue;
        }
        BOOST_TEST_REQUIRE(r.ok());
        size_t whole = (cut - 36) / 4;
        BOOST_TEST(r->table_count == 1 + whole);
        BOOST_TEST(r->madt_present == (whole >= 2));
        BOOST_TEST((find_warning(*r, Warn::RootLengthUneven) != nullptr) == ((cut - 36) % 4 != 0));
    }
}

BOOST_AUTO_TEST_CASE(null_entries_warn) {
    auto m = build(qemu_pc_tables());
    m->root = m->mem.place(rsdt({0, m->addrs[1], 0}));
    m->rsdp = rsdp_v1(static_cast<uint32_t>(m->root));
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST(count_warnings(*r, Warn::NullTableAddress) == 2u);
    BOOST_TEST(r->warnings[0].value == 0u);
    BOOST_TEST(r->warnings[1].value == 2u);
    BOOST_TEST(r->madt_present);
}

// ---- Individual tables: bad ones are skipped, the rest still parsed ----

BOOST_AUTO_TEST_CASE(entry_outside_memory) {
    for (uint64_t bad : {uint64_t{0x1000}, uint64_t{0x7FE0000 + 0x20000 - 10},
                         uint64_t{0xFFFFFFF0}}) {
        auto m = build(qemu_pc_tables());
        m->root = m->mem.place(rsdt({m->addrs[0], bad, m->addrs[1], m->addrs[2]}));
        m->rsdp = rsdp_v1(static_cast<uint32_t>(m->root));
        auto r = m->parse();
        BOOST_TEST_REQUIRE(r.ok());
        BOOST_TEST(r->warning_count == 1u);
        BOOST_TEST((r->warnings[0].code == Warn::TableUnreadable));
        BOOST_TEST(r->warnings[0].value == bad);
        check_pc_madt(*r);
        check_pc_hpet(*r);
        BOOST_TEST(r->pm_timer.present);
    }
}

BOOST_AUTO_TEST_CASE(xsdt_entry_wrapping_address_space) {
    auto m = build(qemu_pc_tables(), true);
    m->root = m->mem.place(xsdt({~uint64_t{0} - 4, m->addrs[1]}));
    m->rsdp = rsdp_v2(0, m->root);
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST(count_warnings(*r, Warn::TableUnreadable) == 1u);
    BOOST_TEST(r->madt_present);
    BOOST_TEST(m->mem.bad_requests == 0u); // refused before asking the reader
}

BOOST_AUTO_TEST_CASE(table_length_hostile) {
    struct Case {
        uint32_t length;
        Warn expected;
    } cases[] = {{0, Warn::TableTooShort},          {35, Warn::TableTooShort},
                 {0xFFFFFFFF, Warn::TableTooLong},  {(1u << 20) + 1, Warn::TableTooLong},
                 {0x10000, Warn::TableUnreadable}}; // past the end of memory
    for (const Case& c : cases) {
        // The MADT is damaged; it is placed last so a long length runs off memory.
        Bytes bad = qemu_pc_madt();
        set_length(bad, c.length);
        auto m = build({fadt_v1(), hpet(0, 0xFED00000)});
        m->mem.next = m->mem.ram.size() - 0x400;
        uint64_t at = m->mem.place(bad);
        m->root = m->mem.place(rsdt({m->addrs[0], at, m->addrs[1]}));
        m->rsdp = rsdp_v1(static_cast<uint32_t>(m->root));
        auto r = m->parse();
        BOOST_TEST_REQUIRE(r.ok());
        BOOST_TEST_REQUIRE(r->warning_count == 1u);
        BOOST_TEST((r->warnings[0].code == c.expected), "length " << c.length);
        BOOST_TEST(std::string(r->warnings[0].table) == "APIC");
        BOOST_TEST(!r->madt_present);
        check_pc_hpet(*r);
        BOOST_TEST(r->fadt_revision == 1);
        BOOST_TEST(m->mem.max_len <= 0x10000u); // never mapped the huge lengths
    }
}

BOOST_AUTO_TEST_CASE(table_bad_checksum_skipped) {
    auto tables = qemu_pc_tables();
    tables[1][9] ^= 0x55; // MADT
    auto m = build(tables);
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST_REQUIRE(r->warning_count == 1u);
    BOOST_TEST((r->warnings[0].code == Warn::TableChecksum));
    BOOST_TEST(r->warnings[0].value == m->addrs[1]);
    BOOST_TEST(std::string(r->warnings[0].table) == "APIC");
    BOOST_TEST(!r->madt_present);
    BOOST_TEST(r->cpu_count == 0u);
    BOOST_TEST(!has_table(*r, "APIC"));
    check_pc_hpet(*r);
    BOOST_TEST(r->pm_timer.present);
}

BOOST_AUTO_TEST_CASE(each_table_truncated_at_every_length) {
    // For every table of both machines and every shorter declared length
    // (checksum kept right): no out-of-bounds read (ASan), parse succeeds,
    // and the other tables are unaffected.
    const std::vector<Bytes> sets[] = {qemu_pc_tables(),
                                       {fadt_v3(), qemu_pc_madt(), hpet(0, 0xFED00000)}};
    for (const auto& set : sets) {
        for (size_t k = 0; k < set.size(); k++) {
            for (uint32_t cut = 0; cut < set[k].size(); cut++) {
                auto tables = set;
                set_length(tables[k], cut);
                auto m = build(tables);
                auto r = m->parse();
                BOOST_TEST_REQUIRE(r.ok());
                const auto& p = *r;
                if (cut < 36) BOOST_TEST(find_warning(p, Warn::TableTooShort) != nullptr);
                if (k != 1) check_pc_madt(p);
                if (k != 2) check_pc_hpet(p);
                if (k == 2) BOOST_TEST(p.hpet.present == false);
                if (k == 0 && cut >= 36) BOOST_TEST(p.fadt_revision == tables[0][8]);
                if (k == 0) {
                    // Reset register only once its value byte is covered.
                    BOOST_TEST(p.reset.present == (tables[0][8] == 3 && cut >= 129));
                    BOOST_TEST(p.pm_timer.present == (cut >= 92));
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(each_table_cut_by_end_of_memory) {
    // The table's bytes run off the end of physical memory at every offset.
    const std::vector<Bytes> set = {fadt_v3(), qemu_pc_madt(), hpet(0, 0xFED00000)};
    for (size_t k = 0; k < set.size(); k++) {
        for (size_t cut = 0; cut < set[k].size(); cut++) {
            Memory mem(0x100000, 0x1000);
            std::vector<uint64_t> addrs;
            for (size_t i = 0; i < set.size(); i++)
                if (i != k) addrs.push_back(mem.place(set[i]));
            uint64_t root_at = mem.place(rsdt({0, 0, 0}));
            // Last: the cut table, ending where memory ends.
            uint64_t at = mem.base + mem.ram.size() - cut;
            memcpy(mem.ram.data() + (at - mem.base), set[k].data(), cut);
            addrs.insert(addrs.begin() + static_cast<long>(k), at);
            mem.write(root_at, rsdt(addrs));
            Bytes rsdp = rsdp_v1(static_cast<uint32_t>(root_at));
            auto r = virtue::parse_acpi(rsdp.data(), rsdp.size(), mem);
            BOOST_TEST_REQUIRE(r.ok());
            BOOST_TEST_REQUIRE(r->warning_count == 1u);
            BOOST_TEST((r->warnings[0].code == Warn::TableUnreadable));
            BOOST_TEST(r->warnings[0].value == at);
            BOOST_TEST(r->table_count == 3u);
        }
    }
}

BOOST_AUTO_TEST_CASE(duplicate_tables_first_wins) {
    auto m = build({qemu_pc_madt(), madt(0xFEE00000, 0, {lapic(0, 7, 1)}), hpet(0, 0xFED00000),
                    hpet(0, 0xFED01000, 1)});
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST(count_warnings(*r, Warn::TableDuplicate) == 2u);
    BOOST_TEST(r->cpu_count == 4u);
    BOOST_TEST(r->cpus[0].apic_id == 0u);
    BOOST_TEST(r->hpet.base.raw() == 0xFED00000u);
    BOOST_TEST(r->table_count == 5u); // duplicates are still listed
}

BOOST_AUTO_TEST_CASE(unknown_tables_listed_not_parsed) {
    auto m = build({sdt("SSDT", 1, Bytes(20, 0x5A)), sdt("\x01GH\xff", 1, {}), qemu_pc_madt()});
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST(r->warning_count == 0u);
    BOOST_TEST(has_table(*r, "SSDT"));
    BOOST_TEST(has_table(*r, "?GH?"));
    BOOST_TEST(r->madt_present);
}

BOOST_AUTO_TEST_CASE(table_list_and_warning_list_capacity) {
    std::vector<Bytes> tables(40, sdt("SSDT", 1, {}));
    tables.push_back(qemu_pc_madt());
    auto m = build(tables);
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST(r->table_count == virtue::acpi::MAX_TABLES);
    // Root + 40 SSDT + MADT = 42 tables; 10 did not fit, one warning each.
    BOOST_TEST(count_warnings(*r, Warn::TooManyTables) == 10u);
    BOOST_TEST(r->madt_present); // parsed even though not listed

    // 50 null entries: the warning list fills and counts the rest.
    auto m2 = build({});
    m2->root = m2->mem.place(rsdt(std::vector<uint64_t>(50, 0)));
    m2->rsdp = rsdp_v1(static_cast<uint32_t>(m2->root));
    auto r2 = m2->parse();
    BOOST_TEST_REQUIRE(r2.ok());
    BOOST_TEST(r2->warning_count == virtue::acpi::MAX_WARNINGS);
    BOOST_TEST(r2->warnings_dropped == 50 - virtue::acpi::MAX_WARNINGS);
}

BOOST_AUTO_TEST_CASE(huge_root_table_of_bad_entries) {
    // 1 MiB RSDT of pointers outside memory: bounded work, a bounded list.
    Memory mem(0x100000, 0x120000);
    std::vector<uint64_t> addrs((virtue::acpi::MAX_TABLE_LENGTH - 36) / 4, 0xDEAD0000);
    uint64_t root = mem.place(rsdt(addrs));
    Bytes rsdp = rsdp_v1(static_cast<uint32_t>(root));
    auto r = virtue::parse_acpi(rsdp.data(), rsdp.size(), mem);
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST(r->warning_count == virtue::acpi::MAX_WARNINGS);
    BOOST_TEST(r->warnings_dropped == addrs.size() - virtue::acpi::MAX_WARNINGS);
}

// ---- HPET ----

BOOST_AUTO_TEST_CASE(hpet_in_io_space) {
    auto m = build({qemu_pc_madt(), hpet(1, 0xFED00000)});
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST(!r->hpet.present);
    const auto* w = find_warning(*r, Warn::HpetNotMemory);
    BOOST_TEST_REQUIRE(w != nullptr);
    BOOST_TEST(w->value == 1u);
    BOOST_TEST(std::string(w->table) == "HPET");
    BOOST_TEST(r->madt_present);
}

BOOST_AUTO_TEST_CASE(hpet_zero_address_and_fields) {
    auto m = build({hpet(0, 0)});
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST(!r->hpet.present);
    BOOST_TEST(find_warning(*r, Warn::HpetNullAddress) != nullptr);

    auto m2 = build({hpet(0, 0x1'2345'6000ull, 3, 0x1234)});
    auto r2 = m2->parse();
    BOOST_TEST_REQUIRE(r2.ok());
    BOOST_TEST(r2->hpet.present);
    BOOST_TEST(r2->hpet.base.raw() == 0x1'2345'6000ull);
    BOOST_TEST(r2->hpet.number == 3);
    BOOST_TEST(r2->hpet.min_tick == 0x1234);
}

BOOST_AUTO_TEST_CASE(hpet_too_short) {
    Bytes h = hpet(0, 0xFED00000);
    set_length(h, 55);
    auto m = build({h});
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST(!r->hpet.present);
    const auto* w = find_warning(*r, Warn::HpetTooShort);
    BOOST_TEST_REQUIRE(w != nullptr);
    BOOST_TEST(w->value == 55u);
}

// ---- FADT ----

BOOST_AUTO_TEST_CASE(fadt_reset_needs_flag) {
    auto m = build({fadt_v3(0x80A5)}); // RESET_REG_SUP clear
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST(r->fadt_revision == 3);
    BOOST_TEST(!r->reset.present);
    BOOST_TEST(r->warning_count == 0u);
}

BOOST_AUTO_TEST_CASE(fadt_reset_register_spaces) {
    struct Case {
        uint8_t space;
        uint64_t addr;
        bool ok;
    } cases[] = {{0, 0xFEDC0000, true}, {1, 0xCF9, true}, {2, 0x0000000100000CF9, true},
                 {3, 0xCF9, false},     {0x7F, 0xCF9, false}, {1, 0, false}};
    for (const Case& c : cases) {
        auto m = build({fadt_v3(0x80A5 | FADT_RESET_REG_SUP, c.space, c.addr, 0x06)});
        auto r = m->parse();
        BOOST_TEST_REQUIRE(r.ok());
        BOOST_TEST(r->reset.present == c.ok);
        if (c.ok) {
            BOOST_TEST(r->reset.reg.space_id == c.space);
            BOOST_TEST(r->reset.reg.address == c.addr);
            BOOST_TEST(r->reset.value == 0x06);
        } else {
            const auto* w = find_warning(*r, Warn::ResetRegisterBad);
            BOOST_TEST_REQUIRE(w != nullptr);
            BOOST_TEST(w->value == c.addr);
        }
    }
}

BOOST_AUTO_TEST_CASE(fadt_pm_timer_variants) {
    // X_PM_TMR_BLK wins over the legacy port.
    auto m = build({fadt_v3(0x80A5 | FADT_TMR_VAL_EXT, 1, 0xCF9, 0, 0xB008)});
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    BOOST_TEST(r->pm_timer.present);
    BOOST_TEST(r->pm_timer.reg.address == 0xB008u);
    BOOST_TEST(r->pm_timer.is_32bit);

    // X_PM_TMR_BLK zero: legacy port used.
    auto m2 = build({fadt_v3(0x80A5, 1, 0xCF9, 0, 0)});
    auto r2 = m2->parse();
    BOOST_TEST_REQUIRE(r2.ok());
    BOOST_TEST(r2->pm_timer.present);
    BOOST_TEST(r2->pm_timer.reg.address == 0x608u);
    BOOST_TEST(!r2->pm_timer.is_32bit);

    // X_PM_TMR_BLK in PCI config space: refused.
    Bytes f = fadt_v3();
    f[208] = 2;
    refresh_checksum(f);
    auto m3 = build({f});
    auto r3 = m3->parse();
    BOOST_TEST_REQUIRE(r3.ok());
    BOOST_TEST(!r3->pm_timer.present);
    BOOST_TEST(find_warning(*r3, Warn::PmTimerBad) != nullptr);

    // Legacy port with PM_TMR_LEN != 4: refused. No port: no timer, no warning.
    Bytes g = fadt_v1();
    g[91] = 2;
    refresh_checksum(g);
    auto m4 = build({g});
    auto r4 = m4->parse();
    BOOST_TEST_REQUIRE(r4.ok());
    BOOST_TEST(!r4->pm_timer.present);
    const auto* w = find_warning(*r4, Warn::PmTimerBad);
    BOOST_TEST_REQUIRE(w != nullptr);
    BOOST_TEST(w->value == 0x608u);

    auto m5 = build({fadt_v1(0)});
    auto r5 = m5->parse();
    BOOST_TEST_REQUIRE(r5.ok());
    BOOST_TEST(!r5->pm_timer.present);
    BOOST_TEST(r5->warning_count == 0u);
}

BOOST_AUTO_TEST_CASE(parse_into_clears_on_error) {
    auto m = build(qemu_pc_tables());
    static virtue::PlatformInfo info; // as the hypervisor would keep it
    BOOST_TEST(virtue::parse_acpi_into(m->rsdp.data(), m->rsdp.size(), m->mem, info).ok());
    BOOST_TEST(info.cpu_count == 4u);
    m->rsdp[8] ^= 1;
    auto s = virtue::parse_acpi_into(m->rsdp.data(), m->rsdp.size(), m->mem, info);
    BOOST_TEST(!s.ok());
    BOOST_TEST(e(s.error()) == e(Err::Checksum));
    BOOST_TEST(info.cpu_count == 0u);
    BOOST_TEST(info.table_count == 0u);
    BOOST_TEST(!info.madt_present);
}

BOOST_AUTO_TEST_CASE(every_warning_has_text) {
    for (int w = 0; w <= static_cast<int>(Warn::PmTimerBad); w++) {
        const char* t = virtue::acpi::warn_text(static_cast<Warn>(w));
        BOOST_TEST_REQUIRE(t != nullptr);
        BOOST_TEST(std::string(t) != "unknown ACPI warning");
    }
}

BOOST_AUTO_TEST_SUITE_END()
