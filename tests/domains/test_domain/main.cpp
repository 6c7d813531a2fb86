// test-domain: runs the blank-separated words of its bootargs, in order, as
// actions, for the integration tests. Every line it prints is listed below.
//
//   info       "info: id=<id> name=<name> memory=<bytes> free=<bytes> vcpus=<n>
//               weight=<w> cap=<c> privileges=<none|control|hardware|control,hardware>
//               thread=<thread id>"
//   bootinfo   "bootinfo: bootargs='<bootargs>' modules=<count>", then
//              "bootinfo: module <name> <size>" per module
//   errors     error-path checks: "check <label>: ok" or
//              "check <label>: FAIL got <v> expected <e>" each, then
//              "errors: <n> checks, <m> failed"
//   sleep      "sleep: slept <us> us", then "sleep: ok" (50 ms <= slept < 500 ms)
//              or "sleep: FAIL"
//   pace=MS    from now on, print=N sleeps MS ms between lines (default: yield)
//   print=N    "line <i> of <N> from <name>" for i = 1..N, yielding in between
//   pause=ID, unpause=ID, destroy=ID
//              the control calls on domain ID: "<action>: d<ID> -> <result>"
//   fault=K    "fault: about to <K>", then K = pf (write to 0x10), gp (load
//              from non-canonical 0x8000000000000000), ud (ud2), de (divide by
//              zero), kernel (read hypervisor address 0xffff82d080000000),
//              m2p (read the M2P at 0xffff800000000000, PV guests' only),
//              gate (far call through a guest GDT selector, see do_fault),
//              compat (syscall from 32-bit compatibility mode); if
//              the domain survives: "fault: <K> did not fault" and exit(3)
//   spin=N     busy for N ms of system time without yielding, then "spin: done"
//   handles    handle checks, like errors: "check <label>: ..." then
//              "handles: <n> checks, <m> failed"
//   read=MS    console_read (control domains) until a '!' arrives or MS ms
//              have passed: "read: <n> bytes: '<text>'" (non-printables as '.')
//   exit=N     "exit: status <N>", then exit(N)
// When the words run out: "test-domain: done" and status 0. An unknown word:
// "test-domain: unknown action '<word>'" and exit(2).
#include <stdlib.h>
#include <string.h>
#include <xen/errno.h>

#include <virtue/sdk.hpp>

#include "../checks.hpp"

namespace {

using virtue::print;
namespace sys = virtue::raw; // the ABI as it is: results compared with -XEN_E*

constexpr uint64_t kNsPerMs = 1000000;

uint64_t now() { return static_cast<uint64_t>(sys::system_time()); }

// "-12", "7", "0x10": like strtol without errno; good enough for bootargs.
int64_t parse_int(const char* s) {
    bool negative = *s == '-';
    if (negative || *s == '+') s++;
    uint64_t v = strtoul(s, nullptr, 0);
    return negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
}

// Returns the value of "<key>=..." or nullptr.
const char* value_of(const char* word, const char* key) {
    size_t n = strlen(key);
    return strncmp(word, key, n) == 0 && word[n] == '=' ? word + n + 1 : nullptr;
}

const char* privilege_names(uint32_t bits) {
    switch (bits & 3) {
    case 1: return "control";
    case 2: return "hardware";
    case 3: return "control,hardware";
    default: return "none";
    }
}

virtue_domain_info info_or_panic() {
    virtue_domain_info info{};
    int64_t rc = sys::domain_info(&info);
    if (rc != 0) virtue::panic("domain_info: %lld", static_cast<long long>(rc));
    return info;
}

// ---- info, bootinfo ----

void do_info() {
    virtue_domain_info d = info_or_panic();
    print("info: id=%u name=%s memory=%llu free=%llu vcpus=%u weight=%u cap=%u privileges=%s thread=%u\n",
          d.domain_id, d.name, static_cast<unsigned long long>(d.memory_bytes),
          static_cast<unsigned long long>(d.free_bytes), d.vcpus, d.weight, d.cap, privilege_names(d.privileges),
          d.thread_id);
}

void do_bootinfo() {
    print("bootinfo: bootargs='%s' modules=%zu\n", virtue::boot_args(), virtue::module_count());
    virtue::BootModule m;
    for (size_t i = 0; virtue::module(i, m); i++)
        print("bootinfo: module %s %llu\n", m.name, static_cast<unsigned long long>(m.size));
}

// ---- errors ----

using test_domains::Checks;

// A call by raw number with all six argument registers zero.
int64_t raw_call(uint64_t nr) {
    register uint64_t r10 asm("r10") = 0;
    register uint64_t r8 asm("r8") = 0;
    register uint64_t r9 asm("r9") = 0;
    int64_t ret = static_cast<int64_t>(nr);
    asm volatile("syscall"
                 : "+a"(ret)
                 : "D"(0ul), "S"(0ul), "d"(0ul), "r"(r10), "r"(r8), "r"(r9)
                 : "rcx", "r11", "memory");
    return ret;
}

template <typename T> T* addr(uint64_t a) { return reinterpret_cast<T*>(a); }

// Read-only memory the caller owns: an output there must fail with -EFAULT.
// Non-zero contents keep it in .rodata (never .bss).
alignas(64) const virtue_domain_info kReadOnlyInfo = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, "read-only"};
char g_big[4097];                                     // console_write length limit + 1
alignas(16) unsigned char g_info_buf[sizeof(virtue_domain_info) + 16]; // room for a misaligned struct

