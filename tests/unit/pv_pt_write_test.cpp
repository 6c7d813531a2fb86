// Decoding and applying the page-table writes the PV MMU emulates: the
// encodings the assembler produces for the forms Linux uses (checked
// against `as`/`objdump` when written), their lengths with every addressing
// form, the refusals, and each operation's result, register and flag
// effects.
#include <boost/test/unit_test.hpp>

#include "unit/err_print.hpp"

#include <initializer_list>
#include <vector>

#include "xen-compat/pv_pt_write.hpp"

using namespace virtue;
using namespace virtue::pv;

namespace {

Result<PtWrite> decode(std::initializer_list<uint8_t> bytes) {
    std::vector<uint8_t> b(bytes);
    return decode_pt_write(b.data(), b.size());
}

constexpr uint8_t RAX = 0, RCX = 1, RSI = 6, R8 = 8, R9 = 9, R12 = 12;
constexpr uint64_t CF = 1, ZF = 1u << 6, SF = 1u << 7;

} // namespace

BOOST_AUTO_TEST_SUITE(pv_pt_write)

BOOST_AUTO_TEST_CASE(lengths_and_operands_of_the_accepted_forms) {
    struct Case {
        const char* text;
        std::vector<uint8_t> bytes;
        uint8_t length, size;
        PtWriteOp op;
        uint8_t reg;
        uint64_t imm;
        bool locked;
    };
    const Case cases[] = {
        {"mov %rax,(%rdi)", {0x48, 0x89, 0x07}, 3, 8, PtWriteOp::Mov, RAX, 0, false},
        {"mov %rcx,0x8(%rdx)", {0x48, 0x89, 0x4a, 0x08}, 4, 8, PtWriteOp::Mov, RCX, 0, false},
        {"movq $0x0,(%rdi)", {0x48, 0xc7, 0x07, 0, 0, 0, 0}, 7, 8, PtWriteOp::Mov, kNoReg, 0, false},
        {"movq $-2,(%rdi)", {0x48, 0xc7, 0x07, 0xfe, 0xff, 0xff, 0xff}, 7, 8, PtWriteOp::Mov, kNoReg, ~uint64_t{1}, false},
        {"xchg %rax,(%rdi)", {0x48, 0x87, 0x07}, 3, 8, PtWriteOp::Xchg, RAX, 0, true},
        {"lock cmpxchg %rsi,(%rdi)", {0xf0, 0x48, 0x0f, 0xb1, 0x37}, 5, 8, PtWriteOp::CmpXchg, RSI, 0, true},
        {"lock btrl $0x5,(%rdi)", {0xf0, 0x0f, 0xba, 0x37, 0x05}, 5, 4, PtWriteOp::Btr, kNoReg, 5, true},
        {"lock btsq $0x3f,(%rdi)", {0xf0, 0x48, 0x0f, 0xba, 0x2f, 0x3f}, 6, 8, PtWriteOp::Bts, kNoReg, 63, true},
        {"lock btr %rcx,(%rdi)", {0xf0, 0x48, 0x0f, 0xb3, 0x0f}, 5, 8, PtWriteOp::Btr, RCX, 0, true},
        {"lock andb $0xfd,(%rdi)", {0xf0, 0x80, 0x27, 0xfd}, 4, 1, PtWriteOp::And, kNoReg, 0xfd, true},
        {"lock orb $0x2,(%rdi)", {0xf0, 0x80, 0x0f, 0x02}, 4, 1, PtWriteOp::Or, kNoReg, 2, true},
        {"mov %eax,(%rdi)", {0x89, 0x07}, 2, 4, PtWriteOp::Mov, RAX, 0, false},
        {"mov %r8,(%rdi)", {0x4c, 0x89, 0x07}, 3, 8, PtWriteOp::Mov, R8, 0, false},
        {"mov %rax,(%rdi,%rcx,8)", {0x48, 0x89, 0x04, 0xcf}, 4, 8, PtWriteOp::Mov, RAX, 0, false},
        {"mov %rax,0x12345678(%rdi)", {0x48, 0x89, 0x87, 0x78, 0x56, 0x34, 0x12}, 7, 8, PtWriteOp::Mov, RAX, 0, false},
        {"mov %rax,0x10(%rip)", {0x48, 0x89, 0x05, 0x10, 0, 0, 0}, 7, 8, PtWriteOp::Mov, RAX, 0, false},
        {"mov %r12,0x0(%r13)", {0x4d, 0x89, 0x65, 0x00}, 4, 8, PtWriteOp::Mov, R12, 0, false},
        {"mov %rax,(%rsp)", {0x48, 0x89, 0x04, 0x24}, 4, 8, PtWriteOp::Mov, RAX, 0, false},
        {"lock andq $-3,(%rdi)", {0xf0, 0x48, 0x83, 0x27, 0xfd}, 5, 8, PtWriteOp::And, kNoReg, ~uint64_t{2}, true},
        {"lock or %rax,(%rdi)", {0xf0, 0x48, 0x09, 0x07}, 4, 8, PtWriteOp::Or, RAX, 0, true},
        {"mov %ax,(%rdi)", {0x66, 0x89, 0x07}, 3, 2, PtWriteOp::Mov, RAX, 0, false},
        {"mov %al,(%rdi)", {0x88, 0x07}, 2, 1, PtWriteOp::Mov, RAX, 0, false},
        {"xchg %r9,0x18(%rbx)", {0x4c, 0x87, 0x4b, 0x18}, 4, 8, PtWriteOp::Xchg, R9, 0, true},
        {"lock andb $0xbf,0x1(%rdi)", {0xf0, 0x80, 0x67, 0x01, 0xbf}, 5, 1, PtWriteOp::And, kNoReg, 0xbf, true},
        {"mov %rax,0x0(,%rcx,8)", {0x48, 0x89, 0x04, 0xcd, 0, 0, 0, 0}, 8, 8, PtWriteOp::Mov, RAX, 0, false},
    };
    for (const Case& c : cases) {
        auto w = decode_pt_write(c.bytes.data(), c.bytes.size());
        BOOST_REQUIRE_MESSAGE(w.ok(), c.text);
        BOOST_TEST(w->length == c.length, c.text);
        BOOST_TEST(w->size == c.size, c.text);
        BOOST_TEST((w->op == c.op), c.text);
        BOOST_TEST(w->reg == c.reg, c.text);
        BOOST_TEST(w->imm == c.imm, c.text);
        BOOST_TEST(w->locked == c.locked, c.text);
        // One byte short of the whole instruction: refused, never read past.
        BOOST_TEST(decode_pt_write(c.bytes.data(), c.bytes.size() - 1).error() == Err::InvalidArgument, c.text);
    }
}

