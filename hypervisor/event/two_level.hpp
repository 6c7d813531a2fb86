// Xen's 2-level event-channel ABI: the bit logic on a domain's shared_info
// (pending and mask bitmaps) and a vCPU's vcpu_info (selector word, upcall
// flag). Pure functions on the shared structures, so that a Xen PV guest
// later reads exactly what a native domain's ports set now; host-tested
// (tests/unit/evtchn_two_level_test.cpp).
//
// Every bit is changed atomically: the domain itself clears pending and
// selector bits and sets mask bits concurrently (it owns the page).
#pragma once

#include <stdint.h>
#include <xen/xen.h>

namespace virtue::two_level {

inline constexpr uint32_t kBitsPerWord = sizeof(xen_ulong_t) * 8;
inline constexpr uint32_t kMaxPorts = kBitsPerWord * kBitsPerWord; // 4096 on x86_64

inline xen_ulong_t bit_of(uint32_t n) { return xen_ulong_t{1} << (n % kBitsPerWord); }

inline bool test_and_set(xen_ulong_t* words, uint32_t n) {
    return __atomic_fetch_or(&words[n / kBitsPerWord], bit_of(n), __ATOMIC_SEQ_CST) & bit_of(n);
}
inline bool test_and_clear(xen_ulong_t* words, uint32_t n) {
    return __atomic_fetch_and(&words[n / kBitsPerWord], ~bit_of(n), __ATOMIC_SEQ_CST) & bit_of(n);
}
inline bool test(const xen_ulong_t* words, uint32_t n) {
    return __atomic_load_n(&words[n / kBitsPerWord], __ATOMIC_SEQ_CST) & bit_of(n);
}

enum class Delivery {
    Idle,           // unmask: nothing was pending
    AlreadyPending, // nothing changed: the event merges with the pending one
    Masked,         // now pending, but masked: no upcall until unmasked
    Flagged,        // pending, and its word flagged in the selector (upcall already raised)
    Upcall,         // pending, flagged, and the vCPU's upcall newly raised: kick it
};

// Raises the upcall flag of a vCPU whose selector got a new word: Upcall if
// it was not raised yet.
inline Delivery raise(vcpu_info& v, uint32_t port) {
    if (test_and_set(&v.evtchn_pending_sel, port / kBitsPerWord)) return Delivery::Flagged;
    return __atomic_exchange_n(&v.evtchn_upcall_pending, uint8_t{1}, __ATOMIC_SEQ_CST) ? Delivery::Flagged
                                                                                       : Delivery::Upcall;
}

// An event on `port`, to be noticed by vCPU `v`.
inline Delivery set_pending(shared_info& s, vcpu_info& v, uint32_t port) {
    if (test_and_set(s.evtchn_pending, port)) return Delivery::AlreadyPending;
    if (test(s.evtchn_mask, port)) return Delivery::Masked;
    return raise(v, port);
}

// EVTCHNOP_unmask: clears the mask; an event that came while masked is
// delivered now. A port that was not masked is left alone (as in Xen).
inline Delivery unmask(shared_info& s, vcpu_info& v, uint32_t port) {
    if (!test_and_clear(s.evtchn_mask, port)) return Delivery::Idle;
    if (!test(s.evtchn_pending, port)) return Delivery::Idle;
    return raise(v, port);
}

// A native wait's view: pending and not masked.
inline bool ready(const shared_info& s, uint32_t port) {
    return test(s.evtchn_pending, port) && !test(s.evtchn_mask, port);
}

// Takes a ready event (a native wait reports it): true if there was one.
inline bool consume(shared_info& s, uint32_t port) {
    if (test(s.evtchn_mask, port)) return false;
    return test_and_clear(s.evtchn_pending, port);
}

// A port that closes leaves no pending event behind for its next user.
inline void clear(shared_info& s, uint32_t port) { test_and_clear(s.evtchn_pending, port); }

} // namespace virtue::two_level
