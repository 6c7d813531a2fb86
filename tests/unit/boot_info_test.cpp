// Tests for the native domain boot-information builder
// (hypervisor/domain/boot_info.*): trees are built into host buffers and read
// back with libfdt's read-only API.
#include <boost/test/unit_test.hpp>

#include <libfdt.h>
#include <stdint.h>
#include <string.h>

#include <ostream>
#include <string>
#include <vector>

#include "domain/boot_info.hpp"
#include "err_print.hpp"

using namespace virtue;

namespace {

constexpr uint64_t MiB = 1ull << 20;

// Three modules; the third has a multi-digit hex unit address.
const BootInfoModule kModules[] = {
    {0, "hello console=hvc0", 0x1000000, 0x3000},
    {1, "boot-config", 0x1100000, 0x800},
    {26, "linux  root=/dev/ram0 quiet", 0x200000000ull, 0x123456789ull},
};

BootInfoInput full_input() {
    BootInfoInput in;
    in.name = "ctl";
    in.domain_id = 7;
    in.memory_bytes = 0x1'2345'6000ull; // above 4 GiB: both cells matter
    in.vcpus = 4;
    in.weight = 1000;
    in.cap = 350;
    in.privileges = 0x3;
    in.bootargs = "console=hvc0 loglevel=debug";
    in.image_start = 0x400000;
    in.image_end = 0x412345;
    in.stack_top = 0x7fff'ffff'f000ull;
    in.stack_size = 64 * 1024;
    in.free_bytes = 0x1'0000'0000ull + 0x1234000;
    in.modules = kModules;
    in.module_count = 3;
    return in;
}

BootInfoInput minimal_input() {
    BootInfoInput in;
    in.name = "hello";
    in.domain_id = 1;
    in.memory_bytes = 16 * MiB;
    return in;
}

// Builds into a generous buffer; the result is cut to the tree's size.
std::vector<char> build(const BootInfoInput& in) {
    std::vector<char> buf(1 << 16);
    Result<size_t> r = build_boot_info(buf.data(), buf.size(), in);
    BOOST_REQUIRE_MESSAGE(r.ok(), "build_boot_info failed: " << err_name(r.error()));
    BOOST_REQUIRE_EQUAL(*r, size_t(fdt_totalsize(buf.data())));
    BOOST_REQUIRE_LE(*r, buf.size());
    buf.resize(*r);
    BOOST_REQUIRE_EQUAL(fdt_check_header(buf.data()), 0);
    BOOST_REQUIRE_EQUAL(fdt_check_full(buf.data(), buf.size()), 0);
    return buf;
}

int node(const std::vector<char>& fdt, const char* path) {
    int off = fdt_path_offset(fdt.data(), path);
    BOOST_REQUIRE_MESSAGE(off >= 0, "no node " << path << ": " << fdt_strerror(off));
    return off;
}

// Raw property bytes; an absent property fails the test.
std::string prop(const std::vector<char>& fdt, int off, const char* name) {
    int len = 0;
    const void* p = fdt_getprop(fdt.data(), off, name, &len);
    BOOST_REQUIRE_MESSAGE(p, "no property " << name << ": " << fdt_strerror(len));
    return std::string(static_cast<const char*>(p), size_t(len));
}

bool has_prop(const std::vector<char>& fdt, int off, const char* name) {
    int len = 0;
    const void* p = fdt_getprop(fdt.data(), off, name, &len);
    if (!p) BOOST_REQUIRE_EQUAL(len, -FDT_ERR_NOTFOUND);
    return p != nullptr;
}

// A single NUL-terminated string (the NUL is part of the property).
std::string str(const std::vector<char>& fdt, int off, const char* name) {
    std::string v = prop(fdt, off, name);
    BOOST_REQUIRE_MESSAGE(!v.empty() && v.back() == '\0', name << " is not a string");
    v.pop_back();
    BOOST_REQUIRE_MESSAGE(v.find('\0') == std::string::npos, name << " has an embedded NUL");
    return v;
}

uint32_t u32(const std::vector<char>& fdt, int off, const char* name) {
    std::string v = prop(fdt, off, name);
    BOOST_REQUIRE_EQUAL(v.size(), 4u);
    fdt32_t be;
    memcpy(&be, v.data(), 4);
    return fdt32_to_cpu(be);
}

// n u64 values (2n cells).
std::vector<uint64_t> u64s(const std::vector<char>& fdt, int off, const char* name, size_t n) {
    std::string v = prop(fdt, off, name);
    BOOST_REQUIRE_EQUAL(v.size(), 8 * n);
    std::vector<uint64_t> out;
    for (size_t i = 0; i < n; ++i) {
        fdt64_t be;
        memcpy(&be, v.data() + 8 * i, 8);
        out.push_back(fdt64_to_cpu(be));
    }
    return out;
}

uint64_t u64(const std::vector<char>& fdt, int off, const char* name) {
    return u64s(fdt, off, name, 1)[0];
}

std::vector<std::string> subnode_names(const std::vector<char>& fdt, int parent) {
    std::vector<std::string> names;
    int n = fdt_first_subnode(fdt.data(), parent);
    for (; n >= 0; n = fdt_next_subnode(fdt.data(), n)) {
        int len = 0;
        const char* name = fdt_get_name(fdt.data(), n, &len);
        BOOST_REQUIRE(name);
        names.emplace_back(name, size_t(len));
    }
    BOOST_REQUIRE_EQUAL(n, -FDT_ERR_NOTFOUND);
    return names;
}

Err build_error(const BootInfoInput& in) {
    std::vector<char> buf(1 << 16);
    Result<size_t> r = build_boot_info(buf.data(), buf.size(), in);
    BOOST_REQUIRE_MESSAGE(!r.ok(), "build_boot_info unexpectedly succeeded");
    return r.error();
}

// Module name read back from a tree with one module built from cmdline.
std::string module_name_for(const char* cmdline) {
    const BootInfoModule m{5, cmdline, 0x1000, 0x10};
    BootInfoInput in = minimal_input();
    in.modules = &m;
    in.module_count = 1;
    auto fdt = build(in);
    int off = node(fdt, "/modules/module@5");
    BOOST_CHECK_EQUAL(str(fdt, off, "cmdline"), std::string(cmdline));
    return str(fdt, off, "name");
}

} // namespace

