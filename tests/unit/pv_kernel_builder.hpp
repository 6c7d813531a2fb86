// Builds Xen PV kernel images in memory for the tests of the PV kernel
// reader and the builder's layout: an ELF64 header, PT_LOAD segments placed
// by physical address, and Xen notes in a PT_NOTE segment (or an SHT_NOTE
// section). The default image has the shape of Debian's 6.1 cloud kernel
// (its notes and PT_LOAD segments as measured; the file bytes of each
// segment are cut short, the rest is bss).
#pragma once

#include <elf.h>
#include <stdint.h>
#include <string.h>
#include <xen/elfnote.h>

#include <algorithm>
#include <string>
#include <vector>

namespace pvtest {

constexpr uint64_t kVirtBase = 0xffffffff80000000ull;
constexpr uint64_t kLinuxEntry = 0xffffffff8304e1c0ull;
constexpr uint64_t kInitP2m = 0x0000008000000000ull;
constexpr uint64_t kSegFileBytes = 0x80; // file bytes per segment (the rest is bss)

// Non-zero file contents, so copying mistakes show.
inline uint8_t pattern(uint64_t file_offset) { return uint8_t(1 + file_offset * 131 % 255); }

struct Note {
    std::string owner; // without the NUL; namesz = size + 1 unless raw_namesz
    uint32_t type = 0;
    std::vector<uint8_t> desc;
    int64_t raw_namesz = -1; // >= 0: written as namesz instead
};

inline Note num(uint32_t type, uint64_t v, size_t size = 8, const char* owner = "Xen") {
    Note n{owner, type, std::vector<uint8_t>(size)};
    for (size_t i = 0; i < size && i < 8; ++i) n.desc[i] = uint8_t(v >> (8 * i));
    return n;
}
inline Note str(uint32_t type, const std::string& s, const char* owner = "Xen") {
    Note n{owner, type, std::vector<uint8_t>(s.begin(), s.end())};
    n.desc.push_back(0);
    return n;
}

struct Segment {
    uint32_t flags;
    uint64_t vaddr, paddr, memsz;
    uint64_t filesz = kSegFileBytes;
    uint32_t type = PT_LOAD;
};

// The notes of Debian's 6.1 cloud kernel (linux-pv-boot.md §1.3), with a GNU and a
// Linux note around them.
inline std::vector<Note> linux_notes() {
    std::vector<Note> n;
    n.push_back(Note{"GNU", 3, std::vector<uint8_t>(20, 0x3b)});
    n.push_back(str(0x100, "6.1.0-56-cloud-amd64", "Linux"));
    n.push_back(str(XEN_ELFNOTE_GUEST_OS, "linux"));
    n.push_back(str(XEN_ELFNOTE_GUEST_VERSION, "2.6"));
    n.push_back(str(XEN_ELFNOTE_XEN_VERSION, "xen-3.0"));
    n.push_back(num(XEN_ELFNOTE_VIRT_BASE, kVirtBase));
    n.push_back(num(XEN_ELFNOTE_PADDR_OFFSET, 0));
    n.push_back(num(XEN_ELFNOTE_ENTRY, kLinuxEntry));
    n.push_back(num(XEN_ELFNOTE_INIT_P2M, kInitP2m));
    // The kernel's FEATURES string has no NUL (descsz 0x29, as readelf shows).
    std::string features = "!writable_page_tables|pae_pgdir_above_4gb";
    n.push_back(Note{"Xen", XEN_ELFNOTE_FEATURES, std::vector<uint8_t>(features.begin(), features.end())});
    n.push_back(num(XEN_ELFNOTE_SUPPORTED_FEATURES, 0x8801, 4));
    n.push_back(str(XEN_ELFNOTE_PAE_MODE, "yes"));
    n.push_back(str(XEN_ELFNOTE_LOADER, "generic"));
    Note l1{"Xen", XEN_ELFNOTE_L1_MFN_VALID, std::vector<uint8_t>(16, 0)};
    l1.desc[0] = 1;
    l1.desc[8] = 1;
    n.push_back(l1);
    n.push_back(num(XEN_ELFNOTE_SUSPEND_CANCEL, 1, 4));
    n.push_back(num(XEN_ELFNOTE_MOD_START_PFN, 1, 4));
    n.push_back(num(XEN_ELFNOTE_HV_START_LOW, 0xffff800000000000ull));
    n.push_back(num(XEN_ELFNOTE_PHYS32_ENTRY, 0x1000850, 4));
    return n;
}

// The PT_LOAD segments of the cloud kernel (linux-pv-boot.md §1.4).
inline std::vector<Segment> linux_segments() {
    return {
        {PF_R | PF_X, 0xffffffff81000000ull, 0x1000000, 0x1826634},
        {PF_R | PF_W, 0xffffffff82a00000ull, 0x2a00000, 0x61a000},
        {PF_R | PF_W, 0x0, 0x301a000, 0x34000},
        {PF_R | PF_W | PF_X, 0xffffffff8304e000ull, 0x304e000, 0xdb2000},
    };
}

struct PvElf {
    Elf64_Ehdr eh{};
    std::vector<Segment> segments = linux_segments();
    std::vector<Note> notes = linux_notes();
    bool notes_in_section = false; // an SHT_NOTE section instead of a PT_NOTE segment
    uint64_t note_align = 4;       // p_align / sh_addralign of the note area (4 or 8)

