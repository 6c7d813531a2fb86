// In-domain fault handling: a ring-3 exception of a thread goes,
// as a message, to a handler thread of the same domain instead of killing
// the domain.
//
// A handler is registered for an address space (faults of every thread
// running in it) or for one thread (which wins over its address space's).
// Delivery, in the faulting thread's own exception path: the thread records
// the fault, marks itself "suspend requested" and "fault pending", queues
// itself on the handler's fault queue, wakes the handler and stops as if
// suspended (thread_suspend's machinery). The handler takes the fault once
// the thread has stopped, so it can read and write its registers, fix the
// mapping and thread_resume it (the instruction runs again) or thread_kill
// it. The hypervisor never waits for the handler: only the faulting thread
// waits. With no handler, or when the faulting thread is itself a
// registered handler, or its handler has exited, the domain dies as before;
// faults still queued to a handler when it exits die the same way.
//
// Who may answer: any thread holding the faulting thread's handle with
// RIGHT_WRITE. A resume or kill before the handler took the fault takes it
// off the queue in the same critical section (fault_release_thread), so a
// thread is on a queue exactly while its fault is pending and untaken, and
// on at most one.
//
// Locking: registrations, the queues (fault_queue, fault_next,
// fault_owner), fault_taker and the "handler gone" flag are under
// Domain::lock; queue
// changes also take the handler's `faults` Waitable lock (its readiness)
// inside it. fault_pending and the stop state are under the faulting
// thread's events lock, taken inside Domain::lock when both are needed.
//
// Registrations live in a small table per domain (Domain::fault_handlers,
// under Domain::lock) that names targets and handlers by pointer without
// holding references; a thread or address space that is destroyed removes
// its entries first, so the table never points at a freed object.
#pragma once

#include <stdint.h>

#include "arch/descriptors.hpp"
#include "cap/handle_table.hpp"
#include "lib/result.hpp"

namespace virtue {

struct Domain;
struct Thread;

// What a faulting thread reports (kept in the Thread while it waits).
struct FaultRecord {
    uint64_t vector = 0;
    uint64_t error_code = 0;
    uint64_t address = 0; // CR2 for #PF
    uint64_t rip = 0;
};

struct FaultHandlerEntry {
    const KObject* target = nullptr; // an AddressSpace's or Thread's kobj; nullptr: free
    Thread* handler = nullptr;
};

// Registers (handler != nullptr) or removes the handler for target.
// Err::NoMemory when no frame is left for the table, Err::NoSpace when it
// is full; Err::InvalidArgument when target is the handler thread itself.
Status fault_handler_set(Domain& d, const KObject& target, Thread* handler);

// Forgets every entry naming obj as target or handler (its destroy path).
void fault_handlers_forget(Domain& d, const KObject& obj);

// The current thread took exception frame.vector in ring 3: queue it to its
// handler and return true (it stops on its way back to ring 3), or return
// false (no usable handler: the caller kills the domain).
bool fault_deliver(arch::InterruptFrame& frame);

// For the handler: waits for the next unanswered fault queued to the
// calling thread, takes it off the queue and waits for its thread to have
// stopped: 0, *out = the faulting thread (with a reference the caller
// drops) and *record = its fault, or kWaitTimedOut / kWaitInterrupted. The
// fault counts as taken by the caller until it is answered.
int64_t fault_take(uint64_t deadline_ns, Thread** out, FaultRecord* record);
// Puts a taken fault back at the head of the queue (the handler could not
// be told about it), unless it was answered meanwhile. Drops *faulting's
// reference in that case, otherwise the queue keeps it.
void fault_untake(Thread& faulting);

// Lets a stopped (suspended or faulted) or stopping thread go on: resume
// and kill. Under t's domain lock and then its events lock, `change(t,
// ctx)` decides — an error to refuse, Release::Nothing for nothing to do,
// Release::Go to go on, making its own changes — and then, in the same
// hold, the stop request is cleared, a pending fault is answered (t leaves
// its handler's queue, so the handler never sees an answered fault) and
// suspenders waiting for the stop wake. Returns change's verdict; the
// caller makes t runnable on Release::Go.
enum class Release : uint8_t { Go, Nothing };
Result<Release> fault_release_thread(Thread& t, Result<Release> (*change)(Thread& t, void* ctx), void* ctx);

// t exits or is destroyed: it leaves the queue it is on, and as a handler
// it takes no more faults; faults still queued to it, or taken by it and
// not answered, kill the domain (nobody is left to answer them, as if there
// were no handler).
void fault_thread_gone(Thread& t);

} // namespace virtue
