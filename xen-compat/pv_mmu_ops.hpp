// The PV MMU's hypercall operations, one request at a time, on top of the
// page types (pv_page_tables.hpp): mmu_update's requests, mmuext_op's
// commands and update_va_mapping. Batches, guest memory and the TLB
// flushes themselves are the hypercall glue's: these say what to flush
// (PvFlush) and change the vCPU's base pointers (PvBasePtrs).
//
// Semantics (Xen's 64-bit PV ABI, xen/xen.h):
//   mmu_update      ptr[1:0] = MMU_NORMAL_PT_UPDATE or
//                   MMU_PT_UPDATE_PRESERVE_AD: entry ptr (a machine
//                   address, 8-byte aligned) of a frame of the domain
//                   becomes val, checked as the frame's type requires (a
//                   plain store if it is not a page table);
//                   MMU_MACHPHYS_UPDATE: the M2P entry of frame ptr >> 12
//                   (the domain's) becomes val. Entry changes ask for no
//                   flush: the guest flushes as on hardware, and the PV MMU
//                   itself flushes before a frame that was writable can
//                   become a table.
//   mmuext_op       pin/unpin L1-L4; NEW_BASEPTR / NEW_USER_BASEPTR (an L4
//                   of the domain, which holds a type use while it is one;
//                   user MFN 0 means none); TLB flushes local, multi (a
//                   guest pointer to a vCPU bitmap) and all, whole or one
//                   page; SET_LDT (page-aligned base, at most 8192 entries,
//                   inside the guest's part of the address space; each
//                   page of it mapped in the current kernel L4 and taken
//                   as a descriptor page while it is the LDT — Xen takes
//                   them at first use — so it must not be mapped writable);
//                   CLEAR_PAGE and COPY_PAGE (into a frame that may be
//                   written). FLUSH_CACHE needs I/O privileges no domain
//                   has yet (-EPERM); MARK/UNMARK_SUPER and unknown
//                   commands are -ENOSYS.
//   update_va_mapping  the L1 entry that maps va in the current kernel L4
//                   becomes val (checked), then the flush the flags ask:
//                   UVMF_NONE / UVMF_TLB_FLUSH / UVMF_INVLPG, for the
//                   local CPU, a vCPU bitmap (flags above bit 2 are its
//                   guest pointer) or all (UVMF_ALL).
// Errors: Err::InvalidArgument (-EINVAL) for requests the rules refuse,
// Err::NotSupported (-ENOSYS) for unknown commands, Err::NotPermitted
// (-EPERM). A refused request changes nothing.
#pragma once

#include <stdint.h>

#include <xen/xen.h>

#include "pv_page_tables.hpp"

namespace virtue::pv {

// A vCPU's address-space state the MMU calls change.
struct PvBasePtrs {
    uint64_t kernel_l4 = 0; // MFN; 0 before the first NEW_BASEPTR (the builder sets it)
    uint64_t user_l4 = 0;   // MFN, 0 = none
    uint64_t ldt_base = 0;
    uint32_t ldt_entries = 0;
    // The LDT's frames (ldt_entries / 512 rounded up), each held as a
    // descriptor page while it is the LDT.
    static constexpr unsigned kLdtFrames = 16;
    uint64_t ldt_frames[kLdtFrames] = {};
    bool reload_ldt = false; // the LDT changed: the CPU must load it before the guest runs
    bool reload_root = false; // the CPU must load the (new) L4 before the guest runs
    // The kernel L4 NEW_BASEPTR replaced, still held: the CPU may have it in
    // CR3 until the caller loads the new one, and only then drops it
    // (PvMmu::drop_old_root). 0: none.
    uint64_t old_kernel_l4 = 0;
};

// What the caller must flush before the guest goes on (requests merge:
// the widest scope and a whole-TLB flush win).
struct PvFlush {
    enum class Scope : uint8_t { None, Local, Multi, All };
    Scope scope = Scope::None;
    bool whole = false;       // the whole TLB (else the page at `va`)
    uint64_t va = 0;
    uint64_t vcpumask = 0;    // Multi: guest address of the vCPU bitmap
    void add(Scope s, bool all_pages, uint64_t page, uint64_t mask = 0) {
        if (scope != Scope::None && !whole && !all_pages && page != va) all_pages = true; // two pages: flush all
        if (static_cast<int>(s) > static_cast<int>(scope)) scope = s, vcpumask = mask;
        else if (s == Scope::Multi && scope == Scope::Multi && mask != vcpumask) scope = Scope::All;
        whole = whole || all_pages;
        va = page;
    }
};

inline constexpr uint32_t kMaxLdtEntries = 8192;

template <typename Env>
class PvMmu {
  public:
    PvMmu(PageTables<Env>& pt, Env& env) : pt_(pt), env_(env) {}

