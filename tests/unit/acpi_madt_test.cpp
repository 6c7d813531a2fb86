// ACPI parser: MADT ("APIC") decoding, well-formed and hostile.
#include <boost/test/unit_test.hpp>

#include "acpi_builder.hpp"

using namespace acpitest;
using virtue::acpi::Polarity;
using virtue::acpi::Trigger;
using virtue::acpi::Warn;

namespace {

// Parse a machine whose only table is `t`; the result must be ok.
virtue::PlatformInfo parse_one(const Bytes& t) {
    auto m = build({t});
    auto r = m->parse();
    BOOST_TEST_REQUIRE(r.ok());
    return *r;
}

// Lets BOOST_TEST print the enums.
int n(Polarity p) { return static_cast<int>(p); }
int n(Trigger t) { return static_cast<int>(t); }

} // namespace

BOOST_AUTO_TEST_SUITE(acpi_madt)

BOOST_AUTO_TEST_CASE(qemu_pc_details) {
    auto p = parse_one(qemu_pc_madt());
    BOOST_TEST(p.warning_count == 0u);
    BOOST_TEST(p.cpus_ignored == 0u);
    BOOST_TEST(p.cpus_dropped == 0u);
    BOOST_TEST_REQUIRE(p.cpu_count == 4u);
    for (uint32_t i = 0; i < 4; i++) {
        const auto& c = p.cpus[i];
        BOOST_TEST(c.apic_id == i);
        BOOST_TEST(c.processor_uid == i);
        BOOST_TEST(c.enabled);
        BOOST_TEST(!c.online_capable);
        BOOST_TEST(!c.from_x2apic);
        BOOST_TEST(c.nmi_lint == 1); // the 0xFF "all processors" entry
        BOOST_TEST(n(c.nmi_polarity) == n(Polarity::Conforming));
        BOOST_TEST(n(c.nmi_trigger) == n(Trigger::Conforming));
    }
    BOOST_TEST_REQUIRE(p.io_apic_count == 1u);
    BOOST_TEST(p.io_apics[0].id == 0);
    BOOST_TEST(p.io_apics[0].address.raw() == 0xFEC00000u);
    BOOST_TEST(p.io_apics[0].gsi_base == 0u);

    BOOST_TEST_REQUIRE(p.override_count == 5u);
    BOOST_TEST(p.overrides[0].source_irq == 0);
    BOOST_TEST(p.overrides[0].gsi == 2u);
    BOOST_TEST(n(p.overrides[0].polarity) == n(Polarity::Conforming));
    BOOST_TEST(n(p.overrides[0].trigger) == n(Trigger::Conforming));
    const uint8_t pci[] = {5, 9, 10, 11};
    for (size_t i = 0; i < 4; i++) {
        const auto& o = p.overrides[i + 1];
        BOOST_TEST(o.source_irq == pci[i]);
        BOOST_TEST(o.gsi == pci[i]);
        BOOST_TEST(n(o.polarity) == n(Polarity::ActiveHigh));
        BOOST_TEST(n(o.trigger) == n(Trigger::Level));
    }
}

BOOST_AUTO_TEST_CASE(x2apic_variant) {
    // IDs above 254 need x2APIC entries; QEMU then adds an x2APIC NMI.
    auto p = parse_one(madt(0xFEE00000, 1,
                            {lapic(0, 0, 1), lapic(1, 1, 1), x2apic(256, 1, 2),
                             x2apic(300, 1, 3), ioapic(0, 0xFEC00000, 0),
                             x2apic_nmi(0x5, 0xFFFFFFFF, 1)},
                            4));
    BOOST_TEST(p.warning_count == 0u);
    BOOST_TEST_REQUIRE(p.cpu_count == 4u);
    const uint32_t ids[] = {0, 1, 256, 300};
    for (size_t i = 0; i < 4; i++) {
        BOOST_TEST(p.cpus[i].apic_id == ids[i]);
        BOOST_TEST(p.cpus[i].processor_uid == i);
        BOOST_TEST(p.cpus[i].from_x2apic == (i >= 2));
        BOOST_TEST(p.cpus[i].nmi_lint == 1);
        BOOST_TEST(n(p.cpus[i].nmi_polarity) == n(Polarity::ActiveHigh));
        BOOST_TEST(n(p.cpus[i].nmi_trigger) == n(Trigger::Edge));
    }
}

