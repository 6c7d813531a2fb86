// Helpers shared by the Xen-family handlers: the calling domain, and Xen's
// in/out argument structs copied from and back to the caller.
#pragma once

#include <stdint.h>
#include <string.h>
#include <xen/xen.h>

#include "domain/domain.hpp"
#include "native/user_memory.hpp"
#include "sched/scheduler.hpp"

namespace virtue::xen {

inline Domain& self() { return *current_thread()->domain; }

inline bool names_self(domid_t dom) { return dom == DOMID_SELF || dom == self().id; }

// For in/out ops: copies the op in, runs fn on it, copies it back out when
// fn succeeds.
template <typename Op, typename Fn> int64_t with_op(uint64_t arg, Fn fn) {
    Op op;
    if (int64_t r = copy_from_user(&op, arg, sizeof op); r < 0) return r;
    int64_t r = fn(op);
    if (r < 0) return r;
    if (int64_t c = copy_to_user(arg, &op, sizeof op); c < 0) return c;
    return r;
}

// For ops Xen only reads: copies the op in and runs fn on it; nothing is
// written back (the op may sit in read-only memory).
template <typename Op, typename Fn> int64_t with_input(uint64_t arg, Fn fn) {
    Op op;
    if (int64_t r = copy_from_user(&op, arg, sizeof op); r < 0) return r;
    return fn(op);
}

// The address in a XEN_GUEST_HANDLE field (a pointer, or a struct holding
// one, depending on __XEN_INTERFACE_VERSION__).
template <typename Handle> uint64_t guest_address(const Handle& h) {
    static_assert(sizeof h == sizeof(uint64_t));
    uint64_t a;
    memcpy(&a, &h, sizeof a);
    return a;
}

} // namespace virtue::xen