    Status mmu_update(uint64_t ptr, uint64_t val) {
        const unsigned cmd = static_cast<unsigned>(ptr & 3);
        const uint64_t maddr = ptr & ~uint64_t{3};
        switch (cmd) {
        case MMU_NORMAL_PT_UPDATE:
        case MMU_PT_UPDATE_PRESERVE_AD: {
            if (maddr & 7) return Err::InvalidArgument;
            auto r = pt_.update_entry(Mfn(maddr >> 12), static_cast<unsigned>((maddr & 0xfff) >> 3), val,
                                      cmd == MMU_PT_UPDATE_PRESERVE_AD);
            if (!r) return r.error();
            return Status::success();
        }
        case MMU_MACHPHYS_UPDATE: {
            const Mfn m(maddr >> 12);
            if (!owned(m)) return Err::InvalidArgument;
            env_.m2p_set(m, val);
            return Status::success();
        }
        default: return Err::NotSupported; // MMU_PT_UPDATE_NO_TRANSLATE: HVM only
        }
    }

    Status mmuext(const mmuext_op& op, PvBasePtrs& v, PvFlush& flush) {
        switch (op.cmd) {
        case MMUEXT_PIN_L1_TABLE:
        case MMUEXT_PIN_L2_TABLE:
        case MMUEXT_PIN_L3_TABLE:
        case MMUEXT_PIN_L4_TABLE:
            return pt_.pin(Mfn(op.arg1.mfn), op.cmd - MMUEXT_PIN_L1_TABLE + 1);
        case MMUEXT_UNPIN_TABLE: return pt_.unpin(Mfn(op.arg1.mfn));
        case MMUEXT_NEW_BASEPTR: {
            if (op.arg1.mfn == 0) return Err::InvalidArgument; // the kernel always has one
            // The old one stays held until the new one is loaded (the caller
            // loads it and calls drop_old_root before anything else runs).
            drop_old_root(v);
            const uint64_t old = v.kernel_l4;
            v.kernel_l4 = 0;
            if (Status s = switch_l4(v.kernel_l4, op.arg1.mfn); !s) {
                v.kernel_l4 = old;
                return s;
            }
            v.old_kernel_l4 = old;
            v.reload_root = true; // as a CR3 load: flushes the non-global entries
            return Status::success();
        }
        case MMUEXT_NEW_USER_BASEPTR: return switch_l4(v.user_l4, op.arg1.mfn);
        case MMUEXT_TLB_FLUSH_LOCAL: flush.add(PvFlush::Scope::Local, true, 0); return Status::success();
        case MMUEXT_INVLPG_LOCAL:
            TRY(guest_va(op.arg1.linear_addr));
            flush.add(PvFlush::Scope::Local, false, op.arg1.linear_addr & ~uint64_t{0xfff});
            return Status::success();
        case MMUEXT_TLB_FLUSH_MULTI:
            flush.add(PvFlush::Scope::Multi, true, 0, mask_of(op));
            return Status::success();
        case MMUEXT_INVLPG_MULTI:
            TRY(guest_va(op.arg1.linear_addr));
            flush.add(PvFlush::Scope::Multi, false, op.arg1.linear_addr & ~uint64_t{0xfff}, mask_of(op));
            return Status::success();
        case MMUEXT_TLB_FLUSH_ALL: flush.add(PvFlush::Scope::All, true, 0); return Status::success();
        case MMUEXT_INVLPG_ALL:
            TRY(guest_va(op.arg1.linear_addr));
            flush.add(PvFlush::Scope::All, false, op.arg1.linear_addr & ~uint64_t{0xfff});
            return Status::success();
        case MMUEXT_SET_LDT: return set_ldt(v, op.arg1.linear_addr, op.arg2.nr_ents);
        case MMUEXT_CLEAR_PAGE: {
            const Mfn dst(op.arg1.mfn);
            TRY(take_writable(dst));
            uint64_t* d = env_.table(dst);
            for (unsigned i = 0; i < 512; i++) d[i] = 0;
            drop_writable(dst);
            return Status::success();
        }
        case MMUEXT_COPY_PAGE: {
            const Mfn dst(op.arg1.mfn), src(op.arg2.src_mfn);
            TRY(pt_.get_page(src));
            if (Status s = take_writable(dst); !s) {
                pt_.put_page(src);
                return s;
            }
            const uint64_t* from = env_.table(src);
            uint64_t* to = env_.table(dst);
            for (unsigned i = 0; i < 512; i++) to[i] = from[i];
            drop_writable(dst);
            pt_.put_page(src);
            return Status::success();
        }
        case MMUEXT_FLUSH_CACHE:
        case MMUEXT_FLUSH_CACHE_GLOBAL:
            return Err::NotPermitted;
        default: return Err::NotSupported; // MARK/UNMARK_SUPER and unknown commands
        }
    }

