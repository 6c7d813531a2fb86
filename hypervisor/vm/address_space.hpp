// A native domain's memory objects: memory regions (frames of its own
// partition) and address spaces (page tables the domain edits through
// native calls). The reference is docs/native-abi.md.
//
// Invariants (checked by vm_audit):
//   - every leaf of every address space of domain D maps frames that D owns
//     and whose type is PageType::Memory — never a page table, a handle
//     frame, a free frame or another domain's frame;
//   - a Memory frame's ref_count is the number of 4 KiB translations of it
//     (a 2 MiB leaf counts once for each of its 512 frames);
//   - a Memory frame belongs to exactly one live region, or is an orphan
//     (FRAME_ORPHAN: its region is gone, or it was mapped at build time)
//     with ref_count > 0; an orphan goes back to the partition with its last
//     mapping;
//   - a leaf is writable only with pte::SW0 ("may be writable": the region
//     handle had the write right) and executable only with pte::SW1.
//
// Locking: Domain::mm_lock around every edit and count change, taken with
// a PollingLockGuard serving tlb_serve_requests because its holder may wait
// for TLB shootdown acknowledgements. Objects are freed by kobject_unref, never under
// mm_lock (their destroy takes it).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cap/handle_table.hpp"
#include "lib/addr.hpp"
#include "lib/atomic.hpp"
#include "lib/result.hpp"

