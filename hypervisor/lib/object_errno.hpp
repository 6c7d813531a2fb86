// Err -> Xen errno for the calls on shared objects of both hypercall
// families (event channels, grants, endpoints): one table, so that the
// native and the Xen family report the same failure the same way.
#pragma once

#include <stdint.h>
#include <xen/errno.h>

#include "lib/result.hpp"

namespace virtue {

inline int64_t object_errno(Err e) {
    switch (e) {
    case Err::Range: return -XEN_ENOSPC;      // a table is full
    case Err::NoMemory: return -XEN_ENOMEM;
    case Err::NotFound: return -XEN_ESRCH;    // no such (live) domain, or it is dying
    case Err::Exists: return -XEN_EEXIST;
    case Err::Permission: return -XEN_EPERM;  // not offered to the caller
    case Err::Busy: return -XEN_EBUSY;
    case Err::Fault: return -XEN_EFAULT;
    default: return -XEN_EINVAL;
    }
}

} // namespace virtue
