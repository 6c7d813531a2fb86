// In-domain fault handling (domain/fault.hpp).
#include "domain/fault.hpp"

#include "arch/cpu.hpp"
#include "arch/paging.hpp"
#include "console/console.hpp"
#include "mm/memory.hpp"
#include "domain/domain.hpp"
#include "sched/scheduler.hpp"
#include "sched/wait.hpp"
#include "vm/address_space.hpp"

namespace virtue {
namespace {

// The table's entries (none before the first registration).
struct Entries {
    FaultHandlerEntry* first;
    FaultHandlerEntry* begin() const { return first; }
    FaultHandlerEntry* end() const { return first ? first + kFaultHandlerSlots : nullptr; }
};
Entries entries(Domain& d) { return {d.fault_handlers}; }

Thread* lookup_locked(Domain& d, const KObject& target) {
    for (const FaultHandlerEntry& e : entries(d))
        if (e.target == &target) return e.handler;
    return nullptr;
}

bool is_handler_locked(Domain& d, const Thread& t) {
    for (const FaultHandlerEntry& e : entries(d))
        if (e.target && e.handler == &t) return true;
    return false;
}

// Queue edits, under d.lock; the handler's Waitable lock too (readiness).
void enqueue_locked(Thread& h, Thread& t) {
    IrqLockGuard queue(h.faults.lock);
    h.fault_queue.push_back(t);
    t.fault_owner = &h;
    h.faults.wake_all_locked();
}

Thread* pop_locked(Thread& h) {
    IrqLockGuard queue(h.faults.lock);
    Thread* t = h.fault_queue.pop();
    if (t) t->fault_owner = nullptr;
    return t;
}

// Takes t off the queue it is on; true if it was on one (the caller drops
// the queue's reference).
bool dequeue_locked(Thread& t) {
    Thread* h = t.fault_owner;
    if (!h) return false;
    IrqLockGuard queue(h->faults.lock);
    h->fault_queue.remove(t);
    t.fault_owner = nullptr;
    return true;
}

bool queue_not_empty(Waitable& w, void*) {
    Thread& h = *reinterpret_cast<Thread*>(reinterpret_cast<char*>(&w) - offsetof(Thread, faults));
    return !h.fault_queue.empty();
}

} // namespace

Status fault_handler_set(Domain& d, const KObject& target, Thread* handler) {
    static_assert(kFaultHandlerSlots * sizeof(FaultHandlerEntry) <= PAGE_SIZE);
    if (handler && &handler->kobj == &target) return Err::InvalidArgument;
    if (handler && !__atomic_load_n(&d.fault_handlers, __ATOMIC_ACQUIRE)) {
        // The table comes from the partition (zeroed), at the first use.
        auto frame = domain_alloc_frame(d);
        if (!frame) return Err::NoMemory;
        bool installed = false;
        {
            IrqLockGuard guard(d.lock);
            if (!d.fault_handlers) {
                d.fault_handlers = arch::phys_ptr<FaultHandlerEntry>(to_phys(*frame));
                installed = true;
            }
        }
        if (!installed) domain_free_frame(d, *frame); // another thread was first
    }
    IrqLockGuard guard(d.lock);
    FaultHandlerEntry* free_entry = nullptr;
    for (FaultHandlerEntry& e : entries(d)) {
        if (e.target == &target) {
            if (handler) e.handler = handler;
            else e = {};
            return Status::success();
        }
        if (!e.target && !free_entry) free_entry = &e;
    }
    if (!handler) return Status::success();
    if (!free_entry) return Err::NoSpace;
    *free_entry = {&target, handler};
    return Status::success();
}

void fault_handlers_forget(Domain& d, const KObject& obj) {
    IrqLockGuard guard(d.lock);
    for (FaultHandlerEntry& e : entries(d))
        if (e.target == &obj || (e.handler && &e.handler->kobj == &obj)) e = {};
}

bool fault_deliver(arch::InterruptFrame& frame) {
    Thread& t = *current_thread();
    Domain& d = *t.domain;
    const FaultRecord record{frame.vector, frame.error_code, frame.vector == 14 ? arch::read_cr2() : 0, frame.rip};
    IrqLockGuard guard(d.lock);
    // A handler that faults has nobody to ask: the domain dies.
    if (is_handler_locked(d, t)) return false;
    Thread* h = lookup_locked(d, t.kobj);
    if (!h) h = lookup_locked(d, t.aspace->kobj);
    // h is alive: a thread leaves the table (under this lock) before it is
    // destroyed. A running thread is on no queue (answering takes it off).
    if (!h || h->faults_closed || t.fault_owner) return false;
    {
        // The stop request with the fault, under both locks: an answer
        // (which clears both under both) sees all of it or none.
        IrqLockGuard events(t.events.lock);
        t.fault = record;
        t.fault_pending = true;
        __atomic_store_n(&t.suspend_requested, true, __ATOMIC_RELEASE);
    }
    kobject_ref(t.kobj); // the queue's reference
    enqueue_locked(*h, t);
    // The thread stops before its next instruction in ring 3
    // (user_return_work), as if suspended.
    return true;
}

int64_t fault_take(uint64_t deadline_ns, Thread** out, FaultRecord* record) {
    Thread& self = *current_thread();
    Domain& d = *self.domain;
    for (;;) {
        if (int64_t r = wait_until(self.faults, deadline_ns, queue_not_empty, nullptr); r != 0) return r;
        Thread* f;
        {
            IrqLockGuard guard(d.lock);
            f = pop_locked(self);
            if (f) f->fault_taker = &self;
        }
        if (!f) continue; // answered meanwhile
        // The faulting thread is on its way to stop (it cannot block before
        // that): wait for it, so that its registers can be read at once.
        int64_t r = wait_until(f->events, deadline_ns, [](Waitable&, void* ctx) {
            Thread& th = *static_cast<Thread*>(ctx);
            return th.stopped || th.exited || !th.fault_pending;
        }, f);
        if (r != 0) {
            fault_untake(*f);
            return r;
        }
        bool usable;
        {
            IrqLockGuard guard(d.lock);
            IrqLockGuard events(f->events.lock);
            // Queued again: answered and faulted anew; the queue reports it.
            usable = f->stopped && f->fault_pending && !f->exited && !f->fault_owner;
            if (usable) *record = f->fault;
            else if (f->fault_taker == &self) f->fault_taker = nullptr;
        }
        if (usable) {
            *out = f; // the queue's reference goes to the caller
            return 0;
        }
        kobject_unref(f->kobj);
    }
}

void fault_untake(Thread& faulting) {
    Thread& self = *current_thread();
    Domain& d = *self.domain;
    bool keep;
    {
        IrqLockGuard guard(d.lock);
        {
            IrqLockGuard events(faulting.events.lock);
            keep = faulting.fault_pending;
        }
        keep = keep && !self.faults_closed && !faulting.fault_owner;
        if (faulting.fault_taker == &self) faulting.fault_taker = nullptr;
        if (keep) {
            IrqLockGuard queue(self.faults.lock);
            self.fault_queue.push_front(faulting);
            faulting.fault_owner = &self;
        }
    }
    if (!keep) kobject_unref(faulting.kobj);
}

Result<Release> fault_release_thread(Thread& t, Result<Release> (*change)(Thread& t, void* ctx), void* ctx) {
    bool dropped = false;
    Result<Release> verdict = Release::Nothing;
    {
        IrqLockGuard domain_guard(t.domain->lock); // the fault queues
        bool answered = false;
        {
            IrqLockGuard guard(t.events.lock);
            verdict = change(t, ctx);
            if (verdict && *verdict == Release::Go) {
                __atomic_store_n(&t.suspend_requested, false, __ATOMIC_RELEASE);
                t.stopped = false;
                answered = t.fault_pending; // resuming or killing answers a fault
                t.fault_pending = false;
                t.events.wake_all_locked(); // a suspender waiting for the stop gives up
            }
        }
        if (answered) {
            t.fault_taker = nullptr;
            dropped = dequeue_locked(t);
        }
    }
    if (dropped) kobject_unref(t.kobj); // the queue's; the caller holds one too
    return verdict;
}

void fault_thread_gone(Thread& t) {
    Domain& d = *t.domain;
    // Unlinked under the lock into a local list: once it is dropped, an
    // orphan may be resumed, fault again and join another queue.
    Thread* orphans[kMaxThreadsPerDomain];
    uint32_t n = 0;
    bool taken_unanswered = false, dropped;
    {
        IrqLockGuard guard(d.lock);
        t.faults_closed = true;
        dropped = dequeue_locked(t);
        {
            IrqLockGuard queue(t.faults.lock);
            while (n < kMaxThreadsPerDomain)
                if (Thread* f = t.fault_queue.pop()) {
                    f->fault_owner = nullptr;
                    orphans[n++] = f;
                } else {
                    break;
                }
        }
        for (Thread* other : d.threads)
            if (other && other->fault_taker == &t) {
                other->fault_taker = nullptr;
                taken_unanswered = true;
            }
    }
    if ((n || taken_unanswered) && !d.dying()) {
        log_error("d%u '%s': fault handler thread %u is gone with faults unanswered: domain killed", d.id, d.name,
                  t.id);
        domain_kill(d, -1, "a fault handler left faults unanswered");
    }
    for (uint32_t i = 0; i < n; i++) kobject_unref(orphans[i]->kobj);
    if (dropped) kobject_unref(t.kobj); // the exiting thread's run reference keeps it
}

} // namespace virtue
