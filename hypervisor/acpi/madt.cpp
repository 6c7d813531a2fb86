// MADT ("APIC"): CPUs, I/O APICs, ISA interrupt overrides, local APIC NMIs.
#include "acpi/acpi_internal.hpp"

namespace virtue::acpi {
namespace {

using namespace layout;

// MPS INTI flags -> polarity and trigger; false for the reserved encodings.
bool decode_inti(uint16_t flags, Polarity& pol, Trigger& trig) {
    static constexpr Polarity pols[4] = {Polarity::Conforming, Polarity::ActiveHigh,
                                         Polarity::Conforming, Polarity::ActiveLow};
    static constexpr Trigger trigs[4] = {Trigger::Conforming, Trigger::Edge,
                                         Trigger::Conforming, Trigger::Level};
    unsigned p = flags & INTI_POLARITY_MASK;
    unsigned t = (flags >> INTI_TRIGGER_SHIFT) & INTI_TRIGGER_MASK;
    if (p == 2 || t == 2) return false;
    pol = pols[p];
    trig = trigs[t];
    return true;
}

// One entry, already known to lie inside the table with length >= 2.
struct Entry {
    uint8_t type;
    const uint8_t* bytes;
    size_t length;
    size_t offset; // from the table start, for warnings
};

struct Walk {
    const Table& t;
    PlatformInfo& info;
    bool online_capable_defined; // ACPI 6.3 (MADT revision 5) and later

    void warn(Warn w, uint64_t v) { acpi::warn(info, w, t.signature, v); }

    // Copy a fixed-size entry layout out; false (and a warning) if the entry
    // is shorter than the layout. Longer entries are fine: later revisions
    // may append fields.
    template <typename T>
    bool get(const Entry& e, T& out) {
        if (e.length < sizeof(T)) {
            warn(Warn::MadtEntryShort, e.offset);
            return false;
        }
        out = load<T>(e.bytes);
        return true;
    }

    void add_cpu(uint32_t apic_id, uint32_t uid, uint32_t flags, bool x2, bool id_valid) {
        bool enabled = flags & MADT_CPU_ENABLED;
        bool online_capable =
            !enabled && online_capable_defined && (flags & MADT_CPU_ONLINE_CAPABLE);
        if (!id_valid || (!enabled && !online_capable)) {
            info.cpus_ignored++;
            return;
        }
        for (size_t i = 0; i < info.cpu_count; i++) {
            if (info.cpus[i].apic_id == apic_id) {
                warn(Warn::CpuDuplicateId, apic_id);
                return;
            }
        }
        if (info.cpu_count == MAX_CPUS) {
            // One warning, not one per CPU: the count says how many.
            if (info.cpus_dropped++ == 0) warn(Warn::TooManyCpus, apic_id);
            return;
        }
        info.cpus[info.cpu_count++] = Cpu{apic_id, uid,         enabled,
                                          online_capable, x2, NO_NMI_LINT,
                                          Polarity::Conforming, Trigger::Conforming};
    }

    void local_apic(const Entry& e) {
        MadtLocalApic m;
        if (!get(e, m)) return;
        // 0xFF is the xAPIC broadcast id, never a CPU's.
        add_cpu(m.apic_id, m.processor_uid, m.flags, false, m.apic_id != 0xFF);
    }

    void local_x2apic(const Entry& e) {
        MadtLocalX2Apic m;
        if (!get(e, m)) return;
        add_cpu(m.x2apic_id, m.processor_uid, m.flags, true, m.x2apic_id != 0xFFFFFFFF);
    }

    void io_apic(const Entry& e) {
        MadtIoApic m;
        if (!get(e, m)) return;
        if (m.address == 0) return warn(Warn::IoApicBad, m.address);
        if (info.io_apic_count == MAX_IO_APICS) return warn(Warn::TooManyIoApics, m.address);
        info.io_apics[info.io_apic_count++] = IoApic{m.io_apic_id, PhysAddr(m.address), m.gsi_base};
    }

