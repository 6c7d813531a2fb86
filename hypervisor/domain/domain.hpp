// Domains: the hypervisor's resource containers, each with its own fixed
// memory partition.
//
// A domain owns a memory partition (frames reserved from the frame table at
// creation and never more), an address space built from that partition,
// threads, a scheduling share and privileges. Its frames carry its domid in
// the frame table; destruction gives every one back to the free pool.
//
// Life cycle: create_domain (Building) -> start (Running) -> kill (Dying:
// threads stop at their next hypervisor entry or tick) -> the last thread
// to leave destroys the domain (frames, page tables, objects). The
// hypervisor never waits for a domain: a dying domain's threads are made
// runnable and leave by themselves.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>

#include "arch/user_entry.hpp"
#include "cap/handle_table.hpp"
#include "domain/domain_hooks.hpp"
#include "domain/kernel_stack.hpp"
#include "domain/thread.hpp"
#include "event/evtchn.hpp"
#include "grant/grant_table.hpp"
#include "ipc/endpoint.hpp"
#include "lib/addr.hpp"
#include "lib/atomic.hpp"
#include "lib/result.hpp"
#include "lib/spinlock.hpp"
#include "sched/credit.hpp"

namespace virtue {

struct Domain;
struct AddressSpace;
struct MemRegion;

inline constexpr uint32_t kMaxThreadsPerDomain = 64;
inline constexpr size_t kMaxDomains = 256;
inline constexpr uint32_t kHandlesPerDomain = 128; // fits one partition frame
inline constexpr uint32_t kMaxAddressSpaces = 32;
inline constexpr uint32_t kFaultHandlerSlots = kMaxThreadsPerDomain + kMaxAddressSpaces; // one per possible target
inline constexpr uint64_t kChunkPages = 512;        // a 2 MiB run of the partition
inline constexpr size_t kDomainNameMax = 32;
inline constexpr size_t kConsoleLineMax = 256;

enum class DomainState : uint8_t { Building, Running, Dying };

// How another domain's use of a grant holds the granted frame, for a
// domain whose memory is not native Memory frames (a PV guest's, whose
// personality counts references its own way). Null in a native domain:
// grant_frame_hold's rules.
struct GrantHoldOps {
    // The frame stays the domain's while held; `write`: the use may write
    // it (it must then never become something the hypervisor checked, such
    // as a page table). Err::InvalidArgument: not memory it may grant so.
    Status (*hold)(Domain& d, Mfn frame, bool write);
    void (*release)(Domain& d, Mfn frame, bool write);
};

struct BootDomain; // domain/boot_config.hpp

struct Domain {
    domid_t id = DOMID_INVALID;
    char name[kDomainNameMax + 1] = {};
    uint32_t privileges = 0; // BootPrivilege bits (boot_config.hpp)
    uint32_t vcpus = 1;
    // Building -> Running (domain_start, before its threads run) -> Dying
    // (domain_kill, under `lock`); read anywhere without the lock.
    // Release/acquire: whoever sees Running sees the built domain, and
    // whoever sees Dying sees the exit status and reason set before it.
    Atomic<DomainState> state{DomainState::Building};
    DomainState current_state() const { return state.load(MemOrder::Acquire); }
    bool dying() const { return current_state() == DomainState::Dying; }

    // Memory partition. Free frames are linked through FrameInfo::next:
    // single frames on free_head, whole free 2 MiB-aligned runs of
    // kChunkPages frames (linked by their first frame) on chunk_head. The
    // blocks obtained from the buddy allocator are linked through
    // FrameInfo::prev of their first frame.
    SpinLock lock{LockRank::Domain}; // partition, console line, thread table
    uint64_t partition_frames = 0;
    uint64_t free_frames = 0; // single and chunked
    uint32_t free_head;
    uint32_t chunk_head;
    uint32_t block_head;

    // Address spaces and memory regions (vm/). mm_lock serialises every
    // page-table edit and frame-count change of the domain; it is taken
    // before `lock`, and waiting for it serves TLB-flush requests.
    SpinLock mm_lock{LockRank::DomainMm};
    AddressSpace* aspace0 = nullptr;     // the first one (the domain holds a reference)
    AddressSpace* aspaces = nullptr;     // all live ones (under mm_lock)
    uint32_t aspace_count = 0;
    MemRegion* regions = nullptr;     // all live ones (under mm_lock)
    bool tearing_down = false;           // last reference gone: objects skip per-frame work
    // The teardown after the last reference, in bounded steps
    // (domain_teardown_step): its list link (under the registry lock),
    // which part it is at and where in that part.
    Domain* teardown_next = nullptr;
    uint8_t teardown_phase = 0;
    uint64_t teardown_cursor = 0;
    uint64_t teardown_left = 0; // frames still owned after the partition went back (a leak)

