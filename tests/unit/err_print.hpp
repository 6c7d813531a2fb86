// Lets Boost.Test print virtue::Err values (by name) and page types in
// failed assertions.
// Uses Boost's own customisation point, found by argument-dependent lookup.
#pragma once

#include <ostream>

#include "lib/result.hpp"
#include "mm/frame_table.hpp"

namespace virtue {
inline std::ostream& boost_test_print_type(std::ostream& os, Err e) { return os << err_name(e); }
inline std::ostream& boost_test_print_type(std::ostream& os, PageType t) { return os << "PageType " << static_cast<int>(t); }
} // namespace virtue
