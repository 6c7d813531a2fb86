// A PV guest's reservation: the frames of its partition that are its RAM
// now (kFrameGuest), and the two calls that change it
// (XENMEM_decrease_reservation, XENMEM_populate_physmap, and
// increase_reservation, which is populate without a PFN).
//
// Memory is never overcommitted: the partition was made for the guest's
// maximum, so a frame the guest gives back stays in the partition (the
// guest cannot reach it any more) and populating takes it from there. The
// maximum is the RAM the guest booted with.
//
// A PV guest is not translated: it names frames by MFN and keeps its own
// P2M. Giving a frame back, with Xen's semantics: any frame of its RAM is
// no longer the guest's at once (no new entry, pin or request may name it,
// its M2P entry is invalid), and returns to the partition when nothing
// names it any more: at once for a frame no entry maps, as Linux's balloon
// leaves them; otherwise when the last entry naming it goes, or the guest
// unpins it (PageTables::put_page). Until then it counts in the
// reservation, as in Xen. Populating: a new zeroed frame,
// the guest's RAM from then on, its M2P entry the PFN the guest gave.
//
// Env (the PV MMU's, pv_page_tables.hpp, with give_back, plus):
//   Result<Mfn> take_frame()   a zeroed frame from the partition, counted in
//                              the reservation; Err::NoMemory at the
//                              maximum or with the partition empty
// Not thread-safe: the caller holds the domain's PV MMU lock.
#pragma once

#include <stdint.h>

#include "lib/result.hpp"
#include "mm/frame_table.hpp"
#include "pv_page_tables.hpp"

namespace virtue::pv {

inline constexpr uint64_t kM2pInvalid = ~uint64_t{0};

template <typename Env>
class Reservation {
  public:
    Reservation(Env& env, PageTables<Env>& tables) : env_(env), tables_(tables) {}

    // One frame given back. Err::InvalidArgument: not the guest's RAM (or
    // being validated, which no call of the guest's can see).
    Status release(Mfn m) {
        FrameInfo* f = env_.frame(m);
        if (!f || f->owner != env_.domain() || !(f->flags & kFrameGuest) || (f->flags & kFrameValidating))
            return Err::InvalidArgument;
        f->flags = static_cast<uint8_t>((f->flags & ~kFrameGuest) | kFrameGivenBack);
        env_.m2p_set(m, kM2pInvalid);
        if (f->ref_count == 0) tables_.give_back_now(m);
        return Status::success();
    }

    // One new frame for PFN pfn (kM2pInvalid: none). Err::NoMemory.
    Result<Mfn> populate(uint64_t pfn) {
        auto m = env_.take_frame();
        if (!m) return m.error();
        FrameInfo& f = *env_.frame(*m);
        f.flags |= kFrameGuest;
        f.type = PageType::None;
        env_.m2p_set(*m, pfn);
        return *m;
    }

  private:
    Env& env_;
    PageTables<Env>& tables_;
};

} // namespace virtue::pv
