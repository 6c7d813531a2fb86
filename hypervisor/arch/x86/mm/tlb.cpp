// TLB shootdown (see arch/tlb.hpp).
#include "arch/tlb.hpp"

#include "arch/apic.hpp"
#include "arch/cpu.hpp"
#include "arch/percpu.hpp"

namespace virtue::arch {
namespace {

// AddressSpace::active_cpus is one 64-bit word; smp_boot never starts a CPU
// with an index >= MAX_CPUS.
static_assert(MAX_CPUS <= 64, "the active-CPU mask must grow with MAX_CPUS");

// Above this many pages the local flush reloads CR3 instead of invlpg.
constexpr uint64_t kInvlpgLimit = 32;

struct alignas(64) Mailbox {
    uint64_t requested = 0; // requests posted (by other CPUs)
    uint64_t served = 0;    // requests covered by a flush (written by the owner only)
};
Mailbox g_mailbox[MAX_CPUS];

void flush_local(uint64_t root, uint64_t va, uint64_t size) {
    if (read_cr3() != root) return; // not loaded here: nothing cached
    if (size / 0x1000 <= kInvlpgLimit)
        for (uint64_t p = va; p < va + size; p += 0x1000) invlpg(p);
    else
        flush_tlb_local();
}

} // namespace

bool g_tlb_shootdown_remote = true;

void tlb_serve_requests() {
    Mailbox& m = g_mailbox[cpu_index()];
    uint64_t req = __atomic_load_n(&m.requested, __ATOMIC_ACQUIRE);
    if (req == m.served) return;
    flush_tlb_local();
    __atomic_store_n(&m.served, req, __ATOMIC_RELEASE);
}

uint64_t tlb_requests_served() { return __atomic_load_n(&g_mailbox[cpu_index()].served, __ATOMIC_RELAXED); }

void tlb_shootdown(const Atomic<uint64_t>& active_cpus, uint64_t root, uint64_t va, uint64_t size) {
    // The page-table writes must be visible before we read who has the
    // address space loaded (the scheduler sets its bit before loading CR3).
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    const uint32_t me = cpu_index();
    // Relaxed after the seq_cst fence above: the fence orders it.
    uint64_t others = active_cpus.load(MemOrder::Relaxed) & ~(uint64_t{1} << me);
    flush_local(root, va, size);
    if (!g_tlb_shootdown_remote || !others) return;
    uint64_t ticket[MAX_CPUS];
    for (uint64_t rest = others; rest; rest &= rest - 1) {
        unsigned c = static_cast<unsigned>(__builtin_ctzll(rest));
        ticket[c] = __atomic_add_fetch(&g_mailbox[c].requested, 1, __ATOMIC_ACQ_REL);
        lapic_send_ipi(g_percpu[c].apic_id, VECTOR_TLB_FLUSH);
    }
    for (uint64_t rest = others; rest; rest &= rest - 1) {
        unsigned c = static_cast<unsigned>(__builtin_ctzll(rest));
        while (__atomic_load_n(&g_mailbox[c].served, __ATOMIC_ACQUIRE) < ticket[c]) {
            tlb_serve_requests();
            cpu_relax();
        }
    }
}

} // namespace virtue::arch
