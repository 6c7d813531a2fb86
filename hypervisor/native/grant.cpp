// Native calls on grants: grant_access, grant_end, grant_map, grant_copy
// (the one implementation in grant/grant_table.hpp).
#include "native_handlers.hpp"

namespace virtue::native {

static_assert(kMaxGrants == VIRTUE_MAX_GRANTS);

CallResult call_grant_access(MemoryRef& memory, uint64_t page, uint64_t remote_domid, uint64_t flags) {
    const bool readonly = flags & VIRTUE_GRANT_READONLY;
    auto remote = remote_domain(remote_domid);
    if (!remote) return Err::InvalidArgument;
    if (!readonly && !memory.has(VIRTUE_RIGHT_WRITE)) return Err::Permission; // a writable grant
    auto ref = grant_access(caller(), *memory, page, *remote, readonly);
    if (!ref) return ref.error();
    return *ref;
}

CallResult call_grant_end(uint64_t ref) {
    TRY(grant_end(caller(), static_cast<grant_ref_t>(ref)));
    return 0;
}

CallResult call_grant_map(uint64_t remote_domid, uint64_t ref, AspaceRef& aspace, uint64_t va, uint64_t flags) {
    auto remote = remote_domain(remote_domid);
    if (!remote) return Err::InvalidArgument;
    NewHandle h(caller_handles());
    TRY(h.status());
    return h.publish(grant_map(caller(), *remote, static_cast<grant_ref_t>(ref), *aspace, va, flags & VIRTUE_GRANT_READONLY),
                     kMappingRights);
}

// Each operation gets its own GNTST_* status; the call fails only when an
// operation cannot be read or its status written back.
CallResult call_grant_copy(UserSpan<virtue_grant_copy> ops) {
    Domain& d = caller();
    for (uint64_t i = 0; i < ops.size(); i++) {
        virtue_grant_copy op;
        TRY(ops[i].read(op));
        int16_t status;
        if ((op.flags & ~uint32_t{VIRTUE_GRANT_COPY_TO_REMOTE}) || op.ref >= kMaxGrants) {
            status = GNTST_general_error;
        } else if (op.length == 0) {
            status = GNTST_bad_copy_arg; // the native call's rule (Xen's copy allows 0)
        } else if (auto remote = remote_domain(op.remote_domid); !remote) {
            status = GNTST_bad_domain;
        } else {
            GrantCopyEnd granted{GrantCopyEnd::Kind::Grant, *remote, op.ref, Mfn(), op.remote_offset, 0};
            GrantCopyEnd local{GrantCopyEnd::Kind::LocalVa, DOMID_INVALID, 0, Mfn(), 0, op.local_va};
            const bool to_remote = op.flags & VIRTUE_GRANT_COPY_TO_REMOTE;
            status = grant_copy(d, to_remote ? local : granted, to_remote ? granted : local, op.length);
        }
        const int32_t st = status;
        TRY(ops[i].field<int32_t>(offsetof(virtue_grant_copy, status)).write(st));
    }
    return 0;
}

} // namespace virtue::native