BOOST_AUTO_TEST_CASE(nmi_by_uid_before_cpus) {
    // NMI entries may precede the CPUs they name, and name one CPU each.
    auto p = parse_one(madt(0xFEE00000, 0,
                            {lapic_nmi(1, 0xF, 0), x2apic_nmi(0x0, 7, 1), lapic(0, 0, 1),
                             lapic(1, 1, 1), x2apic(500, 1, 7), lapic_nmi(9, 0, 1)}));
    BOOST_TEST(p.warning_count == 0u);
    BOOST_TEST_REQUIRE(p.cpu_count == 3u);
    BOOST_TEST(p.cpus[0].nmi_lint == virtue::acpi::NO_NMI_LINT);
    BOOST_TEST(p.cpus[1].nmi_lint == 0);
    BOOST_TEST(n(p.cpus[1].nmi_polarity) == n(Polarity::ActiveLow));
    BOOST_TEST(n(p.cpus[1].nmi_trigger) == n(Trigger::Level));
    BOOST_TEST(p.cpus[2].nmi_lint == 1);
    BOOST_TEST(!p.pcat_compat);
}

BOOST_AUTO_TEST_CASE(nmi_bad) {
    auto p = parse_one(madt(0xFEE00000, 1,
                            {lapic(0, 0, 1), lapic_nmi(0xFF, 0, 2), lapic_nmi(0xFF, 0x2, 1),
                             x2apic_nmi(0x8, 0xFFFFFFFF, 1)}));
    BOOST_TEST(p.cpus[0].nmi_lint == virtue::acpi::NO_NMI_LINT);
    BOOST_TEST_REQUIRE(p.warning_count == 3u);
    BOOST_TEST((p.warnings[0].code == Warn::NmiBad));
    BOOST_TEST(p.warnings[0].value == 2u);
    BOOST_TEST((p.warnings[1].code == Warn::InterruptFlagsBad));
    BOOST_TEST(p.warnings[1].value == 2u);
    BOOST_TEST((p.warnings[2].code == Warn::InterruptFlagsBad));
    BOOST_TEST(p.warnings[2].value == 8u);
    BOOST_TEST(std::string(p.warnings[0].table) == "APIC");
}

BOOST_AUTO_TEST_CASE(unusable_cpus_ignored) {
    auto p = parse_one(madt(0xFEE00000, 1,
                            {lapic(0, 0, 1), lapic(1, 1, 0), lapic(2, 2, 2), lapic(3, 0xFF, 1),
                             x2apic(400, 0, 4), x2apic(0xFFFFFFFF, 1, 5), x2apic(401, 3, 6)}));
    // MADT revision 1: the online-capable bit is reserved, so flags=2 is off.
    BOOST_TEST_REQUIRE(p.cpu_count == 2u);
    BOOST_TEST(p.cpus[0].apic_id == 0u);
    BOOST_TEST(p.cpus[1].apic_id == 401u);
    BOOST_TEST(p.cpus[1].enabled);
    BOOST_TEST(!p.cpus[1].online_capable);
    BOOST_TEST(p.cpus_ignored == 5u);
    BOOST_TEST(p.warning_count == 0u);
}

BOOST_AUTO_TEST_CASE(online_capable_from_revision_5) {
    auto p = parse_one(madt(0xFEE00000, 1,
                            {lapic(0, 0, 1), lapic(1, 1, 2), x2apic(300, 2, 2), lapic(3, 3, 0)},
                            5));
    BOOST_TEST_REQUIRE(p.cpu_count == 3u);
    BOOST_TEST(p.cpus[1].apic_id == 1u);
    BOOST_TEST(!p.cpus[1].enabled);
    BOOST_TEST(p.cpus[1].online_capable);
    BOOST_TEST(p.cpus[2].apic_id == 300u);
    BOOST_TEST(p.cpus[2].online_capable);
    BOOST_TEST(p.cpus_ignored == 1u);
}

