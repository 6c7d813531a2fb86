// The hypercall boundary's error handling: the one Err -> Xen errno table
// (lib/errors.def), the declared-errors check every call's result goes
// through (entry/call_glue.hpp), and the generator's refusal of malformed
// definitions (hypercalls/gen_native.py --self-test).
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "entry/call_glue.hpp"
#include "lib/xen_errno.hpp"
#include "virtue/declared_errors.hpp"


using namespace virtue;

BOOST_AUTO_TEST_SUITE(boundary)

BOOST_AUTO_TEST_CASE(each_err_means_one_errno) {
    // The distinctions the two families' callers rely on.
    BOOST_TEST(errno_of(Err::NoSpace) == -XEN_ENOSPC);
    BOOST_TEST(errno_of(Err::Range) == -XEN_ERANGE);
    BOOST_TEST(errno_of(Err::NoSuchDomain) == -XEN_ESRCH);
    BOOST_TEST(errno_of(Err::NotFound) == -XEN_ENOENT);
    BOOST_TEST(errno_of(Err::Permission) == -XEN_EACCES);
    BOOST_TEST(errno_of(Err::NotPermitted) == -XEN_EPERM);
    BOOST_TEST(errno_of(Err::TooManyHandles) == -XEN_EMFILE);
    BOOST_TEST(errno_of(Err::NoMemory) == -XEN_ENOMEM);
    BOOST_TEST(errno_of(Err::BadHandle) == -XEN_EBADF);
    BOOST_TEST(errno_of(Err::ForeignHandle) == -XEN_EXDEV);
    BOOST_TEST(errno_of(Err::WrongType) == -XEN_ENODEV);
    BOOST_TEST(errno_of(Err::TimedOut) == -XEN_ETIMEDOUT);
    BOOST_TEST(errno_of(Err::Interrupted) == -XEN_EAGAIN);
    BOOST_TEST(errno_of(Err::TimeInPast) == -XEN_ETIME);
    BOOST_TEST(errno_of(Err::NotSupported) == -XEN_ENOSYS);
    // Every Err maps to a negative errno and has a name for logs.
    for (int e = 0; e <= static_cast<int>(Err::Restart); e++) {
        BOOST_TEST(errno_of(static_cast<Err>(e)) < 0);
        BOOST_TEST(std::string(err_name(static_cast<Err>(e))) != "unknown error");
    }
}

BOOST_AUTO_TEST_CASE(grant_statuses_are_the_tables_second_column) {
    BOOST_TEST(grant_status_of(Err::NoSuchDomain) == GNTST_bad_domain);
    BOOST_TEST(grant_status_of(Err::BadGrantRef) == GNTST_bad_gntref);
    BOOST_TEST(grant_status_of(Err::NotPermitted) == GNTST_general_error); // (Xen's answer to a grant that does not allow the use)
    BOOST_TEST(grant_status_of(Err::Fault) == GNTST_bad_virt_addr);
    BOOST_TEST(grant_status_of(Err::NoSpace) == GNTST_no_device_space);
    BOOST_TEST(grant_status_of(Err::NoMemory) == GNTST_general_error);
}

BOOST_AUTO_TEST_CASE(errno_sets_hold_exactly_their_members) {
    constexpr ErrnoSet s = ErrnoSet{}.with(XEN_EINVAL).with(XEN_ETIMEDOUT).with(XEN_EPERM);
    static_assert(s.contains(XEN_EINVAL) && s.contains(XEN_ETIMEDOUT) && s.contains(XEN_EPERM));
    for (int e = -1; e < 140; e++)
        BOOST_TEST(s.contains(e) == (e == XEN_EINVAL || e == XEN_ETIMEDOUT || e == XEN_EPERM), "errno " << e);
}

BOOST_AUTO_TEST_CASE(an_undeclared_errno_is_refused) {
    const ErrnoSet declared = ErrnoSet{}.with(XEN_EINVAL).with(XEN_EFAULT);
    BOOST_TEST(abi_error("native", "t", declared, Err::Fault) == -XEN_EFAULT);
    BOOST_TEST(abi_error("native", "t", declared, Err::BadFormat) == -XEN_EINVAL); // also EINVAL
    BOOST_CHECK_THROW(abi_error("native", "t", declared, Err::NoSpace), std::runtime_error);
}

namespace {
struct ErrnoName {
    const char* name;
    int value;
};
// Every errno of xen/errno.h by name (the header is an X-macro list).
constexpr ErrnoName kErrnoNames[] = {
#define XEN_ERRNO(name, value) {#name, value},
#include <xen/errno.h>
};
} // namespace

// A call may only declare errors the hypervisor can produce: every errno
// a definition lists must be the errno of some Err in the one table.
BOOST_AUTO_TEST_CASE(every_declared_errno_is_one_an_err_becomes) {
    ErrnoSet producible;
    for (int e = 0; e <= static_cast<int>(Err::Restart); e++)
        producible = producible.with(static_cast<int>(-errno_of(static_cast<Err>(e))));
    size_t calls = 0, declared_total = 0;
    for (const auto& c : declared::CALLS) {
        calls++;
        std::string list = c.errors;
        for (size_t at = 0; at < list.size();) {
            size_t end = list.find(' ', at);
            if (end == std::string::npos) end = list.size();
            const std::string name = list.substr(at, end - at);
            at = end + 1;
            int value = -1;
            for (const auto& n : kErrnoNames)
                if (name == n.name) value = n.value;
            BOOST_TEST(value > 0, c.family << " call " << c.name << " declares unknown errno " << name);
            BOOST_TEST(producible.contains(value), c.family << " call " << c.name << " declares " << name
                                                              << ", which no Err becomes (lib/errors.def)");
            declared_total++;
        }
    }
    BOOST_TEST(calls >= 62u); // 58 native calls and 4 Xen ones so far
    BOOST_TEST(declared_total > 200u); // the lists are really there, not empty strings
}

BOOST_AUTO_TEST_CASE(the_generator_refuses_malformed_definitions) {
    BOOST_TEST(std::system("python3 hypercalls/gen_native.py --self-test > /dev/null") == 0);
}

BOOST_AUTO_TEST_SUITE_END()
