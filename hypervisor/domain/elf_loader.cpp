// ELF64 image parser for native domains (see elf_loader.hpp for the rules).
#include "domain/elf_loader.hpp"

// Only the type and constant definitions: glibc's <elf.h> needs no libc code.
#include <elf.h>

#include "lib/string.hpp"

namespace virtue {

namespace {

constexpr uint64_t kPageMask = kElfPageSize - 1;

uint64_t page_round_down(uint64_t v) { return v & ~kPageMask; }

// Callers make sure v <= UINT64_MAX - kPageMask.
uint64_t page_round_up(uint64_t v) { return (v + kPageMask) & ~kPageMask; }

// End of the page-rounded range of a segment; false if it would not fit in
// 64 bits (hostile p_vaddr / p_memsz).
bool rounded_end(uint64_t vaddr, uint64_t memsz, uint64_t& end) {
    if (memsz > UINT64_MAX - vaddr) return false;
    uint64_t e = vaddr + memsz;
    if (e > UINT64_MAX - kPageMask) return false;
    end = page_round_up(e);
    return true;
}

// [offset, offset + len) inside a buffer of size bytes, without overflow.
bool inside_file(uint64_t offset, uint64_t len, size_t size) {
    return offset <= size && len <= size - offset;
}

bool contains(const ElfSegment& s, uint64_t addr) {
    return addr >= s.vaddr && addr - s.vaddr < s.memsz;
}

} // namespace

// Insertion sort: at most kMaxElfSegments entries.
void sort_elf_segments(ElfSegment* segs, size_t count) {
    for (size_t i = 1; i < count; ++i) {
        ElfSegment s = segs[i];
        size_t j = i;
        for (; j > 0 && segs[j - 1].vaddr > s.vaddr; --j) segs[j] = segs[j - 1];
        segs[j] = s;
    }
}

Status elf_read_header(const void* data, size_t size, ElfHeader& out, const char*& error) {
    out = ElfHeader{};
    auto fail = [&error](Err e, const char* msg) {
        error = msg;
        return Status(e);
    };
    if (size < sizeof(Elf64_Ehdr)) return fail(Err::Truncated, "file shorter than an ELF header");
    if (!data) return fail(Err::InvalidArgument, "no image (null pointer)");
    const uint8_t* bytes = static_cast<const uint8_t*>(data);

    // Copies, not casts: a module need not be aligned for Elf64_* accesses.
    Elf64_Ehdr eh;
    memcpy(&eh, bytes, sizeof eh);

    if (eh.e_ident[EI_MAG0] != ELFMAG0 || eh.e_ident[EI_MAG1] != ELFMAG1 ||
        eh.e_ident[EI_MAG2] != ELFMAG2 || eh.e_ident[EI_MAG3] != ELFMAG3)
        return fail(Err::BadFormat, "not an ELF file (bad magic)");
    if (eh.e_ident[EI_CLASS] != ELFCLASS64) return fail(Err::BadFormat, "not a 64-bit ELF");
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB) return fail(Err::BadFormat, "not a little-endian ELF");
    if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT)
        return fail(Err::BadFormat, "unknown ELF version");
    if (eh.e_type != ET_EXEC)
        return fail(Err::NotSupported, "only statically linked ET_EXEC images are loaded");
    if (eh.e_machine != EM_X86_64) return fail(Err::BadFormat, "wrong machine (not x86-64)");
    if (eh.e_phentsize != sizeof(Elf64_Phdr))
        return fail(Err::BadFormat, "unexpected program header entry size");
    if (eh.e_phnum == 0) return fail(Err::BadFormat, "no program headers");
    // PN_XNUM moves the real count into section 0, which we do not read.
    if (eh.e_phnum == PN_XNUM)
        return fail(Err::NotSupported, "extended program header count (PN_XNUM) not supported");
    // phnum * phentsize <= 0xffff * 56: cannot overflow.
    if (!inside_file(eh.e_phoff, uint64_t(eh.e_phnum) * sizeof(Elf64_Phdr), size))
        return fail(Err::Truncated, "program header table outside the file");

    out.bytes = bytes;
    out.size = size;
    out.entry = eh.e_entry;
    out.phoff = eh.e_phoff;
    out.phnum = eh.e_phnum;
    out.shoff = eh.e_shoff;
    out.shnum = eh.e_shnum;
    out.shentsize = eh.e_shentsize;
    return Status::success();
}

ElfProgramHeader elf_program_header(const ElfHeader& h, size_t i) {
    Elf64_Phdr ph;
    memcpy(&ph, h.bytes + h.phoff + i * sizeof(Elf64_Phdr), sizeof ph);
    return ElfProgramHeader{ph.p_type,  ph.p_flags,  ph.p_offset, ph.p_vaddr,
                            ph.p_paddr, ph.p_filesz, ph.p_memsz,  ph.p_align};
}

Status elf_section_table(const ElfHeader& h, const char*& error) {
    if (h.shnum == 0) return Status::success();
    if (h.shentsize != sizeof(Elf64_Shdr)) {
        error = "unexpected section header entry size";
        return Err::BadFormat;
    }
    // shnum * shentsize <= 0xffff * 64: cannot overflow.
    if (!inside_file(h.shoff, uint64_t(h.shnum) * sizeof(Elf64_Shdr), h.size)) {
        error = "section header table outside the file";
        return Err::Truncated;
    }
    return Status::success();
}

