// Tests for the native-domain ELF64 image parser (hypervisor/domain/elf_loader.*):
// images built in memory (ELF header + program headers + a patterned payload),
// one case per rejection rule, every truncation and a byte-flip fuzz (both
// under ASan, on exact-size heap copies).
#include <boost/test/unit_test.hpp>

#include <elf.h>
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "domain/elf_loader.hpp"
#include "err_print.hpp"

using namespace virtue;

namespace {

constexpr uint64_t kPage = kElfPageSize;
constexpr uint64_t MiB = 1ull << 20;

// The good image: text RX at 0x400000 (one page), data RW with bss at
// 0x602100 whose page-rounded range [0x602000, 0x605000) is three pages.
constexpr uint64_t kTextVaddr = 0x400000, kTextOffset = 0x1000, kTextSize = 0x234;
constexpr uint64_t kDataVaddr = 0x602100, kDataOffset = 0x2100;
constexpr uint64_t kDataFilesz = 0x80, kDataMemsz = 0x2000;
constexpr uint64_t kEntry = 0x400010;
constexpr uint64_t kGoodFileSize = kDataOffset + kDataFilesz;

// Non-zero file contents, so zero-filling mistakes show.
uint8_t pattern(uint64_t file_offset) { return uint8_t(1 + file_offset * 131 % 255); }

uint64_t round_down(uint64_t v) { return v & ~(kPage - 1); }
uint64_t round_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

Elf64_Phdr phdr(uint32_t type, uint32_t flags, uint64_t vaddr, uint64_t memsz, uint64_t offset,
                uint64_t filesz) {
    Elf64_Phdr p{};
    p.p_type = type;
    p.p_flags = flags;
    p.p_vaddr = vaddr;
    p.p_paddr = vaddr;
    p.p_memsz = memsz;
    p.p_offset = offset;
    p.p_filesz = filesz;
    p.p_align = kPage;
    return p;
}

Elf64_Phdr text_phdr() {
    return phdr(PT_LOAD, PF_R | PF_X, kTextVaddr, kTextSize, kTextOffset, kTextSize);
}
Elf64_Phdr data_phdr() {
    return phdr(PT_LOAD, PF_R | PF_W, kDataVaddr, kDataMemsz, kDataOffset, kDataFilesz);
}

// ELF header + program headers right after it + the pattern everywhere else.
struct TestElf {
    Elf64_Ehdr eh{};
    std::vector<Elf64_Phdr> phdrs;
    size_t file_size = 0; // 0: just large enough for the headers and all segment bytes

    TestElf() {
        memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS64;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        eh.e_ident[EI_OSABI] = ELFOSABI_SYSV;
        eh.e_type = ET_EXEC;
        eh.e_machine = EM_X86_64;
        eh.e_version = EV_CURRENT;
        eh.e_entry = kEntry;
        eh.e_ehsize = sizeof(Elf64_Ehdr);
        eh.e_phentsize = sizeof(Elf64_Phdr);
    }

    std::vector<uint8_t> build() const {
        size_t headers = sizeof(Elf64_Ehdr) + phdrs.size() * sizeof(Elf64_Phdr);
        size_t n = file_size;
        if (n == 0) {
            n = headers;
            for (const auto& p : phdrs) n = std::max<size_t>(n, p.p_offset + p.p_filesz);
        }
        std::vector<uint8_t> f(n);
        for (size_t i = 0; i < n; ++i) f[i] = pattern(i);
        Elf64_Ehdr e = eh;
        e.e_phoff = sizeof(Elf64_Ehdr);
        e.e_phnum = uint16_t(phdrs.size());
        put(f, 0, &e, sizeof e);
        for (size_t i = 0; i < phdrs.size(); ++i)
            put(f, sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), &phdrs[i], sizeof(Elf64_Phdr));
        return f;
    }

    // Copies what fits (an explicit file_size may cut the headers short).
    static void put(std::vector<uint8_t>& f, size_t at, const void* src, size_t len) {
        if (at >= f.size()) return;
        memcpy(f.data() + at, src, std::min(len, f.size() - at));
    }
};

TestElf good_elf() {
    TestElf t;
    t.phdrs = {text_phdr(), data_phdr()};
    return t;
}

