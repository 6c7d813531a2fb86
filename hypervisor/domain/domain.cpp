// Domain objects: registry, memory partition, threads, death.
#include "domain/domain.hpp"

#include "arch/cpu.hpp"
#include "arch/descriptors.hpp"
#include "arch/paging.hpp"
#include "console/console.hpp"
#include "core/panic.hpp"
#include "domain/boot_config.hpp"
#include "lib/string.hpp"
#include "mm/buddy_allocator.hpp"
#include "mm/heap.hpp"
#include "mm/memory.hpp"
#include "sched/scheduler.hpp"
#include "time/clock.hpp"
#include "vm/address_space.hpp"

namespace virtue {
namespace {

SpinLock g_registry_lock{LockRank::DomainRegistry}; // g_domains list; always taken with IRQs off
Domain* g_domains;
size_t g_domain_count;
// Started domains not yet completely torn down: the last one to finish
// reports that all domains have ended (after its own report).
uint32_t g_unfinished;
// Hooks of the layers above (domain_hooks.hpp): written at boot only.
DomainHooks g_hooks[kMaxDomainExtensions];
uint32_t g_hook_count;

Domain* find_locked(domid_t id) {
    for (Domain* d = g_domains; d; d = d->all_next)
        if (d->id == id) return d;
    return nullptr;
}

bool name_used_locked(const char* name) {
    for (Domain* d = g_domains; d; d = d->all_next)
        if (strcmp(d->name, name) == 0) return true;
    return false;
}

Result<domid_t> pick_id_locked(const DomainParams& p) {
    if (p.has_id) {
        if (p.id >= DOMID_FIRST_RESERVED) return Err::InvalidArgument;
        if (find_locked(p.id)) return Err::Exists;
        return p.id;
    }
    // Domain 0 is the control domain by convention.
    if ((p.privileges & kBootPrivControl) && !find_locked(0)) return domid_t{0};
    for (domid_t id = 1; id < DOMID_FIRST_RESERVED; id++)
        if (!find_locked(id)) return id;
    return Err::NoMemory;
}

unsigned floor_log2(uint64_t v) { return 63u - static_cast<unsigned>(__builtin_clzll(v)); }

// Gives back up to `budget` frames of the partition, from its first block
// on, clearing their use counts (mappings and region membership die with
// the domain); *cursor is the position within the first block (0 to begin
// with). A block goes back to the buddy allocator when all of it is
// cleared. True when the whole partition is back.
bool release_partition_step(Domain& d, uint64_t* cursor, uint64_t budget) {
    while (d.block_head != FRAME_NIL && budget) {
        const uint32_t head = d.block_head;
        FrameInfo& first = frame_info(Mfn(head));
        const uint64_t size = uint64_t{1} << first.order;
        const uint64_t end = *cursor + budget < size ? *cursor + budget : size;
        for (uint64_t i = *cursor; i < end; i++) {
            FrameInfo& f = frame_info(Mfn(head + i));
            f.ref_count = 0;
            f.type_count = 0;
            f.type = PageType::None;
            // Only the allocator's own bits survive: what a personality
            // marked (e.g. a PV guest's frames) must not reach the next owner.
            f.flags &= static_cast<uint8_t>(FRAME_FREE_HEAD | FRAME_ALLOC_HEAD);
            f.reserved1 = 0;
        }
        budget -= end - *cursor;
        *cursor = end;
        if (end < size) break;
        const uint32_t next = first.prev;
        if (Status s = free_frames(Mfn(head), first.order); !s)
            log_error("d%u: cannot free partition block at mfn 0x%x: %s", d.id, head, err_name(s.error()));
        d.block_head = next;
        *cursor = 0;
    }
    if (d.block_head != FRAME_NIL) return false;
    d.free_head = FRAME_NIL;
    d.chunk_head = FRAME_NIL;
    d.free_frames = 0;
    return true;
}

} // namespace

void domain_for_each_partition_block(Domain& d, void (*fn)(Mfn first, uint64_t count, void* ctx), void* ctx) {
    for (uint32_t head = d.block_head; head != FRAME_NIL;) {
        const FrameInfo& first = frame_info(Mfn(head));
        const uint32_t next = first.prev;
        fn(Mfn(head), uint64_t{1} << first.order, ctx);
        head = next;
    }
}

namespace {
// The whole partition at once (a domain that never ran).
void release_partition(Domain& d) {
    uint64_t cursor = 0;
    (void)release_partition_step(d, &cursor, ~uint64_t{0});
}

// Puts frames [first, first + count) on the single-frame list so that they
// are handed out in ascending order. Caller holds d.lock (or owns d alone).
void push_singles(Domain& d, Mfn first, uint64_t count) {
    for (uint64_t i = count; i-- > 0;) {
        frame_info(first + i).next = d.free_head;
        d.free_head = static_cast<uint32_t>(first.raw() + i);
    }
}

// Puts the free 2 MiB run starting at `first` on the chunk list. Caller
// holds d.lock (or owns d alone).
void push_chunk(Domain& d, Mfn first) {
    frame_info(first).next = d.chunk_head;
    d.chunk_head = static_cast<uint32_t>(first.raw());
}

// Reserves the whole partition up front, in the largest blocks available.
Status reserve_partition(Domain& d, uint64_t frames) {
    unsigned max_order = BuddyAllocator::MAX_ORDER;
    uint64_t remaining = frames;
    while (remaining) {
        unsigned order = floor_log2(remaining);
        if (order > max_order) order = max_order;
        auto block = alloc_frames(order, d.id);
        if (!block) {
            if (order == 0) {
                release_partition(d);
                return Err::NoMemory;
            }
            max_order = order - 1;
            continue;
        }
        frame_info(*block).prev = d.block_head;
        d.block_head = static_cast<uint32_t>(block->raw());
        // Blocks of 2 MiB or more (aligned to their size) become chunks for
        // regions that can use large pages; smaller ones single frames.
        const uint64_t frames_in_block = uint64_t{1} << order;
        if (frames_in_block >= kChunkPages) {
            for (uint64_t c = frames_in_block; c >= kChunkPages; c -= kChunkPages)
                push_chunk(d, *block + (c - kChunkPages));
        } else {
            push_singles(d, *block, frames_in_block);
        }
        d.free_frames += frames_in_block;
        remaining -= uint64_t{1} << order;
    }
    d.partition_frames = frames;
    return Status::success();
}

} // namespace

uint32_t domain_register_hooks(const DomainHooks& hooks) {
    if (g_hook_count == kMaxDomainExtensions) panic("more than %u sets of domain hooks", kMaxDomainExtensions);
    g_hooks[g_hook_count] = hooks;
    return g_hook_count++;
}

bool Domain::is_control() const { return privileges & kBootPrivControl; }

namespace {
bool g_console_input_claimed = false; // a boot domain has `console-input`
} // namespace

void domain_console_input_claimed(bool claimed) { g_console_input_claimed = claimed; }

bool domain_reads_console_input(const Domain& d) {
    return (d.privileges & kBootPrivConsoleInput) || (!g_console_input_claimed && d.is_control());
}

Result<Domain*> domain_create(const DomainParams& p) {
    uint64_t t0 = system_time_ns();
    size_t name_len = p.name ? strlen(p.name) : 0;
    if (!name_len || name_len > kDomainNameMax) return Err::InvalidArgument;
    if (!p.memory_bytes || (p.memory_bytes & PAGE_MASK)) return Err::InvalidArgument;
    if (!p.vcpus || p.vcpus > kMaxThreadsPerDomain || !p.weight || p.weight > 65535) return Err::InvalidArgument;
    if (domain_count() >= kMaxDomains) return Err::NoMemory;

    static_assert(sizeof(Domain) <= SizeClassHeap::MAX_SIZE, "a Domain must fit the heap's largest class");
    auto mem = heap_alloc(sizeof(Domain));
    if (!mem) return mem.error();
    Domain* d = new (*mem) Domain();
    d->free_head = FRAME_NIL;
    d->chunk_head = FRAME_NIL;
    d->block_head = FRAME_NIL;
    memcpy(d->name, p.name, name_len + 1);
    d->privileges = p.privileges;
    d->vcpus = p.vcpus;
    d->account.weight = p.weight;
    d->account.cap_percent = p.cap;
    d->overhead_bytes = heap_footprint(sizeof(Domain));
    {
        IrqLockGuard guard(g_registry_lock);
        Result<domid_t> id = Err::InvalidArgument;
        if (name_used_locked(d->name)) id = Err::Exists;
        else id = pick_id_locked(p);
        if (!id) {
            (void)heap_free(d);
            return id.error();
        }
        d->id = *id;
        // Registered before the partition is reserved so the id is taken.
        d->all_next = g_domains;
        g_domains = d;
        g_domain_count++;
    }
    if (Status s = reserve_partition(*d, p.memory_bytes >> PAGE_SHIFT); !s) {
        domain_destroy_unstarted(*d);
        return s.error();
    }
    auto aspace = aspace_create(*d);
    if (!aspace) {
        domain_destroy_unstarted(*d);
        return aspace.error();
    }
    d->aspace0 = *aspace;
    static_assert(kHandlesPerDomain * sizeof(HandleSlot) <= PAGE_SIZE);
    auto handle_frame = domain_alloc_frame(*d);
    if (!handle_frame) {
        domain_destroy_unstarted(*d);
        return handle_frame.error();
    }
    if (Status s = d->handles.init(d->id, arch::phys_ptr<HandleSlot>(to_phys(*handle_frame)), kHandlesPerDomain); !s) {
        domain_destroy_unstarted(*d);
        return s.error();
    }
    d->created_ns = t0;
    return d;
}

Result<Mfn> domain_alloc_frame(Domain& d) {
    Mfn m;
    {
        IrqLockGuard guard(d.lock);
        if (d.free_head == FRAME_NIL && d.chunk_head != FRAME_NIL) {
            // Out of single frames: break up a chunk.
            Mfn first(d.chunk_head);
            d.chunk_head = frame_info(first).next;
            push_singles(d, first, kChunkPages);
        }
        if (d.free_head == FRAME_NIL) return Err::NoMemory;
        m = Mfn(d.free_head);
        d.free_head = frame_info(m).next;
        frame_info(m).next = FRAME_NIL;
        d.free_frames--;
    }
    memset(arch::phys_ptr<void>(to_phys(m)), 0, PAGE_SIZE);
    return m;
}

Result<Mfn> domain_take_chunk(Domain& d) {
    IrqLockGuard guard(d.lock);
    if (d.chunk_head == FRAME_NIL) return Err::NoMemory;
    const Mfn first(d.chunk_head);
    d.chunk_head = frame_info(first).next;
    frame_info(first).next = FRAME_NIL;
    d.free_frames -= kChunkPages;
    return first;
}

Result<Mfn> domain_alloc_chunk(Domain& d) {
    auto first = domain_take_chunk(d);
    if (first) memset(arch::phys_ptr<void>(to_phys(*first)), 0, kChunkPages * PAGE_SIZE);
    return first;
}

namespace {
bool printable(char c) { return (c >= 0x20 && c < 0x7f) || c == '\t'; }

// The output of the domain that reads the console's input goes out as it
// comes (its terminal: a shell's prompt has no newline), with the control
// bytes a terminal needs to edit a line (backspace, carriage return,
// escape sequences); other non-printable bytes show as '?'.
void put_live(Domain& d, const char* s, size_t len) {
    char out[256];
    IrqLockGuard guard(d.lock);
    while (len) {
        const size_t n = len < sizeof out ? len : sizeof out;
        for (size_t i = 0; i < n; i++) {
            const char c = s[i];
            out[i] = printable(c) || c == '\n' || c == '\r' || c == '\b' || c == 0x1b ? c : '?';
        }
        console_write_domain_text(d.name, out, n, d.line_open);
        s += n;
        len -= n;
    }
}
} // namespace

void domain_console_put(Domain& d, const char* s, size_t len) {
    if (d.privileges & kBootPrivConsoleInput) return put_live(d, s, len);
    IrqLockGuard guard(d.lock);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\r') continue; // (a terminal's carriage return before its newline)
        if (c == '\n' || d.line_len == kConsoleLineMax) {
            console_write_domain_line(d.name, d.line, d.line_len);
            d.line_len = 0;
            if (c == '\n') continue;
        }
        d.line[d.line_len++] = printable(c) ? c : '?';
    }
}

