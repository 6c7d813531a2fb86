// The CPUID policy of PV guests, on a host that claims every feature: Xen's
// leaves as Linux looks for them, the bits Linux needs kept, the ones that
// need ring 0 or unemulated instructions hidden, the hypervisor bit set,
// and leaves beyond the policy read as zero.
#include <boost/test/unit_test.hpp>

#include "xen-compat/pv_cpuid.hpp"

using namespace virtue::xen;

namespace {

uint32_t g_phys_bits = 48;

CpuidRegs everything(uint32_t leaf, uint32_t) {
    if (leaf == 0) return {0x16, 0x756e6547, 0x6c65746e, 0x49656e69}; // GenuineIntel, leaves up to 0x16
    if (leaf == 0x80000000) return {0x80000021, 0, 0, 0};
    if (leaf == 0x80000008) return {0x3000 | g_phys_bits, ~0u, 0, 0};
    return {~0u, ~0u, ~0u, ~0u};
}

constexpr uint32_t bit(unsigned n) { return 1u << n; }

} // namespace

BOOST_AUTO_TEST_SUITE(pv_cpuid_policy)

BOOST_AUTO_TEST_CASE(xen_leaves_are_where_linux_looks) {
    const CpuidRegs base = pv_cpuid(0x40000000, 0, everything);
    BOOST_TEST(base.ebx == 0x566e6558u); // "XenV"
    BOOST_TEST(base.ecx == 0x65584d4du); // "MMXe"
    BOOST_TEST(base.edx == 0x4d4d566eu); // "nVMM"
    BOOST_TEST(base.eax - 0x40000000u >= 2u); // hypervisor_cpuid_base(.., 2)
    BOOST_TEST(pv_cpuid(0x40000001, 0, everything).eax == ((4u << 16) | 17u));
    BOOST_TEST(pv_cpuid(0x40000002, 0, everything).ecx == 1u); // MMU_PT_UPDATE_PRESERVE_AD
    BOOST_TEST(pv_cpuid(0x40000004, 0, everything).eax == 0u); // no HVM features
    BOOST_TEST(pv_cpuid(0x40000005, 0, everything).ebx == 44u); // machine address width, capped
    g_phys_bits = 36;
    BOOST_TEST(pv_cpuid(0x40000005, 0, everything).ebx == 36u);
    g_phys_bits = 48;
    // Nothing at the other 0x100-spaced bases Linux also scans.
    for (uint32_t l : {0x40000006u, 0x40000100u, 0x4000ff00u}) BOOST_TEST(pv_cpuid(l, 0, everything).eax == 0u);
}

BOOST_AUTO_TEST_CASE(features_linux_needs_stay_and_ring0_ones_go) {
    const CpuidRegs one = pv_cpuid(1, 0, everything);
    BOOST_TEST((one.ecx & bit(31)) != 0u); // HYPERVISOR
    for (unsigned b : {0u, 1u, 9u, 13u, 19u, 20u, 23u, 25u}) BOOST_TEST((one.ecx & bit(b)) != 0u, "ecx " << b);
    for (unsigned b : {3u, 5u, 17u, 21u, 24u, 26u, 27u}) BOOST_TEST((one.ecx & bit(b)) == 0u, "ecx " << b);
    for (unsigned b : {0u, 4u, 5u, 6u, 8u, 15u, 16u, 19u, 24u, 25u, 26u}) BOOST_TEST((one.edx & bit(b)) != 0u, "edx " << b);
    for (unsigned b : {1u, 3u, 7u, 12u, 13u, 14u, 17u}) BOOST_TEST((one.edx & bit(b)) == 0u, "edx " << b);
    const CpuidRegs seven = pv_cpuid(7, 0, everything);
    BOOST_TEST(seven.eax == 0u);
    for (unsigned b : {0u, 7u, 10u, 20u}) BOOST_TEST((seven.ebx & bit(b)) == 0u, "7.ebx " << b); // FSGSBASE SMEP INVPCID SMAP
    BOOST_TEST((seven.ebx & bit(3)) != 0u);                                                          // BMI1 stays
    for (unsigned b : {3u, 16u, 22u}) BOOST_TEST((seven.ecx & bit(b)) == 0u, "7.ecx " << b);   // PKU LA57 RDPID
    for (unsigned b : {26u, 27u, 29u, 31u}) BOOST_TEST((seven.edx & bit(b)) == 0u, "7.edx " << b);
    BOOST_TEST(pv_cpuid(7, 1, everything).eax == 0u);
    const CpuidRegs ext = pv_cpuid(0x80000001, 0, everything);
    for (unsigned b : {11u, 20u, 29u}) BOOST_TEST((ext.edx & bit(b)) != 0u, "ext.edx " << b); // SYSCALL NX LM
    for (unsigned b : {26u, 27u}) BOOST_TEST((ext.edx & bit(b)) == 0u, "ext.edx " << b);    // 1G pages, RDTSCP
    BOOST_TEST((ext.ecx & bit(0)) != 0u);                                                        // LAHF_LM
    BOOST_TEST((ext.ecx & bit(2)) == 0u);                                                        // SVM
    BOOST_TEST((pv_cpuid(0x80000008, 0, everything).eax & 0xff) == 48u); // address sizes pass through
    BOOST_TEST(pv_cpuid(0x80000008, 0, everything).ebx == 0u);
    for (uint32_t l : {5u, 6u, 0xau, 0xdu}) {
        const CpuidRegs r = pv_cpuid(l, 0, everything);
        BOOST_TEST((r.eax | r.ebx | r.ecx | r.edx) == 0u, "leaf " << l);
    }
    BOOST_TEST(pv_cpuid(0xb, 0, everything).ebx == 0u);
}

BOOST_AUTO_TEST_CASE(leaves_past_the_policy_or_the_host_read_zero) {
    BOOST_TEST(pv_cpuid(0, 0, everything).eax == 0xdu);
    BOOST_TEST(pv_cpuid(0x80000000, 0, everything).eax == 0x80000008u);
    for (uint32_t l : {0xeu, 0x14u, 0x16u, 0x17u, 0x80000009u, 0x80000021u, 0xc0000000u}) {
        const CpuidRegs r = pv_cpuid(l, 0, everything);
        BOOST_TEST((r.eax | r.ebx | r.ecx | r.edx) == 0u, "leaf " << l);
    }
    // A host with fewer leaves than the policy: its own maximum.
    auto small = [](uint32_t leaf, uint32_t) -> CpuidRegs {
        if (leaf == 0) return {7, 0, 0, 0};
        if (leaf == 0x80000000) return {0x80000001, 0, 0, 0};
        return {~0u, ~0u, ~0u, ~0u};
    };
    BOOST_TEST(pv_cpuid(0, 0, small).eax == 7u);
    BOOST_TEST(pv_cpuid(0xd, 0, small).eax == 0u);
    BOOST_TEST(pv_cpuid(0x80000008, 0, small).eax == 0u);
    BOOST_TEST(pv_cpuid(0x40000005, 0, small).ebx == 36u); // no address-size leaf: 36 bits
}

BOOST_AUTO_TEST_SUITE_END()