void do_errors() {
    Checks c;
    const int64_t einval = -XEN_EINVAL, efault = -XEN_EFAULT, eperm = -XEN_EPERM, enosys = -XEN_ENOSYS;
    memset(g_big, 'x', sizeof g_big);

    c.expect("console_write_len_4097", sys::console_write(g_big, 4097), einval);
    c.expect("console_write_hypervisor", sys::console_write(addr<const char>(0xffff82d080000000), 16), efault);
    c.expect("console_write_directmap", sys::console_write(addr<const char>(0xffff830000000000), 16), efault);
    c.expect("console_write_unmapped", sys::console_write(addr<const char>(0x1000), 1), efault);
    c.expect("console_write_noncanonical", sys::console_write(addr<const char>(0x0000800000000000), 16), efault);
    // Ranges that start valid-looking and run off the user half or wrap past
    // 2^64. The lengths stay within the 4096 limit: a longer one must fail
    // with -EINVAL before any address is looked at (native.toml).
    c.expect("console_write_cross_noncanonical", sys::console_write(addr<const char>(0x00007ffffffff800), 0x1000),
             efault);
    c.expect("console_write_wrap", sys::console_write(addr<const char>(0xfffffffffffff800), 0x1000), efault);
    c.expect("console_write_cross_len_0x2000", sys::console_write(addr<const char>(0x00007ffffffff000), 0x2000),
             einval);
    c.expect("console_write_len_0", sys::console_write(g_big, 0), 0);

    char buf[16];
    if (virtue_domain_info d = info_or_panic(); d.privileges & 1) {
        static char big_read[4097];
        c.expect("console_read_len_4097", sys::console_read(big_read, 4097), einval);
        c.expect("console_read_unmapped", sys::console_read(addr<char>(0x1000), 1), efault);
    } else {
        c.expect("console_read_not_control", sys::console_read(buf, sizeof buf), eperm);
    }

    c.expect("domain_info_misaligned", sys::domain_info(addr<virtue_domain_info>(reinterpret_cast<uint64_t>(g_info_buf) + 4)),
             einval);
    c.expect("domain_info_directmap", sys::domain_info(addr<virtue_domain_info>(0xffff830000001000)), efault);
    c.expect("domain_info_readonly", sys::domain_info(const_cast<virtue_domain_info*>(&kReadOnlyInfo)), efault);
    c.expect("domain_info_unmapped", sys::domain_info(addr<virtue_domain_info>(0x1000)), efault);

    // set_tls_base: never a hypervisor or non-canonical address. Restore the
    // runtime's block afterwards (libfdt reads its canary through %fs).
    uint64_t fs_block;
    asm volatile("movq %%fs:0, %0" : "=r"(fs_block));
    c.expect("set_tls_base_hypervisor", sys::set_tls_base(0xffff82d080000000ull), einval);
    c.expect("set_tls_base_noncanonical", sys::set_tls_base(0x0000800000000000ull), einval);
    c.expect("set_tls_base_own_block", sys::set_tls_base(fs_block), 0);
    uint64_t fs_check;
    asm volatile("movq %%fs:0, %0" : "=r"(fs_check));
    c.expect_true("set_tls_base_took_effect", fs_check == fs_block);

    // The control calls: -EPERM without the privilege; with it, -EINVAL on
    // oneself and -ESRCH for ids with no domain.
    if (info_or_panic().privileges & 1) {
        uint64_t self = info_or_panic().domain_id;
        c.expect("domain_pause_self", sys::domain_pause(self), einval);
        c.expect("domain_destroy_self", sys::domain_destroy(self), einval);
        c.expect("domain_pause_unknown", sys::domain_pause(0x7fef), -XEN_ESRCH);
        c.expect("domain_unpause_reserved", sys::domain_unpause(0x7ff0), -XEN_ESRCH);
        c.expect("domain_destroy_huge", sys::domain_destroy(0xffffffffffffffffull), -XEN_ESRCH);
    } else {
        c.expect("domain_pause_not_control", sys::domain_pause(0), eperm);
        c.expect("domain_unpause_not_control", sys::domain_unpause(0), eperm);
        c.expect("domain_destroy_not_control", sys::domain_destroy(0), eperm);
    }

    c.expect("nr_0x1fff", raw_call(0x1fff), enosys);
    c.expect("nr_0x2000", raw_call(0x2000), enosys);
    c.expect("nr_all_ones", raw_call(0xffffffffffffffff), enosys);
    c.expect("nr_xen_7", raw_call(7), enosys);

    uint64_t before = now();
    c.expect("sleep_until_past", sys::sleep_until(0), 0);
    uint64_t slept = now() - before;
    // "Returns at once": allow for being preempted, not for a tick-based wait.
    c.expect_true("sleep_until_past_fast", slept < 100 * kNsPerMs);

    int64_t t1 = sys::system_time(), t2 = sys::system_time();
    c.expect_true("system_time_positive", t1 > 0);
    c.expect_true("system_time_monotonic", t2 >= t1);

    print("errors: %u checks, %u failed\n", c.total, c.failed);
}