BOOST_AUTO_TEST_CASE(duplicate_apic_ids) {
    auto p = parse_one(madt(0xFEE00000, 1,
                            {lapic(0, 0, 1), lapic(1, 0, 1), lapic(2, 0, 0), x2apic(0, 1, 3),
                             lapic(4, 4, 1)}));
    BOOST_TEST_REQUIRE(p.cpu_count == 2u);
    BOOST_TEST(p.cpus[0].processor_uid == 0u); // the first entry wins
    BOOST_TEST(p.cpus[1].apic_id == 4u);
    // The disabled duplicate is ignored quietly; the two enabled ones warn.
    BOOST_TEST(count_warnings(p, Warn::CpuDuplicateId) == 2u);
    BOOST_TEST(p.warnings[0].value == 0u);
    BOOST_TEST(p.cpus_ignored == 1u);
}

BOOST_AUTO_TEST_CASE(more_cpus_than_capacity) {
    std::vector<Bytes> entries;
    for (uint32_t i = 0; i < 300; i++) entries.push_back(x2apic(1000 + i, 1, i));
    entries.push_back(x2apic_nmi(0, 0xFFFFFFFF, 1));
    auto p = parse_one(madt(0xFEE00000, 1, entries));
    BOOST_TEST(p.cpu_count == virtue::acpi::MAX_CPUS);
    BOOST_TEST(p.cpus_dropped == 300 - virtue::acpi::MAX_CPUS);
    BOOST_TEST(p.cpus[255].apic_id == 1255u);
    BOOST_TEST(p.cpus[255].nmi_lint == 1);
    BOOST_TEST_REQUIRE(p.warning_count == 1u); // one warning, not 44
    BOOST_TEST((p.warnings[0].code == Warn::TooManyCpus));
    BOOST_TEST(p.warnings[0].value == 1256u);
}

BOOST_AUTO_TEST_CASE(entry_length_zero_and_one) {
    for (uint8_t len : {0, 1}) {
        // lapic, then a broken entry, then a lapic that must not be seen.
        Bytes broken{0, len, 0, 0, 0, 0, 0, 0};
        auto p = parse_one(madt(0xFEE00000, 1, {lapic(0, 0, 1), broken, lapic(1, 1, 1)}));
        BOOST_TEST(p.cpu_count == 1u);
        BOOST_TEST_REQUIRE(p.warning_count == 1u);
        BOOST_TEST((p.warnings[0].code == Warn::MadtEntryBad));
        BOOST_TEST(p.warnings[0].value == 52u); // offset of the broken entry
    }
}

BOOST_AUTO_TEST_CASE(entry_running_past_table_end) {
    Bytes last = ioapic(0, 0xFEC00000, 0);
    last[1] = 13; // one byte more than is there
    auto p = parse_one(madt(0xFEE00000, 1, {lapic(0, 0, 1), last}));
    BOOST_TEST(p.cpu_count == 1u);
    BOOST_TEST(p.io_apic_count == 0u);
    BOOST_TEST_REQUIRE(p.warning_count == 1u);
    BOOST_TEST((p.warnings[0].code == Warn::MadtEntryBad));
    BOOST_TEST(p.warnings[0].value == 52u);

    last[1] = 0xFF;
    auto p2 = parse_one(madt(0xFEE00000, 1, {lapic(0, 0, 1), last}));
    BOOST_TEST(p2.io_apic_count == 0u);
    BOOST_TEST(count_warnings(p2, Warn::MadtEntryBad) == 1u);

    // A lone trailing byte: not even a type/length pair.
    auto p3 = parse_one(madt(0xFEE00000, 1, {lapic(0, 0, 1), Bytes{0}}));
    BOOST_TEST(p3.cpu_count == 1u);
    BOOST_TEST(count_warnings(p3, Warn::MadtEntryBad) == 1u);
}

