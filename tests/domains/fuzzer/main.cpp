// fuzzer: issues random native calls with hostile arguments and checks that
// every result is one the contract allows (hypercalls/native.toml).
//
// Bootargs: calls=N (default 1000000), seed=S (default 1; xorshift64*, so a
// run is reproducible). Prints "fuzzer: <n> calls" every 100000 calls, each
// violation as "fuzzer: unexpected result <r> for call 0x<nr>(<args>) (<why>)"
// (the first 50 only; all are counted), and at the end
// "fuzzer: done <n> calls, <k> failures, per-errno counts: ok=.. EPERM=..
// EFAULT=.. EINVAL=.. ENOSYS=..", exiting with 0 if k == 0, else 1.
//
// Call numbers: 90% among the native calls and the 8 unknown numbers after
// them, 10% random 64-bit. exit and thread_exit are never issued. (Handle
// arguments are random values: a live handle is practically never hit, so
// the fuzzer cannot suspend or join itself.)
//
// Safety rules, so that the fuzzer cannot corrupt or flood itself:
//   - calls that write (console_read, domain_info, and unknown numbers, in
//     case the hypervisor wrongly acts on them) only ever get pointers into a
//     dedicated static scratch buffer or addresses that are invalid by
//     construction;
//   - console_write may also get its own rodata, stack and bss, but then only
//     with length 0 or > 4096 (which must fail with -EINVAL);
//   - sleep_until, fault_wait and endpoint_connect get deadlines in the past, and 1 time in 64
//     one at most 1 ms ahead (the scheduler tick is 10 ms, so that still
//     blocks a little).
//
// Checks (any failure counts):
//   - every result is >= 0 or one of the documented errnos;
//   - numbers other than the native calls return -ENOSYS, except the Xen
//     family's event_channel_op and grant_table_op (1 call in 20 each,
//     random commands, structs and counts) and set_timer_op / vcpu_op (1 in
//     40 each), which return 0 or a documented errno (vcpu_op also -ETIME)
//     and never succeed with a pointer outside the user half (vcpu_op's
//     commands that take one).
//     GNTTABOP_copy is left out: with a frame named by a random MFN it may
//     legitimately overwrite the fuzzer's own memory;
//   - the memory calls follow their documented errors, never succeed outside
//     the user half, and memory_audit always reports 0 violations;
//   - a pointer outside the domain's half (>= 0x800000000000: hypervisor,
//     direct map, non-canonical, wrapping) never succeeds: domain_info always,
//     console_write/console_read when the length is not 0 (an empty range
//     touches no memory, so the contract leaves that case open);
//   - console_write/console_read with a length above 4096 return -EINVAL
//     (console_read may say -EPERM first);
//   - successes have the documented values: console_write returns len,
//     console_read at most len, yield/sleep_until/domain_info 0,
//     system_time > 0.
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>
#include <xen/errno.h>

#include <virtue/sdk.hpp>

extern "C" const char __image_start[]; // domain.ld: the image's first byte