// ---- sleep, print, spin ----

void do_sleep() {
    uint64_t t0 = now();
    sys::sleep_until(t0 + 50 * kNsPerMs);
    uint64_t elapsed = now() - t0;
    print("sleep: slept %llu us\n", static_cast<unsigned long long>(elapsed / 1000));
    print(elapsed >= 50 * kNsPerMs && elapsed < 500 * kNsPerMs ? "sleep: ok\n" : "sleep: FAIL\n");
}

int64_t g_pace_ms = 0; // pace=: sleep between printed lines

void do_print(int64_t n) {
    for (int64_t i = 1; i <= n; i++) {
        print("line %lld of %lld from %s\n", static_cast<long long>(i), static_cast<long long>(n),
              virtue::domain_name());
        if (g_pace_ms > 0) sys::sleep_until(now() + static_cast<uint64_t>(g_pace_ms) * kNsPerMs);
        else sys::yield();
    }
}

void do_handles() {
    Checks c;
    const int64_t ebadf = -XEN_EBADF, exdev = -XEN_EXDEV, eacces = -XEN_EACCES, emfile = -XEN_EMFILE;
    static virtue_handle_info hi;
    int64_t self = sys::thread_self();
    c.expect_true("thread_self_is_handle", self > 0);
    c.expect("query_thread", sys::handle_query(static_cast<uint64_t>(self), &hi), 0);
    c.expect_true("query_thread_type", hi.type == VIRTUE_OBJ_THREAD &&
                                           hi.rights == (VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER |
                                                         VIRTUE_RIGHT_READ | VIRTUE_RIGHT_WRITE));
    int64_t as = sys::aspace_self();
    c.expect("query_aspace", sys::handle_query(static_cast<uint64_t>(as), &hi), 0);
    c.expect_true("query_aspace_type", hi.type == 2);
    c.expect_true("handles_differ", as != self);

    // Duplicate with fewer rights; rights never grow back.
    int64_t ro = sys::handle_duplicate(static_cast<uint64_t>(self), 1u << 8);
    c.expect_true("duplicate_is_handle", ro > 0 && ro != self);
    c.expect("query_duplicate", sys::handle_query(static_cast<uint64_t>(ro), &hi), 0);
    c.expect_true("duplicate_rights", hi.rights == (1u << 8));
    c.expect("duplicate_without_right", sys::handle_duplicate(static_cast<uint64_t>(ro), 1u << 8), eacces);
    int64_t dup_only = sys::handle_duplicate(static_cast<uint64_t>(self), 1u);
    c.expect_true("duplicate_dup_only", dup_only > 0);
    c.expect("duplicate_growing", sys::handle_duplicate(static_cast<uint64_t>(dup_only), 1u | (1u << 8)), eacces);
    c.expect_true("duplicate_same_rights", sys::handle_duplicate(static_cast<uint64_t>(dup_only), 1u) > 0);
    c.expect("duplicate_rights_above_32", sys::handle_duplicate(static_cast<uint64_t>(self), 1ull << 32), -XEN_EINVAL);

    // Closed: dead for good, the duplicate lives on.
    c.expect("close", sys::handle_close(static_cast<uint64_t>(self)), 0);
    c.expect("close_again", sys::handle_close(static_cast<uint64_t>(self)), ebadf);
    c.expect("query_closed", sys::handle_query(static_cast<uint64_t>(self), &hi), ebadf);
    c.expect("duplicate_closed", sys::handle_duplicate(static_cast<uint64_t>(self), 0), ebadf);
    c.expect("duplicate_survives", sys::handle_query(static_cast<uint64_t>(ro), &hi), 0);

    // Forged values: 0, stray high bits, another domain's id in the value.
    c.expect("handle_zero", sys::handle_close(0), ebadf);
    c.expect("handle_high_bits", sys::handle_close(static_cast<uint64_t>(ro) | (1ull << 63)), ebadf);
    uint64_t my_id = info_or_panic().domain_id;
    uint64_t foreign = (static_cast<uint64_t>(ro) & ~(0x7fffull << 40)) | (((my_id + 1) & 0x7fff) << 40);
    c.expect("handle_foreign", sys::handle_close(foreign), exdev);
    c.expect("query_misaligned", sys::handle_query(static_cast<uint64_t>(ro), addr<virtue_handle_info>(reinterpret_cast<uint64_t>(&hi) + 2)), -XEN_EINVAL);
    c.expect("query_kernel", sys::handle_query(static_cast<uint64_t>(ro), addr<virtue_handle_info>(0xffff830000001000)), -XEN_EFAULT);

    // Exhaustion: the table holds 128 handles; then -EMFILE, and closing
    // one makes room again.
    int64_t last = 0;
    int made = 0;
    for (int i = 0; i < 200; i++) {
        int64_t h = sys::thread_self();
        if (h < 0) {
            last = h;
            break;
        }
        made++;
    }
    c.expect("table_full", last, emfile);
    c.expect_true("table_bounded", made > 0 && made <= 128);
    c.expect("duplicate_when_full", sys::handle_duplicate(static_cast<uint64_t>(as), 0), emfile);
    c.expect("close_when_full", sys::handle_close(static_cast<uint64_t>(as)), 0);
    c.expect_true("room_again", sys::thread_self() > 0);
    print("handles: %u checks, %u failed\n", c.total, c.failed);
}