BOOST_AUTO_TEST_CASE(entries_too_short_for_their_type) {
    // Each known entry type with its length one below the minimum: skipped
    // with a warning, and the walk goes on to the next entry.
    const Bytes full[] = {lapic(0, 5, 1),           ioapic(3, 0xFEC01000, 24),
                          iso(0, 3, 7, 0),          lapic_nmi(0xFF, 0, 1),
                          lapic_override(0xFEE10000), x2apic(600, 1, 9),
                          x2apic_nmi(0, 0xFFFFFFFF, 0)};
    for (const Bytes& f : full) {
        Bytes shortened(f.begin(), f.end() - 1);
        shortened[1] = static_cast<uint8_t>(shortened.size());
        auto p = parse_one(madt(0xFEE00000, 1, {lapic(0, 0, 1), shortened, lapic(1, 1, 1)}));
        BOOST_TEST(p.cpu_count == 2u, "type " << int(f[0]));
        BOOST_TEST(p.io_apic_count == 0u);
        BOOST_TEST(p.override_count == 0u);
        BOOST_TEST(p.local_apic_base.raw() == 0xFEE00000u);
        BOOST_TEST(p.cpus[0].nmi_lint == virtue::acpi::NO_NMI_LINT);
        BOOST_TEST_REQUIRE(p.warning_count == 1u);
        BOOST_TEST((p.warnings[0].code == Warn::MadtEntryShort));
        BOOST_TEST(p.warnings[0].value == 52u);
    }
}

BOOST_AUTO_TEST_CASE(longer_and_unknown_entries) {
    Bytes longer = lapic(0, 0, 1);
    append(longer, 0xAAAA, 2);
    longer[1] = 10; // a later revision's extra fields
    Bytes unknown1{0x7F, 5, 1, 2, 3};
    Bytes nmi_source{3, 8, 0, 0, 9, 0, 0, 0};
    Bytes oem{0x80, 2};
    auto p = parse_one(madt(0xFEE00000, 1,
                            {unknown1, longer, nmi_source, oem, lapic(1, 1, 1)}));
    BOOST_TEST(p.warning_count == 0u);
    BOOST_TEST(p.cpu_count == 2u);
}

BOOST_AUTO_TEST_CASE(local_apic_override) {
    auto p = parse_one(madt(0xFEE00000, 1, {lapic_override(0x1'FEE0'0000ull), lapic(0, 0, 1)}));
    BOOST_TEST(p.local_apic_base.raw() == 0x1'FEE0'0000ull);
    BOOST_TEST(p.warning_count == 0u);

    auto p2 = parse_one(madt(0xFEE00000, 1, {lapic_override(0)}));
    BOOST_TEST(p2.local_apic_base.raw() == 0xFEE00000u);
    BOOST_TEST(find_warning(p2, Warn::LapicAddressBad) != nullptr);
}

BOOST_AUTO_TEST_CASE(io_apic_capacity_and_zero_address) {
    std::vector<Bytes> entries;
    for (uint8_t i = 0; i < 9; i++) entries.push_back(ioapic(i, 0xFEC00000 + i * 0x1000, i * 24));
    entries.push_back(ioapic(20, 0, 0));
    auto p = parse_one(madt(0xFEE00000, 1, entries));
    BOOST_TEST_REQUIRE(p.io_apic_count == virtue::acpi::MAX_IO_APICS);
    BOOST_TEST(p.io_apics[7].id == 7);
    BOOST_TEST(p.io_apics[7].address.raw() == 0xFEC07000u);
    BOOST_TEST(p.io_apics[7].gsi_base == 168u);
    BOOST_TEST_REQUIRE(p.warning_count == 2u);
    BOOST_TEST((p.warnings[0].code == Warn::TooManyIoApics));
    BOOST_TEST(p.warnings[0].value == 0xFEC08000u);
    BOOST_TEST((p.warnings[1].code == Warn::IoApicBad));
}