    // Event channels (event/evtchn.hpp): ports, the shared_info page.
    EventTable events;
    // Grant table (grant/grant_table.hpp), and this domain's mappings of grants.
    GrantTable grants;
    const GrantHoldOps* grant_holds = nullptr; // set by a personality before the domain starts
    const GrantHostMapOps* grant_host_maps = nullptr; // likewise (grant/grant_table.hpp); null: native page tables
    // State the personalities keep for it (domain/domain_hooks.hpp), one
    // slot per registered set of hooks.
    void* extensions[kMaxDomainExtensions] = {};
    // IPC endpoints it serves (ipc/endpoint.hpp), under `lock`; no references.
    Endpoint* endpoints = nullptr;
    uint32_t endpoint_count = 0;
    uint32_t next_endpoint_number = 0;
    bool endpoints_closed = false; // dying: no new ones
    // Clients waiting for an endpoint to appear (endpoint_connect with a
    // deadline) wait here; endpoint_generation (under `lock`, read without
    // it) grows with every endpoint made and at death.
    Waitable endpoint_events;
    // Release when bumped (under `lock`), acquire when a waiter looks: a
    // waiter that sees the new value then finds the new endpoint.
    Atomic<uint32_t> endpoint_generation{0};

    // Handles (cap/handle_table.hpp): one partition frame of slots.
    SpinLock handles_lock{LockRank::DomainHandles};
    HandleTable handles;

    // Layout of the address space (virtual).
    uint64_t image_start = 0, image_end = 0, entry = 0;
    uint64_t boot_info_va = 0, boot_info_size = 0;

    // Threads (domain/thread.hpp): slots of live Thread objects (under
    // `lock`; a slot does not hold a reference).
    Thread* threads[kMaxThreadsPerDomain] = {};
    uint32_t thread_count = 0;   // occupied slots
    uint32_t next_thread_id = 0;
    uint32_t live_threads = 0;   // started and not exited; the last to exit ends the domain
    int64_t last_thread_status = 0; // of the latest thread_exit
    // Fault handlers (domain/fault.hpp), under `lock`: a partition frame of
    // kFaultHandlerSlots entries, taken at the first registration.
    FaultHandlerEntry* fault_handlers = nullptr;
    // References: one per started thread until it is reaped, plus short
    // holds (domain_kill). The last domain_put destroys the domain.
    uint32_t refs = 0;

    // Scheduling share (under the scheduler's accounting lock).
    sched::ShareAccount account;

    // Console: a partial line until its newline.
    char line[kConsoleLineMax];
    size_t line_len = 0;
    bool line_open = false; // the console-input owner's output: a line of it is open on the console

    int64_t exit_status = 0;
    const char* end_reason = nullptr; // static text, set once by kill
    // The boot configuration it was built from (null: none), and whether it
    // is built again from it once it is gone (a Xen guest that rebooted,
    // as Xen's on_reboot = "restart"): domain_set_rebuilder.
    const BootDomain* boot_spec = nullptr;
    bool rebuild_when_gone = false;
    uint64_t created_ns = 0;
    uint64_t build_ns = 0;        // creation time, hypervisor-measured
    uint64_t overhead_bytes = 0;  // hypervisor memory spent on it beyond the partition
    Domain* all_next = nullptr;   // global list (domain registry)