// For header fields build() would otherwise set (e_phoff, e_phnum).
template <typename F>
std::vector<uint8_t> patch_ehdr(std::vector<uint8_t> f, F change) {
    Elf64_Ehdr e;
    memcpy(&e, f.data(), sizeof e);
    change(e);
    memcpy(f.data(), &e, sizeof e);
    return f;
}

ElfLimits test_limits(uint64_t max_bytes = 64 * MiB) {
    ElfLimits l;
    l.max_bytes = max_bytes;
    return l;
}

struct Parsed {
    Status status;
    std::unique_ptr<ElfImage> image = std::make_unique<ElfImage>();
};

// Parses an exact-size heap copy of f[0, len) so ASan catches any read past the end.
Parsed parse(const std::vector<uint8_t>& f, const ElfLimits& limits, size_t len) {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[len]);
    if (len) memcpy(copy.get(), f.data(), len);
    Parsed p;
    p.status = parse_elf_image(copy.get(), len, limits, *p.image);
    return p;
}
Parsed parse(const std::vector<uint8_t>& f, const ElfLimits& limits = test_limits()) {
    return parse(f, limits, f.size());
}

void expect_reject(const std::vector<uint8_t>& f, Err err, const std::string& message,
                   const ElfLimits& limits = test_limits()) {
    Parsed p = parse(f, limits);
    BOOST_REQUIRE(!p.status.ok());
    BOOST_CHECK_EQUAL(p.status.error(), err);
    BOOST_CHECK_EQUAL(std::string(p.image->error), message);
    // Nothing half-filled is left behind.
    BOOST_CHECK_EQUAL(p.image->segment_count, 0u);
    BOOST_CHECK_EQUAL(p.image->pages, 0u);
}

void expect_reject(const TestElf& t, Err err, const std::string& message,
                   const ElfLimits& limits = test_limits()) {
    expect_reject(t.build(), err, message, limits);
}

// Everything parse_elf_image promises about an accepted image.
void check_invariants(const ElfImage& img, const ElfLimits& limits, size_t file_size) {
    BOOST_REQUIRE_GE(img.segment_count, 1u);
    BOOST_REQUIRE_LE(img.segment_count, kMaxElfSegments);
    BOOST_CHECK_EQUAL(std::string(img.error), "");
    uint64_t pages = 0;
    bool entry_ok = false;
    for (size_t i = 0; i < img.segment_count; ++i) {
        const ElfSegment& s = img.segments[i];
        BOOST_REQUIRE_GT(s.memsz, 0u);
        BOOST_REQUIRE_LE(s.filesz, s.memsz);
        BOOST_REQUIRE_LE(s.file_offset, file_size);
        BOOST_REQUIRE_LE(s.filesz, file_size - s.file_offset);
        BOOST_REQUIRE_LT(s.vaddr, limits.user_end);
        BOOST_REQUIRE_LE(s.memsz, limits.user_end - s.vaddr);
        BOOST_CHECK_EQUAL(s.vaddr % kPage, s.file_offset % kPage);
        BOOST_CHECK(!(s.write && s.exec));
        uint64_t start = round_down(s.vaddr), end = round_up(s.vaddr + s.memsz);
        BOOST_CHECK_GE(start, limits.user_start);
        BOOST_CHECK_LE(end, limits.user_end);
        if (i > 0) {
            const ElfSegment& prev = img.segments[i - 1];
            BOOST_CHECK_LE(prev.vaddr, s.vaddr);
            BOOST_CHECK_LE(round_up(prev.vaddr + prev.memsz), start);
        }
        pages += (end - start) / kPage;
        if (s.exec && img.entry >= s.vaddr && img.entry - s.vaddr < s.memsz) entry_ok = true;
    }
    BOOST_CHECK(entry_ok);
    BOOST_CHECK_EQUAL(img.pages, pages);
    BOOST_CHECK_LE(img.pages * kPage, limits.max_bytes);
    BOOST_CHECK_EQUAL(img.lowest, round_down(img.segments[0].vaddr));
    const ElfSegment& last = img.segments[img.segment_count - 1];
    BOOST_CHECK_EQUAL(img.highest, round_up(last.vaddr + last.memsz));
}

std::vector<uint8_t> rounded_buffer(const ElfSegment& s) {
    return std::vector<uint8_t>(round_up(s.vaddr + s.memsz) - round_down(s.vaddr));
}

} // namespace

BOOST_AUTO_TEST_SUITE(elf_loader)

