// Access to the calling domain's memory from hypercalls.
//
// Every pointer a domain passes is an untrusted integer. A range is usable
// only if it lies wholly in [0, USER_LIMIT) without wrapping, and every page
// of it is mapped user-accessible in the calling thread's address space (writable
// for outputs) — checked before anything is copied, so a refused call has
// no effect. The copy itself still recovers from a fault (another thread
// of the domain may change its mappings meanwhile) with -EFAULT.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace virtue {

enum class UserAccess { Read, Write };

// True if [addr, addr+len) passes the range and mapping checks (len 0: true).
bool user_range_ok(uint64_t addr, uint64_t len, UserAccess access);

// 0, or -XEN_EFAULT. Both check first, then copy.
int64_t copy_from_user(void* dst, uint64_t user_src, uint64_t len);
int64_t copy_to_user(uint64_t user_dst, const void* src, uint64_t len);

} // namespace virtue
