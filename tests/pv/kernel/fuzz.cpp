// The PV fuzzer: with "fuzz=N" on its command line the PV test kernel fires
// N random Xen hypercalls instead of running its checks, then prints
//     pv-fuzz: done <N> calls, <k> distinct results, <f> failures
// and shuts down. Arguments mix small numbers, pointers into a scratch
// area of ours, our own frames, random 64-bit values and addresses in the
// hypervisor's range; random page-table updates go to a scratch L1 of our
// own, so that the fuzzer does not unmap itself, and so do grant maps of
// its own grants (by entry; by address only at its scratch page). What it never does (it
// would only kill itself, which tests nothing): shut down or bring its
// vCPU down, block with
// events on, install random handlers or callbacks, iret, or switch to a
// base pointer or clear a frame that could be one of its own, or give back
// a frame of its own (only scratch frames, replaced from time to time, or
// values that are not its frames). A failure is
// a call that should always succeed and did not (xen_version).
#include <stdint.h>
#include <xen/callback.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include <xen/xen.h>

#include "boot.hpp"
#include "console.hpp"
#include "hypercall.hpp"

namespace pv {
namespace {

uint64_t g_state = 0x9e3779b97f4a7c15ull;
uint64_t rnd() { // xorshift64*
    g_state ^= g_state >> 12;
    g_state ^= g_state << 25;
    g_state ^= g_state >> 27;
    return g_state * 0x2545f4914f6cdd1dull;
}

alignas(4096) unsigned char g_scratch[4 * 4096]; // what random pointers point into
alignas(4096) unsigned char g_scratch_map[4096]; // remapped by update_va_mapping
uint64_t g_scratch_l1;                            // a pinned L1 of ours, mapping nothing we use
uint64_t g_scratch_frames[4];                     // frames no mapping of ours names

const Boot* g_boot;
unsigned long g_extents_changed; // frames the reservation calls gave back or brought

// Grants to ourselves for the host-map calls: refs kFirstRef.. name the
// scratch frames (some read-only) and the scratch L1, in our grant table
// mapped at g_grant_window; the handles maps returned, for unmaps.
alignas(4096) volatile grant_entry_v1_t g_grant_window[4096 / sizeof(grant_entry_v1_t)];
constexpr unsigned kFirstRef = 16;
domid_t g_self = DOMID_INVALID;
grant_handle_t g_handles[16];
unsigned long g_maps_ok;

uint64_t our_frame() {
    const auto* p2m = reinterpret_cast<const uint64_t*>(g_boot->si->mfn_list);
    return p2m[rnd() % g_boot->si->nr_pages];
}

// A random argument of one of the kinds above (in_memory: for a word that
// calls read as part of a structure: never one of our own frames, since a
// grant copy to a frame number found there would overwrite the fuzzer).
uint64_t any_value(bool in_memory = false) {
    switch (rnd() % 9) {
    case 0: return rnd() % 16;
    case 1: return rnd() % 4096;
    case 2: return reinterpret_cast<uint64_t>(g_scratch) + rnd() % sizeof g_scratch;
    case 3: return 0xffff800000000000ull + (rnd() % 0x80000000000ull); // the hypervisor's range
    case 4: return in_memory ? g_scratch_frames[rnd() % 4] : our_frame();
    case 5: return g_scratch_frames[rnd() % 4];
    case 6: return ~0ull - rnd() % 16;
    case 7: return static_cast<uint32_t>(rnd());
    default: return rnd();
    }
}

// The scratch area's words, which calls read as structures.
void fill_scratch() {
    auto* w = reinterpret_cast<uint64_t*>(g_scratch);
    for (unsigned i = 0; i < sizeof g_scratch / 8; i++) w[i] = rnd() % 3 == 0 ? any_value(true) : rnd() % 64;
}

// One random call that cannot hurt the caller; its result.
long one_call() {
    const uint64_t a = any_value(), b = any_value(), c = any_value(), d = any_value();
    switch (rnd() % 19) {
    case 0: { // mmu_update: entries of the scratch L1, or of frames that are not ours
        mmu_update_t u[2];
        for (auto& e : u) {
            const uint64_t slot = rnd() % 512;
            const uint64_t where = rnd() % 4;
            e.ptr = where < 2 ? (g_scratch_l1 << 12) + slot * 8       // our scratch table
                    : where == 2 ? (rnd() % 0x800) << 12 | slot * 8   // the hypervisor's low frames
                                 : rnd() | (1ull << 52);              // beyond any RAM
            e.ptr |= rnd() % 4 == 0 ? rnd() % 4 : 0;
            e.val = rnd() % 2 ? (g_scratch_frames[rnd() % 4] << 12) | (rnd() % 0x1000) : any_value();
        }
        unsigned done = 0;
        return hypercall(__HYPERVISOR_mmu_update, arg(u), 1 + rnd() % 2, rnd() % 4 ? arg(&done) : a,
                         rnd() % 4 ? DOMID_SELF : b);
    }
    case 1: { // mmuext_op: flushes, pins, ldt; base pointers and page writes only on frames that cannot be ours
        mmuext_op_t op{};
        static const unsigned cmds[] = {MMUEXT_PIN_L1_TABLE, MMUEXT_PIN_L2_TABLE,  MMUEXT_PIN_L3_TABLE,
                                        MMUEXT_PIN_L4_TABLE, MMUEXT_UNPIN_TABLE,   MMUEXT_TLB_FLUSH_LOCAL,
                                        MMUEXT_INVLPG_LOCAL, MMUEXT_TLB_FLUSH_MULTI, MMUEXT_INVLPG_MULTI,
                                        MMUEXT_TLB_FLUSH_ALL, MMUEXT_INVLPG_ALL,   MMUEXT_SET_LDT,
                                        MMUEXT_NEW_BASEPTR,  MMUEXT_NEW_USER_BASEPTR, MMUEXT_CLEAR_PAGE,
                                        MMUEXT_COPY_PAGE,    99};
        op.cmd = cmds[rnd() % (sizeof cmds / sizeof cmds[0])];
        const bool risky = op.cmd == MMUEXT_NEW_BASEPTR || op.cmd == MMUEXT_CLEAR_PAGE || op.cmd == MMUEXT_COPY_PAGE ||
                           op.cmd == MMUEXT_UNPIN_TABLE;
        op.arg1.mfn = risky ? (rnd() % 2 ? g_scratch_frames[rnd() % 4] : 0x8000000000ull + rnd() % 1000) : a;
        // (A zeroed scratch frame is a valid empty L4: switching to it
        // would take our own kernel away.)
        if (op.cmd == MMUEXT_NEW_BASEPTR) op.arg1.mfn = 0x8000000000ull + rnd() % 1000;
        if (op.cmd == MMUEXT_UNPIN_TABLE && rnd() % 2) op.arg1.mfn = g_scratch_l1;
        op.arg2.nr_ents = static_cast<unsigned>(b);
        if (op.cmd == MMUEXT_COPY_PAGE) op.arg2.src_mfn = our_frame();
        unsigned done = 0;
        return hypercall(__HYPERVISOR_mmuext_op, arg(&op), 1, arg(&done), rnd() % 4 ? DOMID_SELF : c);
    }
    case 2: { // update_va_mapping: the scratch page, or addresses that are not ours
        uint64_t va = rnd() % 2 ? reinterpret_cast<uint64_t>(g_scratch_map) : (rnd() % 2 ? a : 0xffff800000000000ull + (b & 0xffffffff000ull));
        if (va >= VIRT_BASE && va < VIRT_BASE + (g_boot->si->nr_pages << 12)) va = reinterpret_cast<uint64_t>(g_scratch_map);
        const uint64_t val = rnd() % 2 ? (g_scratch_frames[rnd() % 4] << 12) | (rnd() % 0x1000) : c;
        return update_va_mapping(va, val, rnd() % 4 ? rnd() % 3 : d);
    }
    case 3: return xen_version(static_cast<int>(rnd() % 12), reinterpret_cast<void*>(a));
    case 4: { // console_io: short writes only
        const uint64_t cmd = rnd() % 3;
        if (cmd == CONSOLEIO_write && rnd() % 4) return console_io(CONSOLEIO_write, rnd() % 6, "fuzz\n");
        // (A long write from our own memory would only fill the console.)
        const uint64_t from = rnd() % 2 ? a : c;
        return console_io(static_cast<int>(cmd), from >= VIRT_BASE ? b % 64 : b, reinterpret_cast<const void*>(from));
    }
    case 5: return hypercall(__HYPERVISOR_memory_op, rnd() % 32, a);
    case 6: return hypercall(__HYPERVISOR_grant_table_op, rnd() % 16, a, rnd() % 4);
    case 7: return hypercall(__HYPERVISOR_event_channel_op, rnd() % 16, a);
    case 8: { // vcpu_op, but never down (our only vCPU going down is a shutdown)
        uint64_t cmd = rnd() % 16;
        if (cmd == VCPUOP_down) cmd = VCPUOP_is_up;
        return hypercall(__HYPERVISOR_vcpu_op, cmd, rnd() % 4, a);
    }
    case 9: return hypercall(__HYPERVISOR_set_timer_op, rnd() % 2 ? a : 0);
    case 10: return hypercall(__HYPERVISOR_stack_switch, a, b);
    case 11: return hypercall(__HYPERVISOR_set_segment_base, rnd() % 5, b);
    case 12: { // sched_op: yield, or commands that are not shutdown or block
        static const uint64_t cmds[] = {SCHEDOP_yield, 7, 99, SCHEDOP_shutdown};
        const uint64_t cmd = cmds[rnd() % 4];
        if (cmd == SCHEDOP_shutdown) {
            sched_shutdown_t bad{static_cast<unsigned>(5 + rnd() % 100)}; // never a real reason
            return sched_op(static_cast<int>(cmd), &bad);
        }
        return sched_op(static_cast<int>(cmd), reinterpret_cast<void*>(a));
    }
    case 13: { // multicall of harmless calls
        multicall_entry_t mc[3] = {};
        for (auto& e : mc) {
            e.op = rnd() % 2 ? __HYPERVISOR_xen_version : (rnd() % 2 ? __HYPERVISOR_mmu_update : rnd() % 64);
            if (e.op == __HYPERVISOR_iret || e.op == __HYPERVISOR_set_trap_table || e.op == __HYPERVISOR_set_callbacks ||
                e.op == __HYPERVISOR_callback_op || e.op == __HYPERVISOR_sched_op || e.op == __HYPERVISOR_update_va_mapping ||
                e.op == __HYPERVISOR_mmuext_op || e.op == __HYPERVISOR_fpu_taskswitch || e.op == __HYPERVISOR_vcpu_op)
                e.op = 63;
            for (auto& x : e.args) x = rnd() % 2 ? rnd() % 16 : any_value();
            if (e.op == __HYPERVISOR_mmu_update) e.args[0] = 0x8000000000ull; // (never our memory)
            if (e.op == __HYPERVISOR_console_io) e.args[1] = rnd() % 16;
            if (e.op == __HYPERVISOR_grant_table_op) e.args[2] = rnd() % 4; // (results go past the scratch area otherwise)
        }
        // (A list from the scratch area would run anything: only ours, or one
        // that cannot be read.)
        return hypercall(__HYPERVISOR_multicall, rnd() % 4 ? arg(mc) : 0xffff800000000000ull + (a & 0xfffff), rnd() % 4);
    }
    case 14: { // any number but those that install handlers, switch tables, batch, return or end
        unsigned nr = static_cast<unsigned>(rnd() % 4 ? rnd() % 64 : rnd());
        switch (nr) {
        case __HYPERVISOR_set_trap_table: case __HYPERVISOR_mmu_update: case __HYPERVISOR_set_callbacks:
        case __HYPERVISOR_multicall: case __HYPERVISOR_update_va_mapping: case __HYPERVISOR_iret:
        case __HYPERVISOR_mmuext_op: case __HYPERVISOR_sched_op: case __HYPERVISOR_callback_op:
        case __HYPERVISOR_vcpu_op: // (VCPUOP_down: case 8 makes the others)
        case __HYPERVISOR_grant_table_op: // (a random count: results written far past the scratch area)
            nr = 63;
            break;
        default: break;
        }
        return hypercall(nr, a, b, c, d);
    }
    case 15: { // callback_op and set_trap_table that only refuse (unknown types; handlers not ours)
        callback_register_t cb{static_cast<uint16_t>(3 + rnd() % 8), 0, a};
        if (cb.type == CALLBACKTYPE_syscall) cb.type = 9;
        return rnd() % 2 ? hypercall(__HYPERVISOR_callback_op, rnd() % 3, arg(&cb))
                         : hypercall(__HYPERVISOR_set_trap_table, rnd() % 2 ? 0xffff800000000000ull + b % 0x1000 : 8);
    }
    case 16: { // the reservation: scratch frames (or anything not ours) given back, frames populated
        xen_pfn_t list[3];
        for (auto& x : list) x = rnd() % 2 ? g_scratch_frames[rnd() % 4] : (rnd() % 4 ? any_value(true) : g_scratch_l1);
        xen_memory_reservation_t r{};
        set_xen_guest_handle(r.extent_start, rnd() % 8 ? list : reinterpret_cast<xen_pfn_t*>(g_scratch + (a % 4096)));
        r.nr_extents = rnd() % 4 ? 1 + rnd() % 3 : (rnd() % 2 ? b : 3);
        r.extent_order = rnd() % 8 ? 0 : static_cast<unsigned>(rnd() % 12);
        r.mem_flags = rnd() % 4 ? 0 : static_cast<unsigned>(c);
        r.domid = rnd() % 4 ? DOMID_SELF : static_cast<domid_t>(d);
        static const unsigned cmds[] = {XENMEM_decrease_reservation, XENMEM_populate_physmap,
                                        XENMEM_increase_reservation};
        const uint64_t start = rnd() % 8 ? 0 : (rnd() % 4) << 6; // (a continuation's start extent)
        const long done = hypercall(__HYPERVISOR_memory_op, cmds[rnd() % 3] | start, arg(&r));
        if (done > 0) g_extents_changed += static_cast<unsigned long>(done);
        return done;
    }
    case 17: { // grant maps into our scratch L1 (by entry), at the scratch page (by address), for a device; unmaps
        if (g_self == DOMID_INVALID) return 0;
        if (rnd() % 3) {
            gnttab_map_grant_ref_t op{};
            op.ref = rnd() % 4 ? kFirstRef + rnd() % 5 : static_cast<grant_ref_t>(rnd() % 600);
            op.dom = rnd() % 8 ? g_self : static_cast<domid_t>(a);
            static const uint32_t flags[] = {GNTMAP_host_map, GNTMAP_host_map | GNTMAP_readonly,
                                             GNTMAP_host_map | GNTMAP_contains_pte,
                                             GNTMAP_host_map | GNTMAP_contains_pte | GNTMAP_readonly,
                                             GNTMAP_device_map, GNTMAP_device_map | GNTMAP_host_map | GNTMAP_contains_pte,
                                             GNTMAP_host_map | GNTMAP_application_map | (7u << _GNTMAP_guest_avail0)};
            op.flags = rnd() % 8 ? flags[rnd() % 7] : static_cast<uint32_t>(b);
            if (op.flags & GNTMAP_contains_pte) {
                const uint64_t slot = rnd() % 512;
                switch (rnd() % 4) {
                case 0: case 1: op.host_addr = (g_scratch_l1 << 12) + slot * 8 + (rnd() % 8 ? 0 : rnd() % 8); break;
                case 2: op.host_addr = (g_scratch_frames[rnd() % 4] << 12) + slot * 8; break; // not a table
                default: op.host_addr = ((rnd() % 0x800) << 12) + slot * 8; // the hypervisor's low frames
                }
            } else {
                op.host_addr = rnd() % 2 ? reinterpret_cast<uint64_t>(g_scratch_map)
                                         : (rnd() % 2 ? 0xffff800000000000ull + (c & 0xffffffff000ull) : c);
                if (op.host_addr >= VIRT_BASE) op.host_addr = reinterpret_cast<uint64_t>(g_scratch_map);
            }
            const long rc = hypercall(__HYPERVISOR_grant_table_op, GNTTABOP_map_grant_ref, arg(&op), 1);
            if (rc == 0 && op.status == GNTST_okay) g_handles[g_maps_ok++ % 16] = op.handle;
            return rc ? rc : op.status;
        }
        gnttab_unmap_grant_ref_t op{};
        op.handle = rnd() % 4 ? g_handles[rnd() % 16] : static_cast<grant_handle_t>(rnd() % 5000);
        switch (rnd() % 4) {
        case 0: op.host_addr = reinterpret_cast<uint64_t>(g_scratch_map); break;
        case 1: op.host_addr = (g_scratch_l1 << 12) + (rnd() % 512) * 8; break;
        case 2: op.host_addr = 0; break;
        default: op.host_addr = d;
        }
        op.dev_bus_addr = rnd() % 2 ? 0 : (rnd() % 2 ? g_scratch_frames[rnd() % 4] << 12 : a);
        const long rc = hypercall(__HYPERVISOR_grant_table_op, GNTTABOP_unmap_grant_ref, arg(&op), 1);
        return rc ? rc : op.status;
    }
    default: return hypercall(__HYPERVISOR_fpu_taskswitch, 0);
    }
}

// Our grant table (one frame) at g_grant_window, its entries kFirstRef..
// granting the scratch frames and the scratch L1 to ourselves (written
// again whenever the scratch frames change).
void write_grants() {
    if (g_self == DOMID_INVALID) return;
    for (unsigned i = 0; i < 5; i++) {
        volatile grant_entry_v1_t& e = g_grant_window[kFirstRef + i];
        if (e.flags & (GTF_reading | GTF_writing)) continue; // (mapped: it stays)
        e.flags = 0;
        e.frame = static_cast<uint32_t>(i < 4 ? g_scratch_frames[i] : g_scratch_l1);
        e.domid = g_self;
        __atomic_thread_fence(__ATOMIC_RELEASE);
        e.flags = GTF_permit_access | (i % 2 ? GTF_readonly : 0);
    }
}

void setup_grants() {
    xen_pfn_t frame = 0;
    gnttab_setup_table_t setup{};
    setup.dom = DOMID_SELF;
    setup.nr_frames = 1;
    set_xen_guest_handle(setup.frame_list, &frame);
    if (hypercall(__HYPERVISOR_grant_table_op, GNTTABOP_setup_table, arg(&setup), 1) != 0 || setup.status != GNTST_okay)
        return;
    if (update_va_mapping(reinterpret_cast<uint64_t>(g_grant_window), (frame << 12) | PTE_P | PTE_RW | PTE_A | PTE_D,
                          UVMF_INVLPG | UVMF_LOCAL) != 0)
        return;
    g_self = own_domid();
    write_grants();
}

// Scratch frames the reservation calls gave back (their M2P entry is
// invalid) are replaced by new ones, the scratch L1 pinned again, so that
// the other calls keep their targets.
void refresh_scratch_frames() {
    auto fresh = [](uint64_t& mfn) {
        if (machine_to_phys_mapping[mfn] != ~0ul) return false;
        xen_pfn_t list[1] = {g_boot->si->nr_pages - 16}; // (the PFN is ours to name)
        xen_memory_reservation_t r{};
        set_xen_guest_handle(r.extent_start, list);
        r.nr_extents = 1;
        r.domid = DOMID_SELF;
        if (hypercall(__HYPERVISOR_memory_op, XENMEM_populate_physmap, arg(&r)) == 1) mfn = list[0];
        return true;
    };
    bool changed = false;
    for (uint64_t& f : g_scratch_frames) changed |= fresh(f);
    if (fresh(g_scratch_l1)) {
        changed = true;
        mmuext_op_t op{};
        op.cmd = MMUEXT_PIN_L1_TABLE;
        op.arg1.mfn = g_scratch_l1;
        unsigned done = 0;
        (void)hypercall(__HYPERVISOR_mmuext_op, arg(&op), 1, arg(&done), DOMID_SELF);
    }
    if (changed) write_grants();
}

// A pinned L1 of our own that maps the scratch frames (and nothing else).
bool make_scratch_l1() {
    const auto* p2m = reinterpret_cast<const uint64_t*>(g_boot->si->mfn_list);
    const uint64_t top = g_boot->si->nr_pages - 16; // below the checks' frames
    for (int i = 0; i < 4; i++) g_scratch_frames[i] = p2m[top - i];
    g_scratch_l1 = p2m[top - 4];
    mmuext_op_t op{};
    op.cmd = MMUEXT_PIN_L1_TABLE;
    op.arg1.mfn = g_scratch_l1;
    unsigned done = 0;
    return hypercall(__HYPERVISOR_mmuext_op, arg(&op), 1, arg(&done), DOMID_SELF) == 0;
}

} // namespace

void run_fuzzer(const Boot& b, unsigned long calls, uint64_t seed) {
    g_boot = &b;
    g_state += seed * 0xbf58476d1ce4e5b9ull; // (never 0: xorshift would stay there)
    if (!g_state) g_state = 1;
    if (!make_scratch_l1()) {
        print("pv-fuzz: cannot pin the scratch L1\n");
        return;
    }
    setup_grants();
    const long version = xen_version(XENVER_version, nullptr);
    unsigned long failures = 0;
    uint64_t seen[64] = {};
    unsigned distinct = 0;
    for (unsigned long i = 0; i < calls; i++) {
        if (i % 4096 == 0) {
            refresh_scratch_frames();
            fill_scratch();
        }
        const long r = one_call();
        const uint64_t key = static_cast<uint64_t>(r);
        bool known = false;
        for (unsigned k = 0; k < distinct && !known; k++) known = seen[k] == key;
        if (!known && distinct < 64) seen[distinct++] = key;
        if (i % 100000 == 99999) {
            if (xen_version(XENVER_version, nullptr) != version) failures++;
            print("pv-fuzz: %lu calls\n", i + 1);
        }
    }
    print("pv-fuzz: done %lu calls, %u distinct results, %lu failures; %lu frames given back or populated; %lu grant maps\n",
          calls, distinct, failures, g_extents_changed, g_maps_ok);
}

} // namespace pv