void do_read(int64_t ms) {
    static char text[512];
    size_t n = 0;
    uint64_t end = now() + static_cast<uint64_t>(ms > 0 ? ms : 0) * kNsPerMs;
    bool done = false;
    while (!done && now() < end && n < sizeof text - 1) {
        int64_t got = sys::console_read(text + n, sizeof text - 1 - n);
        if (got < 0) {
            print("read: error %lld\n", static_cast<long long>(got));
            return;
        }
        for (int64_t i = 0; i < got; i++) {
            char& c = text[n + static_cast<size_t>(i)];
            if (c == '!') done = true;
            if (c < 0x20 || c > 0x7e) c = '.';
        }
        n += static_cast<size_t>(got);
        if (!got) sys::sleep_until(now() + 10 * kNsPerMs);
    }
    text[n] = '\0';
    print("read: %zu bytes: '%s'\n", n, text);
}

void do_control(const char* action, int64_t (*call)(uint64_t), int64_t id) {
    int64_t r = call(static_cast<uint64_t>(id));
    print("%s: d%lld -> %lld\n", action, static_cast<long long>(id), static_cast<long long>(r));
}

volatile uint64_t g_sink;

// Busy work between clock reads, so the domain spends its time computing in
// ring 3 rather than in the hypervisor.
void do_spin(int64_t ms) {
    uint64_t end = now() + static_cast<uint64_t>(ms > 0 ? ms : 0) * kNsPerMs;
    uint64_t x = 1;
    while (now() < end) {
        for (int i = 0; i < 20000; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
        g_sink = x;
    }
    print("spin: done\n");
}

// ---- fault ----

bool is_fault_kind(const char* kind) {
    static const char* const kKinds[] = {"pf", "gp", "ud", "de", "kernel", "m2p", "gate", "compat"};
    for (const char* k : kKinds)
        if (!strcmp(kind, k)) return true;
    return false;
}

[[noreturn]] void do_fault(const char* kind) {
    print("fault: about to %s\n", kind);
    // Inline asm throughout, so the compiler can neither fold nor drop them.
    if (!strcmp(kind, "pf")) {
        asm volatile("movl $1, (%0)" : : "r"(0x10ul) : "memory");
    } else if (!strcmp(kind, "gp")) {
        uint64_t v;
        asm volatile("movq (%1), %0" : "=r"(v) : "r"(0x8000000000000000ul) : "memory");
        g_sink = v;
    } else if (!strcmp(kind, "ud")) {
        asm volatile("ud2");
    } else if (!strcmp(kind, "de")) {
        asm volatile("xorl %%ecx, %%ecx\n\t"
                     "movl $1, %%eax\n\t"
                     "xorl %%edx, %%edx\n\t"
                     "divq %%rcx"
                     : : : "rax", "rcx", "rdx");
    } else if (!strcmp(kind, "kernel")) {
        uint64_t v;
        asm volatile("movq (%1), %0" : "=r"(v) : "r"(0xffff82d080000000ul) : "memory");
        g_sink = v;
    } else if (!strcmp(kind, "m2p")) {
        // The M2P is mapped for PV guests only.
        uint64_t v;
        asm volatile("movq (%1), %0" : "=r"(v) : "r"(0xffff800000000000ul) : "memory");
        g_sink = v;
    } else if (!strcmp(kind, "gate")) {
        // A far call through selector 0xdf6b, below the hypervisor's GDT
        // entries, after a syscall made with an RSP whose bits form a DPL-3
        // call gate to 0xe008:0x2ffff0000: if guest selectors could reach
        // hypervisor data (the user RSP saved by the syscall entry), this
        // would enter ring 0. They read as zero: #GP/#NP in ring 3.
        static const struct __attribute__((packed)) {
            uint32_t offset;
            uint16_t selector;
        } far = {0, 0xdf6b};
        asm volatile("mov %%rsp, %%rbx\n\t"
                     "movabs $0xFFFFEC00E0080000, %%rsp\n\t"
                     "mov $0x1004, %%eax\n\t"
                     "syscall\n\t"
                     "mov %%rbx, %%rsp\n\t"
                     "lcall *%0"
                     :
                     : "m"(far)
                     : "rax", "rbx", "rcx", "rdx", "r11", "memory");
    } else if (!strcmp(kind, "compat")) {
        // `syscall` from 32-bit compatibility mode (ring-3 CS 0xe023): lands
        // at CSTAR under TCG and on AMD; must kill the domain only.
        static struct __attribute__((packed)) {
            uint32_t offset;
            uint16_t selector;
        } far = {0, 0xe023};
        uint64_t target;
        asm volatile("lea 1f(%%rip), %0" : "=r"(target));
        far.offset = static_cast<uint32_t>(target);
        asm volatile("ljmp *%0\n\t"
                     ".code32\n"
                     "1:\n\t"
                     "mov $0x1004, %%eax\n\t"
                     "syscall\n\t"
                     "ud2\n\t"
                     ".code64"
                     :
                     : "m"(far)
                     : "rax", "rcx", "r11", "memory");
    }
    print("fault: %s did not fault\n", kind);
    sys::exit(3);
}

} // namespace

