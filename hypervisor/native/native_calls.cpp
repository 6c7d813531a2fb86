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
    if (int64_t r = copy_from_user(d, copy, buf, len); r < 0) return r;
    console_put_domain_bytes(d, copy, len);
    return static_cast<int64_t>(len);
}

int64_t call_console_read(uint64_t buf, uint64_t len) {
    Domain& d = caller();
    if (!d.is_control()) return -XEN_EPERM;
    if (len > kConsoleIoMax) return -XEN_EINVAL;
    if (!user_range_ok(d, buf, len, UserAccess::Write)) return -XEN_EFAULT;
    char bytes[kConsoleIoMax];
    size_t n = console_read_input(bytes, len);
    if (int64_t r = copy_to_user(d, buf, bytes, n); r < 0) return r;
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
    if (int64_t r = copy_to_user(d, info, &out, sizeof out); r < 0) return r;
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

int64_t new_handle(KObject& obj) {
    Domain& d = caller();
    IrqLockGuard guard(d.handles_lock);
    auto h = d.handles.insert(obj, RIGHTS_ALL);
    return h ? static_cast<int64_t>(*h) : handle_errno(h.error());
}
} // namespace

int64_t call_thread_self() { return new_handle(current_thread()->kobj); }

int64_t call_address_space_self() { return new_handle(caller().aspace_kobj); }

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
    return copy_to_user(d, info, &out, sizeof out);
}

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
