// The PV MMU hypercalls: mmu_update, mmuext_op and update_va_mapping, each
// request checked by the PV MMU (pv_mmu_ops.hpp, pv_page_tables.hpp) under
// the domain's mm_lock, then the TLB flushes the requests asked for. A long
// batch continues in Xen's way: the request pointer and the count in the
// caller's argument registers advance past what was done, and the count's
// bits 32-62 carry how many were done before (so *pdone gets the total).
#include "xen_handlers.hpp"

#include "arch/cpu.hpp"
#include "arch/paging.hpp"
#include "arch/tlb.hpp"
#include "pv_domain.hpp"
#include "pv_gdt.hpp"
#include "pv_mmu_ops.hpp"
#include "pv_page_tables.hpp"
#include "sched/scheduler.hpp"
#include "xen-compat/op_args.hpp"

namespace virtue::xen {
namespace {

// Requests between safe points (each is one entry check or one command;
// a pin validates at most a whole tree, which is bounded by the guest's
// own memory).
constexpr uint64_t kRequestsPerStep = 64;
constexpr uint64_t kDoneShift = 32;
constexpr uint64_t kCountMask = (uint64_t{1} << kDoneShift) - 1;

struct Caller {
    Domain& d;
    PvDomain& pv;
    PvVcpu& vcpu;
};

Result<Caller> pv_caller() {
    Thread& t = *current_thread();
    PvDomain* pv = pv_domain(*t.domain);
    if (!pv || t.xen_vcpu >= pv->nr_vcpus || !pv->vcpu[t.xen_vcpu]) return Err::NotSupported; // (only PV kernels reach this table)
    return Caller{*t.domain, *pv, *pv->vcpu[t.xen_vcpu]};
}

// The vCPU's new kernel L4 becomes its root, loaded on this CPU now (also
// the local flush a CR3 load is).
void load_new_root(Caller& c) {
    c.vcpu.base.reload_root = false;
    c.vcpu.aspace->root = to_phys(Mfn(c.vcpu.base.kernel_l4));
    arch::load_root(c.vcpu.aspace->root);
}

// What the requests asked to flush, and a new kernel L4 or LDT to load.
void finish(Caller& c, pv::PvFlush& flush) {
    if (c.vcpu.base.reload_ldt) pv_reload_ldt(c.vcpu);
    if (c.vcpu.base.reload_root) load_new_root(c);
    using Scope = pv::PvFlush::Scope;
    if (flush.scope == Scope::Local) {
        if (flush.whole) arch::flush_tlb_local();
        else arch::invlpg(flush.va);
    } else if (flush.scope != Scope::None) {
        // A vCPU set is flushed as all of them (a superset is correct).
        const uint64_t va = flush.whole ? 0 : flush.va;
        const uint64_t size = flush.whole ? ~uint64_t{0xfff} : 0x1000;
        for (uint32_t v = 0; v < c.pv.nr_vcpus; v++)
            if (AddressSpace* as = c.pv.vcpu[v] ? c.pv.vcpu[v]->aspace : nullptr) arch::tlb_shootdown(as->active_cpus, as->root.raw(), va, size);
    }
    flush = {};
}

// Runs one(request) over a batch of `Req`s at `reqs`, with continuations.
template <typename Req, typename One>
CallResult batch(uint64_t reqs, uint64_t count_arg, uint64_t pdone, uint64_t foreigndom, One one) {
    if (foreigndom != DOMID_SELF && !names_self(static_cast<domid_t>(foreigndom))) return Err::NotPermitted;
    auto caller = pv_caller();
    if (!caller) return caller.error();
    Caller& c = *caller;
    const uint64_t count = count_arg & kCountMask;
    const uint64_t before = (count_arg >> kDoneShift) & 0x7fffffff;
    uint64_t done = 0;
    pv::PvFlush flush;
    Status s = Status::success();
    while (done < count && s) {
        if (done > 0 && done % kRequestsPerStep == 0) {
            finish(c, flush);
            if (hypercall_preempt_check()) {
                hypercall_continue_with(0, reqs + done * sizeof(Req));
                hypercall_continue_with(1, (count - done) | ((before + done) << kDoneShift));
                return Err::Restart;
            }
        }
        Req r;
        s = copy_from_user(&r, reqs + done * sizeof(Req), sizeof r);
        if (!s) break;
        {
            PollingLockGuard lock(c.d.mm_lock, arch::tlb_serve_requests);
            PvMmuEnv env(c.d);
            pv::PageTables<PvMmuEnv> tables(env);
            pv::PvMmu<PvMmuEnv> mmu(tables, env);
            s = one(mmu, r, c.vcpu.base, flush);
            if (c.vcpu.base.old_kernel_l4) {
                // A new kernel L4: loaded now, and only then the old one
                // (which this CPU had in CR3) let go.
                load_new_root(c);
                mmu.drop_old_root(c.vcpu.base);
            }
        }
        if (s) done++;
    }
    finish(c, flush);
    if (pdone) {
        const uint32_t total = static_cast<uint32_t>(before + done);
        TRY(copy_to_user(pdone, &total, sizeof total));
    }
    TRY(s);
    return 0;
}

} // namespace

CallResult mmu_update(uint64_t reqs, uint64_t count, uint64_t pdone, uint64_t foreigndom) {
    return batch<mmu_update_t>(reqs, count, pdone, foreigndom,
                               [](pv::PvMmu<PvMmuEnv>& mmu, const mmu_update_t& r, pv::PvBasePtrs&, pv::PvFlush&) {
                                   return mmu.mmu_update(r.ptr, r.val);
                               });
}

CallResult mmuext_op(uint64_t ops, uint64_t count, uint64_t pdone, uint64_t foreigndom) {
    return batch<mmuext_op_t>(ops, count, pdone, foreigndom,
                              [](pv::PvMmu<PvMmuEnv>& mmu, const mmuext_op_t& op, pv::PvBasePtrs& base,
                                 pv::PvFlush& flush) { return mmu.mmuext(op, base, flush); });
}

CallResult update_va_mapping(uint64_t va, uint64_t val, uint64_t flags) {
    auto caller = pv_caller();
    if (!caller) return caller.error();
    Caller& c = *caller;
    pv::PvFlush flush;
    Status s = Status::success();
    {
        PollingLockGuard lock(c.d.mm_lock, arch::tlb_serve_requests);
        PvMmuEnv env(c.d);
        pv::PageTables<PvMmuEnv> tables(env);
        pv::PvMmu<PvMmuEnv> mmu(tables, env);
        s = mmu.update_va_mapping(c.vcpu.base, va, val, flags, flush);
    }
    finish(c, flush);
    TRY(s);
    return 0;
}

} // namespace virtue::xen