BOOST_AUTO_TEST_SUITE(boot_info)

BOOST_AUTO_TEST_CASE(full_tree_reads_back) {
    const BootInfoInput in = full_input();
    auto fdt = build(in);

    int root = node(fdt, "/");
    BOOST_CHECK_EQUAL(str(fdt, root, "compatible"), "virtue,native-boot-info");
    BOOST_CHECK(fdt_node_check_compatible(fdt.data(), root, "virtue,native-boot-info") == 0);
    BOOST_CHECK_EQUAL(fdt_num_mem_rsv(fdt.data()), 0);
    std::vector<std::string> top = subnode_names(fdt, root);
    BOOST_CHECK((top == std::vector<std::string>{"domain", "chosen", "layout", "modules"}));

    int dom = node(fdt, "/domain");
    BOOST_CHECK_EQUAL(str(fdt, dom, "name"), "ctl");
    BOOST_CHECK_EQUAL(u32(fdt, dom, "domain-id"), 7u);
    BOOST_CHECK_EQUAL(u64(fdt, dom, "memory"), in.memory_bytes);
    BOOST_CHECK_EQUAL(u32(fdt, dom, "vcpus"), 4u);
    BOOST_CHECK_EQUAL(u32(fdt, dom, "weight"), 1000u);
    BOOST_CHECK_EQUAL(u32(fdt, dom, "cap"), 350u);
    BOOST_CHECK_EQUAL(prop(fdt, dom, "privileges"), std::string("control\0hardware\0", 17));
    BOOST_CHECK_EQUAL(fdt_stringlist_count(fdt.data(), dom, "privileges"), 2);
    // Big-endian cells: high cell first.
    std::string mem = prop(fdt, dom, "memory");
    BOOST_CHECK_EQUAL(mem, std::string("\x00\x00\x00\x01\x23\x45\x60\x00", 8));

    int chosen = node(fdt, "/chosen");
    BOOST_CHECK_EQUAL(str(fdt, chosen, "bootargs"), "console=hvc0 loglevel=debug");

    int layout = node(fdt, "/layout");
    BOOST_CHECK((u64s(fdt, layout, "image", 2) == std::vector<uint64_t>{0x400000, 0x412345}));
    BOOST_CHECK((u64s(fdt, layout, "stack", 2) ==
                 std::vector<uint64_t>{0x7fff'ffff'f000ull, 64 * 1024}));
    BOOST_CHECK_EQUAL(u64(fdt, layout, "free-bytes"), in.free_bytes);

    int mods = node(fdt, "/modules");
    std::vector<std::string> names = subnode_names(fdt, mods);
    BOOST_CHECK((names == std::vector<std::string>{"module@0", "module@1", "module@1a"}));
    const char* want_name[] = {"hello", "boot-config", "linux"};
    const char* paths[] = {"/modules/module@0", "/modules/module@1", "/modules/module@1a"};
    for (size_t i = 0; i < 3; ++i) {
        BOOST_TEST_CONTEXT("module " << i) {
            int m = node(fdt, paths[i]);
            BOOST_CHECK_EQUAL(str(fdt, m, "name"), want_name[i]);
            BOOST_CHECK_EQUAL(str(fdt, m, "cmdline"), kModules[i].cmdline);
            BOOST_CHECK((u64s(fdt, m, "reg", 2) ==
                         std::vector<uint64_t>{kModules[i].phys_start, kModules[i].size}));
        }
    }
}