BOOST_AUTO_TEST_CASE(good_image_is_described) {
    auto f = good_elf().build();
    BOOST_REQUIRE_EQUAL(f.size(), kGoodFileSize);
    Parsed p = parse(f);
    BOOST_REQUIRE(p.status.ok());
    const ElfImage& img = *p.image;
    BOOST_CHECK_EQUAL(std::string(img.error), "");
    BOOST_CHECK_EQUAL(img.entry, kEntry);
    BOOST_REQUIRE_EQUAL(img.segment_count, 2u);

    const ElfSegment& text = img.segments[0];
    BOOST_CHECK_EQUAL(text.vaddr, kTextVaddr);
    BOOST_CHECK_EQUAL(text.memsz, kTextSize);
    BOOST_CHECK_EQUAL(text.file_offset, kTextOffset);
    BOOST_CHECK_EQUAL(text.filesz, kTextSize);
    BOOST_CHECK(text.read && !text.write && text.exec);

    const ElfSegment& data = img.segments[1];
    BOOST_CHECK_EQUAL(data.vaddr, kDataVaddr);
    BOOST_CHECK_EQUAL(data.memsz, kDataMemsz);
    BOOST_CHECK_EQUAL(data.file_offset, kDataOffset);
    BOOST_CHECK_EQUAL(data.filesz, kDataFilesz);
    BOOST_CHECK(data.read && data.write && !data.exec);

    BOOST_CHECK_EQUAL(img.pages, 4u); // 1 text + 3 data/bss
    BOOST_CHECK_EQUAL(img.lowest, 0x400000u);
    BOOST_CHECK_EQUAL(img.highest, 0x605000u);
    check_invariants(img, test_limits(), f.size());
}

BOOST_AUTO_TEST_CASE(segments_are_copied_byte_by_byte) {
    auto f = good_elf().build();
    Parsed p = parse(f);
    BOOST_REQUIRE(p.status.ok());
    for (size_t i = 0; i < p.image->segment_count; ++i) {
        const ElfSegment& s = p.image->segments[i];
        BOOST_TEST_CONTEXT("segment at " << std::hex << s.vaddr) {
            auto dst = rounded_buffer(s);
            std::fill(dst.begin(), dst.end(), 0xcc); // must all be overwritten
            BOOST_REQUIRE(copy_elf_segment(f.data(), f.size(), s, dst.data(), dst.size()).ok());
            uint64_t start = round_down(s.vaddr);
            size_t wrong = 0;
            for (size_t k = 0; k < dst.size(); ++k) {
                uint64_t addr = start + k;
                bool from_file = addr >= s.vaddr && addr - s.vaddr < s.filesz;
                uint8_t want = from_file ? pattern(s.file_offset + (addr - s.vaddr)) : 0;
                if (dst[k] != want && wrong++ < 8)
                    BOOST_ERROR("byte " << std::hex << addr << ": " << int(dst[k]) << " != "
                                        << int(want));
            }
            BOOST_CHECK_EQUAL(wrong, 0u);
        }
    }
    // The data segment: 0x100 bytes of head padding, 0x80 file bytes, then bss
    // and tail padding up to 0x605000, all zero.
    const ElfSegment& data = p.image->segments[1];
    auto dst = rounded_buffer(data);
    BOOST_REQUIRE_EQUAL(dst.size(), 3 * kPage);
    BOOST_REQUIRE(copy_elf_segment(f.data(), f.size(), data, dst.data(), dst.size()).ok());
    BOOST_CHECK_EQUAL(dst[0xff], 0);
    BOOST_CHECK_EQUAL(dst[0x100], pattern(kDataOffset));
    BOOST_CHECK_EQUAL(dst[0x17f], pattern(kDataOffset + 0x7f));
    BOOST_CHECK_EQUAL(dst[0x180], 0);
    BOOST_CHECK_EQUAL(dst[3 * kPage - 1], 0);
}