    void int_override(const Entry& e) {
        MadtIntOverride m;
        if (!get(e, m)) return;
        if (m.bus != 0 || m.source_irq >= 16)
            return warn(Warn::OverrideBad, uint64_t{m.bus} << 8 | m.source_irq);
        Polarity pol;
        Trigger trig;
        if (!decode_inti(m.flags, pol, trig)) return warn(Warn::InterruptFlagsBad, m.flags);
        for (size_t i = 0; i < info.override_count; i++) {
            if (info.overrides[i].source_irq == m.source_irq)
                return warn(Warn::OverrideDuplicate, m.source_irq);
        }
        static_assert(MAX_OVERRIDES >= 16, "one slot per ISA IRQ");
        info.overrides[info.override_count++] = IrqOverride{m.source_irq, m.gsi, pol, trig};
    }

    void lapic_override(const Entry& e) {
        MadtLocalApicOverride m;
        if (!get(e, m)) return;
        if (m.address == 0) return warn(Warn::LapicAddressBad, m.address);
        info.local_apic_base = PhysAddr(m.address);
    }

    // Applies to every recorded CPU with this UID, or to all of them.
    void nmi(uint32_t uid, bool all, uint16_t flags, uint8_t lint) {
        Polarity pol;
        Trigger trig;
        if (!decode_inti(flags, pol, trig)) return warn(Warn::InterruptFlagsBad, flags);
        if (lint > 1) return warn(Warn::NmiBad, lint);
        for (size_t i = 0; i < info.cpu_count; i++) {
            Cpu& c = info.cpus[i];
            if (!all && c.processor_uid != uid) continue;
            c.nmi_lint = lint;
            c.nmi_polarity = pol;
            c.nmi_trigger = trig;
        }
    }

    void local_apic_nmi(const Entry& e) {
        MadtLocalApicNmi m;
        if (!get(e, m)) return;
        nmi(m.processor_uid, m.processor_uid == 0xFF, m.flags, m.lint);
    }

    void local_x2apic_nmi(const Entry& e) {
        MadtLocalX2ApicNmi m;
        if (!get(e, m)) return;
        nmi(m.processor_uid, m.processor_uid == 0xFFFFFFFF, m.flags, m.lint);
    }

    // Visit every well-formed entry. A length below 2 or past the table end
    // makes the rest of the table unparseable: stop there.
    template <typename F>
    void for_each_entry(bool report, F&& visit) {
        size_t off = MADT_ENTRIES_OFFSET;
        while (off < t.length) {
            const size_t left = t.length - off;
            if (left < sizeof(MadtEntryHeader)) {
                if (report) warn(Warn::MadtEntryBad, off);
                return;
            }
            auto h = load<MadtEntryHeader>(t.bytes + off);
            if (h.length < sizeof(MadtEntryHeader) || h.length > left) {
                if (report) warn(Warn::MadtEntryBad, off);
                return;
            }
            visit(Entry{h.type, t.bytes + off, h.length, off});
            off += h.length;
        }
    }
};

} // namespace

void parse_madt(const Table& t, PlatformInfo& info) {
    if (t.length < MADT_ENTRIES_OFFSET) return warn(info, Warn::MadtTooShort, t.signature, t.length);
    auto fixed = load<MadtFixed>(t.bytes + sizeof(SdtHeader));
    info.madt_present = true;
    info.local_apic_base = PhysAddr(fixed.local_apic_address);
    info.pcat_compat = fixed.flags & MADT_PCAT_COMPAT;

    Walk w{t, info, t.revision >= 5};
    // Two passes: NMI entries name CPUs by UID and may precede them.
    w.for_each_entry(true, [&](const Entry& e) {
        switch (e.type) {
        case MADT_LOCAL_APIC: return w.local_apic(e);
        case MADT_IO_APIC: return w.io_apic(e);
        case MADT_INT_OVERRIDE: return w.int_override(e);
        case MADT_LOCAL_APIC_OVERRIDE: return w.lapic_override(e);
        case MADT_LOCAL_X2APIC: return w.local_x2apic(e);
        default: return; // NMIs next pass; other types not needed
        }
    });
    w.for_each_entry(false, [&](const Entry& e) {
        if (e.type == MADT_LOCAL_APIC_NMI) w.local_apic_nmi(e);
        if (e.type == MADT_LOCAL_X2APIC_NMI) w.local_x2apic_nmi(e);
    });
}

} // namespace virtue::acpi
