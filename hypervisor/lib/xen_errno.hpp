// Err -> the Xen ABI's codes: the one translation, read from the table in
// lib/errors.def. Only the hypercall boundary uses it (the generated glue of
// both families, and the per-operation statuses of the grant calls).
#pragma once

#include <stdint.h>
#include <xen/errno.h>
#include <xen/xen.h>
#include <xen/grant_table.h>

#include "lib/result.hpp"

namespace virtue {

// Xen's own internal ERESTART (85; xen/errno.h shows it only to Xen
// itself): the code of a preempted call, which never reaches a caller.
inline constexpr int kRestartErrno = 85;

// The negated Xen errno a hypercall returns for e.
constexpr int64_t errno_of(Err e) {
    switch (e) {
#define ERR(name, errno_value, grant_status, text) \
    case Err::name: return -static_cast<int64_t>(errno_value);
#include "lib/errors.def"
#undef ERR
    }
    return -XEN_EINVAL;
}

// The GNTST_* status a grant operation reports for e.
constexpr int16_t grant_status_of(Err e) {
    switch (e) {
#define ERR(name, errno_value, grant_status, text) \
    case Err::name: return grant_status;
#include "lib/errors.def"
#undef ERR
    }
    return GNTST_general_error;
}

} // namespace virtue
