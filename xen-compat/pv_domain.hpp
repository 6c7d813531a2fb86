// The PV personality's state of a Xen PV domain and of its vCPUs, kept in
// the domain's extension slot (domain/domain_hooks.hpp), and the link from
// the PV MMU (pv_page_tables.hpp) to the real frame table.
//
// A PV vCPU is a thread of the domain whose guest_mode is PvKernel or
// PvUser; its address space (vm/address_space.hpp, aspace_create_guest)
// has the guest's own L4 as its root. vCPU 0 starts at the kernel's entry;
// the others stay down until the guest brings them up.
#pragma once

#include <stdint.h>
#include <xen/xen.h>
#include <xen/vcpu.h>
#include <xen/io/console.h>

#include "arch/cpu.hpp"
#include "domain/boot_config.hpp"
#include "domain/domain.hpp"
#include "domain/thread.hpp"
#include "mm/memory.hpp"
#include "time/timer_object.hpp"
#include "pv_mmu_ops.hpp"
#include "pv_time.hpp"
#include "vm/address_space.hpp"

namespace virtue::xen {

struct PvVcpu {
    Thread* thread = nullptr;       // nullptr: not brought up (a reference: upcalls may kick it while it exits)
    bool down = false;              // brought down (VCPUOP_down) until VCPUOP_up
    AddressSpace* aspace = nullptr; // the vCPU's; root = the guest L4 loaded now (a reference)
    pv::PvBasePtrs base;
    // set_trap_table: the guest's handler per vector (address 0: none), in
    // a frame of the domain's partition.
    trap_info* traps = nullptr;
    // stack_switch: the guest kernel stack a bounce from guest user mode
    // lands on.
    uint64_t kernel_ss = 0, kernel_sp = 0;
    // callback_op / set_callbacks: the guest kernel's entry points (0: none)
    // and whether entering through the syscall one masks events.
    uint64_t event_callback = 0, failsafe_callback = 0, syscall_callback = 0;
    bool syscall_masks_events = false, failsafe_masks_events = false;
    // set_segment_base: the GS base of each guest mode (the thread's
    // gs_base is the current mode's).
    uint64_t gs_kernel = 0, gs_user = 0;
    // The data selectors (DS, ES, FS, GS) the guest left, saved when the
    // vCPU is switched out and loaded again when it is switched in
    // (pv_gdt.cpp); a selector that no longer loads is replaced by null and
    // the guest's failsafe callback gets the old ones (failsafe_due).
    arch::DataSelectors selectors{}, failsafe_selectors{};
    bool failsafe_due = false;
    // set_debugreg: DR0-DR3, DR6, DR7 as the guest set them (never armed:
    // no breakpoint may be enabled), with DR6's and DR7's fixed bits.
    uint64_t debugreg[8] = {0, 0, 0, 0, 0, 0, 0xffff0ff0, 0x400};
    // CR4 bits the guest keeps (DE; pv_traps.cpp, mov to CR4).
    uint64_t cr4_guest = 0;
    // PHYSDEVOP_set_iopl: the guest kernel's virtual I/O privilege level
    // (recorded; its port I/O is emulated whatever it is).
    uint8_t iopl = 0;
    // set_gdt: the guest's GDT, frames typed SegDesc (validated), copied
    // into the CPU's GDT below selector 0xe000 while the vCPU runs there.
    static constexpr unsigned kGdtFrames = 14; // 7168 entries: all of them below 0xe000
    uint64_t gdt_frames[kGdtFrames] = {};
    uint32_t gdt_entries = 0;
    // Its runstate (VCPUOP_get_runstate_info), kept at every switch, and
    // where the guest wants a copy (register_runstate_memory_area; 0: none).
    vcpu_runstate_info runstate{};
    uint64_t runstate_va = 0;
};

struct PvDomain {
    PvclockScale clock_scale{}; // TSC -> ns, published in every vcpu_time_info
    uint64_t vm_assist = 0;  // VMASST_TYPE_* bits the guest enabled
    uint64_t nr_pages = 0;   // the guest's RAM at boot (PFNs 0 .. nr_pages - 1), its maximum reservation
    uint64_t ram_frames = 0; // its RAM frames now (pv_reservation.hpp; under mm_lock)
    uint32_t grant_frames_mappable = 0; // grant-table frames it may map (pv_grant_frames_mappable; under mm_lock)
    uint32_t nr_vcpus = 0;
    uint64_t polling = 0; // vCPUs in SCHEDOP_poll (bit per vCPU; atomic): kicked when a masked port becomes pending
    // One per vCPU up to nr_vcpus, each in a frame of the partition; a PV
    // guest has at most XEN_LEGACY_MAX_VCPUS (their vcpu_info slots).
    PvVcpu* vcpu[XEN_LEGACY_MAX_VCPUS] = {};
    vcpu_info* moved_vcpu_info[XEN_LEGACY_MAX_VCPUS] = {}; // EventTable::moved_vcpu_info points here
    // The console ring (xen/io/console.h) in the guest's console page, its
    // event channel and the timer that drains it (pv_console.cpp).
    xencons_interface* console = nullptr;
    uint32_t console_port = 0;
    Timer* console_timer = nullptr;
};

// Writes `n` bytes (at most a page) at guest address `va` of address space `as` (walked as
// the CPU would; every page must be the guest's own memory, mapped
// writable): for copies the hypervisor keeps up to date in guest memory
// when the calling thread is not the one whose tables are walked. False
// if a page is not so mapped (nothing written then).
bool pv_write_guest(Domain& d, const AddressSpace& as, uint64_t va, const void* src, size_t n);

// The vCPU's runstate on a switch: `running` (switched in) or not (out,
// blocked or runnable); its time in the state it leaves is added up and
// the guest's copy, if it registered one, written.
void pv_runstate_switch(Thread& t, PvVcpu& v, bool running);

// The console backend of a PV domain (pv_console.cpp): the ring in the
// frame `ring` gets an IPI port of vCPU 0 (the guest notifies it; the
// hypervisor notifies back through it) and a 10 ms timer that drains the
// guest's output to the console, line by line under the domain's name.
// Err::NoMemory. Stopped when the domain dies, freed with it.
Result<uint32_t> pv_console_start(Domain& d, PvDomain& pv, Mfn ring);
void pv_console_stop(PvDomain& pv);

// Boot, before the first domain: registers the personality's domain hooks.
void pv_domain_init();

// The PV state of d; nullptr for a native domain.
PvDomain* pv_domain(Domain& d);

// The PV vCPU thread t is (set when its thread is made); nullptr for a
// native thread.
inline PvVcpu* pv_vcpu(const Thread& t) { return static_cast<PvVcpu*>(t.personality); }

// A frame of d's memory that the hypervisor writes through its own mapping
// as long as d lives (shared_info, the console ring, a moved vcpu_info):
// held as Writable, a reference and a type use never dropped (the
// partition's release clears them), so that the guest can never make it
// a page table or a descriptor page, whose contents the hypervisor must
// have checked. Err::InvalidArgument: not d's memory, or typed otherwise.
Status pv_hold_writable(Domain& d, Mfn m);
void pv_drop_writable(Domain& d, Mfn m); // undoes one pv_hold_writable

// The first `frames` grant-table frames of d become frames a PV guest may
// map (kFrameGuest), each held Writable for the domain's life (the
// hypervisor writes their entries' flags: never page tables). Nothing for
// a native domain. Err::InvalidArgument if a frame cannot be held.
Status pv_grant_frames_mappable(Domain& d, uint32_t frames);

// Domain::grant_holds of every PV domain: others' uses of its grants take
// PV MMU references (pv_domain.cpp).
const GrantHoldOps& pv_grant_hold_ops();

// Domain::grant_host_maps of every PV domain: its host maps of grants are
// entries in its own page tables (pv_grant_maps.cpp).
const GrantHostMapOps& pv_grant_host_map_ops();

// Attaches a new PvDomain to d (the builder, before the domain starts);
// Err::NoMemory. Freed with the domain.
Result<PvDomain*> pv_domain_attach(Domain& d);

// The PV MMU's view of the machine (pv_page_tables.hpp, Env). The caller
// holds the domain's mm_lock.
class PvMmuEnv {
  public:
    explicit PvMmuEnv(Domain& d) : d_(d) {}
    FrameInfo* frame(Mfn m) { return frame_in_table(m) ? &frame_info(m) : nullptr; }
    uint64_t* table(Mfn m);
    domid_t domain() const { return d_.id; }
    uint64_t hypervisor_l4e(unsigned slot);
    void flush_stale(Mfn m);
    void m2p_set(Mfn m, uint64_t pfn);
    void give_back(Mfn m);
    Result<Mfn> take_frame();

  private:
    Domain& d_;
};

} // namespace virtue::xen
