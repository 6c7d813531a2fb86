// evtchn-test: event channels, grants and IPC between and inside native
// domains, driven by its bootargs, for the integration tests and the
// benchmarks. Lines it prints:
//
//   checks          "check <label>: ok|FAIL ..." for every event-channel
//                   call's success and error paths, then "evtchn: <n>
//                   checks, <m> failed"
//   grants          the same for the grant calls: "grants: <n> checks, <m> failed"
//   xen             the same for the Xen family's event_channel_op (ports
//                   by number, the shared_info bitmaps): "xen: <n> checks, <m> failed"
//   xentimer        the same for the Xen family's vCPU timers and VIRQ_TIMER
//                   (needs 2 vCPUs): "xentimer: <n> checks, <m> failed"
//   xensandbox      GNTTABOP_copy with a frame end works from the first
//                   address space and is refused from a second one:
//                   "xensandbox: <n> checks, <m> failed"
//   xenpreempt      a long GNTTABOP_copy batch is preempted and continued:
//                   a spinner on the same CPU sees it half done;
//                   "xenpreempt: <n> checks, <m> failed"
//   xengrants       the same for the Xen family's grant_table_op (entries
//                   the domain writes, grant handles, copies by MFN):
//                   "xengrants: <n> checks, <m> failed"
//   domexc=MS       binds VIRQ_DOM_EXC (Xen family) and watches its
//                   pending bit for MS ms: "domexc: bind <rc>, notified <0|1>"
//   linger=MS       sleeps MS ms (then ends, as a domain others watch)
//   ipc             the same for endpoints and IPC, with a server thread in
//                   this domain: "ipc: <n> checks, <m> failed"
//   ipcserve=N peer=D  serves N calls on its first endpoint (number 1, for
//                   D), answering word0 + 1; prints "ipcserve: <N> calls"
//   ipcping=N peer=D   connects to endpoint 1 of D and calls N times; prints
//                   "ipcping: <N> round trips, <c> cycles each, <f> failures"
//   regs            ipcserve / ipcping pass their messages in registers
//                   (Endpoint::call_in_registers, reply_wait_in_registers)
//   ipconce peer=D  connects to endpoint 1 of D, calls once and prints
//                   "ipconce: call returned <rc>"
//   ipcdie peer=D   serves endpoint 1 for D, receives one call and ends its
//                   domain (status 3) without replying
//   ipcorphan peer=D   calls endpoint 1 of D from a thread and ends its
//                   domain (status 4) while the call is outstanding
//   ipcslow peer=D  serves endpoint 1 for D, replies to one call after
//                   300 ms; prints "ipcslow: reply returned <errno>"
//   serve=N peer=D  opens an unbound port for domain D (the domain's first
//                   port: number 1), answers N events with N events; prints
//                   "serve: <N> round trips, <c> cycles each" (the cycles
//                   from the first event to the last answer, per trip)
//   ping=N peer=D   binds to port 1 of domain D (retrying while D is not up)
//                   and sends N events, each after the answer to the last;
//                   prints "ping: <N> round trips, <c> cycles each, <f> failures"
//   victim peer=D   binds to port 1 of D, sends 3 events, then ends its
//                   domain with status 7 while still connected
//   survivor=K peer=D  opens port 1 for D, takes K events, then waits for
//                   the hang-up; prints "survivor: <k> events, then peer
//                   gone: state <s> remote <r>" and the status after
//   source=MIB peer=D mode=copy|map|xencopy|xenmap [die=P]
//                   the front end of a shared ring: sends MIB MiB in 4 KiB
//                   pages through 32 granted buffers (grant refs 9..40,
//                   read-only for D; the ring page is grant 8, the event
//                   channel port 1); prints "source: <MIB> MiB sent,
//                   checksum <x>". With die=P it ends its domain (status 9)
//                   after P pages, its grants still mapped by the sink.
//                   The xen modes write the entries straight into the
//                   grant table (GNTTABOP_setup_table, memory_frame) and end
//                   them by clearing their flags.
//   xenmapfrom=D ref=R [rw] [refused]
//                   maps grant R of domain D (read-only; writable with rw)
//                   with GNTTABOP_map_grant_ref (retrying up to 5 s), prints
//                   "xenmapfrom: read 0x<first word>", holds it 20 ms and
//                   unmaps it ("xenmapfrom: unmapped: <status>"); with
//                   refused, failing ("xenmapfrom: map of dD ref R failed:
//                   <status>") is the expected end (tries for 500 ms)
//   sink peer=D mode=copy|map|xencopy|xenmap
//                   the back end: takes each page by grant_copy (copy) or
//                   reads it through a grant mapping (map); the xen modes
//                   use GNTTABOP_copy / map_grant_ref and, at the end,
//                   unmap_grant_ref ("sink: <n> of <n> Xen grant handles
//                   unmapped"); prints "sink:
//                   <MIB> MiB received, checksum <x>, <r> MiB/s", or, when
//                   the source dies, "sink: source died after <p> pages,
//                   mapped pages still readable <0|1>"
// then "evtchn-test: done" and status 0 (1 if anything failed).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xen/errno.h>
#include <xen/features.h>
#include <xen/version.h>
#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/memory.h>

#include <virtue/ring.hpp>
#include <virtue/sdk.hpp>
#include <virtue/xen.hpp>

#include "../checks.hpp"

namespace {

using virtue::print;
namespace sys = virtue::raw; // the ABI as it is: results compared with -XEN_E*
using test_domains::Checks;
using test_domains::free_bytes;

constexpr uint64_t kMs = 1'000'000;
bool g_failed = false;
uint64_t g_peer = VIRTUE_DOMID_SELF;
bool g_regs = false; // "regs": ipcserve / ipcping pass their messages in registers, else in buffers

uint64_t now() { return static_cast<uint64_t>(sys::system_time()); }

inline uint64_t rdtsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t{hi} << 32) | lo;
}

uint64_t own_domid() {
    virtue_domain_info info{};
    sys::domain_info(&info);
    return info.domain_id;
}

uint64_t foreign_of(uint64_t h) { return (h & ~(0x7fffull << 40)) | (((h >> 40) + 1) & 0x7fff) << 40; }

constexpr uint64_t kPage = 4096;
constexpr uint64_t kGrantVa = 0x200000000ull;

volatile uint64_t* word(uint64_t va) { return reinterpret_cast<volatile uint64_t*>(va); }


void do_checks() {
    Checks c;
    const int64_t einval = -XEN_EINVAL, esrch = -XEN_ESRCH, ebadf = -XEN_EBADF, exdev = -XEN_EXDEV,
                  enodev = -XEN_ENODEV, eacces = -XEN_EACCES, efault = -XEN_EFAULT;
    const uint64_t me = own_domid();

    {
        // The first port needs a partition frame for the shared page: with
        // the partition used up the call fails cleanly (and nothing hangs).
        virtue::Memory fill;
        uint64_t pages = free_bytes() / kPage;
        while (pages && virtue::Memory::create(pages, fill).raw() != 0) pages--;
        c.expect_true("partition_filled", pages > 0 && free_bytes() < kPage);
        c.expect("alloc_without_memory", sys::evtchn_alloc_unbound(VIRTUE_DOMID_SELF), -XEN_ENOMEM);
        c.expect("ipi_without_memory", sys::evtchn_bind_ipi(), -XEN_ENOMEM);
    }

    // alloc_unbound, status
    virtue::EventChannel a;
    c.expect("alloc_unbound_self", virtue::EventChannel::alloc_unbound(VIRTUE_DOMID_SELF, a), 0);
    virtue_evtchn_status st{};
    c.expect("status", a.status(st), 0);
    c.expect("status_port_is_1", st.port, 1);
    c.expect("status_unbound", st.state, VIRTUE_EVTCHN_UNBOUND);
    c.expect("status_unbound_for_self", st.remote_domid, me);
    virtue_handle_info hi{};
    c.expect("query", a.query(hi), 0);
    c.expect("query_type", hi.type, VIRTUE_OBJ_EVTCHN);
    c.expect("alloc_reserved_domid", sys::evtchn_alloc_unbound(0x7ff1), einval);
    c.expect("alloc_huge_domid", sys::evtchn_alloc_unbound(1ull << 40), einval);
    c.expect("send_unbound_dropped", a.send(), 0);
    c.expect("unbound_not_ready", a.wait(0), -XEN_ETIMEDOUT);

    // bind_interdomain to our own unbound port (Xen allows DOMID_SELF)
    virtue::EventChannel b;
    c.expect("bind_self", virtue::EventChannel::bind_interdomain(VIRTUE_DOMID_SELF, 1, b), 0);
    c.expect("bind_status", b.status(st), 0);
    c.expect("bind_state", st.state, VIRTUE_EVTCHN_INTERDOMAIN);
    c.expect("bind_remote_port", st.remote_port, 1);
    c.expect("bind_local_port", st.port, 2);
    c.expect("new_end_starts_pending", b.wait(0), 0);
    c.expect("pending_consumed", b.wait(0), -XEN_ETIMEDOUT);
    c.expect("a_now_interdomain", a.status(st).raw() == 0 && st.state == VIRTUE_EVTCHN_INTERDOMAIN && st.remote_port == 2, 1);
    c.expect("bind_twice", sys::evtchn_bind_interdomain(VIRTUE_DOMID_SELF, 1), einval);
    c.expect("bind_port_0", sys::evtchn_bind_interdomain(VIRTUE_DOMID_SELF, 0), einval);
    c.expect("bind_port_huge", sys::evtchn_bind_interdomain(VIRTUE_DOMID_SELF, 1u << 20), einval);
    c.expect("bind_port_free", sys::evtchn_bind_interdomain(VIRTUE_DOMID_SELF, 900), einval);
    c.expect("bind_no_domain", sys::evtchn_bind_interdomain(4000, 1), esrch);
    c.expect("bind_reserved_domain", sys::evtchn_bind_interdomain(0x7ff2, 1), einval);
    // An unbound port for another domain cannot be taken by this one.
    virtue::EventChannel other;
    c.expect("alloc_for_other", virtue::EventChannel::alloc_unbound(me + 1, other), 0);
    c.expect("bind_not_for_me", sys::evtchn_bind_interdomain(VIRTUE_DOMID_SELF, other.port().raw()), einval);

    // send both ways; events merge while pending
    c.expect("send_a", a.send(), 0);
    c.expect("send_a_again", a.send(), 0);
    c.expect("b_ready", b.wait(0), 0);
    c.expect("merged", b.wait(0), -XEN_ETIMEDOUT);
    c.expect("send_b", b.send(), 0);
    uint64_t hs[2] = {a.get(), b.get()};
    c.expect("wait_any_index", sys::wait_any(hs, 2, now() + 1000 * kMs), 0);

    // ipi loops back
    virtue::EventChannel ipi;
    c.expect("bind_ipi", virtue::EventChannel::bind_ipi(ipi), 0);
    c.expect("ipi_status", ipi.status(st).raw() == 0 && st.state == VIRTUE_EVTCHN_IPI, 1);
    c.expect("ipi_idle", ipi.wait(0), -XEN_ETIMEDOUT);
    c.expect("ipi_send", ipi.send(), 0);
    c.expect("ipi_ready", ipi.wait(0), 0);

    // handles: rights and types
    virtue::Handle ro, wo;
    c.expect("dup_read_only", a.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_READ), ro), 0);
    c.expect("dup_write_only", a.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_WRITE), wo), 0);
    c.expect("send_without_write", sys::evtchn_send(ro.get()), eacces);
    c.expect("status_without_read", sys::evtchn_status(wo.get(), &st), eacces);
    uint64_t wo_h = wo.get();
    c.expect("wait_without_read", sys::wait_any(&wo_h, 1, 0), eacces);
    c.expect("send_bad_handle", sys::evtchn_send(0), ebadf);
    c.expect("send_foreign_handle", sys::evtchn_send(foreign_of(a.get())), exdev);
    virtue::Timer t;
    (void)virtue::Timer::create(t);
    c.expect("send_timer", sys::evtchn_send(t.get()), enodev);
    c.expect("status_timer", sys::evtchn_status(t.get(), &st), enodev);
    c.expect("status_unaligned",
             sys::evtchn_status(a.get(), reinterpret_cast<virtue_evtchn_status*>(reinterpret_cast<uint64_t>(&st) + 2)),
             einval);
    c.expect("status_kernel_ptr", sys::evtchn_status(a.get(), reinterpret_cast<virtue_evtchn_status*>(0xffff800000000000ull)),
             efault);

    // Closing one end: the other goes back to unbound (for us) and its
    // waiters see the hang-up once.
    b.reset();
    c.expect("peer_closed_ready", a.wait(0), 0);
    c.expect("peer_closed_stays_ready", a.wait(0), 0);
    c.expect("after_close_status", a.status(st).raw() == 0 && st.state == VIRTUE_EVTCHN_UNBOUND && st.remote_domid == me, 1);
    c.expect("after_close_send", a.send(), 0);
    // Port 2 is free again: a new bind gets it back, and port 1 is
    // connectable again.
    c.expect("rebind", virtue::EventChannel::bind_interdomain(VIRTUE_DOMID_SELF, 1, b), 0);
    c.expect("rebind_port", b.port(), 2);
    c.expect("rebound_not_hung_up", a.wait(0), -XEN_ETIMEDOUT);

    b.reset(); // port 1 unbound for us again

    // The handle table runs out before the 1023 ports do: nothing leaks.
    virtue::EventChannel many[130];
    unsigned made = 0;
    int64_t rc = 0;
    for (auto& m : many) {
        rc = virtue::EventChannel::bind_ipi(m).raw();
        if (rc < 0) break;
        made++;
    }
    c.expect("exhaust_handles", rc, -XEN_EMFILE);
    // A bind with no handle left fails before it touches the peer: port 1
    // stays unbound for us.
    c.expect("bind_with_full_table", sys::evtchn_bind_interdomain(VIRTUE_DOMID_SELF, 1), -XEN_EMFILE);
    c.expect("peer_untouched", a.status(st).raw() == 0 && st.state == VIRTUE_EVTCHN_UNBOUND && st.remote_domid == me, 1);
    c.expect_true("made_some", made > 50);
    for (auto& m : many) m.reset();
    c.expect("ports_back_after_close", virtue::EventChannel::bind_ipi(many[0]), 0);
    c.expect_true("lowest_free_port_reused", many[0].port().raw() <= 5);

    print("evtchn: %u checks, %u failed\n", c.total, c.failed);
    if (c.failed) g_failed = true;
}

