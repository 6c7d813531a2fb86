// The PV state of a domain (pv_domain.hpp).
#include "pv_domain.hpp"

#include <new>

#include "arch/paging.hpp"
#include "arch/pte.hpp"
#include "arch/tlb.hpp"
#include "lib/string.hpp"
#include "domain/domain_hooks.hpp"
#include "grant/grant_table.hpp"
#include "m2p.hpp"
#include "pv_page_tables.hpp"

namespace virtue::xen {
namespace {

uint32_t g_slot;

void pv_free(Domain& d) {
    auto* pv = static_cast<PvDomain*>(d.extensions[g_slot]);
    if (!pv) return;
    d.extensions[g_slot] = nullptr;
    // The frames go back with the partition; their M2P entries must not
    // name this domain's PFNs once another domain owns them.
    domain_for_each_partition_block(
        d,
        [](Mfn first, uint64_t count, void*) {
            for (uint64_t i = 0; i < count; i++) m2p_set(first + i, kInvalidM2p);
        },
        nullptr);
    d.events.upcall = nullptr;
    d.events.masked_pending = nullptr;
    d.events.moved_vcpu_info = nullptr;
    if (pv->console_timer) kobject_unref(pv->console_timer->kobj);
    for (uint32_t v = 0; v < pv->nr_vcpus; v++) {
        if (!pv->vcpu[v]) continue; // (a build that failed part-way)
        if (pv->vcpu[v]->aspace) kobject_unref(pv->vcpu[v]->aspace->kobj);
        if (pv->vcpu[v]->thread) kobject_unref(pv->vcpu[v]->thread->kobj);
    }
    pv->~PvDomain(); // (its frame goes back with the partition)
}

} // namespace

namespace {
void pv_dying(Domain& d) {
    if (auto* pv = static_cast<PvDomain*>(d.extensions[g_slot])) pv_console_stop(*pv);
}
} // namespace

void pv_domain_init() { g_slot = domain_register_hooks({.dying = pv_dying, .free = pv_free}); }

PvDomain* pv_domain(Domain& d) { return static_cast<PvDomain*>(d.extensions[g_slot]); }

namespace {
// Another domain's use of a PV guest's grant (map or copy): a reference on
// the frame, and a Writable use if it may write it, taken under the PV
// MMU's rules, so the frame stays the guest's RAM and, while it may be
// written, never becomes a page table or descriptor page.
Status pv_grant_hold(Domain& d, Mfn m, bool write) {
    PollingLockGuard lock(d.mm_lock, arch::tlb_serve_requests);
    PvMmuEnv env(d);
    pv::PageTables<PvMmuEnv> tables(env);
    return write ? tables.get_page_and_type(m, PageType::Writable) : tables.get_page(m);
}

void pv_grant_release(Domain& d, Mfn m, bool write) {
    PollingLockGuard lock(d.mm_lock, arch::tlb_serve_requests);
    PvMmuEnv env(d);
    pv::PageTables<PvMmuEnv> tables(env);
    // (A frame the guest gave back meanwhile goes now.)
    if (write) tables.put_page_and_type(m);
    else tables.put_page(m);
}

constexpr GrantHoldOps kPvGrantHolds{pv_grant_hold, pv_grant_release};
} // namespace

const GrantHoldOps& pv_grant_hold_ops() { return kPvGrantHolds; }

Status pv_grant_frames_mappable(Domain& d, uint32_t frames) {
    PvDomain* pv = pv_domain(d);
    if (!pv) return Status::success();
    PollingLockGuard lock(d.mm_lock, arch::tlb_serve_requests);
    PvMmuEnv env(d);
    pv::PageTables<PvMmuEnv> tables(env);
    for (; pv->grant_frames_mappable < frames; pv->grant_frames_mappable++) {
        const Mfn m = grant_table_frame(d, pv->grant_frames_mappable);
        frame_info(m).flags |= pv::kFrameGuest; // (get_page takes only the guest's frames)
        if (Status held = tables.get_page_and_type(m, PageType::Writable); !held) {
            frame_info(m).flags &= static_cast<uint8_t>(~pv::kFrameGuest);
            return held;
        }
    }
    return Status::success();
}

void pv_drop_writable(Domain& d, Mfn m) { pv_grant_release(d, m, true); }

Status pv_hold_writable(Domain& d, Mfn m) { return pv_grant_hold(d, m, true); }

// In a frame of the domain's own partition (it goes back with it).
Result<PvDomain*> pv_domain_attach(Domain& d) {
    static_assert(sizeof(PvDomain) <= PAGE_SIZE && sizeof(PvVcpu) <= PAGE_SIZE);
    auto frame = domain_alloc_frame(d);
    if (!frame) return frame.error();
    auto* pv = new (arch::phys_ptr<void>(to_phys(*frame))) PvDomain();
    d.extensions[g_slot] = pv;
    return pv;
}

namespace {
// The guest frame a VA maps writable in `as`; FRAME_NIL if none.
uint64_t writable_frame(Domain& d, const AddressSpace& as, uint64_t va) {
    uint64_t table = as.root.raw() >> 12;
    for (unsigned level = 4; level >= 1; level--) {
        const uint64_t e = arch::phys_ptr<const uint64_t>(to_phys(Mfn(table)))[(va >> (12 + 9 * (level - 1))) & 511];
        constexpr uint64_t kNeed = pte::P | pte::RW | pte::US;
        if ((e & kNeed) != kNeed || (level > 1 && (e & pte::PS))) return FRAME_NIL;
        table = (e & pte::ADDR_MASK) >> 12;
    }
    if (!frame_in_table(Mfn(table))) return FRAME_NIL;
    const FrameInfo& f = frame_info(Mfn(table));
    return f.owner == d.id && (f.flags & pv::kFrameGuest) ? table : FRAME_NIL;
}
} // namespace

bool pv_write_guest(Domain& d, const AddressSpace& as, uint64_t va, const void* src, size_t n) {
    if (!n || n > PAGE_SIZE || va + n < va || !is_canonical(va) || !is_canonical(va + n - 1)) return false;
    const uint64_t first = writable_frame(d, as, va), last = writable_frame(d, as, va + n - 1);
    if (first == FRAME_NIL || last == FRAME_NIL) return false;
    const size_t head = PAGE_SIZE - (va & PAGE_MASK) < n ? PAGE_SIZE - (va & PAGE_MASK) : n;
    memcpy(arch::phys_ptr<uint8_t>(to_phys(Mfn(first))) + (va & PAGE_MASK), src, head);
    if (head < n) memcpy(arch::phys_ptr<uint8_t>(to_phys(Mfn(last))), static_cast<const uint8_t*>(src) + head, n - head);
    return true;
}

uint64_t* PvMmuEnv::table(Mfn m) { return arch::phys_ptr<uint64_t>(to_phys(m)); }

// Slot 256 holds the M2P, readable from the guest's ring 3; the others the
// hypervisor's own entries (supervisor-only).
uint64_t PvMmuEnv::hypervisor_l4e(unsigned slot) {
    if (slot == 256) return m2p_l4e();
    return arch::phys_ptr<const uint64_t>(arch::kernel_root())[slot];
}

// The guest's translations of m may be anywhere in any of its address
// spaces: every CPU that runs one of its vCPUs flushes its whole TLB.
void PvMmuEnv::flush_stale(Mfn) {
    PvDomain* pv = pv_domain(d_);
    if (!pv) return;
    for (uint32_t v = 0; v < pv->nr_vcpus; v++)
        if (AddressSpace* as = pv->vcpu[v] ? pv->vcpu[v]->aspace : nullptr)
            arch::tlb_shootdown(as->active_cpus, as->root.raw(), 0, ~uint64_t{0} & ~uint64_t{0xfff});
}

void PvMmuEnv::m2p_set(Mfn m, uint64_t pfn) { xen::m2p_set(m, pfn); }

// The reservation (pv_reservation.hpp): ram_frames changes under mm_lock,
// which the caller holds; readers outside it load it atomically.
void PvMmuEnv::give_back(Mfn m) {
    domain_free_frame(d_, m);
    if (PvDomain* pv = pv_domain(d_)) __atomic_store_n(&pv->ram_frames, pv->ram_frames - 1, __ATOMIC_RELAXED);
}

Result<Mfn> PvMmuEnv::take_frame() {
    PvDomain* pv = pv_domain(d_);
    if (!pv || pv->ram_frames >= pv->nr_pages) return Err::NoMemory;
    auto m = domain_alloc_frame(d_);
    if (!m) return m.error();
    __atomic_store_n(&pv->ram_frames, pv->ram_frames + 1, __ATOMIC_RELAXED);
    return *m;
}

} // namespace virtue::xen