ElfSectionHeader elf_section_header(const ElfHeader& h, size_t i) {
    Elf64_Shdr sh;
    memcpy(&sh, h.bytes + h.shoff + i * sizeof(Elf64_Shdr), sizeof sh);
    return ElfSectionHeader{sh.sh_type, sh.sh_offset, sh.sh_size, sh.sh_addralign};
}

Status parse_elf_image(const void* data, size_t size, const ElfLimits& limits, ElfImage& out) {
    out = ElfImage{};
    // A failed parse leaves nothing half-filled behind, only the reason.
    auto fail = [&out](Err e, const char* msg) {
        out = ElfImage{};
        out.error = msg;
        return Status(e);
    };

    if (limits.max_bytes == 0) return fail(Err::InvalidArgument, "no memory budget (max_bytes is 0)");
    if (limits.user_start >= limits.user_end)
        return fail(Err::InvalidArgument, "empty domain address range");
    ElfHeader eh;
    const char* why = "";
    if (Status s = elf_read_header(data, size, eh, why); !s) return fail(s.error(), why);

    auto read_phdr = [&](size_t i) { return elf_program_header(eh, i); };

    // Dynamic linking first: it explains the image better than whatever its
    // segments would trip over.
    for (size_t i = 0; i < eh.phnum; ++i) {
        uint32_t type = read_phdr(i).type;
        if (type == PT_INTERP || type == PT_DYNAMIC)
            return fail(Err::NotSupported, "dynamically linked images are not supported");
    }

    for (size_t i = 0; i < eh.phnum; ++i) {
        ElfProgramHeader ph = read_phdr(i);
        if (ph.type != PT_LOAD) continue;
        if (ph.filesz > ph.memsz)
            return fail(Err::BadFormat, "segment file size larger than its memory size");
        if (ph.memsz == 0) continue; // occupies nothing
        if (!inside_file(ph.offset, ph.filesz, size))
            return fail(Err::Truncated, "segment data outside the file");
        uint64_t end = 0;
        if (!rounded_end(ph.vaddr, ph.memsz, end))
            return fail(Err::Range, "segment address range overflows");
        // Congruence lets file pages be placed at their page offset directly.
        if ((ph.vaddr & kPageMask) != (ph.offset & kPageMask))
            return fail(Err::BadFormat, "segment misaligned (p_vaddr and p_offset differ modulo 4 KiB)");
        if (page_round_down(ph.vaddr) < limits.user_start || end > limits.user_end)
            return fail(Err::Range,
                        "segment outside the domain's address range (e.g. in the hypervisor range)");
        bool write = (ph.flags & PF_W) != 0;
        bool exec = (ph.flags & PF_X) != 0;
        if (write && exec) return fail(Err::Permission, "segment is writable and executable (W^X)");
        if (out.segment_count == kMaxElfSegments)
            return fail(Err::Range, "too many loadable segments");
        out.segments[out.segment_count++] = ElfSegment{
            ph.vaddr, ph.memsz, ph.offset, ph.filesz, (ph.flags & PF_R) != 0, write, exec};
    }

    if (out.segment_count == 0) return fail(Err::BadFormat, "no loadable segment");

    sort_elf_segments(out.segments, out.segment_count);
    // Sorted, so checking neighbours covers every pair. Rounded ranges: a page
    // has one set of rights and one backing frame.
    uint64_t prev_end = 0;
    for (size_t i = 0; i < out.segment_count; ++i) {
        const ElfSegment& s = out.segments[i];
        uint64_t start = page_round_down(s.vaddr);
        uint64_t end = page_round_up(s.vaddr + s.memsz); // checked above
        if (i > 0 && start < prev_end) return fail(Err::Overlap, "segments overlap");
        out.pages += (end - start) / kElfPageSize;
        prev_end = end;
    }
    out.lowest = page_round_down(out.segments[0].vaddr);
    out.highest = prev_end;

    bool entry_ok = false;
    for (size_t i = 0; i < out.segment_count; ++i)
        if (out.segments[i].exec && contains(out.segments[i], eh.entry)) entry_ok = true;
    if (!entry_ok) return fail(Err::BadFormat, "entry point outside executable segments");
    out.entry = eh.entry;

    // pages * 4096 > max_bytes without the multiplication.
    if (out.pages > limits.max_bytes / kElfPageSize)
        return fail(Err::NoMemory, "image larger than the domain's memory");

    return Status::success();
}

Status copy_elf_segment(const void* data, size_t size, const ElfSegment& s, void* dst,
                        size_t dst_size) {
    uint64_t end = 0;
    if (s.memsz == 0 || s.filesz > s.memsz || !rounded_end(s.vaddr, s.memsz, end))
        return Err::InvalidArgument;
    uint64_t start = page_round_down(s.vaddr);
    if (dst_size != end - start || !dst) return Err::InvalidArgument;
    if (!inside_file(s.file_offset, s.filesz, size) || (s.filesz > 0 && !data))
        return Err::Truncated;

    uint8_t* out = static_cast<uint8_t*>(dst);
    size_t head = s.vaddr - start; // page offset of the first byte
    memset(out, 0, head);
    if (s.filesz > 0) memcpy(out + head, static_cast<const uint8_t*>(data) + s.file_offset, s.filesz);
    // Zero the rest: bss (memsz > filesz) and the padding up to the page end.
    memset(out + head + s.filesz, 0, dst_size - head - s.filesz);
    return Status::success();
}

} // namespace virtue
