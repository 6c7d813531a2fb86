// Link-time test doubles of the kernel services (fakes/host_kernel.hpp).
#include "host_kernel.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>

#include "arch/paging.hpp"
#include "mm/memory.hpp"
#include "sched/scheduler.hpp"

namespace virtue {

// The hypervisor's panic (a broken invariant, an undeclared errno at the
// boundary, a lock taken out of rank) becomes an exception the test can
// expect.
[[noreturn]] void panic(const char* fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    throw std::runtime_error(buf);
}

namespace {

size_t g_heap_live = 0;

struct Partition {
    uint32_t capacity;
    std::vector<void*> frames; // handed out; freed with the domain
};

std::map<domid_t, Domain*>& registry() {
    static std::map<domid_t, Domain*> r;
    return r;
}
std::map<const Domain*, Partition>& partitions() {
    static std::map<const Domain*, Partition> p;
    return p;
}

host::SchedFake g_sched;

} // namespace

// ---- The heap ----
Result<void*> heap_alloc(size_t size) {
    void* p = std::malloc(size);
    if (!p) return Err::NoMemory;
    g_heap_live++;
    return p;
}

Status heap_free(void* p) {
    if (!p) return Err::InvalidArgument;
    std::free(p);
    g_heap_live--;
    return Status::success();
}

size_t heap_footprint(size_t size) { return (size + 15) & ~size_t{15}; }

// ---- Domains ----
Result<Domain*> domain_get(domid_t id) {
    auto it = registry().find(id);
    if (it == registry().end()) return Err::NoSuchDomain;
    Domain* d = it->second;
    if (d->current_state() == DomainState::Building || d->refs == 0) return Err::NoSuchDomain;
    d->refs++;
    return d;
}

void domain_put(Domain& d) { d.refs--; } // the test's TestDomain holds the last one

Result<Mfn> domain_alloc_frame(Domain& d) {
    Partition& p = partitions().at(&d);
    if (p.frames.size() >= p.capacity) return Err::NoMemory;
    void* frame = std::aligned_alloc(PAGE_SIZE, PAGE_SIZE);
    if (!frame) return Err::NoMemory;
    std::memset(frame, 0, PAGE_SIZE);
    p.frames.push_back(frame);
    return PhysAddr(reinterpret_cast<uintptr_t>(frame)).mfn(); // arch::phys_ptr maps it back
}

// ---- The scheduler ----
Thread* current_thread() { return g_sched.current; }

void sched_prepare_wait() { g_sched.current->wake_pending = false; }

void sched_wake(Thread& t) {
    g_sched.woken.push_back(&t);
    t.wake_pending = true;
}

WakeReason sched_block(uint64_t deadline_ns) {
    Thread& self = *g_sched.current;
    g_sched.blocks++;
    if (!self.wake_pending && !g_sched.meanwhile.empty()) {
        auto step = std::move(g_sched.meanwhile.front());
        g_sched.meanwhile.pop_front();
        step();
        g_sched.current = &self;
    }
    if (self.wake_pending) {
        self.wake_pending = false;
        return WakeReason::Signaled;
    }
    if (g_sched.interrupt.erase(&self)) return WakeReason::Interrupted;
    if (deadline_ns != kNoDeadline) return WakeReason::Timeout;
    g_sched.stuck++;
    return WakeReason::Interrupted; // the only way out of a wait nobody ends
}

Thread* sched_handoff_ref(Thread& t) {
    g_sched.handoff_refs++;
    return &t;
}

void sched_handoff_release(Thread&) { g_sched.handoff_refs--; }

WakeReason sched_block_handoff(Thread& target, uint64_t deadline_ns) {
    g_sched.handoffs++;
    sched_wake(target);
    sched_handoff_release(target);
    return sched_block(deadline_ns);
}

namespace host {

TestDomain::TestDomain(domid_t id, uint32_t frames, uint32_t vcpus, bool with_shared_info) : d_(new Domain()) {
    d_->id = id;
    d_->vcpus = vcpus;
    d_->refs = 1;
    d_->state.store(DomainState::Running, MemOrder::Release);
    partitions()[d_.get()] = Partition{frames, {}};
    registry()[id] = d_.get();
    if (with_shared_info) {
        auto frame = domain_alloc_frame(*d_);
        if (frame) d_->events.shared = arch::phys_ptr<shared_info>(to_phys(*frame));
    }
}

TestDomain::~TestDomain() {
    registry().erase(d_->id);
    for (void* f : partitions()[d_.get()].frames) std::free(f);
    partitions().erase(d_.get());
}

uint32_t TestDomain::frames_left() const {
    const Partition& p = partitions().at(d_.get());
    return p.capacity - static_cast<uint32_t>(p.frames.size());
}

size_t heap_live() { return g_heap_live; }

SchedFake& sched_fake() { return g_sched; }

void sched_fake_reset(Thread* self) {
    g_sched = SchedFake{};
    g_sched.current = self;
}

} // namespace host
} // namespace virtue
