// The native family's calls (definitions in hypercalls/native.toml; the
// dispatch table is generated into native_dispatch.hpp) and the `syscall`
// entry's dispatcher for both families.
#include <xen/errno.h>

#include "arch/cpu.hpp"
#include "arch/user_entry.hpp"
#include "console/console.hpp"
#include "domain/domain.hpp"
#include "lib/string.hpp"
#include "mm/memory.hpp"
#include "native/user_memory.hpp"
#include "native_dispatch.hpp"
#include "sched/scheduler.hpp"
#include "time/clock.hpp"
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
    sched_sleep_until(deadline_ns);
    return 0;
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
    sched_exit_current();
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
    default: return -XEN_EINVAL;
    }
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
    T& operator*() const { return *reinterpret_cast<T*>(reinterpret_cast<char*>(obj_) - offsetof(T, kobj)); }

  private:
    KObject* obj_ = nullptr;
    int64_t error_ = 0;
    uint32_t rights_ = 0;
};
using AspaceRef = HandleRef<AddressSpace, ObjType::AddressSpace>;
using MemoryRef = HandleRef<MemRegion, ObjType::MemoryRegion>;

constexpr uint32_t kMemoryRights = VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER | VIRTUE_RIGHT_READ |
                                   VIRTUE_RIGHT_WRITE | VIRTUE_RIGHT_EXECUTE | VIRTUE_RIGHT_MAP;
constexpr uint32_t kAspaceRights =
    VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER | VIRTUE_RIGHT_READ | VIRTUE_RIGHT_MAP;

// Hands the creator's reference of a new object to a new handle (or
// destroys the object if the table is full).
int64_t publish(KObject& obj, uint32_t rights) {
    int64_t h = new_handle(obj, rights);
    kobject_unref(obj);
    return h;
}
} // namespace

int64_t call_thread_self() { return new_handle(current_thread()->kobj); }

int64_t call_address_space_self() { return new_handle(current_thread()->aspace->kobj); }

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
    if (flags) return -XEN_EINVAL;
    auto r = region_create(caller(), pages);
    if (!r) return vm_errno(r.error());
    return publish((*r)->kobj, kMemoryRights);
}

int64_t call_aspace_create() {
    auto as = aspace_create(caller());
    if (!as) return as.error() == Err::Range ? -XEN_ENOSPC : vm_errno(as.error());
    return publish((*as)->kobj, kAspaceRights);
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

} // namespace native

// `syscall` from ring 3 (arch entry.S). Native domains have only the native
// family: any other number, Xen's included, is -ENOSYS.
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
