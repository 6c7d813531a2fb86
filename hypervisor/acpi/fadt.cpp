// FADT ("FACP"): the ACPI reset register and the PM timer.
//
// The FADT grew with each ACPI revision; a field is used only if the table
// is long enough to contain it, whatever its revision byte says.
#include "acpi/acpi_internal.hpp"

namespace virtue::acpi {
namespace {

using namespace layout;

acpi::GenericAddress to_gas(const layout::GenericAddress& g) {
    return acpi::GenericAddress{g.space_id, g.bit_width, g.bit_offset, g.access_size, g.address};
}

void decode_reset(const Table& t, uint32_t flags, PlatformInfo& info) {
    layout::GenericAddress reg;
    uint8_t value;
    if (!(flags & FADT_RESET_REG_SUP)) return;
    if (!read_field(t, FADT_RESET_REG, reg) || !read_field(t, FADT_RESET_VALUE, value)) return;
    bool space_ok = reg.space_id == GAS_SPACE_MEMORY || reg.space_id == GAS_SPACE_IO ||
                    reg.space_id == GAS_SPACE_PCI_CONFIG;
    if (!space_ok || reg.address == 0)
        return warn(info, Warn::ResetRegisterBad, t.signature, reg.address);
    info.reset = ResetRegister{true, to_gas(reg), value};
}

void decode_pm_timer(const Table& t, uint32_t flags, PlatformInfo& info) {
    const bool is_32bit = flags & FADT_TMR_VAL_EXT;
    // The 64-bit X_PM_TMR_BLK (ACPI 2.0+) wins over the legacy port if set.
    layout::GenericAddress x;
    if (read_field(t, FADT_X_PM_TMR_BLK, x) && x.address != 0) {
        if (x.space_id != GAS_SPACE_IO && x.space_id != GAS_SPACE_MEMORY)
            return warn(info, Warn::PmTimerBad, t.signature, x.address);
        info.pm_timer = PmTimer{true, to_gas(x), is_32bit};
        return;
    }
    uint32_t port;
    uint8_t len;
    if (!read_field(t, FADT_PM_TMR_BLK, port) || !read_field(t, FADT_PM_TMR_LEN, len)) return;
    if (port == 0) return; // no PM timer: allowed (hardware-reduced ACPI)
    if (len != 4) return warn(info, Warn::PmTimerBad, t.signature, port);
    info.pm_timer = PmTimer{true, acpi::GenericAddress{GAS_SPACE_IO, 32, 0, 3, port}, is_32bit};
}

} // namespace

void parse_fadt(const Table& t, PlatformInfo& info) {
    info.fadt_revision = t.revision;
    uint32_t flags = 0;
    if (!read_field(t, FADT_FLAGS, flags)) flags = 0; // pre-1.0 stub: no flags
    decode_reset(t, flags, info);
    decode_pm_timer(t, flags, info);
}

} // namespace virtue::acpi