void domain_free_frame(Domain& d, Mfn m) {
    IrqLockGuard guard(d.lock);
    frame_info(m).next = d.free_head;
    d.free_head = static_cast<uint32_t>(m.raw());
    d.free_frames++;
}

void domain_free_chunk(Domain& d, Mfn first) {
    IrqLockGuard guard(d.lock);
    push_chunk(d, first);
    d.free_frames += kChunkPages;
}

Result<Thread*> domain_add_thread(Domain& d, uint64_t entry, uint64_t user_rsp, uint64_t a0, uint64_t a1,
                                  uint64_t a2) {
    return thread_create(d, *d.aspace0, entry, user_rsp, a0, a1, a2);
}

namespace {
// Boot threads: the ones created before domain_start (the domain holds
// their creator references until then).
template <typename Fn> void for_each_boot_thread(Domain& d, Fn fn) {
    Thread* boot[kMaxThreadsPerDomain];
    uint32_t n = 0;
    {
        IrqLockGuard guard(d.lock);
        for (Thread* t : d.threads)
            if (t) boot[n++] = t;
    }
    for (uint32_t i = 0; i < n; i++) fn(*boot[i], i);
}
} // namespace

void domain_start(Domain& d) {
    d.state.store(DomainState::Running, MemOrder::Release);
    __atomic_fetch_add(&g_unfinished, 1, __ATOMIC_ACQ_REL);
    // Our reference until the loop is done: the threads may run and leave
    // on other CPUs before it ends.
    __atomic_store_n(&d.refs, 1, __ATOMIC_RELEASE);
    // Also counted as a live thread until every boot thread is started, so
    // that the first one to exit cannot end the domain before the others
    // have been started.
    __atomic_store_n(&d.live_threads, 1, __ATOMIC_RELEASE);
    for_each_boot_thread(d, [&](Thread& t, uint32_t i) {
        if (Status s = thread_start(t, i); !s) log_error("d%u: boot thread %u not started", d.id, t.id);
        kobject_unref(t.kobj); // the creator reference
    });
    if (__atomic_sub_fetch(&d.live_threads, 1, __ATOMIC_ACQ_REL) == 0)
        domain_kill(d, __atomic_load_n(&d.last_thread_status, __ATOMIC_ACQUIRE), "its last thread exited");
    domain_put(d);
}