int main() {
    for (size_t i = 0; i < virtue::arg_count(); i++) {
        const char* w = virtue::arg(i);
        const char* v;
        if (!strcmp(w, "info")) do_info();
        else if (!strcmp(w, "bootinfo")) do_bootinfo();
        else if (!strcmp(w, "errors")) do_errors();
        else if (!strcmp(w, "handles")) do_handles();
        else if (!strcmp(w, "sleep")) do_sleep();
        else if ((v = value_of(w, "print"))) do_print(parse_int(v));
        else if ((v = value_of(w, "pace"))) g_pace_ms = parse_int(v);
        else if ((v = value_of(w, "read"))) do_read(parse_int(v));
        else if ((v = value_of(w, "pause"))) do_control("pause", sys::domain_pause, parse_int(v));
        else if ((v = value_of(w, "unpause"))) do_control("unpause", sys::domain_unpause, parse_int(v));
        else if ((v = value_of(w, "destroy"))) do_control("destroy", sys::domain_destroy, parse_int(v));
        else if ((v = value_of(w, "spin"))) do_spin(parse_int(v));
        else if ((v = value_of(w, "fault")) && is_fault_kind(v)) do_fault(v);
        else if ((v = value_of(w, "exit"))) {
            int64_t status = parse_int(v);
            print("exit: status %lld\n", static_cast<long long>(status));
            sys::exit(status);
        } else {
            print("test-domain: unknown action '%s'\n", w);
            sys::exit(2);
        }
    }
    print("test-domain: done\n");
    return 0;
}
