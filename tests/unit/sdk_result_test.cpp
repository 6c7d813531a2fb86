// Unit tests for the SDK's typed layer: virtue::Result, virtue::Errno and the
// generated flag sets (hypercalls/sdk/include/virtue/result.hpp and the
// generated virtue/native_calls.hpp, virtue/native_errno.hpp). Nothing here
// issues a call: the wrappers are only type-checked.
#include <boost/test/unit_test.hpp>

#include <stdint.h>
#include <xen/errno.h>

#include <set>
#include <sstream>
#include <string>
#include <type_traits>

#include "virtue/declared_errors.hpp"
#include "virtue/native_calls.hpp"
#include "virtue/result.hpp"

namespace {

using virtue::BitsFlags;
using virtue::Errno;
using virtue::GrantFlags;
using virtue::Prot;
using virtue::Result;
using virtue::Rights;

// Whether the typed wrappers accept a value of type F where they take a flag set.
template <typename F> concept ReadBitsTakes = requires(F f) { virtue::sys::aspace_read_bits(0, 0, 0, f, nullptr); };
template <typename F> concept MapTakes = requires(F f) { virtue::sys::aspace_map(0, 0, 0, 0, 0, f); };
template <typename F> concept GrantMapTakes = requires(F f) { virtue::sys::grant_map(0, 0, 0, 0, f); };
template <typename F> concept DuplicateTakes = requires(F f) { virtue::sys::handle_duplicate(0, f); };

// Each flag argument takes its own set and nothing else.
static_assert(MapTakes<Prot>);
static_assert(!MapTakes<BitsFlags> && !MapTakes<GrantFlags> && !MapTakes<uint64_t> && !MapTakes<unsigned>);
static_assert(ReadBitsTakes<BitsFlags>);
static_assert(!ReadBitsTakes<Prot> && !ReadBitsTakes<uint64_t>);
static_assert(GrantMapTakes<GrantFlags> && !GrantMapTakes<Prot> && !GrantMapTakes<int>);
static_assert(DuplicateTakes<Rights> && !DuplicateTakes<Prot> && !DuplicateTakes<uint32_t>);
static_assert(!std::is_convertible_v<uint64_t, Prot> && !std::is_convertible_v<Prot, uint64_t>);

// Members carry the ABI's bits; | combines within a set.
static_assert(Prot::read.bits() == VIRTUE_PROT_READ && Prot::write.bits() == VIRTUE_PROT_WRITE);
static_assert(Prot::exec.bits() == VIRTUE_PROT_EXEC && Prot::map_small_pages.bits() == VIRTUE_MAP_SMALL_PAGES);
static_assert(Prot::cache_disabled.bits() == VIRTUE_CACHE_DISABLED);
static_assert((Prot::read | Prot::write).bits() == (VIRTUE_PROT_READ | VIRTUE_PROT_WRITE));
static_assert((BitsFlags::dirty | BitsFlags::clear).bits() == (VIRTUE_BITS_DIRTY | VIRTUE_BITS_CLEAR));
static_assert(GrantFlags::readonly.bits() == VIRTUE_GRANT_READONLY && GrantFlags{}.empty());
static_assert((Rights::read | Rights::map).bits() == (VIRTUE_RIGHT_READ | VIRTUE_RIGHT_MAP));

// Errno values are Xen's.
static_assert(static_cast<int>(Errno::einval) == XEN_EINVAL && static_cast<int>(Errno::e2big) == XEN_E2BIG);
static_assert(static_cast<int>(Errno::etimedout) == XEN_ETIMEDOUT);

Result<void> passes_on(Result<uint64_t> r) {
    VIRTUE_TRY(r);
    return {};
}

} // namespace

BOOST_AUTO_TEST_SUITE(sdk_result)

BOOST_AUTO_TEST_CASE(from_raw_value_and_error) {
    Result<uint64_t> ok = Result<uint64_t>::from_raw(42);
    BOOST_TEST(ok.ok());
    BOOST_TEST(static_cast<bool>(ok));
    BOOST_TEST(*ok == 42u);
    BOOST_TEST(ok.raw() == 42);
    BOOST_TEST(std::string(ok.error_name()) == "ok");

    Result<uint64_t> bad = Result<uint64_t>::from_raw(-XEN_EINVAL);
    BOOST_TEST(!bad.ok());
    BOOST_TEST((bad.error() == Errno::einval));
    BOOST_TEST(std::string(bad.error_name()) == "EINVAL");
    BOOST_TEST(bad.raw() == -XEN_EINVAL);
    BOOST_TEST(bad.value_or(7) == 7u);

    BOOST_TEST(Result<uint64_t>::from_raw(0).ok()); // 0 is a value, not an error
}

BOOST_AUTO_TEST_CASE(void_result_keeps_only_success) {
    Result<void> ok = Result<uint64_t>(5);
    BOOST_TEST(ok.ok());
    BOOST_TEST(ok.raw() == 0);
    Result<void> bad = Result<uint64_t>(Errno::emfile);
    BOOST_TEST(!bad.ok());
    BOOST_TEST((bad.error() == Errno::emfile));
    BOOST_TEST(bad.raw() == -XEN_EMFILE);
    BOOST_TEST(Result<void>::from_raw(-XEN_EBADF).raw() == -XEN_EBADF);
}

BOOST_AUTO_TEST_CASE(try_passes_the_error_on) {
    BOOST_TEST(passes_on(Result<uint64_t>(3)).ok());
    Result<void> r = passes_on(Errno::eacces);
    BOOST_TEST((r.error() == Errno::eacces));
}

BOOST_AUTO_TEST_CASE(names) {
    BOOST_TEST(std::string(virtue::name(Errno::einval)) == "EINVAL");
    BOOST_TEST(std::string(virtue::name(Errno::e2big)) == "E2BIG");
    BOOST_TEST(std::string(virtue::name(Errno::etimedout)) == "ETIMEDOUT");
    BOOST_TEST(std::string(virtue::name(static_cast<Errno>(4))) == "E?"); // Xen-internal EINTR
}

// Every errno a native call may return has a name, and that name's value is
// Xen's: an author can always tell an error by name.
BOOST_AUTO_TEST_CASE(every_declared_errno_is_named) {
    std::set<std::string> named;
    for (int v = 1; v < 200; v++) {
        std::string n = virtue::name(static_cast<Errno>(v));
        if (n != "E?") named.insert(n);
    }
    for (const auto& call : virtue::declared::CALLS) {
        if (std::string(call.family) != "native") continue;
        std::istringstream errors(call.errors);
        for (std::string e; errors >> e;) BOOST_TEST(named.count(e) == 1u, call.name << " returns " << e);
    }
}

BOOST_AUTO_TEST_CASE(flag_sets_combine_and_test) {
    Prot p = Prot::read;
    p |= Prot::write;
    BOOST_TEST(p.has(Prot::read));
    BOOST_TEST(p.has(Prot::read | Prot::write));
    BOOST_TEST(!p.has(Prot::exec));
    BOOST_TEST((p.without(Prot::write) == Prot::read));
    BOOST_TEST(((p & Prot::write) == Prot::write));
    BOOST_TEST(Prot::from_bits(0x8000).bits() == 0x8000u); // raw bits stay as given
}

BOOST_AUTO_TEST_SUITE_END()