namespace {

using virtue::print;
namespace sys = virtue::raw; // the ABI as it is: results compared with -XEN_E*

constexpr uint64_t kUserEnd = 0x0000800000000000ull;
constexpr uint64_t kMaxLen = 4096;
constexpr unsigned kMaxPrintedFailures = 50;
constexpr uint64_t kXenEventChannelOp = 32; // __HYPERVISOR_event_channel_op
constexpr uint64_t kXenGrantTableOp = 20;   // __HYPERVISOR_grant_table_op
constexpr uint64_t kGnttabCopy = 5;         // GNTTABOP_copy
constexpr uint64_t kXenSetTimerOp = 15;     // __HYPERVISOR_set_timer_op
constexpr uint64_t kXenVcpuOp = 24;         // __HYPERVISOR_vcpu_op
constexpr uint64_t kXenMemoryOp = 12;       // __HYPERVISOR_memory_op
constexpr uint64_t kXenVersion = 17;        // __HYPERVISOR_xen_version
constexpr uint64_t kXenConsoleIo = 18;      // __HYPERVISOR_console_io

struct Rng {
    uint64_t state;
    uint64_t next() { // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return state * 0x2545f4914f6cdd1dull;
    }
    uint64_t below(uint64_t n) { return next() % n; }
};

// Where a pointer argument points.
enum class Kind {
    Zero,
    Small,        // < 4096: page 0, never mapped
    Random,       // any 64-bit value
    Hypervisor,   // 0xffff800000000000 + [0, 2^43)
    DirectMap,    // 0xffff830000000000 + [0, 1 GiB)
    NonCanonical, // [0x800000000000, 0xffff800000000000)
    NearTop,      // within 64 KiB of 2^64: wraps with most lengths
    Unmapped,     // user half, below everything the domain has mapped
    Rodata,       // the fuzzer's own memory (valid) ...
    Stack,
    Bss,
    Scratch,      // ... and the buffer outputs may go to
    Count
};

// The fuzzer's own memory, as targets.
const char kRodataBlob[512] = "fuzzer read-only blob: console_write may point here with length 0 or > 4096";
char g_bss_blob[512];
alignas(64) unsigned char g_scratch[2 * kMaxLen];

uint64_t g_unmapped_end = 0; // [0x1000, g_unmapped_end): nothing of ours is mapped there

struct Counts {
    uint64_t ok = 0, eperm = 0, efault = 0, einval = 0, enosys = 0, failures = 0;
} g_counts;

uint64_t now() { return static_cast<uint64_t>(sys::system_time()); }

uint64_t pointer(Rng& rng, Kind kind, const unsigned char* stack, size_t stack_size) {
    switch (kind) {
    case Kind::Zero: return 0;
    case Kind::Small: return rng.below(4096);
    case Kind::Random: return rng.next();
    case Kind::Hypervisor: return 0xffff800000000000ull + rng.below(0x80000000000ull);
    case Kind::DirectMap: return 0xffff830000000000ull + rng.below(1ull << 30);
    case Kind::NonCanonical: return kUserEnd + rng.below(0xffff800000000000ull - kUserEnd);
    case Kind::NearTop: return ~0ull - rng.below(0x10000);
    case Kind::Unmapped:
        if (g_unmapped_end > 0x2000) return 0x1000 + rng.below(g_unmapped_end - 0x1000);
        return kUserEnd + rng.below(1ull << 40);
    case Kind::Rodata: return reinterpret_cast<uint64_t>(kRodataBlob) + rng.below(sizeof kRodataBlob);
    case Kind::Stack: return reinterpret_cast<uint64_t>(stack) + rng.below(stack_size);
    case Kind::Bss: return reinterpret_cast<uint64_t>(g_bss_blob) + rng.below(sizeof g_bss_blob);
    case Kind::Scratch:
    case Kind::Count: break;
    }
    return reinterpret_cast<uint64_t>(g_scratch) + rng.below(kMaxLen); // fits any length <= 4096
}

bool is_own_memory(Kind k) { return k == Kind::Rodata || k == Kind::Stack || k == Kind::Bss || k == Kind::Scratch; }

// A kind that is safe for an output: invalid by construction or the scratch buffer.
Kind output_kind(Rng& rng) {
    auto k = static_cast<Kind>(rng.below(static_cast<uint64_t>(Kind::Count)));
    return k == Kind::Rodata || k == Kind::Stack || k == Kind::Bss ? Kind::Scratch : k;
}

uint64_t length(Rng& rng) {
    switch (rng.below(8)) {
    case 0: return 0;
    case 1: return 1 + rng.below(64);
    case 2: return rng.below(kMaxLen + 1);
    case 3: return kMaxLen + 1 + rng.below(100000);
    case 4: return rng.next();
    case 5: return 1ull << 63;
    case 6: return ~0ull - rng.below(16);
    default: return 0x2000;
    }
}

// Any argument for a parameter that is not a pointer (or for unknown calls).
uint64_t scalar(Rng& rng) {
    switch (rng.below(4)) {
    case 0: return 0;
    case 1: return rng.below(256);
    case 2: return length(rng);
    default: return pointer(rng, output_kind(rng), nullptr, 0);
    }
}

struct Call {
    uint64_t nr;
    uint64_t a[6];
    Kind ptr_kind = Kind::Zero; // kind of a[0] when it is a pointer
};

// The argument registers are in/out: a preempted call continues with its
// progress in them (native.toml's calling convention).
int64_t issue(const Call& c) {
    uint64_t a0 = c.a[0], a1 = c.a[1], a2 = c.a[2];
    register uint64_t r10 asm("r10") = c.a[3];
    register uint64_t r8 asm("r8") = c.a[4];
    register uint64_t r9 asm("r9") = c.a[5];
    int64_t ret = static_cast<int64_t>(c.nr);
    asm volatile("syscall"
                 : "+a"(ret), "+D"(a0), "+S"(a1), "+d"(a2), "+r"(r10), "+r"(r8), "+r"(r9)
                 :
                 : "rcx", "r11", "memory");
    return ret;
}

Call make_call(Rng& rng, const unsigned char* stack, size_t stack_size) {
    Call c{};
    do {
        c.nr = rng.below(10) < 9 ? VIRTUE_NATIVE_BASE + rng.below(VIRTUE_NR_LAST - VIRTUE_NATIVE_BASE + 9) : rng.next();
    } while (c.nr == VIRTUE_NR_exit || c.nr == VIRTUE_NR_thread_exit);
    for (auto& a : c.a) a = scalar(rng);
    if (rng.below(20) == 0) { // the Xen family's event_channel_op, any command
        c.nr = kXenEventChannelOp;
        c.a[0] = rng.below(4) ? rng.below(16) : rng.next();
        c.a[1] = pointer(rng, output_kind(rng), stack, stack_size);
        return c;
    }
    if (rng.below(40) == 0) { // the Xen family's vCPU timers
        c.nr = rng.below(2) ? kXenSetTimerOp : kXenVcpuOp;
        if (c.nr == kXenSetTimerOp) {
            c.a[0] = rng.below(2) ? now() + rng.below(50'000'000) : scalar(rng);
        } else {
            c.a[0] = rng.below(4) ? rng.below(12) : rng.next();
            c.a[1] = rng.below(4) ? rng.below(3) : rng.next();
            c.a[2] = pointer(rng, output_kind(rng), stack, stack_size);
        }
        return c;
    }
    if (rng.below(20) == 0) { // the Xen family's grant_table_op, any command but copy
        c.nr = kXenGrantTableOp;
        do c.a[0] = rng.below(4) ? rng.below(16) : rng.next();
        while (c.a[0] == kGnttabCopy);
        c.a[1] = pointer(rng, output_kind(rng), stack, stack_size);
        c.a[2] = rng.below(4) ? rng.below(4) : rng.next();
        return c;
    }
    if (rng.below(30) == 0) { // xen_version and memory_op, any command, any pointer
        c.nr = rng.below(2) ? kXenVersion : kXenMemoryOp;
        c.a[0] = rng.below(4) ? rng.below(20) : rng.next();
        c.a[1] = pointer(rng, output_kind(rng), stack, stack_size);
        return c;
    }
    if (rng.below(60) == 0) { // console_io: reads, and writes that must fail or print nothing
        c.nr = kXenConsoleIo;
        c.a[0] = rng.below(4) ? rng.below(3) : rng.next();
        const Kind k = static_cast<Kind>(rng.below(static_cast<uint64_t>(Kind::Count)));
        c.a[2] = pointer(rng, k, stack, stack_size);
        c.a[1] = length(rng);
        if (c.a[0] == 0 && is_own_memory(k)) c.a[1] = rng.below(2) ? 0 : (1ull << 32) + rng.below(1ull << 32);
        return c;
    }
    switch (c.nr) {
    case VIRTUE_NR_console_write: {
        c.ptr_kind = static_cast<Kind>(rng.below(static_cast<uint64_t>(Kind::Count)));
        c.a[0] = pointer(rng, c.ptr_kind, stack, stack_size);
        c.a[1] = length(rng);
        // Never print our own memory: only lengths that must fail or write nothing.
        if (is_own_memory(c.ptr_kind) && c.a[1] != 0 && c.a[1] <= kMaxLen)
            c.a[1] = rng.below(2) ? 0 : kMaxLen + 1 + rng.below(1ull << 32);
        break;
    }
    case VIRTUE_NR_console_read:
    case VIRTUE_NR_domain_info:
        c.ptr_kind = output_kind(rng);
        c.a[0] = pointer(rng, c.ptr_kind, stack, stack_size);
        if (c.nr == VIRTUE_NR_console_read) c.a[1] = length(rng);
        break;
    case VIRTUE_NR_handle_query:
        c.a[1] = pointer(rng, output_kind(rng), stack, stack_size);
        break;
    case VIRTUE_NR_aspace_read_bits:
        c.a[4] = pointer(rng, output_kind(rng), stack, stack_size);
        break;
    case VIRTUE_NR_thread_read_regs:
        c.a[1] = pointer(rng, output_kind(rng), stack, stack_size);
        break;
    case VIRTUE_NR_thread_join:
        c.a[2] = pointer(rng, output_kind(rng), stack, stack_size);
        break;
    case VIRTUE_NR_sleep_until:
    case VIRTUE_NR_fault_wait: {
        // Deadlines: the only wait that needs no handle (nothing is ever
        // queued for the fuzzer) must end soon.
        uint64_t t = now();
        c.a[0] = rng.below(64) == 0 ? t + rng.below(1000000 + 1) : rng.below(3) == 0 ? 0 : t - rng.below(t + 1);
        if (c.nr == VIRTUE_NR_fault_wait) c.a[1] = pointer(rng, output_kind(rng), stack, stack_size);
        break;
    }
    case VIRTUE_NR_endpoint_connect: {
        // It may wait for an endpoint to be made, which never happens here.
        uint64_t t = now();
        c.a[2] = rng.below(64) == 0 ? t + rng.below(1000000 + 1) : rng.below(3) == 0 ? 0 : t - rng.below(t + 1);
        break;
    }
    default: break;
    }
    return c;
}

// Why a result breaks the contract, or nullptr if it is allowed.
const char* violation(const Call& c, int64_t r) {
    if (r < 0 && r != -XEN_EPERM && r != -XEN_EFAULT && r != -XEN_EINVAL && r != -XEN_ENOSYS && r != -XEN_ESRCH &&
        r != -XEN_EBADF && r != -XEN_EXDEV && r != -XEN_EACCES && r != -XEN_EMFILE && r != -XEN_ENODEV &&
        r != -XEN_ENOMEM && r != -XEN_ENOSPC && r != -XEN_ERANGE && r != -XEN_EEXIST && r != -XEN_ENOENT &&
        r != -XEN_EBUSY && r != -XEN_EDEADLK && r != -XEN_ETIMEDOUT && r != -XEN_EAGAIN && r != -XEN_ENOTCONN &&
        !(c.nr == kXenVcpuOp && r == -XEN_ETIME))
        return "errno outside the documented set";
    if (c.nr == kXenEventChannelOp) {
        if (c.a[1] >= kUserEnd && r == 0) return "event_channel_op used a pointer outside the user half";
        return r > 0 ? "event_channel_op returned > 0" : nullptr;
    }
    if (c.nr == kXenSetTimerOp) return r == 0 ? nullptr : "set_timer_op did not return 0";
    if (c.nr == kXenVcpuOp) {
        const bool takes_pointer = c.a[0] == 6 || c.a[0] == 8; // set_periodic_timer, set_singleshot_timer
        if (takes_pointer && c.a[2] >= kUserEnd && r == 0) return "vcpu_op used a pointer outside the user half";
        return r > 0 ? "vcpu_op returned > 0" : nullptr;
    }
    if (c.nr == kXenGrantTableOp) {
        if (c.a[1] >= kUserEnd && c.a[2] != 0 && r == 0) return "grant_table_op used a pointer outside the user half";
        return r > 0 ? "grant_table_op returned > 0" : nullptr;
    }
    if (c.nr == kXenVersion) {
        // version and pagesize return values; the rest write a struct.
        const bool returns_value = c.a[0] == 0 || c.a[0] == 7;
        const bool writes = c.a[0] >= 1 && c.a[0] <= 8 && !returns_value;
        if (writes && c.a[1] >= kUserEnd && r == 0) return "xen_version wrote outside the user half";
        if (r > 0 && !returns_value) return "xen_version returned > 0";
        return nullptr;
    }
    if (c.nr == kXenMemoryOp) {
        const bool uses_pointer = c.a[0] == 3 || c.a[0] == 4 || c.a[0] == 12; // reservations, machphys_mapping
        if (uses_pointer && c.a[1] >= kUserEnd && r >= 0) return "memory_op used a pointer outside the user half";
        return nullptr;
    }
    if (c.nr == kXenConsoleIo) {
        if (c.a[0] == 0 && c.a[1] != 0 && c.a[1] <= 0xffffffffu && c.a[2] >= kUserEnd && r == 0)
            return "console_io printed from outside the user half";
        if (c.a[1] > 0xffffffffu && r != -XEN_EINVAL) return "console_io count above 2^32 - 1 not refused";
        return r > 0 && c.a[0] != 1 ? "console_io write returned > 0" : nullptr;
    }
    bool known = c.nr >= VIRTUE_NR_console_write && c.nr <= VIRTUE_NR_LAST;
    if (!known) return r == -XEN_ENOSYS ? nullptr : "unknown number did not return -ENOSYS";
    bool kernel_ptr = c.a[0] >= kUserEnd;
    switch (c.nr) {
    case VIRTUE_NR_console_write:
    case VIRTUE_NR_console_read:
        if (c.a[1] > kMaxLen && r != -XEN_EINVAL && !(c.nr == VIRTUE_NR_console_read && r == -XEN_EPERM))
            return "length above 4096 did not return -EINVAL";
        if (kernel_ptr && c.a[1] != 0 && r >= 0) return "pointer outside the user half succeeded";
        if (c.nr == VIRTUE_NR_console_write && r >= 0 && static_cast<uint64_t>(r) != c.a[1])
            return "console_write did not return len";
        if (c.nr == VIRTUE_NR_console_read && r >= 0 && static_cast<uint64_t>(r) > c.a[1])
            return "console_read returned more than len";
        return nullptr;
    case VIRTUE_NR_domain_info:
        if (kernel_ptr && r >= 0) return "pointer outside the user half succeeded";
        return r > 0 ? "domain_info returned > 0" : nullptr;
    case VIRTUE_NR_system_time: return r > 0 ? nullptr : "system_time not positive";
    case VIRTUE_NR_set_tls_base:
        if (kernel_ptr) return r == -XEN_EINVAL ? nullptr : "set_tls_base outside the user half not -EINVAL";
        return r == 0 ? nullptr : "set_tls_base of a user address failed";
    case VIRTUE_NR_domain_pause:
    case VIRTUE_NR_domain_unpause:
    case VIRTUE_NR_domain_destroy:
        // The fuzzer has no control privilege.
        return r == -XEN_EPERM ? nullptr : "control call without the privilege did not return -EPERM";
    case VIRTUE_NR_thread_self:
    case VIRTUE_NR_aspace_self:
        return r > 0 || r == -XEN_EMFILE ? nullptr : "self handle neither a handle nor -EMFILE";
    case VIRTUE_NR_handle_duplicate:
        if (c.a[1] >> 32) return r == -XEN_EINVAL ? nullptr : "rights above bit 31 not -EINVAL";
        return r > 0 || r == -XEN_EBADF || r == -XEN_EXDEV || r == -XEN_EACCES || r == -XEN_EMFILE
                   ? nullptr
                   : "handle_duplicate result outside its contract";
    case VIRTUE_NR_handle_close:
        return r == 0 || r == -XEN_EBADF || r == -XEN_EXDEV ? nullptr : "handle_close result outside its contract";
    case VIRTUE_NR_handle_query:
        if (c.a[1] >= kUserEnd && r == 0) return "handle_query wrote outside the user half";
        return r == 0 || r == -XEN_EBADF || r == -XEN_EXDEV || r == -XEN_EINVAL || r == -XEN_EFAULT
                   ? nullptr
                   : "handle_query result outside its contract";
    case VIRTUE_NR_memory_create:
        if (c.a[1] != 0 || c.a[0] == 0 || c.a[0] > (1u << 20))
            return r == -XEN_EINVAL ? nullptr : "memory_create with bad pages or flags not -EINVAL";
        return r > 0 || r == -XEN_ENOMEM || r == -XEN_EMFILE ? nullptr : "memory_create result outside its contract";
    case VIRTUE_NR_aspace_create:
        return r > 0 || r == -XEN_ENOMEM || r == -XEN_ENOSPC || r == -XEN_EMFILE
                   ? nullptr
                   : "aspace_create result outside its contract";
    case VIRTUE_NR_aspace_map:
    case VIRTUE_NR_aspace_unmap:
    case VIRTUE_NR_aspace_protect:
    case VIRTUE_NR_aspace_read_bits: {
        // The va argument: outside the user half never succeeds.
        if (c.a[1] >= kUserEnd && r >= 0) return "mapping call outside the user half succeeded";
        if (c.nr == VIRTUE_NR_aspace_read_bits && c.a[4] >= kUserEnd && r >= 0) return "bitmap outside the user half";
        return r >= 0 && c.nr != VIRTUE_NR_aspace_read_bits && r != 0 ? "mapping call returned > 0" : nullptr;
    }
    case VIRTUE_NR_memory_audit: return r == 0 ? nullptr : "memory audit found violations";
    case VIRTUE_NR_thread_create:
        if ((c.a[1] >= kUserEnd || c.a[2] > kUserEnd || (c.a[2] & 15)) && r >= 0)
            return "thread_create with a bad entry or stack succeeded";
        return r > 0 || r < 0 ? nullptr : "thread_create returned 0";
    case VIRTUE_NR_timer_create: return r > 0 || r == -XEN_ENOMEM || r == -XEN_EMFILE ? nullptr : "timer_create";
    case VIRTUE_NR_wait_any:
        if (c.a[0] >= kUserEnd && r >= 0) return "wait_any read outside the user half";
        return r < 0 || static_cast<uint64_t>(r) < c.a[1] ? nullptr : "wait_any index beyond count";
    case VIRTUE_NR_thread_join:
        if (c.a[2] >= kUserEnd && r == 0) return "thread_join wrote outside the user half";
        return r > 0 ? "thread_join returned > 0" : nullptr;
    case VIRTUE_NR_fault_wait:
        return r == 0 ? "fault_wait reported a fault nobody made" : nullptr;
    case VIRTUE_NR_evtchn_alloc_unbound:
    case VIRTUE_NR_evtchn_bind_ipi:
    case VIRTUE_NR_endpoint_create:
        return r != 0 ? nullptr : "a call that returns a handle returned 0";
    case VIRTUE_NR_evtchn_bind_interdomain:
    case VIRTUE_NR_endpoint_connect:
        // Nothing is unbound for the fuzzer, and no endpoint names it.
        return r > 0 ? "connected to a port or endpoint nobody offered" : nullptr;
    case VIRTUE_NR_grant_map:
        return r > 0 ? "mapped a grant nobody made" : nullptr;
    case VIRTUE_NR_grant_copy:
        return r > 0 ? "grant_copy returned > 0" : nullptr;
    case VIRTUE_NR_abi_version:
        return r == VIRTUE_ABI_VERSION ? nullptr : "abi_version is not the version the SDK was built for";
    case VIRTUE_NR_grant_access:
    case VIRTUE_NR_endpoint_number:
        return nullptr; // a reference or number (needs a live handle: rare)
    case VIRTUE_NR_thread_read_regs:
        if (c.a[1] >= kUserEnd && r == 0) return "thread_read_regs wrote outside the user half";
        return r > 0 ? "thread_read_regs returned > 0" : nullptr;
    default: return r > 0 ? "call returned > 0" : nullptr; // yield, sleep_until, thread and timer controls
    }
}

void record(const Call& c, int64_t r) {
    if (r >= 0) g_counts.ok++;
    else if (r == -XEN_EPERM) g_counts.eperm++;
    else if (r == -XEN_EFAULT) g_counts.efault++;
    else if (r == -XEN_EINVAL) g_counts.einval++;
    else if (r == -XEN_ENOSYS) g_counts.enosys++;
    const char* why = violation(c, r);
    if (why == nullptr) return;
    if (g_counts.failures++ < kMaxPrintedFailures) {
        print("fuzzer: unexpected result %lld for call 0x%llx(0x%llx, 0x%llx, 0x%llx, 0x%llx, 0x%llx, 0x%llx) (%s)\n",
              static_cast<long long>(r), static_cast<unsigned long long>(c.nr),
              static_cast<unsigned long long>(c.a[0]), static_cast<unsigned long long>(c.a[1]),
              static_cast<unsigned long long>(c.a[2]), static_cast<unsigned long long>(c.a[3]),
              static_cast<unsigned long long>(c.a[4]), static_cast<unsigned long long>(c.a[5]), why);
        if (g_counts.failures == kMaxPrintedFailures) print("fuzzer: further failures are counted, not printed\n");
    }
}

uint64_t read_u64_cells(const void* p) {
    fdt64_t v;
    memcpy(&v, p, sizeof v);
    return fdt64_to_cpu(v);
}

// The lowest user address the domain is known to use (image, boot info, first
// stack, from the boot information), so that [0x1000, it) is unmapped.
uint64_t lowest_mapped(const void* stack_hint) {
    uint64_t lowest = reinterpret_cast<uint64_t>(__image_start);
    auto consider = [&](uint64_t a) {
        if (a != 0 && a < lowest) lowest = a;
    };
    consider(reinterpret_cast<uint64_t>(virtue::boot_info()));
    consider(reinterpret_cast<uint64_t>(stack_hint) - 0x10000); // stacks are 64 KiB, if the tree says nothing
    if (const void* fdt = virtue::boot_info()) {
        int layout = fdt_path_offset(fdt, "/layout");
        int len = 0;
        const void* stack = layout >= 0 ? fdt_getprop(fdt, layout, "stack", &len) : nullptr;
        if (stack != nullptr && len == 16) {
            uint64_t top = read_u64_cells(stack), size = read_u64_cells(static_cast<const char*>(stack) + 8);
            consider(top - size);
        }
    }
    return lowest & ~0xfffull;
}

} // namespace