BOOST_AUTO_TEST_CASE(copy_refuses_bad_arguments) {
    auto f = good_elf().build();
    ElfSegment text = {kTextVaddr, kTextSize, kTextOffset, kTextSize, true, false, true};
    std::vector<uint8_t> dst(2 * kPage);
    BOOST_CHECK_EQUAL(copy_elf_segment(f.data(), f.size(), text, dst.data(), kPage - 1).error(),
                      Err::InvalidArgument);
    BOOST_CHECK_EQUAL(copy_elf_segment(f.data(), f.size(), text, dst.data(), 2 * kPage).error(),
                      Err::InvalidArgument);
    BOOST_CHECK_EQUAL(copy_elf_segment(f.data(), f.size(), text, nullptr, kPage).error(),
                      Err::InvalidArgument);
    BOOST_CHECK(copy_elf_segment(f.data(), f.size(), text, dst.data(), kPage).ok());
    // Bytes past the end of the file are never read.
    BOOST_CHECK_EQUAL(copy_elf_segment(f.data(), kTextOffset + 1, text, dst.data(), kPage).error(),
                      Err::Truncated);
    ElfSegment wraps = {0xfffffffffffff000ull, 0x2000, 0, 0, true, false, false};
    BOOST_CHECK_EQUAL(copy_elf_segment(f.data(), f.size(), wraps, dst.data(), kPage).error(),
                      Err::InvalidArgument);
}

BOOST_AUTO_TEST_CASE(segments_are_sorted_by_vaddr) {
    TestElf t;
    t.phdrs = {data_phdr(), phdr(PT_LOAD, PF_R, 0x500800, 0x10, 0x1800, 0x10), text_phdr()};
    Parsed p = parse(t.build());
    BOOST_REQUIRE(p.status.ok());
    BOOST_REQUIRE_EQUAL(p.image->segment_count, 3u);
    BOOST_CHECK_EQUAL(p.image->segments[0].vaddr, kTextVaddr);
    BOOST_CHECK_EQUAL(p.image->segments[1].vaddr, 0x500800u);
    BOOST_CHECK_EQUAL(p.image->segments[2].vaddr, kDataVaddr);
    BOOST_CHECK(p.image->segments[1].read && !p.image->segments[1].write &&
                !p.image->segments[1].exec);
    BOOST_CHECK_EQUAL(p.image->pages, 5u);
}

BOOST_AUTO_TEST_CASE(other_types_and_empty_loads_are_ignored) {
    TestElf t = good_elf();
    t.phdrs.push_back(phdr(PT_NOTE, PF_R, 0, 0x20, 0x200, 0x20));
    t.phdrs.push_back(phdr(PT_GNU_STACK, PF_R | PF_W | PF_X, 0, 0, 0, 0));
    t.phdrs.push_back(phdr(PT_TLS, PF_R, 0xffff800000000000ull, 0x100, 0, 0));
    // Occupies nothing: even a hypervisor address and W+X do not matter.
    t.phdrs.push_back(phdr(PT_LOAD, PF_R | PF_W | PF_X, 0xffff800000000000ull, 0, 0, 0));
    Parsed p = parse(t.build());
    BOOST_REQUIRE(p.status.ok());
    BOOST_CHECK_EQUAL(p.image->segment_count, 2u);
    BOOST_CHECK_EQUAL(p.image->pages, 4u);
}

BOOST_AUTO_TEST_CASE(elf_header_errors) {
    const auto good = good_elf().build();
    {
        std::vector<uint8_t> tiny(good.begin(), good.begin() + sizeof(Elf64_Ehdr) - 1);
        expect_reject(tiny, Err::Truncated, "file shorter than an ELF header");
        expect_reject(std::vector<uint8_t>{}, Err::Truncated, "file shorter than an ELF header");
    }
    auto with = [&](auto change) { return patch_ehdr(good, change); };
    expect_reject(with([](Elf64_Ehdr& e) { e.e_ident[EI_MAG1] = 'X'; }), Err::BadFormat,
                  "not an ELF file (bad magic)");
    expect_reject(with([](Elf64_Ehdr& e) { e.e_ident[EI_MAG0] = 0; }), Err::BadFormat,
                  "not an ELF file (bad magic)");
    expect_reject(with([](Elf64_Ehdr& e) { e.e_ident[EI_CLASS] = ELFCLASS32; }), Err::BadFormat,
                  "not a 64-bit ELF");
    expect_reject(with([](Elf64_Ehdr& e) { e.e_ident[EI_DATA] = ELFDATA2MSB; }), Err::BadFormat,
                  "not a little-endian ELF");
    expect_reject(with([](Elf64_Ehdr& e) { e.e_ident[EI_VERSION] = 2; }), Err::BadFormat,
                  "unknown ELF version");
    expect_reject(with([](Elf64_Ehdr& e) { e.e_version = EV_NONE; }), Err::BadFormat,
                  "unknown ELF version");
    expect_reject(with([](Elf64_Ehdr& e) { e.e_type = ET_DYN; }), Err::NotSupported,
                  "only statically linked ET_EXEC images are loaded");
    expect_reject(with([](Elf64_Ehdr& e) { e.e_type = ET_REL; }), Err::NotSupported,
                  "only statically linked ET_EXEC images are loaded");
    expect_reject(with([](Elf64_Ehdr& e) { e.e_machine = EM_386; }), Err::BadFormat,
                  "wrong machine (not x86-64)");
    expect_reject(with([](Elf64_Ehdr& e) { e.e_phentsize = sizeof(Elf32_Phdr); }),
                  Err::BadFormat, "unexpected program header entry size");
    expect_reject(with([](Elf64_Ehdr& e) { e.e_phnum = 0; }), Err::BadFormat,
                  "no program headers");
    expect_reject(with([](Elf64_Ehdr& e) { e.e_phnum = PN_XNUM; }), Err::NotSupported,
                  "extended program header count (PN_XNUM) not supported");
}

