// Test doubles for the kernel services that the object state machines
// (event/evtchn.cpp, ipc/endpoint.cpp, sched/wait.cpp) call, so that the
// real sources run in the host unit tests.
//
// What is faked, at link time (host_kernel.cpp), and how:
//   - the heap (heap_alloc, heap_free, heap_footprint): malloc, counted;
//   - domains (domain_get, domain_put, domain_alloc_frame): TestDomain
//     below registers a Domain by id; its partition is a fixed number of
//     page-aligned blocks of host memory, named by frame numbers that
//     arch::phys_ptr (fakes/include/arch/paging.hpp) maps back;
//   - the scheduler (current_thread, sched_prepare_wait, sched_block,
//     sched_block_handoff, sched_wake, sched_handoff_ref/release): one host
//     thread plays every virtue Thread. A block runs the next queued
//     "meanwhile" step (what other threads do while this one sleeps), then
//     returns Signaled if that woke it, Interrupted if a test asked for it,
//     Timeout for a finite deadline, and otherwise counts a thread stuck
//     for ever (a test failure: nothing would have woken it).
// The wait protocol itself (sched/wait.cpp) and the lock-rank checks
// (lib/spinlock.cpp) are the real code.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <vector>

#include "domain/domain.hpp"

namespace virtue::host {

// A registered, running domain with a partition of `frames` host pages and
// (unless `shared_info` is false) its shared_info page taken from it, as the
// domain builder does.
class TestDomain {
  public:
    explicit TestDomain(domid_t id, uint32_t frames = 8, uint32_t vcpus = 1, bool shared_info = true);
    ~TestDomain();
    TestDomain(const TestDomain&) = delete;
    TestDomain& operator=(const TestDomain&) = delete;

    Domain& operator*() { return *d_; }
    Domain* operator->() { return d_.get(); }
    shared_info& shared() { return *d_->events.shared; }
    uint32_t frames_left() const;
    void mark_dying() { d_->state.store(DomainState::Dying, MemOrder::Release); }

  private:
    std::unique_ptr<Domain> d_;
};

// Objects allocated with heap_alloc and not yet freed.
size_t heap_live();

struct SchedFake {
    Thread* current = nullptr;
    // Run by the next blocks, one each, with `current` as it was (a step
    // switches it to play another thread and must switch back).
    std::deque<std::function<void()>> meanwhile;
    std::set<Thread*> interrupt; // their next block returns Interrupted
    std::vector<Thread*> woken;  // every sched_wake, in order
    uint32_t blocks = 0;
    uint32_t handoffs = 0;       // sched_block_handoff calls
    int32_t handoff_refs = 0;    // taken and not yet consumed
    uint32_t stuck = 0;          // blocks nothing would ever have ended
};
SchedFake& sched_fake();
// A clean scheduler with `self` running.
void sched_fake_reset(Thread* self);

// Runs the scope as thread t (current_thread() == &t), then switches back.
class AsThread {
  public:
    explicit AsThread(Thread& t) : saved_(sched_fake().current) { sched_fake().current = &t; }
    ~AsThread() { sched_fake().current = saved_; }
    AsThread(const AsThread&) = delete;
    AsThread& operator=(const AsThread&) = delete;

  private:
    Thread* saved_;
};

} // namespace virtue::host