BOOST_AUTO_TEST_CASE(interrupt_overrides_hostile) {
    auto p = parse_one(madt(0xFEE00000, 1,
                            {iso(1, 4, 4, 0),       // not ISA
                             iso(0, 16, 16, 0),     // not an ISA IRQ
                             iso(0, 0xFF, 2, 0),    // not an ISA IRQ
                             iso(0, 3, 3, 0x2),     // reserved polarity
                             iso(0, 3, 3, 0x8),     // reserved trigger
                             iso(0, 7, 17, 0xF),    // active low, level
                             iso(0, 7, 18, 0x5)})); // duplicate of IRQ 7
    BOOST_TEST_REQUIRE(p.override_count == 1u);
    BOOST_TEST(p.overrides[0].source_irq == 7);
    BOOST_TEST(p.overrides[0].gsi == 17u);
    BOOST_TEST(n(p.overrides[0].polarity) == n(Polarity::ActiveLow));
    BOOST_TEST(n(p.overrides[0].trigger) == n(Trigger::Level));
    BOOST_TEST_REQUIRE(p.warning_count == 6u);
    BOOST_TEST((p.warnings[0].code == Warn::OverrideBad));
    BOOST_TEST(p.warnings[0].value == 0x104u);
    BOOST_TEST(p.warnings[1].value == 16u);
    BOOST_TEST(p.warnings[2].value == 0xFFu);
    BOOST_TEST((p.warnings[3].code == Warn::InterruptFlagsBad));
    BOOST_TEST((p.warnings[4].code == Warn::InterruptFlagsBad));
    BOOST_TEST((p.warnings[5].code == Warn::OverrideDuplicate));
    BOOST_TEST(p.warnings[5].value == 7u);
}

BOOST_AUTO_TEST_CASE(all_sixteen_isa_irqs_fit) {
    std::vector<Bytes> entries;
    for (uint8_t i = 0; i < 16; i++) entries.push_back(iso(0, i, i + 100u, 0));
    auto p = parse_one(madt(0xFEE00000, 1, entries));
    BOOST_TEST(p.override_count == 16u);
    BOOST_TEST(p.overrides[15].gsi == 115u);
    BOOST_TEST(p.warning_count == 0u);
}

BOOST_AUTO_TEST_CASE(madt_too_short_for_fixed_fields) {
    for (uint32_t len = 36; len < 44; len++) {
        Bytes t = qemu_pc_madt();
        set_length(t, len);
        auto p = parse_one(t);
        BOOST_TEST(!p.madt_present);
        BOOST_TEST(p.cpu_count == 0u);
        BOOST_TEST_REQUIRE(p.warning_count == 1u);
        BOOST_TEST((p.warnings[0].code == Warn::MadtTooShort));
        BOOST_TEST(p.warnings[0].value == len);
    }
}

BOOST_AUTO_TEST_CASE(madt_truncated_at_every_entry_byte) {
    // The QEMU pc MADT with its length cut at every offset past the fixed
    // fields: exactly the entries wholly inside the cut are used.
    const Bytes full = qemu_pc_madt();
    const size_t sizes[] = {8, 8, 8, 8, 12, 10, 10, 10, 10, 10, 6};
    for (uint32_t cut = 44; cut <= full.size(); cut++) {
        Bytes t = full;
        set_length(t, cut);
        auto p = parse_one(t);
        BOOST_TEST(p.madt_present);
        size_t end = 44, whole = 0;
        bool boundary = cut == 44;
        for (size_t s : sizes) {
            if (end + s > cut) break;
            end += s;
            whole++;
            boundary = boundary || end == cut;
        }
        BOOST_TEST(p.cpu_count == (whole < 4 ? whole : 4), "cut " << cut);
        BOOST_TEST(p.io_apic_count == (whole >= 5 ? 1u : 0u));
        BOOST_TEST(p.override_count == (whole > 10 ? 5 : whole > 5 ? whole - 5 : 0));
        BOOST_TEST((p.cpus[0].nmi_lint == 1) == (whole == 11));
        BOOST_TEST((find_warning(p, Warn::MadtEntryBad) != nullptr) == !boundary);
        BOOST_TEST(p.warning_count == (boundary ? 0u : 1u));
    }
}

BOOST_AUTO_TEST_CASE(pcat_flag_and_lapic_base) {
    auto p = parse_one(madt(0xFEE01000, 0xFFFFFFFE, {}));
    BOOST_TEST(p.madt_present);
    BOOST_TEST(!p.pcat_compat);
    BOOST_TEST(p.local_apic_base.raw() == 0xFEE01000u);
    BOOST_TEST(p.cpu_count == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
