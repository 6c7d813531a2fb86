// Warnings about firmware tables: recorded as data for the caller to log.
#include "acpi/acpi_internal.hpp"

namespace virtue::acpi {

void warn(PlatformInfo& info, Warn code, const char* sig, uint64_t value) {
    if (info.warning_count == MAX_WARNINGS) {
        info.warnings_dropped++;
        return;
    }
    Warning& w = info.warnings[info.warning_count++];
    w.code = code;
    for (size_t i = 0; i < 4; i++) {
        char c = sig ? sig[i] : ' ';
        // Signatures come from untrusted memory; keep the log line printable.
        w.table[i] = (c >= 0x20 && c < 0x7F) ? c : '?';
    }
    w.table[4] = '\0';
    w.value = value;
}

const char* warn_text(Warn w) {
    switch (w) {
    case Warn::RootLengthUneven: return "root table length not 36 + n * entry size";
    case Warn::NullTableAddress: return "root table entry is zero";
    case Warn::TableUnreadable: return "table not in readable memory, skipped";
    case Warn::TableTooShort: return "table length below 36, skipped";
    case Warn::TableTooLong: return "table length implausibly large, skipped";
    case Warn::TableChecksum: return "table checksum wrong, skipped";
    case Warn::TableDuplicate: return "second table with this signature ignored";
    case Warn::TooManyTables: return "table list full, table not listed";
    case Warn::MadtTooShort: return "MADT too short for its fixed fields";
    case Warn::MadtEntryBad: return "MADT entry length bad, rest of MADT ignored";
    case Warn::MadtEntryShort: return "MADT entry too short for its type, skipped";
    case Warn::CpuDuplicateId: return "duplicate APIC id, entry ignored";
    case Warn::TooManyCpus: return "too many CPUs, extra ones ignored";
    case Warn::TooManyIoApics: return "too many I/O APICs, extra ones ignored";
    case Warn::IoApicBad: return "I/O APIC at address zero ignored";
    case Warn::OverrideBad: return "interrupt override not for ISA IRQ 0-15, ignored";
    case Warn::OverrideDuplicate: return "second override for one IRQ ignored";
    case Warn::InterruptFlagsBad: return "reserved polarity/trigger encoding, entry ignored";
    case Warn::LapicAddressBad: return "local APIC address override of zero ignored";
    case Warn::HpetTooShort: return "HPET table too short, no HPET";
    case Warn::HpetNotMemory: return "HPET not in system memory space, no HPET";
    case Warn::HpetNullAddress: return "HPET at address zero, no HPET";
    case Warn::NmiBad: return "local APIC NMI on a LINT pin other than 0/1 ignored";
    case Warn::ResetRegisterBad: return "FADT reset register unusable, no ACPI reset";
    case Warn::PmTimerBad: return "FADT PM timer unusable, no PM timer";
    }
    return "unknown ACPI warning";
}

} // namespace virtue::acpi
