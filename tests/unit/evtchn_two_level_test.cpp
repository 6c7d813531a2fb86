// The 2-level event-channel bit logic (hypervisor/event/two_level.hpp)
// against the ABI: which bits a delivery sets in shared_info and vcpu_info.
#include <boost/test/unit_test.hpp>

#include <string.h>

#include "event/two_level.hpp"

using namespace virtue::two_level;

namespace {
struct Page {
    shared_info s;
    Page() { memset(&s, 0, sizeof s); }
    vcpu_info& v(unsigned i = 0) { return s.vcpu_info[i]; }
};
} // namespace

// The ABI has 4096 ports on x86_64, one pending bit each in shared_info.
static_assert(kMaxPorts == 4096u);
static_assert(sizeof(shared_info::evtchn_pending) * 8 == kMaxPorts);

BOOST_AUTO_TEST_SUITE(evtchn_two_level)

BOOST_AUTO_TEST_CASE(first_event_raises_the_upcall_once) {
    Page p;
    BOOST_TEST((set_pending(p.s, p.v(), 70) == Delivery::Upcall));
    BOOST_TEST(p.s.evtchn_pending[1] == (xen_ulong_t{1} << 6));
    BOOST_TEST(p.v().evtchn_pending_sel == xen_ulong_t{1} << 1);
    BOOST_TEST(p.v().evtchn_upcall_pending == 1);
    // The same port again merges; another port in the same word is flagged
    // already; one in another word flags its word but the upcall is up.
    BOOST_TEST((set_pending(p.s, p.v(), 70) == Delivery::AlreadyPending));
    BOOST_TEST((set_pending(p.s, p.v(), 71) == Delivery::Flagged));
    BOOST_TEST((set_pending(p.s, p.v(), 3) == Delivery::Flagged));
    BOOST_TEST(p.v().evtchn_pending_sel == ((xen_ulong_t{1} << 1) | 1));
}

BOOST_AUTO_TEST_CASE(upcall_comes_again_after_the_guest_cleared_it) {
    Page p;
    set_pending(p.s, p.v(), 5);
    p.v().evtchn_upcall_pending = 0; // what a guest's upcall handler does
    p.v().evtchn_pending_sel = 0;
    p.s.evtchn_pending[0] = 0;
    BOOST_TEST((set_pending(p.s, p.v(), 5) == Delivery::Upcall));
}

BOOST_AUTO_TEST_CASE(masked_events_wait_for_unmask) {
    Page p;
    p.s.evtchn_mask[0] = xen_ulong_t{1} << 9;
    BOOST_TEST((set_pending(p.s, p.v(2), 9) == Delivery::Masked));
    BOOST_TEST(p.v(2).evtchn_pending_sel == 0u);
    BOOST_TEST(p.v(2).evtchn_upcall_pending == 0);
    BOOST_TEST(!ready(p.s, 9));
    BOOST_TEST(!consume(p.s, 9));
    BOOST_TEST((unmask(p.s, p.v(2), 9) == Delivery::Upcall));
    BOOST_TEST(p.s.evtchn_mask[0] == 0u);
    BOOST_TEST(p.v(2).evtchn_pending_sel == 1u);
    BOOST_TEST(ready(p.s, 9));
    // Unmasking with nothing pending delivers nothing; unmasking a port that
    // was not masked leaves a pending event alone (no second upcall).
    BOOST_TEST((unmask(p.s, p.v(2), 10) == Delivery::Idle));
    p.v(2).evtchn_upcall_pending = 0;
    p.v(2).evtchn_pending_sel = 0;
    BOOST_TEST((unmask(p.s, p.v(2), 9) == Delivery::Idle));
    BOOST_TEST(p.v(2).evtchn_upcall_pending == 0);
}

BOOST_AUTO_TEST_CASE(native_waits_consume_and_close_clears) {
    Page p;
    BOOST_TEST(!consume(p.s, 4095));
    set_pending(p.s, p.v(), 4095);
    BOOST_TEST(ready(p.s, 4095));
    BOOST_TEST(consume(p.s, 4095));
    BOOST_TEST(!ready(p.s, 4095));
    BOOST_TEST(!consume(p.s, 4095));
    set_pending(p.s, p.v(), 12);
    clear(p.s, 12);
    BOOST_TEST(!ready(p.s, 12));
    BOOST_TEST(p.s.evtchn_pending[0] == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
