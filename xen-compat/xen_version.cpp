// HYPERVISOR_xen_version (xen/version.h): what a guest learns about the
// hypervisor. Virtue answers as the Xen ABI it implements: version 4.17
// (the Debian Xen it is checked against), capabilities "xen-3.0-x86_64",
// the PV feature bits Linux needs (xen-compat/pv_cpuid.hpp has the same
// version), the start of the hypervisor's range. The hypervisor's command
// line and build id are for control domains under Xen; Virtue keeps them
// from every guest (-EPERM).
#include "xen_handlers.hpp"

#include <xen/features.h>
#include <xen/version.h>

#include "xen-compat/op_args.hpp"
#include "xen-compat/pv_cpuid.hpp"

namespace virtue::xen {
namespace {

// XENFEAT_* a guest gets: PRESERVE_AD updates, highmem assist, the avail
// bits of grant maps, direct-mapped memory. Not auto_translated_physmap
// (Linux would then take PFN == MFN), not dom0, not memory_op_vnode
// (no XENMEM_get_vnumainfo).
constexpr uint32_t kFeatures = (1u << XENFEAT_mmu_pt_update_preserve_ad) | (1u << XENFEAT_highmem_assist) |
                               (1u << XENFEAT_gnttab_map_avail_bits) | (1u << XENFEAT_direct_mapped);

template <typename T> CallResult put(uint64_t arg, const T& value) {
    TRY(copy_to_user(arg, &value, sizeof value));
    return 0;
}

template <size_t N> void set(char (&field)[N], const char* text) {
    size_t i = 0;
    for (; text[i] && i + 1 < N; i++) field[i] = text[i];
    for (; i < N; i++) field[i] = 0;
}

} // namespace

CallResult xen_version(uint64_t cmd, uint64_t arg) {
    switch (cmd) {
    case XENVER_version: return (uint64_t{kXenVersionMajor} << 16) | kXenVersionMinor;
    case XENVER_extraversion: {
        xen_extraversion_t v;
        set(v, ".0-virtue");
        return put(arg, v);
    }
    case XENVER_compile_info: {
        xen_compile_info_t v;
        set(v.compiler, "g++");
        set(v.compile_by, "virtue");
        set(v.compile_domain, "");
        set(v.compile_date, "");
        return put(arg, v);
    }
    case XENVER_capabilities: {
        static xen_capabilities_info_t v; // 1 KiB: not on the stack
        set(v, "xen-3.0-x86_64");
        return put(arg, v);
    }
    case XENVER_changeset: {
        xen_changeset_info_t v;
        set(v, "virtue");
        return put(arg, v);
    }
    case XENVER_platform_parameters: {
        xen_platform_parameters_t v{};
        v.virt_start = HYPERVISOR_VIRT_START;
        return put(arg, v);
    }
    case XENVER_get_features:
        return with_op<xen_feature_info_t>(arg, [](xen_feature_info_t& f) -> Status {
            if (f.submap_idx >= XENFEAT_NR_SUBMAPS) return Err::InvalidArgument;
            f.submap = kFeatures;
            return Status::success();
        });
    case XENVER_pagesize: return PAGE_SIZE;
    case XENVER_guest_handle: {
        xen_domain_handle_t v{}; // no toolstack handle
        return put(arg, v);
    }
    case XENVER_commandline:
    case XENVER_build_id: return Err::NotPermitted;
    default: return Err::NotSupported;
    }
}

} // namespace virtue::xen