    Status update_va_mapping(PvBasePtrs& v, uint64_t va, uint64_t val, uint64_t flags, PvFlush& flush) {
        if (!guest_va(va)) return Err::InvalidArgument;
        const uint64_t type = flags & UVMF_FLUSHTYPE_MASK;
        if (type == UVMF_FLUSHTYPE_MASK) return Err::InvalidArgument;
        auto l1 = l1_of(v, va);
        if (!l1) return l1.error();
        auto r = pt_.update_entry(*l1, static_cast<unsigned>((va >> 12) & 511), val, false);
        if (!r) return r.error();
        if (type != UVMF_NONE) {
            const uint64_t mask = flags & ~uint64_t{7};
            const PvFlush::Scope scope = (flags & UVMF_ALL) ? PvFlush::Scope::All
                                         : mask             ? PvFlush::Scope::Multi
                                                            : PvFlush::Scope::Local;
            flush.add(scope, type == UVMF_TLB_FLUSH, va & ~uint64_t{0xfff}, mask);
        }
        return Status::success();
    }

    // The L1 that maps guest address va in the vCPU's current kernel L4:
    // every level present, the L1 a validated table of the domain.
    // Err::InvalidArgument otherwise.
    Result<Mfn> l1_of(const PvBasePtrs& v, uint64_t va) {
        TRY(guest_va(va));
        uint64_t table = v.kernel_l4;
        for (unsigned level = 4; level >= 2; level--) {
            if (!table) return Err::InvalidArgument;
            const uint64_t e = env_.table(Mfn(table))[(va >> (12 + 9 * (level - 1))) & 511];
            if (!(e & pte::P) || (e & pte::PS)) return Err::InvalidArgument;
            table = (e & pte::ADDR_MASK) >> 12;
        }
        if (!pt_.validated_l1(Mfn(table))) return Err::InvalidArgument;
        return Mfn(table);
    }

    // MMUEXT_SET_LDT: the new LDT's frames are taken before the old ones
    // go (all or none).
    Status set_ldt(PvBasePtrs& v, uint64_t base, uint32_t ents) {
        if (ents > kMaxLdtEntries || (base & 0xfff)) return Err::InvalidArgument;
        if (ents && (!guest_va(base) || !guest_va(base + uint64_t{ents} * 8 - 1))) return Err::InvalidArgument;
        if (ents == v.ldt_entries && (ents == 0 || base == v.ldt_base)) return Status::success();
        const unsigned n = (ents + 511) / 512;
        uint64_t frames[PvBasePtrs::kLdtFrames] = {};
        for (unsigned i = 0; i < n; i++) {
            Status s = Err::InvalidArgument;
            if (auto l1 = l1_of(v, base + i * 4096ull)) {
                const uint64_t e = env_.table(*l1)[((base >> 12) + i) & 511];
                if (e & pte::P) {
                    frames[i] = (e & pte::ADDR_MASK) >> 12;
                    s = pt_.get_page_and_type(Mfn(frames[i]), PageType::SegDesc);
                }
            }
            if (!s) {
                while (i-- > 0) pt_.put_page_and_type(Mfn(frames[i]));
                return Err::InvalidArgument;
            }
        }
        for (unsigned i = 0; i < (v.ldt_entries + 511) / 512; i++) pt_.put_page_and_type(Mfn(v.ldt_frames[i]));
        for (unsigned i = 0; i < PvBasePtrs::kLdtFrames; i++) v.ldt_frames[i] = frames[i];
        v.ldt_base = ents ? base : 0;
        v.ldt_entries = ents;
        v.reload_ldt = true;
        return Status::success();
    }

  private:
    bool owned(Mfn m) {
        const FrameInfo* f = env_.frame(m);
        return f && f->owner == env_.domain() && (f->flags & kFrameGuest);
    }

    // A guest address: canonical and outside the hypervisor's range.
    static Status guest_va(uint64_t va) {
        const uint64_t top = va >> 47;
        if (top != 0 && top != 0x1ffff) return Err::InvalidArgument;
        if (va >= 0xffff800000000000ull && va < 0xffff880000000000ull) return Err::InvalidArgument;
        return Status::success();
    }

    static uint64_t mask_of(const mmuext_op& op) {
        // The vcpumask guest handle (a pointer, or a struct of one,
        // depending on the interface version): its first 8 bytes.
        uint64_t p = 0;
        __builtin_memcpy(&p, &op.arg2, sizeof p);
        return p;
    }

  public:
    // The kernel L4 a NEW_BASEPTR replaced gives up its reference and type
    // use, once the CPU no longer has it loaded.
    void drop_old_root(PvBasePtrs& v) {
        if (!v.old_kernel_l4) return;
        pt_.put_page_and_type(Mfn(v.old_kernel_l4));
        v.old_kernel_l4 = 0;
    }

  private:

    // Makes `slot` (an L4 base pointer) name `mfn` (0 = none): the new L4
    // takes a reference and a type use first, then the old gives its up.
    Status switch_l4(uint64_t& slot, uint64_t mfn) {
        if (mfn) TRY(pt_.get_page_and_type(Mfn(mfn), PageType::L4));
        if (slot) pt_.put_page_and_type(Mfn(slot));
        slot = mfn;
        return Status::success();
    }

    Status take_writable(Mfn m) { return pt_.get_page_and_type(m, PageType::Writable); }
    void drop_writable(Mfn m) { pt_.put_page_and_type(m); }

    PageTables<Env>& pt_;
    Env& env_;
};

} // namespace virtue::pv
