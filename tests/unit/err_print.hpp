// Lets Boost.Test print virtue::Err values (by name) in failed assertions.
// Uses Boost's own customisation point, found by argument-dependent lookup.
#pragma once

#include <ostream>

#include "lib/result.hpp"

namespace virtue {
inline std::ostream& boost_test_print_type(std::ostream& os, Err e) { return os << err_name(e); }
} // namespace virtue