BOOST_AUTO_TEST_CASE(program_header_table_outside_the_file) {
    const auto good = good_elf().build();
    auto with = [&](auto change) { return patch_ehdr(good, change); };
    const char* msg = "program header table outside the file";
    expect_reject(with([](Elf64_Ehdr& e) { e.e_phoff = kGoodFileSize; }), Err::Truncated, msg);
    expect_reject(with([](Elf64_Ehdr& e) { e.e_phoff = kGoodFileSize - sizeof(Elf64_Phdr) + 1; }),
                  Err::Truncated, msg);
    expect_reject(with([](Elf64_Ehdr& e) { e.e_phoff = UINT64_MAX - 8; }), Err::Truncated, msg);
    expect_reject(with([](Elf64_Ehdr& e) { e.e_phnum = 0xfffe; }), Err::Truncated, msg);
    expect_reject(with([](Elf64_Ehdr& e) { e.e_phnum = 1000; }), Err::Truncated, msg);
    // A table that ends exactly at the end of the file is fine.
    std::vector<uint8_t> at_end = good;
    const Elf64_Phdr table[] = {text_phdr(), data_phdr()};
    at_end.insert(at_end.end(), reinterpret_cast<const uint8_t*>(table),
                  reinterpret_cast<const uint8_t*>(table) + sizeof table);
    at_end = patch_ehdr(at_end, [](Elf64_Ehdr& e) { e.e_phoff = kGoodFileSize; });
    Parsed p = parse(at_end);
    BOOST_CHECK(p.status.ok());
    BOOST_CHECK_EQUAL(p.image->segment_count, 2u);
    // One byte less and it is outside.
    at_end.pop_back();
    expect_reject(at_end, Err::Truncated, msg);
}

BOOST_AUTO_TEST_CASE(dynamic_linking_is_rejected) {
    const char* msg = "dynamically linked images are not supported";
    TestElf interp = good_elf();
    interp.phdrs.insert(interp.phdrs.begin(), phdr(PT_INTERP, PF_R, 0x400200, 0x1c, 0x200, 0x1c));
    expect_reject(interp, Err::NotSupported, msg);
    TestElf dynamic = good_elf();
    dynamic.phdrs.push_back(phdr(PT_DYNAMIC, PF_R | PF_W, 0x602100, 0x40, 0x2100, 0x40));
    expect_reject(dynamic, Err::NotSupported, msg);
    // Reported even when a loadable segment is also broken.
    dynamic.phdrs[0].p_flags |= PF_W;
    expect_reject(dynamic, Err::NotSupported, msg);
}

