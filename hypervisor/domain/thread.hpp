// Threads: the schedulable part of a domain.
//
// A thread runs in one of its domain's address spaces. Life cycle:
//
//   New --thread_start--> Runnable <-> Running -> Dead
//                            ^  |  \-> Blocked (wait, sleep, join) --wake/deadline--^
//                            |  \--> Suspended (stopped on its way to ring 3) --resume--^
//
// A thread that is New or Suspended is "stopped": its ring-3 registers (the
// InterruptFrame at the top of its kernel stack) can be read and written.
// Suspending a blocked thread interrupts its wait (the call returns -EAGAIN
// when it is resumed), so a suspend always completes.
//
// References (KObject): a creator's (boot threads: the domain's until
// domain_start; others: the handle thread_create returns), one per handle,
// and one "run" reference from thread_start until the scheduler has
// switched away from the dead thread. The domain's thread slots point at
// live Thread objects without holding a reference; the object removes
// itself when it is destroyed.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "arch/user_entry.hpp"
#include "cap/handle_table.hpp"
#include "domain/fault.hpp"
#include "domain/kernel_stack.hpp"
#include "lib/intrusive_queue.hpp"
#include "lib/result.hpp"
#include "sched/credit.hpp"
#include "sched/wait.hpp"

namespace virtue {

struct Domain;
struct AddressSpace;
struct MemRegion;
struct IpcCall;
struct IpcFastWait;
struct Thread;

enum class ThreadState : uint8_t { New, Runnable, Running, Blocked, Suspended, Dead };

enum class WakeReason : uint8_t { Signaled, Timeout, Interrupted };

// A preempted hypercall whose progress cannot live in its argument
// registers (because the caller must find them unchanged) keeps it here
// (sched/scheduler.hpp: continuations). It is taken only by the same call
// re-executed at the same address with the same argument registers. When
// a later call of the thread saves or looks for progress, or the thread
// exits, a progress left behind is dropped: `drop` gives back whatever
// its values hold (a half-built object).
struct CallProgress {
    static constexpr unsigned kValues = 4;
    using DropFn = void (*)(Thread& t, const uint64_t (&value)[kValues]);
    bool armed = false;
    uint64_t nr = 0;
    uint64_t rip = 0;
    uint64_t args[6] = {};
    uint64_t value[kValues] = {};
    DropFn drop = nullptr;
};

// What the thread's ring-3 code is, which decides what its `syscall`, its
// faults and its pointers mean (entry/syscall.cpp, vm/user_memory.cpp):
// a native domain's thread, or a Xen PV vCPU in its guest kernel or its
// guest user mode (the PV personality switches the two).
enum class GuestMode : uint8_t { Native, PvKernel, PvUser };

// What a personality does when its thread is switched in or out on a CPU
// (a PV vCPU: its GDT entries and runstate); nullptr for native threads.
struct ThreadSwitchOps {
    void (*in)(Thread& t);  // now the CPU's current thread, before it returns to ring 3
    void (*out)(Thread& t); // no longer running here
};

// Priorities within a domain's share (sched/credit.hpp: Entity::level).
inline constexpr uint32_t kThreadPriorityMax = 15;
inline constexpr uint32_t kThreadPriorityDefault = 8;

struct Thread {
    uint64_t kernel_rsp = 0;       // first: switch_context's save slot (while not running)
    KernelStack kernel_stack;      // guarded, from the pool (kernel_stack.hpp); none for idle
    Domain* domain = nullptr;      // nullptr: a CPU's idle context
    uint32_t id = 0;               // unique in the domain, never reused
    uint32_t slot = 0;             // index in Domain::threads
    uint32_t xen_vcpu = 0;         // the vCPU it acts as in the Xen family (boot thread i: i)
    GuestMode guest_mode = GuestMode::Native;
    ThreadState state = ThreadState::New; // under the lock of the CPU in `cpu` (sched/scheduler.cpp)
    uint32_t cpu = 0;              // CPU whose queue/sleep list holds it, or that runs it

    // Blocking (under the lock of the CPU in `cpu`).
    uint64_t wake_at_ns = 0;       // Blocked with a deadline: on the CPU's sleep list
    bool has_deadline = false;
    bool wake_pending = false;     // a wake came while it was not (yet) blocked
    bool hold_paused = false;      // switched out inside a call whose hold is measured (sched/preempt.cpp)
    WakeReason wake_reason = WakeReason::Signaled;
    Thread* sleep_next = nullptr;  // per-CPU sleep list, sorted by wake_at_ns

