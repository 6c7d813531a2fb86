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

} // namespace

bool user_range_ok(uint64_t addr, uint64_t len, UserAccess access) {
    if (len == 0) return true;
    const Thread& t = *current_thread();
    if (!user_memory_detail::range_in_guest_half(t, addr, len)) return false;
    uint64_t need = pte::P | pte::US | (access == UserAccess::Write ? pte::RW : 0);
    for (uint64_t page = addr & ~(PAGE_SIZE_4K - 1); page < addr + len; page += PAGE_SIZE_4K)
        if (!user_leaf(page, need)) return false;
    return true;
}

namespace user_memory_detail {
// A native domain's copies: the walk first (user_range_ok), then the copy.
Status copy_from_user_walked(void* dst, uint64_t user_src, uint64_t len) {
    if (!user_range_ok(user_src, len, UserAccess::Read)) return Err::Fault;
    if (len && copy_user_bytes(dst, reinterpret_cast<const void*>(user_src), len) != 0) return Err::Fault;
    return Status::success();
}

Status copy_to_user_walked(uint64_t user_dst, const void* src, uint64_t len) {
    if (!user_range_ok(user_dst, len, UserAccess::Write)) return Err::Fault;
    if (len && copy_user_bytes(reinterpret_cast<void*>(user_dst), src, len) != 0) return Err::Fault;
    return Status::success();
}
} // namespace user_memory_detail

} // namespace virtue
