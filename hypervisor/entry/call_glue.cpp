// The boundary's error translation (entry/call_glue.hpp).
#include "entry/call_glue.hpp"

#include "core/panic.hpp"
#include "lib/xen_errno.hpp"

namespace virtue {

int64_t abi_error(const char* family, const char* name, ErrnoSet declared, Err e) {
    const int64_t r = errno_of(e);
    if (e == Err::Restart) return r; // the entry restarts the call (entry/syscall.cpp)
#if defined(VIRTUE_DEBUG) || defined(VIRTUE_HOST_TEST)
    if (!declared.contains(static_cast<int>(-r)))
        panic("%s call %s returned errno %ld (%s), which its definition does not list", family, name, -r,
              err_name(e));
#else
    (void)family;
    (void)name;
    (void)declared;
#endif
    return r;
}

} // namespace virtue