BOOST_AUTO_TEST_CASE(segment_size_errors) {
    {
        TestElf t = good_elf();
        t.phdrs[1].p_filesz = t.phdrs[1].p_memsz + 1;
        t.file_size = kDataOffset + t.phdrs[1].p_filesz;
        expect_reject(t, Err::BadFormat, "segment file size larger than its memory size");
    }
    {
        TestElf t = good_elf(); // file bytes but no memory: malformed, not "empty"
        t.phdrs[1].p_memsz = 0;
        expect_reject(t, Err::BadFormat, "segment file size larger than its memory size");
    }
    {
        TestElf t = good_elf();
        t.file_size = kGoodFileSize - 1;
        expect_reject(t, Err::Truncated, "segment data outside the file");
    }
    {
        TestElf t = good_elf(); // offset + filesz wraps around
        t.phdrs[0].p_offset = UINT64_MAX - 0xfff;
        t.file_size = kGoodFileSize;
        expect_reject(t, Err::Truncated, "segment data outside the file");
    }
    {
        TestElf t = good_elf(); // offset alone beyond the file, no file bytes
        t.phdrs[1].p_offset = kGoodFileSize + 0x100;
        t.phdrs[1].p_filesz = 0;
        t.file_size = kGoodFileSize;
        expect_reject(t, Err::Truncated, "segment data outside the file");
    }
    const char* wraps = "segment address range overflows";
    {
        TestElf t = good_elf();
        t.phdrs[1].p_memsz = 0xffffffffffff0000ull; // vaddr + memsz wraps
        expect_reject(t, Err::Range, wraps);
    }
    {
        TestElf t = good_elf(); // no wrap, but the page-rounded end would
        t.phdrs[1].p_vaddr = 0xffffffffffffe100ull;
        t.phdrs[1].p_memsz = 0x1e01;
        expect_reject(t, Err::Range, wraps);
    }
    {
        TestElf t = good_elf();
        t.phdrs[1].p_vaddr = kDataVaddr + 8;
        expect_reject(t, Err::BadFormat,
                      "segment misaligned (p_vaddr and p_offset differ modulo 4 KiB)");
    }
}

BOOST_AUTO_TEST_CASE(segment_address_errors) {
    const char* msg = "segment outside the domain's address range (e.g. in the hypervisor range)";
    auto data_at = [](uint64_t vaddr, uint64_t memsz) {
        TestElf t = good_elf();
        t.phdrs[1].p_vaddr = vaddr;
        t.phdrs[1].p_memsz = memsz;
        t.phdrs[1].p_offset = kDataOffset & ~(kPage - 1);
        t.phdrs[1].p_offset += vaddr & (kPage - 1);
        return t;
    };
    expect_reject(data_at(0xffff800000000000ull, 0x1000), Err::Range, msg);
    expect_reject(data_at(0xffffffff80000000ull, 0x1000), Err::Range, msg);
    expect_reject(data_at(0, 0x1000), Err::Range, msg);
    expect_reject(data_at(0x800, 0x1000), Err::Range, msg);    // below user_start
    expect_reject(data_at(0x0000800000000000ull, 0x100), Err::Range, msg); // non-canonical hole
    // Straddles user_end: the rounded end is past it.
    expect_reject(data_at(0x00007ffffffff000ull, 0x1001), Err::Range, msg);
    // The very first and the very last user page are fine.
    BOOST_CHECK(parse(data_at(0x1000, 0x1000).build()).status.ok());
    BOOST_CHECK(parse(data_at(0x00007ffffffff000ull, 0x1000).build()).status.ok());
    // Limits are the caller's: a higher floor moves the boundary.
    ElfLimits high = test_limits();
    high.user_start = 0x500000;
    expect_reject(good_elf(), Err::Range, msg, high);
    ElfLimits low = test_limits();
    low.user_end = 0x602000;
    expect_reject(good_elf(), Err::Range, msg, low);
    low.user_end = 0x605000;
    BOOST_CHECK(parse(good_elf().build(), low).status.ok());
}

BOOST_AUTO_TEST_CASE(overlapping_segments) {
    const char* msg = "segments overlap";
    auto with_second = [](uint64_t vaddr, uint64_t memsz, uint64_t offset) {
        TestElf t = good_elf();
        t.phdrs[1] = phdr(PT_LOAD, PF_R | PF_W, vaddr, memsz, offset, 0x10);
        return t;
    };
    expect_reject(with_second(kTextVaddr, 0x100, 0x1000), Err::Overlap, msg);        // same start
    expect_reject(with_second(kTextVaddr + 0x100, 0x10, 0x1100), Err::Overlap, msg); // inside
    // Byte ranges disjoint ([0x400000, 0x400234) vs [0x400800, ...)) but one
    // shared page.
    expect_reject(with_second(kTextVaddr + 0x800, 0x1000, 0x1800), Err::Overlap, msg);
    // Segment ending in the text page from below.
    expect_reject(with_second(0x3ff800, 0x900, 0x800), Err::Overlap, msg);
    // The next page is fine.
    BOOST_CHECK(parse(with_second(kTextVaddr + kPage, 0x10, 0x2000).build()).status.ok());
    BOOST_CHECK(parse(with_second(kTextVaddr - kPage, kPage, 0x1000).build()).status.ok());
    // Detected whatever the program header order.
    TestElf reversed = with_second(kTextVaddr + 0x800, 0x1000, 0x1800);
    std::swap(reversed.phdrs[0], reversed.phdrs[1]);
    expect_reject(reversed, Err::Overlap, msg);
    // Between segments that are not neighbours in the program header table.
    TestElf three = good_elf();
    three.phdrs.insert(three.phdrs.begin(),
                       phdr(PT_LOAD, PF_R, kDataVaddr + kDataMemsz, 0x10, 0x1100, 0x10));
    expect_reject(three, Err::Overlap, msg);
}

