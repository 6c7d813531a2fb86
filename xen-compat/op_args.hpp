// Helpers shared by the Xen-family handlers: the calling domain, and Xen's
// in/out argument structs copied from and back to the caller.
#pragma once

#include <stdint.h>
#include <string.h>
#include <xen/xen.h>

#include "domain/domain.hpp"
#include "vm/user_memory.hpp"
#include "lib/result.hpp"
#include "sched/scheduler.hpp"

namespace virtue::xen {

inline Domain& self() { return *current_thread()->domain; }

inline bool names_self(domid_t dom) { return dom == DOMID_SELF || dom == self().id; }

// For in/out ops: copies the op in, runs fn (returning a Status) on it,
// copies it back out when fn succeeds.
template <typename Op, typename Fn> CallResult with_op(uint64_t arg, Fn fn) {
    Op op;
    TRY(copy_from_user(&op, arg, sizeof op));
    TRY(fn(op));
    TRY(copy_to_user(arg, &op, sizeof op));
    return 0;
}

// For ops Xen only reads: copies the op in and runs fn on it; nothing is
// written back (the op may sit in read-only memory).
template <typename Op, typename Fn> CallResult with_input(uint64_t arg, Fn fn) {
    Op op;
    TRY(copy_from_user(&op, arg, sizeof op));
    TRY(fn(op));
    return 0;
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