    // Filled by build(): where the note area is in the file.
    mutable uint64_t notes_offset = 0, notes_size = 0, phdr_note_index = 0;

    PvElf() {
        memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS64;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        eh.e_type = ET_EXEC;
        eh.e_machine = EM_X86_64;
        eh.e_version = EV_CURRENT;
        eh.e_entry = 0x1000000; // the physical entry, as in vmlinux
        eh.e_ehsize = sizeof(Elf64_Ehdr);
        eh.e_phentsize = sizeof(Elf64_Phdr);
    }

    static void put(std::vector<uint8_t>& f, const void* p, size_t n) {
        const uint8_t* b = static_cast<const uint8_t*>(p);
        f.insert(f.end(), b, b + n);
    }
    static void pad(std::vector<uint8_t>& f, uint64_t align) {
        while (f.size() % align) f.push_back(0);
    }

    std::vector<uint8_t> note_bytes() const {
        std::vector<uint8_t> b;
        for (const Note& n : notes) {
            uint32_t namesz = n.raw_namesz >= 0 ? uint32_t(n.raw_namesz) : uint32_t(n.owner.size() + 1);
            uint32_t descsz = uint32_t(n.desc.size());
            put(b, &namesz, 4);
            put(b, &descsz, 4);
            put(b, &n.type, 4);
            std::string name = n.owner;
            name.push_back(0);
            name.resize(std::max<size_t>(name.size(), namesz), 0);
            put(b, name.data(), namesz);
            pad(b, note_align);
            put(b, n.desc.data(), n.desc.size());
            pad(b, note_align);
        }
        return b;
    }

    std::vector<uint8_t> build() const {
        size_t nphdr = segments.size() + (notes_in_section ? 0 : 1);
        std::vector<uint8_t> f(sizeof(Elf64_Ehdr) + nphdr * sizeof(Elf64_Phdr));
        pad(f, 8);
        notes_offset = f.size();
        std::vector<uint8_t> nb = note_bytes();
        notes_size = nb.size();
        f.insert(f.end(), nb.begin(), nb.end());
        pad(f, 16);
        std::vector<Elf64_Phdr> ph;
        for (const Segment& s : segments) {
            Elf64_Phdr p{};
            p.p_type = s.type;
            p.p_flags = s.flags;
            p.p_vaddr = s.vaddr;
            p.p_paddr = s.paddr;
            p.p_memsz = s.memsz;
            p.p_filesz = s.filesz;
            p.p_offset = f.size();
            p.p_align = 0x200000;
            for (uint64_t i = 0; i < s.filesz; ++i) f.push_back(pattern(f.size()));
            ph.push_back(p);
        }
        if (!notes_in_section) {
            Elf64_Phdr p{};
            p.p_type = PT_NOTE;
            p.p_flags = PF_R;
            p.p_offset = notes_offset;
            p.p_filesz = p.p_memsz = notes_size;
            p.p_align = note_align;
            phdr_note_index = ph.size();
            ph.push_back(p);
        }
        Elf64_Ehdr e = eh;
        e.e_phoff = sizeof(Elf64_Ehdr);
        e.e_phnum = uint16_t(ph.size());
        if (notes_in_section) {
            pad(f, 8);
            e.e_shoff = f.size();
            e.e_shentsize = sizeof(Elf64_Shdr);
            e.e_shnum = 2;
            Elf64_Shdr null{}, notes_sh{};
            notes_sh.sh_type = SHT_NOTE;
            notes_sh.sh_offset = notes_offset;
            notes_sh.sh_size = notes_size;
            notes_sh.sh_addralign = note_align;
            put(f, &null, sizeof null);
            put(f, &notes_sh, sizeof notes_sh);
        }
        memcpy(f.data(), &e, sizeof e);
        memcpy(f.data() + sizeof e, ph.data(), ph.size() * sizeof(Elf64_Phdr));
        return f;
    }

    // Replaces (or, with a type not present, adds) the Xen note of a type.
    void set(const Note& n) {
        for (Note& o : notes)
            if (o.owner == "Xen" && o.type == n.type) {
                o = n;
                return;
            }
        notes.push_back(n);
    }
    void drop(uint32_t type) {
        notes.erase(std::remove_if(notes.begin(), notes.end(),
                                   [&](const Note& o) { return o.owner == "Xen" && o.type == type; }),
                    notes.end());
    }
};

} // namespace pvtest
