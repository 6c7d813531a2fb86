// The MSRs of PV guest kernels: the emulated ones read and write the vCPU's
// state or Xen's values, bases outside what a guest may hold and every
// other MSR give the guest a #GP, and a refused write changes nothing.
#include <boost/test/unit_test.hpp>

#include "unit/err_print.hpp"

#include "xen-compat/pv_msr.hpp"

using namespace virtue;
using namespace virtue::xen;

BOOST_AUTO_TEST_SUITE(pv_msr)

BOOST_AUTO_TEST_CASE(segment_bases_are_the_vcpus) {
    PvMsrState s;
    const PvMsrHost host{0xd01, 12345};
    // Linux's percpu area is in the upper half, beyond the hypervisor's range.
    BOOST_REQUIRE(pv_wrmsr(0xc0000101, 0xffff888000012000, s, host).ok());
    BOOST_REQUIRE(pv_wrmsr(0xc0000100, 0x00007f0000001000, s, host).ok());
    BOOST_REQUIRE(pv_wrmsr(0xc0000102, 0x1000, s, host).ok());
    BOOST_TEST(*pv_rdmsr(0xc0000101, s, host) == 0xffff888000012000u);
    BOOST_TEST(*pv_rdmsr(0xc0000100, s, host) == 0x00007f0000001000u);
    BOOST_TEST(*pv_rdmsr(0xc0000102, s, host) == 0x1000u);
    // Not canonical, or inside the hypervisor's range: #GP, nothing changes.
    for (uint64_t bad : {0x0000800000000000ull, 0xffff7fffffffffffull, 0xffff800000000000ull, 0xffff82d080000000ull,
                         0xffff87ffffffffffull}) {
        BOOST_TEST(pv_wrmsr(0xc0000101, bad, s, host).error() == Err::InvalidArgument);
        BOOST_TEST(pv_wrmsr(0xc0000100, bad, s, host).error() == Err::InvalidArgument);
    }
    BOOST_TEST(s.gs_base_kernel == 0xffff888000012000u);
    BOOST_TEST(s.fs_base == 0x00007f0000001000u);
    BOOST_REQUIRE(pv_wrmsr(0xc0000101, 0xffff880000000000, s, host).ok()); // just past the range
}

BOOST_AUTO_TEST_CASE(fixed_values_read_as_xen_gives_them) {
    PvMsrState s;
    const PvMsrHost host{0xd01 | (1u << 12) /* SVME: not the guest's business */, 777};
    BOOST_TEST(*pv_rdmsr(0xc0000080, s, host) == 0xd01u);
    BOOST_TEST(*pv_rdmsr(0x277, s, host) == 0x0000050100070406u);
    BOOST_TEST(*pv_rdmsr(0x1b, s, host) == 0xfee00900u); // vCPU 0: BSP
    s.vcpu_id = 1;
    BOOST_TEST(*pv_rdmsr(0x1b, s, host) == 0xfee00800u);
    BOOST_TEST(*pv_rdmsr(0x10, s, host) == 777u);
    BOOST_TEST(*pv_rdmsr(0x8b, s, host) == 0u);
    // Writing what is there is fine; anything else is a #GP.
    BOOST_TEST(pv_wrmsr(0x277, 0x0000050100070406, s, host).ok());
    BOOST_TEST(pv_wrmsr(0x277, 0x0007040600070406, s, host).error() == Err::InvalidArgument);
    BOOST_TEST(pv_wrmsr(0xc0000080, 0xd01, s, host).ok());
    BOOST_TEST(pv_wrmsr(0xc0000080, 0x501, s, host).error() == Err::InvalidArgument); // clearing NXE
    BOOST_TEST(pv_wrmsr(0x8b, 0, s, host).ok());
    BOOST_TEST(pv_wrmsr(0x10, 0, s, host).error() == Err::InvalidArgument); // the TSC
}

BOOST_AUTO_TEST_CASE(other_msrs_are_a_gp) {
    PvMsrState s;
    const PvMsrHost host{};
    for (uint32_t msr : {0x0u, 0x48u /*SPEC_CTRL*/, 0x49u /*PRED_CMD*/, 0x179u /*MCG_CAP*/, 0xc0000081u /*STAR*/,
                         0xc0000082u /*LSTAR*/, 0xc0000084u /*FMASK*/, 0x174u /*SYSENTER_CS*/, 0xffffffffu}) {
        BOOST_TEST(pv_rdmsr(msr, s, host).error() == Err::InvalidArgument, msr);
        BOOST_TEST(pv_wrmsr(msr, 0, s, host).error() == Err::InvalidArgument, msr);
    }
}

BOOST_AUTO_TEST_SUITE_END()
