// Thread objects: creation, start, exit, reaping and destruction.
#include "domain/thread.hpp"

#include "arch/cpu.hpp"
#include "arch/descriptors.hpp"
#include "core/panic.hpp"
#include "domain/domain.hpp"
#include "lib/string.hpp"
#include "mm/memory.hpp"
#include "ipc/endpoint.hpp"
#include "sched/scheduler.hpp"
#include "vm/address_space.hpp"

namespace virtue {
namespace {

constexpr uint64_t kThreadOverheadBytes(uint64_t heap_bytes) { return heap_bytes + kKernelStackBytes; }

// A thread is ready for join/wait_any once it has exited.
bool thread_exited(Waitable& w, bool) {
    Thread& t = *reinterpret_cast<Thread*>(reinterpret_cast<char*>(&w) - offsetof(Thread, events));
    return t.exited;
}

// The last reference is gone: the thread is New (never started) or has been
// reaped, so no CPU and no queue knows it any more.
void destroy_thread(KObject* o) {
    Thread* t = &kobject_cast<Thread>(o);
    Domain& d = *t->domain;
    fault_handlers_forget(d, t->kobj);
    {
        IrqLockGuard guard(d.lock);
        d.threads[t->slot] = nullptr;
        d.thread_count--;
    }
    // A handler that never ran: its queued faults have nobody to answer.
    fault_thread_gone(*t);
    if (t->kernel_stack.top) kernel_stack_free(t->kernel_stack);
    kobject_unref(t->aspace->kobj);
    __atomic_fetch_sub(&d.overhead_bytes, kThreadOverheadBytes(heap_footprint(sizeof(Thread))), __ATOMIC_RELAXED);
    t->~Thread();
    (void)heap_free(t);
}

} // namespace

Result<Thread*> thread_create(Domain& d, AddressSpace& aspace, uint64_t entry, uint64_t user_rsp, uint64_t a0,
                              uint64_t a1, uint64_t a2) {
    auto mem = heap_alloc(sizeof(Thread));
    if (!mem) return mem.error();
    if (reinterpret_cast<uint64_t>(*mem) & 15) panic("heap returned a misaligned Thread");
    auto stack = kernel_stack_alloc();
    if (!stack) {
        (void)heap_free(*mem);
        return stack.error();
    }
    Thread* t = new (*mem) Thread();
    {
        IrqLockGuard guard(d.lock);
        uint32_t slot = 0;
        while (slot < kMaxThreadsPerDomain && d.threads[slot]) slot++;
        if (slot == kMaxThreadsPerDomain) {
            t->~Thread();
            (void)heap_free(t);
            kernel_stack_free(*stack);
            return Err::NoSpace;
        }
        t->slot = slot;
        t->id = d.next_thread_id++;
        d.threads[slot] = t;
        d.thread_count++;
    }
    t->domain = &d;
    t->kernel_stack = *stack;
    t->entity.account = &d.account;
    t->entity.level = kThreadPriorityDefault;
    t->events.ready = thread_exited;
    t->kobj.destroy = destroy_thread;
    t->aspace = &aspace;
    kobject_ref(aspace.kobj);
    arch::fpu_init_state(t->fpu);
    __atomic_fetch_add(&d.overhead_bytes, kThreadOverheadBytes(heap_footprint(sizeof(Thread))), __ATOMIC_RELAXED);

    // The first switch_context to this thread "returns" into
    // thread_first_entry, which leaves to ring 3 through this frame.
    arch::InterruptFrame& frame = t->user_frame();
    memset(&frame, 0, sizeof frame);
    frame.rip = entry;
    frame.cs = arch::RING3_CS64;
    frame.rflags = 0x202;
    frame.rsp = user_rsp;
    frame.ss = arch::RING3_DS;
    frame.rdi = a0;
    frame.rsi = a1;
    frame.rdx = a2;
    auto* sw = reinterpret_cast<uint64_t*>(&frame) - 7; // r15 r14 r13 r12 rbx rbp, return address
    for (int i = 0; i < 6; i++) sw[i] = 0;
    sw[6] = reinterpret_cast<uint64_t>(&thread_first_entry);
    t->kernel_rsp = reinterpret_cast<uint64_t>(sw);
    return t;
}

Status thread_start(Thread& t, uint32_t cpu_hint) {
    Domain& d = *t.domain;
    {
        IrqLockGuard guard(t.events.lock);
        if (t.started) return Err::Busy;
        if (d.dying()) return Err::NoSuchDomain;
        t.started = true;
        t.stopped = false;
    }
    kobject_ref(t.kobj);                                // the run reference
    __atomic_fetch_add(&d.refs, 1, __ATOMIC_ACQ_REL);    // released by thread_reap
    __atomic_fetch_add(&d.live_threads, 1, __ATOMIC_ACQ_REL);
    sched_start_thread(t, cpu_hint);
    return Status::success();
}

void thread_exit_current(int64_t status) {
    Thread& t = *current_thread();
    Domain& d = *t.domain;
    fault_thread_gone(t);
    ipc_thread_exit(t); // its caller must not wait for a reply that cannot come
    hypercall_drop_progress(t); // a preempted call it will not continue
    vm_release_all(t);          // memory objects it released, now
    {
        IrqLockGuard guard(t.events.lock);
        t.exit_status = status;
        t.exited = true;
        t.events.wake_all_locked();
    }
    __atomic_store_n(&d.last_thread_status, status, __ATOMIC_RELEASE);
    if (__atomic_sub_fetch(&d.live_threads, 1, __ATOMIC_ACQ_REL) == 0)
        domain_kill(d, status, "its last thread exited");
    sched_exit_current();
}

void thread_reap(Thread& t) {
    Domain& d = *t.domain;
    kernel_stack_free(t.kernel_stack);
    t.kernel_stack = {};
    kobject_unref(t.kobj);
    domain_put(d);
}

} // namespace virtue
