// Tests for the multiboot2 MBI parser and the usable-RAM computation
// (hypervisor/boot/multiboot2.*, hypervisor/boot/usable_ram.*).
#include <boost/test/unit_test.hpp>

#include <stdint.h>
#include <string.h>

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "boot/multiboot2.hpp"
#include "boot/multiboot2_abi.hpp"
#include "boot/usable_ram.hpp"

using namespace virtue;

namespace virtue {
// Boost.Test printers (static: cannot clash with other test files).
[[maybe_unused]] static std::ostream& operator<<(std::ostream& o, Err e) {
    return o << err_name(e);
}
[[maybe_unused]] static std::ostream& operator<<(std::ostream& o, const Range& r) {
    return o << "[" << std::hex << r.start << "," << r.end << ")" << std::dec;
}
[[maybe_unused]] static std::ostream& operator<<(std::ostream& o, RsdpKind k) {
    return o << static_cast<int>(k);
}
} // namespace virtue

namespace {

struct Entry {
    uint64_t base;
    uint64_t length;
    uint32_t type;
};

// Builds MBIs the way GRUB2 lays them out; every knob can be made wrong.
class MbiBuilder {
  public:
    MbiBuilder() { bytes_.resize(8, 0); }

    // A tag with a payload. `size_field` overrides the size written in the
    // header; `pad` = false packs the next tag without 8-byte alignment.
    MbiBuilder& tag(uint32_t type, const std::vector<uint8_t>& payload, bool pad = true,
                    int64_t size_field = -1) {
        uint32_t size = size_field >= 0 ? uint32_t(size_field) : uint32_t(8 + payload.size());
        put32(type);
        put32(size);
        bytes_.insert(bytes_.end(), payload.begin(), payload.end());
        if (pad) {
            while (bytes_.size() % 8) bytes_.push_back(0);
        }
        return *this;
    }
    MbiBuilder& string_tag(uint32_t type, const std::string& s) {
        std::vector<uint8_t> p(s.begin(), s.end());
        p.push_back(0);
        return tag(type, p);
    }
    MbiBuilder& cmdline(const std::string& s) { return string_tag(mb2::TAG_CMDLINE, s); }
    MbiBuilder& loader(const std::string& s) { return string_tag(mb2::TAG_BOOTLOADER_NAME, s); }
    MbiBuilder& module(uint32_t start, uint32_t end, const std::string& cmd, bool nul = true) {
        std::vector<uint8_t> p;
        append32(p, start);
        append32(p, end);
        p.insert(p.end(), cmd.begin(), cmd.end());
        if (nul) p.push_back(0);
        return tag(mb2::TAG_MODULE, p);
    }
    MbiBuilder& meminfo(uint32_t lower, uint32_t upper) {
        std::vector<uint8_t> p;
        append32(p, lower);
        append32(p, upper);
        return tag(mb2::TAG_BASIC_MEMINFO, p);
    }
    MbiBuilder& mmap(const std::vector<Entry>& entries, uint32_t entry_size = 24,
                     size_t extra_bytes = 0) {
        std::vector<uint8_t> p;
        append32(p, entry_size);
        append32(p, 0); // entry_version
        for (const Entry& e : entries) {
            size_t at = p.size();
            append64(p, e.base);
            append64(p, e.length);
            append32(p, e.type);
            append32(p, 0);
            // Entries are entry_size apart (shorter sizes truncate them).
            p.resize(at + entry_size, 0);
        }
        p.resize(p.size() + extra_bytes, 0);
        return tag(mb2::TAG_MMAP, p);
    }
    MbiBuilder& rsdp(uint32_t type, size_t len, uint8_t fill) {
        std::vector<uint8_t> p(len, fill);
        memcpy(p.data(), "RSD PTR ", 8);
        return tag(type, p);
    }
    MbiBuilder& load_base(uint32_t addr) {
        std::vector<uint8_t> p;
        append32(p, addr);
        return tag(mb2::TAG_LOAD_BASE_ADDR, p);
    }
    MbiBuilder& end() { return tag(mb2::TAG_END, {}); }

    // Writes total_size (the real size unless overridden) and returns the bytes.
    std::vector<uint8_t> build(int64_t total_size = -1) const {
        std::vector<uint8_t> out = bytes_;
        uint32_t t = total_size >= 0 ? uint32_t(total_size) : uint32_t(out.size());
        memcpy(out.data(), &t, 4);
        return out;
    }

