// PV guest time: the TSC scale for slow, ordinary and fast TSCs (a second
// of ticks must read as a second within a part per billion), the guest's
// own formula for the frequency, and the version protocol on a page whose
// version the guest may have scribbled on.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "xen-compat/pv_time.hpp"

using namespace virtue::xen;

BOOST_AUTO_TEST_SUITE(pv_time)

BOOST_AUTO_TEST_CASE(scales_read_a_second_as_a_second) {
    for (uint64_t hz : {1'000'000ull, 14'318'180ull, 999'999'999ull, 1'000'000'000ull, 2'095'878'000ull,
                        3'900'000'000ull, 4'294'967'296ull, 10'000'000'000ull, 60'000'000'000ull}) {
        const PvclockScale s = pvclock_scale(hz);
        BOOST_TEST(s.mul >= (1u << 31), hz);
        const double ns = static_cast<double>(pvclock_ns(hz, s));
        BOOST_TEST(std::fabs(ns - 1e9) <= 1.0 + 1e9 * 1e-9, hz << " Hz reads a second as " << ns);
        // An hour of ticks, too (no overflow, same precision).
        const double hour = static_cast<double>(pvclock_ns(hz * 3600, s));
        BOOST_TEST(std::fabs(hour - 3600e9) <= 3600.0 + 3600e9 * 1e-9, hz);
        // The frequency as xen.h tells guests to compute it.
        const uint64_t back = s.shift >= 0 ? ((1'000'000'000ull << 32) / s.mul) >> s.shift
                                           : ((1'000'000'000ull << 32) / s.mul) << -s.shift;
        BOOST_TEST(std::fabs(static_cast<double>(back) - static_cast<double>(hz)) <= hz * 1e-8 + 2, hz);
    }
}

BOOST_AUTO_TEST_CASE(publishing_follows_the_version_protocol) {
    vcpu_time_info t{};
    const PvclockScale s = pvclock_scale(2'000'000'000);
    pvclock_publish(t, 1000, 5000, s);
    BOOST_TEST(t.version == 2u);
    BOOST_TEST(t.tsc_timestamp == 1000u);
    BOOST_TEST(t.system_time == 5000u);
    BOOST_TEST(t.tsc_to_system_mul == s.mul);
    BOOST_TEST(t.tsc_shift == s.shift);
    pvclock_publish(t, 3000, 6000, s);
    BOOST_TEST(t.version == 4u);
    t.version = 7; // the guest wrote an odd value: still ends even and newer
    pvclock_publish(t, 4000, 6500, s);
    BOOST_TEST(t.version == 8u);
    t.version = 0xffffffffu; // and wraps like the guest's seqlock does
    pvclock_publish(t, 5000, 7000, s);
    BOOST_TEST(t.version == 0u);
    // 1000 ticks at 2 GHz are 500 ns.
    BOOST_TEST(pvclock_ns(1000, s) == 500u);
}

BOOST_AUTO_TEST_SUITE_END()
