// The native family's calls (definitions in hypercalls/native.toml; the
// dispatch table is generated into native_dispatch.hpp) and the `syscall`
// entry's dispatcher for both families.
#include <xen/errno.h>

#include "arch/cpu.hpp"
#include "arch/percpu.hpp"
#include "arch/user_entry.hpp"
#include "console/console.hpp"
#include "domain/domain.hpp"
#include "domain/fault.hpp"
#include "event/evtchn.hpp"
#include "grant/grant_table.hpp"
#include "ipc/endpoint.hpp"
#include "xen-compat/hypercalls.hpp"
#include "lib/object_errno.hpp"
#include "lib/string.hpp"
#include "mm/memory.hpp"
#include "native/user_memory.hpp"
#include "native_dispatch.hpp"
#include "sched/scheduler.hpp"
#include "time/clock.hpp"
#include "time/timer_object.hpp"
#include "vm/address_space.hpp"

namespace virtue {
namespace {

constexpr uint64_t kConsoleIoMax = 4096;

Domain& caller() { return *current_thread()->domain; }

// Appends bytes to the domain's partial line, writing out whole lines.
void console_put_domain_bytes(Domain& d, const char* s, size_t len) {
    IrqLockGuard guard(d.lock);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\n' || d.line_len == kConsoleLineMax) {
            console_write_domain_line(d.name, d.line, d.line_len);
            d.line_len = 0;
            if (c == '\n') continue;
        }
        bool printable = (c >= 0x20 && c < 0x7f) || c == '\t';
        d.line[d.line_len++] = printable ? c : '?';
    }
}

} // namespace

