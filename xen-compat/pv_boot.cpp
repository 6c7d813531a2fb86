// Boot-time PV domains (pv_boot.hpp).
#include "pv_boot.hpp"

#include <new>

#include "arch/cpu.hpp"
#include "arch/paging.hpp"
#include "arch/rtc.hpp"
#include "arch/tlb.hpp"
#include "console/console.hpp"
#include "domain/domain.hpp"
#include "m2p.hpp"
#include "mm/memory.hpp"
#include "pv_domain.hpp"
#include "pv_gdt.hpp"
#include "pv_elf_notes.hpp"
#include "pv_image.hpp"
#include "pv_layout.hpp"
#include "pv_page_tables.hpp"
#include "pv_time.hpp"
#include "pv_traps.hpp"
#include "vcpu_timers.hpp"
#include "time/clock.hpp"
#include "vm/address_space.hpp"

namespace virtue::xen {
namespace {

// Large: kept out of the hypervisor stack (boot is single-threaded).
PvKernel g_kernel;
PvLayout g_layout;

// Frames of the partition beyond the guest's RAM, for what the hypervisor
// keeps per domain in it: shared_info, the handle table and the (unused)
// native root table, and a state frame and a trap table per vCPU. The guest sees nr_pages =
// the node's memory.
constexpr uint64_t kHypervisorFrames = 8;

struct FramesByPfn {
    const uint64_t* p2m;
};

uint8_t* page_of(void* ctx, uint64_t pfn) {
    return arch::phys_ptr<uint8_t>(to_phys(Mfn(static_cast<FramesByPfn*>(ctx)->p2m[pfn])));
}
uint64_t mfn_of(void* ctx, uint64_t pfn) { return static_cast<FramesByPfn*>(ctx)->p2m[pfn]; }

// The wall-clock time at system time 0, from the RTC (read once: the
// RTC ticks in whole seconds, system time is the finer clock after that).
uint64_t boot_wallclock_ns() {
    static uint64_t at_boot = 0;
    if (!at_boot) {
        const uint64_t wall = arch::rtc_unix_seconds();
        const uint64_t now = system_time_ns();
        if (wall) at_boot = wall * 1'000'000'000 > now ? wall * 1'000'000'000 - now : 1;
    }
    return at_boot;
}

// shared_info as a PV kernel finds it at its first instruction: every
// vCPU's events masked, vCPU 0's time valid, the wall clock set.
void init_shared_info(shared_info& s, uint32_t vcpus) {
    if (const uint64_t wall = boot_wallclock_ns()) {
        s.wc_version = 1; // odd while it changes (nobody reads yet, but the protocol holds)
        __atomic_thread_fence(__ATOMIC_RELEASE);
        s.wc_sec = static_cast<uint32_t>(wall / 1'000'000'000);
        s.xen_wc_sec_hi = static_cast<uint32_t>((wall / 1'000'000'000) >> 32);
        s.wc_nsec = static_cast<uint32_t>(wall % 1'000'000'000);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        s.wc_version = 2;
    }
    for (uint32_t v = 0; v < vcpus && v < XEN_LEGACY_MAX_VCPUS; v++) s.vcpu_info[v].evtchn_upcall_mask = 1;
    // Every vCPU's clock (each vCPU reads its own; the TSC is the same on
    // every CPU).
    const PvclockScale scale = pvclock_scale(tsc_hz());
    const uint64_t ns = system_time_ns(); // (then the TSC: the pair is off by the read's few ns)
    const uint64_t tsc = arch::rdtsc();
    for (uint32_t v = 0; v < vcpus && v < XEN_LEGACY_MAX_VCPUS; v++) pvclock_publish(s.vcpu_info[v].time, tsc, ns, scale);
}

Status fail(const BootDomain& bd, const char* what, Err e) {
    log_error("%s: domain '%s' not started: %s (%s)", bd.path, bd.name, what, err_name(e));
    return e;
}

// Builds the planned domain in a new partition and starts vCPU 0.
Status build(const BootDomain& bd, const uint8_t* image) {
    const uint64_t t0 = arch::rdtsc();
    DomainParams p;
    p.name = bd.name;
    p.has_id = bd.has_domain_id;
    p.id = static_cast<domid_t>(bd.domain_id);
    p.memory_bytes = (g_layout.nr_pages + kHypervisorFrames + 2 * bd.vcpus) << PAGE_SHIFT;
    p.vcpus = bd.vcpus;
    p.weight = bd.weight;
    p.cap = bd.cap;
    p.privileges = bd.privileges;
    auto created = domain_create(p);
    if (!created) return fail(bd, "cannot create the domain", created.error());
    Domain& d = **created;
    d.boot_spec = &bd; // (a reboot builds it again from there)
    auto undo = [&](const char* what, Err e) {
        domain_destroy_unstarted(d);
        return fail(bd, what, e);
    };
    auto pv = pv_domain_attach(d);
    if (!pv) return undo("no hypervisor memory for its PV state", pv.error());
    (*pv)->nr_pages = g_layout.nr_pages;
    (*pv)->ram_frames = g_layout.nr_pages;
    (*pv)->clock_scale = pvclock_scale(tsc_hz());
    d.grant_holds = &pv_grant_hold_ops();
    d.grant_host_maps = &pv_grant_host_map_ops();
    (*pv)->nr_vcpus = bd.vcpus;

    auto shared = domain_alloc_frame(d);
    if (!shared) return undo("memory too small for shared_info", shared.error());
    d.events.shared = arch::phys_ptr<shared_info>(to_phys(*shared));
    init_shared_info(*d.events.shared, bd.vcpus);
    frame_info(*shared).flags |= pv::kFrameGuest; // the guest maps it (update_va_mapping)
    // The hypervisor writes it (event bits, time) all along: never a page
    // table (Xen shares it with the guest as a writable page in the same way).
    if (Status held = pv_hold_writable(d, *shared); !held) return undo("cannot hold shared_info", held.error());

    // The guest's RAM: PFN -> MFN (the list also goes into the guest),
    // kept meanwhile in a scratch block of hypervisor frames.
    unsigned order = 0;
    while ((uint64_t{PAGE_SIZE} << order) < g_layout.nr_pages * sizeof(uint64_t)) order++;
    auto scratch = alloc_frames(order, DOMID_XEN);
    if (!scratch) return undo("no hypervisor memory for the P2M list", scratch.error());
    auto* p2m = arch::phys_ptr<uint64_t>(to_phys(*scratch));
    Status s = Status::success();
    for (uint64_t pfn = 0; pfn < g_layout.nr_pages && s; pfn++) {
        auto m = domain_alloc_frame(d);
        if (!m) {
            s = m.error();
        } else {
            p2m[pfn] = m->raw();
            frame_info(*m).flags |= pv::kFrameGuest; // its RAM: the frames its tables may name
        }
    }
    if (s) {
        FramesByPfn ctx{p2m};
        PvInputs in;
        in.kernel = image;
        in.kernel_size = bd.module.size;
        in.initrd = bd.has_ramdisk ? arch::phys_ptr<const uint8_t>(PhysAddr(bd.ramdisk.start)) : nullptr;
        in.initrd_size = bd.has_ramdisk ? bd.ramdisk.size : 0;
        in.cmdline = bd.bootargs;
        PvBootValues values;
        values.shared_info_maddr = to_phys(*shared).raw();
        // The console ring (the page the plan zeroed for it) and its port.
        auto port = pv_console_start(d, **pv, Mfn(p2m[g_layout.console.pfn.raw()]));
        if (port) values.console_port = *port;
        else s = port.error();
        if (s) s = write_pv_image(g_kernel, g_layout, in, values, PvFrames{&ctx, page_of, mfn_of});
        if (s)
            for (uint64_t pfn = 0; pfn < g_layout.nr_pages; pfn++) m2p_set(Mfn(p2m[pfn]), pfn);
    }
    const Mfn l4 = s ? Mfn(p2m[g_layout.cr3.raw()]) : Mfn(0);
    (void)free_frames(*scratch, order);
    if (!s) return undo("cannot write the PV image", s.error());

    // Pinning the L4 validates every bootstrap table and gives the L4 its
    // hypervisor slots; vCPU 0's base pointer holds a use of its own (as
    // every base pointer does: the guest may unpin the L4 and switch away).
    {
        PollingLockGuard lock(d.mm_lock, arch::tlb_serve_requests);
        PvMmuEnv env(d);
        pv::PageTables<PvMmuEnv> tables(env);
        s = tables.pin(l4, 4);
        if (s) s = tables.get_page_and_type(l4, PageType::L4);
    }
    if (!s) return undo("its bootstrap page tables do not validate", s.error());

    // Each vCPU's state and trap table: two frames of the partition.
    for (uint32_t v = 0; v < bd.vcpus; v++) {
        static_assert(256 * sizeof(trap_info) == PAGE_SIZE);
        auto state = domain_alloc_frame(d);
        auto traps = state ? domain_alloc_frame(d) : state;
        if (!traps) return undo("memory too small for the vCPUs' state", traps.error());
        PvVcpu* vcpu = new (arch::phys_ptr<void>(to_phys(*state))) PvVcpu();
        vcpu->traps = arch::phys_ptr<trap_info>(to_phys(*traps));
        for (unsigned i = 0; i < 256; i++) vcpu->traps[i] = trap_info{};
        (*pv)->vcpu[v] = vcpu;
    }
    PvVcpu& v0 = *(*pv)->vcpu[0];
    v0.base.kernel_l4 = l4.raw();
    auto as = aspace_create_guest(d, to_phys(l4));
    if (!as) return undo("no hypervisor memory for vCPU 0", as.error());
    v0.aspace = *as;
    // Xen's entry state: rsi = start_info, every other register 0 but rsp.
    auto t = thread_create(d, **as, g_layout.rip, g_layout.rsp, 0, g_layout.rsi, 0);
    if (!t) return undo("cannot create vCPU 0", t.error());
    (*t)->guest_mode = GuestMode::PvKernel;
    (*t)->switch_ops = &pv_switch_ops();
    (*t)->xen_vcpu = 0;
    kobject_ref((*t)->kobj);
    v0.thread = *t;
    (*t)->personality = &v0;
    d.events.upcall = pv_upcall;
    d.events.masked_pending = pv_masked_pending;
    d.events.moved_vcpu_info = (*pv)->moved_vcpu_info;
    // Xen starts every PV vCPU with a 10 ms periodic timer (VIRQ_TIMER).
    if (Status timer = vcpu_start_periodic_timer(d, 0, 10'000'000); !timer)
        return undo("no hypervisor memory for its timers", timer.error());
    d.entry = g_layout.rip;
    d.build_ns = tsc_to_ns(arch::rdtsc() - t0);
    log_info("d%u '%s': PV guest, %lu pages, %u vCPU(s), entry 0x%lx, start_info 0x%lx; built in %lu us", d.id,
             d.name, g_layout.nr_pages, bd.vcpus, g_layout.rip, g_layout.rsi, d.build_ns / 1000);
    domain_start(d);
    return Status::success();
}

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
    return build(bd, static_cast<const uint8_t*>(image)).ok();
}

} // namespace virtue::xen