    // Suspension: suspend_requested under the CPU lock; `stopped` under
    // events.lock (register access checks it there).
    bool suspend_requested = false;
    bool stopped = true;           // New or Suspended: registers are stable
    bool started = false;
    bool exited = false;           // under events.lock
    int64_t exit_status = 0;
    // Signaled when the thread stops (suspend) or exits (join, wait_any).
    Waitable events;
    // thread_kill: exit with kill_status on the way to ring 3.
    bool kill_requested = false;
    int64_t kill_status = 0;

    // In-domain fault handling (domain/fault.hpp). As a faulting thread:
    // what happened and whether it still waits for an answer (under
    // events.lock), the queue it is on and its link there (under the
    // domain's lock). As a handler: the queue of faulting threads (each
    // holding a reference; under the domain's lock and faults.lock; ready
    // while not empty), and whether it has gone (takes no more faults).
    FaultRecord fault;
    bool fault_pending = false;
    Thread* fault_owner = nullptr; // the handler whose queue holds it
    Thread* fault_taker = nullptr; // the handler that took its fault, until answered
    Thread* fault_next = nullptr;
    Waitable faults;
    IntrusiveQueue<Thread, &Thread::fault_next> fault_queue;
    bool faults_closed = false;

    // Synchronous IPC (ipc/endpoint.hpp): the call this thread received as
    // a server and has not answered yet (it holds a reference).
    IpcCall* reply_to = nullptr;
    // While it waits in ipc_wait: where a client may deliver a call
    // directly (under the endpoint's `servers` lock).
    IpcFastWait* ipc_fast = nullptr;
    // As a client: the call object of its last call, kept for the next
    // (no heap allocation per call); counted in the domain's overhead from
    // the first one kept until the thread exits.
    IpcCall* spare_call = nullptr;
    bool spare_call_counted = false;

    // A preempted call's progress (CallProgress above).
    CallProgress progress;

    // Memory objects of its domain whose last reference this thread
    // dropped: their frames go back in steps on its way to ring 3
    // (vm/address_space.hpp: vm_release_step), so that closing a large
    // region or address space never keeps the CPU long.
    MemRegion* releasing_regions = nullptr;
    AddressSpace* releasing_aspaces = nullptr;

    uint64_t fs_base = 0;          // user FS base (set_tls_base)
    uint64_t gs_base = 0;          // ring-3 GS base (a PV vCPU's, of its current guest mode; native: 0)
    bool fpu_trap = false;         // runs with CR0.TS set (a PV vCPU's fpu_taskswitch(1))
    // Set by the thread's switch hooks for its personality: something to do
    // before its next return to ring 3 (a PV vCPU's failsafe callback).
    bool resume_work = false;
    // The personality's state for this thread (a PV vCPU's PvVcpu), set
    // once before the thread starts; the core never reads it.
    void* personality = nullptr;
    const ThreadSwitchOps* switch_ops = nullptr;
    // A Xen multicall running one of its calls: a continuation of that
    // call goes into these six arguments, not into the thread's registers.
    uint64_t* continue_into = nullptr;
    AddressSpace* aspace = nullptr; // where it runs (holds a reference)
    sched::Entity entity;
    KObject kobj{ObjType::Thread, 1, nullptr};
    arch::FpuState fpu;

    // The ring-3 registers, saved at the top of the kernel stack.
    arch::InterruptFrame& user_frame() const {
        return *reinterpret_cast<arch::InterruptFrame*>(kernel_stack.top - sizeof(arch::InterruptFrame));
    }
};

// A new thread of d (New, not runnable) that will enter ring 3 in `aspace`
// at `entry` with `user_rsp`, rdi = a0, rsi = a1, rdx = a2 and every other
// register zero. Err::NoSpace when the domain has kMaxThreadsPerDomain
// threads, Err::NoMemory without hypervisor memory.
Result<Thread*> thread_create(Domain& d, AddressSpace& aspace, uint64_t entry, uint64_t user_rsp, uint64_t a0,
                              uint64_t a1, uint64_t a2);

// New -> Runnable (takes the run reference and a domain reference).
// Err::Busy if it was started before; Err::NoSuchDomain if the domain is dying.
Status thread_start(Thread& t, uint32_t cpu_hint);

// Ends the calling thread (it is the running one). The last started thread
// of a domain to exit ends the domain with its status.
[[noreturn]] void thread_exit_current(int64_t status);

// The scheduler's last step for a dead thread, on another stack: frees its
// kernel stack and drops the run reference.
void thread_reap(Thread& t);

} // namespace virtue