namespace native {

int64_t call_console_write(uint64_t buf, uint64_t len) {
    if (len > kConsoleIoMax) return -XEN_EINVAL;
    char copy[kConsoleIoMax];
    Domain& d = caller();
    if (int64_t r = copy_from_user(copy, buf, len); r < 0) return r;
    console_put_domain_bytes(d, copy, len);
    return static_cast<int64_t>(len);
}

int64_t call_console_read(uint64_t buf, uint64_t len) {
    Domain& d = caller();
    if (!d.is_control()) return -XEN_EPERM;
    if (len > kConsoleIoMax) return -XEN_EINVAL;
    if (!user_range_ok(buf, len, UserAccess::Write)) return -XEN_EFAULT;
    char bytes[kConsoleIoMax];
    size_t n = console_read_input(bytes, len);
    if (int64_t r = copy_to_user(buf, bytes, n); r < 0) return r;
    return static_cast<int64_t>(n);
}

int64_t call_yield() {
    sched_yield();
    return 0;
}

int64_t call_sleep_until(uint64_t deadline_ns) {
    // Nothing wakes a sleeper but its deadline, a suspend or death; a
    // stray Signaled (a wake meant for an earlier wait) just sleeps again.
    for (;;) {
        sched_prepare_wait();
        WakeReason why = sched_block(deadline_ns);
        if (why == WakeReason::Timeout) return 0;
        if (why == WakeReason::Interrupted) return -XEN_EAGAIN;
    }
}

int64_t call_system_time() { return static_cast<int64_t>(system_time_ns()); }

int64_t call_domain_info(uint64_t info) {
    if (info & 7) return -XEN_EINVAL;
    Domain& d = caller();
    virtue_domain_info out;
    memset(&out, 0, sizeof out);
    out.domain_id = d.id;
    out.thread_id = current_thread()->id;
    out.memory_bytes = d.partition_frames << PAGE_SHIFT;
    out.free_bytes = d.free_frames << PAGE_SHIFT;
    out.vcpus = d.vcpus;
    out.weight = d.account.weight;
    out.cap = d.account.cap_percent;
    out.privileges = d.privileges;
    out.boot_info = d.boot_info_va;
    out.boot_info_size = d.boot_info_size;
    static_assert(sizeof out.name > kDomainNameMax);
    memcpy(out.name, d.name, strlen(d.name) + 1);
    if (int64_t r = copy_to_user(info, &out, sizeof out); r < 0) return r;
    return 0;
}

int64_t call_exit(uint64_t status) {
    domain_kill(caller(), static_cast<int64_t>(status), "exited");
    thread_exit_current(static_cast<int64_t>(status));
}

int64_t call_set_tls_base(uint64_t base) {
    if (base >= arch::USER_LIMIT) return -XEN_EINVAL;
    current_thread()->fs_base = base;
    arch::wrmsr(arch::MSR_FS_BASE, base);
    return 0;
}

namespace {
// Runs op on another live domain for a control-domain caller.
template <typename Op> int64_t on_other_domain(uint64_t domid, Op op) {
    Domain& self = caller();
    if (!self.is_control()) return -XEN_EPERM;
    if (domid == self.id) return -XEN_EINVAL;
    if (domid >= DOMID_FIRST_RESERVED) return -XEN_ESRCH;
    auto target = domain_get(static_cast<domid_t>(domid));
    if (!target) return -XEN_ESRCH;
    op(**target);
    domain_put(**target);
    return 0;
}
} // namespace

int64_t call_domain_pause(uint64_t domid) {
    return on_other_domain(domid, [](Domain& d) {
        domain_pause(d);
        log_info("d%u '%s' paused by d%u", d.id, d.name, caller().id);
    });
}

int64_t call_domain_unpause(uint64_t domid) {
    return on_other_domain(domid, [](Domain& d) {
        domain_unpause(d);
        log_info("d%u '%s' unpaused by d%u", d.id, d.name, caller().id);
    });
}

int64_t call_domain_destroy(uint64_t domid) {
    return on_other_domain(domid, [](Domain& d) { domain_kill(d, -9, "destroyed by the control domain"); });
}

namespace {
static_assert(static_cast<uint32_t>(ObjType::Thread) == VIRTUE_OBJ_THREAD);
static_assert(static_cast<uint32_t>(ObjType::AddressSpace) == VIRTUE_OBJ_ADDRESS_SPACE);
static_assert(static_cast<uint32_t>(ObjType::MemoryRegion) == VIRTUE_OBJ_MEMORY);
static_assert(static_cast<uint32_t>(ObjType::Timer) == VIRTUE_OBJ_TIMER);
static_assert(static_cast<uint32_t>(ObjType::EventChannel) == VIRTUE_OBJ_EVTCHN);
static_assert(static_cast<uint32_t>(ObjType::GrantMapping) == VIRTUE_OBJ_GRANT_MAPPING);
static_assert(kMaxGrants == VIRTUE_MAX_GRANTS);
static_assert(static_cast<uint32_t>(ObjType::Endpoint) == VIRTUE_OBJ_ENDPOINT && kIpcWords == 4);
static_assert(static_cast<uint32_t>(PortState::Interdomain) == VIRTUE_EVTCHN_INTERDOMAIN &&
              static_cast<uint32_t>(PortState::Unbound) == VIRTUE_EVTCHN_UNBOUND &&
              static_cast<uint32_t>(PortState::Ipi) == VIRTUE_EVTCHN_IPI &&
              static_cast<uint32_t>(PortState::Closed) == VIRTUE_EVTCHN_CLOSED && VIRTUE_DOMID_SELF == DOMID_SELF);
static_assert(kThreadPriorityDefault == VIRTUE_PRIORITY_DEFAULT);
static_assert(kMaxThreadsPerDomain == 64); // native.toml says so
static_assert(RIGHT_DUPLICATE == VIRTUE_RIGHT_DUPLICATE && RIGHT_TRANSFER == VIRTUE_RIGHT_TRANSFER);

int64_t handle_errno(Err e) {
    switch (e) {
    case Err::BadHandle: return -XEN_EBADF;
    case Err::ForeignHandle: return -XEN_EXDEV;
    case Err::WrongType: return -XEN_ENODEV;
    case Err::Permission: return -XEN_EACCES;
    case Err::NoMemory: return -XEN_EMFILE;
    default: return -XEN_EINVAL;
    }
}

int64_t new_handle(KObject& obj, uint32_t rights = RIGHTS_ALL) {
    Domain& d = caller();
    IrqLockGuard guard(d.handles_lock);
    auto h = d.handles.insert(obj, rights);
    return h ? static_cast<int64_t>(*h) : handle_errno(h.error());
}

// Errors of the vm/ layer.
int64_t vm_errno(Err e) {
    switch (e) {
    case Err::InvalidArgument: return -XEN_EINVAL;
    case Err::Fault: return -XEN_EFAULT;
    case Err::Range: return -XEN_ERANGE;
    case Err::Exists: return -XEN_EEXIST;
    case Err::NotFound: return -XEN_ENOENT;
    case Err::Permission: return -XEN_EACCES;
    case Err::NoMemory: return -XEN_ENOMEM;
    case Err::Busy: return -XEN_EBUSY;
    default: return -XEN_EINVAL;
    }
}

template <typename T> T& container_of_kobj(KObject* o) {
    return *reinterpret_cast<T*>(reinterpret_cast<char*>(o) - offsetof(T, kobj));
}

// A reference to the object behind a handle of the caller (dropped by the
// destructor, outside every lock), with the handle's rights.
template <typename T, ObjType kType> class HandleRef {
  public:
    HandleRef(uint64_t handle, uint32_t needed) {
        Domain& d = caller();
        IrqLockGuard guard(d.handles_lock);
        auto o = d.handles.get(handle, kType, needed, &rights_);
        if (!o) {
            error_ = handle_errno(o.error());
            return;
        }
        obj_ = *o;
    }
    ~HandleRef() {
        if (obj_) kobject_unref(*obj_);
    }
    HandleRef(const HandleRef&) = delete;
    HandleRef& operator=(const HandleRef&) = delete;
    int64_t error() const { return error_; } // 0 when the handle was good
    uint32_t rights() const { return rights_; }
    T& operator*() const { return container_of_kobj<T>(obj_); }

  private:
    KObject* obj_ = nullptr;
    int64_t error_ = 0;
    uint32_t rights_ = 0;
};
using AspaceRef = HandleRef<AddressSpace, ObjType::AddressSpace>;
using MemoryRef = HandleRef<MemRegion, ObjType::MemoryRegion>;
using ThreadRef = HandleRef<Thread, ObjType::Thread>;
using TimerRef = HandleRef<Timer, ObjType::Timer>;
using PortRef = HandleRef<EventPort, ObjType::EventChannel>;
using EndpointRef = HandleRef<Endpoint, ObjType::Endpoint>;

constexpr uint32_t kMemoryRights = VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER | VIRTUE_RIGHT_READ |
                                   VIRTUE_RIGHT_WRITE | VIRTUE_RIGHT_EXECUTE | VIRTUE_RIGHT_MAP;
constexpr uint32_t kAspaceRights = VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER | VIRTUE_RIGHT_READ |
                                   VIRTUE_RIGHT_EXECUTE | VIRTUE_RIGHT_MAP;
constexpr uint32_t kThreadRights =
    VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER | VIRTUE_RIGHT_READ | VIRTUE_RIGHT_WRITE;
constexpr uint32_t kTimerRights = kThreadRights;
// No RIGHT_TRANSFER: a port does not hold its domain (event/evtchn.hpp).
constexpr uint32_t kPortRights = VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_READ | VIRTUE_RIGHT_WRITE;

// A handle slot reserved before a call creates its object, so that a full
// table refuses the call (-EMFILE) before the object exists or any other
// domain can see it (a port bound to a peer, an endpoint connected).
class NewHandle {
  public:
    NewHandle() : d_(caller()) {
        IrqLockGuard guard(d_.handles_lock);
        auto slot = d_.handles.reserve();
        reserved_ = slot.ok();
        if (reserved_) slot_ = *slot;
    }
    ~NewHandle() {
        if (!reserved_) return;
        IrqLockGuard guard(d_.handles_lock);
        d_.handles.unreserve(slot_);
    }
    NewHandle(const NewHandle&) = delete;
    NewHandle& operator=(const NewHandle&) = delete;

