// The grant-entry bit protocol (hypervisor/grant/grant_entry.hpp).
#include <boost/test/unit_test.hpp>

#include <stddef.h>

#include "grant/grant_entry.hpp"

using namespace virtue::grant;

BOOST_AUTO_TEST_SUITE(grant_entry_protocol)

BOOST_AUTO_TEST_CASE(pins_follow_the_entry) {
    grant_entry_v1_t e{};
    BOOST_TEST((pin(e, 5, false) == PinResult::NotGranted));
    grant_access(e, 0x1234, 5, true);
    BOOST_TEST(e.flags == (GTF_permit_access | GTF_readonly));
    BOOST_TEST(e.frame == 0x1234u);
    BOOST_TEST((pin(e, 6, false) == PinResult::OtherDomain));
    BOOST_TEST((pin(e, 5, true) == PinResult::ReadOnly));
    BOOST_TEST(e.flags == (GTF_permit_access | GTF_readonly)); // refusals change nothing
    BOOST_TEST((pin(e, 5, false) == PinResult::Ok));
    BOOST_TEST((e.flags & GTF_reading) != 0);
    BOOST_TEST((e.flags & GTF_writing) == 0);
}

BOOST_AUTO_TEST_CASE(a_pinned_grant_cannot_be_ended) {
    grant_entry_v1_t e{};
    grant_access(e, 7, 3, false);
    BOOST_TEST((pin(e, 3, true) == PinResult::Ok));
    BOOST_TEST((e.flags & (GTF_reading | GTF_writing)) == (GTF_reading | GTF_writing));
    BOOST_TEST(!end_access(e));
    BOOST_TEST(is_granted(e));
    unpin(e, true, false); // the writer went, a reader stays
    BOOST_TEST((e.flags & GTF_writing) == 0);
    BOOST_TEST(!end_access(e));
    unpin(e, false, true);
    BOOST_TEST(end_access(e));
    BOOST_TEST(!is_granted(e));
    BOOST_TEST(e.flags == 0);
}

BOOST_AUTO_TEST_CASE(the_guest_side_bits_survive_pins) {
    grant_entry_v1_t e{};
    grant_access(e, 9, 2, false);
    e.flags |= GTF_PCD; // a guest-chosen attribute
    BOOST_TEST((pin(e, 2, false) == PinResult::Ok));
    unpin(e, false, true);
    BOOST_TEST(e.flags == (GTF_permit_access | GTF_PCD));
}

BOOST_AUTO_TEST_SUITE_END()
