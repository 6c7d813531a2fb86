// Grant tables (grant/grant_table.hpp).
#include "grant/grant_table.hpp"

#include "arch/paging.hpp"
#include "domain/domain.hpp"
#include "grant/grant_entry.hpp"
#include "mm/memory.hpp"
#include "native/user_memory.hpp"
#include "vm/address_space.hpp"

namespace virtue {
namespace {

static_assert(kGrantsPerFrame * sizeof(grant_entry_v1_t) == PAGE_SIZE);
static_assert(kGrantsPerFrame * sizeof(ActiveGrant) == PAGE_SIZE);

grant_entry_v1_t* entry_locked(GrantTable& t, grant_ref_t ref) {
    if (ref >= t.frames * kGrantsPerFrame) return nullptr;
    return &t.entries[ref / kGrantsPerFrame][ref % kGrantsPerFrame];
}
ActiveGrant& active_locked(GrantTable& t, grant_ref_t ref) { return t.active[ref / kGrantsPerFrame][ref % kGrantsPerFrame]; }

// A free entry (never granted, or ended with no pin left), growing the
// table by one frame when all are in use.
Result<grant_ref_t> free_entry_locked(Domain& d) {
    GrantTable& t = d.grants;
    for (grant_ref_t ref = GNTTAB_NR_RESERVED_ENTRIES; ref < t.frames * kGrantsPerFrame; ref++)
        if (!grant::is_granted(*entry_locked(t, ref)) && active_locked(t, ref).pins == 0) return ref;
    if (t.frames == kMaxGrantFrames) return Err::Range;
    auto entries = domain_alloc_frame(d);
    if (!entries) return Err::NoMemory;
    auto active = domain_alloc_frame(d);
    if (!active) {
        domain_free_frame(d, *entries);
        return Err::NoMemory;
    }
    t.entries[t.frames] = arch::phys_ptr<grant_entry_v1_t>(to_phys(*entries));
    t.active[t.frames] = arch::phys_ptr<ActiveGrant>(to_phys(*active));
    grant_ref_t first = t.frames * kGrantsPerFrame;
    t.frames++;
    return first < GNTTAB_NR_RESERVED_ENTRIES ? grant_ref_t{GNTTAB_NR_RESERVED_ENTRIES} : first;
}

Err pin_error(grant::PinResult r) {
    return r == grant::PinResult::NotGranted ? Err::InvalidArgument : Err::Permission;
}

// Pins grant `ref` of rd for `by` (a mapping or a copy): its frame, or an
// error. The caller holds a reference to rd.
Result<Mfn> pin(Domain& rd, grant_ref_t ref, domid_t by, bool write) {
    GrantTable& t = rd.grants;
    IrqLockGuard guard(t.lock);
    if (t.dead) return Err::NotFound;
    grant_entry_v1_t* e = entry_locked(t, ref);
    if (!e || ref < GNTTAB_NR_RESERVED_ENTRIES) return Err::InvalidArgument;
    ActiveGrant& a = active_locked(t, ref);
    if (a.pins == UINT16_MAX) return Err::Busy;
    if (auto r = grant::pin(*e, by, write); r != grant::PinResult::Ok) return pin_error(r);
    // The entry names a frame of rd that its grant holds (written by
    // grant_access; a Xen guest's own entries will be checked here too).
    const Mfn frame(e->frame);
    if (!frame_in_table(frame) || frame_info(frame).owner != rd.id || frame_info(frame).type != PageType::Memory ||
        frame_info(frame).type_count == 0) {
        grant::unpin(*e, write && a.writers == 0, a.pins == 0);
        return Err::InvalidArgument;
    }
    a.pins++;
    if (write) a.writers++;
    return frame;
}

void unpin(Domain& rd, grant_ref_t ref, bool write) {
    GrantTable& t = rd.grants;
    IrqLockGuard guard(t.lock);
    ActiveGrant& a = active_locked(t, ref);
    a.pins--;
    if (write) a.writers--;
    grant::unpin(*entry_locked(t, ref), write && a.writers == 0, a.pins == 0);
}

GrantMapping& mapping_of(KObject* o) {
    return *reinterpret_cast<GrantMapping*>(reinterpret_cast<char*>(o) - offsetof(GrantMapping, kobj));
}

void unlink_locked(GrantTable& t, GrantMapping& m) {
    if (!m.linked) return;
    if (m.prev) m.prev->next = m.next;
    else t.mappings = m.next;
    if (m.next) m.next->prev = m.prev;
    m.next = m.prev = nullptr;
    m.linked = false;
}

// Unmaps and unpins m once (closing it, or its mapper's death).
void release_mapping(GrantMapping& m) {
    {
        GrantTable& t = m.mapper->grants;
        IrqLockGuard guard(t.lock);
        if (m.released) return;
        m.released = true;
        unlink_locked(t, m);
    }
    aspace_unmap_foreign(*m.aspace, m.va); // shot down before the pin goes
    unpin(*m.granter, m.ref, m.writable);
    grant_frame_release(*m.granter, m.frame);
    if (m.granter != m.mapper) domain_put(*m.granter); // a dead granter's partition may go now
}

void destroy_mapping(KObject* o) {
    GrantMapping& m = mapping_of(o);
    release_mapping(m);
    __atomic_fetch_sub(&m.mapper->overhead_bytes, heap_footprint(sizeof(GrantMapping)), __ATOMIC_RELAXED);
    AddressSpace* as = m.aspace;
    m.~GrantMapping();
    (void)heap_free(&m);
    kobject_unref(as->kobj);
}

} // namespace

Result<grant_ref_t> grant_access(Domain& d, MemRegion& r, uint64_t page, domid_t to, bool readonly) {
    if (page >= r.pages) return Err::InvalidArgument;
    const Mfn frame = region_frame(r, page);
    TRY(grant_frame_hold(d, frame));
    Result<grant_ref_t> ref = Err::NotFound;
    {
        IrqLockGuard guard(d.grants.lock);
        if (!d.grants.dead) ref = free_entry_locked(d);
        if (ref) grant::grant_access(*entry_locked(d.grants, *ref), static_cast<uint32_t>(frame.raw()), to, readonly);
    }
    if (!ref) grant_frame_release(d, frame);
    return ref;
}

Status grant_end(Domain& d, grant_ref_t ref) {
    Mfn frame;
    {
        IrqLockGuard guard(d.grants.lock);
        grant_entry_v1_t* e = entry_locked(d.grants, ref);
        if (!e || ref < GNTTAB_NR_RESERVED_ENTRIES || !grant::is_granted(*e)) return Err::InvalidArgument;
        if (active_locked(d.grants, ref).pins || !grant::end_access(*e)) return Err::Busy;
        frame = Mfn(e->frame);
    }
    grant_frame_release(d, frame);
    return Status::success();
}

Result<GrantMapping*> grant_map(Domain& mapper, domid_t granter, grant_ref_t ref, AddressSpace& as, uint64_t va,
                                bool readonly) {
    auto got = domain_get(granter);
    if (!got) return Err::NotFound;
    Domain& rd = **got;
    auto fail = [&](Err e) -> Result<GrantMapping*> {
        domain_put(rd);
        return e;
    };
    auto mem = heap_alloc(sizeof(GrantMapping));
    if (!mem) return fail(mem.error());
    auto frame = pin(rd, ref, mapper.id, !readonly);
    if (!frame) {
        (void)heap_free(*mem);
        return fail(frame.error());
    }
    // The mapping's own hold on the frame, beside the grant's: the frame
    // stays while mapped even if its region is closed.
    Status held = grant_frame_hold(rd, *frame);
    Status mapped = held ? aspace_map_foreign(as, va, *frame, !readonly) : held;
    if (!mapped) {
        if (held) grant_frame_release(rd, *frame);
        unpin(rd, ref, !readonly);
        (void)heap_free(*mem);
        return fail(mapped.error());
    }
    auto* m = new (*mem) GrantMapping();
    m->kobj.destroy = destroy_mapping;
    m->mapper = &mapper;
    m->aspace = &as;
    kobject_ref(as.kobj);
    m->va = va;
    m->granter = &rd; // keeps domain_get's reference, unless it is the mapper itself
    m->ref = ref;
    m->frame = *frame;
    m->writable = !readonly;
    __atomic_fetch_add(&mapper.overhead_bytes, heap_footprint(sizeof(GrantMapping)), __ATOMIC_RELAXED);
    bool dying;
    {
        IrqLockGuard guard(mapper.grants.lock);
        dying = mapper.grants.dead;
        if (!dying) {
            m->next = mapper.grants.mappings;
            if (m->next) m->next->prev = m;
            mapper.grants.mappings = m;
            m->linked = true;
        }
    }
    if (&rd == &mapper) domain_put(rd); // no reference to itself (it could never be freed)
    // The mapper started dying meanwhile: its mappings must not outlive that.
    if (dying) release_mapping(*m);
    return m;
}

int16_t grant_copy_one(Domain& caller, domid_t remote, grant_ref_t ref, uint32_t offset, uint64_t local_va,
                       uint32_t length, bool to_remote) {
    if (length == 0 || offset >= PAGE_SIZE || length > PAGE_SIZE - offset) return GNTST_bad_copy_arg;
    auto got = domain_get(remote == DOMID_SELF ? caller.id : remote);
    if (!got) return GNTST_bad_domain;
    Domain& rd = **got;
    int16_t status = GNTST_okay;
    auto frame = pin(rd, ref, caller.id, to_remote);
    if (!frame) {
        status = frame.error() == Err::InvalidArgument ? GNTST_bad_gntref
                 : frame.error() == Err::NotFound      ? GNTST_bad_domain
                 : frame.error() == Err::Busy          ? GNTST_general_error // 65535 pins
                                                       : GNTST_permission_denied;
    } else {
        // The pin keeps the frame granted (and so allocated) while we copy.
        uint8_t* remote_bytes = arch::phys_ptr<uint8_t>(to_phys(*frame)) + offset;
        int64_t r = to_remote ? copy_from_user(remote_bytes, local_va, length)
                              : copy_to_user(local_va, remote_bytes, length);
        if (r < 0) status = GNTST_bad_virt_addr;
        unpin(rd, ref, to_remote);
    }
    domain_put(rd);
    return status;
}

void grant_domain_dying(Domain& d) {
    for (;;) {
        GrantMapping* m;
        {
            IrqLockGuard guard(d.grants.lock);
            d.grants.dead = true;
            m = d.grants.mappings;
            if (!m) return;
            if (!kobject_try_ref(m->kobj)) {
                // Its last handle is closing: its destroy releases it.
                unlink_locked(d.grants, *m);
                continue;
            }
        }
        release_mapping(*m);
        kobject_unref(m->kobj);
    }
}

} // namespace virtue
