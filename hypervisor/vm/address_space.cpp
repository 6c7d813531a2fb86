// Address spaces of native domains: map, unmap, protect, accessed/dirty
// bits, with TLB shootdown (invariants in address_space.hpp).
#include <virtue/native_abi.h>

#include "arch/user_entry.hpp"
#include "console/console.hpp"
#include "core/cmdline.hpp"
#include "lib/string.hpp"
#include "sched/scheduler.hpp"
#include "vm/user_memory.hpp"
#include "vm/vm_internal.hpp"

namespace virtue {
namespace {
using namespace vm_detail;

// "tlb-shootdown=off": edits flush only the editing CPU (arch/tlb.hpp).
VIRTUE_BOOLEAN_PARAM("tlb-shootdown", arch::g_tlb_shootdown_remote);

constexpr uint64_t kMaxBitsBytes = uint64_t{4} << 30; // aspace_read_bits: 4 GiB per call

AddressSpace& as_of(KObject* o) { return kobject_cast<AddressSpace>(o); }

Status check_user_range(uint64_t va, uint64_t size) {
    if (size == 0 || ((va | size) & PAGE_MASK)) return Err::InvalidArgument;
    if (va >= arch::USER_LIMIT || size > arch::USER_LIMIT - va) return Err::Fault;
    return Status::success();
}

// VIRTUE_PROT_* / CACHE_* (and MAP_SMALL_PAGES when `for_map`) to leaf bits.
Result<uint64_t> leaf_bits(uint64_t prot, bool for_map) {
    uint64_t known = VIRTUE_PROT_READ | VIRTUE_PROT_WRITE | VIRTUE_PROT_EXEC | VIRTUE_CACHE_WRITE_THROUGH |
                     VIRTUE_CACHE_DISABLED | (for_map ? VIRTUE_MAP_SMALL_PAGES : 0);
    if ((prot & ~known) || !(prot & VIRTUE_PROT_READ)) return Err::InvalidArgument;
    uint64_t f = pte::US;
    if (prot & VIRTUE_PROT_WRITE) f |= pte::RW;
    if (!(prot & VIRTUE_PROT_EXEC) && arch::paging_features().nx) f |= pte::NX;
    if (prot & VIRTUE_CACHE_WRITE_THROUGH) f |= pte::PWT;
    if (prot & VIRTUE_CACHE_DISABLED) f |= pte::PCD;
    return f;
}

// Unmap callback: one mapping fewer of each frame; orphans whose last
// mapping went are freed after the shootdown.
struct DropCtx {
    Domain* domain;
    Deferred* deferred;
};
void drop_refs(void* ctx, PhysAddr pa, uint64_t bytes, PteFlags flags) {
    auto* c = static_cast<DropCtx*>(ctx);
    if (flags.raw() & pte::SW2) return; // a grant mapping: the grant counts it
    if (uncached(flags.raw())) flush_frames(pa, bytes);
    for (uint64_t off = 0; off < bytes; off += PAGE_SIZE) {
        poll_long_loop(off >> PAGE_SHIFT);
        Mfn m = (pa + off).mfn();
        FrameInfo& f = frame_info(m);
        if (f.owner != c->domain->id || f.type != PageType::Memory || f.ref_count == 0) {
            log_error("d%u: unmapped frame 0x%lx has owner %u type %u count %u", c->domain->id, m.raw(), f.owner,
                      static_cast<unsigned>(f.type), f.ref_count);
            continue;
        }
        if (--f.ref_count == 0 && f.type_count == 0 && (f.flags & FRAME_ORPHAN)) {
            f.flags &= static_cast<uint8_t>(~FRAME_ORPHAN);
            f.type = PageType::None;
            c->deferred->push(m);
        }
    }
}

void shootdown(AddressSpace& as, TlbFlush flush, uint64_t va, uint64_t size) {
    if (flush.needed) arch::tlb_shootdown(as.active_cpus, as.root.raw(), va, size);
}

// Runs fn(editor, deferred) under the domain's mm_lock, then gives back what
// it deferred (fn has done its shootdown by then).
template <typename Fn> Status edit(AddressSpace& as, Fn fn) {
    // A guest's own tables hold entries the PV MMU counted and checked; an
    // entry written here would be neither (a grant map into a PV guest's
    // address space waits for the PV MMU's host maps).
    if (as.guest_tables) return Err::NotSupported;
    Domain& d = *as.domain;
    Deferred deferred;
    Status result = Status::success();
    {
        MmLock lock(d);
        TablePolicy policy{&d, &deferred};
        Editor editor(policy, as.root);
        result = fn(editor, deferred);
    }
    deferred.release(d);
    return result;
}

// ---- Page-range calls in steps ------------------------------------------
// A call over a long range works in steps, each under one mm_lock hold:
// calls whose work is per frame (map, unmap) take one 2 MiB window of the
// range (512 frames) or one larger leaf; calls whose work is per leaf
// (protect, read_bits) take up to 512 leaves (leaf_window).
// Between steps, with no lock held, it lets pending interrupts in and stops
// if the CPU has other work (hypercall_preempt_check); it then keeps its
// progress in the thread (phase, position, running count, error) and
// returns Err::Restart, so the caller's registers stay as it left them.
// Checks that decide the whole call (nothing mapped, every page mapped,
// rights, grant mappings) run over the whole range in a first phase that
// changes nothing, and the leaves cut by the range's two ends are split
// before the first change, so that the changing phase cannot fail for the
// range's sake. Another thread of the same domain editing the same range
// meanwhile can still make a later step fail after earlier ones took
// effect; docs/native-abi.md ("Long calls") says what each call then leaves.
constexpr uint64_t kWindow = uint64_t{1} << 21; // 2 MiB

struct Step {
    uint64_t lo, hi;
};

// Where a call is: restored from a preempted run of the same call.
struct RangeProgress {
    uint64_t phase = 0;
    uint64_t cur;
    uint64_t count = 0; // a running result (aspace_read_bits: pages set)
    uint64_t error = 0; // aspace_map's rollback: why it is undoing
    explicit RangeProgress(uint64_t va) : cur(va) {
        uint64_t v[CallProgress::kValues];
        if (hypercall_take_progress(v)) phase = v[0], cur = v[1], count = v[2], error = v[3];
    }
    Err preempted() const {
        hypercall_save_progress({phase, cur, count, error});
        return Err::Restart;
    }
    void next_phase(uint64_t start) {
        phase++;
        cur = start;
    }
};

// The window of the step starting at `cur` (< end): the 2 MiB window, or
// the whole leaf when a larger one covers cur.
Step window_at(Editor& editor, uint64_t cur, uint64_t end) {
    uint64_t hi = (cur & ~(kWindow - 1)) + kWindow;
    if (auto t = editor.lookup(cur); t && t->page_size > kWindow) hi = (cur & ~(t->page_size - 1)) + t->page_size;
    return Step{cur, hi < end ? hi : end};
}

// The next step that holds a mapping, skipping unmapped stretches
// (Err::NotFound: the rest of the range maps nothing).
Result<Step> next_mapped_step(Editor& editor, uint64_t cur, uint64_t end) {
    auto leaf = editor.first_leaf(cur, end - cur);
    if (!leaf) return leaf.error();
    const uint64_t start = *leaf > cur ? (*leaf & ~(kWindow - 1)) : cur;
    return window_at(editor, start > cur ? start : cur, end);
}

// Runs fn(editor, deferred, step) for the steps of [p.cur, end) that
// `pick` chooses, each in its own mm_lock hold; returns Err::Restart
// (progress saved) when preempted between two steps.
template <typename Pick, typename Fn>
Status for_each_step(AddressSpace& as, RangeProgress& p, uint64_t end, Pick pick, Fn fn) {
    for (bool first = true; p.cur < end; first = false) {
        if (!first && hypercall_preempt_check()) return p.preempted();
        Status done = edit(as, [&](Editor& editor, Deferred& deferred) -> Status {
            Result<Step> step = pick(editor, p.cur, end);
            if (!step) {
                if (step.error() != Err::NotFound) return step.error();
                p.cur = end;
                return Status::success();
            }
            Status s = fn(editor, deferred, *step);
            if (s) p.cur = step->hi;
            return s;
        });
        if (!done) return done;
    }
    return Status::success();
}

Result<Step> every_window(Editor& editor, uint64_t cur, uint64_t end) { return window_at(editor, cur, end); }

// For calls whose work is per leaf, not per frame (protect, read_bits): a
// step of at most 512 leaves. Where cur's 2 MiB window holds 4 KiB leaves,
// that window (as window_at); where it holds a 2 MiB leaf or nothing, the
// following windows of 2 MiB leaves or nothing too, up to 512 of them
// (1 GiB), so that 2 MiB pages are not taken one per step. A larger leaf is
// a step of its own (window_at). Each window costs one lookup.
constexpr uint64_t kStepLeaves = 512;
Result<Step> leaf_window(Editor& editor, uint64_t cur, uint64_t end) {
    // What the 2 MiB window at w holds: nothing, one 2 MiB leaf, or other.
    enum class Holds { Nothing, Large, Other };
    auto holds = [&](uint64_t w) {
        auto first = editor.first_leaf(w, kWindow);
        if (!first) return Holds::Nothing;
        auto t = editor.lookup(*first > w ? *first : w);
        return t && t->page_size == kWindow ? Holds::Large : Holds::Other;
    };
    const uint64_t w0 = cur & ~(kWindow - 1);
    if (holds(w0) == Holds::Other) return window_at(editor, cur, end);
    uint64_t hi = w0 + kWindow;
    for (uint64_t n = 1; n < kStepLeaves && hi < end && holds(hi) != Holds::Other; n++) hi += kWindow;
    return Step{cur, hi < end ? hi : end};
}

// A range inside one 2 MiB window is one step: the whole call runs in one
// mm_lock hold, as atomic as the editor's own calls.
bool one_window(uint64_t va, uint64_t end) { return (va & ~(kWindow - 1)) == ((end - 1) & ~(kWindow - 1)); }

// Splits the leaves the range's two ends cut (translations unchanged).
Status split_ends(AddressSpace& as, uint64_t va, uint64_t end) {
    return edit(as, [&](Editor& editor, Deferred&) -> Status {
        auto a = editor.split_at(va);
        if (!a) return a.error();
        TlbFlush flush = *a;
        if (end < arch::USER_LIMIT) {
            auto b = editor.split_at(end);
            if (!b) return b.error();
            flush.needed |= b->needed;
        }
        shootdown(as, flush, va, end - va);
        return Status::success();
    });
}

// Sets bits [first, first + count) of a user bitmap, keeping the others
// (a byte at either end may hold bits of a neighbouring step).
Status set_user_bits(uint64_t bitmap, uint64_t first, uint64_t count) {
    uint8_t buf[64];
    while (count) {
        const uint64_t shift = first % 8;
        const uint64_t here = count < sizeof buf * 8 - shift ? count : sizeof buf * 8 - shift;
        const uint64_t bytes = (shift + here + 7) / 8;
        TRY(copy_from_user(buf, bitmap + first / 8, bytes));
        for (uint64_t b = shift; b < shift + here; b++) buf[b / 8] |= static_cast<uint8_t>(1u << (b % 8));
        TRY(copy_to_user(bitmap + first / 8, buf, bytes));
        first += here;
        count -= here;
    }
    return Status::success();
}

void unlink(Domain& d, AddressSpace& as) {
    for (AddressSpace** p = &d.aspaces; *p; p = &(*p)->next)
        if (*p == &as) {
            *p = as.next;
            return;
        }
}

void aspace_free(AddressSpace& as) {
    as.~AddressSpace();
    (void)heap_free(&as);
}

// Unmaps one step of [from, USER_LIMIT) of a released address space (every
// leaf is whole, so nothing splits and this cannot fail); once nothing is
// left, its tables go and it leaves the domain. True when it is gone.
bool release_some(Domain& d, AddressSpace& as, bool all) {
    Deferred deferred;
    bool gone = false;
    {
        MmLock lock(d);
        TablePolicy policy{&d, &deferred};
        Editor editor(policy, as.root);
        DropCtx ctx{&d, &deferred};
        auto step = next_mapped_step(editor, as.release_from, arch::USER_LIMIT);
        if (all || !step) {
            (void)editor.unmap(as.release_from, arch::USER_LIMIT - as.release_from, drop_refs, &ctx);
            editor.release_tables();
            deferred.push(as.root.mfn());
            unlink(d, as);
            d.aspace_count--;
            gone = true;
        } else {
            (void)editor.unmap(step->lo, step->hi - step->lo, drop_refs, &ctx);
            as.release_from = step->hi;
        }
    }
    deferred.release(d);
    if (gone) aspace_free(as);
    return gone;
}

// Last reference gone: no thread runs in it, so no CPU has it loaded (its
// translations need no shootdown).
void aspace_destroy(KObject* o) {
    AddressSpace& as = as_of(o);
    Domain& d = *as.domain;
    fault_handlers_forget(d, as.kobj);
    __atomic_fetch_sub(&d.overhead_bytes, heap_footprint(sizeof(AddressSpace)), __ATOMIC_RELAXED);
    if (d.tearing_down) {
        unlink(d, as);
        d.aspace_count--;
        aspace_free(as);
    } else if (Thread* t = releasing_thread(d)) {
        as.release_next = t->releasing_aspaces; // in steps (vm_release_step)
        t->releasing_aspaces = &as;
    } else {
        (void)release_some(d, as, true);
    }
}

} // namespace

bool vm_detail::aspace_release_step(Domain& d, AddressSpace& as) { return release_some(d, as, false); }

bool vm_release_pending(const Thread& t) { return t.releasing_regions || t.releasing_aspaces; }

void vm_release_step(Thread& t) {
    Domain& d = *t.domain;
    // (Either order is right: a frame whose region went first is an orphan
    // its last unmap frees; one unmapped first goes with its region.)
    if (AddressSpace* as = t.releasing_aspaces) {
        AddressSpace* next = as->release_next;
        if (aspace_release_step(d, *as)) t.releasing_aspaces = next;
    } else if (MemRegion* r = t.releasing_regions) {
        MemRegion* next = r->release_next;
        if (region_release_step(d, *r)) t.releasing_regions = next;
    }
}

void vm_release_all(Thread& t) {
    while (vm_release_pending(t)) vm_release_step(t);
}

Result<AddressSpace*> aspace_create(Domain& d) {
    {
        MmLock lock(d);
        if (d.aspace_count >= kMaxAddressSpaces) return Err::NoSpace;
        d.aspace_count++; // reserved; undone on failure
    }
    auto undo = [&d](Err e) -> Result<AddressSpace*> {
        MmLock lock(d);
        d.aspace_count--;
        return e;
    };
    auto mem = heap_alloc(sizeof(AddressSpace));
    if (!mem) return undo(mem.error());
    auto root = domain_alloc_frame(d);
    if (!root) {
        (void)heap_free(*mem);
        return undo(root.error());
    }
    auto* as = new (*mem) AddressSpace();
    as->kobj = KObject{ObjType::AddressSpace, 1, &aspace_destroy};
    as->domain = &d;
    as->root = to_phys(*root);
    // The hypervisor's slots 256-271 are shared by every address space.
    const uint64_t* kernel = arch::phys_ptr<uint64_t>(arch::kernel_root());
    uint64_t* mine = arch::phys_ptr<uint64_t>(as->root);
    for (unsigned i = 256; i < 272; i++) mine[i] = kernel[i];
    MmLock lock(d);
    as->next = d.aspaces;
    d.aspaces = as;
    __atomic_fetch_add(&d.overhead_bytes, heap_footprint(sizeof(AddressSpace)), __ATOMIC_RELAXED);
    return as;
}

namespace {
void guest_aspace_destroy(KObject* o) {
    AddressSpace& as = as_of(o);
    __atomic_fetch_sub(&as.domain->overhead_bytes, heap_footprint(sizeof(AddressSpace)), __ATOMIC_RELAXED);
    aspace_free(as);
}
} // namespace

Result<AddressSpace*> aspace_create_guest(Domain& d, PhysAddr root) {
    auto mem = heap_alloc(sizeof(AddressSpace));
    if (!mem) return mem.error();
    auto* as = new (*mem) AddressSpace();
    as->kobj = KObject{ObjType::AddressSpace, 1, &guest_aspace_destroy};
    as->domain = &d;
    as->root = root;
    as->guest_tables = true;
    __atomic_fetch_add(&d.overhead_bytes, heap_footprint(sizeof(AddressSpace)), __ATOMIC_RELAXED);
    return as;
}

Status aspace_map(AddressSpace& as, MemRegion& r, const MapRequest& req) {
    TRY(check_user_range(req.va, req.size));
    if (req.offset & PAGE_MASK) return Err::InvalidArgument;
    auto bits = leaf_bits(req.prot, true);
    if (!bits) return bits.error();
    uint32_t needed = VIRTUE_RIGHT_MAP | VIRTUE_RIGHT_READ;
    if (req.prot & VIRTUE_PROT_WRITE) needed |= VIRTUE_RIGHT_WRITE;
    if (req.prot & VIRTUE_PROT_EXEC) needed |= VIRTUE_RIGHT_EXECUTE;
    if ((req.region_rights & needed) != needed) return Err::Permission;
    const uint64_t first = req.offset >> PAGE_SHIFT, pages = req.size >> PAGE_SHIFT;
    if (first > r.pages || pages > r.pages - first) return Err::Range;
    // What aspace_protect may grant later.
    uint64_t flags = *bits | ((req.region_rights & VIRTUE_RIGHT_WRITE) ? pte::SW0 : 0) |
                     ((req.region_rights & VIRTUE_RIGHT_EXECUTE) ? pte::SW1 : 0);
    // Leaves of at most 2 MiB: a step maps one 2 MiB window, so that no
    // step counts more than 512 frames (a 1 GiB leaf would count 262144).
    const MapOptions opt{!(req.prot & VIRTUE_MAP_SMALL_PAGES)};
    const uint64_t end = req.va + req.size;
    auto frame_at = [&](uint64_t va) { return region_frame(r, first + ((va - req.va) >> PAGE_SHIFT)); };

    enum : uint64_t { kCheck, kMap, kUndo };
    RangeProgress p(req.va);
    if (p.phase == kCheck && one_window(req.va, end)) p.phase = kMap; // the step checks its window itself
    if (p.phase == kCheck) {
        TRY(edit(as, [&](Editor& editor, Deferred&) -> Status {
            return editor.first_leaf(req.va, req.size) ? Status(Err::Exists) : Status::success();
        }));
        p.next_phase(req.va);
    }
    if (p.phase == kMap) {
        Status mapped = for_each_step(as, p, end, every_window, [&](Editor& editor, Deferred&, Step s) -> Status {
            const uint64_t n = (s.hi - s.lo) >> PAGE_SHIFT;
            // Mapped by another thread since the check: this call undoes its part.
            if (editor.first_leaf(s.lo, s.hi - s.lo)) return Err::Exists;
            // A frame's mapping count is 32 bits: refuse long before it
            // could wrap (a huge partition could otherwise map one frame
            // 2^32 times).
            constexpr uint32_t kMaxFrameMappings = 1u << 30;
            for (uint64_t i = 0; i < n; i++)
                if (frame_info(frame_at(s.lo + (i << PAGE_SHIFT))).ref_count >= kMaxFrameMappings) return Err::NoMemory;
            // One editor call per physically contiguous run.
            TlbFlush flush;
            uint64_t done = 0;
            while (done < n) {
                uint64_t run = 1;
                const Mfn start = frame_at(s.lo + (done << PAGE_SHIFT));
                while (done + run < n && frame_at(s.lo + ((done + run) << PAGE_SHIFT)) == start + run) run++;
                if (uncached(flags)) flush_frames(to_phys(start), run << PAGE_SHIFT);
                auto m = editor.map(s.lo + (done << PAGE_SHIFT), to_phys(start), run << PAGE_SHIFT, PteFlags(flags),
                                    opt);
                if (!m) {
                    // Take back this step's part (whole leaves: cannot fail).
                    if (done) (void)editor.unmap(s.lo, done << PAGE_SHIFT);
                    shootdown(as, TlbFlush{true, false}, s.lo, s.hi - s.lo);
                    return m.error();
                }
                flush.needed |= m->needed;
                done += run;
            }
            for (uint64_t i = 0; i < n; i++) frame_info(frame_at(s.lo + (i << PAGE_SHIFT))).ref_count++;
            shootdown(as, flush, s.lo, s.hi - s.lo);
            return Status::success();
        });
        if (mapped || mapped.error() == Err::Restart) return mapped;
        // A step failed: undo the steps before it (all or nothing).
        p.error = static_cast<uint64_t>(mapped.error());
        const uint64_t undo_end = p.cur;
        p.next_phase(req.va);
        p.count = undo_end; // where the undo stops
    }
    // kUndo: what this call mapped, [req.va, p.count), goes again.
    const uint64_t undo_end = p.count;
    TRY(for_each_step(as, p, undo_end, next_mapped_step, [&](Editor& editor, Deferred& deferred, Step s) -> Status {
        DropCtx ctx{as.domain, &deferred};
        auto u = editor.unmap(s.lo, s.hi - s.lo, drop_refs, &ctx, pte::SW2);
        if (u) shootdown(as, *u, s.lo, s.hi - s.lo);
        return Status::success();
    }));
    return static_cast<Err>(p.error);
}

Status aspace_unmap(AddressSpace& as, uint64_t va, uint64_t size) {
    TRY(check_user_range(va, size));
    const uint64_t end = va + size;
    if (one_window(va, end)) {
        return edit(as, [&](Editor& editor, Deferred& deferred) -> Status {
            DropCtx ctx{as.domain, &deferred};
            // A grant mapping (SW2) goes with its handle, never by aspace_unmap.
            auto r = editor.unmap(va, size, drop_refs, &ctx, pte::SW2);
            if (!r) return r.error();
            shootdown(as, *r, va, size);
            return Status::success();
        });
    }
    enum : uint64_t { kCheck, kUnmap };
    RangeProgress p(va);
    if (p.phase == kCheck) {
        // A grant mapping (SW2) goes with its handle, never by aspace_unmap.
        TRY(for_each_step(as, p, end, next_mapped_step, [&](Editor& editor, Deferred&, Step s) -> Status {
            bool grant = false;
            (void)editor.visit_leaves(s.lo, s.hi - s.lo, [&](uint64_t, uint64_t* e, unsigned) {
                if (*e & pte::SW2) grant = true;
            });
            return grant ? Status(Err::Busy) : Status::success();
        }));
        TRY(split_ends(as, va, end));
        p.next_phase(va);
    }
    return for_each_step(as, p, end, next_mapped_step, [&](Editor& editor, Deferred& deferred, Step s) -> Status {
        DropCtx ctx{as.domain, &deferred};
        auto r = editor.unmap(s.lo, s.hi - s.lo, drop_refs, &ctx, pte::SW2);
        if (!r) return r.error();
        shootdown(as, *r, s.lo, s.hi - s.lo);
        return Status::success();
    });
}

Status aspace_protect(AddressSpace& as, uint64_t va, uint64_t size, uint64_t prot) {
    TRY(check_user_range(va, size));
    auto bits = leaf_bits(prot, false);
    if (!bits) return bits.error();
    const uint64_t end = va + size;
    auto check = [&](Editor& editor, Deferred&, Step s) -> Status {
        uint64_t covered = 0;
        bool allowed = true;
        (void)editor.visit_leaves(s.lo, s.hi - s.lo, [&](uint64_t leaf, uint64_t* e, unsigned level) {
            const uint64_t lo = leaf > s.lo ? leaf : s.lo;
            const uint64_t leaf_end = leaf + level_span(level);
            covered += (leaf_end < s.hi ? leaf_end : s.hi) - lo;
            if ((prot & VIRTUE_PROT_WRITE) && !(*e & pte::SW0)) allowed = false;
            if ((prot & VIRTUE_PROT_EXEC) && !(*e & pte::SW1)) allowed = false;
        });
        if (covered != s.hi - s.lo) return Err::NotFound;
        return allowed ? Status::success() : Status(Err::Permission);
    };
    auto apply = [&](Editor& editor, Deferred&, Step s) -> Status {
        auto r = editor.protect(s.lo, s.hi - s.lo, PteFlags(*bits));
        if (!r) return r.error();
        shootdown(as, *r, s.lo, s.hi - s.lo);
        return Status::success();
    };
    if (one_window(va, end)) {
        return edit(as, [&](Editor& editor, Deferred& deferred) -> Status {
            TRY(check(editor, deferred, Step{va, end}));
            return apply(editor, deferred, Step{va, end});
        });
    }
    enum : uint64_t { kCheck, kProtect };
    RangeProgress p(va);
    if (p.phase == kCheck) {
        TRY(for_each_step(as, p, end, leaf_window, check));
        TRY(split_ends(as, va, end));
        p.next_phase(va);
    }
    return for_each_step(as, p, end, leaf_window, apply);
}

Result<uint64_t> aspace_read_bits(AddressSpace& as, uint64_t va, uint64_t size, uint64_t flags,
                                  uint64_t user_bitmap) {
    const uint64_t which = flags & (VIRTUE_BITS_ACCESSED | VIRTUE_BITS_DIRTY);
    if ((flags & ~(which | VIRTUE_BITS_CLEAR)) || (which != VIRTUE_BITS_ACCESSED && which != VIRTUE_BITS_DIRTY))
        return Err::InvalidArgument;
    TRY(check_user_range(va, size));
    if (size > kMaxBitsBytes) return Err::InvalidArgument;
    const uint64_t bit = which == VIRTUE_BITS_ACCESSED ? pte::A : pte::D;
    const bool clear = flags & VIRTUE_BITS_CLEAR;
    const uint64_t pages = size >> PAGE_SHIFT;
    const uint64_t bitmap_bytes = (pages + 7) / 8;
    const uint64_t end = va + size;

    enum : uint64_t { kCheck, kZero, kRead };
    RangeProgress p(va);
    if (p.phase == kCheck) {
        TRY(edit(as, [&](Editor& editor, Deferred&) -> Status {
            if (!user_range_ok(user_bitmap, bitmap_bytes, UserAccess::Write)) return Err::Fault;
            // Clearing needs whole leaves: only the leaves at the two ends
            // can be cut.
            if (clear) {
                auto a = editor.lookup(va);
                if (a && (a->pa.raw() & (a->page_size - 1)) != 0) return Err::InvalidArgument;
                auto b = editor.lookup(end - PAGE_SIZE);
                if (b && ((b->pa.raw() + PAGE_SIZE) & (b->page_size - 1)) != 0) return Err::InvalidArgument;
            }
            return Status::success();
        }));
        p.next_phase(0);
    }
    if (p.phase == kZero) {
        // The bitmap starts all zero (unmapped stretches are skipped below);
        // 4 KiB of it per step (byte offsets in p.cur).
        static const uint8_t zeroes[PAGE_SIZE] = {};
        for (bool first = true; p.cur < bitmap_bytes; first = false) {
            if (!first && hypercall_preempt_check()) return p.preempted();
            const uint64_t n = bitmap_bytes - p.cur < PAGE_SIZE ? bitmap_bytes - p.cur : PAGE_SIZE;
            TRY(copy_to_user(user_bitmap + p.cur, zeroes, n));
            p.cur += n;
        }
        p.next_phase(va);
    }
    TRY(for_each_step(as, p, end, leaf_window, [&](Editor& editor, Deferred&, Step s) -> Status {
        // Validated under the lock: no thread can unmap the bitmap meanwhile.
        if (!user_range_ok(user_bitmap, bitmap_bytes, UserAccess::Write)) return Err::Fault;
        bool cleared = false;
        Status copied = Status::success();
        // Adjacent set pages are written as one run.
        uint64_t run_first = 0, run_pages = 0;
        auto flush_run = [&] {
            if (run_pages && copied) copied = set_user_bits(user_bitmap, run_first, run_pages);
            run_pages = 0;
        };
        (void)editor.visit_leaves(s.lo, s.hi - s.lo, [&](uint64_t leaf, uint64_t* e, unsigned level) {
            if (!(*e & bit)) return;
            const uint64_t lo = leaf > s.lo ? leaf : s.lo;
            const uint64_t leaf_end = leaf + level_span(level);
            const uint64_t hi = leaf_end < s.hi ? leaf_end : s.hi;
            const uint64_t page = (lo - va) >> PAGE_SHIFT, n = (hi - lo) >> PAGE_SHIFT;
            if (run_pages && run_first + run_pages != page) flush_run();
            if (!run_pages) run_first = page;
            run_pages += n;
            p.count += n;
            if (clear) {
                __atomic_and_fetch(e, ~bit, __ATOMIC_RELAXED); // the MMU sets bits concurrently
                cleared = true;
            }
        });
        flush_run();
        // Cleared bits must never stay behind cached entries, even on failure.
        if (cleared) shootdown(as, TlbFlush{true, false}, s.lo, s.hi - s.lo);
        return copied;
    }));
    return p.count;
}

Status aspace_map_foreign(AddressSpace& as, uint64_t va, Mfn frame, bool writable) {
    TRY(check_user_range(va, PAGE_SIZE));
    uint64_t flags = pte::US | pte::SW2 | (writable ? pte::RW | pte::SW0 : 0);
    if (arch::paging_features().nx) flags |= pte::NX;
    return edit(as, [&](Editor& editor, Deferred&) -> Status {
        bool busy = false;
        (void)editor.visit_leaves(va, PAGE_SIZE, [&](uint64_t, uint64_t*, unsigned) { busy = true; });
        if (busy) return Err::Exists;
        auto r = editor.map(va, to_phys(frame), PAGE_SIZE, PteFlags(flags), MapOptions{false});
        if (!r) return r.error();
        shootdown(as, *r, va, PAGE_SIZE);
        return Status::success();
    });
}

void aspace_unmap_foreign(AddressSpace& as, uint64_t va) {
    if (as.domain->tearing_down) return; // its tables go whole
    (void)edit(as, [&](Editor& editor, Deferred&) -> Status {
        // A whole 4 KiB leaf: nothing splits, so this cannot fail.
        auto r = editor.unmap(va, PAGE_SIZE);
        if (r) shootdown(as, *r, va, PAGE_SIZE);
        return Status::success();
    });
}

Status aspace_map_boot_frame(AddressSpace& as, uint64_t va, Mfn m, uint64_t prot) {
    auto bits = leaf_bits(prot, false);
    if (!bits) return bits.error();
    return edit(as, [&](Editor& editor, Deferred&) -> Status {
        auto r = editor.map(va, to_phys(m), PAGE_SIZE, PteFlags(*bits | pte::SW0 | pte::SW1), MapOptions{false});
        if (!r) return r.error();
        FrameInfo& f = frame_info(m);
        f.type = PageType::Memory;
        f.flags |= FRAME_ORPHAN;
        f.ref_count = 1;
        return Status::success();
    });
}

Status aspace_map_held_frame(AddressSpace& as, uint64_t va, Mfn m, uint64_t prot) {
    auto bits = leaf_bits(prot, false);
    if (!bits) return bits.error();
    const uint64_t may = (prot & VIRTUE_PROT_WRITE) ? pte::SW0 : 0; // never more than asked
    return edit(as, [&](Editor& editor, Deferred&) -> Status {
        auto r = editor.map(va, to_phys(m), PAGE_SIZE, PteFlags(*bits | may), MapOptions{false});
        if (!r) return r.error();
        // In the same mm_lock hold as the map: the domain cannot unmap
        // (and so free) the frame before it is held.
        FrameInfo& f = frame_info(m);
        f.type = PageType::Memory;
        f.flags |= FRAME_ORPHAN;
        f.ref_count = 1;
        f.type_count = 1;
        return Status::success();
    });
}

} // namespace virtue
