// The PV MMU's page types: which frames of a PV domain may be page tables,
// and the references that keep every guest page table safe to load.
//
// A PV guest writes its own page tables, and the CPU walks them as they
// are ("direct paging"): every entry names a machine frame. So the
// hypervisor checks each entry before it can take effect, and keeps, per
// frame, a type and two counts in the frame table (mm/frame_table.hpp),
// with Xen's semantics (written here from the ABI's rules, see
// docs/architecture.md, "The PV MMU"):
//
//   type        None, L1..L4 (a page table of that level), SegDesc (a GDT
//               or LDT page) or Writable (mapped writable somewhere);
//   type_count  how many uses of the current type exist: entries one level
//               up naming it as a table, pins, writable L1 entries;
//   ref_count   general references: every entry naming the frame (and
//               every type use) holds one.
//
// Invariants, each kept by the functions below:
//   1. A frame is a page table only while validated: every present entry
//      in it names a frame of the domain that itself validates as the
//      level below (an L1 entry: any frame of the domain, and Writable
//      type if the entry is writable); each holds its reference.
//   2. No frame is at once a page table (or SegDesc) and Writable: a
//      writable mapping of a table, or a table mapped writable, is
//      refused. So the guest changes its tables only through the
//      hypervisor (update_entry), never by a plain store.
//   3. The type changes only at type_count 0. A frame that was Writable
//      keeps that type at count 0, and when it becomes a table (or a
//      descriptor page) every CPU's stale writable translation of it is
//      flushed first (Env::flush_stale).
//
// Validation writes every entry it accepts in its adjusted form (the same
// translation, with the bits of invariant 4), also in the child tables of
// a pin or update that is refused later on: that changes nothing the guest
// can observe but those bits, which it reads back from any table anyway.
//   4. Every present entry the guest wrote reaches the CPU adjusted: US set
//      at every level (the guest kernel runs in ring 3), never global; a
//      kernel L1 leaf also carries kGuestKernelBit. L4 slots 256-271 hold
//      the hypervisor's own entries and are never the guest's.
//   5. Entries never name a frame outside the domain, a large page, or an
//      address beyond RAM — except the grant host maps of invariant 6.
//   6. An L1 entry naming another domain's frame was written by
//      install_grant_entry for a grant the domain mapped (validation
//      refuses such entries). It holds nothing in the counts: the grant
//      mapping holds the frame, and taking the mapping down clears the
//      entry if it is still there and flushes every CPU of the domain
//      before the frame goes. An entry a grant map writes for the domain's
//      own frame holds what any entry holds, so whoever removes it drops
//      the same.
//
// Env (the frame table and frame contents, so host unit tests can run the
// same code):
//   FrameInfo* frame(Mfn m)            m's entry, nullptr if m is not RAM
//   uint64_t* table(Mfn m)             m's contents as 512 entries
//   domid_t domain()                   the domain whose tables these are
//   uint64_t hypervisor_l4e(unsigned)  the hypervisor's entry for L4 slot 256..271
//   void flush_stale(Mfn m)            flush every CPU's TLB of the domain's
//                                      writable translations of m
//   void give_back(Mfn m)              m, given back by the guest and named by
//                                      nothing, returns to the partition
//
// Not thread-safe: the caller holds the domain's PV MMU lock around every
// call (the hardware still sets A and D bits meanwhile, which
// update_entry merges atomically).
#pragma once

#include <stdint.h>

#include "arch/pte.hpp"
#include "lib/result.hpp"
#include "mm/frame_table.hpp"