void domains_begin_batch() { __atomic_fetch_add(&g_unfinished, 1, __ATOMIC_ACQ_REL); }

void domains_end_batch() {
    if (__atomic_sub_fetch(&g_unfinished, 1, __ATOMIC_ACQ_REL) == 0) sched_all_domains_gone();
}

void domain_kill(Domain& d, int64_t status, const char* reason) {
    {
        IrqLockGuard guard(d.lock);
        if (d.dying()) return;
        d.state.store(DomainState::Dying, MemOrder::Release);
        d.exit_status = status;
        d.end_reason = reason;
        // A paused thread must run to leave; under d.lock so that a
        // concurrent domain_pause cannot pause it again (it checks Dying).
        sched_set_paused(d, false);
    }
    __atomic_fetch_add(&d.refs, 1, __ATOMIC_ACQ_REL); // threads may leave meanwhile
    // Its event channels close now (peers see it), inside this hold: no
    // port of a domain whose last reference is gone is ever linked.
    evtchn_domain_dying(d);
    for (uint32_t i = 0; i < g_hook_count; i++)
        if (g_hooks[i].dying) g_hooks[i].dying(d);
    grant_domain_dying(d);
    endpoint_domain_dying(d);
    // Control domains that bound VIRQ_DOM_EXC hear of it (Xen sends it to
    // the control domain).
    domains_for_each(
        [](Domain& c, void* dead) {
            if (&c != dead && c.is_control()) evtchn_raise_virq(c, VIRQ_DOM_EXC);
        },
        &d);
    {
        // Slots hold threads not yet destroyed (a thread being destroyed
        // waits for this lock to leave its slot).
        IrqLockGuard guard(d.lock);
        for (Thread* t : d.threads)
            if (t) sched_interrupt(*t);
    }
    domain_put(d);
}

