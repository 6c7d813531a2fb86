// The boot CPU's path from the 64-bit entry to a running system.
#include "acpi/acpi.hpp"
#include "arch/apic.hpp"
#include "arch/calibrate.hpp"
#include "arch/cpu.hpp"
#include "arch/descriptors.hpp"
#include "arch/mmio.hpp"
#include "arch/paging.hpp"
#include "arch/percpu.hpp"
#include "boot/multiboot2.hpp"
#include "console/console.hpp"
#include "core/boot_options.hpp"
#include "core/panic.hpp"
#include "core/selftest.hpp"
#include "core/shutdown.hpp"
#include "domain/boot_domains.hpp"
#include "arch/user_entry.hpp"
#include "sched/scheduler.hpp"
#include "lib/string.hpp"
#include "mm/memory.hpp"
#include "smp/smp.hpp"
#include "time/clock.hpp"
#include "time/timer_tick.hpp"
#include "xen-compat/m2p.hpp"
#include "xen-compat/pv_boot.hpp"
#include "xen-compat/pv_domain.hpp"
#include "xen-compat/vcpu_timers.hpp"

namespace virtue {
namespace {

constexpr uint32_t MULTIBOOT2_BOOTLOADER_MAGIC = 0x36d76289;

BootInfo g_boot_info;
PlatformInfo g_platform;
uint64_t g_entry_tsc;      // TSC at the 32-bit entry (boot32.S)
uint64_t g_first_line_tsc; // TSC when the first log line was written
// What %fs points at while the hypervisor calls libfdt (canary at 0x28).
struct alignas(64) {
    uint64_t words[8] = {0, 0, 0, 0, 0, 0x5649525455450a00ull, 0, 0};
} g_libfdt_tls;

// Reads firmware tables through the direct map or a fresh read-only mapping.
struct FirmwareReader final : PhysReader {
    const uint8_t* map(uint64_t phys, size_t len) override {
        auto va = arch::map_firmware(PhysAddr(phys), len);
        return va ? va->as<const uint8_t>() : nullptr;
    }
};

void report_acpi(const PlatformInfo& p) {
    char sigs[5 * acpi::MAX_TABLES + 1];
    size_t n = 0;
    for (size_t i = 0; i < p.table_count; i++) {
        memcpy(sigs + n, p.tables[i].signature, 4);
        sigs[n + 4] = ' ';
        n += 5;
    }
    sigs[n ? n - 1 : 0] = '\0';
    log_info("ACPI: rev %u, OEM '%s', %s: %s", p.acpi_revision, p.oem_id, p.uses_xsdt ? "XSDT" : "RSDT",
             sigs);
    for (size_t i = 0; i < p.warning_count; i++)
        log_warn("ACPI %s: %s (0x%lx)", p.warnings[i].table, acpi::warn_text(p.warnings[i].code),
                 p.warnings[i].value);
    log_info("ACPI: %zu CPUs (%zu ignored), %zu I/O APIC(s), local APIC at 0x%lx%s", p.cpu_count,
             p.cpus_ignored, p.io_apic_count, p.local_apic_base.raw(), p.hpet.present ? ", HPET" : "");
}

void init_interrupt_controllers() {
    if (Status s = arch::lapic_init_bsp(g_platform.madt_present ? g_platform.local_apic_base.raw()
                                                                : 0xfee00000);
        !s)
        panic("cannot map the local APIC: %s", err_name(s.error()));
    arch::this_cpu().apic_id = arch::lapic_id();
    arch::pic8259_disable();
    for (size_t i = 0; i < g_platform.io_apic_count; i++)
        if (Status s = arch::ioapic_mask_all(g_platform.io_apics[i].address.raw()); !s)
            log_warn("I/O APIC at 0x%lx: %s", g_platform.io_apics[i].address.raw(), err_name(s.error()));
}

void start_timers() {
    auto cal = arch::calibrate_tsc(g_platform.hpet.present ? g_platform.hpet.base.raw() : 0);
    clock_init(cal.tsc_hz, g_entry_tsc);
    log_info("TSC: %lu.%03lu MHz (calibrated against the %s)", cal.tsc_hz / 1000000,
             (cal.tsc_hz / 1000) % 1000, cal.source);
    arch::PerCpu& cpu = arch::this_cpu();
    cpu.lapic_ticks_per_ms = arch::lapic_timer_calibrate(tsc_hz());
    arch::lapic_timer_start_periodic(cpu.lapic_ticks_per_ms, TICK_HZ, arch::VECTOR_TIMER);
    log_info("local APIC timer: %u ticks/ms, %u Hz tick on every CPU", cpu.lapic_ticks_per_ms, TICK_HZ);
}

void start_secondary_cpus() {
    CpuDescriptor cpus[MAX_CPUS];
    uint32_t count = 0;
    for (size_t i = 0; i < g_platform.cpu_count && count < MAX_CPUS; i++)
        if (g_platform.cpus[i].enabled) cpus[count++].apic_id = g_platform.cpus[i].apic_id;
    arch::g_nr_cpus_possible = count ? count : 1;
    smp_boot_secondary_cpus(cpus, count);
    arch::paging_drop_identity_map();
}

} // namespace

extern "C" [[noreturn]] void start_hypervisor(uint32_t magic, uint32_t mbi_phys, uint64_t entry_tsc);
extern "C" [[noreturn]] void switch_stack_and_call(uint64_t stack_top, void (*fn)(void*), void* arg);
namespace {
[[noreturn]] void continue_boot(void*);
} // namespace

extern "C" void (*__init_array_start[])(), (*__init_array_end[])();

extern "C" void start_hypervisor(uint32_t magic, uint32_t mbi_phys, uint64_t entry_tsc) {
    // Constructors of global objects (vtable pointers of static objects).
    for (auto* ctor = __init_array_start; ctor != __init_array_end; ctor++) (*ctor)();
    arch::percpu_init_this_cpu(0, 0);
    arch::this_cpu().stack_top = 0; // boot stack in .bss until the idle loop
    arch::gdt_load_this_cpu();
    arch::idt_init();
    arch::idt_load_this_cpu();
    console_init(UartConfig{}, true); // defaults until the command line is read

    if (magic != MULTIBOOT2_BOOTLOADER_MAGIC)
        panic("not started by a multiboot2 loader (magic 0x%x)", magic);
    // The boot page tables map the first 4 GiB at the direct-map base.
    auto* mbi = arch::phys_ptr<const uint8_t>(PhysAddr(mbi_phys));
    Status parsed = parse_multiboot2(mbi, 0x100000000ull - mbi_phys, mbi_phys, g_boot_info);
    if (!parsed) panic("bad multiboot2 information: %s", err_name(parsed.error()));

    apply_boot_options(g_boot_info.cmdline);
    g_entry_tsc = entry_tsc;
    g_first_line_tsc = arch::rdtsc();
    log_info("Virtue hypervisor starting (%s build)",
#ifdef VIRTUE_DEBUG
             "debug"
#else
             "release"
#endif
    );
    log_info("loader: %s", g_boot_info.bootloader_name.present() ? g_boot_info.bootloader_name.ptr : "?");
    log_info("command line: %s", boot_command_line());
    report_boot_option_warnings();
    for (size_t i = 0; i < g_boot_info.module_count; i++) {
        const BootModule& m = g_boot_info.modules[i];
        log_info("module %zu: [0x%lx, 0x%lx) '%s'", i, m.start.raw(), m.end.raw(),
                 m.cmdline.present() ? m.cmdline.ptr : "");
    }
    for (size_t i = 0; i < g_boot_info.warnings.count; i++)
        log_warn("multiboot2: %s (0x%lx, 0x%lx)", g_boot_info.warnings.items[i].what,
                 g_boot_info.warnings.items[i].a, g_boot_info.warnings.items[i].b);

    if (Status s = memory_init(g_boot_info); !s) panic("memory initialisation failed: %s", err_name(s.error()));
    // Leave the .bss boot stack for this CPU's guarded stack.
    if (Status s = arch::percpu_create_stacks(0); !s) panic("no boot CPU stacks: %s", err_name(s.error()));
    switch_stack_and_call(arch::this_cpu().stack_top, continue_boot, nullptr);
}

namespace {
[[noreturn]] void continue_boot(void*) {

    FirmwareReader reader;
    if (g_boot_info.rsdp.kind == RsdpKind::None) panic("no ACPI RSDP from the boot loader");
    if (Status s = parse_acpi_into(g_boot_info.rsdp.bytes, g_boot_info.rsdp.length, reader, g_platform); !s)
        panic("ACPI tables unusable: %s", err_name(s.error()));
    report_acpi(g_platform);
    if (g_platform.reset.present)
        shutdown_set_reset_register(g_platform.reset.reg.space_id, g_platform.reset.reg.address,
                                    g_platform.reset.value);

    init_interrupt_controllers();
    if (Status s = smp_enable_ring3_this_cpu(); !s) panic("CPU 0: no ring-3 support: %s", err_name(s.error()));
    start_timers();
    sched_init_this_cpu();
    log_info("boot: first log line %lu us after entry", tsc_to_ns(g_first_line_tsc - g_entry_tsc) / 1000);
    arch::this_cpu().online_tsc = arch::rdtsc();
    arch::this_cpu().state.store(arch::CpuState::Online, MemOrder::Release);
    arch::g_nr_cpus_online.fetch_add(1, MemOrder::AcqRel);
    arch::irq_enable();

    start_secondary_cpus();
    uint64_t online_ns = system_time_ns();
    const uint32_t online = arch::cpus_online();
    if (online == arch::g_nr_cpus_possible)
        log_info("all %u CPUs online %lu.%03lu ms after entry", online, online_ns / 1000000,
                 (online_ns / 1000) % 1000);
    else
        log_error("only %u of %u CPUs online %lu.%03lu ms after entry", online,
                  arch::g_nr_cpus_possible, online_ns / 1000000, (online_ns / 1000) % 1000);
    memory_report();

    run_selftests_and_maybe_shutdown();
    // libfdt: no interrupts (it uses the red zone), and %fs:0x28 must hold
    // a stack-protector canary (Debian builds it with -fstack-protector).
    arch::irq_disable();
    arch::set_fs_base(reinterpret_cast<uint64_t>(&g_libfdt_tls));
    xen::vcpu_timers_init(); // its domain hooks, before the first domain
    xen::pv_domain_init();
    if (Status s = xen::m2p_init(); !s) panic("no M2P table: %s", err_name(s.error()));
    set_boot_domain_builder(BootDomainKind::XenPv, xen::build_pv_boot_domain);
    start_boot_domains(g_boot_info);
    memory_report();
    cpu_idle_loop();
}
} // namespace

} // namespace virtue