int main() {
    uint64_t calls = 1000000, seed = 1;
    if (const char* v = virtue::arg_value("calls")) calls = strtoul(v, nullptr, 0);
    if (const char* v = virtue::arg_value("seed")) seed = strtoul(v, nullptr, 0);
    Rng rng{seed != 0 ? seed : 1};

    unsigned char stack_blob[256];
    memset(stack_blob, 0x5a, sizeof stack_blob);
    g_unmapped_end = lowest_mapped(stack_blob);
    print("fuzzer: %llu calls, seed %llu, unmapped probe range [0x1000, 0x%llx)\n",
          static_cast<unsigned long long>(calls), static_cast<unsigned long long>(seed),
          static_cast<unsigned long long>(g_unmapped_end));

    // The runtime's thread block (word 0 points at it): a random set_tls_base
    // is undone at once, before anything reads %fs again.
    uint64_t fs_block;
    asm volatile("movq %%fs:0, %0" : "=r"(fs_block));
    for (uint64_t n = 1; n <= calls; n++) {
        Call c = make_call(rng, stack_blob, sizeof stack_blob);
        int64_t r = issue(c);
        if (c.nr == VIRTUE_NR_set_tls_base) sys::set_tls_base(fs_block);
        record(c, r);
        if (n % 100000 == 0) print("fuzzer: %llu calls\n", static_cast<unsigned long long>(n));
    }
    asm volatile("" : : "r"(stack_blob) : "memory"); // the calls may look at it

    print("fuzzer: done %llu calls, %llu failures, per-errno counts: ok=%llu EPERM=%llu EFAULT=%llu "
          "EINVAL=%llu ENOSYS=%llu\n",
          static_cast<unsigned long long>(calls), static_cast<unsigned long long>(g_counts.failures),
          static_cast<unsigned long long>(g_counts.ok), static_cast<unsigned long long>(g_counts.eperm),
          static_cast<unsigned long long>(g_counts.efault), static_cast<unsigned long long>(g_counts.einval),
          static_cast<unsigned long long>(g_counts.enosys));
    sys::exit(g_counts.failures == 0 ? 0 : 1);
}
