// Address spaces of native domains: map, unmap, protect, accessed/dirty
// bits, with TLB shootdown (invariants in address_space.hpp).
#include <virtue/native_abi.h>

#include "arch/user_entry.hpp"
#include "console/console.hpp"
#include "core/cmdline.hpp"
#include "lib/string.hpp"
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

void unlink(Domain& d, AddressSpace& as) {
    for (AddressSpace** p = &d.aspaces; *p; p = &(*p)->next)
        if (*p == &as) {
            *p = as.next;
            return;
        }
}

// Last reference gone: no thread runs in it, so no CPU has it loaded.
void aspace_destroy(KObject* o) {
    AddressSpace& as = as_of(o);
    Domain& d = *as.domain;
    fault_handlers_forget(d, as.kobj);
    __atomic_fetch_sub(&d.overhead_bytes, heap_footprint(sizeof(AddressSpace)), __ATOMIC_RELAXED);
    if (d.tearing_down) {
        unlink(d, as);
        d.aspace_count--;
    } else {
        Deferred deferred;
        {
            MmLock lock(d);
            TablePolicy policy{&d, &deferred};
            Editor editor(policy, as.root);
            DropCtx ctx{&d, &deferred};
            // The whole half at once: every leaf is whole, so nothing splits
            // and this cannot fail.
            (void)editor.unmap(0, arch::USER_LIMIT, drop_refs, &ctx);
            editor.release_tables();
            deferred.push(as.root.mfn());
            unlink(d, as);
            d.aspace_count--;
        }
        deferred.release(d);
    }
    as.~AddressSpace();
    (void)heap_free(&as);
}

} // namespace

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
    const MapOptions opt{!(req.prot & VIRTUE_MAP_SMALL_PAGES)};

    return edit(as, [&](Editor& editor, Deferred&) -> Status {
        bool busy = false;
        (void)editor.visit_leaves(req.va, req.size, [&](uint64_t, uint64_t*, unsigned) { busy = true; });
        if (busy) return Err::Exists;
        // A frame's mapping count is 32 bits: refuse long before it could
        // wrap (a huge partition could otherwise map one frame 2^32 times).
        constexpr uint32_t kMaxFrameMappings = 1u << 30;
        for (uint64_t i = 0; i < pages; i++) {
            poll_long_loop(i);
            if (frame_info(region_frame(r, first + i)).ref_count >= kMaxFrameMappings) return Err::NoMemory;
        }
        // One editor call per physically contiguous run of the region.
        Status result = Status::success();
        TlbFlush flush;
        uint64_t done = 0;
        while (done < pages && result) {
            uint64_t run = 1;
            const Mfn start = region_frame(r, first + done);
            while (done + run < pages && region_frame(r, first + done + run) == start + run) run++;
            if (uncached(flags)) flush_frames(to_phys(start), run << PAGE_SHIFT);
            auto m = editor.map(req.va + (done << PAGE_SHIFT), to_phys(start), run << PAGE_SHIFT,
                                PteFlags(flags), opt);
            if (m) {
                flush.needed |= m->needed;
                done += run;
            } else {
                result = m.error();
            }
        }
        if (!result) {
            // Take back what this call mapped (whole leaves: cannot fail).
            if (done) {
                auto u = editor.unmap(req.va, done << PAGE_SHIFT);
                if (u) flush.needed |= u->needed;
            }
        } else {
            for (uint64_t i = 0; i < pages; i++) {
                poll_long_loop(i);
                frame_info(region_frame(r, first + i)).ref_count++;
            }
        }
        shootdown(as, flush, req.va, req.size);
        return result;
    });
}

Status aspace_unmap(AddressSpace& as, uint64_t va, uint64_t size) {
    TRY(check_user_range(va, size));
    return edit(as, [&](Editor& editor, Deferred& deferred) -> Status {
        DropCtx ctx{as.domain, &deferred};
        // A grant mapping (SW2) goes with its handle, never by aspace_unmap.
        auto r = editor.unmap(va, size, drop_refs, &ctx, pte::SW2);
        if (!r) return r.error();
        shootdown(as, *r, va, size);
        return Status::success();
    });
}

Status aspace_protect(AddressSpace& as, uint64_t va, uint64_t size, uint64_t prot) {
    TRY(check_user_range(va, size));
    auto bits = leaf_bits(prot, false);
    if (!bits) return bits.error();
    return edit(as, [&](Editor& editor, Deferred&) -> Status {
        bool allowed = true;
        (void)editor.visit_leaves(va, size, [&](uint64_t, uint64_t* e, unsigned) {
            if ((prot & VIRTUE_PROT_WRITE) && !(*e & pte::SW0)) allowed = false;
            if ((prot & VIRTUE_PROT_EXEC) && !(*e & pte::SW1)) allowed = false;
        });
        if (!allowed) return Err::Permission;
        auto r = editor.protect(va, size, PteFlags(*bits));
        if (!r) return r.error();
        shootdown(as, *r, va, size);
        return Status::success();
    });
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
    const uint64_t end = va + size;

    uint64_t set = 0;
    Status result = edit(as, [&](Editor& editor, Deferred&) -> Status {
        // Validated under the lock: no thread can unmap the bitmap meanwhile.
        if (!user_range_ok(user_bitmap, (pages + 7) / 8, UserAccess::Write)) return Err::Fault;
        if (clear) {
            bool cuts = false;
            (void)editor.visit_leaves(va, size, [&](uint64_t leaf, uint64_t*, unsigned level) {
                if (leaf < va || leaf + level_span(level) > end) cuts = true;
            });
            if (cuts) return Err::InvalidArgument;
        }
        // In slices of kSlicePages pages: one bitmap buffer on the stack.
        constexpr uint64_t kSlicePages = 4096;
        uint8_t buf[kSlicePages / 8];
        bool cleared = false;
        Status copied = Status::success();
        for (uint64_t p0 = 0; p0 < pages && copied; p0 += kSlicePages) {
            const uint64_t n = pages - p0 < kSlicePages ? pages - p0 : kSlicePages;
            const uint64_t s_va = va + (p0 << PAGE_SHIFT), s_end = s_va + (n << PAGE_SHIFT);
            memset(buf, 0, (n + 7) / 8);
            (void)editor.visit_leaves(s_va, n << PAGE_SHIFT, [&](uint64_t leaf, uint64_t* e, unsigned level) {
                if (!(*e & bit)) return;
                const uint64_t lo = leaf > s_va ? leaf : s_va;
                const uint64_t leaf_end = leaf + level_span(level);
                const uint64_t hi = leaf_end < s_end ? leaf_end : s_end;
                for (uint64_t p = (lo - s_va) >> PAGE_SHIFT; p < (hi - s_va) >> PAGE_SHIFT; p++)
                    buf[p / 8] |= static_cast<uint8_t>(1u << (p % 8));
                set += (hi - lo) >> PAGE_SHIFT;
                if (clear) {
                    __atomic_and_fetch(e, ~bit, __ATOMIC_RELAXED); // the MMU sets bits concurrently
                    cleared = true;
                }
            });
            // Cannot fail while we hold mm_lock (the bitmap was checked).
            if (!copy_to_user(user_bitmap + p0 / 8, buf, (n + 7) / 8)) copied = Err::Fault;
        }
        // Cleared bits must never stay behind cached entries, even on failure.
        if (cleared) shootdown(as, TlbFlush{true, false}, va, size);
        return copied;
    });
    if (!result) return result.error();
    return set;
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
