// In-domain fault handling (domain/fault.hpp).
#include "domain/fault.hpp"

#include "arch/cpu.hpp"
#include "arch/paging.hpp"
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

bool queue_not_empty(Waitable& w, void*) {
    Thread& h = *reinterpret_cast<Thread*>(reinterpret_cast<char*>(&w) - offsetof(Thread, faults));
    return h.fault_head != nullptr;
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
    if (!free_entry) return Err::NoMemory;
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
    {
        IrqLockGuard guard(d.lock);
        // A handler that faults has nobody to ask: the domain dies.
        if (is_handler_locked(d, t)) return false;
        Thread* h = lookup_locked(d, t.kobj);
        if (!h) h = lookup_locked(d, t.aspace->kobj);
        if (!h) return false;
        // h is alive: a thread leaves the table (under this lock) before it
        // is destroyed.
        IrqLockGuard queue_guard(h->faults.lock);
        if (h->exited) return false;
        t.fault = {frame.vector, frame.error_code, frame.vector == 14 ? arch::read_cr2() : 0, frame.rip};
        kobject_ref(t.kobj); // the queue's reference
        t.fault_next = nullptr;
        if (h->fault_tail) h->fault_tail->fault_next = &t;
        else h->fault_head = &t;
        h->fault_tail = &t;
        h->faults.wake_all_locked();
    }
    // Stop before the next instruction in ring 3 (user_return_work), as if
    // suspended: the handler resumes or kills this thread.
    IrqLockGuard guard(t.events.lock);
    __atomic_store_n(&t.suspend_requested, true, __ATOMIC_RELEASE);
    return true;
}

int64_t fault_take(uint64_t deadline_ns, Thread** out) {
    Thread& self = *current_thread();
    if (int64_t r = wait_until(self.faults, deadline_ns, queue_not_empty, nullptr); r != 0) return r;
    IrqLockGuard guard(self.faults.lock);
    Thread* t = self.fault_head; // not empty: only this thread takes
    self.fault_head = t->fault_next;
    if (!self.fault_head) self.fault_tail = nullptr;
    t->fault_next = nullptr;
    *out = t; // the queue's reference goes to the caller
    return 0;
}

void fault_untake(Thread& faulting) {
    Thread& self = *current_thread();
    IrqLockGuard guard(self.faults.lock);
    faulting.fault_next = self.fault_head;
    self.fault_head = &faulting;
    if (!self.fault_tail) self.fault_tail = &faulting;
}

} // namespace virtue
