// The hypervisor's page tables (see arch/paging.hpp and docs/architecture.md).
#include "arch/paging.hpp"

#include "arch/cpu.hpp"
#include "arch/mmio.hpp"
#include "arch/page_table.hpp"
#include "lib/spinlock.hpp"
#include "lib/string.hpp"

extern "C" char __text_start[], __text_end[], __rodata_start[], __rodata_end[];
extern "C" char __data_start[], __data_end[], __image_virt_end[];

namespace virtue::arch {
namespace {

FrameSource g_frame_source;
CpuPagingFeatures g_features;
PhysAddr g_root;
RangeSet<256> g_direct_mapped;
SpinLock g_lock{LockRank::HvPageTables}; // serialises edits of the hypervisor's tables
uint64_t g_ioremap_next = IOREMAP_VIRT_START;

struct FirmwareMapping {
    uint64_t phys_start, phys_end, va;
};
FirmwareMapping g_firmware_maps[32];
size_t g_firmware_map_count;

struct HypervisorTablePolicy {
    // The editor reserves the tables a request might need up front and gives
    // back the unused ones; keep those for the next request.
    PhysAddr spare[16];
    size_t nr_spare = 0;

    Result<PhysAddr> alloc_table() {
        PhysAddr pa;
        if (nr_spare) {
            pa = spare[--nr_spare];
        } else {
            if (!g_frame_source) return Err::NoMemory;
            TRY_ASSIGN(pa, g_frame_source());
        }
        memset(phys_ptr<void>(pa), 0, PAGE_SIZE);
        return pa;
    }
    // Hypervisor tables are freed only when the boot identity map goes, after
    // which no CPU can walk them; extra frames beyond the spare list stay
    // with the hypervisor.
    void free_table(PhysAddr pa) {
        if (nr_spare < sizeof spare / sizeof spare[0]) spare[nr_spare++] = pa;
    }
    uint64_t* table_ptr(PhysAddr pa) { return phys_ptr<uint64_t>(pa); }
    bool has_1g_pages() { return g_features.pages_1g; }
    // The L3 tables of slots 256-271 are shared by every address space.
    bool keep_table(unsigned level, uint64_t va) { return level == 3 && va >= HV_RANGE_START; }
};

HypervisorTablePolicy g_policy;

PageTableEditor<HypervisorTablePolicy> editor() { return PageTableEditor<HypervisorTablePolicy>(g_policy, g_root); }

uint64_t nx() { return g_features.nx ? pte::NX : 0; }

uint64_t image_phys(const char* va) {
    return reinterpret_cast<uint64_t>(va) - IMAGE_VIRT_START + IMAGE_PHYS_START;
}

Status map_image_part(const char* start, const char* end, uint64_t flags) {
    auto va = reinterpret_cast<uint64_t>(start);
    uint64_t size = reinterpret_cast<uint64_t>(end) - va;
    if (!size) return Status::success();
    auto r = editor().map(va, PhysAddr(image_phys(start)), size, PteFlags(flags | pte::G));
    return r ? Status::success() : Status(r.error());
}

void flush_after(const TlbFlush& f, uint64_t va, uint64_t size) {
    if (!f.needed) return;
    if (size <= 64 * PAGE_SIZE) {
        for (uint64_t off = 0; off < size; off += PAGE_SIZE) invlpg(va + off);
    } else {
        // Toggling CR4.PGE flushes global entries too.
        uint64_t cr4 = read_cr4();
        write_cr4(cr4 & ~(1ull << 7));
        write_cr4(cr4);
    }
}

Result<VirtAddr> map_window(PhysAddr pa, size_t size, uint64_t flags) {
    if (size == 0) return Err::InvalidArgument;
    uint64_t start = pa.raw() & ~PAGE_MASK;
    if (size > IOREMAP_VIRT_END - IOREMAP_VIRT_START || pa.raw() > UINT64_MAX - size) return Err::Range;
    uint64_t end = (pa.raw() + size + PAGE_MASK) & ~PAGE_MASK;
    uint64_t bytes = end - start;
    // One unmapped guard page after each mapping.
    if (bytes + PAGE_SIZE > IOREMAP_VIRT_END - g_ioremap_next) return Err::NoMemory;
    uint64_t va = g_ioremap_next;
    auto r = editor().map(va, PhysAddr(start), bytes, PteFlags(flags | pte::G), MapOptions{false});
    if (!r) return r.error();
    g_ioremap_next += bytes + PAGE_SIZE;
    return VirtAddr(va + pa.page_offset());
}

} // namespace

void paging_set_frame_source(FrameSource source) { g_frame_source = source; }
CpuPagingFeatures paging_features() { return g_features; }
PhysAddr kernel_root() { return g_root; }


bool direct_map_covers(PhysAddr pa, uint64_t size) {
    if (size == 0 || pa.raw() > UINT64_MAX - size) return false;
    return g_direct_mapped.covers(pa.raw(), pa.raw() + size);
}

Status paging_init(const Range* ram, size_t ram_count) {
    g_features.nx = rdmsr(MSR_EFER) & (1u << 11);
    g_features.pages_1g = cpuid(0x80000001).edx & (1u << 26);
    g_features.smep = cpuid(0).eax >= 7 && (cpuid(7).ebx & (1u << 7));

    TRY_ASSIGN(g_root, g_policy.alloc_table());
    // Pre-create the L3 of every hypervisor slot, so that domains' root
    // tables can later share them by copying 16 PML4 entries.
    for (unsigned slot = 256; slot < 272; slot++) {
        TRY_ASSIGN(PhysAddr l3, g_policy.alloc_table());
        phys_ptr<uint64_t>(g_root)[slot] = Pte::make_table(l3, pte::RW).raw();
    }
    for (size_t i = 0; i < ram_count; i++) {
        const Range& r = ram[i];
        if (r.end > DIRECTMAP_VIRT_END - DIRECTMAP_VIRT_START) return Err::Range;
        auto m = editor().map(DIRECTMAP_VIRT_START + r.start, PhysAddr(r.start), r.size(),
                              PteFlags(pte::RW | pte::G | nx()));
        if (!m) return m.error();
        TRY(g_direct_mapped.add(r.start, r.end));
    }
    TRY(map_image_part(__text_start, __text_end, 0));
    TRY(map_image_part(__rodata_start, __rodata_end, nx()));
    TRY(map_image_part(__data_start, __data_end, pte::RW | nx()));
    TRY(map_image_part(__data_end, __image_virt_end, nx())); // symbol table
    // Identity map of the first 2 MiB for the AP trampoline (dropped after SMP boot).
    auto id = editor().map(0, PhysAddr(0), 0x200000, PteFlags(pte::RW));
    if (!id) return id.error();

    write_cr3(g_root.raw());
    if (g_features.smep) write_cr4(read_cr4() | (1u << 20));
    return Status::success();
}

Status map_new_pages(uint64_t va, uint64_t pages) {
    IrqLockGuard guard(g_lock);
    for (uint64_t i = 0; i < pages; i++) {
        TRY_ASSIGN(PhysAddr frame, g_policy.alloc_table()); // a zeroed frame
        auto r = editor().map(va + i * PAGE_SIZE, frame, PAGE_SIZE, PteFlags(pte::RW | pte::G | nx()));
        if (!r) return r.error();
    }
    return Status::success();
}

Status map_guest_readable(uint64_t va, PhysAddr pa, uint64_t size) {
    IrqLockGuard guard(g_lock);
    if (va < HV_RANGE_START) return Err::InvalidArgument;
    auto r = editor().map(va, pa, size, PteFlags(pte::US | nx()));
    if (!r) return r.error();
    // The editor widened the root entry with US: only guest roots get that.
    phys_ptr<uint64_t>(g_root)[level_index(va, 4)] &= ~pte::US;
    flush_after(*r, va, size);
    return Status::success();
}

uint64_t guest_readable_l4e(unsigned slot) { return phys_ptr<uint64_t>(g_root)[slot] | pte::US; }

void paging_drop_identity_map() {
    IrqLockGuard guard(g_lock);
    auto r = editor().unmap(0, 0x200000);
    if (r) flush_after(*r, 0, 0x200000);
    flush_tlb_local();
}

Result<VirtAddr> ioremap(PhysAddr pa, size_t size) {
    IrqLockGuard guard(g_lock);
    return map_window(pa, size, pte::RW | pte::PCD | pte::PWT | nx());
}

Result<VirtAddr> map_firmware(PhysAddr pa, size_t size) {
    if (direct_map_covers(pa, size)) return phys_to_virt(pa);
    if (size == 0 || pa.raw() > UINT64_MAX - size) return Err::Range;
    IrqLockGuard guard(g_lock);
    for (size_t i = 0; i < g_firmware_map_count; i++) {
        const FirmwareMapping& m = g_firmware_maps[i];
        if (pa.raw() >= m.phys_start && pa.raw() + size <= m.phys_end)
            return VirtAddr(m.va + (pa.raw() - m.phys_start));
    }
    TRY_ASSIGN(VirtAddr va, map_window(pa, size, nx()));
    if (g_firmware_map_count < sizeof g_firmware_maps / sizeof g_firmware_maps[0]) {
        uint64_t start = pa.raw() & ~PAGE_MASK;
        g_firmware_maps[g_firmware_map_count++] = {start, (pa.raw() + size + PAGE_MASK) & ~PAGE_MASK,
                                                   va.raw() - pa.page_offset()};
    }
    return va;
}

} // namespace virtue::arch
