// Native calls about domains: the caller's own (domain_info, exit,
// abi_version) and, for a control domain, others (pause, unpause, destroy).
#include "console/console.hpp"
#include "lib/string.hpp"
#include "mm/memory.hpp"
#include "native_handlers.hpp"

namespace virtue::native {

CallResult call_domain_info(UserPtr<virtue_domain_info> info) {
    Domain& d = caller();
    virtue_domain_info out;
    memset(&out, 0, sizeof out);
    out.domain_id = d.id;
    out.thread_id = caller_thread().id;
    out.memory_bytes = d.partition_frames << PAGE_SHIFT;
    out.free_bytes = d.free_frames << PAGE_SHIFT;
    out.vcpus = d.vcpus;
    out.weight = d.account.weight;
    out.cap = d.account.cap_percent;
    out.privileges = d.privileges;
    out.boot_info = d.boot_info_va;
    out.boot_info_size = d.boot_info_size;
    static_assert(sizeof out.name > kDomainNameMax);
    memcpy(out.name, d.name, strlen(d.name) + 1);
    TRY(info.write(out));
    return 0;
}

CallResult call_exit(int64_t status) {
    domain_kill(caller(), status, "exited");
    thread_exit_current(status);
}

CallResult call_abi_version() { return VIRTUE_ABI_VERSION; }

namespace {
// Runs op on another live domain for a control-domain caller.
template <typename Op> CallResult on_other_domain(uint64_t domid, Op op) {
    Domain& self = caller();
    if (!self.is_control()) return Err::NotPermitted;
    if (domid == self.id) return Err::InvalidArgument;
    if (domid >= DOMID_FIRST_RESERVED) return Err::NoSuchDomain;
    auto target = domain_get(static_cast<domid_t>(domid));
    if (!target) return target.error();
    op(**target);
    domain_put(**target);
    return 0;
}
} // namespace

CallResult call_domain_pause(uint64_t domid) {
    return on_other_domain(domid, [](Domain& d) {
        domain_pause(d);
        log_info("d%u '%s' paused by d%u", d.id, d.name, caller().id);
    });
}

CallResult call_domain_unpause(uint64_t domid) {
    return on_other_domain(domid, [](Domain& d) {
        domain_unpause(d);
        log_info("d%u '%s' unpaused by d%u", d.id, d.name, caller().id);
    });
}

CallResult call_domain_destroy(uint64_t domid) {
    return on_other_domain(domid, [](Domain& d) { domain_kill(d, -9, "destroyed by the control domain"); });
}

} // namespace virtue::native
