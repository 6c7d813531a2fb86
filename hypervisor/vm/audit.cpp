// vm_audit: checks a domain's memory invariants (address_space.hpp) from
// scratch, against the frame table. FrameInfo::reserved1 is the scratch
// counter: mapping count in the low bits, "in a region" in the top bit.
#include "arch/user_entry.hpp"
#include "console/console.hpp"
#include "vm/vm_internal.hpp"

namespace virtue {
namespace {
using namespace vm_detail;

constexpr uint64_t kInRegion = uint64_t{1} << 63;
constexpr uint64_t kReportMax = 8;

struct Audit {
    Domain& d;
    uint64_t violations = 0;
    void fail(const char* what, uint64_t a, uint64_t b) {
        if (violations++ < kReportMax) log_error("d%u memory audit: %s (0x%lx, 0x%lx)", d.id, what, a, b);
    }
};

template <typename Fn> void for_each_partition_frame(Domain& d, Fn fn) {
    for (uint32_t head = d.block_head; head != FRAME_NIL; head = frame_info(Mfn(head)).prev) {
        const uint64_t n = uint64_t{1} << frame_info(Mfn(head)).order;
        for (uint64_t i = 0; i < n; i++) {
            poll_long_loop(i);
            fn(Mfn(head + i));
        }
    }
}

void check_mappings(Audit& a, AddressSpace& as) {
    Deferred unused;
    TablePolicy policy{&a.d, &unused};
    Editor editor(policy, as.root);
    const bool nx = arch::paging_features().nx;
    (void)editor.visit_leaves(0, arch::USER_LIMIT, [&](uint64_t va, uint64_t* e, unsigned level) {
        const uint64_t entry = *e;
        if (!(entry & pte::US)) a.fail("supervisor leaf in the domain's half", va, entry);
        if (entry & pte::SW2) {
            // A grant mapping: one 4 KiB frame held by its grant.
            const Mfn m = Pte(entry).leaf_addr(level).mfn();
            if (level != 1) a.fail("grant mapping larger than a page", va, entry);
            // Held as native Memory, or by its granter's own rules (a PV
            // guest's frame: a reference, and a Writable use if writable).
            const bool native_hold = frame_in_table(m) && frame_info(m).type == PageType::Memory &&
                                     frame_info(m).type_count > 0;
            const bool granter_hold =
                frame_in_table(m) && frame_info(m).type != PageType::Memory && frame_info(m).ref_count > 0 &&
                (!(entry & pte::RW) || (frame_info(m).type == PageType::Writable && frame_info(m).type_count > 0));
            if (!native_hold && !granter_hold) a.fail("grant mapping of a frame no grant holds", va, m.raw());
            if ((entry & pte::RW) && !(entry & pte::SW0)) a.fail("writable beyond the grant", va, entry);
            return;
        }
        if ((entry & pte::RW) && !(entry & pte::SW0)) a.fail("writable beyond the region's rights", va, entry);
        if (nx && !(entry & pte::NX) && !(entry & pte::SW1)) a.fail("executable beyond the region's rights", va, entry);
        const Mfn first = Pte(entry).leaf_addr(level).mfn();
        for (uint64_t k = 0; k < level_span(level) / PAGE_SIZE; k++) {
            poll_long_loop(k);
            const Mfn m = first + k;
            if (!frame_in_table(m)) {
                a.fail("mapping of a frame outside RAM", va, m.raw());
                continue;
            }
            FrameInfo& f = frame_info(m);
            if (f.owner != a.d.id) {
                a.fail("mapping of a frame the domain does not own", va, m.raw());
                continue; // never touch another owner's entry
            }
            if (f.type != PageType::Memory) a.fail("mapping of a frame that is not memory (page table, free, ...)", va, m.raw());
            f.reserved1++;
        }
    });
}

} // namespace

uint64_t vm_audit(Domain& d) {
    Audit a{d};
    MmLock lock(d);
    for_each_partition_frame(d, [](Mfn m) { frame_info(m).reserved1 = 0; });
    for (AddressSpace* as = d.aspaces; as; as = as->next) check_mappings(a, *as);
    for (MemRegion* r = d.regions; r; r = r->next)
        for (uint64_t i = 0; i < r->ready; i++) {
            poll_long_loop(i);
            const Mfn m = region_frame(*r, i);
            if (!frame_in_table(m) || frame_info(m).owner != d.id) {
                a.fail("region frame the domain does not own", i, m.raw());
                continue;
            }
            FrameInfo& f = frame_info(m);
            if (f.reserved1 & kInRegion) a.fail("frame in two regions", i, m.raw());
            f.reserved1 |= kInRegion;
        }
    uint64_t frames = 0;
    for_each_partition_frame(d, [&](Mfn m) {
        FrameInfo& f = frame_info(m);
        frames++;
        const uint64_t mapped = f.reserved1 & ~kInRegion;
        const bool in_region = f.reserved1 & kInRegion;
        if (f.owner != d.id) a.fail("partition frame owned by someone else", m.raw(), f.owner);
        if (f.type == PageType::Memory) {
            if (mapped != f.ref_count) a.fail("mapping count differs from the mappings", m.raw(), f.ref_count);
            if ((f.flags & FRAME_ORPHAN) && in_region) a.fail("orphan frame still in a region", m.raw(), 0);
            if ((f.flags & FRAME_ORPHAN) && f.ref_count == 0 && f.type_count == 0)
                a.fail("orphan frame neither mapped, granted nor freed", m.raw(), 0);
            if (!(f.flags & FRAME_ORPHAN) && !in_region) a.fail("memory frame in no region", m.raw(), 0);
        } else if (mapped || in_region) {
            a.fail("non-memory frame mapped or in a region", m.raw(), static_cast<uint64_t>(f.type));
        }
        f.reserved1 = 0;
    });
    if (frames != d.partition_frames) a.fail("partition size differs from its blocks", frames, d.partition_frames);
    {
        IrqLockGuard guard(d.lock);
        uint64_t free = 0;
        auto check_free = [&](Mfn m) {
            const FrameInfo& f = frame_info(m);
            if (f.type != PageType::None || f.ref_count || f.type_count || f.owner != d.id)
                a.fail("bad free frame", m.raw(), f.ref_count);
            free++;
        };
        for (uint32_t h = d.free_head; h != FRAME_NIL && free <= frames; h = frame_info(Mfn(h)).next) check_free(Mfn(h));
        for (uint32_t h = d.chunk_head; h != FRAME_NIL && free <= frames; h = frame_info(Mfn(h)).next)
            for (uint64_t k = 0; k < kChunkPages; k++) check_free(Mfn(h) + k);
        if (free != d.free_frames) a.fail("free lists differ from the free count", free, d.free_frames);
    }
    return a.violations;
}

} // namespace virtue
