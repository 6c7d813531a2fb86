// Native domain construction (layout in native_builder.hpp).
#include "domain/native_builder.hpp"

#include <virtue/native_abi.h>

#include "arch/paging.hpp"
#include "console/console.hpp"
#include "domain/boot_info.hpp"
#include "domain/elf_loader.hpp"
#include "lib/string.hpp"
#include "mm/memory.hpp"
#include "time/clock.hpp"
#include "vm/address_space.hpp"

namespace virtue {
namespace {

// Protection of a boot-time mapping (VIRTUE_PROT_*).
uint64_t boot_prot(bool write, bool exec) {
    return VIRTUE_PROT_READ | (write ? VIRTUE_PROT_WRITE : 0) | (exec ? VIRTUE_PROT_EXEC : 0);
}

Status map_page(Domain& d, uint64_t va, Mfn m, uint64_t prot) {
    return aspace_map_boot_frame(*d.aspace0, va, m, prot);
}

// Maps fresh zeroed partition frames over [va, va + pages * 4 KiB).
Status map_fresh(Domain& d, uint64_t va, uint64_t pages, uint64_t prot, Mfn* first_out = nullptr) {
    for (uint64_t i = 0; i < pages; i++) {
        auto m = domain_alloc_frame(d);
        if (!m) return m.error();
        if (i == 0 && first_out) *first_out = *m;
        TRY(map_page(d, va + i * PAGE_SIZE, *m, prot));
    }
    return Status::success();
}

Status load_segment(Domain& d, const uint8_t* image, const ElfSegment& s) {
    uint64_t start = s.vaddr & ~PAGE_MASK;
    uint64_t end = (s.vaddr + s.memsz + PAGE_MASK) & ~PAGE_MASK;
    uint64_t file_end = s.vaddr + s.filesz;
    for (uint64_t page = start; page < end; page += PAGE_SIZE) {
        auto m = domain_alloc_frame(d);
        if (!m) return m.error();
        uint64_t lo = page > s.vaddr ? page : s.vaddr;
        uint64_t hi = page + PAGE_SIZE < file_end ? page + PAGE_SIZE : file_end;
        if (lo < hi)
            memcpy(arch::phys_ptr<uint8_t>(to_phys(*m)) + (lo - page), image + s.file_offset + (lo - s.vaddr),
                   hi - lo);
        TRY(map_page(d, page, *m, boot_prot(s.write, s.exec)));
    }
    return Status::success();
}

Status fail(const BootDomain& cfg, const char* what, Err e) {
    log_error("%s: domain '%s' not started: %s (%s)", cfg.path, cfg.name, what, err_name(e));
    return e;
}

// Copies the boot-information FDT into read-only pages at kBootInfoVa.
Status map_boot_info(Domain& d, const BootDomain& cfg, const BootInfo& boot, const ElfImage& img) {
    BootInfoModule modules[kBootInfoMaxModules];
    size_t module_count = 0;
    if (d.is_control()) {
        for (size_t i = 0; i < boot.module_count && module_count < kBootInfoMaxModules; i++) {
            const BootModule& m = boot.modules[i];
            modules[module_count++] = BootInfoModule{static_cast<uint32_t>(i),
                                                     m.cmdline.present() ? m.cmdline.ptr : "", m.start.raw(),
                                                     m.end.raw() - m.start.raw()};
        }
    }
    BootInfoInput in;
    in.name = d.name;
    in.domain_id = d.id;
    in.memory_bytes = d.partition_frames << PAGE_SHIFT;
    in.vcpus = d.vcpus;
    in.weight = cfg.weight;
    in.cap = cfg.cap;
    in.privileges = d.privileges;
    in.bootargs = cfg.bootargs;
    in.image_start = img.lowest;
    in.image_end = img.highest;
    in.stack_top = kStackTop;
    in.stack_size = kStackSize;
    in.free_bytes = d.free_frames << PAGE_SHIFT;
    in.modules = module_count ? modules : nullptr;
    in.module_count = module_count;

    // Built in a scratch block of hypervisor frames, then copied into the
    // partition (the tree's size is known only once it is built).
    constexpr unsigned kScratchOrder = 2;
    constexpr size_t kBufSize = PAGE_SIZE << kScratchOrder;
    auto scratch = alloc_frames(kScratchOrder, DOMID_XEN);
    if (!scratch) return scratch.error();
    void* buf = arch::phys_ptr<void>(to_phys(*scratch));
    auto size = build_boot_info(buf, kBufSize, in);
    if (!size) {
        (void)free_frames(*scratch, kScratchOrder);
        return size.error();
    }
    uint64_t pages = (*size + PAGE_MASK) >> PAGE_SHIFT;
    Status s = Status::success();
    for (uint64_t i = 0; i < pages && s; i++) {
        auto m = domain_alloc_frame(d);
        if (!m) {
            s = m.error();
            break;
        }
        uint64_t n = *size - i * PAGE_SIZE < PAGE_SIZE ? *size - i * PAGE_SIZE : PAGE_SIZE;
        memcpy(arch::phys_ptr<void>(to_phys(*m)), static_cast<uint8_t*>(buf) + i * PAGE_SIZE, n);
        s = map_page(d, kBootInfoVa + i * PAGE_SIZE, *m, boot_prot(false, false));
    }
    (void)free_frames(*scratch, kScratchOrder);
    d.boot_info_va = kBootInfoVa;
    d.boot_info_size = *size;
    return s;
}

// The domain's shared_info page (event channels), mapped read-write. Held
// like a granted frame, so unmapping it does not free it: the event code
// writes it for the domain's whole life.
Status map_shared_info(Domain& d) {
    static_assert(sizeof(shared_info) <= PAGE_SIZE);
    static_assert(kSharedInfoVa == VIRTUE_SHARED_INFO_VA);
    auto m = domain_alloc_frame(d);
    if (!m) return m.error();
    TRY(aspace_map_held_frame(*d.aspace0, kSharedInfoVa, *m, boot_prot(true, false)));
    d.events.shared = arch::phys_ptr<shared_info>(to_phys(*m));
    static_assert(kGrantTableVa == VIRTUE_GRANT_TABLE_VA);
    d.grants.map_va = kGrantTableVa; // mapped frame by frame as it grows
    return Status::success();
}

} // namespace

Result<Domain*> build_native_domain(const BootDomain& cfg, const BootInfo& boot) {
    uint64_t t0 = arch::rdtsc();
    DomainParams p;
    p.name = cfg.name;
    p.has_id = cfg.has_domain_id;
    p.id = static_cast<domid_t>(cfg.domain_id);
    p.memory_bytes = cfg.memory_bytes;
    p.vcpus = cfg.vcpus;
    p.weight = cfg.weight;
    p.cap = cfg.cap;
    p.privileges = cfg.privileges;
    auto created = domain_create(p);
    if (!created) return fail(cfg, "cannot create the domain", created.error()).error();
    Domain& d = **created;

    const auto* image = arch::phys_ptr<const uint8_t>(PhysAddr(cfg.module.start));
    ElfLimits limits;
    limits.max_bytes = cfg.memory_bytes;
    ElfImage img;
    if (Status s = parse_elf_image(image, cfg.module.size, limits, img); !s) {
        domain_destroy_unstarted(d);
        return fail(cfg, img.error, s.error()).error();
    }
    for (size_t i = 0; i < img.segment_count; i++) {
        if (Status s = load_segment(d, image, img.segments[i]); !s) {
            domain_destroy_unstarted(d);
            return fail(cfg, "memory too small for the image", s.error()).error();
        }
    }
    d.image_start = img.lowest;
    d.image_end = img.highest;
    d.entry = img.entry;
    if (Status s = map_boot_info(d, cfg, boot, img); !s) {
        domain_destroy_unstarted(d);
        return fail(cfg, "cannot map the boot information", s.error()).error();
    }
    if (Status s = map_shared_info(d); !s) {
        domain_destroy_unstarted(d);
        return fail(cfg, "cannot map the shared_info page", s.error()).error();
    }
    for (uint32_t i = 0; i < d.vcpus; i++) {
        uint64_t top = kStackTop - i * (kStackSize + PAGE_SIZE);
        if (Status s = map_fresh(d, top - kStackSize, kStackSize >> PAGE_SHIFT, boot_prot(true, false)); !s) {
            domain_destroy_unstarted(d);
            return fail(cfg, "memory too small for the thread stacks", s.error()).error();
        }
        auto t = domain_add_thread(d, img.entry, top, d.boot_info_va, d.boot_info_size, i);
        if (!t) {
            domain_destroy_unstarted(d);
            return fail(cfg, "cannot create a thread", t.error()).error();
        }
        (*t)->xen_vcpu = i; // the Xen family's vCPU i
    }
    d.build_ns = tsc_to_ns(arch::rdtsc() - t0);
    log_info("d%u '%s': %lu KiB, %u thread(s), weight %u%s, image [0x%lx, 0x%lx) entry 0x%lx; built in %lu us, "
             "hypervisor overhead %lu bytes",
             d.id, d.name, (d.partition_frames << PAGE_SHIFT) >> 10, d.vcpus, d.account.weight,
             d.is_control() ? ", control" : "", d.image_start, d.image_end, d.entry, d.build_ns / 1000,
             d.overhead_bytes);
    domain_start(d);
    return &d;
}

} // namespace virtue
