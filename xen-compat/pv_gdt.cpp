// A PV vCPU's own GDT (set_gdt, update_descriptor) and LDT (MMUEXT_SET_LDT,
// pv_mmu_ops.hpp), and the switch hooks that keep them (and the vCPU's
// runstate, vcpu_op.cpp) while it runs on a CPU.
//
// The guest gives its GDT as frames of its memory; each becomes a SegDesc
// page (validated: every present descriptor a code or data segment, raised
// to DPL 3, so no gate or system descriptor ever reaches the CPU) and may
// not be mapped writable while it is one. The vCPU's entries are copied
// into the GDT of the CPU that runs it, below Xen's reserved selectors
// (0xe000), when it is switched in, and cleared when it is switched out, so
// no other domain ever sees them. Its LDT's descriptor pages (held as such
// while they are the LDT) are copied likewise into the CPU's LDT area,
// which the CPU's LDTR names only while the vCPU runs. A selector the guest
// returns to through iret (or is interrupted with) must be one of these or
// Xen's flat ones.
#include "xen_handlers.hpp"

#include <initializer_list>

#include "arch/descriptors.hpp"
#include "arch/paging.hpp"
#include "arch/tlb.hpp"
#include "pv_domain.hpp"
#include "pv_gdt.hpp"
#include "pv_page_tables.hpp"
#include "event/evtchn.hpp"
#include "sched/scheduler.hpp"
#include "time/clock.hpp"
#include "vm/user_memory.hpp"

