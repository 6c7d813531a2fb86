// Boot-time PV domains (pv_boot.hpp).
#include "pv_boot.hpp"

#include "arch/paging.hpp"
#include "console/console.hpp"
#include "mm/memory.hpp"
#include "pv_elf_notes.hpp"
#include "pv_layout.hpp"

namespace virtue::xen {
namespace {

// Large: kept out of the hypervisor stack (boot is single-threaded).
PvKernel g_kernel;
PvLayout g_layout;

} // namespace

bool build_pv_boot_domain(const BootDomain& bd, const BootInfo&) {
    const void* image = arch::phys_ptr<const void>(PhysAddr(bd.module.start));
    if (Status s = read_pv_kernel(image, bd.module.size, g_kernel); !s) {
        if (g_kernel.error_feature != UINT32_MAX) {
            const char* f = feature_name(g_kernel.error_feature);
            log_error("%s: domain '%s' not started: PV kernel (module %u): %s: %s (%s)", bd.path, bd.name,
                      bd.module.index, g_kernel.error, f ? f : "unknown feature", err_name(s.error()));
        } else if (g_kernel.error_note != kNoPvNote) {
            log_error("%s: domain '%s' not started: PV kernel (module %u): note %s: %s (%s)", bd.path, bd.name,
                      bd.module.index, note_name(g_kernel.error_note), g_kernel.error, err_name(s.error()));
        } else {
            log_error("%s: domain '%s' not started: PV kernel (module %u): %s (%s)", bd.path, bd.name,
                      bd.module.index, g_kernel.error, err_name(s.error()));
        }
        return false;
    }
    PvDomainSpec spec;
    spec.nr_pages = bd.memory_bytes >> PAGE_SHIFT;
    spec.initrd_bytes = bd.has_ramdisk ? bd.ramdisk.size : 0;
    spec.cmdline = bd.bootargs;
    spec.nr_vcpus = bd.vcpus;
    if (Status s = compute_pv_layout(g_kernel, spec, g_layout); !s) {
        log_error("%s: domain '%s' not started: PV layout of %lu MiB%s: %s (%s)", bd.path, bd.name,
                  bd.memory_bytes >> 20, bd.has_ramdisk ? " with its initrd" : "", g_layout.error,
                  err_name(s.error()));
        return false;
    }
    log_info("%s: PV kernel '%s' accepted: entry 0x%lx, %lu pages, start_info at 0x%lx, %lu page-table frames, "
             "initrd %lu KiB",
             bd.path, bd.name, g_layout.rip, g_layout.nr_pages, g_layout.rsi, g_layout.nr_pt_frames,
             g_layout.mod_len >> 10);
    log_error("%s: domain '%s' not started: running PV guests is not implemented yet", bd.path, bd.name);
    return false;
}

} // namespace virtue::xen
