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

int fail(const char* what, int64_t rc) {
    print("two-process: %s failed: %lld\n", what, static_cast<long long>(rc));
    return 1;
}

} // namespace

int main() {
    virtue::AddressSpace proc;
    if (int64_t rc = virtue::AddressSpace::create(proc); rc < 0) return fail("aspace_create", rc);
    virtue::Memory image;
    if (int64_t rc = virtue::fork_image(proc, image); rc < 0) return fail("fork_image", rc);
    g_value = 2; // after the snapshot: the child keeps 1

    virtue::Memory stack;
    if (int64_t rc = virtue::Memory::create(kStackPages, stack); rc < 0) return fail("memory_create", rc);
    if (int64_t rc = proc.map(kChildStack, stack, 0, kStackPages * 4096, VIRTUE_PROT_READ | VIRTUE_PROT_WRITE); rc < 0)
        return fail("map stack", rc);

    virtue::Thread t;
    if (int64_t rc = virtue::Thread::create_in(proc, child, reinterpret_cast<void*>(5),
                                               kChildStack + kStackPages * 4096, t);
        rc < 0)
        return fail("thread_create", rc);
    if (int64_t rc = t.start(); rc < 0) return fail("thread_start", rc);
    int64_t status = -1;
    if (int64_t rc = t.join(VIRTUE_DEADLINE_NONE, &status); rc < 0) return fail("thread_join", rc);
    print("two-process: child exited with %lld, parent still sees value %d\n", static_cast<long long>(status),
          g_value);
    return status == 105 && g_value == 2 ? 0 : 1;
}
