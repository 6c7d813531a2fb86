// two-process: one native domain, two address spaces ("processes").
//
// The parent snapshots its own image into a second address space
// (virtue::fork_image), gives that process a stack the parent cannot see,
// and runs a thread there. Each process then has its own copy of every
// global: what one writes, the other never sees. The child's exit status
// comes back through thread_join.
#include <virtue/sdk.hpp>

namespace {

using virtue::print;

constexpr uint64_t kChildStack = 0x0000600000000000ull; // mapped in the child only
constexpr uint64_t kStackPages = 4;

int g_value = 1;

int64_t child(void* arg) {
    print("two-process: child sees value %d\n", g_value);
    g_value = 100; // the child's copy
    print("two-process: child set value %d\n", g_value);
    return g_value + reinterpret_cast<int64_t>(arg);
}

int fail(const char* what, virtue::Errno e) {
    print("two-process: %s failed: %s\n", what, virtue::name(e));
    return 1;
}

} // namespace

int main() {
    virtue::AddressSpace proc;
    if (auto r = virtue::AddressSpace::create(proc); !r) return fail("aspace_create", r.error());
    virtue::Memory image;
    if (auto r = virtue::fork_image(proc, image); !r) return fail("fork_image", r.error());
    g_value = 2; // after the snapshot: the child keeps 1

    virtue::Memory stack;
    if (auto r = virtue::Memory::create(kStackPages, stack); !r) return fail("memory_create", r.error());
    if (auto r = proc.map(kChildStack, stack, 0, kStackPages * 4096, virtue::Prot::read | virtue::Prot::write); !r)
        return fail("map stack", r.error());

    virtue::Thread t;
    if (auto r = virtue::Thread::create_in(proc, child, reinterpret_cast<void*>(5), kChildStack + kStackPages * 4096, t);
        !r)
        return fail("thread_create", r.error());
    if (auto r = t.start(); !r) return fail("thread_start", r.error());
    int64_t status = -1;
    if (auto r = t.join(VIRTUE_DEADLINE_NONE, &status); !r) return fail("thread_join", r.error());
    print("two-process: child exited with %lld, parent still sees value %d\n", static_cast<long long>(status),
          g_value);
    return status == 105 && g_value == 2 ? 0 : 1;
}
