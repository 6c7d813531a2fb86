// Checked copies between the hypervisor and a domain's address space.
#include "vm/user_memory.hpp"

#include "arch/paging.hpp"
#include "arch/user_entry.hpp"
#include "arch/pte.hpp"
#include "domain/domain.hpp"
#include "sched/scheduler.hpp"
#include "vm/address_space.hpp"

namespace virtue {
namespace {

// Walks the calling thread's tables for va; returns the leaf entry or 0.
// Each level must be present and user-accessible (and writable for writes).
uint64_t user_leaf(uint64_t va, uint64_t need) {
    uint64_t table = current_thread()->aspace->root.raw();
    for (unsigned level = 4; level >= 1; level--) {
        uint64_t e = arch::phys_ptr<const uint64_t>(PhysAddr(table))[level_index(va, level)];
        if ((e & need) != need) return 0;
        if (level == 1 || (level <= 3 && (e & pte::PS))) return e;
        table = e & pte::ADDR_MASK;
    }
    return 0;
}

// Whether [addr, addr + len) (len > 0) lies where the calling thread's own
// memory can be: a native domain's in the lower half; a PV guest's in
// either half but never in the hypervisor's range of the upper half (its
// L4 slots 256-271), and never across a hole.
bool range_in_guest_half(const Thread& t, uint64_t addr, uint64_t len) {
    if (addr < arch::USER_LIMIT) return len <= arch::USER_LIMIT - addr;
    if (t.guest_mode == GuestMode::Native) return false;
    return addr >= arch::PV_GUEST_UPPER_START && len - 1 <= ~addr; // (no wrap past 2^64)
}

} // namespace

bool user_range_ok(uint64_t addr, uint64_t len, UserAccess access) {
    if (len == 0) return true;
    const Thread& t = *current_thread();
    if (!range_in_guest_half(t, addr, len)) return false;
    uint64_t need = pte::P | pte::US | (access == UserAccess::Write ? pte::RW : 0);
    for (uint64_t page = addr & ~(PAGE_SIZE_4K - 1); page < addr + len; page += PAGE_SIZE_4K)
        if (!user_leaf(page, need)) return false;
    return true;
}

namespace {
// Before a copy: user_range_ok, except that a PV guest's tables need no
// walk. Every present entry in a PV guest's part of the address space
// carries U (the PV MMU sets it on each entry it accepts), so the CPU's
// own checks during the copy (CR0.WP for writes, and a fault recovered by
// copy_user_bytes for anything absent) refuse exactly what the walk would.
[[gnu::hot]] bool copy_range_ok(uint64_t addr, uint64_t len, UserAccess access) {
    const Thread& t = *current_thread();
    if (t.guest_mode == GuestMode::Native) return user_range_ok(addr, len, access);
    return len == 0 || range_in_guest_half(t, addr, len);
}
} // namespace

[[gnu::hot]] Status copy_from_user(void* dst, uint64_t user_src, uint64_t len) {
    if (!copy_range_ok(user_src, len, UserAccess::Read)) return Err::Fault;
    if (len && copy_user_bytes(dst, reinterpret_cast<const void*>(user_src), len) != 0) return Err::Fault;
    return Status::success();
}

Status copy_to_user(uint64_t user_dst, const void* src, uint64_t len) {
    if (!copy_range_ok(user_dst, len, UserAccess::Write)) return Err::Fault;
    if (len && copy_user_bytes(reinterpret_cast<void*>(user_dst), src, len) != 0) return Err::Fault;
    return Status::success();
}

} // namespace virtue