namespace virtue::pv {

// Set by the hypervisor in an L1 leaf the guest wrote without US (a guest
// kernel mapping, which must run at ring 3 with US set), so that the guest
// still reads back what it meant. Bit 52, as in Xen.
inline constexpr uint64_t kGuestKernelBit = 1ull << 52;

// L4 slots that belong to the hypervisor in every address space.
inline constexpr unsigned kFirstHypervisorSlot = 256, kEndHypervisorSlot = 272;

// FrameInfo::flags bits of PV frames.
inline constexpr uint8_t kFramePinned = 1u << 3;     // MMUEXT_PIN_*: holds a type use and a reference
inline constexpr uint8_t kFrameValidating = 1u << 4; // type set, entries being checked: no other use yet
// The guest's own memory (its RAM, its shared_info): the only frames of
// its partition that its entries and requests may name. The partition
// also holds what the hypervisor keeps for the domain (its PV state, trap
// tables, handle and event tables): the guest must never reach those.
inline constexpr uint8_t kFrameGuest = 1u << 5;
// Given back by the guest (decrease_reservation) while something still
// named it: no longer its memory, and back into the partition when the
// last reference goes (pv_reservation.hpp).
inline constexpr uint8_t kFrameGivenBack = 1u << 6;
// Was a page table until its last use went: a CPU may still cache entries
// read from it (an unhooking entry change is flushed only when the guest
// asks), so it is flushed everywhere before it takes any type again (as
// writable memory, or a table or descriptor page whose entries a stale
// cache would read at the wrong level).
inline constexpr uint8_t kFrameWasTable = 1u << 7;

static_assert(((kFramePinned | kFrameValidating | kFrameGuest | kFrameGivenBack | kFrameWasTable) &
               (FRAME_FREE_HEAD | FRAME_ALLOC_HEAD | FRAME_ORPHAN)) == 0);

// Counts refuse to grow past this (they are 32 bits; a guest could
// otherwise wrap one by naming a frame from 2^32 entries).
inline constexpr uint32_t kMaxCount = 1u << 30;

constexpr bool is_table_type(PageType t) {
    return t == PageType::L1 || t == PageType::L2 || t == PageType::L3 || t == PageType::L4;
}
constexpr unsigned level_of(PageType t) { return static_cast<unsigned>(t) - static_cast<unsigned>(PageType::L1) + 1; }
constexpr PageType table_type(unsigned level) {
    return static_cast<PageType>(static_cast<unsigned>(PageType::L1) + level - 1);
}

// Bits a guest entry may carry at each level. L1 leaves: the x86 leaf bits
// (cache bits included: a domain without devices uses write-back, and the
// hypervisor runs guests with Xen's PAT value, so they mean what the guest
// expects) and the software bits; G is accepted but cleared. Upper levels:
// no PS (PV guests map 4 KiB pages only).
inline constexpr uint64_t kSoftwareBits = pte::SW0 | pte::SW1 | pte::SW2 | (0x7FFull << 52);
inline constexpr uint64_t kL1Allowed = pte::P | pte::RW | pte::US | pte::PWT | pte::PCD | pte::A | pte::D |
                                       pte::PAT_4K | pte::G | kSoftwareBits | pte::NX | pte::ADDR_MASK;
inline constexpr uint64_t kUpperAllowed = pte::P | pte::RW | pte::US | pte::PWT | pte::PCD | pte::A | pte::D |
                                          pte::G | kSoftwareBits | pte::NX | pte::ADDR_MASK;

// What the CPU gets for a guest entry at `level` (invariant 4).
constexpr uint64_t adjust_entry(unsigned level, uint64_t e) {
    if (!(e & pte::P)) return e;
    if (level == 1) {
        if (!(e & pte::US)) e |= pte::US | kGuestKernelBit;
        return e & ~pte::G;
    }
    e |= pte::US;
    if (level == 4) e |= pte::A;
    return e & ~pte::G;
}

// A GDT or LDT entry a guest may have (in a SegDesc page, or through
// update_descriptor), as the CPU will get it. Not present: anything (the
// CPU never uses it). Code and data: accepted with DPL raised to 3, the
// guest kernel's ring, so no descriptor is ever usable only from rings
// 0-2. System descriptors (call, interrupt and trap gates, TSS, LDT) that
// are present are refused: a call gate would lead ring 3 into ring 0.
inline Result<uint64_t> check_descriptor(uint64_t d) {
    constexpr uint64_t kPresent = 1ull << 47, kCodeOrData = 1ull << 44, kDpl = 3ull << 45;
    if (!(d & kPresent)) return d;
    if (!(d & kCodeOrData)) return Err::InvalidArgument;
    return d | kDpl;
}

template <typename Env>
class PageTables {
  public:
    explicit PageTables(Env& env) : env_(env) {}

