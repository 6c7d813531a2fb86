// Bench mode ("bench" on the command line): after the checks, which set
// the stage (trap table, event callback, user address space, syscall
// callback), time the operations a PV kernel does most, the same way on
// every hypervisor, and print one line each:
//     BENCH <name>: <cycles> cycles
// the median over rounds of the TSC cycles per operation. The host program
// tests/bench/pv_bench.cpp boots this on real Xen and on Virtue and prints
// the ratios (docs/performance.md).
#include <stdint.h>
#include <string.h>
#include <xen/event_channel.h>
#include <xen/version.h>
#include <xen/xen.h>

#include "bench.hpp"
#include "boot.hpp"
#include "console.hpp"
#include "hypercall.hpp"

extern "C" const unsigned char pv_user_bench[];

namespace pv {
namespace {

constexpr int kRounds = 7;

uint64_t tsc() {
    uint32_t lo, hi;
    asm volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return (uint64_t{hi} << 32) | lo;
}

// Runs `round` kRounds times; each returns the cycles of `ops` operations.
// Prints the median per operation.
template <typename F> void report(const char* name, unsigned ops, F round) {
    uint64_t per_op[kRounds];
    for (int i = 0; i < kRounds; i++) per_op[i] = round() / ops;
    for (int i = 1; i < kRounds; i++)
        for (int j = i; j > 0 && per_op[j - 1] > per_op[j]; j--) {
            const uint64_t t = per_op[j];
            per_op[j] = per_op[j - 1];
            per_op[j - 1] = t;
        }
    print("BENCH %s: %lu cycles\n", name, per_op[kRounds / 2]);
}

void fail(const char* what, long rc) { print("BENCH-ERROR %s: %ld\n", what, rc); }

long mmu_update(mmu_update_t* reqs, unsigned n) {
    unsigned done = 0;
    return hypercall(__HYPERVISOR_mmu_update, arg(reqs), n, arg(&done), DOMID_SELF);
}

long evtchn_op(int cmd, void* op) { return hypercall(__HYPERVISOR_event_channel_op, static_cast<uint64_t>(cmd), arg(op)); }

mmu_update_t g_reqs[512];

} // namespace

void run_bench(const Boot& b) {
    const auto* p2m = reinterpret_cast<const uint64_t*>(b.si->mfn_list);
    const uint64_t n = b.si->nr_pages;
    // Frames no mapping of ours names: below the user checks' six and the
    // page-table write checks' one; and 512 data frames from the middle.
    const uint64_t l1 = p2m[n - 9], kernel_l4_b = p2m[n - 10], user_l4_b = p2m[n - 11];
    const uint64_t data = n / 2;

    // The null hypercall: xen_version(XENVER_version), as Xen's own
    // measurements use.
    report("null_hypercall", 10000, [] {
        const uint64_t t0 = tsc();
        for (int i = 0; i < 10000; i++) (void)xen_version(XENVER_version, nullptr);
        return tsc() - t0;
    });

    // Guest user -> syscall -> guest kernel -> iret(VGCF_in_syscall) -> user.
    report("user_syscall_round_trip", PV_USER_BENCH_CALLS, [] {
        const uint64_t t0 = tsc();
        enter_user_at(pv_user_bench);
        return tsc() - t0;
    });

    // 512 PTEs of a pinned L1 (in no table) written in one mmu_update: each
    // maps a data frame of ours writable; then all cleared again.
    uint64_t zero[1] = {0};
    long rc = fill(b, l1, zero, 0) ? mmuext(MMUEXT_PIN_L1_TABLE, l1) : -1;
    if (rc != 0) return fail("pin bench L1", rc);
    auto set_all = [&](bool map) {
        for (unsigned i = 0; i < 512; i++) {
            g_reqs[i].ptr = ((l1 << 12) + i * 8) | MMU_NORMAL_PT_UPDATE;
            g_reqs[i].val = map ? (p2m[data + i] << 12) | PTE_P | PTE_RW | PTE_A | PTE_D : 0;
        }
    };
    long bad = 0;
    report("mmu_update_512_ptes", 1, [&] {
        set_all(true);
        const uint64_t t0 = tsc();
        bad |= mmu_update(g_reqs, 512);
        const uint64_t t = tsc() - t0;
        set_all(false);
        bad |= mmu_update(g_reqs, 512);
        return t;
    });
    if (bad) return fail("mmu_update of the bench L1", bad);

    // Pin and unpin of that L1 holding 512 mappings (pinning validates them).
    set_all(true);
    rc = mmu_update(g_reqs, 512);
    if (rc == 0) rc = mmuext(MMUEXT_UNPIN_TABLE, l1);
    if (rc != 0) return fail("fill and unpin the bench L1", rc);
    report("pin_unpin_l1", 100, [&] {
        const uint64_t t0 = tsc();
        for (int i = 0; i < 100; i++) bad |= mmuext(MMUEXT_PIN_L1_TABLE, l1) | mmuext(MMUEXT_UNPIN_TABLE, l1);
        return tsc() - t0;
    });
    if (bad) return fail("pin/unpin of the bench L1", bad);

    // Event-channel loopback: send on a port bound to ourselves, the upcall
    // taken on the way back from the hypercall.
    evtchn_alloc_unbound_t a{};
    a.dom = DOMID_SELF;
    a.remote_dom = DOMID_SELF;
    rc = evtchn_op(EVTCHNOP_alloc_unbound, &a);
    evtchn_bind_interdomain_t bi{};
    bi.remote_dom = DOMID_SELF;
    bi.remote_port = a.port;
    if (rc == 0) rc = evtchn_op(EVTCHNOP_bind_interdomain, &bi);
    if (rc != 0) return fail("loopback event channel", rc);
    my_vcpu_info()->evtchn_upcall_mask = 0;
    const unsigned upcalls_before = g_upcalls;
    report("event_loopback", 1000, [&] {
        evtchn_send_t s{};
        s.port = bi.local_port;
        const uint64_t t0 = tsc();
        for (int i = 0; i < 1000; i++) bad |= evtchn_op(EVTCHNOP_send, &s);
        return tsc() - t0;
    });
    my_vcpu_info()->evtchn_upcall_mask = 1;
    if (bad || g_upcalls - upcalls_before != 1000u * kRounds)
        return fail("event loopback: upcalls", static_cast<long>(g_upcalls - upcalls_before));

    // A switch between two guest processes as a PV Linux makes it: one
    // mmuext_op batch of new_baseptr + new_user_baseptr. Process A is our
    // kernel L4 with the user checks' user L4; process B a copy of our
    // kernel L4 (its guest slots) with an empty user L4.
    const uint64_t* my_l4 = reinterpret_cast<const uint64_t*>(b.si->pt_base);
    static uint64_t copy[512];
    for (int i = 0; i < 512; i++) copy[i] = i >= 256 && i < 272 ? 0 : my_l4[i]; // (256-271: the hypervisor's)
    const uint64_t kernel_l4_a = own_mfn(b, my_l4);
    rc = fill(b, kernel_l4_b, copy, sizeof copy) && fill(b, user_l4_b, zero, 0) ? 0 : -1;
    if (rc == 0) rc = mmuext(MMUEXT_PIN_L4_TABLE, kernel_l4_b);
    if (rc == 0) rc = mmuext(MMUEXT_PIN_L4_TABLE, user_l4_b);
    if (rc != 0) return fail("process B's tables", rc);
    // Process A's user L4: the one user_checks made current.
    const uint64_t user_l4_a = p2m[n - 1];
    auto switch_to = [&](uint64_t k, uint64_t u) {
        mmuext_op ops[2]{};
        ops[0].cmd = MMUEXT_NEW_BASEPTR;
        ops[0].arg1.mfn = k;
        ops[1].cmd = MMUEXT_NEW_USER_BASEPTR;
        ops[1].arg1.mfn = u;
        unsigned done = 0;
        return hypercall(__HYPERVISOR_mmuext_op, arg(ops), 2, arg(&done), DOMID_SELF);
    };
    report("process_switch", 200, [&] {
        const uint64_t t0 = tsc();
        for (int i = 0; i < 100; i++) bad |= switch_to(kernel_l4_b, user_l4_b) | switch_to(kernel_l4_a, user_l4_a);
        return tsc() - t0;
    });
    if (bad) return fail("process switch", bad);
    (void)mmuext(MMUEXT_UNPIN_TABLE, kernel_l4_b);
    (void)mmuext(MMUEXT_UNPIN_TABLE, user_l4_b);
    (void)mmuext(MMUEXT_UNPIN_TABLE, l1);
    print("BENCH done\n");
}

} // namespace pv