void domain_pause(Domain& d) {
    IrqLockGuard guard(d.lock);
    if (d.dying()) return; // it must be able to leave
    sched_set_paused(d, true);
}

void domain_unpause(Domain& d) {
    IrqLockGuard guard(d.lock);
    sched_set_paused(d, false);
}

namespace {
// Unlinks the domain from the registry (which frees its id) and frees it.
// Its partition is back already, so no count of the id's frames can see a
// new domain that reuses the id.
void unregister_and_free(Domain& d) {
    {
        IrqLockGuard guard(g_registry_lock);
        for (Domain** p = &g_domains; *p; p = &(*p)->all_next)
            if (*p == &d) {
                *p = d.all_next;
                g_domain_count--;
                break;
            }
    }
    d.~Domain();
    (void)heap_free(&d);
}

// Drops up to `budget` of the domain's objects (all its handles, then its
// first address space); true when none is left. The hooks of the layers
// above free their parts first. The partition goes back whole afterwards,
// so the objects skip their per-frame work (tearing_down).
bool free_objects_step(Domain& d, uint64_t budget) {
    if (!d.tearing_down) {
        d.tearing_down = true;
        for (uint32_t i = 0; i < g_hook_count; i++)
            if (g_hooks[i].free) g_hooks[i].free(d);
    }
    // Each reference is dropped outside the table's lock: a last reference
    // destroys its object, which takes locks ranked before the table's.
    for (; budget; budget--) {
        KObject* o;
        {
            IrqLockGuard guard(d.handles_lock);
            o = d.handles.take_any();
        }
        if (!o) break;
        kobject_unref(*o);
    }
    if (!budget) return false;
    if (d.thread_count) log_error("d%u: %u threads left after teardown", d.id, d.thread_count);
    if (d.aspace0) kobject_unref(d.aspace0->kobj);
    d.aspace0 = nullptr;
    if (d.aspaces || d.regions) log_error("d%u: objects left after teardown", d.id);
    return true;
}

void free_objects(Domain& d) { (void)free_objects_step(d, ~uint64_t{0}); }

// Domains whose last reference is gone, oldest first (under the registry
// lock). A domain being stepped is off the list, so one CPU works on it
// at a time.
Domain* g_teardown_head;
Domain** g_teardown_tail = &g_teardown_head;

// The teardown's parts, in order, and each step's bound. A step of each
// kind took well under 100 us of emulated time (make bench, "in emulated
// instructions").
enum TeardownPhase : uint8_t { kFreeObjects, kReleasePartition, kCensus, kFinished };
constexpr uint64_t kObjectsPerStep = 32;
constexpr uint64_t kFramesPerStep = 512;
constexpr uint64_t kCensusPerStep = 16384; // frame-table entries looked at

void queue_teardown_locked(Domain& d) {
    d.teardown_next = nullptr;
    *g_teardown_tail = &d;
    g_teardown_tail = &d.teardown_next;
}

Domain* take_teardown_locked() {
    Domain* d = g_teardown_head;
    if (!d) return nullptr;
    g_teardown_head = d->teardown_next;
    if (!g_teardown_head) g_teardown_tail = &g_teardown_head;
    return d;
}

// Boot domains to build again (Domain::rebuild_when_gone), oldest first,
// under the registry lock; each still counts in g_unfinished.
void (*g_rebuilder)(const BootDomain& bd) = nullptr;
constexpr uint32_t kMaxRebuilds = 64;
const BootDomain* g_rebuilds[kMaxRebuilds];
uint32_t g_rebuild_count;

// The end of a teardown: the report, then the domain is freed (and queued
// to be built again if it asked for that).
void finish_teardown(Domain& d) {
    const domid_t id = d.id;
    const uint64_t frames = d.partition_frames, left = d.teardown_left;
    const BootDomain* again = d.rebuild_when_gone && g_rebuilder ? d.boot_spec : nullptr;
    unregister_and_free(d);
    log_info("d%u: %lu frames returned, %lu still owned; free frames now %lu", id, frames, left,
             memory_free_frames());
    if (again) {
        IrqLockGuard guard(g_registry_lock);
        if (g_rebuild_count < kMaxRebuilds) {
            g_rebuilds[g_rebuild_count++] = again;
            return;
        }
    }
    if (__atomic_sub_fetch(&g_unfinished, 1, __ATOMIC_ACQ_REL) == 0) sched_all_domains_gone();
}
} // namespace

