// The hypervisor's end of a PV console ring: output drained in order across
// the wrap of the free-running indices, input fed up to the room the guest
// leaves, and impossible indices from a hostile guest refused without
// consuming or producing anything.
#include <boost/test/unit_test.hpp>

#include "unit/err_print.hpp"

#include <cstring>
#include <string>

#include "xen-compat/pv_console_ring.hpp"

using namespace virtue;
using namespace virtue::xen;

namespace {

// The guest's side, as Linux's hvc_xen writes it.
size_t guest_write(xencons_interface& r, const std::string& s) {
    size_t n = 0;
    while (n < s.size() && r.out_prod - r.out_cons < sizeof r.out) r.out[r.out_prod++ & (sizeof r.out - 1)] = s[n++];
    return n;
}

std::string drain_all(xencons_interface& r) {
    std::string got;
    char buf[100];
    for (;;) {
        auto n = console_ring_drain(r, buf, sizeof buf);
        BOOST_REQUIRE(n.ok());
        if (*n == 0) return got;
        got.append(buf, *n);
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(pv_console_ring)

BOOST_AUTO_TEST_CASE(output_is_drained_in_order_across_the_index_wrap) {
    xencons_interface r{};
    r.out_cons = r.out_prod = 0xfffffff0u; // the free-running indices wrap soon
    std::string sent, got;
    for (int i = 0; i < 40; i++) {
        std::string line = "line " + std::to_string(i) + " of the guest's output, a little long to wrap the ring\n";
        BOOST_REQUIRE(guest_write(r, line) == line.size());
        sent += line;
        if (i % 7 == 6) got += drain_all(r);
    }
    got += drain_all(r);
    BOOST_TEST(got == sent);
    BOOST_TEST(r.out_cons == r.out_prod);
}

BOOST_AUTO_TEST_CASE(a_full_ring_drains_whole) {
    xencons_interface r{};
    const std::string full(sizeof r.out, 'x');
    BOOST_REQUIRE(guest_write(r, full + "y") == sizeof r.out); // no room for the last
    BOOST_TEST(drain_all(r) == full);
}

BOOST_AUTO_TEST_CASE(impossible_indices_are_refused_and_change_nothing) {
    for (uint32_t ahead : {uint32_t(sizeof(xencons_interface::out) + 1), 0x80000000u, 0xffffffffu}) {
        xencons_interface r{};
        r.out_cons = 100;
        r.out_prod = 100 + ahead;
        char buf[16];
        BOOST_TEST(console_ring_drain(r, buf, sizeof buf).error() == Err::InvalidArgument);
        BOOST_TEST(r.out_cons == 100u);
        r.in_cons = 5;
        r.in_prod = 5 + ahead + sizeof(r.in) - sizeof(r.out); // more than the input ring holds
        const uint32_t prod = r.in_prod;
        BOOST_TEST(console_ring_feed(r, "abc", 3).error() == Err::InvalidArgument);
        BOOST_TEST(console_ring_room(r).error() == Err::InvalidArgument);
        BOOST_TEST(r.in_prod == prod);
    }
}

BOOST_AUTO_TEST_CASE(input_fills_only_the_room_the_guest_leaves) {
    xencons_interface r{};
    r.in_cons = r.in_prod = 0xfffffffeu;
    BOOST_TEST(*console_ring_room(r) == sizeof r.in);
    const std::string a(1000, 'a');
    auto n = console_ring_feed(r, a.data(), a.size());
    BOOST_REQUIRE(n.ok());
    BOOST_TEST(*n == 1000u);
    n = console_ring_feed(r, "0123456789012345678901234567890123456789", 40);
    BOOST_REQUIRE(n.ok());
    BOOST_TEST(*n == sizeof(r.in) - 1000); // 24 fit
    BOOST_TEST(*console_ring_room(r) == 0u);
    BOOST_TEST(r.in[(r.in_prod - 1) & (sizeof r.in - 1)] == '3');
    // The guest consumes 10: 10 more fit.
    r.in_cons += 10;
    BOOST_TEST(*console_ring_room(r) == 10u);
    n = console_ring_feed(r, "abcdefghijklmnop", 16);
    BOOST_REQUIRE(n.ok());
    BOOST_TEST(*n == 10u);
}

BOOST_AUTO_TEST_SUITE_END()