void do_grant_checks() {
    Checks c;
    const int64_t einval = -XEN_EINVAL, esrch = -XEN_ESRCH, eperm = -XEN_EPERM, ebusy = -XEN_EBUSY,
                  eacces = -XEN_EACCES, ebadf = -XEN_EBADF, eexist = -XEN_EEXIST, efault = -XEN_EFAULT;
    const uint64_t me = own_domid();
    virtue::AddressSpace as;
    (void)virtue::AddressSpace::self(as);
    const uint64_t free0 = free_bytes();
    {
        virtue::Memory mem;
        c.expect("memory", virtue::Memory::create(2, mem), 0);
        c.expect("map_region", as.map(kGrantVa, mem, 0, 2 * kPage, virtue::Prot::from_bits(VIRTUE_PROT_READ | VIRTUE_PROT_WRITE)), 0);
        *word(kGrantVa) = 0x1111;
        *word(kGrantVa + kPage) = 0x2222;

        // grant_access
        int64_t rw = sys::grant_access(mem.get(), 0, VIRTUE_DOMID_SELF, 0);
        c.expect_true("grant_rw_ref", rw >= 8);
        int64_t ro = sys::grant_access(mem.get(), 1, VIRTUE_DOMID_SELF, VIRTUE_GRANT_READONLY);
        c.expect("grant_ro_ref", ro, rw + 1);
        int64_t other = sys::grant_access(mem.get(), 0, me + 1, 0);
        c.expect_true("grant_other_ref", other > ro);
        c.expect("grant_bad_flags", sys::grant_access(mem.get(), 0, VIRTUE_DOMID_SELF, 2), einval);
        c.expect("grant_page_beyond", sys::grant_access(mem.get(), 2, VIRTUE_DOMID_SELF, 0), einval);
        c.expect("grant_reserved_domid", sys::grant_access(mem.get(), 0, 0x7ff3, 0), einval);
        c.expect("grant_bad_handle", sys::grant_access(0, 0, VIRTUE_DOMID_SELF, 0), ebadf);
        virtue::Handle mem_ro;
        (void)mem.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_READ | VIRTUE_RIGHT_MAP), mem_ro);
        c.expect("grant_rw_without_write", sys::grant_access(mem_ro.get(), 0, VIRTUE_DOMID_SELF, 0), eacces);
        int64_t ro2 = sys::grant_access(mem_ro.get(), 0, VIRTUE_DOMID_SELF, VIRTUE_GRANT_READONLY);
        c.expect_true("grant_ro_with_read", ro2 > other);
        c.expect("grant_end_ro2", sys::grant_end(static_cast<uint64_t>(ro2)), 0);

        // grant_map: the same frame, seen twice
        virtue::GrantMapping m;
        c.expect("map_rw", virtue::GrantMapping::map(VIRTUE_DOMID_SELF, rw, as, kGrantVa + 16 * kPage, virtue::GrantFlags::from_bits(0), m), 0);
        c.expect("map_shares_the_frame", *word(kGrantVa + 16 * kPage), 0x1111);
        *word(kGrantVa + 16 * kPage) = 0x3333;
        c.expect("write_through_mapping", *word(kGrantVa), 0x3333);
        virtue_handle_info hi{};
        c.expect("mapping_type", m.query(hi).raw() == 0 && hi.type == VIRTUE_OBJ_GRANT_MAPPING, 1);
        virtue::GrantMapping mro;
        c.expect("map_ro_writable", sys::grant_map(VIRTUE_DOMID_SELF, ro, as.get(), kGrantVa + 17 * kPage, 0), eperm);
        c.expect("map_ro", virtue::GrantMapping::map(VIRTUE_DOMID_SELF, ro, as, kGrantVa + 17 * kPage,
                                                     virtue::GrantFlags::from_bits(VIRTUE_GRANT_READONLY), mro), 0);
        c.expect("map_ro_reads", *word(kGrantVa + 17 * kPage), 0x2222);
        c.expect("map_not_for_me", sys::grant_map(VIRTUE_DOMID_SELF, other, as.get(), kGrantVa + 18 * kPage, 0), eperm);
        c.expect("map_reserved_ref", sys::grant_map(VIRTUE_DOMID_SELF, 3, as.get(), kGrantVa + 18 * kPage, 0), einval);
        c.expect("map_free_ref", sys::grant_map(VIRTUE_DOMID_SELF, 500, as.get(), kGrantVa + 18 * kPage, 0), einval);
        c.expect("map_huge_ref", sys::grant_map(VIRTUE_DOMID_SELF, 1u << 20, as.get(), kGrantVa + 18 * kPage, 0), einval);
        c.expect("map_no_domain", sys::grant_map(4000, rw, as.get(), kGrantVa + 18 * kPage, 0), esrch);
        c.expect("map_occupied", sys::grant_map(VIRTUE_DOMID_SELF, rw, as.get(), kGrantVa, 0), eexist);
        c.expect("map_unaligned", sys::grant_map(VIRTUE_DOMID_SELF, rw, as.get(), kGrantVa + 18 * kPage + 8, 0), einval);
        c.expect("map_hypervisor", sys::grant_map(VIRTUE_DOMID_SELF, rw, as.get(), 0xffff800000000000ull, 0), efault);
        c.expect("map_bad_flags", sys::grant_map(VIRTUE_DOMID_SELF, rw, as.get(), kGrantVa + 18 * kPage, 4), einval);
        c.expect("map_bad_aspace", sys::grant_map(VIRTUE_DOMID_SELF, rw, mem.get(), kGrantVa + 18 * kPage, 0),
                 -XEN_ENODEV);
        c.expect("audit_with_mappings", sys::memory_audit(), 0);

        // A mapped grant cannot be ended, nor its mapping unmapped by hand.
        c.expect("end_mapped", sys::grant_end(static_cast<uint64_t>(rw)), ebusy);
        c.expect("unmap_grant_by_hand", as.unmap(kGrantVa + 16 * kPage, kPage), ebusy);
        uint64_t mh = m.release();
        c.expect("unmap_by_close", sys::handle_close(mh), 0);
        c.expect("unmap_twice", sys::handle_close(mh), ebadf);
        c.expect("end_after_unmap", sys::grant_end(static_cast<uint64_t>(rw)), 0);
        c.expect("end_twice", sys::grant_end(static_cast<uint64_t>(rw)), einval);
        c.expect("end_reserved", sys::grant_end(2), einval);
        c.expect("end_huge", sys::grant_end(1u << 30), einval);
        c.expect("map_ended", sys::grant_map(VIRTUE_DOMID_SELF, rw, as.get(), kGrantVa + 16 * kPage, 0), einval);

        // grant_copy
        rw = sys::grant_access(mem.get(), 0, VIRTUE_DOMID_SELF, 0);
        static uint64_t buf[512];
        for (unsigned i = 0; i < 512; i++) buf[i] = 0xabc0000 + i;
        virtue_grant_copy ops[8] = {};
        ops[0] = {reinterpret_cast<uint64_t>(buf), static_cast<uint32_t>(rw), VIRTUE_DOMID_SELF, 0, 4096,
                  VIRTUE_GRANT_COPY_TO_REMOTE, 99};
        ops[1] = {reinterpret_cast<uint64_t>(buf), static_cast<uint32_t>(rw), VIRTUE_DOMID_SELF, 8, 4096,
                  VIRTUE_GRANT_COPY_TO_REMOTE, 99}; // crosses the end
        ops[2] = {reinterpret_cast<uint64_t>(buf), static_cast<uint32_t>(ro), VIRTUE_DOMID_SELF, 0, 8,
                  VIRTUE_GRANT_COPY_TO_REMOTE, 99}; // read-only grant
        ops[3] = {reinterpret_cast<uint64_t>(buf), 5, VIRTUE_DOMID_SELF, 0, 8, 0, 99};         // reserved ref
        ops[4] = {reinterpret_cast<uint64_t>(buf), static_cast<uint32_t>(rw), 4000, 0, 8, 0, 99};    // no domain
        ops[5] = {0xffff800000000000ull, static_cast<uint32_t>(rw), VIRTUE_DOMID_SELF, 0, 8, 0, 99}; // bad local
        ops[6] = {reinterpret_cast<uint64_t>(buf), static_cast<uint32_t>(rw), VIRTUE_DOMID_SELF, 0, 0, 0, 99}; // empty
        ops[7] = {reinterpret_cast<uint64_t>(buf), static_cast<uint32_t>(other), VIRTUE_DOMID_SELF, 0, 8, 0, 99};
        c.expect("copy_batch", sys::grant_copy(ops, 8), 0);
        c.expect("copy_ok", ops[0].status, GNTST_okay);
        c.expect("copy_landed", *word(kGrantVa + 8), 0xabc0001);
        c.expect("copy_crossing", ops[1].status, GNTST_bad_copy_arg);
        c.expect("copy_readonly", ops[2].status, GNTST_general_error);
        c.expect("copy_reserved_ref", ops[3].status, GNTST_general_error); // (not granted: as Xen)
        c.expect("copy_no_domain", ops[4].status, GNTST_bad_domain);
        c.expect("copy_bad_local", ops[5].status, GNTST_bad_virt_addr);
        c.expect("copy_empty", ops[6].status, GNTST_bad_copy_arg);
        c.expect("copy_not_for_me", ops[7].status, GNTST_general_error);
        virtue_grant_copy back = {reinterpret_cast<uint64_t>(buf) + 1024, static_cast<uint32_t>(ro), VIRTUE_DOMID_SELF,
                                  0, 8, 0, 99};
        c.expect("copy_from_ro", sys::grant_copy(&back, 1) == 0 && back.status == 0 && buf[128] == 0x2222, 1);
        c.expect("copy_count_0", sys::grant_copy(ops, 0), einval);
        c.expect("copy_count_65", sys::grant_copy(ops, 65), einval);
        c.expect("copy_unaligned", sys::grant_copy(reinterpret_cast<virtue_grant_copy*>(reinterpret_cast<uint64_t>(ops) + 4), 1),
                 einval);
        c.expect("copy_bad_ops", sys::grant_copy(reinterpret_cast<virtue_grant_copy*>(0xffff800000000000ull), 1), efault);

        // A granted frame outlives its region until the grant ends.
        c.expect("unmap_region", as.unmap(kGrantVa, 2 * kPage), 0);
        mro.reset();
        mem_ro.reset();
        mem.reset();
        c.expect("audit_orphans_held", sys::memory_audit(), 0);
        c.expect_true("frames_held_by_grants", free_bytes() < free0);
        c.expect("end_rw", sys::grant_end(static_cast<uint64_t>(rw)), 0);
        c.expect("end_ro", sys::grant_end(static_cast<uint64_t>(ro)), 0);
        c.expect("end_other", sys::grant_end(static_cast<uint64_t>(other)), 0);
        c.expect("audit_after", sys::memory_audit(), 0);
    }
    // Everything but the grant table's own frames and the page tables back.
    c.expect_true("frames_back", free0 - free_bytes() <= 6 * kPage);

    // The table grows to its 16 frames, then refuses; ending every grant
    // leaves nothing held.
    {
        virtue::Memory page;
        (void)virtue::Memory::create(1, page);
        static uint16_t refs[VIRTUE_MAX_GRANTS];
        unsigned n = 0;
        int64_t rc = 0;
        while (n < VIRTUE_MAX_GRANTS) {
            rc = sys::grant_access(page.get(), 0, me + 1, VIRTUE_GRANT_READONLY);
            if (rc < 0) break;
            refs[n++] = static_cast<uint16_t>(rc);
        }
        c.expect("grants_exhausted", rc, -XEN_ENOSPC);
        c.expect("grants_made", n, VIRTUE_MAX_GRANTS - 8);
        unsigned ended = 0;
        for (unsigned i = 0; i < n; i++) ended += sys::grant_end(refs[i]) == 0;
        c.expect("grants_ended", ended, n);
        c.expect("audit_after_exhaustion", sys::memory_audit(), 0);
    }
    print("grants: %u checks, %u failed\n", c.total, c.failed);
    if (c.failed) g_failed = true;
}

// Binds to port 1 of the peer, retrying while it is not there yet.
// Retries attempt() (a connect to the peer's first port or endpoint) for
// up to 5 s while the peer is not up yet; its last result.
template <typename Attempt> int64_t retry_for_peer(Attempt attempt) {
    int64_t rc = -XEN_ESRCH;
    for (int tries = 0; tries < 5000; tries++) {
        if ((rc = attempt().raw()) == 0) return 0;
        sys::sleep_until(now() + 1 * kMs);
    }
    return rc;
}

int64_t connect(virtue::EventChannel& ch) {
    int64_t rc = retry_for_peer([&] { return virtue::EventChannel::bind_interdomain(g_peer, 1, ch); });
    return rc == 0 ? ch.wait(now() + 1000 * kMs).raw() : rc; // the new end starts pending
}

void do_serve(unsigned long n) {
    virtue::EventChannel ch;
    if (int64_t rc = virtue::EventChannel::alloc_unbound(g_peer, ch).raw(); rc < 0 || ch.port().raw() != 1) {
        print("serve: alloc_unbound failed: %lld\n", static_cast<long long>(rc));
        g_failed = true;
        return;
    }
    uint64_t t0 = 0;
    unsigned long done = 0;
    // One deadline for the whole run: a clock read per round trip would be
    // part of the figure.
    const uint64_t deadline = now() + 60'000 * kMs;
    for (; done < n; done++) {
        if (ch.wait(deadline).raw() != 0) break;
        if (done == 0) t0 = rdtsc();
        (void)ch.send();
    }
    uint64_t cycles = done > 1 ? (rdtsc() - t0) / (done - 1) : 0;
    print("serve: %lu round trips, %llu cycles each\n", done, static_cast<unsigned long long>(cycles));
    if (done != n) g_failed = true;
}