namespace virtue {

struct Domain;
struct Thread;

inline constexpr uint64_t kMaxRegionPages = uint64_t{1} << 20; // 4 GiB
inline constexpr uint32_t kRegionInlinePages = 16;

struct MemRegion {
    KObject kobj;
    Domain* domain = nullptr;
    uint64_t pages = 0;
    // Frame list: inline for small regions, else a directory frame of
    // 1024 index-frame MFNs, each index frame 1024 data-frame MFNs (all
    // from the partition).
    uint32_t directory = 0;
    uint32_t inline_mfns[kRegionInlinePages] = {};
    // Frames [0, ready) are zeroed Memory frames. A region being built by
    // a preempted memory_create is already on Domain::regions (so the audit
    // sees its frames) with ready < pages, and no handle names it yet.
    uint64_t ready = 0;
    uint32_t lists_taken = 0; // index frames of the frame list (fewer if its creation failed)
    MemRegion* next = nullptr; // Domain::regions
    // Released (last handle gone), its frames going back from the end:
    // still on Domain::regions with `ready` shrinking.
    MemRegion* release_next = nullptr; // Thread::releasing_regions
};

struct AddressSpace {
    KObject kobj;
    Domain* domain = nullptr;
    PhysAddr root;                   // PML4, from the partition
    Atomic<uint64_t> active_cpus{0}; // CPUs with it in CR3 (scheduler; orders: load_address_space)
    AddressSpace* next = nullptr;    // Domain::aspaces
    // Released (last reference gone): its mappings go in steps from
    // `release_from` up, while it stays on Domain::aspaces.
    AddressSpace* release_next = nullptr; // Thread::releasing_aspaces
    uint64_t release_from = 0;
    // A guest's own page tables (aspace_create_guest: a PV vCPU's): only
    // its personality's MMU edits them; every native edit is refused.
    bool guest_tables = false;
};

// Native protection bits (VIRTUE_PROT_*, VIRTUE_CACHE_*, VIRTUE_MAP_*).
struct MapRequest {
    uint64_t va = 0;
    uint64_t offset = 0; // bytes into the region
    uint64_t size = 0;
    uint64_t prot = 0;
    uint32_t region_rights = 0; // of the handle the caller used
};

// Creates a region of `pages` zeroed frames. Err::InvalidArgument (pages),
// Err::NoMemory (partition too small; nothing kept). Runs in preemptible
// steps: Err::Restart when preempted, its progress (the region being
// built) kept in the calling thread, which gives it back if the call is
// not continued.
Result<MemRegion*> region_create(Domain& d, uint64_t pages);
Mfn region_frame(const MemRegion& r, uint64_t page);

// Creates an empty address space. Err::NoSpace (the domain has
// kMaxAddressSpaces already), Err::NoMemory.
Result<AddressSpace*> aspace_create(Domain& d);

// The address space of a Xen PV vCPU: `root` is the guest's own L4, whose
// entries the PV personality validates and whose frames the guest owns
// (xen-compat/pv_page_tables.hpp). Native code never edits it: it is on no
// list of the domain and no handle names it; its last reference frees the
// object alone. The PV personality changes `root` (new_baseptr) on the CPU
// that runs the vCPU. Err::NoMemory.
Result<AddressSpace*> aspace_create_guest(Domain& d, PhysAddr root);

// The calls of native.toml (aspace_map ... aspace_read_bits), on objects of
// the calling domain. Errors: InvalidArgument, Fault (range outside the
// domain's half), Range (outside the region), Exists (already mapped),
// NotFound (protect of a hole), Permission (rights), NoMemory.
Status aspace_map(AddressSpace& as, MemRegion& r, const MapRequest& req);
Status aspace_unmap(AddressSpace& as, uint64_t va, uint64_t size);
Status aspace_protect(AddressSpace& as, uint64_t va, uint64_t size, uint64_t prot);
// Writes the bitmap through copy_to_user (to the *calling* thread's address
// space); returns the number of set bits.
Result<uint64_t> aspace_read_bits(AddressSpace& as, uint64_t va, uint64_t size, uint64_t flags,
                                  uint64_t user_bitmap);

// Grant mappings (grant/grant_table.hpp): a 4 KiB leaf of a frame of
// another domain (or a granted frame of this one), marked pte::SW2 and not
// counted in ref_counts; aspace_unmap refuses ranges holding one.
// Err::Fault / InvalidArgument (va), Err::Exists (mapped), Err::NoMemory.
Status aspace_map_foreign(AddressSpace& as, uint64_t va, Mfn frame, bool writable);
void aspace_unmap_foreign(AddressSpace& as, uint64_t va);

// Frames of d named by grants: holds (FrameInfo::type_count) keep a frame
// whose region was closed until the last grant or foreign mapping of it
// goes (then it returns to the partition). Each takes d's mm_lock.
// frame_hold fails (Err::InvalidArgument) if the frame is not a Memory
// frame of d.
Status grant_frame_hold(Domain& d, Mfn frame);
void grant_frame_release(Domain& d, Mfn frame);

// Build time: maps a fresh partition frame at va with protection `prot`
// (VIRTUE_PROT_*); the frame becomes an orphan Memory frame the domain may
// later unmap (and so free) or re-protect.
Status aspace_map_boot_frame(AddressSpace& as, uint64_t va, Mfn m, uint64_t prot);

// Any time: maps a fresh partition frame at va with protection `prot`
// (the leaf may never gain more) and holds it (type_count 1) in the same
// mm_lock hold, so the domain may unmap it but never free it: pages the
// hypervisor keeps writing for the domain's whole life (shared_info, grant
// table frames). On failure the frame is untouched (still free to give back).
Status aspace_map_held_frame(AddressSpace& as, uint64_t va, Mfn m, uint64_t prot);

// Releases: a region or address space whose last reference a thread of
// its own domain drops inside a call goes on that thread's release lists;
// its frames go back in steps (at most 512 frames each, under mm_lock) on
// the thread's way to ring 3, where the thread can be switched out between
// steps (sched/scheduler.cpp: user_return_work). The thread reaches ring 3
// only when all are done. Anywhere else (domain teardown, another domain's
// thread, an exiting thread) they go at once.
bool vm_release_pending(const Thread& t);
void vm_release_step(Thread& t);
void vm_release_all(Thread& t); // an exiting thread: everything now

// Checks the invariants above for every object of d; logs and counts
// violations.
uint64_t vm_audit(Domain& d);

} // namespace virtue