BOOST_AUTO_TEST_CASE(writable_and_executable_is_rejected) {
    TestElf t = good_elf();
    t.phdrs[0].p_flags = PF_R | PF_W | PF_X;
    expect_reject(t, Err::Permission, "segment is writable and executable (W^X)");
    t.phdrs[0].p_flags = PF_W | PF_X;
    expect_reject(t, Err::Permission, "segment is writable and executable (W^X)");
}

BOOST_AUTO_TEST_CASE(entry_point_errors) {
    const char* msg = "entry point outside executable segments";
    auto with_entry = [](uint64_t entry) {
        TestElf t = good_elf();
        t.eh.e_entry = entry;
        return t;
    };
    expect_reject(with_entry(0), Err::BadFormat, msg);
    expect_reject(with_entry(0x300000), Err::BadFormat, msg);
    expect_reject(with_entry(kTextVaddr + kTextSize), Err::BadFormat, msg); // one past the end
    expect_reject(with_entry(kTextVaddr + 0x800), Err::BadFormat, msg);     // page padding
    expect_reject(with_entry(kDataVaddr + 4), Err::BadFormat, msg);         // not executable
    expect_reject(with_entry(kDataVaddr + kDataFilesz + 4), Err::BadFormat, msg); // bss
    BOOST_CHECK(parse(with_entry(kTextVaddr).build()).status.ok());
    BOOST_CHECK(parse(with_entry(kTextVaddr + kTextSize - 1).build()).status.ok());
}

BOOST_AUTO_TEST_CASE(no_loadable_segment) {
    TestElf t;
    t.phdrs = {phdr(PT_NOTE, PF_R, 0, 0x20, 0x100, 0x20), phdr(PT_LOAD, PF_R | PF_X, 0x400000, 0, 0, 0)};
    expect_reject(t, Err::BadFormat, "no loadable segment");
}

BOOST_AUTO_TEST_CASE(segment_count_limit) {
    auto with_segments = [](size_t n) {
        TestElf t;
        for (size_t i = 0; i < n; ++i) {
            uint32_t flags = i == 0 ? PF_R | PF_X : PF_R | PF_W;
            t.phdrs.push_back(phdr(PT_LOAD, flags, kTextVaddr + i * kPage, 0x100,
                                   kPage + i * kPage, 0x10));
        }
        return t;
    };
    Parsed p = parse(with_segments(kMaxElfSegments).build());
    BOOST_REQUIRE(p.status.ok());
    BOOST_CHECK_EQUAL(p.image->segment_count, kMaxElfSegments);
    BOOST_CHECK_EQUAL(p.image->pages, kMaxElfSegments);
    expect_reject(with_segments(kMaxElfSegments + 1), Err::Range, "too many loadable segments");
}

BOOST_AUTO_TEST_CASE(memory_budget_and_arguments) {
    const auto f = good_elf().build();
    BOOST_CHECK(parse(f, test_limits(4 * kPage)).status.ok()); // exactly enough
    expect_reject(f, Err::NoMemory, "image larger than the domain's memory",
                  test_limits(4 * kPage - 1));
    expect_reject(f, Err::NoMemory, "image larger than the domain's memory", test_limits(kPage));
    expect_reject(f, Err::InvalidArgument, "no memory budget (max_bytes is 0)", test_limits(0));
    ElfLimits empty = test_limits();
    empty.user_end = empty.user_start;
    expect_reject(f, Err::InvalidArgument, "empty domain address range", empty);

    ElfImage img;
    Status st = parse_elf_image(nullptr, f.size(), test_limits(), img);
    BOOST_CHECK_EQUAL(st.error(), Err::InvalidArgument);
    BOOST_CHECK_EQUAL(std::string(img.error), "no image (null pointer)");
}

