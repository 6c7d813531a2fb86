// I/O APIC and legacy PIC: no device interrupts are routed yet, so every
// input is masked (devices arrive with driver domains).
#include "arch/apic.hpp"
#include "arch/cpu.hpp"
#include "arch/mmio.hpp"

namespace virtue::arch {

Status ioapic_mask_all(uint64_t ioapic_phys) {
    TRY_ASSIGN(VirtAddr va, ioremap(PhysAddr(ioapic_phys), 0x1000));
    auto* regs = va.as<volatile uint32_t>();
    auto read = [&](uint32_t reg) { regs[0] = reg; return regs[4]; };
    auto write = [&](uint32_t reg, uint32_t v) { regs[0] = reg; regs[4] = v; };
    uint32_t entries = ((read(1) >> 16) & 0xff) + 1;
    for (uint32_t i = 0; i < entries; i++) {
        write(0x10 + 2 * i, 1u << 16); // masked
        write(0x11 + 2 * i, 0);
    }
    return Status::success();
}

void pic8259_disable() {
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

} // namespace virtue::arch