void do_ping(unsigned long n) {
    virtue::EventChannel ch;
    if (int64_t rc = connect(ch); rc != 0) {
        print("ping: cannot connect: %lld\n", static_cast<long long>(rc));
        g_failed = true;
        return;
    }
    unsigned long failures = 0;
    const uint64_t deadline = now() + 60'000 * kMs; // as in do_serve
    uint64_t t0 = rdtsc();
    for (unsigned long i = 0; i < n; i++) {
        if (ch.send().raw() != 0) failures++;
        if (ch.wait(deadline).raw() != 0) failures++;
    }
    uint64_t cycles = n ? (rdtsc() - t0) / n : 0;
    print("ping: %lu round trips, %llu cycles each, %lu failures\n", n, static_cast<unsigned long long>(cycles),
          failures);
    if (failures) g_failed = true;
}

void do_victim() {
    virtue::EventChannel ch;
    if (connect(ch) != 0) {
        print("victim: cannot connect\n");
        sys::exit(1);
    }
    for (int i = 0; i < 3; i++) {
        (void)ch.send();
        sys::sleep_until(now() + 20 * kMs); // separate events, not merged
    }
    print("victim: dies connected\n");
    sys::exit(7);
}

void do_survivor(unsigned long k) {
    virtue::EventChannel ch;
    if (virtue::EventChannel::alloc_unbound(g_peer, ch).raw() < 0) {
        g_failed = true;
        return;
    }
    unsigned long events = 0;
    virtue_evtchn_status st{};
    for (;;) {
        if (ch.wait(now() + 10'000 * kMs).raw() != 0) break;
        (void)ch.status(st);
        if (st.state != VIRTUE_EVTCHN_INTERDOMAIN) break; // hung up
        events++;
    }
    print("survivor: %lu events, then peer gone: state %u remote %u\n", events, st.state, st.remote_domid);
    if (events != k || st.state != VIRTUE_EVTCHN_UNBOUND || st.remote_domid != g_peer) g_failed = true;
    // Sending into the void is dropped, not an error.
    if (ch.send().raw() != 0) g_failed = true;
}

// ---- The Xen family: event_channel_op ----

bool bit(const xen_ulong_t* words, uint32_t n) { return (words[n / 64] >> (n % 64)) & 1; }

// HYPERVISOR_xen_version: what the Xen ABI says, and its refusals.
void check_xen_version(Checks& c) {
    using virtue::xen::xen_version;
    c.expect("xenver_version", xen_version(XENVER_version, nullptr), (4 << 16) | 17);
    static xen_capabilities_info_t caps;
    c.expect("xenver_capabilities", xen_version(XENVER_capabilities, caps), 0);
    c.expect_true("xenver_capabilities_x86_64", strncmp(caps, "xen-3.0-x86_64", 14) == 0);
    xen_extraversion_t extra;
    c.expect("xenver_extraversion", xen_version(XENVER_extraversion, extra), 0);
    c.expect_true("xenver_extraversion_terminated", memchr(extra, 0, sizeof extra) != nullptr);
    xen_feature_info_t fi{0, 0};
    c.expect("xenver_get_features", xen_version(XENVER_get_features, &fi), 0);
    c.expect_true("xenver_features_pv", (fi.submap & (1u << XENFEAT_mmu_pt_update_preserve_ad)) &&
                                            (fi.submap & (1u << XENFEAT_gnttab_map_avail_bits)) &&
                                            !(fi.submap & (1u << XENFEAT_auto_translated_physmap)) &&
                                            !(fi.submap & (1u << XENFEAT_dom0)));
    xen_feature_info_t past{XENFEAT_NR_SUBMAPS, 0};
    c.expect("xenver_get_features_bad_submap", xen_version(XENVER_get_features, &past), -XEN_EINVAL);
    xen_platform_parameters_t pp{};
    c.expect("xenver_platform_parameters", xen_version(XENVER_platform_parameters, &pp), 0);
    c.expect_true("xenver_virt_start", pp.virt_start == 0xffff800000000000ull);
    c.expect("xenver_pagesize", xen_version(XENVER_pagesize, nullptr), 4096);
    static xen_commandline_t cmdline;
    c.expect("xenver_commandline_kept", xen_version(XENVER_commandline, cmdline), -XEN_EPERM);
    c.expect("xenver_bad_pointer", xen_version(XENVER_capabilities, reinterpret_cast<void*>(0xffff800000000000ull)),
             -XEN_EFAULT);
    c.expect("xenver_unknown_command", xen_version(99, nullptr), -XEN_ENOSYS);
    // console_io: output under the domain's name, refusals.
    using virtue::xen::console_io;
    static const char line[] = "console_io says hello\n";
    c.expect("consoleio_write", console_io(CONSOLEIO_write, sizeof line - 1, line), 0);
    c.expect("consoleio_write_nothing", console_io(CONSOLEIO_write, 0, nullptr), 0);
    c.expect("consoleio_bad_buffer", console_io(CONSOLEIO_write, 8, reinterpret_cast<void*>(0xffff800000000000ull)),
             -XEN_EFAULT);
    c.expect("consoleio_count_above_32_bits", console_io(CONSOLEIO_write, 1ull << 32, line), -XEN_EINVAL);
    char in[8];
    c.expect("consoleio_read_no_input_here", console_io(CONSOLEIO_read, sizeof in, in), 0);
    c.expect("consoleio_unknown_command", console_io(99, 0, nullptr), -XEN_ENOSYS);
    // memory_op: the reservation is the partition; others' are the control
    // domain's business; the M2P's extent.
    using virtue::xen::memory_op;
    virtue_domain_info info{};
    (void)sys::domain_info(&info);
    domid_t dom = DOMID_SELF;
    c.expect("memop_current_reservation", memory_op(XENMEM_current_reservation, &dom),
             static_cast<int64_t>(info.memory_bytes / 4096));
    c.expect("memop_maximum_reservation", memory_op(XENMEM_maximum_reservation, &dom),
             static_cast<int64_t>(info.memory_bytes / 4096));
    domid_t other = static_cast<domid_t>(own_domid() + 1);
    c.expect("memop_other_domain_not_control", memory_op(XENMEM_current_reservation, &other), -XEN_EPERM);
    c.expect("memop_bad_pointer", memory_op(XENMEM_current_reservation, reinterpret_cast<void*>(8)), -XEN_EFAULT);
    xen_machphys_mapping_t mm{};
    c.expect("memop_machphys_mapping", memory_op(XENMEM_machphys_mapping, &mm), 0);
    c.expect_true("memop_m2p_at_xen_address", mm.v_start == 0xffff800000000000ull && mm.max_mfn > 0);
    c.expect_true("memop_max_ram_page", memory_op(XENMEM_maximum_ram_page, nullptr) == static_cast<int64_t>(mm.max_mfn));
    c.expect("memop_memory_map_enosys", memory_op(XENMEM_memory_map, &mm), -XEN_ENOSYS);
}

void do_xen_checks() {
    Checks c;
    check_xen_version(c);
    using virtue::xen::event_channel_op;
    const int64_t einval = -XEN_EINVAL, eperm = -XEN_EPERM, enoent = -XEN_ENOENT;
    const uint64_t me = own_domid();
    shared_info& si = *virtue::xen::shared();
    vcpu_info& v0 = si.vcpu_info[0];

    evtchn_alloc_unbound_t au{DOMID_SELF, DOMID_SELF, 0};
    c.expect("alloc_unbound", event_channel_op(EVTCHNOP_alloc_unbound, &au), 0);
    c.expect_true("alloc_port", au.port >= 1);
    evtchn_alloc_unbound_t au_other{static_cast<domid_t>(me + 1), DOMID_SELF, 0};
    c.expect("alloc_for_another_domain", event_channel_op(EVTCHNOP_alloc_unbound, &au_other), eperm);
    evtchn_bind_interdomain_t bi{DOMID_SELF, au.port, 0};
    c.expect("bind_interdomain", event_channel_op(EVTCHNOP_bind_interdomain, &bi), 0);
    c.expect("bind_twice", event_channel_op(EVTCHNOP_bind_interdomain, &bi), einval);
    evtchn_bind_interdomain_t bi_bad{DOMID_SELF, 1000, 0};
    c.expect("bind_free_port", event_channel_op(EVTCHNOP_bind_interdomain, &bi_bad), einval);
    evtchn_bind_interdomain_t bi_none{4000, 1, 0};
    c.expect("bind_no_domain", event_channel_op(EVTCHNOP_bind_interdomain, &bi_none), -XEN_ESRCH);

    // The new local end starts pending: the bit, the selector, the upcall.
    c.expect_true("bind_sets_pending", bit(si.evtchn_pending, bi.local_port));
    c.expect_true("selector_flagged", (v0.evtchn_pending_sel >> (bi.local_port / 64)) & 1);
    c.expect("upcall_raised", v0.evtchn_upcall_pending, 1);
    // What a guest's upcall handler does: clear them.
    v0.evtchn_upcall_pending = 0;
    v0.evtchn_pending_sel = 0;
    __atomic_and_fetch(&si.evtchn_pending[bi.local_port / 64], ~(xen_ulong_t{1} << (bi.local_port % 64)), __ATOMIC_SEQ_CST);

    evtchn_send_t send{bi.local_port};
    c.expect("send", event_channel_op(EVTCHNOP_send, &send), 0);
    c.expect_true("peer_pending", bit(si.evtchn_pending, au.port));
    c.expect("upcall_again", v0.evtchn_upcall_pending, 1);
    evtchn_send_t send_bad{1000};
    c.expect("send_free_port", event_channel_op(EVTCHNOP_send, &send_bad), einval);
    evtchn_send_t send_huge{1u << 20};
    c.expect("send_huge_port", event_channel_op(EVTCHNOP_send, &send_huge), einval);

    // Masked: pending, but no upcall until unmask.
    v0.evtchn_upcall_pending = 0;
    v0.evtchn_pending_sel = 0;
    si.evtchn_pending[au.port / 64] = 0;
    __atomic_or_fetch(&si.evtchn_mask[au.port / 64], xen_ulong_t{1} << (au.port % 64), __ATOMIC_SEQ_CST);
    c.expect("send_masked", event_channel_op(EVTCHNOP_send, &send), 0);
    c.expect_true("masked_pending", bit(si.evtchn_pending, au.port));
    c.expect("masked_no_upcall", v0.evtchn_upcall_pending, 0);
    evtchn_unmask_t um{au.port};
    c.expect("unmask", event_channel_op(EVTCHNOP_unmask, &um), 0);
    c.expect_true("unmask_clears_mask", !bit(si.evtchn_mask, au.port));
    c.expect("unmask_delivers", v0.evtchn_upcall_pending, 1);
    // Unmasking a port that is not masked leaves its pending event alone.
    v0.evtchn_upcall_pending = 0;
    v0.evtchn_pending_sel = 0;
    c.expect("unmask_unmasked", event_channel_op(EVTCHNOP_unmask, &um), 0);
    c.expect("unmask_unmasked_no_upcall", v0.evtchn_upcall_pending, 0);
    evtchn_unmask_t um_free{500};
    c.expect("unmask_free_number", event_channel_op(EVTCHNOP_unmask, &um_free), 0);
    evtchn_unmask_t um_bad{1000}; // beyond the table's first bucket
    c.expect("unmask_beyond_table", event_channel_op(EVTCHNOP_unmask, &um_bad), einval);

    // status
    evtchn_status_t st{DOMID_SELF, au.port, 0, 0, {}};
    c.expect("status", event_channel_op(EVTCHNOP_status, &st), 0);
    c.expect("status_interdomain", st.status, EVTCHNSTAT_interdomain);
    c.expect("status_peer_port", st.u.interdomain.port, bi.local_port);
    c.expect("status_peer_dom", st.u.interdomain.dom, me);
    evtchn_status_t st_free{DOMID_SELF, 500, 0, 0, {}}; // a free number inside the table
    c.expect("status_free_port", event_channel_op(EVTCHNOP_status, &st_free) == 0 && st_free.status == EVTCHNSTAT_closed, 1);
    evtchn_status_t st_huge{DOMID_SELF, 1u << 20, 0, 0, {}};
    c.expect("status_huge_port", event_channel_op(EVTCHNOP_status, &st_huge), einval);
    evtchn_status_t st_other{static_cast<domid_t>(me + 1), 1, 0, 0, {}};
    c.expect("status_other_domain", event_channel_op(EVTCHNOP_status, &st_other), eperm);

    // ipi, virq, bind_vcpu
    evtchn_bind_ipi_t ipi{0, 0};
    c.expect("bind_ipi", event_channel_op(EVTCHNOP_bind_ipi, &ipi), 0);
    evtchn_bind_ipi_t ipi_bad{7, 0};
    c.expect("bind_ipi_no_vcpu", event_channel_op(EVTCHNOP_bind_ipi, &ipi_bad), enoent);
    evtchn_bind_virq_t vq{VIRQ_DOM_EXC, 0, 0};
    c.expect("bind_virq", event_channel_op(EVTCHNOP_bind_virq, &vq), 0);
    c.expect("bind_virq_twice", event_channel_op(EVTCHNOP_bind_virq, &vq), -XEN_EEXIST);
    evtchn_bind_virq_t vq_bad{NR_VIRQS, 0, 0};
    c.expect("bind_virq_unknown", event_channel_op(EVTCHNOP_bind_virq, &vq_bad), einval);
    evtchn_bind_virq_t vq_undefined{5, 0, 0};
    c.expect("bind_virq_undefined", event_channel_op(EVTCHNOP_bind_virq, &vq_undefined), einval);
    evtchn_bind_virq_t vq_global_vcpu1{VIRQ_CON_RING, 1, 0};
    c.expect("bind_global_virq_on_vcpu1", event_channel_op(EVTCHNOP_bind_virq, &vq_global_vcpu1), einval);
    evtchn_bind_virq_t vq_vcpu{VIRQ_TIMER, 5, 0};
    c.expect("bind_virq_no_vcpu", event_channel_op(EVTCHNOP_bind_virq, &vq_vcpu), enoent);
    evtchn_status_t st_v{DOMID_SELF, vq.port, 0, 0, {}};
    c.expect("virq_status", event_channel_op(EVTCHNOP_status, &st_v) == 0 && st_v.status == EVTCHNSTAT_virq &&
                                st_v.u.virq == VIRQ_DOM_EXC, 1);
    evtchn_send_t send_virq{vq.port};
    c.expect("send_on_virq", event_channel_op(EVTCHNOP_send, &send_virq), einval);
    evtchn_bind_vcpu_t bv{au.port, 0};
    c.expect("bind_vcpu", event_channel_op(EVTCHNOP_bind_vcpu, &bv), 0);
    evtchn_bind_vcpu_t bv_nov{au.port, 9};
    c.expect("bind_vcpu_no_vcpu", event_channel_op(EVTCHNOP_bind_vcpu, &bv_nov), enoent);
    evtchn_bind_vcpu_t bv_ipi{ipi.port, 0};
    c.expect("bind_vcpu_ipi", event_channel_op(EVTCHNOP_bind_vcpu, &bv_ipi), einval);

    // Unknown and FIFO commands, bad pointers.
    c.expect("init_control_fifo", event_channel_op(EVTCHNOP_init_control, &st), -XEN_ENOSYS);
    c.expect("unknown_cmd", event_channel_op(77, &st), -XEN_ENOSYS);
    c.expect("bad_pointer", event_channel_op(EVTCHNOP_send, reinterpret_cast<void*>(0xffff800000000000ull)), -XEN_EFAULT);
    c.expect("other_xen_hypercall", virtue::xen::hypercall2(__HYPERVISOR_kexec_op, 0, 0), -XEN_ENOSYS);

    // close: the peer goes back to unbound; closing twice fails.
    evtchn_close_t cl{bi.local_port};
    c.expect("close", event_channel_op(EVTCHNOP_close, &cl), 0);
    c.expect("close_twice", event_channel_op(EVTCHNOP_close, &cl), einval);
    c.expect("peer_unbound", event_channel_op(EVTCHNOP_status, &st) == 0 && st.status == EVTCHNSTAT_unbound &&
                                 st.u.unbound.dom == me, 1);

    // Ports run out (1023 per domain), cleanly; closing gives them back.
    static evtchn_port_t ports[1024];
    unsigned n = 0;
    int64_t rc = 0;
    while (n < 1024) {
        evtchn_alloc_unbound_t a{DOMID_SELF, DOMID_SELF, 0};
        rc = event_channel_op(EVTCHNOP_alloc_unbound, &a);
        if (rc != 0) break;
        ports[n++] = a.port;
    }
    c.expect("ports_exhausted", rc, -XEN_ENOSPC);
    c.expect_true("ports_made", n > 1000);
    unsigned closed = 0;
    for (unsigned i = 0; i < n; i++) {
        evtchn_close_t x{ports[i]};
        closed += event_channel_op(EVTCHNOP_close, &x) == 0;
    }
    c.expect("ports_closed", closed, n);
    c.expect("alloc_after_close", event_channel_op(EVTCHNOP_alloc_unbound, &au), 0);
    print("xen: %u checks, %u failed\n", c.total, c.failed);
    if (c.failed) g_failed = true;
}

// Binds VIRQ_DOM_EXC and watches its pending bit for `ms`: control domains
// hear of other domains' deaths, others never.
// A grant written the Xen way, straight into the caller's table: frame and
// domid first, flags last.
void xen_grant(grant_ref_t ref, int64_t mfn, uint64_t domid, bool readonly) {
    grant_entry_v1_t& e = virtue::xen::grant_entry(ref);
    e.frame = static_cast<uint32_t>(mfn);
    e.domid = static_cast<domid_t>(domid);
    __atomic_store_n(&e.flags, static_cast<uint16_t>(GTF_permit_access | (readonly ? GTF_readonly : 0)),
                     __ATOMIC_RELEASE);
}

// Ends a grant the Xen way: only while nobody has it mapped or copies it.
bool xen_end_grant(grant_ref_t ref) {
    grant_entry_v1_t& e = virtue::xen::grant_entry(ref);
    uint16_t old = __atomic_load_n(&e.flags, __ATOMIC_ACQUIRE);
    do {
        if (old & (GTF_reading | GTF_writing)) return false;
    } while (!__atomic_compare_exchange_n(&e.flags, &old, uint16_t{0}, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    return true;
}

// GNTTABOP_setup_table for n frames of the caller's own table.
int64_t xen_setup_table(uint32_t n, xen_pfn_t* frames) {
    gnttab_setup_table_t st{};
    st.dom = DOMID_SELF;
    st.nr_frames = n;
    set_xen_guest_handle(st.frame_list, frames);
    int64_t rc = virtue::xen::grant_table_op(GNTTABOP_setup_table, &st, 1);
    return rc ? rc : st.status;
}

// GNTTABOP_map_grant_ref of one grant: the handle, or a negative GNTST_*.
int64_t xen_map(uint64_t va, uint64_t domid, grant_ref_t ref, bool readonly) {
    gnttab_map_grant_ref_t op{};
    op.host_addr = va;
    op.flags = GNTMAP_host_map | (readonly ? GNTMAP_readonly : 0);
    op.ref = ref;
    op.dom = static_cast<domid_t>(domid);
    int64_t rc = virtue::xen::grant_table_op(GNTTABOP_map_grant_ref, &op, 1);
    if (rc) return rc;
    return op.status != GNTST_okay ? int64_t{op.status} : int64_t{op.handle};
}

int64_t xen_unmap(uint64_t va, grant_handle_t h) {
    gnttab_unmap_grant_ref_t op{};
    op.host_addr = va;
    op.handle = h;
    int64_t rc = virtue::xen::grant_table_op(GNTTABOP_unmap_grant_ref, &op, 1);
    return rc ? rc : op.status;
}

// xenmapfrom=D ref=R [rw] [refused]: maps grant R of domain D (read-only,
// or writable with rw) through the Xen family, trying for up to 5 s while
// D sets it up (500 ms with refused, where failing is the expected end),
// reads its first word, unmaps.
void do_xen_map_from(uint64_t domid, grant_ref_t ref, bool writable, bool refused) {
    constexpr uint64_t kVa = 0x330000000ull;
    int64_t h = -1;
    const uint64_t deadline = now() + (refused ? 500 : 5000) * kMs;
    while ((h = xen_map(kVa, domid, ref, !writable)) < 0 && now() < deadline) sys::sleep_until(now() + kMs);
    if (h < 0) {
        print("xenmapfrom: map of d%lu ref %u failed: %ld\n", domid, ref, h);
        if (!refused) g_failed = true;
        return;
    }
    if (refused) g_failed = true;
    const uint64_t word = *reinterpret_cast<volatile uint64_t*>(kVa);
    print("xenmapfrom: read 0x%lx\n", word);
    // Hold it a moment, so the granter sees the mapping in its entry.
    sys::sleep_until(now() + 20 * kMs);
    const int64_t rc = xen_unmap(kVa, static_cast<grant_handle_t>(h));
    print("xenmapfrom: unmapped: %ld\n", rc);
    if (rc != GNTST_okay) g_failed = true;
}

uint64_t mix(uint64_t x) { // splitmix64
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
uint64_t fold(uint64_t sum, const volatile uint64_t* words) {
    for (unsigned i = 0; i < 512; i++) sum = (sum ^ words[i]) * 0x100000001b3ull;
    return sum;
}

// The Xen family's grant_table_op on the caller's own grants: entries
// written straight into the table, map/unmap by grant handle, copies
// between grants and frames named by MFN, every error status.
void do_xen_grant_checks() {
    Checks c;
    namespace xen = virtue::xen;
    const uint64_t me = own_domid();
    const int64_t einval = -XEN_EINVAL, efault = -XEN_EFAULT;
    virtue::AddressSpace as;
    (void)virtue::AddressSpace::self(as);
    constexpr uint64_t kVa = 0x240000000ull;
    auto at = [&](unsigned page) { return kVa + page * kPage; };

    // query_size / setup_table
    gnttab_query_size_t q{};
    q.dom = DOMID_SELF;
    c.expect("xg_query", xen::grant_table_op(GNTTABOP_query_size, &q, 1), 0);
    c.expect("xg_query_status", q.status, GNTST_okay);
    c.expect("xg_query_max", q.max_nr_frames, 16);
    const uint32_t frames0 = q.nr_frames;
    static xen_pfn_t list[17];
    c.expect("xg_setup", xen_setup_table(2, list), GNTST_okay);
    c.expect_true("xg_setup_frames", list[0] && list[1] && list[0] != list[1]);
    c.expect("xg_query_after", xen::grant_table_op(GNTTABOP_query_size, &q, 1) == 0 ? q.nr_frames : 0,
             frames0 > 2 ? frames0 : 2);
    c.expect("xg_setup_same_frames", xen_setup_table(1, list + 8) == GNTST_okay && list[8] == list[0], 1);
    c.expect("xg_setup_too_many", xen_setup_table(17, list), GNTST_general_error);
    gnttab_setup_table_t st{};
    st.dom = static_cast<domid_t>(me + 1);
    st.nr_frames = 1;
    set_xen_guest_handle(st.frame_list, list);
    c.expect("xg_setup_other", xen::grant_table_op(GNTTABOP_setup_table, &st, 1) == 0 ? st.status : 1,
             GNTST_permission_denied);
    st.dom = DOMID_SELF;
    c.expect("xg_setup_count_2", xen::grant_table_op(GNTTABOP_setup_table, &st, 2), einval);
    set_xen_guest_handle(st.frame_list, reinterpret_cast<xen_pfn_t*>(0xffff800000000000ull));
    c.expect("xg_setup_bad_list", xen::grant_table_op(GNTTABOP_setup_table, &st, 1) == 0 ? st.status : 1,
             GNTST_bad_virt_addr);
    q.dom = static_cast<domid_t>(me + 1);
    c.expect("xg_query_other", xen::grant_table_op(GNTTABOP_query_size, &q, 1) == 0 ? q.status : 1,
             GNTST_permission_denied);
    c.expect("xg_query_bad_op", xen::grant_table_op(GNTTABOP_query_size, reinterpret_cast<void*>(16), 1), efault);
    c.expect("xg_unknown_cmd", xen::grant_table_op(GNTTABOP_transfer, &q, 1), -XEN_ENOSYS);
    c.expect("xg_v2_refused", xen::grant_table_op(GNTTABOP_get_status_frames, &q, 1), -XEN_ENOSYS);

    // memory_frame
    const uint64_t free0 = free_bytes();
    {
        virtue::Memory mem;
        c.expect("xg_memory", virtue::Memory::create(2, mem), 0);
        c.expect("xg_map_region", as.map(kVa, mem, 0, 2 * kPage, virtue::Prot::from_bits(VIRTUE_PROT_READ | VIRTUE_PROT_WRITE)), 0);
        *word(at(0)) = 0x5151;
        *word(at(1)) = 0x5252;
        const int64_t mfn0 = sys::memory_frame(mem.get(), 0), mfn1 = sys::memory_frame(mem.get(), 1);
        c.expect_true("xg_mfns", mfn0 > 0 && mfn1 > 0 && mfn0 != mfn1);
        c.expect("xg_mfn_beyond", sys::memory_frame(mem.get(), 2), einval);
        c.expect("xg_mfn_bad_handle", sys::memory_frame(0, 0), -XEN_EBADF);
        c.expect("xg_mfn_not_memory", sys::memory_frame(as.get(), 0), -XEN_ENODEV);
        virtue::Handle mem_ro;
        (void)mem.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_READ | VIRTUE_RIGHT_MAP), mem_ro);
        c.expect("xg_mfn_without_write", sys::memory_frame(mem_ro.get(), 0), -XEN_EACCES);

        // Entries the domain writes itself: 20 rw and 21 ro for itself,
        // 22 for another domain, 3 (reserved for the toolstack, still
        // mappable), 23 naming a frame that is not ours.
        xen_grant(20, mfn0, me, false);
        xen_grant(21, mfn1, me, true);
        xen_grant(22, mfn0, me + 1, false);
        xen_grant(3, mfn1, me, true);
        xen_grant(23, 1, me, false);
        grant_entry_v1_t& e20 = xen::grant_entry(20);
        grant_entry_v1_t& e21 = xen::grant_entry(21);

        static gnttab_map_grant_ref_t m[15];
        auto op = [](uint64_t va, uint32_t flags, grant_ref_t ref, domid_t dom) {
            gnttab_map_grant_ref_t o{};
            o.host_addr = va;
            o.flags = flags;
            o.ref = ref;
            o.dom = dom;
            o.status = 99;
            o.handle = 0xdead;
            return o;
        };
        const uint32_t hm = GNTMAP_host_map;
        m[0] = op(at(16), hm, 20, DOMID_SELF);
        m[1] = op(at(17), hm | GNTMAP_readonly, 21, DOMID_SELF);
        m[2] = op(at(18), hm, 21, DOMID_SELF);                        // writable map of a read-only grant
        m[3] = op(at(18), hm, 22, DOMID_SELF);                        // granted to another domain
        m[4] = op(at(18), hm, 500, DOMID_SELF);                       // never granted
        m[5] = op(at(18), hm, 20, 4000);                              // no such domain
        m[6] = op(at(0), hm, 20, DOMID_SELF);                         // va already mapped
        m[7] = op(at(18), hm | GNTMAP_device_map, 20, DOMID_SELF);    // no device mappings
        m[8] = op(at(18), hm | GNTMAP_contains_pte, 20, DOMID_SELF);  // no PTE addresses
        m[9] = op(at(18), 0, 20, DOMID_SELF);                         // no host mapping asked for
        m[10] = op(0xffff800000000000ull, hm, 20, DOMID_SELF);        // hypervisor address
        m[11] = op(at(19), hm | GNTMAP_readonly, 3, DOMID_SELF);      // a reserved ref the domain wrote
        m[12] = op(at(18), hm, 23, DOMID_SELF);                       // names a frame not ours
        m[13] = op(at(18), hm, 1u << 20, DOMID_SELF);                 // beyond any table
        m[14] = op(at(18) + 8, hm, 20, DOMID_SELF);                   // unaligned address
        c.expect("xg_map_batch", xen::grant_table_op(GNTTABOP_map_grant_ref, m, 15), 0);
        c.expect("xg_map_rw", m[0].status, GNTST_okay);
        c.expect("xg_map_ro", m[1].status, GNTST_okay);
        c.expect_true("xg_map_handles_differ", m[0].handle != m[1].handle);
        // (Xen answers an entry that does not grant what is asked as general_error)
        c.expect("xg_map_ro_writable", m[2].status, GNTST_general_error);
        c.expect("xg_map_not_for_me", m[3].status, GNTST_general_error);
        c.expect("xg_map_never_granted", m[4].status, GNTST_general_error);
        c.expect("xg_map_no_domain", m[5].status, GNTST_bad_domain);
        c.expect("xg_map_occupied", m[6].status, GNTST_bad_virt_addr);
        c.expect("xg_map_device", m[7].status, GNTST_general_error);
        c.expect("xg_map_contains_pte", m[8].status, GNTST_general_error);
        c.expect("xg_map_no_host", m[9].status, GNTST_bad_gntref); // (as Xen)
        c.expect("xg_map_hypervisor_va", m[10].status, GNTST_bad_virt_addr);
        c.expect("xg_map_reserved_ref", m[11].status, GNTST_okay);
        c.expect("xg_map_foreign_frame", m[12].status, GNTST_bad_gntref);
        c.expect("xg_map_huge_ref", m[13].status, GNTST_bad_gntref);
        c.expect("xg_map_unaligned", m[14].status, GNTST_bad_virt_addr);
        c.expect("xg_map_rw_shares", *word(at(16)), 0x5151);
        *word(at(16)) = 0x6161;
        c.expect("xg_map_rw_writes_through", *word(at(0)), 0x6161);
        c.expect("xg_map_ro_reads", *word(at(17)), 0x5252);
        c.expect("xg_flags_rw_pinned", e20.flags, GTF_permit_access | GTF_reading | GTF_writing);
        c.expect("xg_flags_ro_pinned", e21.flags, GTF_permit_access | GTF_readonly | GTF_reading);
        c.expect("xg_failed_maps_leave_flags", xen::grant_entry(22).flags, GTF_permit_access);
        c.expect("xg_foreign_frame_unpinned", xen::grant_entry(23).flags, GTF_permit_access);
        c.expect("xg_end_mapped_refused", xen_end_grant(20), 0);
        c.expect("xg_native_end_mapped", sys::grant_end(20), -XEN_EBUSY);
        c.expect("xg_unmap_by_hand", as.unmap(at(16), kPage), -XEN_EBUSY);
        c.expect("xg_audit_mapped", sys::memory_audit(), 0);

        // copy: frames named by MFN and grants, in both directions
        static gnttab_copy_t cp[11];
        auto copy = [](uint16_t flags, uint64_t src, domid_t sdom, uint16_t soff, uint64_t dst, domid_t ddom,
                       uint16_t doff, uint16_t len) {
            gnttab_copy_t o{};
            if (flags & GNTCOPY_source_gref) o.source.u.ref = static_cast<grant_ref_t>(src);
            else o.source.u.gmfn = src;
            if (flags & GNTCOPY_dest_gref) o.dest.u.ref = static_cast<grant_ref_t>(dst);
            else o.dest.u.gmfn = dst;
            o.source.domid = sdom;
            o.source.offset = soff;
            o.dest.domid = ddom;
            o.dest.offset = doff;
            o.len = len;
            o.flags = flags;
            o.status = 99;
            return o;
        };
        const uint16_t sg = GNTCOPY_source_gref, dg = GNTCOPY_dest_gref;
        cp[0] = copy(dg, mfn1, DOMID_SELF, 0, 20, DOMID_SELF, 8, 8);          // frame -> grant
        cp[1] = copy(sg, 21, DOMID_SELF, 0, mfn0, DOMID_SELF, 16, 8);         // read-only grant -> frame
        cp[2] = copy(sg | dg, 20, DOMID_SELF, 0, 20, DOMID_SELF, 24, 8);      // grant -> grant (same one)
        cp[3] = copy(dg, mfn0, DOMID_SELF, 0, 21, DOMID_SELF, 0, 8);          // into a read-only grant
        cp[4] = copy(sg, 20, DOMID_SELF, 4000, mfn1, DOMID_SELF, 0, 200);     // crosses the page end
        cp[5] = copy(sg, 20, DOMID_SELF, 0, 1, DOMID_SELF, 0, 8);             // frame not ours
        cp[6] = copy(sg, 20, DOMID_SELF, 0, mfn1, static_cast<domid_t>(me + 1), 0, 8); // another's frame by MFN
        cp[7] = copy(sg | 4, 20, DOMID_SELF, 0, mfn1, DOMID_SELF, 0, 8);      // unknown flag
        cp[8] = copy(sg, 20, 4000, 0, mfn1, DOMID_SELF, 0, 8);                // no such domain
        cp[9] = copy(sg, 501, DOMID_SELF, 0, mfn1, DOMID_SELF, 0, 8);         // never granted
        cp[10] = copy(sg, 20, DOMID_SELF, 0, mfn1, DOMID_SELF, 0, 0);         // empty: checks only, as in Xen
        c.expect("xg_copy_batch", xen::grant_table_op(GNTTABOP_copy, cp, 11), 0);
        c.expect("xg_copy_frame_to_grant", cp[0].status, GNTST_okay);
        c.expect("xg_copy_landed", *word(at(0) + 8), 0x5252);
        c.expect("xg_copy_grant_to_frame", cp[1].status, GNTST_okay);
        c.expect("xg_copy_landed_2", *word(at(0) + 16), 0x5252);
        c.expect("xg_copy_grant_to_grant", cp[2].status, GNTST_okay);
        c.expect("xg_copy_landed_3", *word(at(0) + 24), 0x6161);
        c.expect("xg_copy_into_readonly", cp[3].status, GNTST_general_error);
        c.expect("xg_copy_crossing", cp[4].status, GNTST_bad_copy_arg);
        c.expect("xg_copy_frame_not_ours", cp[5].status, GNTST_bad_page);
        c.expect("xg_copy_foreign_mfn", cp[6].status, GNTST_permission_denied);
        c.expect("xg_copy_unknown_flag", cp[7].status, GNTST_bad_copy_arg);
        c.expect("xg_copy_no_domain", cp[8].status, GNTST_bad_domain);
        c.expect("xg_copy_never_granted", cp[9].status, GNTST_general_error);
        c.expect("xg_copy_empty", cp[10].status, GNTST_okay);
        c.expect("xg_copy_pins_gone", e20.flags, GTF_permit_access | GTF_reading | GTF_writing); // still mapped
        c.expect("xg_copy_bad_ops", xen::grant_table_op(GNTTABOP_copy, reinterpret_cast<void*>(16), 1), efault);

        // unmap by handle
        static gnttab_unmap_grant_ref_t u[6];
        auto un = [](uint64_t va, uint64_t bus, grant_handle_t h) {
            gnttab_unmap_grant_ref_t o{};
            o.host_addr = va;
            o.dev_bus_addr = bus;
            o.handle = h;
            o.status = 99;
            return o;
        };
        u[0] = un(at(16), 0, m[0].handle);
        u[1] = un(at(16), 0, m[0].handle);  // twice
        u[2] = un(at(40), 0, m[1].handle);  // not where it maps
        u[3] = un(at(17), 0, 4000);         // never issued
        u[4] = un(at(17), 4096, m[1].handle); // a device mapping it never had
        u[5] = un(at(17), 0, m[1].handle);
        c.expect("xg_unmap_batch", xen::grant_table_op(GNTTABOP_unmap_grant_ref, u, 6), 0);
        c.expect("xg_unmap_ok", u[0].status, GNTST_okay);
        c.expect("xg_unmap_twice", u[1].status, GNTST_bad_handle);
        c.expect("xg_unmap_wrong_va", u[2].status, GNTST_general_error);
        c.expect("xg_unmap_never", u[3].status, GNTST_bad_handle);
        c.expect("xg_unmap_device", u[4].status, GNTST_general_error);
        c.expect("xg_unmap_ro", u[5].status, GNTST_okay);
        c.expect("xg_unmap_reserved", xen_unmap(at(19), m[11].handle), GNTST_okay);
        c.expect("xg_flags_rw_unpinned", e20.flags, GTF_permit_access);
        c.expect("xg_flags_ro_unpinned", e21.flags, GTF_permit_access | GTF_readonly);
        c.expect("xg_unmap_bad_ops", xen::grant_table_op(GNTTABOP_unmap_grant_ref, reinterpret_cast<void*>(16), 1),
                 efault);

        // A map whose status cannot be written back (the op sits in a
        // read-only page): -EFAULT, and the mapping is taken back, since
        // the caller never learns its handle.
        {
            virtue::Memory op_page;
            c.expect("xg_op_page", virtue::Memory::create(1, op_page), 0);
            const uint64_t op_va = at(30);
            (void)as.map(op_va, op_page, 0, kPage, virtue::Prot::from_bits(VIRTUE_PROT_READ | VIRTUE_PROT_WRITE));
            auto* ro_op = reinterpret_cast<gnttab_map_grant_ref_t*>(op_va);
            *ro_op = op(at(31), hm, 20, DOMID_SELF);
            c.expect("xg_op_page_ro", as.protect(op_va, kPage, virtue::Prot::from_bits(VIRTUE_PROT_READ)), 0);
            c.expect("xg_map_unwritable_status", xen::grant_table_op(GNTTABOP_map_grant_ref, ro_op, 1), efault);
            c.expect("xg_map_taken_back", e20.flags, GTF_permit_access);
            const int64_t again = xen_map(at(31), DOMID_SELF, 20, true);
            c.expect_true("xg_map_taken_back_va_free", again >= 0);
            c.expect("xg_map_again_unmapped", xen_unmap(at(31), static_cast<grant_handle_t>(again)), GNTST_okay);
            (void)as.unmap(op_va, kPage);
        }

        // Every grant handle in use, then one more: no device space, and
        // nothing stays mapped for it.
        {
            constexpr unsigned kHandles = 4096;
            static gnttab_map_grant_ref_t many[kHandles + 1];
            for (unsigned i = 0; i <= kHandles; i++) many[i] = op(at(64 + i), hm | GNTMAP_readonly, 21, DOMID_SELF);
            c.expect("xg_map_4096", xen::grant_table_op(GNTTABOP_map_grant_ref, many, kHandles), 0);
            unsigned ok = 0;
            for (unsigned i = 0; i < kHandles; i++) ok += many[i].status == GNTST_okay;
            c.expect("xg_handles_all_mapped", ok, kHandles);
            c.expect("xg_handle_4097", xen::grant_table_op(GNTTABOP_map_grant_ref, many + kHandles, 1) == 0
                                           ? many[kHandles].status : 1,
                     GNTST_no_device_space);
            static gnttab_unmap_grant_ref_t all[kHandles]; // before the next batch rewrites the handles
            for (unsigned i = 0; i < kHandles; i++) all[i] = un(many[i].host_addr, 0, many[i].handle);
            // A batch of any length runs (preemptible); with every handle
            // taken, each of its 4097 ops fails on its own and maps nothing.
            c.expect("xg_map_batch_beyond_the_handles", xen::grant_table_op(GNTTABOP_map_grant_ref, many, kHandles + 1), 0);
            unsigned mapped_more = 0;
            for (unsigned i = 0; i <= kHandles; i++) mapped_more += many[i].status == GNTST_okay;
            c.expect("xg_map_beyond_maps_nothing", mapped_more, 0);
            c.expect("xg_unmap_4096", xen::grant_table_op(GNTTABOP_unmap_grant_ref, all, kHandles), 0);
            ok = 0;
            for (unsigned i = 0; i < kHandles; i++) ok += all[i].status == GNTST_okay;
            c.expect("xg_handles_all_unmapped", ok, kHandles);
            c.expect("xg_flags_after_many", e21.flags, GTF_permit_access | GTF_readonly);
        }

        // Ending: the Xen way (clear the flags) and the native call on an
        // entry the domain wrote.
        c.expect("xg_end_20", xen_end_grant(20), 1);
        c.expect("xg_end_21", xen_end_grant(21), 1);
        c.expect("xg_native_end_22", sys::grant_end(22), 0);
        c.expect("xg_native_end_22_twice", sys::grant_end(22), einval);
        c.expect("xg_end_3", xen_end_grant(3), 1);
        c.expect("xg_end_23", xen_end_grant(23), 1);
        c.expect("xg_map_ended", xen_map(at(16), DOMID_SELF, 20, false), GNTST_general_error);
        c.expect("xg_audit_after", sys::memory_audit(), 0);
        c.expect("xg_unmap_region", as.unmap(kVa, 2 * kPage), 0);
    }
    // Everything but page tables back (the table grew before free0).
    c.expect_true("xg_frames_back", free0 - free_bytes() <= 16 * kPage);
    print("xengrants: %u checks, %u failed\n", c.total, c.failed);
    if (c.failed) g_failed = true;
}

// The Xen family's vCPU timers (set_timer_op, vcpu_op) and VIRQ_TIMER, in
// a domain with 2 vCPUs (tests/configs/xentimer.dts): each fires on its
// own vCPU's port, no earlier than asked; stops stop; errors refuse.
int64_t timer_from_thread(void*) { return virtue::xen::set_timer_op(1); } // in the past: at once

void do_xen_timer_checks() {
    Checks c;
    namespace xen = virtue::xen;
    using xen::event_channel_op;
    shared_info& si = *xen::shared();
    auto clear = [&](evtchn_port_t p) {
        __atomic_and_fetch(&si.evtchn_pending[p / 64], ~(xen_ulong_t{1} << (p % 64)), __ATOMIC_SEQ_CST);
    };
    // Polls until the port is pending: the time it was first seen, or 0.
    auto seen_at = [&](evtchn_port_t p, uint64_t ms) -> uint64_t {
        for (uint64_t end = now() + ms * kMs;;) {
            if (bit(si.evtchn_pending, p)) return now();
            if (now() > end) return 0;
            sys::sleep_until(now() + 2 * kMs);
        }
    };
    auto quiet_for = [&](evtchn_port_t p, uint64_t ms) {
        sys::sleep_until(now() + ms * kMs);
        return !bit(si.evtchn_pending, p);
    };

    evtchn_bind_virq_t t0{VIRQ_TIMER, 0, 0}, t1{VIRQ_TIMER, 1, 0}, again{VIRQ_TIMER, 0, 0};
    c.expect("xt_bind_vcpu0", event_channel_op(EVTCHNOP_bind_virq, &t0), 0);
    c.expect("xt_bind_vcpu1", event_channel_op(EVTCHNOP_bind_virq, &t1), 0);
    c.expect("xt_bind_twice", event_channel_op(EVTCHNOP_bind_virq, &again), -XEN_EEXIST);
    clear(t0.port);
    clear(t1.port);

    // A thread acts as its creator's vCPU.
    {
        virtue::Thread t;
        c.expect("xt_thread", virtue::Thread::create(timer_from_thread, nullptr, t), 0);
        c.expect("xt_thread_start", t.start(), 0);
        int64_t status = -1;
        c.expect("xt_thread_join", t.join(VIRTUE_DEADLINE_NONE, &status), 0);
        c.expect("xt_thread_set", status, 0);
        c.expect("xt_thread_raised_on_vcpu0", bit(si.evtchn_pending, t0.port), 1);
        clear(t0.port);
        c.expect("xt_thread_not_vcpu1", bit(si.evtchn_pending, t1.port), 0);
    }

    // set_timer_op: fires on vCPU 0's port, not before its deadline.
    uint64_t deadline = now() + 30 * kMs;
    c.expect("xt_set", xen::set_timer_op(deadline), 0);
    const uint64_t fired = seen_at(t0.port, 3000);
    c.expect_true("xt_fired", fired != 0);
    c.expect_true("xt_not_before_deadline", fired >= deadline);
    c.expect("xt_other_vcpu_quiet", bit(si.evtchn_pending, t1.port), 0);
    clear(t0.port);
    c.expect("xt_past", xen::set_timer_op(1), 0);
    c.expect("xt_past_at_once", bit(si.evtchn_pending, t0.port), 1);
    clear(t0.port);
    c.expect("xt_rearm", xen::set_timer_op(now() + 150 * kMs), 0);
    c.expect("xt_stop", xen::set_timer_op(0), 0);
    c.expect_true("xt_stopped_stays_quiet", quiet_for(t0.port, 300));

    // VCPUOP single-shot
    vcpu_set_singleshot_timer_t ss{now() + 20 * kMs, 0};
    c.expect("xt_vcpu_single", xen::vcpu_op(VCPUOP_set_singleshot_timer, 0, &ss), 0);
    c.expect_true("xt_vcpu_single_fired", seen_at(t0.port, 3000) >= ss.timeout_abs_ns);
    clear(t0.port);
    vcpu_set_singleshot_timer_t past{1, VCPU_SSHOTTMR_future};
    c.expect("xt_future_flag_past", xen::vcpu_op(VCPUOP_set_singleshot_timer, 0, &past), -XEN_ETIME);
    c.expect("xt_future_flag_nothing_raised", bit(si.evtchn_pending, t0.port), 0);
    vcpu_set_singleshot_timer_t other_flags{now() + kMs, 2}; // ignored, as in Xen
    c.expect("xt_single_other_flags", xen::vcpu_op(VCPUOP_set_singleshot_timer, 0, &other_flags), 0);
    c.expect_true("xt_single_other_flags_fired", seen_at(t0.port, 3000) != 0);
    clear(t0.port);
    // Xen's rule for a wrapped guest clock: a timeout negative as a signed
    // value gets a tick in 100 ms instead of never.
    c.expect("xt_negative_timeout", xen::set_timer_op(uint64_t{1} << 63), 0);
    c.expect_true("xt_negative_timeout_fires_soon", seen_at(t0.port, 3000) != 0);
    clear(t0.port);
    c.expect("xt_single_other_vcpu", xen::vcpu_op(VCPUOP_set_singleshot_timer, 1, &ss), -XEN_EINVAL);
    c.expect("xt_single_no_vcpu", xen::vcpu_op(VCPUOP_set_singleshot_timer, 2, &ss), -XEN_ENOENT);
    c.expect("xt_single_huge_vcpu", xen::vcpu_op(VCPUOP_set_singleshot_timer, 1u << 31, &ss), -XEN_ENOENT);
    c.expect("xt_single_bad_pointer",
             xen::vcpu_op(VCPUOP_set_singleshot_timer, 0, reinterpret_cast<void*>(0xffff800000000000ull)), -XEN_EFAULT);
    ss.timeout_abs_ns = now() + 150 * kMs;
    c.expect("xt_single_rearm", xen::vcpu_op(VCPUOP_set_singleshot_timer, 0, &ss), 0);
    c.expect("xt_single_stop", xen::vcpu_op(VCPUOP_stop_singleshot_timer, 0, nullptr), 0);
    c.expect_true("xt_single_stopped", quiet_for(t0.port, 300));
    c.expect("xt_single_stop_other_vcpu", xen::vcpu_op(VCPUOP_stop_singleshot_timer, 1, nullptr), -XEN_EINVAL);

    // VCPUOP periodic, on the other vCPU: expiry after expiry on its port.
    vcpu_set_periodic_timer_t per{20 * kMs};
    c.expect("xt_periodic_vcpu1", xen::vcpu_op(VCPUOP_set_periodic_timer, 1, &per), 0);
    unsigned ticks = 0;
    for (int i = 0; i < 3; i++)
        if (seen_at(t1.port, 3000)) {
            ticks++;
            clear(t1.port);
        }
    c.expect("xt_periodic_three_expiries", ticks, 3);
    c.expect("xt_periodic_not_on_vcpu0", bit(si.evtchn_pending, t0.port), 0);
    vcpu_set_periodic_timer_t too_short{100'000};
    c.expect("xt_periodic_too_short", xen::vcpu_op(VCPUOP_set_periodic_timer, 1, &too_short), -XEN_EINVAL);
    vcpu_set_periodic_timer_t endless{~0ull};
    c.expect("xt_periodic_overflow", xen::vcpu_op(VCPUOP_set_periodic_timer, 1, &endless), -XEN_EINVAL);
    // The op is only read: one in read-only memory is fine.
    static const vcpu_set_periodic_timer_t ro_period{20 * kMs};
    c.expect("xt_periodic_readonly_op", xen::vcpu_op(VCPUOP_set_periodic_timer, 1, const_cast<vcpu_set_periodic_timer_t*>(&ro_period)), 0);
    c.expect("xt_periodic_stop", xen::vcpu_op(VCPUOP_stop_periodic_timer, 1, nullptr), 0);
    clear(t1.port);
    c.expect_true("xt_periodic_stopped", quiet_for(t1.port, 100));
    c.expect("xt_periodic_no_vcpu", xen::vcpu_op(VCPUOP_set_periodic_timer, 2, &per), -XEN_ENOENT);
    c.expect("xt_vcpu_op_unknown", xen::vcpu_op(VCPUOP_up, 0, nullptr), -XEN_ENOSYS);

    // With the port closed a firing timer reaches nobody.
    evtchn_close_t cl{t0.port};
    c.expect("xt_close", event_channel_op(EVTCHNOP_close, &cl), 0);
    c.expect("xt_fire_unbound", xen::set_timer_op(now() + 10 * kMs), 0);
    sys::sleep_until(now() + 50 * kMs);
    // A periodic timer left running when the domain ends is stopped with it.
    c.expect("xt_left_running", xen::vcpu_op(VCPUOP_set_periodic_timer, 1, &per), 0);
    print("xentimer: %u checks, %u failed\n", c.total, c.failed);
    if (c.failed) g_failed = true;
}

// Frame numbers bypass handles, so only the domain's first address space
// may name frames in GNTTABOP_copy: the same copy succeeds there and is
// refused from a thread of a second address space (a forked image).
int64_t copy_by_frame(void* arg) {
    const uint64_t mfn = reinterpret_cast<uint64_t>(arg);
    gnttab_copy_t op{};
    op.source.u.gmfn = mfn;
    op.source.domid = DOMID_SELF;
    op.dest.u.gmfn = mfn;
    op.dest.domid = DOMID_SELF;
    op.dest.offset = 8;
    op.len = 8;
    op.status = 99;
    int64_t rc = virtue::xen::grant_table_op(GNTTABOP_copy, &op, 1);
    return rc ? rc : op.status;
}

// A long GNTTABOP_copy batch is preemptible: it stops between operations
// when its CPU has other work and continues where it stopped. The domain
// runs on one CPU with a spinner thread beside the batch; the spinner sees
// the batch half done (its first status written, its last not yet), which
// without preemption it never could (it would run only before or after the
// whole call). The batch's results are then checked in full.
struct PreemptWatch {
    gnttab_copy_t* ops;
    uint64_t n;
    volatile uint64_t running;
    volatile uint64_t seen_half;
    volatile uint64_t spins;
};

int64_t preempt_spinner(void* arg) {
    auto& w = *static_cast<PreemptWatch*>(arg);
    while (w.running) {
        const int16_t first = __atomic_load_n(&w.ops[0].status, __ATOMIC_RELAXED);
        const int16_t last = __atomic_load_n(&w.ops[w.n - 1].status, __ATOMIC_RELAXED);
        if (first != 99 && last == 99) w.seen_half = 1;
        w.spins = w.spins + 1;
    }
    return 0;
}

void do_xen_preempt_checks() {
    Checks c;
    constexpr uint64_t kOps = 8192;
    static gnttab_copy_t ops[kOps];
    virtue::Memory page;
    c.expect("xp_page", virtue::Memory::create(1, page), 0);
    const int64_t mfn = sys::memory_frame(page.get(), 0);
    c.expect_true("xp_mfn", mfn > 0);
    static PreemptWatch w{ops, kOps, 1, 0, 0};
    virtue::Thread spinner;
    c.expect("xp_spinner", virtue::Thread::create(preempt_spinner, &w, spinner), 0);
    c.expect("xp_spinner_start", spinner.start(), 0);
    unsigned batches = 0;
    bool all_ok = true;
    for (; batches < 20 && !w.seen_half; batches++) {
        for (uint64_t i = 0; i < kOps; i++) {
            gnttab_copy_t& o = ops[i];
            o = {};
            o.source.u.gmfn = static_cast<xen_pfn_t>(mfn);
            o.source.domid = DOMID_SELF;
            o.source.offset = static_cast<uint16_t>((i % 64) * 8);
            o.dest.u.gmfn = static_cast<xen_pfn_t>(mfn);
            o.dest.domid = DOMID_SELF;
            o.dest.offset = static_cast<uint16_t>(2048 + (i % 64) * 8);
            o.len = 8;
            o.status = 99;
        }
        c.expect("xp_batch", virtue::xen::grant_table_op(GNTTABOP_copy, ops, kOps), 0);
        for (uint64_t i = 0; i < kOps; i++) all_ok = all_ok && ops[i].status == GNTST_okay;
    }
    w.running = 0;
    c.expect("xp_spinner_join", spinner.join(VIRTUE_DEADLINE_NONE), 0);
    c.expect("xp_every_op_done_once", all_ok, 1);
    c.expect("xp_spinner_saw_a_half_done_batch", w.seen_half, 1);
    // Beyond Xen's unsigned int count: refused, nothing done.
    ops[0].status = 99;
    c.expect("xp_count_above_32_bits",
             sys::detail::syscall3(__HYPERVISOR_grant_table_op, GNTTABOP_copy, reinterpret_cast<uint64_t>(ops), 1ull << 32),
             -XEN_EINVAL);
    c.expect("xp_nothing_done", ops[0].status, 99);
    print("xenpreempt: %u batches of %lu ops, spinner ran %lu times\n", batches, kOps,
          static_cast<unsigned long>(w.spins));
    print("xenpreempt: %u checks, %u failed\n", c.total, c.failed);
    if (c.failed) g_failed = true;
}

void do_xen_sandbox_checks() {
    Checks c;
    constexpr uint64_t kStack = 0x7e0000000000ull, kStackPages = 4;
    virtue::Memory page;
    c.expect("xs_page", virtue::Memory::create(1, page), 0);
    const int64_t mfn = sys::memory_frame(page.get(), 0);
    c.expect_true("xs_mfn", mfn > 0);
    c.expect("xs_copy_here", copy_by_frame(reinterpret_cast<void*>(mfn)), GNTST_okay);
    virtue::AddressSpace other;
    c.expect("xs_aspace", virtue::AddressSpace::create(other), 0);
    virtue::Memory image, stack;
    c.expect("xs_fork", virtue::fork_image(other, image), 0);
    c.expect("xs_stack", virtue::Memory::create(kStackPages, stack), 0);
    c.expect("xs_map_stack", other.map(kStack, stack, 0, kStackPages * kPage, virtue::Prot::from_bits(VIRTUE_PROT_READ | VIRTUE_PROT_WRITE)), 0);
    virtue::Thread t;
    c.expect("xs_thread", virtue::Thread::create_in(other, copy_by_frame, reinterpret_cast<void*>(mfn),
                                                    kStack + kStackPages * kPage, t), 0);
    c.expect("xs_start", t.start(), 0);
    int64_t status = 0;
    c.expect("xs_join", t.join(VIRTUE_DEADLINE_NONE, &status), 0);
    c.expect("xs_copy_from_second_aspace_refused", status, GNTST_permission_denied);
    print("xensandbox: %u checks, %u failed\n", c.total, c.failed);
    if (c.failed) g_failed = true;
}

void do_domexc(unsigned long ms) {
    evtchn_bind_virq_t vq{VIRQ_DOM_EXC, 0, 0};
    int64_t rc = virtue::xen::event_channel_op(EVTCHNOP_bind_virq, &vq);
    shared_info& si = *virtue::xen::shared();
    int notified = 0;
    for (uint64_t end = now() + ms * kMs; rc == 0 && now() < end && !notified;) {
        notified = bit(si.evtchn_pending, vq.port);
        sys::sleep_until(now() + 10 * kMs);
    }
    print("domexc: bind %lld, notified %d\n", static_cast<long long>(rc), notified);
}

// ---- Synchronous IPC ----

constexpr uint64_t kDelegate = 0xde1e6a7e;

struct EchoServer {
    virtue::Endpoint* ep;
    volatile uint64_t served, handles_received;
};

// Answers word0 + 1; word0 == 999: exits holding the call; a received
// handle is counted and sent back with the reply.
int64_t echo_server(void* arg) {
    auto& s = *static_cast<EchoServer*>(arg);
    virtue_ipc_msg m{};
    for (;;) {
        if (s.ep->reply_wait(m, VIRTUE_DEADLINE_NONE).raw() != 0) return 1;
        if (m.word[0] == 999) return 0;
        s.served = s.served + 1;
        if (m.handle) s.handles_received = s.handles_received + 1;
        m.word[0] += 1; // m.handle goes back as it came
    }
}

void do_ipc_checks() {
    Checks c;
    const int64_t einval = -XEN_EINVAL, esrch = -XEN_ESRCH, eperm = -XEN_EPERM, eacces = -XEN_EACCES,
                  ebadf = -XEN_EBADF, efault = -XEN_EFAULT;
    const uint64_t me = own_domid();
    virtue::Endpoint server, client, other;
    c.expect("create", virtue::Endpoint::create(VIRTUE_DOMID_SELF, server), 0);
    c.expect("number", server.number(), 1);
    c.expect("create_reserved_client", sys::endpoint_create(0x7ff5), einval);
    c.expect("create_for_other", virtue::Endpoint::create(me + 1, other), 0);
    c.expect("connect", virtue::Endpoint::connect(VIRTUE_DOMID_SELF, 1, client), 0);
    c.expect("connect_not_for_me", sys::endpoint_connect(VIRTUE_DOMID_SELF, 2, 0), eperm);
    c.expect("connect_no_endpoint", sys::endpoint_connect(VIRTUE_DOMID_SELF, 77, 0), -XEN_ENOENT);
    // Waiting for an endpoint nobody makes ends at the deadline, not before.
    const uint64_t waited_from = now();
    c.expect("connect_wait_times_out", sys::endpoint_connect(VIRTUE_DOMID_SELF, 77, waited_from + 30 * kMs),
             -XEN_ETIMEDOUT);
    c.expect("connect_waited_until_deadline", now() >= waited_from + 30 * kMs, 1);
    c.expect("connect_number_0", sys::endpoint_connect(VIRTUE_DOMID_SELF, 0, 0), einval);
    c.expect("connect_number_above_32_bits", sys::endpoint_connect(VIRTUE_DOMID_SELF, 1ull << 32, 0), einval);
    c.expect("connect_no_domain", sys::endpoint_connect(4000, 1, 0), esrch);
    c.expect("connect_reserved", sys::endpoint_connect(0x7ff6, 1, 0), einval);
    c.expect("number_from_client", client.number(), eacces);
    virtue_handle_info hi{};
    c.expect("client_rights", client.query(hi).raw() == 0 && hi.type == VIRTUE_OBJ_ENDPOINT &&
                                  hi.rights == (VIRTUE_RIGHT_DUPLICATE | VIRTUE_RIGHT_TRANSFER | VIRTUE_RIGHT_WRITE), 1);
    virtue_ipc_msg m{};
    c.expect("reply_without_call", virtue::Endpoint::reply(m), einval);
    c.expect("reply_unaligned", sys::ipc_reply(reinterpret_cast<virtue_ipc_msg*>(reinterpret_cast<uint64_t>(&m) + 4)),
             einval);
    c.expect("reply_kernel_ptr", sys::ipc_reply(reinterpret_cast<virtue_ipc_msg*>(0xffff800000000000ull)), efault);
    c.expect("reply_wait_on_client_handle", client.reply_wait(m, 0), eacces);
    c.expect("reply_wait_kernel_ptr",
             sys::ipc_reply_wait(server.get(), reinterpret_cast<virtue_ipc_msg*>(0xffff800000000000ull), 0), efault);
    c.expect("wait_kernel_ptr", sys::ipc_wait(server.get(), reinterpret_cast<virtue_ipc_msg*>(0xffff800000000000ull), 0),
             efault);
    c.expect("number_bad_handle", sys::endpoint_number(0), ebadf);
    // The register form (msg 0) of ipc_call and ipc_reply_wait: the same
    // checks; ipc_wait has none (msg 0 is a fault there).
    c.expect("reply_wait_in_registers_on_client_handle", client.reply_wait_in_registers(m, 0), eacces);
    {
        virtue::Endpoint bogus(12345);
        c.expect("call_in_registers_bad_handle", bogus.call_in_registers(m), ebadf);
        (void)bogus.release();
    }
    c.expect("wait_has_no_register_form", sys::ipc_wait(server.get(), nullptr, 0), efault);
    c.expect("wait_times_out", server.wait(m, now() + 20 * kMs), -XEN_ETIMEDOUT);
    c.expect("wait_on_client_handle", client.wait(m, 0), eacces);
    c.expect("call_unaligned", sys::ipc_call(client.get(), reinterpret_cast<virtue_ipc_msg*>(reinterpret_cast<uint64_t>(&m) + 4)),
             einval);
    c.expect("call_kernel_ptr", sys::ipc_call(client.get(), reinterpret_cast<virtue_ipc_msg*>(0xffff800000000000ull)), efault);
    c.expect("call_bad_handle", sys::ipc_call(0, &m), ebadf);
    virtue::Timer t;
    (void)virtue::Timer::create(t);
    c.expect("call_timer", sys::ipc_call(t.get(), &m), -XEN_ENODEV);

    static EchoServer es;
    es.ep = &server;
    virtue::Thread st;
    (void)virtue::Thread::create(echo_server, &es, st);
    (void)st.start();
    m = {};
    m.word[0] = 41;
    m.word[3] = 7;
    c.expect("call", client.call(m), 0);
    c.expect("reply_word", m.word[0], 42);
    c.expect("reply_keeps_words", m.word[3], 7);
    c.expect("reply_sender", m.sender_domid, me);
    // The same call with the message in registers.
    m = {};
    m.word[0] = 51;
    m.word[3] = 9;
    c.expect("call_in_registers", client.call_in_registers(m), 0);
    c.expect("registers_reply_word", m.word[0], 52);
    c.expect("registers_keep_words", m.word[3], 9);
    c.expect("registers_sender", m.sender_domid, me);
    c.expect("registers_no_handle", m.handle, 0);
    // A handle travels with the call and back with the reply (same domain:
    // any object with RIGHT_TRANSFER).
    uint64_t th = t.get();
    m = {};
    m.handle = th;
    c.expect("call_with_handle", client.call(m), 0);
    c.expect("sender_lost_it", sys::handle_query(th, &hi), ebadf);
    c.expect_true("handle_came_back", m.handle != 0 && sys::handle_query(m.handle, &hi) == 0 && hi.type == VIRTUE_OBJ_TIMER);
    t.reset(m.handle);
    virtue::Handle no_transfer;
    (void)t.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_READ), no_transfer);
    m = {};
    m.handle = no_transfer.get();
    c.expect("call_handle_without_transfer", client.call(m), eacces);
    m = {};
    m.handle = 12345;
    c.expect("call_bad_carried_handle", client.call(m), ebadf);
    c.expect("served", es.served, 3);
    c.expect("handles_received", es.handles_received, 1);
    // The server thread exits holding a call: its client hears it.
    m = {};
    m.word[0] = 999;
    c.expect("server_gone_with_the_call", client.call(m), -XEN_ENOTCONN);
    c.expect("server_joined", st.join(now() + 2000 * kMs), 0);
    print("ipc: %u checks, %u failed\n", c.total, c.failed);
    if (c.failed) g_failed = true;
}

void do_ipc_serve(unsigned long n) {
    virtue::Endpoint ep;
    if (virtue::Endpoint::create(g_peer, ep).raw() < 0 || ep.number().raw() != 1) {
        print("ipcserve: cannot create the endpoint\n");
        g_failed = true;
        return;
    }
    virtue_ipc_msg m{};
    unsigned long served = 0;
    bool lent_done = false; // the client ends with the lending test
    while (served < n || !lent_done) {
        const uint64_t deadline = now() + 20'000 * kMs;
        // Without "regs", the buffer form (the SDK's reply_wait would take
        // registers for a reply without a handle).
        if ((g_regs ? ep.reply_wait_in_registers(m, deadline).raw() : sys::ipc_reply_wait(ep.get(), &m, deadline)) != 0)
            break;
        if (m.word[0] == kDelegate && m.handle) {
            lent_done = true;
            // The client lends us an endpoint it serves, then calls it with
            // a timer handle: a non-endpoint object must never arrive here.
            virtue::Endpoint lent(m.handle);
            m.handle = 0;
            (void)virtue::Endpoint::reply(m);
            virtue_ipc_msg m2{};
            int64_t rc = lent.wait(m2, now() + 10'000 * kMs).raw();
            print("ipcserve: call on a lent endpoint %lld, foreign handle refused %d\n", static_cast<long long>(rc),
                  rc == 0 && m2.handle == 0 && (m2.flags & VIRTUE_IPC_HANDLE_LOST) ? 1 : 0);
            (void)virtue::Endpoint::reply(m2);
            m = {};
            continue;
        }
        m.word[0] += 1;
        served++;
    }
    if (served == n && !lent_done) (void)virtue::Endpoint::reply(m);
    print("ipcserve: %lu calls\n", served);
    if (served != n) g_failed = true;
}

int64_t ipc_connect(virtue::Endpoint& ep) {
    // The peer's domain may not be up yet (-ESRCH: retried); once it is,
    // the connect waits for its endpoint to be made.
    return retry_for_peer([&] { return virtue::Endpoint::connect(g_peer, 1, ep, now() + 5000 * kMs); });
}

void do_ipc_ping(unsigned long n) {
    virtue::Endpoint ep;
    if (int64_t rc = ipc_connect(ep); rc != 0) {
        print("ipcping: cannot connect: %lld\n", static_cast<long long>(rc));
        g_failed = true;
        return;
    }
    unsigned long failures = 0;
    // Across domains only endpoint handles travel.
    virtue::Timer t;
    (void)virtue::Timer::create(t);
    virtue_ipc_msg m{};
    m.handle = t.get();
    if (ep.call(m).raw() != -XEN_EPERM) failures++;
    uint64_t t0 = rdtsc();
    for (unsigned long i = 0; i < n; i++) {
        m = {};
        m.word[0] = i;
        m.word[3] = ~i;
        if ((g_regs ? ep.call_in_registers(m).raw() : sys::ipc_call(ep.get(), &m)) != 0 || m.word[0] != i + 1 || m.word[3] != ~i ||
            m.sender_domid != g_peer)
            failures++;
    }
    uint64_t cycles = n ? (rdtsc() - t0) / n : 0;
    // Lend the server an endpoint of ours (endpoints may cross domains),
    // then call it carrying a timer handle: the server must not get it.
    virtue::Endpoint mine;
    virtue::Handle lend;
    if (virtue::Endpoint::create(VIRTUE_DOMID_SELF, mine).raw() != 0 ||
        mine.duplicate(virtue::Rights::from_bits(VIRTUE_RIGHT_READ | VIRTUE_RIGHT_WRITE | VIRTUE_RIGHT_TRANSFER), lend).raw() != 0)
        failures++;
    m = {};
    m.word[0] = kDelegate;
    m.handle = lend.release();
    if (ep.call(m).raw() != 0) failures++;
    m = {};
    m.handle = t.get();
    if (mine.call(m).raw() != 0) failures++;
    virtue_handle_info hi{};
    if (sys::handle_query(t.get(), &hi) != -XEN_EBADF) failures++; // it left with the call
    t.release();
    print("ipcping: %lu round trips, %llu cycles each, %lu failures\n", n, static_cast<unsigned long long>(cycles),
          failures);
    if (failures) g_failed = true;
}

void do_ipc_once() {
    virtue::Endpoint ep;
    if (ipc_connect(ep) != 0) {
        g_failed = true;
        return;
    }
    virtue_ipc_msg m{};
    print("ipconce: call returned %lld\n", static_cast<long long>(ep.call(m).raw()));
}

void do_ipc_die() {
    virtue::Endpoint ep;
    (void)virtue::Endpoint::create(g_peer, ep);
    virtue_ipc_msg m{};
    if (ep.wait(m, now() + 20'000 * kMs).raw() == 0) print("ipcdie: got a call, dying without a reply\n");
    sys::exit(3);
}

int64_t orphan_caller(void*) {
    virtue::Endpoint ep;
    if (ipc_connect(ep) != 0) return 1;
    virtue_ipc_msg m{};
    print("ipcorphan: calling\n");
    (void)ep.call(m); // never returns: the domain ends meanwhile
    print("ipcorphan: call returned (wrong)\n");
    return 0;
}

void do_ipc_orphan() {
    virtue::Thread t;
    (void)virtue::Thread::create(orphan_caller, nullptr, t);
    (void)t.start();
    sys::sleep_until(now() + 100 * kMs);
    sys::exit(4);
}

void do_ipc_slow() {
    virtue::Endpoint ep;
    (void)virtue::Endpoint::create(g_peer, ep);
    virtue_ipc_msg m{};
    if (ep.wait(m, now() + 20'000 * kMs).raw() != 0) {
        g_failed = true;
        return;
    }
    sys::sleep_until(now() + 300 * kMs); // the client's domain dies meanwhile
    int64_t rc = virtue::Endpoint::reply(m).raw();
    print("ipcslow: reply returned %lld\n", static_cast<long long>(rc));
    if (rc != -XEN_ESRCH) g_failed = true;
}

// ---- Bulk transfer through a shared ring ----

struct XferReq {
    uint32_t ref;  // grant of the page (0: end of transfer)
    uint32_t len;
    uint64_t seq;
};
struct XferRsp {
    uint64_t seq;
    int64_t status;
};
using XferRing = virtue::ring::SharedRing<XferReq, XferRsp>;

constexpr uint64_t kRingVa = 0x300000000ull;
constexpr uint64_t kDataVa = 0x310000000ull;
constexpr uint32_t kBuffers = 32;
constexpr uint32_t kRingRef = 8, kFirstDataRef = 9; // the order a fresh domain's grants get
bool g_map_mode = false; // the sink maps the data pages (else copies them)
bool g_xen = false;      // through the Xen family: entries written by the source, GNTTABOP_* in the sink
uint64_t g_die_after = 0;
constexpr uint64_t kLocalVa = 0x320000000ull;

void do_source(uint64_t mib) {
    auto fail = [](const char* what, int64_t rc) {
        print("source: %s failed: %lld\n", what, static_cast<long long>(rc));
        g_failed = true;
    };
    virtue::AddressSpace as;
    (void)virtue::AddressSpace::self(as);
    virtue::Memory ring_mem, data;
    if (int64_t rc = virtue::Memory::create(1, ring_mem).raw(); rc < 0) return fail("ring memory", rc);
    if (int64_t rc = virtue::Memory::create(kBuffers, data).raw(); rc < 0) return fail("data memory", rc);
    (void)as.map(kRingVa, ring_mem, 0, kPage, virtue::Prot::from_bits(VIRTUE_PROT_READ | VIRTUE_PROT_WRITE));
    (void)as.map(kDataVa, data, 0, kBuffers * kPage, virtue::Prot::from_bits(VIRTUE_PROT_READ | VIRTUE_PROT_WRITE));
    virtue::ring::FrontRing<XferReq, XferRsp> front;
    front.init(reinterpret_cast<XferRing*>(kRingVa), kPage);
    if (g_xen) {
        xen_pfn_t frame;
        if (int64_t rc = xen_setup_table(1, &frame); rc != 0) return fail("setup_table", rc);
        xen_grant(kRingRef, sys::memory_frame(ring_mem.get(), 0), g_peer, false);
        for (uint32_t b = 0; b < kBuffers; b++)
            xen_grant(kFirstDataRef + b, sys::memory_frame(data.get(), b), g_peer, true);
    } else {
        if (int64_t ref = sys::grant_access(ring_mem.get(), 0, g_peer, 0); ref != kRingRef)
            return fail("ring grant", ref);
        for (uint32_t b = 0; b < kBuffers; b++)
            if (int64_t ref = sys::grant_access(data.get(), b, g_peer, VIRTUE_GRANT_READONLY); ref != kFirstDataRef + b)
                return fail("data grant", ref);
    }
    virtue::EventChannel ch;
    if (int64_t rc = virtue::EventChannel::alloc_unbound(g_peer, ch).raw(); rc < 0 || ch.port().raw() != 1) return fail("port", rc);
    if (int64_t rc = ch.wait(now() + 20'000 * kMs).raw(); rc != 0) return fail("sink connecting", rc);

    const uint64_t pages = mib * 256;
    uint64_t sent = 0, answered = 0, sum = 0xcbf29ce484222325ull;
    bool ended = false;
    while (answered < pages || !ended) {
        // Fill free buffers (at most kBuffers outstanding, answered in order).
        while (sent < pages && sent - answered < kBuffers && !front.full()) {
            if (g_die_after && sent == g_die_after) {
                print("source: dies with %llu pages sent\n", static_cast<unsigned long long>(sent));
                sys::exit(9);
            }
            const uint32_t b = static_cast<uint32_t>(sent % kBuffers);
            auto* w = reinterpret_cast<volatile uint64_t*>(kDataVa + b * kPage);
            for (unsigned i = 0; i < 512; i++) w[i] = mix(sent * 512 + i);
            sum = fold(sum, w);
            *front.next_request() = XferReq{kFirstDataRef + b, 4096, sent};
            sent++;
        }
        if (sent == pages && answered == pages && !ended && !front.full()) {
            *front.next_request() = XferReq{0, 0, sent};
            ended = true;
        }
        if (front.push_requests_and_check_notify()) (void)ch.send();
        XferRsp rsp;
        bool progressed = false;
        while (front.take_response(rsp)) {
            progressed = true;
            if (rsp.status != 0 || rsp.seq != answered) {
                print("source: bad response %llu status %lld\n", static_cast<unsigned long long>(rsp.seq),
                      static_cast<long long>(rsp.status));
                g_failed = true;
            }
            if (rsp.seq < pages) answered++;
        }
        if (ended && answered == pages) break;
        if (!progressed && !front.final_check_for_responses()) {
            if (ch.wait(now() + 20'000 * kMs).raw() != 0) return fail("waiting for responses", -1);
        }
    }
    print("source: %llu MiB sent, checksum %016llx\n", static_cast<unsigned long long>(mib),
          static_cast<unsigned long long>(sum));
    // The sink unmaps when it sees the end; then the grants can end.
    bool live[kBuffers + 1];
    for (bool& l : live) l = true;
    for (int tries = 0; tries < 2000; tries++) {
        bool any = false;
        for (uint32_t k = 0; k <= kBuffers; k++) {
            if (live[k] && (g_xen ? xen_end_grant(kRingRef + k) : sys::grant_end(kRingRef + k) == 0)) live[k] = false;
            any |= live[k];
        }
        if (!any) break;
        sys::sleep_until(now() + 5 * kMs);
    }
}

void do_sink() {
    auto fail = [](const char* what, int64_t rc) {
        print("sink: %s failed: %lld\n", what, static_cast<long long>(rc));
        g_failed = true;
    };
    virtue::AddressSpace as;
    (void)virtue::AddressSpace::self(as);
    virtue::EventChannel ch;
    if (int64_t rc = connect(ch); rc != 0) return fail("connect", rc);
    virtue::GrantMapping ring_map, data_maps[kBuffers];
    // The Xen family's grant handles: [0] the ring, [1 + b] data buffer b.
    static grant_handle_t xen_handles[kBuffers + 1];
    unsigned xen_mapped = 0;
    auto xen_unmap_all = [&] {
        unsigned ok = 0;
        for (unsigned k = 0; k < xen_mapped; k++)
            ok += xen_unmap(k ? kDataVa + (k - 1) * kPage : kRingVa, xen_handles[k]) == GNTST_okay;
        print("sink: %u of %u Xen grant handles unmapped\n", ok, xen_mapped);
        if (ok != xen_mapped) g_failed = true;
    };
    if (g_xen) {
        int64_t h = xen_map(kRingVa, g_peer, kRingRef, false);
        if (h < 0) return fail("ring map", h);
        xen_handles[xen_mapped++] = static_cast<grant_handle_t>(h);
        for (uint32_t b = 0; g_map_mode && b < kBuffers; b++) {
            h = xen_map(kDataVa + b * kPage, g_peer, kFirstDataRef + b, true);
            if (h < 0) return fail("data map", h);
            xen_handles[xen_mapped++] = static_cast<grant_handle_t>(h);
        }
    } else {
        if (int64_t rc = virtue::GrantMapping::map(g_peer, kRingRef, as, kRingVa, virtue::GrantFlags::from_bits(0), ring_map).raw(); rc < 0)
            return fail("ring map", rc);
        if (g_map_mode)
            for (uint32_t b = 0; b < kBuffers; b++)
                if (int64_t rc = virtue::GrantMapping::map(g_peer, kFirstDataRef + b, as, kDataVa + b * kPage,
                                                           virtue::GrantFlags::from_bits(VIRTUE_GRANT_READONLY), data_maps[b]).raw();
                    rc < 0)
                    return fail("data map", rc);
    }
    // GNTTABOP_copy lands in a frame named by MFN: a local page of ours.
    virtue::Memory local_mem;
    int64_t local_mfn = 0;
    if (g_xen && !g_map_mode) {
        if (int64_t rc = virtue::Memory::create(1, local_mem).raw(); rc < 0) return fail("local memory", rc);
        (void)as.map(kLocalVa, local_mem, 0, kPage, virtue::Prot::from_bits(VIRTUE_PROT_READ | VIRTUE_PROT_WRITE));
        local_mfn = sys::memory_frame(local_mem.get(), 0);
    }
    virtue::ring::BackRing<XferReq, XferRsp> back;
    back.attach(reinterpret_cast<XferRing*>(kRingVa), kPage);
    (void)ch.send(); // ready
    static uint64_t local[512];
    uint64_t sum = 0xcbf29ce484222325ull, pages = 0;
    uint64_t t0 = 0;
    bool done = false;
    while (!done) {
        if (back.requests_overflow()) return fail("hostile front end", -1);
        XferReq req;
        bool any = false;
        while (!done && back.take_request(req)) {
            any = true;
            if (!t0) t0 = now();
            int64_t status = 0;
            if (req.ref == 0) {
                done = true;
            } else if (req.ref < kFirstDataRef || req.ref >= kFirstDataRef + kBuffers || req.len != 4096) {
                status = -1;
            } else if (g_map_mode) {
                sum = fold(sum, reinterpret_cast<volatile uint64_t*>(kDataVa + (req.ref - kFirstDataRef) * kPage));
            } else if (g_xen) {
                gnttab_copy_t op{};
                op.source.u.ref = req.ref;
                op.source.domid = static_cast<domid_t>(g_peer);
                op.dest.u.gmfn = static_cast<xen_pfn_t>(local_mfn);
                op.dest.domid = DOMID_SELF;
                op.len = 4096;
                op.flags = GNTCOPY_source_gref;
                if (virtue::xen::grant_table_op(GNTTABOP_copy, &op, 1) != 0 || op.status != GNTST_okay)
                    status = op.status ? op.status : -1;
                sum = fold(sum, reinterpret_cast<volatile uint64_t*>(kLocalVa));
            } else {
                virtue_grant_copy op{reinterpret_cast<uint64_t>(local), req.ref, static_cast<uint32_t>(g_peer), 0, 4096, 0, 0};
                if (sys::grant_copy(&op, 1) != 0 || op.status != 0) status = op.status ? op.status : -1;
                sum = fold(sum, local);
            }
            if (req.ref) pages++;
            *back.next_response() = XferRsp{req.seq, status};
        }
        if (back.push_responses_and_check_notify()) (void)ch.send();
        if (done) break;
        if (!any && !back.final_check_for_requests()) {
            if (ch.wait(now() + 20'000 * kMs).raw() != 0) return fail("waiting for requests", -1);
            virtue_evtchn_status st{};
            (void)ch.status(st);
            if (st.state != VIRTUE_EVTCHN_INTERDOMAIN) {
                // The source died: its pages stay mapped until we let go.
                int ok = 1;
                if (g_map_mode) {
                    uint64_t last = pages ? pages - 1 : 0;
                    auto* w = reinterpret_cast<volatile uint64_t*>(kDataVa + (last % kBuffers) * kPage);
                    ok = w[0] == mix(last * 512) && w[511] == mix(last * 512 + 511);
                }
                print("sink: source died after %llu pages, mapped pages still readable %d\n",
                      static_cast<unsigned long long>(pages), ok);
                if (!ok) g_failed = true;
                if (g_xen) xen_unmap_all();
                return;
            }
        }
    }
    if (g_xen) xen_unmap_all();
    uint64_t ns = now() - t0;
    uint64_t mib = pages / 256;
    print("sink: %llu MiB received, checksum %016llx, %llu MiB/s\n", static_cast<unsigned long long>(mib),
          static_cast<unsigned long long>(sum), static_cast<unsigned long long>(ns ? mib * 1'000'000'000ull / ns : 0));
}

} // namespace

int main() {
    for (size_t i = 0; i < virtue::arg_count(); i++)
    {
        const char* a = virtue::arg(i);
        if (!strncmp(a, "peer=", 5)) g_peer = strtoul(a + 5, nullptr, 0);
        if (!strcmp(a, "mode=map") || !strcmp(a, "mode=xenmap")) g_map_mode = true;
        if (!strcmp(a, "mode=xencopy") || !strcmp(a, "mode=xenmap")) g_xen = true;
        if (!strncmp(a, "die=", 4)) g_die_after = strtoul(a + 4, nullptr, 0);
        if (!strcmp(a, "regs")) g_regs = true;
    }
    for (size_t i = 0; i < virtue::arg_count(); i++) {
        const char* w = virtue::arg(i);
        if (!strncmp(w, "peer=", 5) || !strncmp(w, "mode=", 5) || !strncmp(w, "die=", 4) || !strcmp(w, "regs") ||
            !strncmp(w, "ref=", 4) || !strcmp(w, "rw") || !strcmp(w, "refused"))
            continue;
        if (!strcmp(w, "checks")) do_checks();
        else if (!strcmp(w, "grants")) do_grant_checks();
        else if (!strcmp(w, "ipc")) do_ipc_checks();
        else if (!strcmp(w, "xen")) do_xen_checks();
        else if (!strcmp(w, "xengrants")) do_xen_grant_checks();
        else if (!strcmp(w, "xentimer")) do_xen_timer_checks();
        else if (!strcmp(w, "xensandbox")) do_xen_sandbox_checks();
        else if (!strcmp(w, "xenpreempt")) do_xen_preempt_checks();
        else if (!strncmp(w, "domexc=", 7)) do_domexc(strtoul(w + 7, nullptr, 0));
        else if (!strncmp(w, "linger=", 7)) sys::sleep_until(now() + strtoul(w + 7, nullptr, 0) * kMs);
        else if (!strncmp(w, "ipcserve=", 9)) do_ipc_serve(strtoul(w + 9, nullptr, 0));
        else if (!strncmp(w, "ipcping=", 8)) do_ipc_ping(strtoul(w + 8, nullptr, 0));
        else if (!strcmp(w, "ipcdie")) do_ipc_die();
        else if (!strcmp(w, "ipconce")) do_ipc_once();
        else if (!strcmp(w, "ipcorphan")) do_ipc_orphan();
        else if (!strcmp(w, "ipcslow")) do_ipc_slow();
        else if (!strncmp(w, "serve=", 6)) do_serve(strtoul(w + 6, nullptr, 0));
        else if (!strncmp(w, "ping=", 5)) do_ping(strtoul(w + 5, nullptr, 0));
        else if (!strcmp(w, "victim")) do_victim();
        else if (!strncmp(w, "survivor=", 9)) do_survivor(strtoul(w + 9, nullptr, 0));
        else if (!strncmp(w, "source=", 7)) do_source(strtoul(w + 7, nullptr, 0));
        else if (!strcmp(w, "sink")) do_sink();
        else if (!strncmp(w, "xenmapfrom=", 11)) {
            grant_ref_t ref = 0;
            bool rw = false, refused = false;
            for (size_t k = 0; k < virtue::arg_count(); k++) {
                if (!strncmp(virtue::arg(k), "ref=", 4)) ref = static_cast<grant_ref_t>(strtoul(virtue::arg(k) + 4, nullptr, 0));
                rw = rw || !strcmp(virtue::arg(k), "rw");
                refused = refused || !strcmp(virtue::arg(k), "refused");
            }
            do_xen_map_from(strtoul(w + 11, nullptr, 0), ref, rw, refused);
        }
        else {
            print("evtchn-test: unknown action '%s'\n", w);
            return 2;
        }
    }
    print("evtchn-test: done\n");
    return g_failed ? 1 : 0;
}
