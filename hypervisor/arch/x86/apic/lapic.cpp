#include "arch/apic.hpp"

#include "arch/cpu.hpp"
#include "arch/descriptors.hpp"
#include "arch/mmio.hpp"

namespace virtue::arch {
namespace {

volatile uint32_t* g_lapic;

enum : uint32_t {
    REG_ID = 0x20,
    REG_TPR = 0x80,
    REG_EOI = 0xb0,
    REG_SVR = 0xf0,
    REG_ESR = 0x280,
    REG_ICR_LOW = 0x300,
    REG_ICR_HIGH = 0x310,
    REG_LVT_TIMER = 0x320,
    REG_LVT_LINT0 = 0x350,
    REG_LVT_LINT1 = 0x360,
    REG_LVT_ERROR = 0x370,
    REG_TIMER_INIT = 0x380,
    REG_TIMER_CURRENT = 0x390,
    REG_TIMER_DIVIDE = 0x3e0,
};
constexpr uint32_t LVT_MASKED = 1u << 16;
constexpr uint32_t TIMER_PERIODIC = 1u << 17;
constexpr uint32_t ICR_PENDING = 1u << 12;
constexpr uint32_t ICR_LEVEL_ASSERT = 1u << 14;
constexpr uint32_t ICR_INIT = 5u << 8, ICR_STARTUP = 6u << 8, ICR_NMI = 4u << 8;
constexpr uint32_t ICR_ALL_BUT_SELF = 3u << 18;

uint32_t rd(uint32_t reg) { return g_lapic[reg / 4]; }
void wr(uint32_t reg, uint32_t v) { g_lapic[reg / 4] = v; }

void send_icr(uint32_t apic_id, uint32_t low) {
    // Wait (bounded) for a previous IPI to leave.
    for (int i = 0; i < 1000000 && (rd(REG_ICR_LOW) & ICR_PENDING); i++) cpu_relax();
    wr(REG_ICR_HIGH, apic_id << 24);
    wr(REG_ICR_LOW, low);
}

} // namespace

Status lapic_init_bsp(uint64_t lapic_phys) {
    TRY_ASSIGN(VirtAddr va, ioremap(PhysAddr(lapic_phys), 0x1000));
    g_lapic = va.as<volatile uint32_t>();
    lapic_init_this_cpu();
    return Status::success();
}

void lapic_init_this_cpu() {
    constexpr uint64_t APIC_GLOBAL_ENABLE = 1u << 11;
    wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_GLOBAL_ENABLE);
    wr(REG_TPR, 0);
    wr(REG_LVT_TIMER, LVT_MASKED);
    wr(REG_LVT_LINT0, LVT_MASKED);
    wr(REG_LVT_LINT1, LVT_MASKED);
    wr(REG_LVT_ERROR, LVT_MASKED);
    wr(REG_SVR, 0x100 | VECTOR_SPURIOUS); // software enable
    wr(REG_ESR, 0);
    lapic_eoi();
}

uint32_t lapic_id() { return rd(REG_ID) >> 24; }
void lapic_eoi() { wr(REG_EOI, 0); }

void lapic_send_init(uint32_t apic_id) { send_icr(apic_id, ICR_INIT | ICR_LEVEL_ASSERT); }
void lapic_send_startup(uint32_t apic_id, uint8_t page) { send_icr(apic_id, ICR_STARTUP | ICR_LEVEL_ASSERT | page); }
void lapic_send_ipi(uint32_t apic_id, uint8_t vector) { send_icr(apic_id, ICR_LEVEL_ASSERT | vector); }
void lapic_send_nmi_all_but_self() {
    if (g_lapic) send_icr(0, ICR_ALL_BUT_SELF | ICR_NMI | ICR_LEVEL_ASSERT);
}

uint32_t lapic_timer_calibrate(uint64_t tsc_hz) {
    wr(REG_TIMER_DIVIDE, 0x3); // divide by 16
    wr(REG_LVT_TIMER, LVT_MASKED);
    wr(REG_TIMER_INIT, 0xffffffff);
    uint64_t start = rdtsc();
    uint64_t span = tsc_hz / 100; // 10 ms of TSC
    while (rdtsc() - start < span) cpu_relax();
    uint32_t elapsed = 0xffffffff - rd(REG_TIMER_CURRENT);
    wr(REG_TIMER_INIT, 0);
    uint32_t per_ms = elapsed / 10;
    return per_ms ? per_ms : 1;
}

void lapic_timer_start_periodic(uint32_t ticks_per_ms, uint32_t hz, uint8_t vector) {
    wr(REG_TIMER_DIVIDE, 0x3);
    wr(REG_LVT_TIMER, TIMER_PERIODIC | vector);
    uint64_t count = uint64_t{ticks_per_ms} * 1000 / hz;
    wr(REG_TIMER_INIT, static_cast<uint32_t>(count ? count : 1));
}

} // namespace virtue::arch
