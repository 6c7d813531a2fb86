// Tests for the device-tree boot configuration reader
// (hypervisor/domain/boot_config.*): the shipped .dts files compiled with dtc,
// and good/malformed blobs built at run time with libfdt's sequential-write API.
#include <boost/test/unit_test.hpp>

#include <libfdt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "domain/boot_config.hpp"
#include "err_print.hpp"

using namespace virtue;

namespace {

constexpr uint64_t MiB = 1ull << 20;
constexpr uint64_t GiB = 1ull << 30;

// Fake multiboot2 module list.
struct FakeModules final : ModuleLookup {
    std::vector<std::string> names{"hello", "spinner", "spinner2", "linux", "initrd"};
    bool find(const char* name, size_t len, ModuleRef& out) const override {
        std::string n(name, len);
        for (size_t i = 0; i < names.size(); ++i) {
            if (names[i] == n) {
                out.index = uint32_t(i);
                out.start = 0x1000000 + i * 0x100000;
                out.size = 0x1000 * (i + 1);
                return true;
            }
        }
        return false;
    }
};

std::string repo_root() {
    std::string f = __FILE__;
    const std::string tail = "tests/unit/boot_config_test.cpp";
    if (f.size() >= tail.size() && f.compare(f.size() - tail.size(), tail.size(), tail) == 0)
        return f.substr(0, f.size() - tail.size());
    return "";
}

// Compiles a .dts (path relative to the repo root) with dtc; returns the blob.
std::vector<char> compile_dts(const std::string& rel) {
    std::string out = "/tmp/virtue-bc-test-" + std::to_string(getpid()) + ".dtb";
    std::string cmd = "dtc -q -I dts -O dtb -o " + out + " " + repo_root() + rel;
    int rc = std::system(cmd.c_str());
    BOOST_REQUIRE_MESSAGE(rc == 0, "dtc failed: " << cmd);
    std::ifstream in(out, std::ios::binary);
    std::vector<char> blob((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    unlink(out.c_str());
    BOOST_REQUIRE(!blob.empty());
    return blob;
}

// Sequential-write device tree builder.
struct Fdt {
    std::vector<char> buf = std::vector<char>(1 << 16);
    Fdt() {
        BOOST_REQUIRE_EQUAL(fdt_create(buf.data(), int(buf.size())), 0);
        BOOST_REQUIRE_EQUAL(fdt_finish_reservemap(buf.data()), 0);
    }
    Fdt& begin(const char* name) {
        BOOST_REQUIRE_EQUAL(fdt_begin_node(buf.data(), name), 0);
        return *this;
    }
    Fdt& end() {
        BOOST_REQUIRE_EQUAL(fdt_end_node(buf.data()), 0);
        return *this;
    }
    Fdt& str(const char* name, const char* v) {
        BOOST_REQUIRE_EQUAL(fdt_property_string(buf.data(), name, v), 0);
        return *this;
    }
    Fdt& raw(const char* name, const void* v, int len) {
        BOOST_REQUIRE_EQUAL(fdt_property(buf.data(), name, v, len), 0);
        return *this;
    }
    Fdt& u32(const char* name, uint32_t v) {
        BOOST_REQUIRE_EQUAL(fdt_property_u32(buf.data(), name, v), 0);
        return *this;
    }
    Fdt& u64(const char* name, uint64_t v) {
        BOOST_REQUIRE_EQUAL(fdt_property_u64(buf.data(), name, v), 0);
        return *this;
    }
    std::vector<char> finish() {
        BOOST_REQUIRE_EQUAL(fdt_finish(buf.data()), 0);
        buf.resize(fdt_totalsize(buf.data()));
        return buf;
    }
};

// A valid domain node with optional overrides applied after the defaults
// (an override callback may also omit defaults via the flags).
struct DomOpts {
    const char* kind = "native";
    const char* module = "hello";
    uint32_t mib = 16;
    bool with_kind = true, with_module = true, with_memory = true;
};
void domain(Fdt& f, const char* name, const DomOpts& o = {},
            const std::function<void(Fdt&)>& extra = {}) {
    f.begin(name).str("compatible", "virtue,domain");
    if (o.with_kind) f.str("kind", o.kind);
    if (o.with_module) f.str("module", o.module);
    if (o.with_memory) f.u32("memory-mib", o.mib);
    if (extra) extra(f);
    f.end();
}

// Root + /domains around body.
std::vector<char> config(const std::function<void(Fdt&)>& body) {
    Fdt f;
    f.begin("").str("compatible", "virtue,boot-config").begin("domains");
    body(f);
    f.end().end();
    return f.finish();
}

struct Run {
    std::unique_ptr<BootConfig> cfg = std::make_unique<BootConfig>();
    Status st;
};
Run read(const std::vector<char>& blob, uint64_t free_ram = 64 * GiB) {
    FakeModules mods;
    Run r;
    // Exact-size heap copy so ASan catches any read past the end.
    std::unique_ptr<char[]> copy(new char[blob.size() ? blob.size() : 1]);
    if (!blob.empty()) memcpy(copy.get(), blob.data(), blob.size());
    r.st = read_boot_config(copy.get(), blob.size(), mods, free_ram, *r.cfg);
    return r;
}

const BootRejection* rejection_for(const BootConfig& c, const char* path) {
    for (size_t i = 0; i < c.stored_rejections(); ++i)
        if (strcmp(c.rejections[i].path, path) == 0) return &c.rejections[i];
    return nullptr;
}

// One domain "bad" alongside two good ones: bad must be rejected with err,
// the good ones accepted.
void expect_single_rejection(const DomOpts& o, const std::function<void(Fdt&)>& extra, Err err,
                             const char* msg_part, uint64_t free_ram = 64 * GiB) {
    auto blob = config([&](Fdt& f) {
        domain(f, "first");
        domain(f, "bad", o, extra);
        domain(f, "last", {.module = "spinner"});
    });
    Run r = read(blob, free_ram);
    BOOST_REQUIRE(r.st.ok());
    BOOST_CHECK_EQUAL(r.cfg->domain_count, 2u);
    BOOST_CHECK_EQUAL(std::string(r.cfg->domains[0].name), "first");
    BOOST_CHECK_EQUAL(std::string(r.cfg->domains[1].name), "last");
    BOOST_REQUIRE_EQUAL(r.cfg->rejection_count, 1u);
    const BootRejection& rej = r.cfg->rejections[0];
    BOOST_CHECK_EQUAL(std::string(rej.path), "/domains/bad");
    BOOST_CHECK_EQUAL(rej.err, err);
    BOOST_CHECK_MESSAGE(strstr(rej.message, msg_part) != nullptr,
                        "message '" << rej.message << "' lacks '" << msg_part << "'");
}

} // namespace

BOOST_AUTO_TEST_SUITE(boot_config)

BOOST_AUTO_TEST_CASE(default_dts_has_three_native_domains) {
    Run r = read(compile_dts("hypervisor/image/configs/default.dts"), 1 * GiB);
    BOOST_REQUIRE(r.st.ok());
    const BootConfig& c = *r.cfg;
    BOOST_CHECK_EQUAL(c.rejection_count, 0u);
    BOOST_REQUIRE_EQUAL(c.domain_count, 3u);
    const char* names[] = {"hello", "spinner", "spinner2"};
    for (size_t i = 0; i < 3; ++i) {
        BOOST_CHECK_EQUAL(std::string(c.domains[i].name), names[i]);
        BOOST_CHECK(c.domains[i].kind == BootDomainKind::Native);
        BOOST_CHECK_EQUAL(c.domains[i].memory_bytes, 16 * MiB);
        BOOST_CHECK_EQUAL(std::string(c.domains[i].path), std::string("/domains/") + names[i]);
    }
    BOOST_CHECK_EQUAL(c.domains[0].module.index, 0u);
    BOOST_CHECK_EQUAL(c.domains[1].module.index, 1u);
    BOOST_CHECK_EQUAL(c.domains[2].module.index, 2u);
    BOOST_CHECK_EQUAL(c.domains[0].privileges, uint32_t(kBootPrivControl));
    BOOST_CHECK(!c.domains[0].has_domain_id); // the control domain becomes domain 0
    BOOST_CHECK_EQUAL(std::string(c.domains[0].bootargs), "greeting from the device tree");
    BOOST_CHECK_EQUAL(c.domains[1].vcpus, 2u);
    BOOST_CHECK_EQUAL(c.domains[1].cap, 150u);
    BOOST_CHECK_EQUAL(c.memory_total, 48 * MiB);
}

BOOST_AUTO_TEST_CASE(good_dts_all_properties) {
    Run r = read(compile_dts("tests/unit/dts/good.dts"), 8 * GiB);
    BOOST_REQUIRE(r.st.ok());
    const BootConfig& c = *r.cfg;
    BOOST_CHECK_EQUAL(c.rejection_count, 0u);
    BOOST_REQUIRE_EQUAL(c.domain_count, 3u);
    const BootDomain& ctl = c.domains[0];
    BOOST_CHECK_EQUAL(std::string(ctl.name), "ctl"); // unit address stripped
    BOOST_CHECK_EQUAL(std::string(ctl.path), "/domains/ctl@0");
    BOOST_CHECK_EQUAL(ctl.memory_bytes, 4 * GiB);
    BOOST_CHECK_EQUAL(ctl.vcpus, 4u);
    BOOST_CHECK_EQUAL(ctl.weight, 1000u);
    BOOST_CHECK_EQUAL(ctl.cap, 400u);
    BOOST_CHECK_EQUAL(ctl.privileges, uint32_t(kBootPrivControl | kBootPrivHardware));
    BOOST_CHECK_EQUAL(std::string(ctl.bootargs), "console=hvc0 loglevel=debug");
    BOOST_CHECK(ctl.has_domain_id);
    BOOST_CHECK_EQUAL(ctl.domain_id, 0u);
    const BootDomain& pv = c.domains[1];
    BOOST_CHECK(pv.kind == BootDomainKind::XenPv);
    BOOST_CHECK(pv.has_ramdisk);
    BOOST_CHECK_EQUAL(pv.ramdisk.index, 4u); // the "initrd" module
    BOOST_CHECK(!ctl.has_ramdisk);
    BOOST_CHECK_EQUAL(std::string(boot_domain_kind_name(pv.kind)), "xen-pv");
    BOOST_CHECK_EQUAL(pv.memory_bytes, 512 * MiB);
    BOOST_CHECK_EQUAL(pv.vcpus, 1u);      // default
    BOOST_CHECK_EQUAL(pv.weight, 256u);   // default
    BOOST_CHECK_EQUAL(pv.cap, 0u);        // default
    BOOST_CHECK(!pv.has_domain_id);
    BOOST_CHECK_EQUAL(pv.module.index, 3u);
    const BootDomain& spin = c.domains[2];
    BOOST_CHECK_EQUAL(spin.vcpus, 64u);
    BOOST_CHECK_EQUAL(spin.weight, 65535u);
    BOOST_CHECK_EQUAL(spin.memory_bytes, 1 * MiB);
}

BOOST_AUTO_TEST_CASE(bad_dts_rejects_each_broken_domain_with_path) {
    Run r = read(compile_dts("tests/unit/dts/bad_domains.dts"), 1 * GiB);
    BOOST_REQUIRE(r.st.ok());
    const BootConfig& c = *r.cfg;
    BOOST_REQUIRE_EQUAL(c.domain_count, 1u);
    BOOST_CHECK_EQUAL(std::string(c.domains[0].name), "ok");
    struct {
        const char* path;
        Err err;
    } want[] = {
        {"/domains/no-module", Err::InvalidArgument},
        {"/domains/missing-module", Err::NotFound},
        {"/domains/zero-memory", Err::InvalidArgument},
        {"/domains/huge-memory", Err::NoMemory},
        {"/domains/ok@1", Err::Exists},
        {"/domains/dup-id", Err::Exists},
        {"/domains/bad-kind", Err::NotSupported},
        {"/domains/bad-vcpus", Err::Range},
        {"/domains/bad-length", Err::BadFormat},
        {"/domains/bad-privilege", Err::InvalidArgument},
        {"/domains/not-a-string", Err::BadFormat},
    };
    BOOST_CHECK_EQUAL(c.rejection_count, std::size(want));
    for (auto& w : want) {
        const BootRejection* rej = rejection_for(c, w.path);
        BOOST_REQUIRE_MESSAGE(rej, "no rejection for " << w.path);
        BOOST_CHECK_EQUAL(rej->err, w.err);
        BOOST_CHECK(strlen(rej->message) > 0);
    }
}

BOOST_AUTO_TEST_CASE(fatal_header_errors) {
    auto good = config([](Fdt& f) { domain(f, "a"); });
    {
        Run r = read({});
        BOOST_CHECK(!r.st.ok() && r.st.error() == Err::Truncated);
    }
    {
        FakeModules m;
        BootConfig* c = new BootConfig;
        BOOST_CHECK(read_boot_config(nullptr, 100, m, GiB, *c).error() == Err::Truncated);
        delete c;
    }
    {
        auto b = good;
        b[0] ^= 0xff;
        Run r = read(b);
        BOOST_CHECK(!r.st.ok() && r.st.error() == Err::BadFormat);
        BOOST_CHECK(strlen(r.cfg->fatal_message) > 0);
        BOOST_CHECK_EQUAL(r.cfg->domain_count, 0u);
    }
    {
        // totalsize claims more than the buffer holds.
        auto b = good;
        fdt_set_totalsize(b.data(), uint32_t(b.size() + 1));
        Run r = read(b);
        BOOST_CHECK(!r.st.ok() && r.st.error() == Err::Truncated);
    }
    {
        // Bad version.
        auto b = good;
        fdt_set_version(b.data(), 1);
        Run r = read(b);
        BOOST_CHECK(!r.st.ok() && r.st.error() == Err::BadFormat);
    }
    {
        // Structure block offset past the end.
        auto b = good;
        fdt_set_off_dt_struct(b.data(), uint32_t(b.size() - 4));
        Run r = read(b);
        BOOST_CHECK(!r.st.ok());
    }
    {
        // Larger buffer than totalsize is fine.
        auto b = good;
        b.resize(b.size() + 100, 0);
        Run r = read(b);
        BOOST_CHECK(r.st.ok());
        BOOST_CHECK_EQUAL(r.cfg->domain_count, 1u);
    }
}

BOOST_AUTO_TEST_CASE(every_truncation_is_safe) {
    auto good = compile_dts("tests/unit/dts/good.dts");
    for (size_t len = 0; len <= good.size(); ++len) {
        std::vector<char> b(good.begin(), good.begin() + long(len));
        Run r = read(b, 8 * GiB);
        if (len < good.size()) {
            BOOST_CHECK_MESSAGE(!r.st.ok(), "truncated to " << len << " accepted");
        } else {
            BOOST_CHECK(r.st.ok());
            BOOST_CHECK_EQUAL(r.cfg->domain_count, 3u);
        }
    }
    // Same bytes with totalsize patched down to every length: whatever the
    // outcome, no crash and no read outside the buffer (ASan).
    for (size_t len = sizeof(fdt_header); len < good.size(); ++len) {
        std::vector<char> b(good.begin(), good.begin() + long(len));
        fdt_set_totalsize(b.data(), uint32_t(len));
        Run r = read(b, 8 * GiB);
        if (r.st.ok()) BOOST_CHECK_LE(r.cfg->domain_count, 3u);
    }
}

BOOST_AUTO_TEST_CASE(every_byte_corruption_is_safe) {
    auto good = compile_dts("tests/unit/dts/bad_domains.dts");
    for (size_t i = 0; i < good.size(); ++i) {
        for (uint8_t x : {uint8_t(0x01), uint8_t(0x80), uint8_t(0xff)}) {
            auto b = good;
            b[i] = char(uint8_t(b[i]) ^ x);
            Run r = read(b, 1 * GiB);
            if (r.st.ok()) {
                BOOST_CHECK_LE(r.cfg->domain_count, kMaxBootDomains);
                for (size_t d = 0; d < r.cfg->domain_count; ++d)
                    BOOST_CHECK(strlen(r.cfg->domains[d].name) <= kBootNameMax);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(root_and_domains_node) {
    {
        Fdt f;
        f.begin("").str("compatible", "virtue,boot-config").end();
        Run r = read(f.finish());
        BOOST_CHECK(!r.st.ok() && r.st.error() == Err::NotFound);
        BOOST_CHECK_EQUAL(std::string(r.cfg->fatal_path), "/domains");
    }
    {
        Fdt f;
        f.begin("").str("compatible", "acme,other").begin("domains");
        domain(f, "a");
        f.end().end();
        Run r = read(f.finish());
        BOOST_CHECK(!r.st.ok() && r.st.error() == Err::BadFormat);
    }
    {
        Fdt f;
        f.begin("").begin("domains").end().end(); // no root compatible
        Run r = read(f.finish());
        BOOST_CHECK(!r.st.ok() && r.st.error() == Err::BadFormat);
    }
    {
        Run r = read(config([](Fdt&) {})); // empty /domains: fine, nothing to start
        BOOST_CHECK(r.st.ok());
        BOOST_CHECK_EQUAL(r.cfg->domain_count, 0u);
        BOOST_CHECK_EQUAL(r.cfg->rejection_count, 0u);
    }
}

BOOST_AUTO_TEST_CASE(per_domain_errors) {
    auto none = std::function<void(Fdt&)>{};
    expect_single_rejection({.with_module = false}, none, Err::InvalidArgument, "missing module");
    expect_single_rejection({.module = "nope"}, none, Err::NotFound, "module not found");
    expect_single_rejection({.module = ""}, none, Err::InvalidArgument, "empty module");
    expect_single_rejection({.with_kind = false}, none, Err::InvalidArgument, "missing kind");
    expect_single_rejection({.kind = "hvm"}, none, Err::NotSupported, "unknown kind");
    expect_single_rejection({.with_memory = false}, none, Err::InvalidArgument, "missing memory");
    expect_single_rejection({.mib = 0}, none, Err::InvalidArgument, "zero");
    expect_single_rejection({.mib = 1u << 31}, none, Err::NoMemory, "free RAM");
    expect_single_rejection({.with_memory = false}, [](Fdt& f) { f.u64("memory", 0); },
                            Err::InvalidArgument, "zero");
    expect_single_rejection({.with_memory = false}, [](Fdt& f) { f.u64("memory", 4097); },
                            Err::InvalidArgument, "4 KiB");
    expect_single_rejection({.with_memory = false}, [](Fdt& f) { f.u32("memory", 4096); },
                            Err::BadFormat, "two cells");
    expect_single_rejection({}, [](Fdt& f) { f.u64("memory", 4096); }, Err::InvalidArgument,
                            "both");
    expect_single_rejection({.with_memory = false}, [](Fdt& f) { f.u64("memory-mib", 1); },
                            Err::BadFormat, "one cell");
    expect_single_rejection({}, [](Fdt& f) { f.u32("vcpus", 0); }, Err::Range, "vcpus");
    expect_single_rejection({}, [](Fdt& f) { f.u32("vcpus", 65); }, Err::Range, "vcpus");
    expect_single_rejection({}, [](Fdt& f) { f.u64("vcpus", 1); }, Err::BadFormat, "vcpus");
    expect_single_rejection({}, [](Fdt& f) { f.u32("weight", 0); }, Err::Range, "weight");
    expect_single_rejection({}, [](Fdt& f) { f.u32("weight", 65536); }, Err::Range, "weight");
    expect_single_rejection({}, [](Fdt& f) { f.u32("cap", 101); }, Err::Range, "cap");
    expect_single_rejection({}, [](Fdt& f) { f.raw("cap", "\0\0", 2); }, Err::BadFormat, "cap");
    expect_single_rejection({}, [](Fdt& f) { f.u32("domain-id", 0x7ff0); }, Err::Range,
                            "domain-id");
    expect_single_rejection({}, [](Fdt& f) { f.raw("privileges", "control\0root", 13); },
                            Err::InvalidArgument, "unknown privilege");
    expect_single_rejection({}, [](Fdt& f) { f.raw("privileges", "control", 7); },
                            Err::BadFormat, "privileges");
    expect_single_rejection({.with_module = false}, [](Fdt& f) { f.raw("module", "hello", 5); },
                            Err::BadFormat, "module");
    expect_single_rejection({.with_module = false},
                            [](Fdt& f) { f.raw("module", "hel\0lo", 7); }, Err::BadFormat,
                            "module");
    expect_single_rejection({.with_kind = false}, [](Fdt& f) { f.raw("kind", "", 0); },
                            Err::BadFormat, "kind");
    expect_single_rejection({}, [](Fdt& f) { f.raw("bootargs", "abc", 3); }, Err::BadFormat,
                            "bootargs");
    std::string long_args(256, 'x'); // 257 bytes with NUL
    expect_single_rejection({}, [&](Fdt& f) { f.str("bootargs", long_args.c_str()); },
                            Err::Range, "bootargs too long");
    std::string long_mod(65, 'm');
    expect_single_rejection({.module = long_mod.c_str()}, none, Err::Range, "module name too long");
    // ramdisk: xen-pv only, a module that exists.
    expect_single_rejection({}, [](Fdt& f) { f.str("ramdisk", "initrd"); }, Err::InvalidArgument,
                            "only for xen-pv");
    expect_single_rejection({.kind = "xen-pv"}, [](Fdt& f) { f.str("ramdisk", "nope"); }, Err::NotFound,
                            "ramdisk module not found");
    expect_single_rejection({.kind = "xen-pv"}, [](Fdt& f) { f.str("ramdisk", ""); }, Err::InvalidArgument,
                            "empty ramdisk");
    expect_single_rejection({.kind = "xen-pv"}, [](Fdt& f) { f.raw("ramdisk", "initrd", 6); }, Err::BadFormat,
                            "ramdisk");
    expect_single_rejection({.kind = "xen-pv"}, [&](Fdt& f) { f.str("ramdisk", long_mod.c_str()); }, Err::Range,
                            "ramdisk module name too long");

    // Wrong compatible on a domain node.
    {
        auto blob = config([](Fdt& f) {
            domain(f, "first");
            f.begin("bad").str("compatible", "acme,thing").str("kind", "native")
                .str("module", "hello").u32("memory-mib", 1).end();
            f.begin("bad2").str("kind", "native").str("module", "hello")
                .u32("memory-mib", 1).end();
        });
        Run r = read(blob);
        BOOST_REQUIRE(r.st.ok());
        BOOST_CHECK_EQUAL(r.cfg->domain_count, 1u);
        BOOST_CHECK(rejection_for(*r.cfg, "/domains/bad"));
        BOOST_CHECK(rejection_for(*r.cfg, "/domains/bad2"));
    }
    // Boundary values accepted.
    {
        std::string args(255, 'y'); // exactly 256 bytes with NUL
        std::string mod(64, 'm');
        auto blob = config([&](Fdt& f) {
            domain(f, "edge", {.module = mod.c_str()}, [&](Fdt& g) {
                g.str("bootargs", args.c_str()).u32("vcpus", 2).u32("cap", 200)
                    .u32("domain-id", 0x7fef).u32("weight", 1);
                g.raw("privileges", "hardware\0hardware", 18);
            });
        });
        FakeModules m;
        m.names.push_back(mod);
        auto c = std::make_unique<BootConfig>();
        BOOST_REQUIRE(read_boot_config(blob.data(), blob.size(), m, GiB, *c).ok());
        BOOST_REQUIRE_EQUAL(c->domain_count, 1u);
        BOOST_CHECK_EQUAL(strlen(c->domains[0].bootargs), 255u);
        BOOST_CHECK_EQUAL(c->domains[0].privileges, uint32_t(kBootPrivHardware));
        BOOST_CHECK_EQUAL(c->domains[0].module.index, 5u);
    }
}

BOOST_AUTO_TEST_CASE(console_input_one_domain_that_can_read_it) {
    auto none = std::function<void(Fdt&)>{};
    // A native domain without the control privilege has no way to read it.
    expect_single_rejection({}, [](Fdt& f) { f.raw("console-input", "", 0); }, Err::InvalidArgument, "console-input");
    expect_single_rejection({.kind = "xen-pv"}, [](Fdt& f) { f.raw("console-input", "yes", 4); }, Err::BadFormat,
                            "console-input takes no value");
    // A PV guest or a control domain may have it; a second claim is refused.
    auto blob = config([](Fdt& f) {
        domain(f, "pv", {.kind = "xen-pv"}, [](Fdt& g) { g.raw("console-input", "", 0); });
        domain(f, "ctl", {}, [](Fdt& g) {
            g.raw("privileges", "control", 8);
            g.raw("console-input", "", 0);
        });
        domain(f, "plain");
    });
    Run r = read(blob);
    BOOST_REQUIRE(r.st.ok());
    BOOST_REQUIRE_EQUAL(r.cfg->domain_count, 2u);
    BOOST_CHECK(r.cfg->domains[0].console_input);
    BOOST_CHECK(r.cfg->domains[0].privileges & kBootPrivConsoleInput);
    BOOST_CHECK(!r.cfg->domains[1].console_input);
    const BootRejection* second = rejection_for(*r.cfg, "/domains/ctl");
    BOOST_REQUIRE(second);
    BOOST_CHECK_EQUAL(second->err, Err::Exists);
    (void)none;
}

BOOST_AUTO_TEST_CASE(names_ids_and_long_names) {
    auto blob = config([](Fdt& f) {
        domain(f, "a@1", {}, [](Fdt& g) { g.u32("domain-id", 5); });
        domain(f, "a@2");                                         // duplicate name
        domain(f, "b", {}, [](Fdt& g) { g.u32("domain-id", 5); }); // duplicate id
        domain(f, "c", {}, [](Fdt& g) { g.u32("domain-id", 6); });
        domain(f, std::string(32, 'n').c_str());                  // 32 chars: ok
        domain(f, std::string(33, 'l').c_str());                  // 33 chars: too long
        domain(f, std::string(200, 'p').c_str());                 // path > 128 bytes
    });
    Run r = read(blob);
    BOOST_REQUIRE(r.st.ok());
    const BootConfig& c = *r.cfg;
    BOOST_REQUIRE_EQUAL(c.domain_count, 3u);
    BOOST_CHECK_EQUAL(std::string(c.domains[0].name), "a");
    BOOST_CHECK_EQUAL(std::string(c.domains[1].name), "c");
    BOOST_CHECK_EQUAL(strlen(c.domains[2].name), 32u);
    BOOST_REQUIRE_EQUAL(c.rejection_count, 4u);
    BOOST_CHECK_EQUAL(std::string(c.rejections[0].path), "/domains/a@2");
    BOOST_CHECK(strstr(c.rejections[0].message, "duplicate domain name"));
    BOOST_CHECK_EQUAL(std::string(c.rejections[1].path), "/domains/b");
    BOOST_CHECK(strstr(c.rejections[1].message, "duplicate domain-id"));
    BOOST_CHECK(strstr(c.rejections[2].message, "name too long"));
    // Over-long path: truncated but still names the /domains parent.
    BOOST_CHECK_EQUAL(strlen(c.rejections[3].path), kBootPathMax - 1);
    BOOST_CHECK(strncmp(c.rejections[3].path, "/domains/ppp", 12) == 0);
}

BOOST_AUTO_TEST_CASE(capacity_33_domains) {
    auto blob = config([](Fdt& f) {
        for (int i = 0; i < 33; ++i) domain(f, ("d" + std::to_string(i)).c_str(), {.mib = 1});
        // Many broken ones: rejection storage is bounded, the count is not.
        for (int i = 0; i < 40; ++i) domain(f, ("x" + std::to_string(i)).c_str(), {.kind = "?"});
    });
    Run r = read(blob);
    BOOST_REQUIRE(r.st.ok());
    BOOST_CHECK_EQUAL(r.cfg->domain_count, kMaxBootDomains);
    BOOST_CHECK_EQUAL(std::string(r.cfg->domains[31].name), "d31");
    BOOST_CHECK_EQUAL(r.cfg->rejection_count, 41u);
    BOOST_CHECK_EQUAL(r.cfg->stored_rejections(), kMaxBootRejections);
    BOOST_CHECK_EQUAL(std::string(r.cfg->rejections[0].path), "/domains/d32");
    BOOST_CHECK_EQUAL(r.cfg->rejections[0].err, Err::Range);
}

BOOST_AUTO_TEST_CASE(memory_exhaustion_across_domains) {
    auto blob = config([](Fdt& f) {
        domain(f, "a", {.mib = 40});
        domain(f, "b", {.mib = 40}); // 80 > 64: rejected
        domain(f, "c", {.mib = 24}); // exactly fills what is left
        domain(f, "d", {.mib = 1});  // nothing left
    });
    Run r = read(blob, 64 * MiB);
    BOOST_REQUIRE(r.st.ok());
    const BootConfig& c = *r.cfg;
    BOOST_REQUIRE_EQUAL(c.domain_count, 2u);
    BOOST_CHECK_EQUAL(std::string(c.domains[0].name), "a");
    BOOST_CHECK_EQUAL(std::string(c.domains[1].name), "c");
    BOOST_CHECK_EQUAL(c.memory_total, 64 * MiB);
    BOOST_REQUIRE_EQUAL(c.rejection_count, 2u);
    BOOST_CHECK_EQUAL(std::string(c.rejections[0].path), "/domains/b");
    BOOST_CHECK_EQUAL(c.rejections[0].err, Err::NoMemory);
    BOOST_CHECK_EQUAL(std::string(c.rejections[1].path), "/domains/d");
}

BOOST_AUTO_TEST_SUITE_END()
