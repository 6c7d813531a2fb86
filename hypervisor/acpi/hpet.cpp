// HPET description table: where the High Precision Event Timer lives.
#include "acpi/acpi_internal.hpp"

namespace virtue::acpi {

using namespace layout;

void parse_hpet(const Table& t, PlatformInfo& info) {
    if (t.length < sizeof(SdtHeader) + sizeof(HpetBody))
        return warn(info, Warn::HpetTooShort, t.signature, t.length);
    auto body = load<HpetBody>(t.bytes + sizeof(SdtHeader));
    // The HPET is memory-mapped by definition; anything else is corrupt.
    if (body.base_address.space_id != GAS_SPACE_MEMORY)
        return warn(info, Warn::HpetNotMemory, t.signature, body.base_address.space_id);
    if (body.base_address.address == 0) return warn(info, Warn::HpetNullAddress, t.signature, 0);
    info.hpet = Hpet{true, PhysAddr(body.base_address.address), body.event_timer_block_id,
                     body.hpet_number, body.min_clock_tick};
}

} // namespace virtue::acpi
