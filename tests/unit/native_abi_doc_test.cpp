// docs/native-abi.md must be what hypercalls/gen_native.py makes of
// hypercalls/native.toml, the one definition of the native family, so the
// reference cannot drift from the code. Run `make docs` after changing the
// definition.
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include "virtue/native_abi.h"

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    BOOST_REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace

// Native numbers are disjoint from Xen's: Xen's hypercall numbers are below
// 64 (NR_hypercalls); the native family starts at VIRTUE_NATIVE_BASE.
static_assert(VIRTUE_NATIVE_BASE >= 64u);
static_assert(VIRTUE_NR_console_write >= VIRTUE_NATIVE_BASE);
static_assert(VIRTUE_NR_exit < VIRTUE_NATIVE_LIMIT);

BOOST_AUTO_TEST_SUITE(native_abi)

BOOST_AUTO_TEST_CASE(checked_in_reference_matches_the_definition) {
    std::string generated = slurp(VIRTUE_GEN_DIR "/native-abi.md");
    std::string checked_in = slurp("docs/native-abi.md");
    BOOST_TEST(!generated.empty());
    BOOST_CHECK_MESSAGE(generated == checked_in,
                        "docs/native-abi.md is stale: run `make docs` after editing hypercalls/native.toml");
}

BOOST_AUTO_TEST_SUITE_END()