void domain_destroy_unstarted(Domain& d) {
    for_each_boot_thread(d, [](Thread& t, uint32_t) { kobject_unref(t.kobj); });
    free_objects(d);
    release_partition(d);
    unregister_and_free(d);
}

void domain_put(Domain& d) {
    if (__atomic_sub_fetch(&d.refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    uint64_t cpu_ns = d.account.total_used_ns;
    uint64_t life_ns = system_time_ns() - d.created_ns;
    log_info("d%u '%s' %s (status %ld): ran %lu.%03lu s, cpu %lu.%03lu ms", d.id, d.name,
             d.end_reason ? d.end_reason : "exited", d.exit_status, life_ns / 1000000000,
             (life_ns / 1000000) % 1000, cpu_ns / 1000000, (cpu_ns / 1000) % 1000);
    d.teardown_phase = kFreeObjects;
    d.teardown_cursor = 0;
    IrqLockGuard guard(g_registry_lock);
    queue_teardown_locked(d);
}

void domain_set_rebuilder(void (*rebuild)(const BootDomain& bd)) { g_rebuilder = rebuild; }

bool domain_rebuild_step() {
    // (Every idle loop asks: no lock while nothing waits.)
    if (__atomic_load_n(&g_rebuild_count, __ATOMIC_RELAXED) == 0) return false;
    const BootDomain* bd = nullptr;
    {
        IrqLockGuard guard(g_registry_lock);
        if (g_rebuild_count == 0) return false;
        bd = g_rebuilds[0];
        for (uint32_t i = 1; i < g_rebuild_count; i++) g_rebuilds[i - 1] = g_rebuilds[i];
        g_rebuild_count--;
    }
    g_rebuilder(*bd); // (says on the console whether it started)
    if (__atomic_sub_fetch(&g_unfinished, 1, __ATOMIC_ACQ_REL) == 0) sched_all_domains_gone();
    return true;
}

bool domain_teardown_pending() { return __atomic_load_n(&g_teardown_head, __ATOMIC_RELAXED) != nullptr; }

bool domain_teardown_step() {
    Domain* d;
    {
        IrqLockGuard guard(g_registry_lock);
        d = take_teardown_locked();
    }
    if (!d) return false;
    switch (d->teardown_phase) {
    case kFreeObjects:
        if (free_objects_step(*d, kObjectsPerStep)) d->teardown_phase = kReleasePartition;
        break;
    case kReleasePartition:
        if (release_partition_step(*d, &d->teardown_cursor, kFramesPerStep)) {
            d->teardown_phase = kCensus;
            d->teardown_cursor = 0;
        }
        break;
    case kCensus:
        // Frames still owned once the partition is back are a leak: the
        // count is reported (tests require 0).
        d->teardown_left += frames_owned_in(d->id, d->teardown_cursor, kCensusPerStep);
        d->teardown_cursor += kCensusPerStep;
        if (d->teardown_cursor >= frame_table_size()) d->teardown_phase = kFinished;
        break;
    default:
        break;
    }
    if (d->teardown_phase == kFinished) {
        finish_teardown(*d);
    } else {
        // Back at the tail: several dying domains share the steps.
        IrqLockGuard guard(g_registry_lock);
        queue_teardown_locked(*d);
    }
    return domain_teardown_pending();
}

Result<Domain*> domain_get(domid_t id) {
    IrqLockGuard guard(g_registry_lock);
    Domain* d = find_locked(id);
    if (!d || d->current_state() == DomainState::Building) return Err::NoSuchDomain;
    // A domain whose last reference is gone is on its way out: never revive it.
    uint32_t refs = __atomic_load_n(&d->refs, __ATOMIC_ACQUIRE);
    do {
        if (refs == 0) return Err::NoSuchDomain;
    } while (!__atomic_compare_exchange_n(&d->refs, &refs, refs + 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    return d;
}

void domains_for_each(void (*fn)(Domain& d, void* ctx), void* ctx) {
    Domain* held[kMaxDomains]; // 2 KiB of stack: no lock is held while fn or domain_put runs
    size_t n = 0;
    {
        IrqLockGuard guard(g_registry_lock);
        for (Domain* d = g_domains; d && n < kMaxDomains; d = d->all_next) {
            if (d->current_state() == DomainState::Building) continue;
            uint32_t refs = __atomic_load_n(&d->refs, __ATOMIC_ACQUIRE);
            bool got = false;
            while (refs != 0 && !(got = __atomic_compare_exchange_n(&d->refs, &refs, refs + 1, false,
                                                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))) {
            }
            if (got) held[n++] = d;
        }
    }
    for (size_t i = 0; i < n; i++) fn(*held[i], ctx);
    for (size_t i = 0; i < n; i++) domain_put(*held[i]);
}

void domain_refill_accounts(void (*fn)(sched::ShareAccount* const*, size_t, void*), void* ctx) {
    static sched::ShareAccount* accounts[kMaxDomains];
    IrqLockGuard guard(g_registry_lock);
    size_t n = 0;
    for (Domain* d = g_domains; d && n < kMaxDomains; d = d->all_next)
        if (d->current_state() != DomainState::Building) accounts[n++] = &d->account;
    fn(accounts, n, ctx);
}

size_t domain_count() {
    IrqLockGuard guard(g_registry_lock);
    return g_domain_count;
}

} // namespace virtue