    int64_t error() const { return reserved_ ? 0 : -XEN_EMFILE; }

    // Hands the creator's reference of the new object to the slot.
    int64_t publish(KObject& obj, uint32_t rights) {
        uint64_t h;
        {
            IrqLockGuard guard(d_.handles_lock);
            h = d_.handles.commit(slot_, obj, rights);
        }
        reserved_ = false;
        kobject_unref(obj);
        return static_cast<int64_t>(h);
    }

  private:
    Domain& d_;
    uint32_t slot_ = 0;
    bool reserved_ = false;
};
} // namespace

int64_t call_thread_self() { return new_handle(current_thread()->kobj, kThreadRights); }

int64_t call_address_space_self() { return new_handle(current_thread()->aspace->kobj, kAspaceRights); }

int64_t call_handle_duplicate(uint64_t handle, uint64_t rights) {
    if (rights >> 32) return -XEN_EINVAL;
    Domain& d = caller();
    IrqLockGuard guard(d.handles_lock);
    auto h = d.handles.duplicate(handle, static_cast<uint32_t>(rights));
    return h ? static_cast<int64_t>(*h) : handle_errno(h.error());
}

int64_t call_handle_close(uint64_t handle) {
    Domain& d = caller();
    KObject* obj;
    {
        IrqLockGuard guard(d.handles_lock);
        auto closed = d.handles.close(handle);
        if (!closed) return handle_errno(closed.error());
        obj = *closed;
    }
    kobject_unref(*obj); // outside the table's lock (handle_table.hpp)
    return 0;
}

int64_t call_handle_query(uint64_t handle, uint64_t info) {
    if (info & 3) return -XEN_EINVAL;
    Domain& d = caller();
    virtue_handle_info out{};
    {
        IrqLockGuard guard(d.handles_lock);
        auto q = d.handles.query(handle);
        if (!q) return handle_errno(q.error());
        out.type = static_cast<uint32_t>(q->type);
        out.rights = q->rights;
    }
    return copy_to_user(info, &out, sizeof out);
}

int64_t call_memory_create(uint64_t pages, uint64_t flags) {
    if (flags || pages == 0 || pages > kMaxRegionPages) return -XEN_EINVAL; // before a full table's -EMFILE
    NewHandle h;
    if (h.error()) return h.error();
    auto r = region_create(caller(), pages);
    if (!r) return vm_errno(r.error());
    return h.publish((*r)->kobj, kMemoryRights);
}

int64_t call_aspace_create() {
    NewHandle h;
    if (h.error()) return h.error();
    auto as = aspace_create(caller());
    if (!as) return as.error() == Err::Range ? -XEN_ENOSPC : vm_errno(as.error());
    return h.publish((*as)->kobj, kAspaceRights);
}

int64_t call_aspace_map(uint64_t aspace, uint64_t va, uint64_t memory, uint64_t offset, uint64_t size,
                        uint64_t prot) {
    AspaceRef as(aspace, VIRTUE_RIGHT_MAP);
    if (as.error()) return as.error();
    MemoryRef mem(memory, 0);
    if (mem.error()) return mem.error();
    MapRequest req{va, offset, size, prot, mem.rights()};
    Status s = aspace_map(*as, *mem, req);
    return s ? 0 : vm_errno(s.error());
}

int64_t call_aspace_unmap(uint64_t aspace, uint64_t va, uint64_t size) {
    AspaceRef as(aspace, VIRTUE_RIGHT_MAP);
    if (as.error()) return as.error();
    Status s = aspace_unmap(*as, va, size);
    return s ? 0 : vm_errno(s.error());
}

int64_t call_aspace_protect(uint64_t aspace, uint64_t va, uint64_t size, uint64_t prot) {
    AspaceRef as(aspace, VIRTUE_RIGHT_MAP);
    if (as.error()) return as.error();
    Status s = aspace_protect(*as, va, size, prot);
    return s ? 0 : vm_errno(s.error());
}

int64_t call_aspace_read_bits(uint64_t aspace, uint64_t va, uint64_t size, uint64_t flags, uint64_t bitmap) {
    const uint32_t needed = VIRTUE_RIGHT_READ | ((flags & VIRTUE_BITS_CLEAR) ? VIRTUE_RIGHT_MAP : 0);
    AspaceRef as(aspace, needed);
    if (as.error()) return as.error();
    auto n = aspace_read_bits(*as, va, size, flags, bitmap);
    return n ? static_cast<int64_t>(*n) : vm_errno(n.error());
}

int64_t call_memory_audit() { return static_cast<int64_t>(vm_audit(caller())); }

// ---- Threads ----

int64_t call_thread_create(uint64_t aspace, uint64_t entry, uint64_t stack, uint64_t arg0, uint64_t arg1) {
    AspaceRef as(aspace, VIRTUE_RIGHT_EXECUTE);
    if (as.error()) return as.error();
    if (entry >= arch::USER_LIMIT || stack > arch::USER_LIMIT || (stack & 15)) return -XEN_EINVAL;
    NewHandle h;
    if (h.error()) return h.error();
    auto t = thread_create(caller(), *as, entry, stack, arg0, arg1, 0);
    if (!t) return t.error() == Err::Range ? -XEN_ENOSPC : -XEN_ENOMEM;
    (*t)->xen_vcpu = current_thread()->xen_vcpu; // acts as its creator's vCPU
    return h.publish((*t)->kobj, kThreadRights);
}

namespace {
// Errors for operations that need a started, not exited thread; under
// t.events.lock.
int64_t started_alive_locked(const Thread& t) {
    if (t.exited) return -XEN_ESRCH;
    if (!t.started) return -XEN_EINVAL;
    return 0;
}
} // namespace

int64_t call_thread_start(uint64_t thread) {
    ThreadRef t(thread, VIRTUE_RIGHT_WRITE);
    if (t.error()) return t.error();
    Thread& th = *t;
    Status s = thread_start(th, th.id); // spread: an idle CPU is kicked at once
    if (!s) return s.error() == Err::Busy ? -XEN_EBUSY : -XEN_ESRCH;
    return 0;
}

int64_t call_thread_suspend(uint64_t thread) {
    ThreadRef t(thread, VIRTUE_RIGHT_WRITE);
    if (t.error()) return t.error();
    Thread& target = *t;
    {
        IrqLockGuard guard(target.events.lock);
        if (int64_t e = started_alive_locked(target)) return e;
        __atomic_store_n(&target.suspend_requested, true, __ATOMIC_RELEASE);
        if (target.stopped) return 0;
    }
    sched_interrupt(target); // a blocked target's call ends; a remote one enters the hypervisor
    if (&target == current_thread()) return 0; // stops on its way out of this call
    // The target stops at its next way to ring 3: wait for that (or for
    // its exit, or for someone resuming it first).
    int64_t r = wait_until(target.events, kNoDeadline, [](Waitable&, void* ctx) {
        Thread& th = *static_cast<Thread*>(ctx);
        return th.stopped || th.exited || !th.suspend_requested;
    }, &target);
    return r == 0 ? 0 : -XEN_EAGAIN;
}

int64_t call_thread_resume(uint64_t thread) {
    ThreadRef t(thread, VIRTUE_RIGHT_WRITE);
    if (t.error()) return t.error();
    Thread& target = *t;
    int64_t r = fault_release_thread(target, [](Thread& th, void*) -> int64_t {
        if (int64_t e = started_alive_locked(th)) return e;
        return th.suspend_requested ? 0 : 1; // not suspended: nothing to do
    }, nullptr);
    if (r < 0) return r;
    if (r == 0) sched_resume(target);
    return 0;
}

namespace {
constexpr uint64_t kUserFlags = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800; // CF PF AF ZF SF TF DF OF
constexpr uint64_t kFlagsFixed = 0x202;                                                  // IF, reserved bit 1

// Runs fn(frame) on a stopped thread's ring-3 registers, under its lock
// (a resume waits for it).
template <typename Fn> int64_t with_stopped_regs(Thread& t, Fn fn) {
    IrqLockGuard guard(t.events.lock);
    if (t.exited) return -XEN_ESRCH;
    if (!t.stopped) return -XEN_EBUSY;
    return fn(t.user_frame());
}
} // namespace

int64_t call_thread_read_regs(uint64_t thread, uint64_t regs) {
    if (regs & 7) return -XEN_EINVAL;
    ThreadRef t(thread, VIRTUE_RIGHT_READ);
    if (t.error()) return t.error();
    virtue_thread_regs out{};
    int64_t r = with_stopped_regs(*t, [&](const arch::InterruptFrame& f) {
        out = {f.rax, f.rbx, f.rcx, f.rdx, f.rsi, f.rdi, f.rbp, f.rsp, f.r8, f.r9, f.r10,
               f.r11, f.r12, f.r13, f.r14, f.r15, f.rip, f.rflags, 0};
        return int64_t{0};
    });
    if (r < 0) return r;
    Thread& th = *t;
    out.fs_base = th.fs_base;
    return copy_to_user(regs, &out, sizeof out); // outside the lock: it may fault
}

int64_t call_thread_write_regs(uint64_t thread, uint64_t regs) {
    if (regs & 7) return -XEN_EINVAL;
    ThreadRef t(thread, VIRTUE_RIGHT_WRITE);
    if (t.error()) return t.error();
    virtue_thread_regs in;
    if (int64_t r = copy_from_user(&in, regs, sizeof in); r < 0) return r;
    if (in.rip >= arch::USER_LIMIT || in.fs_base >= arch::USER_LIMIT) return -XEN_EINVAL;
    if (in.rflags & ~(kUserFlags | kFlagsFixed)) return -XEN_EINVAL;
    Thread& th = *t;
    return with_stopped_regs(th, [&](arch::InterruptFrame& f) {
        f.rax = in.rax, f.rbx = in.rbx, f.rcx = in.rcx, f.rdx = in.rdx, f.rsi = in.rsi, f.rdi = in.rdi;
        f.rbp = in.rbp, f.rsp = in.rsp, f.r8 = in.r8, f.r9 = in.r9, f.r10 = in.r10, f.r11 = in.r11;
        f.r12 = in.r12, f.r13 = in.r13, f.r14 = in.r14, f.r15 = in.r15, f.rip = in.rip;
        f.rflags = (in.rflags & kUserFlags) | kFlagsFixed;
        // FS base is loaded at every switch to the thread; a stopped thread
        // is not running, so the next switch picks this up.
        th.fs_base = in.fs_base;
        return int64_t{0};
    });
}

int64_t call_thread_set_priority(uint64_t thread, uint64_t priority) {
    ThreadRef t(thread, VIRTUE_RIGHT_WRITE);
    if (t.error()) return t.error();
    if (priority > kThreadPriorityMax) return -XEN_EINVAL;
    Thread& th = *t;
    if (__atomic_load_n(&th.kill_requested, __ATOMIC_ACQUIRE)) return 0; // leaving at the top priority
    sched_set_priority(th, static_cast<uint32_t>(priority));
    return 0;
}

int64_t call_thread_set_affinity(uint64_t thread, uint64_t cpu) {
    ThreadRef t(thread, VIRTUE_RIGHT_WRITE);
    if (t.error()) return t.error();
    if (cpu != VIRTUE_CPU_ANY && cpu >= arch::cpus_online()) return -XEN_EINVAL;
    sched_set_affinity(*t, cpu == VIRTUE_CPU_ANY ? sched::kAnyCpu : static_cast<uint32_t>(cpu));
    return 0;
}

int64_t call_thread_exit(uint64_t status) { thread_exit_current(static_cast<int64_t>(status)); }

int64_t call_thread_join(uint64_t thread, uint64_t deadline_ns, uint64_t status) {
    if (status & 7) return -XEN_EINVAL;
    ThreadRef t(thread, VIRTUE_RIGHT_READ);
    if (t.error()) return t.error();
    Thread& target = *t;
    if (&target == current_thread()) return -XEN_EDEADLK;
    Waitable* w = &target.events;
    int64_t r = wait_any(&w, 1, deadline_ns);
    if (r == kWaitTimedOut) return -XEN_ETIMEDOUT;
    if (r == kWaitInterrupted) return -XEN_EAGAIN;
    if (status) {
        int64_t value = target.exit_status; // written before `exited`, under the lock we saw it under
        return copy_to_user(status, &value, sizeof value);
    }
    return 0;
}

int64_t call_thread_kill(uint64_t thread, uint64_t status) {
    ThreadRef t(thread, VIRTUE_RIGHT_WRITE);
    if (t.error()) return t.error();
    Thread& target = *t;
    int64_t r = fault_release_thread(target, [](Thread& th, void* ctx) -> int64_t {
        if (int64_t e = started_alive_locked(th)) return e;
        if (th.kill_requested) return 1; // the first kill's status stands
        th.kill_status = *static_cast<int64_t*>(ctx);
        __atomic_store_n(&th.kill_requested, true, __ATOMIC_RELEASE);
        return 0;
    }, &status);
    if (r < 0) return r;
    if (r == 0) {
        // It must run to leave: first among its domain's threads, so that
        // higher priorities cannot hold its exit (and its join) back.
        sched_set_priority(target, kThreadPriorityMax);
        sched_resume(target);    // a stopped one runs to leave
        sched_interrupt(target); // a blocked one's call ends; a remote one enters the hypervisor
    }
    return 0;
}

// ---- In-domain fault handling ----

int64_t call_fault_handler_set(uint64_t target, uint64_t handler) {
    Domain& d = caller();
    KObject* target_obj = nullptr;
    {
        IrqLockGuard guard(d.handles_lock);
        auto q = d.handles.query(target);
        if (!q) return handle_errno(q.error());
        uint32_t needed;
        if (q->type == ObjType::AddressSpace) needed = VIRTUE_RIGHT_MAP;
        else if (q->type == ObjType::Thread) needed = VIRTUE_RIGHT_WRITE;
        else return -XEN_ENODEV;
        auto o = d.handles.get(target, q->type, needed);
        if (!o) return handle_errno(o.error());
        target_obj = *o;
    }
    auto set = [&](Thread* h) -> int64_t {
        Status s = fault_handler_set(d, *target_obj, h);
        if (s) return 0;
        if (s.error() == Err::InvalidArgument) return -XEN_EINVAL;
        return s.error() == Err::NoMemory ? -XEN_ENOMEM : -XEN_ENOSPC;
    };
    int64_t result;
    if (!handler) {
        result = set(nullptr);
    } else {
        ThreadRef h(handler, VIRTUE_RIGHT_WRITE);
        result = h.error();
        if (!result) {
            Thread& th = *h;
            IrqLockGuard guard(th.events.lock);
            if (th.exited) result = -XEN_ESRCH;
        }
        if (!result) result = set(&*h);
    }
    kobject_unref(*target_obj);
    return result;
}

int64_t call_fault_wait(uint64_t deadline_ns, uint64_t info) {
    if (info & 7) return -XEN_EINVAL;
    if (!user_range_ok(info, sizeof(virtue_fault_info), UserAccess::Write)) return -XEN_EFAULT;
    Thread* f = nullptr;
    FaultRecord record;
    int64_t r = fault_take(deadline_ns, &f, &record);
    if (r == kWaitTimedOut) return -XEN_ETIMEDOUT;
    if (r == kWaitInterrupted) return -XEN_EAGAIN;
    int64_t h = new_handle(f->kobj, kThreadRights);
    if (h < 0) {
        fault_untake(*f); // it stays queued, with the queue's reference
        return h;
    }
    virtue_fault_info out{};
    out.thread = static_cast<uint64_t>(h);
    out.thread_id = f->id;
    out.vector = record.vector;
    out.error_code = record.error_code;
    out.address = record.address;
    out.rip = record.rip;
    if (int64_t c = copy_to_user(info, &out, sizeof out); c < 0) {
        call_handle_close(static_cast<uint64_t>(h));
        fault_untake(*f);
        return c;
    }
    kobject_unref(f->kobj); // the queue's reference; the new handle holds its own
    return 0;
}

// ---- Event channels ----

namespace {

Result<domid_t> remote_domain(uint64_t domid) { return domid_named(caller(), domid); }

int64_t publish_port(NewHandle& h, Result<EventPort*> p) {
    if (!p) return object_errno(p.error());
    return h.publish((*p)->kobj, kPortRights);
}
} // namespace

int64_t call_evtchn_alloc_unbound(uint64_t remote_domid) {
    auto remote = remote_domain(remote_domid);
    if (!remote) return -XEN_EINVAL;
    NewHandle h;
    if (h.error()) return h.error();
    return publish_port(h, evtchn_alloc_unbound(caller(), *remote));
}

int64_t call_evtchn_bind_interdomain(uint64_t remote_domid, uint64_t remote_port) {
    auto remote = remote_domain(remote_domid);
    if (!remote || remote_port == 0 || remote_port >= kMaxEventPorts) return -XEN_EINVAL;
    // Reserved first: a bind the table could not take would connect the
    // peer and at once hang it up.
    NewHandle h;
    if (h.error()) return h.error();
    return publish_port(h, evtchn_bind_interdomain(caller(), *remote, static_cast<evtchn_port_t>(remote_port)));
}

int64_t call_evtchn_bind_ipi() {
    NewHandle h;
    if (h.error()) return h.error();
    return publish_port(h, evtchn_bind_ipi(caller(), 0));
}

int64_t call_evtchn_send(uint64_t port) {
    PortRef p(port, VIRTUE_RIGHT_WRITE);
    if (p.error()) return p.error();
    return evtchn_send(*p) ? 0 : -XEN_EINVAL;
}

int64_t call_evtchn_status(uint64_t port, uint64_t status) {
    if (status & 3) return -XEN_EINVAL;
    PortRef p(port, VIRTUE_RIGHT_READ);
    if (p.error()) return p.error();
    EventPortStatus st = evtchn_status(*p);
    virtue_evtchn_status out{st.port, static_cast<uint32_t>(st.state), st.remote_domid, st.remote_port, st.vcpu, 0};
    return copy_to_user(status, &out, sizeof out);
}

// ---- Grants ----

namespace {
constexpr uint32_t kMappingRights = VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_READ;
constexpr uint32_t kMaxCopyOps = 64;
} // namespace

int64_t call_grant_access(uint64_t memory, uint64_t page, uint64_t remote_domid, uint64_t flags) {
    if (flags & ~uint64_t{VIRTUE_GRANT_READONLY}) return -XEN_EINVAL;
    const bool readonly = flags & VIRTUE_GRANT_READONLY;
    auto remote = remote_domain(remote_domid);
    if (!remote) return -XEN_EINVAL;
    MemoryRef mem(memory, VIRTUE_RIGHT_MAP | VIRTUE_RIGHT_READ | (readonly ? 0 : VIRTUE_RIGHT_WRITE));
    if (mem.error()) return mem.error();
    auto ref = grant_access(caller(), *mem, page, *remote, readonly);
    return ref ? static_cast<int64_t>(*ref) : object_errno(ref.error());
}

int64_t call_grant_end(uint64_t ref) {
    if (ref >= kMaxGrants) return -XEN_EINVAL;
    Status s = grant_end(caller(), static_cast<grant_ref_t>(ref));
    return s ? 0 : object_errno(s.error());
}

int64_t call_grant_map(uint64_t remote_domid, uint64_t ref, uint64_t aspace, uint64_t va, uint64_t flags) {
    if (flags & ~uint64_t{VIRTUE_GRANT_READONLY}) return -XEN_EINVAL;
    auto remote = remote_domain(remote_domid);
    if (!remote || ref >= kMaxGrants) return -XEN_EINVAL;
    if (va & (PAGE_SIZE - 1)) return -XEN_EINVAL;
    AspaceRef as(aspace, VIRTUE_RIGHT_MAP);
    if (as.error()) return as.error();
    NewHandle h;
    if (h.error()) return h.error();
    auto m = grant_map(caller(), *remote, static_cast<grant_ref_t>(ref), *as, va, flags & VIRTUE_GRANT_READONLY);
    if (!m) return object_errno(m.error());
    return h.publish((*m)->kobj, kMappingRights);
}

int64_t call_grant_copy(uint64_t ops, uint64_t count) {
    if (count == 0 || count > kMaxCopyOps || (ops & 7)) return -XEN_EINVAL;
    Domain& d = caller();
    for (uint64_t i = 0; i < count; i++) {
        const uint64_t at = ops + i * sizeof(virtue_grant_copy);
        virtue_grant_copy op;
        if (int64_t r = copy_from_user(&op, at, sizeof op); r < 0) return r;
        int16_t status;
        if ((op.flags & ~uint32_t{VIRTUE_GRANT_COPY_TO_REMOTE}) || op.ref >= kMaxGrants) {
            status = GNTST_general_error;
        } else if (op.length == 0) {
            status = GNTST_bad_copy_arg; // the native call's rule (Xen's copy allows 0)
        } else if (auto remote = remote_domain(op.remote_domid); !remote) {
            status = GNTST_bad_domain;
        } else {
            GrantCopyEnd granted{GrantCopyEnd::Kind::Grant, *remote, op.ref, Mfn(), op.remote_offset, 0};
            GrantCopyEnd local{GrantCopyEnd::Kind::LocalVa, DOMID_INVALID, 0, Mfn(), 0, op.local_va};
            const bool to_remote = op.flags & VIRTUE_GRANT_COPY_TO_REMOTE;
            status = grant_copy(d, to_remote ? local : granted, to_remote ? granted : local, op.length);
        }
        const int32_t st = status;
        if (int64_t r = copy_to_user(at + offsetof(virtue_grant_copy, status), &st, sizeof st); r < 0) return r;
    }
    return 0;
}

int64_t call_memory_frame(uint64_t memory, uint64_t page) {
    MemoryRef mem(memory, VIRTUE_RIGHT_MAP | VIRTUE_RIGHT_READ | VIRTUE_RIGHT_WRITE);
    if (mem.error()) return mem.error();
    if (page >= (*mem).pages) return -XEN_EINVAL;
    return static_cast<int64_t>(region_frame(*mem, page).raw());
}

// ---- Synchronous IPC ----

namespace {
constexpr uint32_t kServerRights =
    VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER | VIRTUE_RIGHT_READ | VIRTUE_RIGHT_WRITE;
constexpr uint32_t kClientRights = VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER | VIRTUE_RIGHT_WRITE;

// Moves the handle a message carries out of the caller's table, for domain
// `to`. Across domains only endpoint handles travel: every other object
// belongs to its domain (threads, address spaces, memory, ports).
int64_t take_carried(uint64_t h, domid_t to, IpcMessage& m) {
    if (!h) return 0;
    Domain& d = caller();
    IrqLockGuard guard(d.handles_lock);
    auto q = d.handles.query(h);
    if (!q) return handle_errno(q.error());
    if (!(q->rights & VIRTUE_RIGHT_TRANSFER)) return -XEN_EACCES;
    if (to != d.id && q->type != ObjType::Endpoint) return -XEN_EPERM;
    auto closed = d.handles.close(h);
    if (!closed) return handle_errno(closed.error());
    m.carried = *closed; // the handle's reference travels
    m.carried_rights = q->rights;
    return 0;
}

// A received message for user space; its carried object becomes a handle
// of the caller (or is dropped, flagged, if the table is full). Checked
// here, at the receiver, too: an endpoint handle with RIGHT_READ can itself
// travel, so the domain that receives on an endpoint is not always its
// owner, and nothing but an endpoint may ever enter another domain's table.
virtue_ipc_msg to_user(IpcMessage& m) {
    virtue_ipc_msg out{};
    for (uint32_t i = 0; i < kIpcWords; i++) out.word[i] = m.words[i];
    out.sender_domid = m.sender;
    if (m.carried) {
        int64_t h = -XEN_EPERM;
        if (m.carried->type == ObjType::Endpoint || m.sender == caller().id) h = new_handle(*m.carried, m.carried_rights);
        kobject_unref(*m.carried);
        m.carried = nullptr;
        if (h < 0) out.flags |= VIRTUE_IPC_HANDLE_LOST;
        else out.handle = static_cast<uint64_t>(h);
    }
    return out;
}

// Copies a received message out; if that fails, the handle it brought is
// closed again (nobody could learn its value).
int64_t deliver(uint64_t msg, const virtue_ipc_msg& out) {
    int64_t r = copy_to_user(msg, &out, sizeof out);
    if (r < 0 && out.handle) call_handle_close(out.handle);
    return r;
}

int64_t read_msg(uint64_t msg, virtue_ipc_msg& in) {
    if (msg & 7) return -XEN_EINVAL;
    if (int64_t r = copy_from_user(&in, msg, sizeof in); r < 0) return r;
    return 0;
}

int64_t wait_errno(int64_t r) { return r == kWaitTimedOut ? -XEN_ETIMEDOUT : r == kWaitInterrupted ? -XEN_EAGAIN : r; }

int64_t receive(Endpoint& ep, uint64_t msg, uint64_t deadline_ns, Thread* handoff = nullptr) {
    IpcMessage m;
    if (int64_t r = ipc_wait(ep, deadline_ns, m, handoff); r != 0) return wait_errno(r);
    virtue_ipc_msg out = to_user(m);
    return deliver(msg, out); // on a fault the call stays received
}

// Replies to the caller's received call with `msg` (already read).
int64_t reply_with(const virtue_ipc_msg& in, Thread** handoff = nullptr) {
    Thread& self = *current_thread();
    if (!self.reply_to) return -XEN_EINVAL;
    IpcMessage m;
    for (uint32_t i = 0; i < kIpcWords; i++) m.words[i] = in.word[i];
    m.sender = caller().id;
    if (int64_t r = take_carried(in.handle, self.reply_to->msg.sender, m); r < 0) return r;
    return ipc_reply(m, handoff);
}
} // namespace

int64_t call_endpoint_create(uint64_t client_domid) {
    auto client = remote_domain(client_domid);
    if (!client) return -XEN_EINVAL;
    NewHandle h;
    if (h.error()) return h.error();
    auto e = endpoint_create(caller(), *client);
    if (!e) return object_errno(e.error());
    return h.publish((*e)->kobj, kServerRights);
}

int64_t call_endpoint_connect(uint64_t server_domid, uint64_t number) {
    auto server = remote_domain(server_domid);
    if (!server || number == 0 || number > UINT32_MAX) return -XEN_EINVAL;
    NewHandle h;
    if (h.error()) return h.error();
    auto e = endpoint_connect(*server, static_cast<uint32_t>(number), caller().id);
    if (!e) return object_errno(e.error());
    return h.publish((*e)->kobj, kClientRights);
}

int64_t call_endpoint_number(uint64_t endpoint) {
    EndpointRef e(endpoint, VIRTUE_RIGHT_READ);
    if (e.error()) return e.error();
    Endpoint& ep = *e;
    return ep.number;
}

int64_t call_ipc_call(uint64_t endpoint, uint64_t msg) {
    virtue_ipc_msg in;
    if (int64_t r = read_msg(msg, in); r < 0) return r;
    if (!user_range_ok(msg, sizeof in, UserAccess::Write)) return -XEN_EFAULT;
    EndpointRef e(endpoint, VIRTUE_RIGHT_WRITE);
    if (e.error()) return e.error();
    Endpoint& ep = *e;
    IpcMessage m;
    for (uint32_t i = 0; i < kIpcWords; i++) m.words[i] = in.word[i];
    m.sender = caller().id;
    if (int64_t r = take_carried(in.handle, ep.owner_id, m); r < 0) return r;
    if (int64_t r = ipc_call(ep, m); r < 0) return r;
    virtue_ipc_msg out = to_user(m);
    return deliver(msg, out);
}

int64_t call_ipc_wait(uint64_t endpoint, uint64_t msg, uint64_t deadline_ns) {
    if (msg & 7) return -XEN_EINVAL;
    if (!user_range_ok(msg, sizeof(virtue_ipc_msg), UserAccess::Write)) return -XEN_EFAULT;
    EndpointRef e(endpoint, VIRTUE_RIGHT_READ);
    if (e.error()) return e.error();
    return receive(*e, msg, deadline_ns);
}

int64_t call_ipc_reply(uint64_t msg) {
    virtue_ipc_msg in;
    if (int64_t r = read_msg(msg, in); r < 0) return r;
    return reply_with(in);
}

int64_t call_ipc_reply_wait(uint64_t endpoint, uint64_t msg, uint64_t deadline_ns) {
    virtue_ipc_msg in;
    if (int64_t r = read_msg(msg, in); r < 0) return r;
    if (!user_range_ok(msg, sizeof in, UserAccess::Write)) return -XEN_EFAULT;
    EndpointRef e(endpoint, VIRTUE_RIGHT_READ);
    if (e.error()) return e.error();
    // Nothing to answer (the loop's first round) or a client that has gone
    // (-ESRCH) is no reason not to take the next call.
    Thread* client = nullptr; // the fast path: our CPU goes to it when we block
    if (int64_t r = reply_with(in, &client); r < 0 && r != -XEN_EINVAL && r != -XEN_ESRCH) return r;
    return receive(*e, msg, deadline_ns, client); // consumes the handoff reference
}

// ---- Timers and waiting ----

int64_t call_timer_create() {
    NewHandle h;
    if (h.error()) return h.error();
    auto t = timer_create(caller());
    if (!t) return -XEN_ENOMEM;
    return h.publish((*t)->kobj, kTimerRights);
}

int64_t call_timer_set(uint64_t timer, uint64_t deadline_ns, uint64_t period_ns) {
    TimerRef t(timer, VIRTUE_RIGHT_WRITE);
    if (t.error()) return t.error();
    Status s = timer_set(*t, deadline_ns, period_ns);
    return s ? 0 : -XEN_EINVAL;
}

int64_t call_timer_cancel(uint64_t timer) {
    TimerRef t(timer, VIRTUE_RIGHT_WRITE);
    if (t.error()) return t.error();
    timer_cancel(*t);
    return 0;
}

int64_t call_wait_any(uint64_t handles, uint64_t count, uint64_t deadline_ns) {
    if (count == 0 || count > kWaitAnyMax || (handles & 7)) return -XEN_EINVAL;
    uint64_t hs[kWaitAnyMax];
    if (int64_t r = copy_from_user(hs, handles, count * sizeof(uint64_t)); r < 0) return r;
    KObject* objs[kWaitAnyMax];
    Waitable* waits[kWaitAnyMax];
    size_t held = 0;
    int64_t result = 0;
    Domain& d = caller();
    {
        IrqLockGuard guard(d.handles_lock);
        for (; held < count; held++) {
            auto q = d.handles.query(hs[held]);
            if (!q) {
                result = handle_errno(q.error());
                break;
            }
            ObjType type = q->type;
            if (type != ObjType::Thread && type != ObjType::Timer && type != ObjType::EventChannel) {
                result = -XEN_ENODEV;
                break;
            }
            auto o = d.handles.get(hs[held], type, VIRTUE_RIGHT_READ);
            if (!o) {
                result = handle_errno(o.error());
                break;
            }
            objs[held] = *o;
            waits[held] = type == ObjType::Thread  ? &container_of_kobj<Thread>(*o).events
                          : type == ObjType::Timer ? &container_of_kobj<Timer>(*o).events
                                                   : &evtchn_waitable(container_of_kobj<EventPort>(*o));
        }
    }
    if (result == 0) {
        int64_t r = wait_any(waits, count, deadline_ns);
        result = r == kWaitTimedOut ? -XEN_ETIMEDOUT : r == kWaitInterrupted ? -XEN_EAGAIN : r;
    }
    for (size_t i = 0; i < held; i++) kobject_unref(*objs[i]);
    return result;
}

} // namespace native