BOOST_AUTO_TEST_CASE(failure_resets_a_reused_image) {
    const auto f = good_elf().build();
    ElfImage img;
    BOOST_REQUIRE(parse_elf_image(f.data(), f.size(), test_limits(), img).ok());
    BOOST_REQUIRE_EQUAL(img.segment_count, 2u);
    BOOST_REQUIRE(!parse_elf_image(f.data(), 10, test_limits(), img).ok());
    BOOST_CHECK_EQUAL(img.segment_count, 0u);
    BOOST_CHECK_EQUAL(img.entry, 0u);
    BOOST_CHECK_EQUAL(std::string(img.error), "file shorter than an ELF header");
    BOOST_REQUIRE(parse_elf_image(f.data(), f.size(), test_limits(), img).ok());
    BOOST_CHECK_EQUAL(std::string(img.error), "");
}

BOOST_AUTO_TEST_CASE(every_truncation_is_safe) {
    const auto f = good_elf().build();
    for (size_t len = 0; len <= f.size(); ++len) {
        BOOST_TEST_CONTEXT("length " << len) {
            Parsed p = parse(f, test_limits(), len);
            if (len == f.size()) {
                BOOST_CHECK(p.status.ok());
            } else {
                // The data segment's file bytes end the file: every cut is seen.
                BOOST_REQUIRE(!p.status.ok());
                BOOST_CHECK_EQUAL(p.status.error(), Err::Truncated);
                BOOST_CHECK_NE(std::string(p.image->error), "");
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(byte_flip_fuzz) {
    TestElf t = good_elf();
    t.phdrs.push_back(phdr(PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0));
    const auto good = t.build();
    const size_t header_area = sizeof(Elf64_Ehdr) + t.phdrs.size() * sizeof(Elf64_Phdr);
    // Small budget keeps the copies of accepted images cheap.
    const ElfLimits limits = test_limits(1 * MiB);
    // Values that sit on the boundaries the parser checks.
    const uint64_t interesting[] = {0,
                                    1,
                                    kPage - 1,
                                    kPage,
                                    kGoodFileSize,
                                    0x0000800000000000ull,
                                    0x00007ffffffff000ull,
                                    0xffff800000000000ull,
                                    0x8000000000000000ull,
                                    UINT64_MAX - kPage + 1,
                                    UINT64_MAX};
    std::mt19937 rng(20240611);
    size_t accepted = 0;
    for (int iter = 0; iter < 20000; ++iter) {
        std::vector<uint8_t> f = good;
        int mutations = 1 + int(rng() % 4);
        for (int m = 0; m < mutations; ++m) {
            size_t at = rng() % header_area;
            switch (rng() % 4) {
            case 0:
            case 1: f[at] ^= uint8_t(1u << (rng() % 8)); break;
            case 2: f[at] = uint8_t(rng()); break;
            default: {
                uint64_t v = interesting[rng() % (sizeof interesting / sizeof interesting[0])];
                at &= ~size_t(7); // header fields here are 8-byte aligned
                memcpy(&f[at], &v, std::min<size_t>(8, header_area - at));
                break;
            }
            }
        }
        Parsed p = parse(f, limits);
        if (!p.status.ok()) {
            if (std::string(p.image->error).empty() || p.image->segment_count != 0)
                BOOST_FAIL("iteration " << iter << ": failure without message or with segments");
            continue;
        }
        ++accepted;
        BOOST_TEST_CONTEXT("iteration " << iter) {
            check_invariants(*p.image, limits, f.size());
            for (size_t i = 0; i < p.image->segment_count; ++i) {
                const ElfSegment& s = p.image->segments[i];
                auto dst = rounded_buffer(s);
                BOOST_REQUIRE(copy_elf_segment(f.data(), f.size(), s, dst.data(), dst.size()).ok());
            }
        }
    }
    BOOST_TEST_MESSAGE("byte-flip fuzz: " << accepted << " of 20000 mutated images accepted");
    BOOST_CHECK_GT(accepted, 0u); // the mutations also hit fields the parser tolerates
}

BOOST_AUTO_TEST_SUITE_END()