    // A general reference to a frame of the domain's own memory.
    // Err::InvalidArgument: not RAM, another owner, a frame the hypervisor
    // keeps for the domain, or the count at its limit.
    Status get_page(Mfn m) {
        FrameInfo* f = env_.frame(m);
        if (!f || f->owner != env_.domain() || !(f->flags & kFrameGuest) || f->ref_count >= kMaxCount)
            return Err::InvalidArgument;
        f->ref_count++;
        return Status::success();
    }
    void put_page(Mfn m) {
        FrameInfo& f = *env_.frame(m);
        if (--f.ref_count == 0 && (f.flags & kFrameGivenBack)) [[unlikely]]
            give_back_now(m);
    }

    // A frame the guest gave back that nothing names any more goes into
    // the partition (Env::give_back). A frame that was Writable may still
    // be cached writable by a CPU (put_type leaves it so): flushed first.
    [[gnu::noinline, gnu::cold]] void give_back_now(Mfn m) {
        FrameInfo& f = *env_.frame(m);
        f.flags &= static_cast<uint8_t>(~(kFrameGivenBack | kFrameWasTable));
        // Whatever it was, a CPU may still cache a translation through it
        // or of it (entry changes are flushed only when the guest asks):
        // every CPU of the domain flushes before the partition reuses it.
        env_.flush_stale(m);
        f.type = PageType::None;
        env_.give_back(m);
    }

    // A use of the frame as type t (the frame already has a reference
    // from the caller). The first use as a table validates it.
    // Err::InvalidArgument: the frame has another type in use, is being
    // validated (a table naming itself or its ancestor), or does not
    // validate; nothing changed then.
    Status get_type(Mfn m, PageType t) {
        FrameInfo& f = *env_.frame(m);
        if (f.type_count > 0) {
            if (f.type != t || f.type_count >= kMaxCount) return Err::InvalidArgument;
            f.type_count++;
            return Status::success();
        }
        if (f.flags & kFrameValidating) return Err::InvalidArgument;
        if (f.type == PageType::Writable && t != PageType::Writable) env_.flush_stale(m);
        if (f.flags & kFrameWasTable) { // (whatever it becomes: a table, a GDT page, writable)
            env_.flush_stale(m);
            f.flags &= static_cast<uint8_t>(~kFrameWasTable);
        }
        f.type = t;
        if (t == PageType::SegDesc) {
            if (Status s = check_descriptors(m); !s) {
                f.type = PageType::None;
                return s;
            }
        }
        if (is_table_type(t)) {
            f.flags |= kFrameValidating;
            Status valid = validate(m, level_of(t));
            f.flags &= static_cast<uint8_t>(~kFrameValidating);
            if (!valid) {
                f.type = PageType::None;
                return valid;
            }
        }
        f.type_count = 1;
        return Status::success();
    }

    // Drops one use; the last use of a table drops the references its
    // entries hold, and the frame has no type again. A frame that was
    // Writable stays so at count 0: until it becomes something else (and
    // get_type flushes), a CPU may still cache a writable translation of
    // it.
    void put_type(Mfn m) {
        FrameInfo& f = *env_.frame(m);
        if (--f.type_count > 0) return;
        if (is_table_type(f.type)) {
            devalidate(m, level_of(f.type));
            f.flags |= kFrameWasTable;
        }
        if (f.type != PageType::Writable) f.type = PageType::None;
    }

    // A reference and a use as type t together, or neither (the pair every
    // holder of a typed frame takes: pins, base pointers, GDT frames, the
    // frames the hypervisor writes, grants).
    Status get_page_and_type(Mfn m, PageType t) {
        TRY(get_page(m));
        if (Status s = get_type(m, t); !s) {
            put_page(m);
            return s;
        }
        return Status::success();
    }
    void put_page_and_type(Mfn m) {
        put_type(m);
        put_page(m);
    }

