// Entry point of the host unit-test binary (Boost.Test).
#define BOOST_TEST_MODULE virtue_unit_tests
#include <boost/test/unit_test.hpp>
