// Decoding the privileged instructions PV guest kernels execute, from the
// encodings the assembler produces (checked with `as`/`objdump` when
// written), and the refusals.
#include <boost/test/unit_test.hpp>

#include "unit/err_print.hpp"

#include <vector>

#include "xen-compat/pv_priv_op.hpp"

using namespace virtue;
using namespace virtue::xen;

namespace {
Result<PrivInsn> decode(std::vector<uint8_t> b) { return decode_priv_op(b.data(), b.size()); }
} // namespace

BOOST_AUTO_TEST_SUITE(pv_priv_op)

BOOST_AUTO_TEST_CASE(each_form_decodes_with_its_operands_and_length) {
    auto cpuid = decode({0x0f, 0x0b, 'x', 'e', 'n', 0x0f, 0xa2, 0x90});
    BOOST_REQUIRE(cpuid.ok());
    BOOST_TEST((cpuid->op == PrivOp::Cpuid && cpuid->length == 7));
    BOOST_TEST((decode({0x0f, 0x32})->op == PrivOp::RdMsr));
    BOOST_TEST((decode({0x0f, 0x30})->op == PrivOp::WrMsr));
    auto in60 = decode({0xe4, 0x60});
    BOOST_TEST((in60->op == PrivOp::In && in60->size == 1 && in60->port == 0x60 && !in60->port_in_dx && in60->length == 2));
    auto in64w = decode({0x66, 0xe5, 0x64});
    BOOST_TEST((in64w->size == 2 && in64w->port == 0x64 && in64w->length == 3));
    BOOST_TEST(decode({0xe5, 0x71})->size == 4);
    auto indx = decode({0xec});
    BOOST_TEST((indx->op == PrivOp::In && indx->port_in_dx && indx->size == 1 && indx->length == 1));
    BOOST_TEST(decode({0x66, 0xed})->size == 2);
    BOOST_TEST(decode({0xed})->size == 4);
    auto out80 = decode({0xe6, 0x80});
    BOOST_TEST((out80->op == PrivOp::Out && out80->port == 0x80 && out80->size == 1));
    BOOST_TEST((decode({0x66, 0xef})->op == PrivOp::Out && decode({0x66, 0xef})->size == 2));
    auto cr4 = decode({0x0f, 0x20, 0xe0});
    BOOST_TEST((cr4->op == PrivOp::MovFromCr && cr4->cr == 4 && cr4->gpr == 0 && cr4->length == 3));
    auto cr0 = decode({0x41, 0x0f, 0x20, 0xc1});
    BOOST_TEST((cr0->cr == 0 && cr0->gpr == 9 && cr0->length == 4));
    auto tocr4 = decode({0x0f, 0x22, 0xe3});
    BOOST_TEST((tocr4->op == PrivOp::MovToCr && tocr4->cr == 4 && tocr4->gpr == 3));
    BOOST_TEST(decode({0x0f, 0x20, 0xd1})->cr == 2u);
    BOOST_TEST(decode({0x44, 0x0f, 0x20, 0xc0})->cr == 8u); // REX.R: cr8
    BOOST_TEST((decode({0xfa})->op == PrivOp::Cli));
    BOOST_TEST((decode({0xfb})->op == PrivOp::Sti));
    BOOST_TEST((decode({0x0f, 0x09})->op == PrivOp::Wbinvd));
    BOOST_TEST((decode({0xf4})->op == PrivOp::Hlt));
    BOOST_TEST((decode({0x0f, 0x06})->op == PrivOp::Clts));
}

BOOST_AUTO_TEST_CASE(everything_else_is_refused) {
    const std::vector<std::vector<uint8_t>> refused = {
        {},                                  // nothing
        {0x0f, 0x0b},                        // a plain ud2
        {0x0f, 0x0b, 'x', 'e', 'n', 0x0f},   // the prefix, truncated
        {0x0f, 0x0b, 'x', 'e', 'n', 0x90},   // the prefix before something else
        {0x6e},                              // outsb: string I/O
        {0xf3, 0x6c},                        // rep insb
        {0xe4},                              // in without its port
        {0x66, 0x0f, 0x32},                  // 66 on rdmsr
        {0x48, 0xfa},                        // REX on cli
        {0x64, 0xec},                        // a segment override
        {0x0f, 0x01, 0xf8},                  // swapgs
        {0x0f, 0x20},                        // mov from cr without ModRM
        {0x0f, 0x05},                        // syscall: not emulated here
    };
    for (const auto& b : refused) BOOST_TEST(decode_priv_op(b.data(), b.size()).error() == Err::InvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()