BOOST_AUTO_TEST_CASE(no_modules_no_privileges_empty_bootargs) {
    BootInfoInput in = minimal_input();
    in.bootargs = "";
    auto fdt = build(in);

    BOOST_CHECK_EQUAL(fdt_path_offset(fdt.data(), "/modules"), -FDT_ERR_NOTFOUND);
    std::vector<std::string> top = subnode_names(fdt, node(fdt, "/"));
    BOOST_CHECK((top == std::vector<std::string>{"domain", "chosen", "layout"}));

    int dom = node(fdt, "/domain");
    BOOST_CHECK(!has_prop(fdt, dom, "privileges"));
    BOOST_CHECK_EQUAL(str(fdt, dom, "name"), "hello");
    BOOST_CHECK_EQUAL(u32(fdt, dom, "domain-id"), 1u);
    BOOST_CHECK_EQUAL(u64(fdt, dom, "memory"), 16 * MiB);
    // Struct defaults.
    BOOST_CHECK_EQUAL(u32(fdt, dom, "vcpus"), 1u);
    BOOST_CHECK_EQUAL(u32(fdt, dom, "weight"), 256u);
    BOOST_CHECK_EQUAL(u32(fdt, dom, "cap"), 0u);

    // Present and exactly one NUL byte.
    BOOST_CHECK_EQUAL(prop(fdt, node(fdt, "/chosen"), "bootargs"), std::string("\0", 1));

    int layout = node(fdt, "/layout");
    BOOST_CHECK((u64s(fdt, layout, "image", 2) == std::vector<uint64_t>{0, 0}));
    BOOST_CHECK((u64s(fdt, layout, "stack", 2) == std::vector<uint64_t>{0, 0}));
    BOOST_CHECK_EQUAL(u64(fdt, layout, "free-bytes"), 0u);
}

BOOST_AUTO_TEST_CASE(modules_pointer_ignored_when_count_is_zero) {
    BootInfoInput in = minimal_input();
    in.modules = kModules;
    in.module_count = 0;
    auto fdt = build(in);
    BOOST_CHECK_EQUAL(fdt_path_offset(fdt.data(), "/modules"), -FDT_ERR_NOTFOUND);
}

BOOST_AUTO_TEST_CASE(single_privileges) {
    struct {
        uint32_t bits;
        std::string want; // empty: property absent
    } cases[] = {
        {0x1, std::string("control\0", 8)},
        {0x2, std::string("hardware\0", 9)},
        {0x3, std::string("control\0hardware\0", 17)},
        {0x4, ""},                                 // unknown bits ignored
        {0xfffffffd, std::string("control\0", 8)}, // ... even when mixed in
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT("privileges 0x" << std::hex << c.bits) {
            BootInfoInput in = minimal_input();
            in.privileges = c.bits;
            auto fdt = build(in);
            int dom = node(fdt, "/domain");
            if (c.want.empty())
                BOOST_CHECK(!has_prop(fdt, dom, "privileges"));
            else
                BOOST_CHECK_EQUAL(prop(fdt, dom, "privileges"), c.want);
        }
    }
}

BOOST_AUTO_TEST_CASE(module_name_is_first_word) {
    BOOST_CHECK_EQUAL(module_name_for("hello  a b"), "hello");
    BOOST_CHECK_EQUAL(module_name_for("hello"), "hello");
    BOOST_CHECK_EQUAL(module_name_for(""), "");
    BOOST_CHECK_EQUAL(module_name_for("   "), "");
    BOOST_CHECK_EQUAL(module_name_for("  \tspinner\targ"), "spinner");
    BOOST_CHECK_EQUAL(module_name_for("a"), "a");
}

BOOST_AUTO_TEST_CASE(unit_address_is_hex) {
    const BootInfoModule mods[] = {
        {0xffffffffu, "max", 1, 2},
        {0x10, "sixteen", 3, 4},
        {9, "nine", 5, 6},
    };
    BootInfoInput in = minimal_input();
    in.modules = mods;
    in.module_count = 3;
    auto fdt = build(in);
    std::vector<std::string> names = subnode_names(fdt, node(fdt, "/modules"));
    BOOST_CHECK((names == std::vector<std::string>{"module@ffffffff", "module@10", "module@9"}));
    BOOST_CHECK_EQUAL(str(fdt, node(fdt, "/modules/module@ffffffff"), "name"), "max");
    BOOST_CHECK_EQUAL(str(fdt, node(fdt, "/modules/module@10"), "name"), "sixteen");
}

