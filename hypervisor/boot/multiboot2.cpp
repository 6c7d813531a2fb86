// Multiboot2 MBI parser. The walk validates the tag structure first (sizes,
// alignment, end tag) and only then decodes the items, so a structurally
// broken MBI yields an error and nothing else.
#include "boot/multiboot2.hpp"

#include "boot/multiboot2_abi.hpp"
#include "lib/string.hpp"

namespace virtue {

void BootWarnings::add(const char* what, uint64_t a, uint64_t b) {
    if (count < MB2_MAX_WARNINGS) {
        items[count++] = BootWarning{what, a, b};
    } else {
        dropped++;
    }
}

namespace {

using namespace mb2;

// Bounds-checked view of the MBI bytes [0, size).
struct Mbi {
    const uint8_t* base;
    size_t size;

    // Callers check offset + sizeof(T) <= size first.
    template <typename T>
    T load(size_t offset) const {
        T v;
        memcpy(&v, base + offset, sizeof v);
        return v;
    }

    // A string occupying [begin, end) that must hold its NUL terminator.
    bool string_at(size_t begin, size_t end, BootString& out) const {
        if (begin >= end) return false;
        const void* nul = memchr(base + begin, 0, end - begin);
        if (nul == nullptr) return false;
        const char* s = reinterpret_cast<const char*>(base + begin);
        out = BootString{s, static_cast<size_t>(static_cast<const char*>(nul) - s)};
        return true;
    }
};

size_t align_up_tag(size_t v) { return (v + TAG_ALIGN - 1) & ~(TAG_ALIGN - 1); }

// Pass 1: the tag chain is well formed and ends with an end tag.
Status check_structure(const Mbi& m) {
    size_t off = sizeof(InfoHeader);
    while (off < m.size) {
        if (m.size - off < sizeof(TagHeader)) return Err::Truncated;
        TagHeader h = m.load<TagHeader>(off);
        if (h.size < sizeof(TagHeader)) return Err::BadFormat;
        if (h.size > m.size - off) return Err::Truncated;
        if (h.type == TAG_END) {
            return h.size == sizeof(TagHeader) ? Status::success() : Status(Err::BadFormat);
        }
        // off + h.size <= m.size <= UINT32_MAX, so aligning cannot wrap.
        off = align_up_tag(off + h.size);
    }
    return Err::BadFormat; // no end tag
}

bool ranges_overlap(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1) {
    return a0 < b1 && b0 < a1;
}

void take_string(const Mbi& m, size_t off, const TagHeader& h, BootString& slot, BootInfo& info) {
    if (slot.present()) {
        info.warnings.add("duplicate multiboot2 tag ignored", h.type, off);
        return;
    }
    if (!m.string_at(off + sizeof(TagHeader), off + h.size, slot)) {
        info.warnings.add("multiboot2 string not NUL-terminated; ignored", h.type, off);
    }
}

void take_module(const Mbi& m, size_t off, const TagHeader& h, BootInfo& info) {
    if (h.size < sizeof(ModuleTag)) {
        info.warnings.add("multiboot2 module tag too small; ignored", h.size, off);
        return;
    }
    ModuleTag t = m.load<ModuleTag>(off);
    BootModule mod{PhysAddr(t.mod_start), PhysAddr(t.mod_end), BootString{}};
    if (t.mod_end == t.mod_start) {
        info.warnings.add("zero-length module ignored", t.mod_start, t.mod_end);
        return;
    }
    if (t.mod_end < t.mod_start) {
        info.warnings.add("module ends before it starts; ignored", t.mod_start, t.mod_end);
        return;
    }
    if (!m.string_at(off + sizeof(ModuleTag), off + h.size, mod.cmdline)) {
        info.warnings.add("module cmdline not NUL-terminated; module ignored", t.mod_start,
                          t.mod_end);
        return;
    }
    if (ranges_overlap(t.mod_start, t.mod_end, info.mbi_start.raw(), info.mbi_end.raw())) {
        info.warnings.add("module overlaps the boot information; ignored", t.mod_start,
                          t.mod_end);
        return;
    }
    for (size_t i = 0; i < info.module_count; i++) {
        const BootModule& o = info.modules[i];
        if (ranges_overlap(t.mod_start, t.mod_end, o.start.raw(), o.end.raw())) {
            info.warnings.add("module overlaps an earlier module; ignored", t.mod_start,
                              t.mod_end);
            return;
        }
    }
    if (info.module_count == MB2_MAX_MODULES) {
        info.warnings.add("too many modules; module ignored", t.mod_start, MB2_MAX_MODULES);
        return;
    }
    info.modules[info.module_count++] = mod;
}

void take_basic_meminfo(const Mbi& m, size_t off, const TagHeader& h, BootInfo& info) {
    if (h.size < sizeof(BasicMeminfoTag)) {
        info.warnings.add("multiboot2 meminfo tag too small; ignored", h.size, off);
        return;
    }
    if (info.has_basic_meminfo) {
        info.warnings.add("duplicate multiboot2 tag ignored", h.type, off);
        return;
    }
    BasicMeminfoTag t = m.load<BasicMeminfoTag>(off);
    info.has_basic_meminfo = true;
    info.mem_lower_kib = t.mem_lower;
    info.mem_upper_kib = t.mem_upper;
}

void take_memory_map(const Mbi& m, size_t off, const TagHeader& h, BootInfo& info) {
    if (h.size < sizeof(MmapTag)) {
        info.warnings.add("memory map tag too small; ignored", h.size, off);
        return;
    }
    if (info.has_memory_map) {
        info.warnings.add("duplicate multiboot2 tag ignored", h.type, off);
        return;
    }
    MmapTag t = m.load<MmapTag>(off);
    // The spec allows entries to grow, in multiples of 8 bytes.
    if (t.entry_size < sizeof(MmapEntry) || t.entry_size % 8 != 0) {
        info.warnings.add("memory map entry_size invalid; map ignored", t.entry_size, off);
        return;
    }
    info.has_memory_map = true;
    size_t body = h.size - sizeof(MmapTag);
    size_t n = body / t.entry_size;
    if (body % t.entry_size != 0) {
        info.warnings.add("memory map ends in a partial entry; ignored", body % t.entry_size,
                          t.entry_size);
    }
    size_t dropped = 0;
    for (size_t i = 0; i < n; i++) {
        MmapEntry e = m.load<MmapEntry>(off + sizeof(MmapTag) + i * t.entry_size);
        if (e.length == 0) continue;
        if (e.length > UINT64_MAX - e.base_addr) {
            // Kept: usable-RAM computation clamps it at the top of the space.
            info.warnings.add("memory region wraps past 2^64", e.base_addr, e.length);
        }
        if (info.memory_map_count == MB2_MAX_MEMORY_REGIONS) {
            dropped++;
            continue;
        }
        info.memory_map[info.memory_map_count++] = MemoryRegion{e.base_addr, e.length, e.type};
    }
    if (dropped != 0) {
        info.warnings.add("too many memory map entries; rest ignored", dropped,
                          MB2_MAX_MEMORY_REGIONS);
    }
}

void take_rsdp(const Mbi& m, size_t off, const TagHeader& h, BootInfo& info) {
    bool v2 = h.type == TAG_ACPI_NEW;
    size_t need = v2 ? RSDP_V2_SIZE : RSDP_V1_SIZE;
    if (h.size - sizeof(TagHeader) < need) {
        info.warnings.add("ACPI RSDP tag too small; ignored", h.type, h.size);
        return;
    }
    RsdpKind kind = v2 ? RsdpKind::V2 : RsdpKind::V1;
    if (info.rsdp.kind == kind) {
        info.warnings.add("duplicate multiboot2 tag ignored", h.type, off);
        return;
    }
    if (info.rsdp.kind == RsdpKind::V2) return; // v2 wins over v1
    info.rsdp.kind = kind;
    info.rsdp.length = static_cast<uint8_t>(need);
    memset(info.rsdp.bytes, 0, sizeof info.rsdp.bytes);
    memcpy(info.rsdp.bytes, m.base + off + sizeof(TagHeader), need);
}

void take_load_base(const Mbi& m, size_t off, const TagHeader& h, BootInfo& info) {
    if (h.size < sizeof(LoadBaseTag)) {
        info.warnings.add("load base tag too small; ignored", h.size, off);
        return;
    }
    if (info.has_load_base) {
        info.warnings.add("duplicate multiboot2 tag ignored", h.type, off);
        return;
    }
    info.has_load_base = true;
    info.load_base = PhysAddr(m.load<LoadBaseTag>(off).load_base_addr);
}

// Pass 2: decode every tag; the structure is known to be sound.
void decode_tags(const Mbi& m, BootInfo& info) {
    size_t off = sizeof(InfoHeader);
    for (;;) {
        TagHeader h = m.load<TagHeader>(off);
        switch (h.type) {
        case TAG_END: return;
        case TAG_CMDLINE: take_string(m, off, h, info.cmdline, info); break;
        case TAG_BOOTLOADER_NAME: take_string(m, off, h, info.bootloader_name, info); break;
        case TAG_MODULE: take_module(m, off, h, info); break;
        case TAG_BASIC_MEMINFO: take_basic_meminfo(m, off, h, info); break;
        case TAG_MMAP: take_memory_map(m, off, h, info); break;
        case TAG_ACPI_OLD:
        case TAG_ACPI_NEW: take_rsdp(m, off, h, info); break;
        case TAG_LOAD_BASE_ADDR: take_load_base(m, off, h, info); break;
        default: break; // framebuffer, ELF sections, EFI, ...: not needed
        }
        off = align_up_tag(off + h.size);
    }
}

} // namespace

Status parse_multiboot2(const uint8_t* mbi, size_t available_bytes, uint64_t mbi_phys,
                        BootInfo& out) {
    // All-zero is the empty BootInfo; clearing in place keeps the multi-KiB
    // object off the stack.
    memset(static_cast<void*>(&out), 0, sizeof out);
    if (mbi == nullptr) return Err::InvalidArgument;
    if (mbi_phys % TAG_ALIGN != 0) return Err::BadFormat;
    if (available_bytes < sizeof(InfoHeader)) return Err::Truncated;

    InfoHeader hdr;
    memcpy(&hdr, mbi, sizeof hdr);
    if (hdr.total_size < sizeof(InfoHeader)) return Err::BadFormat;
    if (hdr.total_size > available_bytes) return Err::Truncated;
    if (hdr.total_size > UINT64_MAX - mbi_phys) return Err::Range;

    Mbi m{mbi, hdr.total_size};
    TRY(check_structure(m));

    out.mbi_start = PhysAddr(mbi_phys);
    out.mbi_end = PhysAddr(mbi_phys + hdr.total_size);
    decode_tags(m, out);
    return Status::success();
}

} // namespace virtue