    // MMUEXT_PIN_L<level>_TABLE: the frame stays a validated table while
    // pinned, even when nothing names it. Err::InvalidArgument as
    // get_page/get_type, or already pinned.
    Status pin(Mfn m, unsigned level) {
        FrameInfo* f = env_.frame(m);
        if (!f || f->owner != env_.domain() || !(f->flags & kFrameGuest) || (f->flags & kFramePinned))
            return Err::InvalidArgument;
        TRY(get_page_and_type(m, table_type(level)));
        f->flags |= kFramePinned;
        return Status::success();
    }

    // MMUEXT_UNPIN_TABLE. Err::InvalidArgument: not a pinned frame of the
    // domain.
    Status unpin(Mfn m) {
        FrameInfo* f = env_.frame(m);
        if (!f || f->owner != env_.domain() || !(f->flags & kFramePinned)) return Err::InvalidArgument;
        f->flags &= static_cast<uint8_t>(~kFramePinned);
        put_page_and_type(m);
        return Status::success();
    }

    // mmu_update's MMU_NORMAL_PT_UPDATE (and MMU_PT_UPDATE_PRESERVE_AD,
    // which keeps the entry's current A and D bits): entry `slot` of frame
    // `table_frame` becomes `value`. A page table takes the checked,
    // adjusted value (the old entry's references go only after the new
    // one's are taken); a frame that is not a table takes the plain store
    // (a table the guest is still filling), if it could be mapped
    // writable. Returns whether a translation went or narrowed (the
    // caller flushes TLBs). Err::InvalidArgument: not a frame of the
    // domain, a descriptor page, a hypervisor L4 slot, a bad entry.
    Result<bool> update_entry(Mfn table_frame, unsigned slot, uint64_t value, bool preserve_ad) {
        FrameInfo* f = env_.frame(table_frame);
        if (!f || f->owner != env_.domain() || !(f->flags & kFrameGuest) || slot >= 512) return Err::InvalidArgument;
        uint64_t* t = env_.table(table_frame);
        if (!is_table_type(f->type) || f->type_count == 0) {
            // Not a table: plain data, writable only if it may be mapped so.
            TRY(get_type(table_frame, PageType::Writable));
            __atomic_store_n(&t[slot], value, __ATOMIC_RELAXED);
            put_type(table_frame);
            return false;
        }
        const unsigned level = level_of(f->type);
        if (level == 4 && slot >= kFirstHypervisorSlot && slot < kEndHypervisorSlot) return Err::InvalidArgument;
        const uint64_t adjusted = adjust_entry(level, value);
        TRY(get_entry(level, adjusted));
        uint64_t old = __atomic_load_n(&t[slot], __ATOMIC_RELAXED);
        for (;;) {
            const uint64_t stored = preserve_ad ? (adjusted & ~(pte::A | pte::D)) | (old & (pte::A | pte::D)) : adjusted;
            if (__atomic_compare_exchange_n(&t[slot], &old, stored, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) break;
        }
        put_entry(level, old);
        return narrows(old, adjusted);
    }

    // A grant host map (invariant 6): entry `slot` of `l1`, a validated L1
    // of the domain, becomes the present leaf `e`; the entry it replaces
    // gives up what it held. Err::InvalidArgument: not a validated L1 of
    // the domain, or (the domain's own frame) an entry the rules refuse.
    Status install_grant_entry(Mfn l1, unsigned slot, uint64_t e) {
        if (!validated_l1(l1) || slot >= 512 || !(e & pte::P)) return Err::InvalidArgument;
        if (own(PhysAddr(e & pte::ADDR_MASK).mfn()) && !get_entry(1, e)) return Err::InvalidArgument;
        const uint64_t old = __atomic_exchange_n(&env_.table(l1)[slot], e, __ATOMIC_ACQ_REL);
        put_entry(1, old);
        return Status::success();
    }

    // Takes a grant host map's entry down: entry `slot` of `l1` becomes not
    // present if l1 is still a validated L1 of the domain and the entry
    // still names `frame`. Whether it did (the caller flushes either way).
    bool remove_grant_entry(Mfn l1, unsigned slot, Mfn frame) {
        if (!validated_l1(l1) || slot >= 512) return false;
        uint64_t* e = &env_.table(l1)[slot];
        uint64_t old = __atomic_load_n(e, __ATOMIC_RELAXED);
        do {
            if (!(old & pte::P) || PhysAddr(old & pte::ADDR_MASK).mfn() != frame) return false;
        } while (!__atomic_compare_exchange_n(e, &old, uint64_t{0}, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
        put_entry(1, old);
        return true;
    }

    bool validated_l1(Mfn m) {
        const FrameInfo* f = env_.frame(m);
        return f && f->owner == env_.domain() && (f->flags & kFrameGuest) && f->type == PageType::L1 && f->type_count > 0;
    }

  private:
    bool own(Mfn m) {
        const FrameInfo* f = env_.frame(m);
        return f && f->owner == env_.domain();
    }

    static bool entry_ok(unsigned level, uint64_t e) {
        return (e & ~(level == 1 ? kL1Allowed : kUpperAllowed)) == 0;
    }

    // The references a present entry at `level` holds (invariants 1, 2, 5).
    Status get_entry(unsigned level, uint64_t e) {
        if (!(e & pte::P)) return Status::success();
        if (!entry_ok(level, e)) return Err::InvalidArgument;
        const Mfn m = PhysAddr(e & pte::ADDR_MASK).mfn();
        TRY(get_page(m));
        Status typed = Status::success();
        if (level > 1) typed = get_type(m, table_type(level - 1));
        else if (e & pte::RW) typed = get_type(m, PageType::Writable);
        if (!typed) {
            put_page(m);
            // A writable L1 entry for a frame that cannot be writable (a
            // page table, a descriptor page): -EBUSY, as Xen answers.
            if (level == 1) return Err::Busy;
        }
        return typed;
    }

    void put_entry(unsigned level, uint64_t e) {
        if (!(e & pte::P)) return;
        const Mfn m = PhysAddr(e & pte::ADDR_MASK).mfn();
        if (level == 1 && !own(m)) return; // another domain's granted frame: held by the grant (invariant 6)
        if (level > 1 || (e & pte::RW)) put_type(m);
        put_page(m);
    }

    static bool guest_slot(unsigned level, unsigned i) {
        return level != 4 || i < kFirstHypervisorSlot || i >= kEndHypervisorSlot;
    }

    // Checks every guest entry, taking its references (all or none), then
    // writes the adjusted entries and, in an L4, the hypervisor's slots.
    Status validate(Mfn m, unsigned level) {
        uint64_t* t = env_.table(m);
        for (unsigned i = 0; i < 512; i++) {
            if (!guest_slot(level, i)) continue;
            if (Status s = get_entry(level, adjust_entry(level, t[i])); !s) {
                while (i-- > 0)
                    if (guest_slot(level, i)) put_entry(level, t[i]);
                return s;
            }
        }
        for (unsigned i = 0; i < 512; i++)
            t[i] = guest_slot(level, i) ? adjust_entry(level, t[i]) : env_.hypervisor_l4e(i);
        return Status::success();
    }

    // Every entry of a descriptor page acceptable (then written as the CPU
    // will see it), or nothing changes.
    Status check_descriptors(Mfn m) {
        uint64_t* t = env_.table(m);
        for (unsigned i = 0; i < 512; i++)
            if (!check_descriptor(t[i])) return Err::InvalidArgument;
        for (unsigned i = 0; i < 512; i++) t[i] = *check_descriptor(t[i]);
        return Status::success();
    }

    void devalidate(Mfn m, unsigned level) {
        const uint64_t* t = env_.table(m);
        for (unsigned i = 0; i < 512; i++)
            if (guest_slot(level, i)) put_entry(level, t[i]);
    }

    // Whether replacing `old` by `now` can leave a stale translation: it
    // was present and names another frame, or loses a permission.
    static bool narrows(uint64_t old, uint64_t now) {
        if (!(old & pte::P)) return false;
        if (!(now & pte::P) || ((old ^ now) & pte::ADDR_MASK)) return true;
        const uint64_t lost = old & ~now & (pte::RW | pte::US);
        const bool gained_nx = (now & pte::NX) && !(old & pte::NX);
        return lost || gained_nx || ((old ^ now) & (pte::PWT | pte::PCD | pte::PAT_4K));
    }

    Env& env_;
};

} // namespace virtue::pv