    bool is_control() const;
};

struct DomainParams {
    const char* name = "";
    bool has_id = false;
    domid_t id = 0;
    uint64_t memory_bytes = 0;
    uint32_t vcpus = 1, weight = 256, cap = 0, privileges = 0;
};

// Who reads what is typed on the console: the domain the boot
// configuration gave `console-input` (a PV guest through its console ring,
// a control domain through console_io), or without one every control
// domain. The boot sets whether one was given before building domains.
void domain_console_input_claimed(bool claimed);
bool domain_reads_console_input(const Domain& d);

// Registers a new domain (Building) with its whole partition reserved.
// Err::InvalidArgument (bad params), Err::Exists (id or name in use),
// Err::NoMemory (not enough free frames: nothing is kept).
Result<Domain*> domain_create(const DomainParams& p);

// A frame of the partition, zeroed (Err::NoMemory when it is used up).
Result<Mfn> domain_alloc_frame(Domain& d);
// A free 2 MiB-aligned run of kChunkPages frames, zeroed (Err::NoMemory if
// the partition has none left whole).
Result<Mfn> domain_alloc_chunk(Domain& d);
// The same run not zeroed, for a caller that zeroes it in pieces before
// anything else can see it (a long zeroing must be preemptible).
Result<Mfn> domain_take_chunk(Domain& d);

// Adds a boot thread that will enter ring 3 at `entry` with `user_rsp` and
// the given first three arguments (rdi, rsi, rdx), in the domain's first
// address space. Not yet runnable; the domain holds its creator reference
// until domain_start.
Result<Thread*> domain_add_thread(Domain& d, uint64_t entry, uint64_t user_rsp, uint64_t a0, uint64_t a1,
                                  uint64_t a2);

// Starts every boot thread (spread over the online CPUs).
void domain_start(Domain& d);

// Bracket the creation of a group of domains (boot): "all domains have
// ended" is not reported while a batch is open, even if the first domains
// of the batch have already come and gone.
void domains_begin_batch();
void domains_end_batch();

// Ends the domain (idempotent: the first reason and status win). Safe from
// any CPU, with interrupts off; the caller holds a reference (its own
// thread's, or one from domain_get). Threads leave at their next hypervisor
// entry; sleeping ones are woken to do so.
void domain_kill(Domain& d, int64_t status, const char* reason);

// Destroys a domain that never started (Building) at once.
void domain_destroy_unstarted(Domain& d);

// Pause/unpause: a paused domain's threads are not picked to run (running
// ones stop within one tick).
void domain_pause(Domain& d);
void domain_unpause(Domain& d);

// Calls fn(first, count) for each block of the domain's partition (for a
// personality's per-frame state, e.g. the M2P, before the frames go back).
void domain_for_each_partition_block(Domain& d, void (*fn)(Mfn first, uint64_t count, void* ctx), void* ctx);

// Drops a reference. The last one queues the domain for teardown: its
// objects, partition and the domain itself are freed later in bounded steps
// (domain_teardown_step), never in one long stretch with interrupts off.
// Never called on a stack or address space of the domain's own threads (the
// scheduler calls it after switching away).
void domain_put(Domain& d);

// One bounded step of the oldest pending teardown (a few objects, 512
// partition frames or a slice of the frame-table census); true if teardown
// work is left. Called where no lock is held: each CPU's idle loop, and
// once a tick on a busy CPU (sched/scheduler.cpp), so that a death is
// finished even when no CPU is ever idle.
bool domain_teardown_step();
bool domain_teardown_pending();

// Rebuilding domains that asked for it (Domain::rebuild_when_gone) once
// their teardown is finished: `rebuild` builds and starts a domain from its
// boot configuration again (the boot sequence registers it). A rebuild is
// a long step (it zeroes and loads the partition), so only idle CPUs take
// it (domain_rebuild_step: false when none was waiting). Until it is done
// the domain still counts as not ended.
void domain_set_rebuilder(void (*rebuild)(const BootDomain& bd));
bool domain_rebuild_step();

// The domain a call's domid argument names, seen from domain `self`:
// DOMID_SELF (and self's own id) is self; other ids at or above
// DOMID_FIRST_RESERVED name nobody (Err::InvalidArgument). Whether such a
// domain exists is the caller's next question (domain_get).
inline Result<domid_t> domid_named(const Domain& self, uint64_t domid) {
    if (domid == DOMID_SELF) return self.id;
    if (domid >= DOMID_FIRST_RESERVED) return Err::InvalidArgument;
    return static_cast<domid_t>(domid);
}

// The live domain with this id, with a reference the caller must drop with
// domain_put; Err::NoSuchDomain if there is none (or it is being destroyed).
Result<Domain*> domain_get(domid_t id);

// Calls fn(d, ctx) for every live (started, not yet freed) domain, each
// held by a reference for the call, outside the registry lock.
void domains_for_each(void (*fn)(Domain& d, void* ctx), void* ctx);

// Calls fn once with the share accounts of all live domains, under the
// registry lock (the scheduler's credit refill).
void domain_refill_accounts(void (*fn)(sched::ShareAccount* const*, size_t, void*), void* ctx);
size_t domain_count();

} // namespace virtue

namespace virtue {
// Gives a frame (or a whole chunk from domain_alloc_chunk) back to its
// domain's partition.
// The domain's console output (any family's console call): bytes go into
// its line buffer and whole lines to the console with its name in front;
// non-printable bytes show as '?', a line longer than kConsoleLineMax is
// cut there. The domain that reads the console's input (`console-input`)
// is the console's terminal: its output goes out as it comes.
void domain_console_put(Domain& d, const char* s, size_t len);

void domain_free_frame(Domain& d, Mfn m);
void domain_free_chunk(Domain& d, Mfn first);
} // namespace virtue
