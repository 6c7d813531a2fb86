// Xen grant-table v1 entries (xen/grant_table.h): the bit protocol between
// a granting domain, which writes an entry, and the hypervisor, which pins
// it while another domain maps or copies the frame. Pure functions on the
// shared entry, host-tested (tests/unit/grant_entry_test.cpp).
//
// The hypervisor changes flags and reads domid as one 32-bit word with
// compare-exchange, because a Xen guest writes its entries at any time: a
// pin succeeds only on an entry that, at that instant, permits access to
// the pinning domain (and writing, for a write pin). GTF_reading stays set
// while any pin exists, GTF_writing while a write pin exists; a granter may
// end an entry only when neither is set.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/grant_table.h>

namespace virtue::grant {

enum class PinResult { Ok, NotGranted, OtherDomain, ReadOnly };

namespace detail {
inline uint32_t* combo(grant_entry_v1_t& e) { return reinterpret_cast<uint32_t*>(&e); }
inline uint16_t flags_of(uint32_t c) { return static_cast<uint16_t>(c & 0xffff); }
inline domid_t domid_of(uint32_t c) { return static_cast<domid_t>(c >> 16); }
static_assert(offsetof(grant_entry_v1_t, flags) == 0 && offsetof(grant_entry_v1_t, domid) == 2);
} // namespace detail

// Marks e in use by `mapper` (GTF_reading, plus GTF_writing for a write).
inline PinResult pin(grant_entry_v1_t& e, domid_t mapper, bool write) {
    uint32_t old = __atomic_load_n(detail::combo(e), __ATOMIC_ACQUIRE);
    for (;;) {
        const uint16_t f = detail::flags_of(old);
        if ((f & GTF_type_mask) != GTF_permit_access) return PinResult::NotGranted;
        if (detail::domid_of(old) != mapper) return PinResult::OtherDomain;
        if (write && (f & GTF_readonly)) return PinResult::ReadOnly;
        const uint32_t want = old | GTF_reading | (write ? GTF_writing : 0u);
        if (want == old) return PinResult::Ok;
        if (__atomic_compare_exchange_n(detail::combo(e), &old, want, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return PinResult::Ok;
    }
}

// The last write pin went (clear GTF_writing) and/or the last pin of any
// kind went (clear GTF_reading).
inline void unpin(grant_entry_v1_t& e, bool last_writer, bool last_pin) {
    uint16_t clear = static_cast<uint16_t>((last_writer ? GTF_writing : 0u) | (last_pin ? GTF_reading | GTF_writing : 0u));
    if (clear) __atomic_fetch_and(&e.flags, static_cast<uint16_t>(~clear), __ATOMIC_ACQ_REL);
}

// Fills a free entry: frame and domid first, flags last (the order a
// granter must use, so that no one sees flags for a half-written entry).
inline void grant_access(grant_entry_v1_t& e, uint32_t frame, domid_t to, bool readonly) {
    e.frame = frame;
    e.domid = to;
    __atomic_store_n(&e.flags, static_cast<uint16_t>(GTF_permit_access | (readonly ? GTF_readonly : 0u)),
                     __ATOMIC_RELEASE);
}

// Ends a grant unless it is in use: true and the entry is invalid, or false
// (GTF_reading or GTF_writing set) and the entry is unchanged.
inline bool end_access(grant_entry_v1_t& e) {
    uint16_t old = __atomic_load_n(&e.flags, __ATOMIC_ACQUIRE);
    do {
        if (old & (GTF_reading | GTF_writing)) return false;
    } while (!__atomic_compare_exchange_n(&e.flags, &old, uint16_t{0}, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    return true;
}

inline bool is_granted(const grant_entry_v1_t& e) {
    return (__atomic_load_n(&e.flags, __ATOMIC_ACQUIRE) & GTF_type_mask) == GTF_permit_access;
}

} // namespace virtue::grant
