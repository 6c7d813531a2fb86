// C++ runtime support: operator new/delete over virtue::malloc, pure virtual
// calls, atexit (used for the destructors of function-local statics under
// -fno-use-cxa-atexit; global ones go to .fini_array).
#include "internal.hpp"
#include "virtue/sdk.hpp"

namespace {

void* allocate(size_t n) {
    void* p = virtue::malloc(n);
    if (p == nullptr) virtue::panic("operator new(%zu): out of memory", n);
    return p;
}

} // namespace

void* operator new(size_t n) { return allocate(n); }
void* operator new[](size_t n) { return allocate(n); }
void operator delete(void* p) noexcept { virtue::free(p); }
void operator delete[](void* p) noexcept { virtue::free(p); }
void operator delete(void* p, size_t) noexcept { virtue::free(p); }
void operator delete[](void* p, size_t) noexcept { virtue::free(p); }

extern "C" {

[[noreturn]] void __cxa_pure_virtual() { virtue::panic("pure virtual function called"); }

// Static destructors registered by constructors; start.cpp runs them (last
// registered first) when main returns.
namespace {
constexpr int kMaxAtexit = 64;
void (*g_atexit[kMaxAtexit])();
int g_atexit_count = 0;
virtue::detail::SpinLock g_atexit_lock;
} // namespace

int atexit(void (*fn)()) {
    virtue::detail::LockGuard guard(g_atexit_lock);
    if (g_atexit_count == kMaxAtexit) return -1;
    g_atexit[g_atexit_count++] = fn;
    return 0;
}

void __virtue_run_atexit() {
    for (;;) {
        void (*fn)() = nullptr;
        {
            virtue::detail::LockGuard guard(g_atexit_lock);
            if (g_atexit_count == 0) return;
            fn = g_atexit[--g_atexit_count];
        }
        fn();
    }
}

} // extern "C"
