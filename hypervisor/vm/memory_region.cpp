// Memory regions: frames of a domain's own partition, named by handles.
#include "console/console.hpp"
#include "lib/string.hpp"
#include "sched/scheduler.hpp"
#include "vm/vm_internal.hpp"

namespace virtue {
namespace {
using namespace vm_detail;

constexpr uint64_t kMfnsPerFrame = PAGE_SIZE / sizeof(uint32_t); // 1024

uint32_t* frame_u32(uint32_t mfn) { return arch::phys_ptr<uint32_t>(to_phys(Mfn(mfn))); }

uint32_t& mfn_slot(MemRegion& r, uint64_t i) {
    if (r.pages <= kRegionInlinePages) return r.inline_mfns[i];
    return frame_u32(frame_u32(r.directory)[i / kMfnsPerFrame])[i % kMfnsPerFrame];
}

uint64_t index_frames(uint64_t pages) {
    return pages <= kRegionInlinePages ? 0 : (pages + kMfnsPerFrame - 1) / kMfnsPerFrame;
}

// Gives the data frames [from, to) back (from a multiple of kChunkPages).
// Frames still mapped become orphans instead (their last unmap frees
// them). Runs of kChunkPages aligned, contiguous, unmapped frames go back
// as chunks.
void give_back_frames(Domain& d, MemRegion& r, uint64_t from, uint64_t to) {
    const uint64_t filled = to;
    for (uint64_t i = from; i < filled;) {
        poll_long_loop(i);
        Mfn first(mfn_slot(r, i));
        if (i % kChunkPages == 0 && filled - i >= kChunkPages && first.raw() % kChunkPages == 0) {
            bool whole = true;
            for (uint64_t k = 0; k < kChunkPages && whole; k++)
                whole = mfn_slot(r, i + k) == first.raw() + k && frame_info(first + k).ref_count == 0 &&
                        frame_info(first + k).type_count == 0;
            if (whole) {
                for (uint64_t k = 0; k < kChunkPages; k++) frame_info(first + k).type = PageType::None;
                domain_free_chunk(d, first);
                i += kChunkPages;
                continue;
            }
        }
        FrameInfo& f = frame_info(first);
        if (f.ref_count || f.type_count) { // mapped, or held by a grant
            f.flags |= FRAME_ORPHAN;
        } else {
            f.type = PageType::None;
            domain_free_frame(d, first);
        }
        i++;
    }
}

// The frame-list frames (`lists` index frames and the directory).
void give_back_lists(Domain& d, MemRegion& r, uint64_t lists) {
    if (r.directory) {
        uint32_t* dir = frame_u32(r.directory);
        for (uint64_t k = 0; k < lists; k++) domain_free_frame(d, Mfn(dir[k]));
        domain_free_frame(d, Mfn(r.directory));
        r.directory = 0;
    }
}

void give_back(Domain& d, MemRegion& r, uint64_t filled, uint64_t lists) {
    give_back_frames(d, r, 0, filled);
    give_back_lists(d, r, lists);
}

void unlink(Domain& d, MemRegion& r) {
    for (MemRegion** p = &d.regions; *p; p = &(*p)->next)
        if (*p == &r) {
            *p = r.next;
            return;
        }
}

void region_free(Domain& d, MemRegion* r) {
    __atomic_fetch_sub(&d.overhead_bytes, heap_footprint(sizeof(MemRegion)), __ATOMIC_RELAXED);
    r->~MemRegion();
    (void)heap_free(r);
}

void region_destroy(KObject* o) {
    auto* r = &kobject_cast<MemRegion>(o);
    Domain& d = *r->domain;
    if (d.tearing_down) {
        unlink(d, *r); // the partition goes back whole: no per-frame work
    } else if (Thread* t = releasing_thread(d)) {
        r->release_next = t->releasing_regions; // in steps (vm_release_step)
        t->releasing_regions = r;
        return;
    } else {
        MmLock lock(d);
        unlink(d, *r);
        give_back(d, *r, r->ready, r->lists_taken);
    }
    region_free(d, r);
}

} // namespace

bool vm_detail::region_release_step(Domain& d, MemRegion& r) {
    {
        MmLock lock(d);
        // From the end, one chunk-aligned run of at most kChunkPages frames:
        // [0, ready) stays a consistent region for the audit.
        const uint64_t from = r.ready ? (r.ready - 1) & ~(kChunkPages - 1) : 0;
        give_back_frames(d, r, from, r.ready);
        r.ready = from;
        if (r.ready) return false;
        give_back_lists(d, r, r.lists_taken);
        unlink(d, r);
    }
    region_free(d, &r);
    return true;
}

Status grant_frame_hold(Domain& d, Mfn frame) {
    MmLock lock(d);
    if (!frame_in_table(frame)) return Err::InvalidArgument;
    FrameInfo& f = frame_info(frame);
    if (f.owner != d.id || f.type != PageType::Memory) return Err::InvalidArgument;
    f.type_count++;
    return Status::success();
}

void grant_frame_release(Domain& d, Mfn frame) {
    bool free = false;
    {
        MmLock lock(d);
        FrameInfo& f = frame_info(frame);
        if (--f.type_count == 0 && f.ref_count == 0 && (f.flags & FRAME_ORPHAN)) {
            f.flags &= static_cast<uint8_t>(~FRAME_ORPHAN);
            f.type = PageType::None;
            free = true;
        }
    }
    if (free) domain_free_frame(d, frame);
}

Mfn region_frame(const MemRegion& r, uint64_t page) {
    return Mfn(mfn_slot(const_cast<MemRegion&>(r), page));
}

// memory_create in steps: each takes one frame of the frame list or one
// run of data frames from the partition, or zeroes and types up to 16 data
// frames (64 KiB), so that no step holds the CPU long; between steps the
// call may be preempted (sched/scheduler.hpp: continuations). The region
// goes on Domain::regions at the start with `ready` frames counted, so the
// audit sees a consistent partition throughout; its handle comes only at
// the end. Progress: the region, list frames taken, data frames taken,
// data frames zeroed.
namespace {

constexpr uint64_t kZeroFramesPerStep = 16;

// A preempted region_create that will not be continued (its thread does
// something else, or exits): its frames go back.
void drop_unfinished(Thread& t, const uint64_t (&value)[CallProgress::kValues]) {
    auto* r = reinterpret_cast<MemRegion*>(value[0]);
    Domain& d = *t.domain;
    {
        MmLock lock(d);
        unlink(d, *r);
        if (!d.tearing_down) give_back(d, *r, value[2], value[1]);
    }
    region_free(d, r);
}

} // namespace

Result<MemRegion*> region_create(Domain& d, uint64_t pages) {
    if (pages == 0 || pages > kMaxRegionPages) return Err::InvalidArgument;
    const uint64_t lists = index_frames(pages);
    MemRegion* r = nullptr;
    uint64_t lists_done = 0, filled = 0, zeroed = 0;
    uint64_t progress[CallProgress::kValues];
    if (hypercall_take_progress(progress)) {
        r = reinterpret_cast<MemRegion*>(progress[0]);
        lists_done = progress[1], filled = progress[2], zeroed = progress[3];
    } else {
        if (pages + lists + (lists ? 1 : 0) > __atomic_load_n(&d.free_frames, __ATOMIC_RELAXED)) return Err::NoMemory;
        auto mem = heap_alloc(sizeof(MemRegion));
        if (!mem) return mem.error();
        r = new (*mem) MemRegion();
        r->kobj = KObject{ObjType::MemoryRegion, 1, &region_destroy};
        r->domain = &d;
        r->pages = pages;
        r->lists_taken = static_cast<uint32_t>(lists);
        __atomic_fetch_add(&d.overhead_bytes, heap_footprint(sizeof(MemRegion)), __ATOMIC_RELAXED);
        MmLock lock(d);
        r->next = d.regions;
        d.regions = r;
    }
    // Frame list, then the frames: 512-page-aligned parts from whole chunks
    // while there are any (2 MiB pages for aspace_map), the rest one by one.
    for (bool first = true;; first = false) {
        if (!first && hypercall_preempt_check()) {
            hypercall_save_progress({reinterpret_cast<uint64_t>(r), lists_done, filled, zeroed}, drop_unfinished);
            return Err::Restart;
        }
        bool ok = true;
        if (lists && !r->directory) {
            auto dir = domain_alloc_frame(d);
            if ((ok = dir.ok())) r->directory = static_cast<uint32_t>(dir->raw());
        } else if (lists_done < lists) {
            auto idx = domain_alloc_frame(d);
            if ((ok = idx.ok())) frame_u32(r->directory)[lists_done++] = static_cast<uint32_t>(idx->raw());
        } else if (zeroed < filled) {
            const uint64_t n = filled - zeroed < kZeroFramesPerStep ? filled - zeroed : kZeroFramesPerStep;
            for (uint64_t i = zeroed; i < zeroed + n; i++)
                memset(arch::phys_ptr<void>(to_phys(Mfn(mfn_slot(*r, i)))), 0, PAGE_SIZE);
            zeroed += n;
        } else if (filled < pages) {
            if (filled % kChunkPages == 0 && pages - filled >= kChunkPages) {
                if (auto chunk = domain_take_chunk(d)) { // zeroed by the steps that follow
                    for (uint64_t k = 0; k < kChunkPages; k++)
                        mfn_slot(*r, filled + k) = static_cast<uint32_t>(chunk->raw() + k);
                    filled += kChunkPages;
                    continue;
                }
            }
            auto m = domain_alloc_frame(d);
            if ((ok = m.ok())) {
                mfn_slot(*r, filled++) = static_cast<uint32_t>(m->raw());
                zeroed++; // domain_alloc_frame zeroes
            }
        } else {
            break;
        }
        MmLock lock(d);
        if (!ok) {
            // Taken by others meanwhile: everything goes back, in steps on
            // this thread's way out like a closed region's frames (the
            // frames not yet zeroed, at most one chunk, join the region
            // first; nobody reads them).
            for (; r->ready < filled; r->ready++) frame_info(Mfn(mfn_slot(*r, r->ready))).type = PageType::Memory;
            r->lists_taken = static_cast<uint32_t>(lists_done);
            if (Thread* t = releasing_thread(d)) {
                r->release_next = t->releasing_regions;
                t->releasing_regions = r;
            } else {
                unlink(d, *r);
                give_back(d, *r, filled, lists_done);
                region_free(d, r);
            }
            return Err::NoMemory;
        }
        for (; r->ready < zeroed; r->ready++) {
            FrameInfo& f = frame_info(Mfn(mfn_slot(*r, r->ready)));
            f.type = PageType::Memory;
            f.ref_count = 0;
            f.flags &= static_cast<uint8_t>(~FRAME_ORPHAN);
        }
    }
    return r;
}

} // namespace virtue
