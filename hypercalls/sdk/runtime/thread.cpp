// virtue::Thread, fork_image: threads and processes inside a native domain.
#include <virtue/objects.hpp>
#include <virtue/sdk.hpp>

#include "internal.hpp"

extern "C" {
extern const uintptr_t __stack_chk_guard; // stack_chk.cpp
extern char __image_start[], __image_rodata_start[], __image_data_start[], __image_end[]; // domain.ld
void __virtue_thread_entry();               // crt0.S
[[noreturn]] void __virtue_thread_start(virtue::Thread::Fn fn, void* arg);
}

// First C++ code of a virtue::Thread: its %fs block (word 0 points at the
// block itself, word 5 is the stack-protector canary) lives in this frame,
// which never returns.
void __virtue_thread_start(virtue::Thread::Fn fn, void* arg) {
    alignas(64) uint64_t block[8] = {};
    block[0] = reinterpret_cast<uint64_t>(block);
    block[5] = __stack_chk_guard;
    if (!virtue::sys::set_tls_base(reinterpret_cast<uint64_t>(block))) virtue::sys::thread_exit(-1);
    int64_t status = fn(arg);
    virtue::sys::thread_exit(status);
    __builtin_unreachable();
}

namespace virtue {

Thread::~Thread() {
    if (joined_) free(block_);
}

Result<void> Thread::create(Fn fn, void* arg, Thread& out, size_t stack_bytes) {
    if (stack_bytes < 4096) stack_bytes = 4096;
    void* stack = malloc(stack_bytes);
    if (!stack) return Errno::enomem;
    AddressSpace self;
    Result<uint64_t> r = Errno::enomem;
    if (Result<void> s = AddressSpace::self(self); !s) {
        r = s.error();
    } else {
        uint64_t top = (reinterpret_cast<uint64_t>(stack) + stack_bytes) & ~uint64_t{15};
        r = sys::thread_create(self.get(), reinterpret_cast<uint64_t>(&__virtue_thread_entry), top,
                               reinterpret_cast<uint64_t>(fn), reinterpret_cast<uint64_t>(arg));
    }
    if (!r) {
        free(stack);
        return r;
    }
    if (out.joined_) free(out.block_);
    out.reset(*r);
    out.block_ = stack;
    out.joined_ = false;
    return {};
}

Result<void> Thread::create_in(const AddressSpace& as, Fn fn, void* arg, uint64_t stack_top, Thread& out) {
    Result<uint64_t> r = sys::thread_create(as.get(), reinterpret_cast<uint64_t>(&__virtue_thread_entry), stack_top,
                                            reinterpret_cast<uint64_t>(fn), reinterpret_cast<uint64_t>(arg));
    if (!r) return r;
    if (out.joined_) free(out.block_);
    out.reset(*r);
    out.block_ = nullptr;
    out.joined_ = false;
    return {};
}

Result<void> Thread::join(uint64_t deadline_ns, int64_t* status) {
    Result<void> r = sys::thread_join(get(), deadline_ns, status);
    if (r) joined_ = true;
    return r;
}

Result<void> fork_image(const AddressSpace& as, Memory& image_out) {
    const uint64_t start = reinterpret_cast<uint64_t>(__image_start);
    const uint64_t end = (reinterpret_cast<uint64_t>(__image_end) + 4095) & ~uint64_t{4095};
    const uint64_t size = end - start;
    Memory mem;
    VIRTUE_TRY(Memory::create(size / 4096, mem));
    // Copy through a temporary window in our own address space.
    AddressSpace self;
    VIRTUE_TRY(AddressSpace::self(self));
    constexpr uint64_t kWindow = 0x7f0000000000;
    VIRTUE_TRY(self.map(kWindow, mem, 0, size, Prot::read | Prot::write));
    __builtin_memcpy(reinterpret_cast<void*>(kWindow), __image_start, size);
    VIRTUE_TRY(self.unmap(kWindow, size));
    // The image's own protections: text R+X, rodata R, data R+W
    // (domain.ld's segments; here by the linker's section symbols).
    const uint64_t ro = reinterpret_cast<uint64_t>(__image_rodata_start);
    const uint64_t rw = reinterpret_cast<uint64_t>(__image_data_start);
    struct Part {
        uint64_t from, to;
        Prot prot;
    } parts[] = {
        {start, ro, Prot::read | Prot::exec},
        {ro, rw, Prot::read},
        {rw, end, Prot::read | Prot::write},
    };
    for (const Part& p : parts) {
        if (p.from == p.to) continue;
        VIRTUE_TRY(as.map(p.from, mem, p.from - start, p.to - p.from, p.prot | Prot::map_small_pages));
    }
    image_out = static_cast<Memory&&>(mem);
    return {};
}

} // namespace virtue