  private:
    static void append32(std::vector<uint8_t>& v, uint32_t x) {
        for (int i = 0; i < 4; i++) v.push_back(uint8_t(x >> (8 * i)));
    }
    static void append64(std::vector<uint8_t>& v, uint64_t x) {
        for (int i = 0; i < 8; i++) v.push_back(uint8_t(x >> (8 * i)));
    }
    void put32(uint32_t x) { append32(bytes_, x); }
    std::vector<uint8_t> bytes_;
};

// The memory map SeaBIOS reports to GRUB for QEMU -m 256.
const std::vector<Entry> QEMU_256M_MAP = {
    {0x0, 0x9fc00, 1},
    {0x9fc00, 0x400, 2},
    {0xf0000, 0x10000, 2},
    {0x100000, 0xfee0000, 1},
    {0xffe0000, 0x20000, 2},
    {0xfffc0000, 0x40000, 2},
};

constexpr uint64_t MBI_PHYS = 0x1126000;
constexpr Range IMAGE{0x200000, 0x380000};

const char* const CMDLINE = "console=com1 com1=115200,8n1 loglvl=info";
const char* const LOADER = "GRUB 2.06-13+deb12u1";

// What GRUB 2.06 hands over under QEMU -m 256 with two modules (tag order
// as GRUB writes it: cmdline, name, modules, mmap, meminfo, bootdev, ACPI).
std::vector<uint8_t> realistic_mbi() {
    return MbiBuilder()
        .cmdline(CMDLINE)
        .loader(LOADER)
        .module(0x381000, 0x3812f4, "domains.dtb")
        .module(0x382000, 0x1125a40, "vmlinuz-6.1.0-27-cloud-amd64 console=hvc0")
        .mmap(QEMU_256M_MAP)
        .meminfo(639, 260992)
        .tag(mb2::TAG_BOOTDEV, {0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
        .rsdp(mb2::TAG_ACPI_OLD, 20, 0xa5)
        .end()
        .build();
}

// Parses from an exactly sized heap copy, so ASan catches any over-read.
// The copy lives until the next parse: BootInfo strings point into it.
Status parse(const std::vector<uint8_t>& mbi, BootInfo& info, size_t available = SIZE_MAX,
             uint64_t phys = MBI_PHYS) {
    static std::unique_ptr<uint8_t[]> copy;
    size_t n = available == SIZE_MAX ? mbi.size() : available;
    copy.reset(new uint8_t[n ? n : 1]);
    memcpy(copy.get(), mbi.data(), std::min(n, mbi.size()));
    return parse_multiboot2(copy.get(), n, phys, info);
}

bool has_warning(const BootInfo& info, const char* text, uint64_t a, uint64_t b) {
    for (size_t i = 0; i < info.warnings.count; i++) {
        const BootWarning& w = info.warnings.items[i];
        if (strstr(w.what, text) && w.a == a && w.b == b) return true;
    }
    return false;
}

bool has_warning_text(const BootInfo& info, const char* text, uint64_t a) {
    for (size_t i = 0; i < info.warnings.count; i++) {
        if (strstr(info.warnings.items[i].what, text) && info.warnings.items[i].a == a) return true;
    }
    return false;
}

std::string str(const BootString& s) { return std::string(s.ptr, s.len); }

std::vector<Range> ranges(const UsableRam& u) {
    return std::vector<Range>(u.ranges.begin(), u.ranges.end());
}

std::unique_ptr<BootInfo> new_info() { return std::make_unique<BootInfo>(); }

} // namespace

BOOST_AUTO_TEST_SUITE(multiboot2)

BOOST_AUTO_TEST_CASE(realistic_grub_mbi) {
    auto mbi = realistic_mbi();
    auto info = new_info();
    BOOST_REQUIRE(parse(mbi, *info).ok());

    BOOST_TEST(info->warnings.count == 0u);
    BOOST_TEST(info->mbi_start.raw() == MBI_PHYS);
    BOOST_TEST(info->mbi_end.raw() == MBI_PHYS + mbi.size());
    BOOST_TEST(str(info->cmdline) == CMDLINE);
    BOOST_TEST(info->cmdline.ptr[info->cmdline.len] == '\0');
    BOOST_TEST(str(info->bootloader_name) == LOADER);

    BOOST_REQUIRE(info->module_count == 2u);
    BOOST_TEST(info->modules[0].start.raw() == 0x381000u);
    BOOST_TEST(info->modules[0].end.raw() == 0x3812f4u);
    BOOST_TEST(str(info->modules[0].cmdline) == "domains.dtb");
    BOOST_TEST(info->modules[1].start.raw() == 0x382000u);
    BOOST_TEST(info->modules[1].end.raw() == 0x1125a40u);
    BOOST_TEST(str(info->modules[1].cmdline) == "vmlinuz-6.1.0-27-cloud-amd64 console=hvc0");

    BOOST_TEST(info->has_memory_map);
    BOOST_REQUIRE(info->memory_map_count == QEMU_256M_MAP.size());
    for (size_t i = 0; i < QEMU_256M_MAP.size(); i++) {
        BOOST_TEST(info->memory_map[i].base == QEMU_256M_MAP[i].base);
        BOOST_TEST(info->memory_map[i].length == QEMU_256M_MAP[i].length);
        BOOST_TEST(info->memory_map[i].type == QEMU_256M_MAP[i].type);
    }
    BOOST_TEST(info->has_basic_meminfo);
    BOOST_TEST(info->mem_lower_kib == 639u);
    BOOST_TEST(info->mem_upper_kib == 260992u);

    BOOST_TEST(info->rsdp.kind == RsdpKind::V1);
    BOOST_TEST(info->rsdp.length == 20u);
    BOOST_TEST(memcmp(info->rsdp.bytes, "RSD PTR ", 8) == 0);
    BOOST_TEST(info->rsdp.bytes[19] == 0xa5);
    BOOST_TEST(info->rsdp.bytes[20] == 0); // nothing copied past v1

    BOOST_TEST(!info->has_load_base);
}

BOOST_AUTO_TEST_CASE(realistic_usable_ram) {
    auto info = new_info();
    BOOST_REQUIRE(parse(realistic_mbi(), *info).ok());
    BootReserved res = boot_reserved_ranges(*info, IMAGE);
    BOOST_REQUIRE(res.count == 5u);
    auto u = std::make_unique<UsableRam>();
    BOOST_REQUIRE(compute_usable_ram(info->memory_map, info->memory_map_count, res.items,
                                     res.count, *u)
                      .ok());
    BOOST_TEST(u->map_available_bytes == 0x9fc00u + 0xfee0000u);
    // Low MiB gone; image, modules (rounded out) and the MBI cut holes.
    std::vector<Range> want = {
        {0x100000, 0x200000}, {0x380000, 0x381000}, {0x1127000, 0xffe0000}};
    BOOST_TEST(ranges(*u) == want);
    BOOST_TEST(u->usable_bytes == 0x100000u + 0x1000u + (0xffe0000u - 0x1127000u));
}

BOOST_AUTO_TEST_CASE(truncated_at_every_offset) {
    auto mbi = realistic_mbi();
    auto info = new_info();
    for (size_t n = 0; n < mbi.size(); n++) {
        // The caller can read only n bytes: total_size exceeds that.
        Status st = parse(mbi, *info, n);
        BOOST_TEST_REQUIRE(!st.ok(), "n=" << n);
        BOOST_TEST(st.error() == Err::Truncated);
        BOOST_TEST(info->module_count == 0u); // cleared on error
        // total_size agrees with the cut: the end tag is missing or cut.
        auto cut = mbi;
        uint32_t t = uint32_t(n);
        memcpy(cut.data(), &t, 4);
        cut.resize(std::max<size_t>(n, 4));
        st = parse(cut, *info, n);
        BOOST_TEST_REQUIRE(!st.ok(), "n=" << n);
        BOOST_TEST((st.error() == Err::Truncated || st.error() == Err::BadFormat));
    }
}

BOOST_AUTO_TEST_CASE(total_size_lies) {
    auto good = realistic_mbi();
    auto info = new_info();
    auto with_total = [&](uint32_t t) {
        auto v = good;
        memcpy(v.data(), &t, 4);
        return v;
    };
    BOOST_TEST(parse(with_total(0), *info).error() == Err::BadFormat);
    BOOST_TEST(parse(with_total(7), *info).error() == Err::BadFormat);
    BOOST_TEST(parse(with_total(8), *info).error() == Err::BadFormat); // no end tag
    BOOST_TEST(parse(with_total(uint32_t(good.size() + 8)), *info).error() == Err::Truncated);
    BOOST_TEST(parse(with_total(0xffffffff), *info).error() == Err::Truncated);
    // Larger than needed but within what the caller can read: bytes after
    // the end tag are ignored.
    auto padded = good;
    padded.resize(good.size() + 64, 0xee);
    uint32_t t = uint32_t(padded.size());
    memcpy(padded.data(), &t, 4);
    BOOST_TEST(parse(padded, *info).ok());
    BOOST_TEST(info->module_count == 2u);
    // More readable bytes than total_size is fine too.
    BOOST_TEST(parse(good, *info, good.size() + 100).ok());
}

BOOST_AUTO_TEST_CASE(bad_pointer_and_address) {
    auto mbi = realistic_mbi();
    auto info = new_info();
    BOOST_TEST(parse_multiboot2(nullptr, 100, MBI_PHYS, *info).error() == Err::InvalidArgument);
    BOOST_TEST(parse(mbi, *info, SIZE_MAX, MBI_PHYS + 4).error() == Err::BadFormat);
    BOOST_TEST(parse(mbi, *info, SIZE_MAX, UINT64_MAX - 7).error() == Err::Range);
    BOOST_TEST(parse(mbi, *info, 7).error() == Err::Truncated);
}

BOOST_AUTO_TEST_CASE(misaligned_tag) {
    // A 13-byte cmdline tag followed by the end tag without padding: the
    // parser looks at offset 24, where the end tag is not.
    auto mbi = MbiBuilder().tag(mb2::TAG_CMDLINE, {'a', ' ', 'b', 'c', 0}, false).tag(0, {}, false).build();
    BOOST_REQUIRE(mbi.size() == 29u);
    auto info = new_info();
    Status st = parse(mbi, *info);
    BOOST_TEST(!st.ok());
    BOOST_TEST(st.error() == Err::Truncated);
}

BOOST_AUTO_TEST_CASE(bad_tag_sizes) {
    auto info = new_info();
    for (uint32_t size : {0u, 4u, 7u}) {
        auto mbi = MbiBuilder().tag(99, {}, true, size).end().build();
        BOOST_TEST(parse(mbi, *info).error() == Err::BadFormat, "size=" << size);
    }
    for (uint32_t size : {0xfffffff8u, 0xffffffffu}) {
        auto mbi = MbiBuilder().tag(99, {}, true, size).end().build();
        BOOST_TEST(parse(mbi, *info).error() == Err::Truncated, "size=" << size);
    }
    // One byte past total_size.
    auto mbi = MbiBuilder().cmdline("abc").end().build();
    uint32_t sz = uint32_t(mbi.size() - 8 + 1); // cmdline tag claims up to total+1
    memcpy(mbi.data() + 12, &sz, 4);
    BOOST_TEST(parse(mbi, *info).error() == Err::Truncated);
}

BOOST_AUTO_TEST_CASE(end_tag_rules) {
    auto info = new_info();
    BOOST_TEST(parse(MbiBuilder().cmdline("x").build(), *info).error() == Err::BadFormat);
    BOOST_TEST(parse(MbiBuilder().tag(0, {0, 0, 0, 0, 0, 0, 0, 0}).build(), *info).error() ==
               Err::BadFormat); // end tag of size 16
    BOOST_TEST(parse(MbiBuilder().end().build(), *info).ok()); // minimal MBI
    BOOST_TEST(!info->cmdline.present());
    BOOST_TEST(!info->has_memory_map);
    BOOST_TEST(info->rsdp.kind == RsdpKind::None);
    BOOST_TEST(info->mbi_end.raw() == MBI_PHYS + 16);
    // A structural error after good tags still fails and fills nothing.
    auto bad = MbiBuilder().cmdline("console=com1").module(0x400000, 0x401000, "m").build();
    BOOST_TEST(parse(bad, *info).error() == Err::BadFormat);
    BOOST_TEST(!info->cmdline.present());
    BOOST_TEST(info->module_count == 0u);
}

BOOST_AUTO_TEST_CASE(unknown_tags_ignored) {
    auto mbi = MbiBuilder()
                   .tag(mb2::TAG_FRAMEBUFFER, std::vector<uint8_t>(24, 0x11))
                   .tag(0xdead, std::vector<uint8_t>(3, 0x22))
                   .cmdline("noreboot")
                   .end()
                   .build();
    auto info = new_info();
    BOOST_REQUIRE(parse(mbi, *info).ok());
    BOOST_TEST(str(info->cmdline) == "noreboot");
    BOOST_TEST(info->warnings.count == 0u);
}

BOOST_AUTO_TEST_CASE(strings_must_be_terminated_in_their_tag) {
    // "abc" without NUL, followed by padding zeros outside the tag.
    auto mbi = MbiBuilder().tag(mb2::TAG_CMDLINE, {'a', 'b', 'c'}).loader("").end().build();
    auto info = new_info();
    BOOST_REQUIRE(parse(mbi, *info).ok());
    BOOST_TEST(!info->cmdline.present());
    BOOST_TEST(has_warning(*info, "not NUL-terminated", mb2::TAG_CMDLINE, 8));
    BOOST_TEST(info->bootloader_name.present());
    BOOST_TEST(info->bootloader_name.len == 0u);
    // Empty payload: no room for a NUL at all.
    mbi = MbiBuilder().tag(mb2::TAG_BOOTLOADER_NAME, {}).end().build();
    BOOST_REQUIRE(parse(mbi, *info).ok());
    BOOST_TEST(!info->bootloader_name.present());
    BOOST_TEST(info->warnings.count == 1u);
}

BOOST_AUTO_TEST_CASE(duplicate_tags_keep_the_first) {
    auto mbi = MbiBuilder()
                   .cmdline("first")
                   .cmdline("second")
                   .meminfo(1, 2)
                   .meminfo(3, 4)
                   .mmap({{0x100000, 0x1000, 1}})
                   .mmap({{0x200000, 0x1000, 1}})
                   .load_base(0x200000)
                   .load_base(0x400000)
                   .end()
                   .build();
    auto info = new_info();
    BOOST_REQUIRE(parse(mbi, *info).ok());
    BOOST_TEST(str(info->cmdline) == "first");
    BOOST_TEST(info->mem_lower_kib == 1u);
    BOOST_REQUIRE(info->memory_map_count == 1u);
    BOOST_TEST(info->memory_map[0].base == 0x100000u);
    BOOST_TEST(info->has_load_base);
    BOOST_TEST(info->load_base.raw() == 0x200000u);
    BOOST_TEST(info->warnings.count == 4u);
    BOOST_TEST(has_warning(*info, "duplicate", mb2::TAG_CMDLINE, 24));
}

BOOST_AUTO_TEST_CASE(bad_modules_are_skipped) {
    auto mbi = MbiBuilder()
                   .module(0x400000, 0x400000, "empty")
                   .module(0x500000, 0x4ff000, "backwards")
                   .module(0x600000, 0x601000, "unterminated", false)
                   .module(0x700000, 0x710000, "good")
                   .module(0x70f000, 0x720000, "overlaps good")
                   .module(0x6ff000, 0x700001, "overlaps good by one byte")
                   .module(0x710000, 0x711000, "adjacent to good")
                   .module(MBI_PHYS - 0x1000, MBI_PHYS + 1, "overlaps the MBI")
                   .tag(mb2::TAG_MODULE, {0, 0, 0x80, 0}) // too small
                   .end()
                   .build();
    auto info = new_info();
    BOOST_REQUIRE(parse(mbi, *info).ok());
    BOOST_REQUIRE(info->module_count == 2u);
    BOOST_TEST(str(info->modules[0].cmdline) == "good");
    BOOST_TEST(str(info->modules[1].cmdline) == "adjacent to good");
    BOOST_TEST(has_warning(*info, "zero-length", 0x400000, 0x400000));
    BOOST_TEST(has_warning(*info, "ends before it starts", 0x500000, 0x4ff000));
    BOOST_TEST(has_warning(*info, "not NUL-terminated", 0x600000, 0x601000));
    BOOST_TEST(has_warning(*info, "overlaps an earlier module", 0x70f000, 0x720000));
    BOOST_TEST(has_warning(*info, "overlaps an earlier module", 0x6ff000, 0x700001));
    BOOST_TEST(has_warning(*info, "overlaps the boot information", MBI_PHYS - 0x1000,
                           MBI_PHYS + 1));
    BOOST_TEST(has_warning_text(*info, "module tag too small", 12));
    BOOST_TEST(info->warnings.count == 7u);
}

BOOST_AUTO_TEST_CASE(too_many_modules) {
    MbiBuilder b;
    for (uint32_t i = 0; i < MB2_MAX_MODULES + 3; i++) b.module(0x400000 + i * 0x1000, 0x400800 + i * 0x1000, "m");
    auto info = new_info();
    BOOST_REQUIRE(parse(b.end().build(), *info).ok());
    BOOST_TEST(info->module_count == MB2_MAX_MODULES);
    BOOST_TEST(info->warnings.count == 3u);
    BOOST_TEST(has_warning(*info, "too many modules", 0x400000 + MB2_MAX_MODULES * 0x1000,
                           MB2_MAX_MODULES));
}

BOOST_AUTO_TEST_CASE(memory_map_entry_sizes) {
    auto info = new_info();
    const std::vector<Entry> two = {{0x100000, 0x100000, 1}, {0x200000, 0x1000, 2}};
    for (uint32_t es : {0u, 8u, 20u, 28u, 30u}) {
        BOOST_REQUIRE(parse(MbiBuilder().mmap(two, es).end().build(), *info).ok());
        BOOST_TEST(!info->has_memory_map, "entry_size=" << es);
        BOOST_TEST(info->memory_map_count == 0u);
        BOOST_TEST(has_warning(*info, "entry_size invalid", es, 8));
    }
    // Larger, 8-aligned entries are the spec's extension path: honoured.
    for (uint32_t es : {32u, 4000u}) {
        BOOST_REQUIRE(parse(MbiBuilder().mmap(two, es).end().build(), *info).ok());
        BOOST_REQUIRE(info->memory_map_count == 2u);
        BOOST_TEST(info->memory_map[1].base == 0x200000u);
        BOOST_TEST(info->memory_map[1].type == 2u);
        BOOST_TEST(info->warnings.count == 0u);
    }
    // entry_size 4000 with a body shorter than one entry: no entries.
    auto tiny = MbiBuilder().mmap({}, 4000, 48).end().build();
    BOOST_REQUIRE(parse(tiny, *info).ok());
    BOOST_TEST(info->has_memory_map);
    BOOST_TEST(info->memory_map_count == 0u);
    BOOST_TEST(has_warning(*info, "partial entry", 48, 4000));
    // A trailing partial entry is reported and ignored.
    BOOST_REQUIRE(parse(MbiBuilder().mmap(two, 24, 16).end().build(), *info).ok());
    BOOST_TEST(info->memory_map_count == 2u);
    BOOST_TEST(has_warning(*info, "partial entry", 16, 24));
    // Tag too small to hold entry_size/entry_version.
    BOOST_REQUIRE(parse(MbiBuilder().tag(mb2::TAG_MMAP, {24, 0, 0, 0}).end().build(), *info).ok());
    BOOST_TEST(has_warning(*info, "memory map tag too small", 12, 8));
}

BOOST_AUTO_TEST_CASE(memory_map_capacity_and_odd_entries) {
    std::vector<Entry> many;
    for (uint64_t i = 0; i < MB2_MAX_MEMORY_REGIONS + 5; i++) {
        many.push_back({i * 0x2000, 0x1000, 1});
    }
    many.insert(many.begin(), Entry{0x5000000, 0, 1}); // zero length: skipped silently
    auto info = new_info();
    BOOST_REQUIRE(parse(MbiBuilder().mmap(many).end().build(), *info).ok());
    BOOST_TEST(info->memory_map_count == MB2_MAX_MEMORY_REGIONS);
    BOOST_TEST(info->memory_map[0].base == 0u);
    BOOST_TEST(has_warning(*info, "too many memory map entries", 5, MB2_MAX_MEMORY_REGIONS));
    BOOST_TEST(info->warnings.count == 1u);

    // A region wrapping past 2^64 is kept, flagged, and clamped later.
    auto wrap = MbiBuilder().mmap({{0xfffffffffffff000, 0x2000, 1}}).end().build();
    BOOST_REQUIRE(parse(wrap, *info).ok());
    BOOST_TEST(has_warning(*info, "wraps", 0xfffffffffffff000, 0x2000));
    auto u = std::make_unique<UsableRam>();
    BOOST_REQUIRE(compute_usable_ram(info->memory_map, info->memory_map_count, nullptr, 0, *u).ok());
    BOOST_TEST(u->map_available_bytes == 0xfffu);
    BOOST_TEST(u->usable_bytes == 0u); // no whole page below 2^64 - 1
}

BOOST_AUTO_TEST_CASE(rsdp_prefers_v2) {
    auto info = new_info();
    auto both = MbiBuilder().rsdp(mb2::TAG_ACPI_OLD, 20, 1).rsdp(mb2::TAG_ACPI_NEW, 36, 2).end();
    BOOST_REQUIRE(parse(both.build(), *info).ok());
    BOOST_TEST(info->rsdp.kind == RsdpKind::V2);
    BOOST_TEST(info->rsdp.length == 36u);
    BOOST_TEST(info->rsdp.bytes[35] == 2);
    auto reversed = MbiBuilder().rsdp(mb2::TAG_ACPI_NEW, 36, 2).rsdp(mb2::TAG_ACPI_OLD, 20, 1).end();
    BOOST_REQUIRE(parse(reversed.build(), *info).ok());
    BOOST_TEST(info->rsdp.kind == RsdpKind::V2);
    BOOST_TEST(info->rsdp.bytes[10] == 2);
    BOOST_TEST(info->warnings.count == 0u);
    // Short tags are reported and skipped; a good v1 still counts.
    auto short_v2 = MbiBuilder().rsdp(mb2::TAG_ACPI_NEW, 20, 2).rsdp(mb2::TAG_ACPI_OLD, 20, 1).end();
    BOOST_REQUIRE(parse(short_v2.build(), *info).ok());
    BOOST_TEST(info->rsdp.kind == RsdpKind::V1);
    BOOST_TEST(info->rsdp.bytes[19] == 1);
    BOOST_TEST(has_warning(*info, "RSDP tag too small", mb2::TAG_ACPI_NEW, 28));
    auto short_v1 = MbiBuilder().rsdp(mb2::TAG_ACPI_OLD, 19, 1).end();
    BOOST_REQUIRE(parse(short_v1.build(), *info).ok());
    BOOST_TEST(info->rsdp.kind == RsdpKind::None);
    // A v2 tag longer than 36 bytes: only the 36-byte structure is kept.
    auto long_v2 = MbiBuilder().rsdp(mb2::TAG_ACPI_NEW, 64, 3).end();
    BOOST_REQUIRE(parse(long_v2.build(), *info).ok());
    BOOST_TEST(info->rsdp.length == 36u);
}

BOOST_AUTO_TEST_CASE(load_base) {
    auto info = new_info();
    BOOST_REQUIRE(parse(MbiBuilder().load_base(0x200000).end().build(), *info).ok());
    BOOST_TEST(info->has_load_base);
    BOOST_TEST(info->load_base.raw() == 0x200000u);
    BOOST_REQUIRE(parse(MbiBuilder().tag(mb2::TAG_LOAD_BASE_ADDR, {}).end().build(), *info).ok());
    BOOST_TEST(!info->has_load_base);
    BOOST_TEST(has_warning(*info, "load base tag too small", 8, 8));
}

BOOST_AUTO_TEST_CASE(warning_overflow_is_counted) {
    MbiBuilder b;
    for (int i = 0; i < 20; i++) b.module(0x400000, 0x400000, "empty");
    auto info = new_info();
    BOOST_REQUIRE(parse(b.end().build(), *info).ok());
    BOOST_TEST(info->warnings.count == MB2_MAX_WARNINGS);
    BOOST_TEST(info->warnings.dropped == 20u - MB2_MAX_WARNINGS);
}

// Random corruption: never a crash or an over-read (ASan), and whatever is
// accepted satisfies the documented invariants.
BOOST_AUTO_TEST_CASE(random_corruption) {
    auto good = realistic_mbi();
    auto info = new_info();
    uint64_t seed = 0x243f6a8885a308d3ull;
    auto next = [&seed]() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        return seed;
    };
    int accepted = 0;
    for (int round = 0; round < 3000; round++) {
        auto v = good;
        int flips = 1 + int(next() % 4);
        for (int f = 0; f < flips; f++) v[next() % v.size()] = uint8_t(next());
        if (!parse(v, *info).ok()) continue;
        accepted++;
        BOOST_REQUIRE(info->mbi_end.raw() - info->mbi_start.raw() <= v.size());
        BOOST_REQUIRE(info->module_count <= MB2_MAX_MODULES);
        for (size_t i = 0; i < info->module_count; i++) {
            BOOST_REQUIRE(info->modules[i].start < info->modules[i].end);
            BOOST_REQUIRE(info->modules[i].cmdline.ptr[info->modules[i].cmdline.len] == '\0');
        }
        if (info->cmdline.present()) BOOST_REQUIRE(info->cmdline.ptr[info->cmdline.len] == '\0');
    }
    BOOST_TEST(accepted > 100); // most single flips land in payload bytes
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(usable_ram)

BOOST_AUTO_TEST_CASE(reserved_wins_over_overlapping_available) {
    // Malformed map: reserved and ACPI regions inside and across available
    // ones, listed before and after them.
    std::vector<MemoryRegion> map = {
        {0x800000, 0x100000, mb2::MEMORY_RESERVED},      // inside, listed first
        {0x0, 0x1000000, mb2::MEMORY_AVAILABLE},          // [0, 16M)
        {0xfff000, 0x2000, mb2::MEMORY_ACPI_RECLAIMABLE}, // across the end
        {0x2000000, 0x1000000, mb2::MEMORY_AVAILABLE},    // [32M, 48M)
        {0x1800000, 0x1000800, mb2::MEMORY_NVS},          // across the start
        {0x2400000, 0x1000, mb2::MEMORY_BADRAM},
        {0x2500000, 0x1000, 77},                           // unknown type: not RAM
        {0x2600000, 0x1000, mb2::MEMORY_AVAILABLE},       // duplicate of available
    };
    auto u = std::make_unique<UsableRam>();
    BOOST_REQUIRE(compute_usable_ram(map.data(), map.size(), nullptr, 0, *u).ok());
    // [32M, 48M) minus NVS up to 0x2800800 (rounded in to 0x2801000); the
    // bad page and the unknown page at 0x2400000/0x2500000 lie below that.
    std::vector<Range> want = {{0x0, 0x800000}, {0x900000, 0xfff000}, {0x2801000, 0x3000000}};
    BOOST_TEST(ranges(*u) == want);
    BOOST_TEST(u->map_available_bytes ==
               0x800000u + (0xfff000u - 0x900000u) + (0x3000000u - 0x2800800u));
    BOOST_TEST(u->usable_bytes == 0x800000u + (0xfff000u - 0x900000u) + (0x3000000u - 0x2801000u));
    BOOST_TEST(!u->ranges.intersects(0x800000, 0x900000));
}

BOOST_AUTO_TEST_CASE(order_does_not_matter) {
    std::vector<MemoryRegion> map = {
        {0x0, 0x400000, mb2::MEMORY_AVAILABLE},
        {0x100000, 0x1000, mb2::MEMORY_RESERVED},
        {0x300000, 0x200000, mb2::MEMORY_AVAILABLE},
        {0x3ff000, 0x2000, mb2::MEMORY_RESERVED},
    };
    auto a = std::make_unique<UsableRam>();
    auto b = std::make_unique<UsableRam>();
    BOOST_REQUIRE(compute_usable_ram(map.data(), map.size(), nullptr, 0, *a).ok());
    std::vector<MemoryRegion> rev(map.rbegin(), map.rend());
    BOOST_REQUIRE(compute_usable_ram(rev.data(), rev.size(), nullptr, 0, *b).ok());
    BOOST_TEST(ranges(*a) == ranges(*b));
    std::vector<Range> want = {{0x0, 0x100000}, {0x101000, 0x3ff000}, {0x401000, 0x500000}};
    BOOST_TEST(ranges(*a) == want);
}

BOOST_AUTO_TEST_CASE(extra_reserved_ranges_round_outward) {
    std::vector<MemoryRegion> map = {{0x100000, 0x100000, mb2::MEMORY_AVAILABLE}};
    std::vector<Range> res = {{0x150001, 0x150002}, {0x1f0000, 0x1f0000}, {0x0, 0x100800}};
    auto u = std::make_unique<UsableRam>();
    BOOST_REQUIRE(compute_usable_ram(map.data(), map.size(), res.data(), res.size(), *u).ok());
    std::vector<Range> want = {{0x101000, 0x150000}, {0x151000, 0x200000}};
    BOOST_TEST(ranges(*u) == want);
    BOOST_TEST(u->map_available_bytes == 0x100000u);
    // Reserving up to the top of the address space does not wrap.
    std::vector<Range> top = {{0x1ff800, UINT64_MAX}};
    BOOST_REQUIRE(compute_usable_ram(map.data(), map.size(), top.data(), top.size(), *u).ok());
    want = {{0x100000, 0x1ff000}};
    BOOST_TEST(ranges(*u) == want);
}

BOOST_AUTO_TEST_CASE(errors_leave_nothing_behind) {
    std::vector<MemoryRegion> map = {{0x0, 0x10000000, mb2::MEMORY_AVAILABLE}};
    auto u = std::make_unique<UsableRam>();
    std::vector<Range> inverted = {{0x2000, 0x1000}};
    BOOST_TEST(compute_usable_ram(map.data(), map.size(), inverted.data(), 1, *u).error() ==
               Err::InvalidArgument);
    BOOST_TEST(u->ranges.empty());
    BOOST_TEST(compute_usable_ram(nullptr, 3, nullptr, 0, *u).error() == Err::InvalidArgument);
    // More holes than the set can describe: NoMemory, not a silently wrong map.
    std::vector<Range> holes;
    for (uint64_t i = 0; i < USABLE_RAM_MAX_RANGES + 1; i++) {
        holes.push_back({0x100000 + i * 0x2000, 0x101000 + i * 0x2000});
    }
    BOOST_TEST(compute_usable_ram(map.data(), map.size(), holes.data(), holes.size(), *u).error() ==
               Err::NoMemory);
    BOOST_TEST(u->ranges.empty());
    BOOST_TEST(u->usable_bytes == 0u);
    BOOST_TEST(u->map_available_bytes == 0u);
}

BOOST_AUTO_TEST_CASE(boot_reserved_lists_everything) {
    auto info = new_info();
    BOOST_REQUIRE(parse(realistic_mbi(), *info).ok());
    BootReserved r = boot_reserved_ranges(*info, IMAGE);
    BOOST_REQUIRE(r.count == 5u);
    BOOST_TEST(r.items[0] == (Range{0, 0x100000}));
    BOOST_TEST(r.items[1] == IMAGE);
    BOOST_TEST(r.items[2] == (Range{MBI_PHYS, info->mbi_end.raw()}));
    BOOST_TEST(r.items[3] == (Range{0x381000, 0x3812f4}));
    BOOST_TEST(r.items[4] == (Range{0x382000, 0x1125a40}));
}

BOOST_AUTO_TEST_SUITE_END()