BOOST_AUTO_TEST_CASE(invalid_inputs) {
    {
        BootInfoInput in = full_input();
        in.name = nullptr;
        BOOST_CHECK_EQUAL(build_error(in), Err::InvalidArgument);
    }
    {
        BootInfoInput in = full_input();
        in.name = "";
        BOOST_CHECK_EQUAL(build_error(in), Err::InvalidArgument);
    }
    {
        BootInfoInput in = full_input();
        in.bootargs = nullptr;
        BOOST_CHECK_EQUAL(build_error(in), Err::InvalidArgument);
    }
    {
        BootInfoModule mods[3] = {kModules[0], kModules[1], kModules[2]};
        mods[2].cmdline = nullptr;
        BootInfoInput in = full_input();
        in.modules = mods;
        BOOST_CHECK_EQUAL(build_error(in), Err::InvalidArgument);
    }
    {
        BootInfoInput in = full_input();
        in.modules = nullptr;
        in.module_count = 1;
        BOOST_CHECK_EQUAL(build_error(in), Err::InvalidArgument);
    }
    {
        Result<size_t> r = build_boot_info(nullptr, 4096, full_input());
        BOOST_REQUIRE(!r.ok());
        BOOST_CHECK_EQUAL(r.error(), Err::InvalidArgument);
    }
    // Invalid input wins over a too-small buffer: the error does not depend
    // on the buffer size.
    {
        char tiny[4];
        BootInfoInput in = full_input();
        in.name = "";
        Result<size_t> r = build_boot_info(tiny, sizeof tiny, in);
        BOOST_REQUIRE(!r.ok());
        BOOST_CHECK_EQUAL(r.error(), Err::InvalidArgument);
    }
}

BOOST_AUTO_TEST_CASE(module_count_limit) {
    std::vector<std::string> cmdlines;
    for (uint32_t i = 0; i <= kBootInfoMaxModules; ++i) cmdlines.push_back("mod" + std::to_string(i) + " x");
    std::vector<BootInfoModule> mods;
    for (uint32_t i = 0; i <= kBootInfoMaxModules; ++i)
        mods.push_back({i, cmdlines[i].c_str(), 0x1000000 + i * 0x1000ull, 0x1000});

    BootInfoInput in = minimal_input();
    in.modules = mods.data();
    in.module_count = kBootInfoMaxModules + 1;
    BOOST_CHECK_EQUAL(build_error(in), Err::Range);

    in.module_count = kBootInfoMaxModules; // exactly the limit is fine
    auto fdt = build(in);
    std::vector<std::string> names = subnode_names(fdt, node(fdt, "/modules"));
    BOOST_REQUIRE_EQUAL(names.size(), size_t(kBootInfoMaxModules));
    BOOST_CHECK_EQUAL(names.back(), "module@1f");
    BOOST_CHECK_EQUAL(str(fdt, node(fdt, "/modules/module@1f"), "name"), "mod31");
}

// Every size below the tree's size fails with NoMemory and leaves the guard
// bytes after buf_size untouched; the tree's size succeeds with the same
// bytes as a build into a large buffer.
BOOST_AUTO_TEST_CASE(buffer_too_small_never_overflows) {
    constexpr size_t kGuard = 64;
    constexpr unsigned char kPattern = 0xA5;
    for (const BootInfoInput& in : {full_input(), minimal_input()}) {
        const std::vector<char> ref = build(in);
        const size_t needed = ref.size();
        for (size_t size = 0; size <= needed; ++size) {
            BOOST_TEST_CONTEXT("buf_size " << size << " of " << needed) {
                std::vector<unsigned char> mem(size + kGuard, kPattern);
                Result<size_t> r = build_boot_info(mem.data(), size, in);
                if (size < needed) {
                    BOOST_REQUIRE(!r.ok());
                    BOOST_REQUIRE_EQUAL(r.error(), Err::NoMemory);
                } else {
                    BOOST_REQUIRE(r.ok());
                    BOOST_REQUIRE_EQUAL(*r, needed);
                    BOOST_REQUIRE(memcmp(mem.data(), ref.data(), needed) == 0);
                }
                bool guard_ok = true;
                for (size_t i = size; i < mem.size(); ++i) guard_ok &= mem[i] == kPattern;
                BOOST_REQUIRE_MESSAGE(guard_ok, "write past buf_size");
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(result_is_totalsize_and_fits) {
    BootInfoInput in = full_input();
    std::vector<char> buf(4096);
    Result<size_t> r = build_boot_info(buf.data(), buf.size(), in);
    BOOST_REQUIRE(r.ok());
    BOOST_CHECK_EQUAL(*r, size_t(fdt_totalsize(buf.data())));
    BOOST_CHECK_LE(*r, buf.size());
    BOOST_CHECK_EQUAL(fdt_check_full(buf.data(), *r), 0);
}

BOOST_AUTO_TEST_SUITE_END()
