// What runs between crt0's _start and the author's main / thread_main.
#include "internal.hpp"
#include "virtue/sdk.hpp"

// The author's entry points. main is reached through an asm label (C++ does
// not allow calling ::main); thread_main is optional, hence weak.
extern int virtue_user_main() asm("main");
[[gnu::weak]] int thread_main(unsigned index);

extern "C" {
// domain.ld
extern void (*__init_array_start[])();
extern void (*__init_array_end[])();
extern void (*__fini_array_start[])();
extern void (*__fini_array_end[])();
// cxx.cpp
void __virtue_run_atexit();
// stack_chk.cpp
extern const uintptr_t __stack_chk_guard;

[[noreturn]] void __virtue_start(const void* fdt, uint64_t fdt_size, uint64_t thread_index);
}

namespace {

// Set by thread 0 once the boot information is recorded and the static
// constructors have run; the other threads wait for it.
bool g_ready = false;

// One block per thread for %fs: word 0 points at the block itself (the x86-64
// TLS convention), word 5 (offset 0x28) is the stack-protector canary that
// GCC-compiled code such as libfdt reads.
constexpr unsigned kMaxThreads = 64; // the hypervisor's limit per domain
struct alignas(64) ThreadBlock {
    uint64_t words[8];
};
ThreadBlock g_thread_blocks[kMaxThreads];

void set_up_thread_block(uint64_t index) {
    ThreadBlock& b = g_thread_blocks[index % kMaxThreads];
    b.words[0] = reinterpret_cast<uint64_t>(&b);
    b.words[5] = __stack_chk_guard;
    if (!virtue::sys::set_tls_base(reinterpret_cast<uint64_t>(&b))) virtue::sys::exit(-1);
}

[[noreturn]] void sleep_forever() {
    for (;;) (void)virtue::sys::sleep_until(UINT64_MAX);
}

} // namespace

void __virtue_start(const void* fdt, uint64_t fdt_size, uint64_t thread_index) {
    set_up_thread_block(thread_index); // before anything that may use %fs
    if (thread_index != 0) {
        // Started at the same time as thread 0: touch nothing shared until it
        // has initialised the runtime.
        while (!__atomic_load_n(&g_ready, __ATOMIC_ACQUIRE)) virtue::sys::yield();
        if (thread_main) thread_main(static_cast<unsigned>(thread_index));
        sleep_forever();
    }
    virtue::detail::bootinfo_init(fdt, fdt_size);
    for (void (**ctor)() = __init_array_start; ctor != __init_array_end; ctor++) (*ctor)();
    __atomic_store_n(&g_ready, true, __ATOMIC_RELEASE);
    int status = virtue_user_main();
    // Like C's exit: atexit handlers, then the static destructors, each last
    // registered first. (A domain ended by sys::exit skips both.)
    __virtue_run_atexit();
    for (void (**dtor)() = __fini_array_end; dtor != __fini_array_start;) (*--dtor)();
    virtue::sys::exit(status);
}