// `syscall` from ring 3 (arch entry.S): the native family above
// native::BASE, the Xen family (xen-compat/hypercalls.hpp) below it.
extern "C" void handle_syscall(arch::InterruptFrame* frame) {
    // The return address is the caller's next instruction; a `syscall` in
    // the last bytes below 2^47 makes it non-canonical, and iretq to it
    // would fault in ring 0 on the user's GS. Such a caller dies instead.
    if (frame->rip >= arch::USER_LIMIT) {
        log_error("d%u '%s': syscall with a non-canonical return address %016lx", caller().id, caller().name,
                  frame->rip);
        user_fault_kill_current(*frame);
    }
    uint64_t nr = frame->rax;
    int64_t result = -XEN_ENOSYS;
    if (nr >= native::BASE && nr - native::BASE < native::TABLE_SIZE) {
        const native::CallEntry& e = native::TABLE[nr - native::BASE];
        if (e.handler) {
            native::CallArgs args{{frame->rdi, frame->rsi, frame->rdx, frame->r10, frame->r8, frame->r9}};
            result = e.handler(args);
        }
    } else if (nr < native::BASE) {
        const uint64_t args[5] = {frame->rdi, frame->rsi, frame->rdx, frame->r10, frame->r8};
        result = xen::hypercall(nr, args);
    }
    frame->rax = static_cast<uint64_t>(result);
    user_return_work(*frame);
}

// `syscall` from 32-bit compatibility mode: native domains are 64-bit only.
extern "C" void handle_compat_syscall(arch::InterruptFrame* frame) {
    log_error("d%u '%s': syscall from 32-bit compatibility mode at %08lx", caller().id, caller().name, frame->rip);
    user_fault_kill_current(*frame);
}

} // namespace virtue