BOOST_AUTO_TEST_CASE(other_instructions_are_refused) {
    const std::vector<std::vector<uint8_t>> refused = {
        {0x48, 0x89, 0xc7},             // mov %rax,%rdi: no memory operand
        {0x48, 0x8b, 0x07},             // mov (%rdi),%rax: a read
        {0x0f, 0xba, 0x27, 0x05},       // bt $5,(%rdi): only reads
        {0x80, 0x17, 0x01},             // adc $1,(%rdi)
        {0xc7, 0x0f, 0, 0, 0, 0},       // c7 /1 does not exist
        {0x64, 0x48, 0x89, 0x07},       // mov %rax,%fs:(%rdi): a segment override
        {0x88, 0x27},                   // mov %ah,(%rdi)
        {0x48, 0x48, 0x89, 0x07},       // two REX prefixes
        {0x48, 0xf0, 0x89, 0x07},       // REX not right before the opcode
        {0x0f, 0x05},                   // syscall
        {},                             // nothing
        {0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0x89, 0x07}, // > 15 bytes
    };
    for (const auto& b : refused) BOOST_TEST(decode_pt_write(b.data(), b.size()).error() == Err::InvalidArgument);
}

BOOST_AUTO_TEST_CASE(operations_write_what_the_cpu_would) {
    PtWriteRegs r;
    // mov keeps nothing of the old value; a 4-byte store is 4 bytes.
    r.gpr[RAX] = 0x1122334455667788;
    BOOST_TEST(apply_pt_write(*decode({0x48, 0x89, 0x07}), 0xdead, r) == 0x1122334455667788u);
    BOOST_TEST(apply_pt_write(*decode({0x89, 0x07}), 0xdead, r) == 0x55667788u);
    // xchg hands the old value to the register.
    r.gpr[R9] = 0xabc;
    BOOST_TEST(apply_pt_write(*decode({0x4c, 0x87, 0x4b, 0x18}), 0x1234, r) == 0xabcu);
    BOOST_TEST(r.gpr[R9] == 0x1234u);
    // cmpxchg: stores on a match (ZF set), else loads rax (ZF clear) and
    // writes the old value back.
    r.gpr[RAX] = 0x500;
    r.gpr[RSI] = 0x600;
    BOOST_TEST(apply_pt_write(*decode({0xf0, 0x48, 0x0f, 0xb1, 0x37}), 0x500, r) == 0x600u);
    BOOST_TEST((r.rflags & ZF) != 0u);
    BOOST_TEST(apply_pt_write(*decode({0xf0, 0x48, 0x0f, 0xb1, 0x37}), 0x700, r) == 0x700u);
    BOOST_TEST((r.rflags & ZF) == 0u);
    BOOST_TEST((r.rflags & CF) != 0u); // 0x500 < 0x700
    BOOST_TEST(r.gpr[RAX] == 0x700u);
    // btr: CF is the bit's old value.
    BOOST_TEST(apply_pt_write(*decode({0xf0, 0x0f, 0xba, 0x37, 0x05}), 0x23, r) == 0x03u);
    BOOST_TEST((r.rflags & CF) != 0u);
    BOOST_TEST(apply_pt_write(*decode({0xf0, 0x0f, 0xba, 0x37, 0x05}), 0x03, r) == 0x03u);
    BOOST_TEST((r.rflags & CF) == 0u);
    // bts with a register offset: the offset within the operand.
    r.gpr[RCX] = 64 + 3;
    BOOST_TEST(apply_pt_write(*decode({0xf0, 0x48, 0x0f, 0xab, 0x0f}), 0, r) == 8u);
    // lock andb $0xfd (clear RW in the low byte), flags from the result.
    BOOST_TEST(apply_pt_write(*decode({0xf0, 0x80, 0x27, 0xfd}), 0x67, r) == 0x65u);
    BOOST_TEST((r.rflags & (ZF | SF | CF)) == 0u);
    BOOST_TEST(apply_pt_write(*decode({0xf0, 0x80, 0x27, 0xfd}), 0x02, r) == 0u);
    BOOST_TEST((r.rflags & ZF) != 0u);
    // and with a sign-extended imm8 on a quadword.
    BOOST_TEST(apply_pt_write(*decode({0xf0, 0x48, 0x83, 0x27, 0xfd}), 0x8000000000000007, r) == 0x8000000000000005u);
    BOOST_TEST((r.rflags & SF) != 0u);
    // A 4-byte register write clears the upper half; a byte write keeps it.
    r.gpr[RAX] = 0xffffffffffffffff;
    (void)apply_pt_write(*decode({0x87, 0x07}), 0x12, r);
    BOOST_TEST(r.gpr[RAX] == 0x12u);
    r.gpr[RAX] = 0xffffffffffffff00;
    (void)apply_pt_write(*decode({0x86, 0x07}), 0x34, r);
    BOOST_TEST(r.gpr[RAX] == 0xffffffffffffff34u);
}

BOOST_AUTO_TEST_CASE(sub_entry_writes_merge_into_the_entry) {
    const uint64_t e = 0x8000000012345067;
    BOOST_TEST(merge_into_entry(e, 0, 1, 0x65) == 0x8000000012345065u);
    BOOST_TEST(merge_into_entry(e, 4, 4, 0) == 0x12345067u);
    BOOST_TEST(merge_into_entry(e, 0, 8, 7) == 7u);
    BOOST_TEST(extract_from_entry(e, 7, 1) == 0x80u);
    BOOST_TEST(extract_from_entry(e, 0, 2) == 0x5067u);
}

BOOST_AUTO_TEST_SUITE_END()
