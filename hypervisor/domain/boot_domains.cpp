// Boot-time domain creation from the device-tree configuration module.
#include "domain/boot_domains.hpp"

#include "arch/cpu.hpp"
#include "arch/paging.hpp"
#include "console/console.hpp"
#include "domain/boot_config.hpp"
#include "domain/native_builder.hpp"
#include "lib/string.hpp"
#include "lib/words.hpp"
#include "mm/memory.hpp"
#include "time/clock.hpp"

namespace virtue {
namespace {

constexpr char kConfigModuleName[] = "config";

// Modules named by the first word of their multiboot2 command line.
class MultibootModules final : public ModuleLookup {
  public:
    explicit MultibootModules(const BootInfo& boot) : boot_(boot) {}
    bool find(const char* name, size_t len, ModuleRef& out) const override {
        for (size_t i = 0; i < boot_.module_count; i++) {
            const BootModule& m = boot_.modules[i];
            if (!m.cmdline.present()) continue;
            Word word = first_word(m.cmdline.ptr);
            if (word.len != len || memcmp(word.ptr, name, len) != 0) continue;
            out = ModuleRef{m.start.raw(), m.end.raw() - m.start.raw(), static_cast<uint32_t>(i)};
            return true;
        }
        return false;
    }

  private:
    const BootInfo& boot_;
};

BootConfig g_config; // large: kept out of the stack

bool build_native(const BootDomain& bd, const BootInfo& boot) { return build_native_domain(bd, boot).ok(); }

BootDomainBuilder g_builders[2] = {build_native, nullptr}; // by BootDomainKind
const BootInfo* g_boot = nullptr; // (the boot information lives as long as the hypervisor)

// A domain that asked to be built again (a Xen guest's reboot).
void rebuild(const BootDomain& bd) {
    log_info("%s: domain '%s' rebooted: built again from its boot configuration", bd.path, bd.name);
    (void)g_builders[static_cast<unsigned>(bd.kind)](bd, *g_boot);
}

} // namespace

void set_boot_domain_builder(BootDomainKind kind, BootDomainBuilder builder) {
    g_builders[static_cast<unsigned>(kind)] = builder;
}

size_t start_boot_domains(const BootInfo& boot) {
    g_boot = &boot;
    domain_set_rebuilder(rebuild);
    MultibootModules modules(boot);
    ModuleRef cfg_module;
    if (!modules.find(kConfigModuleName, sizeof kConfigModuleName - 1, cfg_module)) {
        log_info("no boot configuration module ('%s'): no domains to start", kConfigModuleName);
        domains_begin_batch();
        domains_end_batch();
        return 0;
    }
    MemoryStats mem = memory_stats();
    uint64_t free_bytes = mem.free_frames << PAGE_SHIFT;
    free_bytes = free_bytes > kHypervisorReserveBytes ? free_bytes - kHypervisorReserveBytes : 0;
    const void* fdt = arch::phys_ptr<const void>(PhysAddr(cfg_module.start));
    if (Status s = read_boot_config(fdt, cfg_module.size, modules, free_bytes, g_config); !s) {
        log_error("boot configuration (module %u) unusable: %s%s%s (%s); no domains started", cfg_module.index,
                  g_config.fatal_message, g_config.fatal_path[0] ? " at " : "", g_config.fatal_path,
                  err_name(s.error()));
        domains_begin_batch();
        domains_end_batch();
        return 0;
    }
    for (size_t i = 0; i < g_config.stored_rejections(); i++) {
        const BootRejection& r = g_config.rejections[i];
        log_error("%s: domain not started: %s (%s)", r.path, r.message, err_name(r.err));
    }
    if (g_config.rejection_count > g_config.stored_rejections())
        log_error("... and %zu more rejected domains", g_config.rejection_count - g_config.stored_rejections());
    log_info("boot configuration: %zu domain(s) accepted, %zu rejected, %lu MiB of %lu MiB free RAM",
             g_config.domain_count, g_config.rejection_count, g_config.memory_total >> 20, free_bytes >> 20);

    bool input_claimed = false;
    for (size_t i = 0; i < g_config.domain_count; i++) input_claimed = input_claimed || g_config.domains[i].console_input;
    domain_console_input_claimed(input_claimed);

    size_t started = 0;
    uint64_t t0 = system_time_ns();
    domains_begin_batch();
    for (size_t i = 0; i < g_config.domain_count; i++) {
        const BootDomain& bd = g_config.domains[i];
        const BootDomainBuilder build = g_builders[static_cast<unsigned>(bd.kind)];
        if (!build) {
            log_error("%s: domain '%s' not started: kind '%s' is not supported", bd.path, bd.name,
                      boot_domain_kind_name(bd.kind));
            continue;
        }
        if (build(bd, boot)) started++;
    }
    uint64_t t1 = system_time_ns();
    log_info("%zu domain(s) started in %lu us", started, (t1 - t0) / 1000);
    domains_end_batch();
    return started;
}

} // namespace virtue