namespace virtue::xen {
namespace {

// Descriptor i of a table held as frames (512 descriptors each).
uint64_t descriptor_in(const uint64_t* frames, uint32_t i) {
    return arch::phys_ptr<const uint64_t>(to_phys(Mfn(frames[i / 512])))[i % 512];
}

// Copies the vCPU's entries into this CPU's GDT.
void load_gdt(const PvVcpu& v) {
    uint64_t* gdt = arch::guest_gdt_entries();
    for (uint32_t i = 0; i < v.gdt_entries; i++) gdt[i] = descriptor_in(v.gdt_frames, i);
}

// Copies the vCPU's LDT into this CPU's LDT area and loads it (none: the
// LDTR null), so that whatever runs next here sees only its own.
void load_ldt(const PvVcpu& v) {
    const uint32_t n = v.base.ldt_entries;
    uint64_t* ldt = arch::guest_ldt_entries();
    for (uint32_t i = 0; i < n; i++) ldt[i] = descriptor_in(v.base.ldt_frames, i);
    arch::load_ldt(n);
}

void clear_gdt(uint32_t entries) {
    uint64_t* gdt = arch::guest_gdt_entries();
    for (uint32_t i = 0; i < entries; i++) gdt[i] = 0;
}

bool data_selector_ok(const PvVcpu& v, uint16_t sel);

// The vCPU's GDT entries and its data selectors, which load only after
// them; a selector that no longer loads (the guest changed its descriptor
// meanwhile) is loaded as null, and the failsafe callback will get the
// ones the guest had, before it runs on (pv_traps.cpp).
void switch_in(Thread& t) {
    if (PvVcpu* v = pv_vcpu(t)) {
        load_gdt(*v);
        if (v->base.ldt_entries) load_ldt(*v);
        pv_runstate_switch(t, *v, true);
        // Its clock published afresh whenever it is switched in, as Xen
        // does when it schedules a vCPU.
        Domain& d = *t.domain;
        if (const PvDomain* pv = pv_domain(d); pv && d.events.shared)
            pvclock_publish(evtchn_vcpu_info(d.events, t.xen_vcpu).time, arch::rdtsc(), system_time_ns(), pv->clock_scale);
        arch::DataSelectors s = v->selectors;
        bool bad = false;
        for (uint16_t* sel : {&s.ds, &s.es, &s.fs, &s.gs})
            if (!data_selector_ok(*v, *sel)) *sel = 0, bad = true;
        if (s.ds | s.es | s.fs | s.gs) arch::load_data_selectors(s, t.fs_base, t.gs_base);
        if (bad) {
            v->failsafe_selectors = v->selectors;
            v->selectors = s;
            v->failsafe_due = true;
            t.resume_work = true;
        }
    }
}

// Saves what the guest left: its data selectors, and the FS and GS bases
// (which it changes itself by loading a selector); then nulls them, so
// that whoever runs next on this CPU sees nothing of this guest's. The GS
// register is given back the value the scheduler last wrote there (it
// writes the next thread's only when that differs).
void switch_out(Thread& t) {
    if (PvVcpu* v = pv_vcpu(t)) {
        const arch::DataSelectors s = arch::read_data_selectors();
        const uint64_t fs = arch::rdmsr(arch::MSR_FS_BASE), gs = arch::rdmsr(arch::MSR_KERNEL_GS_BASE);
        const uint64_t written = t.gs_base;
        v->selectors = s;
        if (s.ds | s.es | s.fs | s.gs) arch::load_data_selectors(arch::DataSelectors{}, fs, written);
        else if (gs != written) arch::set_user_gs_base(written);
        t.fs_base = fs;
        t.gs_base = gs;
        (t.guest_mode == GuestMode::PvUser ? v->gs_user : v->gs_kernel) = gs;
        clear_gdt(v->gdt_entries);
        arch::load_ldt(0);
        pv_runstate_switch(t, *v, false);
    }
}

constexpr ThreadSwitchOps kSwitchOps{switch_in, switch_out};

// Drops the SegDesc uses of frames [0, n) of `frames`.
void put_frames(PvMmuEnv& env, const uint64_t* frames, unsigned n) {
    pv::PageTables<PvMmuEnv> tables(env);
    for (unsigned i = 0; i < n; i++) tables.put_page_and_type(Mfn(frames[i]));
}

constexpr uint64_t kPresent = 1ull << 47, kCodeOrData = 1ull << 44, kCode = 1ull << 43, kWritable = 1ull << 41,
                   kLong = 1ull << 53, kDefault32 = 1ull << 54, kDpl3 = 3ull << 45;

// The descriptor a selector names in vCPU v's GDT as this CPU has it (v
// runs here: the copy switch_in made, which set_gdt and update_descriptor
// keep for the vCPU running here), which is what the CPU itself will load;
// the guest's frames may already say otherwise (another vCPU's
// update_descriptor). 0 if none.
uint64_t descriptor(const PvVcpu& v, uint64_t selector) {
    const uint64_t index = (selector & 0xffff) >> 3;
    if (selector & 4) return index < v.base.ldt_entries ? arch::guest_ldt_entries()[index] : 0;
    return index < v.gdt_entries ? arch::guest_gdt_entries()[index] : 0;
}

// Whether a data segment register can be loaded with `sel` in ring 0 while
// v's GDT is this CPU's: null, Xen's flat ring-3 data selector, or a
// present data or readable code descriptor of v's GDT (all DPL 3).
bool data_selector_ok(const PvVcpu& v, uint16_t sel) {
    constexpr uint64_t kReadable = 1ull << 41; // (code; for data: writable)
    if ((sel & ~3) == 0 || (sel | 3) == FLAT_RING3_DS64) return true;
    const uint64_t d = descriptor(v, sel);
    return (d & kPresent) && (d & kCodeOrData) && (!(d & kCode) || (d & kReadable));
}

} // namespace

const ThreadSwitchOps& pv_switch_ops() { return kSwitchOps; }

static_assert(FLAT_RING3_CS64 == 0xe033 && FLAT_RING3_SS64 == 0xe02b, "pv_selectors_ok's fast path (pv_gdt.hpp)");

namespace {
// Whether CS and SS may be returned to, each descriptor read by `lookup`.
template <typename Lookup> bool code_and_stack_ok(uint64_t cs, uint64_t ss, Lookup descriptor) {
    cs &= 0xffff;
    ss &= 0xffff;
    const bool flat_cs = cs == FLAT_RING3_CS64, flat_ss = ss == FLAT_RING3_SS64;
    if (flat_cs && flat_ss) return true;
    if ((cs & 3) != 3 || (ss & 3) != 3) return false;
    if (!flat_cs) {
        const uint64_t d = descriptor(cs);
        if ((d & (kPresent | kCodeOrData | kCode | kLong | kDefault32 | kDpl3)) !=
            (kPresent | kCodeOrData | kCode | kLong | kDpl3)) // (L with D set is no valid code segment)
            return false;
    }
    if (!flat_ss) {
        const uint64_t d = descriptor(ss);
        if ((d & (kPresent | kCodeOrData | kCode | kWritable | kDpl3)) != (kPresent | kCodeOrData | kWritable | kDpl3))
            return false;
    }
    return true;
}
} // namespace

bool pv_gdt_selectors_ok(Thread& t, uint64_t cs, uint64_t ss) {
    const PvVcpu* v = pv_vcpu(t);
    return v && code_and_stack_ok(cs, ss, [&](uint64_t sel) { return descriptor(*v, sel); });
}

bool pv_initial_selectors_ok(const PvVcpu& v, uint64_t cs, uint64_t ss) {
    return code_and_stack_ok(cs, ss, [&](uint64_t sel) -> uint64_t {
        const uint64_t index = (sel & 0xffff) >> 3;
        if ((sel & 4) || index >= v.gdt_entries) return 0;
        return descriptor_in(v.gdt_frames, static_cast<uint32_t>(index));
    });
}

SelectorFault pv_selector_fault(Thread& t, uint64_t cs, uint64_t ss) {
    constexpr uint64_t kNp = 11, kGp = 13;
    cs &= 0xffff;
    ss &= 0xffff;
    const PvVcpu* v = pv_vcpu(t);
    auto fault = [&](uint64_t sel) -> SelectorFault {
        const uint64_t d = v ? descriptor(*v, sel) : 0;
        return {(d && !(d & kPresent)) ? kNp : kGp, sel & ~uint64_t{3}};
    };
    return pv_gdt_selectors_ok(t, cs, FLAT_RING3_SS64) ? fault(ss) : fault(cs);
}

Status pv_take_gdt(Domain& d, PvVcpu& v, const uint64_t* frames, uint64_t entries, bool running_here) {
    if (entries > arch::GUEST_GDT_ENTRIES) return Err::InvalidArgument;
    const unsigned n = static_cast<unsigned>((entries + 511) / 512);
    PollingLockGuard lock(d.mm_lock, arch::tlb_serve_requests);
    PvMmuEnv env(d);
    pv::PageTables<PvMmuEnv> tables(env);
    for (unsigned i = 0; i < n; i++) {
        if (!tables.get_page_and_type(Mfn(frames[i]), PageType::SegDesc)) {
            put_frames(env, frames, i);
            return Err::InvalidArgument;
        }
    }
    if (running_here) clear_gdt(v.gdt_entries);
    put_frames(env, v.gdt_frames, (v.gdt_entries + 511) / 512);
    for (unsigned i = 0; i < PvVcpu::kGdtFrames; i++) v.gdt_frames[i] = i < n ? frames[i] : 0;
    v.gdt_entries = static_cast<uint32_t>(entries);
    if (running_here) load_gdt(v);
    return Status::success();
}

CallResult set_gdt(uint64_t frame_list, uint64_t entries) {
    Thread& t = *current_thread();
    PvVcpu* v = pv_vcpu(t);
    if (!v) return Err::NotSupported;
    if (entries > arch::GUEST_GDT_ENTRIES) return Err::InvalidArgument;
    uint64_t frames[PvVcpu::kGdtFrames] = {};
    TRY(copy_from_user(frames, frame_list, ((entries + 511) / 512) * sizeof(uint64_t)));
    TRY(pv_take_gdt(*t.domain, *v, frames, entries, true));
    return 0;
}

CallResult update_descriptor(uint64_t maddr, uint64_t desc) {
    Thread& t = *current_thread();
    PvVcpu* v = pv_vcpu(t);
    if (!v) return Err::NotSupported;
    if (maddr & 7) return Err::InvalidArgument;
    auto checked = pv::check_descriptor(desc);
    if (!checked) return Err::InvalidArgument;
    const Mfn frame(maddr >> 12);
    Domain& d = *t.domain;
    PollingLockGuard lock(d.mm_lock, arch::tlb_serve_requests);
    PvMmuEnv env(d);
    pv::PageTables<PvMmuEnv> tables(env);
    const FrameInfo* f = env.frame(frame);
    if (!f || f->owner != d.id || !(f->flags & pv::kFrameGuest)) return Err::InvalidArgument;
    // A descriptor page takes the checked form; any other frame of the
    // guest's must be one it may write (as with a plain store).
    const bool segdesc = f->type == PageType::SegDesc && f->type_count > 0;
    if (!segdesc) TRY(tables.get_type(frame, PageType::Writable));
    __atomic_store_n(&env.table(frame)[(maddr & 0xfff) >> 3], *checked, __ATOMIC_RELEASE);
    if (!segdesc) tables.put_type(frame);
    // Our own GDT or LDT: this CPU's copy too (another vCPU's copy is
    // refreshed when it is next switched in).
    for (uint32_t i = 0; segdesc && i < (v->gdt_entries + 511) / 512; i++)
        if (v->gdt_frames[i] == frame.raw()) load_gdt(*v);
    for (uint32_t i = 0; segdesc && i < (v->base.ldt_entries + 511) / 512; i++)
        if (v->base.ldt_frames[i] == frame.raw()) load_ldt(*v);
    return 0;
}

void pv_load_user_gs_selector(Thread& t, PvVcpu& v, uint16_t sel) {
    if (!data_selector_ok(v, sel)) sel = 0;
    const uint64_t d = descriptor(v, sel); // (0 for null and the flat selectors: base 0)
    v.gs_user = ((d >> 16) & 0xffffff) | ((d >> 56) << 24);
    arch::DataSelectors s = arch::read_data_selectors();
    s.gs = sel;
    arch::load_data_selectors(s, t.fs_base, t.gs_base);
}

void pv_reload_ldt(PvVcpu& v) {
    v.base.reload_ldt = false;
    load_ldt(v);
}

} // namespace virtue::xen
