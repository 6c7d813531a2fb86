// Grant tables (grant/grant_table.hpp).
#include "grant/grant_table.hpp"

#include <virtue/native_abi.h>

#include "arch/paging.hpp"
#include "arch/tlb.hpp"
#include "domain/domain.hpp"
#include "grant/grant_entry.hpp"
#include "lib/string.hpp"
#include "lib/xen_errno.hpp"
#include "mm/memory.hpp"
#include "vm/user_memory.hpp"
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

// A free entry for grant_access: never granted (or ended), no pin, no
// frame held. Err::NoSpace: every entry of the present frames is in use.
Result<grant_ref_t> free_entry_locked(GrantTable& t) {
    for (grant_ref_t ref = GNTTAB_NR_RESERVED_ENTRIES; ref < t.frames * kGrantsPerFrame; ref++) {
        const ActiveGrant& a = active_locked(t, ref);
        if (!grant::is_granted(*entry_locked(t, ref)) && a.pins == 0 && a.held == 0) return ref;
    }
    return Err::NoSpace;
}

Err pin_error(grant::PinResult r) {
    return r == grant::PinResult::NotGranted ? Err::NotGranted : Err::NotPermitted;
}

// Pins grant `ref` of rd for `by` (a mapping or a copy): the frame its
// entry names, read once (the granter may rewrite the entry at any time),
// or an error. The caller holds a reference to rd, and must then hold the
// frame (grant_frame_hold checks, under rd's mm_lock, that it is rd's
// memory) before touching it.
Result<Mfn> pin(Domain& rd, grant_ref_t ref, domid_t by, bool write) {
    GrantTable& t = rd.grants;
    IrqLockGuard guard(t.lock);
    if (t.dead) return Err::NoSuchDomain;
    grant_entry_v1_t* e = entry_locked(t, ref);
    if (!e) return Err::BadGrantRef;
    ActiveGrant& a = active_locked(t, ref);
    if (a.pins == UINT16_MAX) return Err::Busy;
    if (auto r = grant::pin(*e, by, write); r != grant::PinResult::Ok) return pin_error(r);
    const Mfn frame(__atomic_load_n(&e->frame, __ATOMIC_RELAXED));
    if (!frame_in_table(frame) || frame_info(frame).owner != rd.id) {
        grant::unpin(*e, write && a.writers == 0, a.pins == 0);
        return Err::BadGrantRef;
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

// A hold on a granted frame by its granter's rules (Domain::grant_holds)
// or the native ones.
Status hold_granted(Domain& rd, Mfn frame, bool write) {
    return rd.grant_holds ? rd.grant_holds->hold(rd, frame, write) : grant_frame_hold(rd, frame);
}
void release_granted(Domain& rd, Mfn frame, bool write) {
    if (rd.grant_holds) rd.grant_holds->release(rd, frame, write);
    else grant_frame_release(rd, frame);
}

// pin, then hold the frame: the frame stays allocated (and the granter's)
// until release_pinned, even if the granter closes its region meanwhile.
Result<Mfn> pin_and_hold(Domain& rd, grant_ref_t ref, domid_t by, bool write) {
    auto frame = pin(rd, ref, by, write);
    if (!frame) return frame;
    if (Status held = hold_granted(rd, *frame, write); !held) {
        unpin(rd, ref, write);
        return Err::BadGrantRef; // the entry names no memory of rd
    }
    return frame;
}

void release_pinned(Domain& rd, grant_ref_t ref, Mfn frame, bool write) {
    release_granted(rd, frame, write);
    unpin(rd, ref, write);
}

GrantMapping& mapping_of(KObject* o) { return kobject_cast<GrantMapping>(o); }

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
    // The host entry is gone from every CPU before the pin and hold go.
    if (m.mapper->grant_host_maps) m.mapper->grant_host_maps->unmap(*m.mapper, m);
    else if (m.parts & kGrantHostPart) aspace_unmap_foreign(*m.aspace, m.va);
    release_pinned(*m.granter, m.ref, m.frame, m.writable);
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

// ---- Copies ----

// One end of a copy once resolved: its bytes, and what to give back.
struct CopyHold {
    Domain* domain = nullptr;
    bool domain_ref = false; // Grant: domain_get's reference
    bool pinned = false;
    grant_ref_t ref = 0;
    bool write = false;
    Mfn frame;
    bool held = false; // Frame: a hold on the caller's own frame
    uint8_t* bytes = nullptr;
};

int16_t take_end(Domain& caller, const GrantCopyEnd& end, bool write, uint32_t length, CopyHold& h) {
    if (end.kind == GrantCopyEnd::Kind::LocalVa) return GNTST_okay;
    if (end.offset >= PAGE_SIZE || length > PAGE_SIZE - end.offset) return GNTST_bad_copy_arg;
    if (end.kind == GrantCopyEnd::Kind::Frame) {
        if (!grant_frame_hold(caller, end.frame)) return GNTST_bad_page;
        h.domain = &caller;
        h.frame = end.frame;
        h.held = true;
    } else {
        auto got = domain_get(end.domid);
        if (!got) return GNTST_bad_domain;
        h.domain = *got;
        h.domain_ref = true;
        auto frame = pin_and_hold(**got, end.ref, caller.id, write);
        if (!frame) return grant_status_of(frame.error());
        h.pinned = true;
        h.ref = end.ref;
        h.write = write;
        h.frame = *frame;
    }
    h.bytes = arch::phys_ptr<uint8_t>(to_phys(h.frame)) + end.offset;
    return GNTST_okay;
}

void give_back(CopyHold& h) {
    if (h.pinned) release_pinned(*h.domain, h.ref, h.frame, h.write);
    if (h.held) grant_frame_release(*h.domain, h.frame);
    if (h.domain_ref) domain_put(*h.domain);
}

// ---- The Xen family's grant handles ----

// A maptrack slot holds a GrantMapping*, or (free) the next free handle
// shifted left by one with the low bit set.
using Slot = GrantMapping*;
constexpr uint32_t kNoHandle = UINT32_MAX;

Slot& slot_locked(GrantTable& t, grant_handle_t h) { return t.maptrack[h / kMaptrackPerFrame][h % kMaptrackPerFrame]; }
bool slot_free(Slot s) { return reinterpret_cast<uintptr_t>(s) & 1; }
Slot free_slot(uint32_t next) { return reinterpret_cast<Slot>((uintptr_t{next} << 1) | 1); }
uint32_t next_free(Slot s) { return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(s) >> 1); }

// A free handle, growing the maptrack by a frame when none is left.
// Err::NoSpace: kMaxMaptrack in use, or no partition frame for more.
Result<grant_handle_t> take_handle_locked(Domain& d) {
    GrantTable& t = d.grants;
    if (t.maptrack_free == kNoHandle) {
        if (t.maptrack_frames == kMaxMaptrackFrames) return Err::NoSpace;
        auto f = domain_alloc_frame(d); // GrantTable::lock -> Domain::lock: the documented order
        if (!f) return Err::NoSpace;
        t.maptrack[t.maptrack_frames] = arch::phys_ptr<Slot>(to_phys(*f));
        const uint32_t first = t.maptrack_frames * kMaptrackPerFrame;
        t.maptrack_frames++;
        for (uint32_t i = 0; i < kMaptrackPerFrame; i++)
            slot_locked(t, first + i) = free_slot(i + 1 < kMaptrackPerFrame ? first + i + 1 : kNoHandle);
        t.maptrack_free = first;
    }
    const grant_handle_t h = t.maptrack_free;
    t.maptrack_free = next_free(slot_locked(t, h));
    return h;
}

void put_handle_locked(GrantTable& t, grant_handle_t h) {
    slot_locked(t, h) = free_slot(t.maptrack_free);
    t.maptrack_free = h;
}

// Death: takes one live tracked mapping out of d's maptrack (its
// reference now the caller's), or null when none is left.
GrantMapping* take_any_tracked_locked(GrantTable& t, grant_handle_t& cursor) {
    for (; cursor < t.maptrack_frames * kMaptrackPerFrame; cursor++) {
        Slot s = slot_locked(t, cursor);
        if (s && !slot_free(s)) {
            put_handle_locked(t, cursor);
            return s;
        }
    }
    return nullptr;
}

} // namespace

Status grant_table_grow(Domain& d, uint32_t want) {
    if (want > kMaxGrantFrames) return Err::NoSpace;
    GrantTable& t = d.grants;
    // Only growth changes `frames`, so i stays ours. It maps under mm_lock,
    // whose holders may wait for TLB shootdowns: answer them while waiting.
    PollingLockGuard grow(t.grow_lock, arch::tlb_serve_requests);
    for (;;) {
        uint32_t i;
        {
            IrqLockGuard guard(t.lock);
            if (t.dead) return Err::NoSuchDomain;
            i = t.frames;
        }
        if (i >= want) return Status::success();
        auto entries = domain_alloc_frame(d);
        if (!entries) return entries.error();
        auto active = domain_alloc_frame(d);
        if (!active) {
            domain_free_frame(d, *entries);
            return active.error();
        }
        if (t.map_va) {
            // Mapped like the shared_info page: a Memory frame of the
            // domain, held so that unmapping it does not free it.
            Status s = aspace_map_held_frame(*d.aspace0, t.map_va + i * PAGE_SIZE, *entries,
                                             VIRTUE_PROT_READ | VIRTUE_PROT_WRITE);
            if (!s) {
                domain_free_frame(d, *entries);
                domain_free_frame(d, *active);
                return s.error();
            }
        }
        IrqLockGuard guard(t.lock);
        // A domain that started dying meanwhile keeps the frames until its
        // partition goes back whole.
        if (t.dead) return Err::NoSuchDomain;
        t.entries[i] = arch::phys_ptr<grant_entry_v1_t>(to_phys(*entries));
        t.entry_frames[i] = *entries;
        t.active[i] = arch::phys_ptr<ActiveGrant>(to_phys(*active));
        t.frames = i + 1;
    }
}

uint32_t grant_table_frames(Domain& d) {
    IrqLockGuard guard(d.grants.lock);
    return d.grants.frames;
}

Mfn grant_table_frame(Domain& d, uint32_t i) {
    IrqLockGuard guard(d.grants.lock);
    return d.grants.entry_frames[i];
}

Result<grant_ref_t> grant_access(Domain& d, MemRegion& r, uint64_t page, domid_t to, bool readonly) {
    if (page >= r.pages) return Err::InvalidArgument;
    const Mfn frame = region_frame(r, page);
    TRY(grant_frame_hold(d, frame));
    for (;;) {
        Result<grant_ref_t> ref = Err::NoSuchDomain;
        uint32_t frames;
        {
            IrqLockGuard guard(d.grants.lock);
            if (!d.grants.dead) ref = free_entry_locked(d.grants);
            if (ref) {
                grant::grant_access(*entry_locked(d.grants, *ref), static_cast<uint32_t>(frame.raw()), to, readonly);
                active_locked(d.grants, *ref).held = static_cast<uint32_t>(frame.raw() + 1);
                return ref;
            }
            frames = d.grants.frames;
        }
        Status grown = ref.error() == Err::NoSpace ? grant_table_grow(d, frames + 1) : Status(ref.error());
        if (!grown) {
            grant_frame_release(d, frame);
            return grown.error();
        }
    }
}

Status grant_end(Domain& d, grant_ref_t ref) {
    Mfn frame;
    {
        IrqLockGuard guard(d.grants.lock);
        grant_entry_v1_t* e = entry_locked(d.grants, ref);
        if (!e) return Err::BadGrantRef;
        ActiveGrant& a = active_locked(d.grants, ref);
        const bool granted = grant::is_granted(*e);
        if (!granted && a.held == 0) return Err::BadGrantRef;
        if (a.pins || (granted && !grant::end_access(*e))) return Err::Busy;
        if (a.held == 0) return Status::success(); // an entry the domain wrote itself
        frame = Mfn(a.held - 1);
        a.held = 0;
    }
    grant_frame_release(d, frame);
    return Status::success();
}

Result<GrantMapping*> grant_map(Domain& mapper, domid_t granter, grant_ref_t ref, AddressSpace& as, uint64_t va,
                                bool readonly, uint32_t gntmap_flags) {
    const uint8_t parts = ((gntmap_flags & GNTMAP_host_map) ? kGrantHostPart : 0) |
                          ((gntmap_flags & GNTMAP_device_map) ? kGrantDevicePart : 0);
    if (!parts) return Err::InvalidArgument;
    auto got = domain_get(granter);
    if (!got) return Err::NoSuchDomain;
    Domain& rd = **got;
    auto fail = [&](Err e) -> Result<GrantMapping*> {
        domain_put(rd);
        return e;
    };
    auto mem = heap_alloc(sizeof(GrantMapping));
    if (!mem) return fail(mem.error());
    // The mapping's own hold on the frame: it stays while mapped even if
    // the granter closes its region or ends the entry's hold.
    auto frame = pin_and_hold(rd, ref, mapper.id, !readonly);
    if (!frame) {
        (void)heap_free(*mem);
        return fail(frame.error());
    }
    auto* m = new (*mem) GrantMapping();
    m->mapper = &mapper;
    m->aspace = &as;
    m->va = va;
    m->gntmap_flags = gntmap_flags;
    m->ref = ref;
    m->frame = *frame;
    m->writable = !readonly;
    if (parts & kGrantHostPart) {
        Status mapped = mapper.grant_host_maps ? mapper.grant_host_maps->map(mapper, *m)
                                               : aspace_map_foreign(as, va, *frame, !readonly);
        if (!mapped) {
            release_pinned(rd, ref, *frame, !readonly);
            m->~GrantMapping();
            (void)heap_free(*mem);
            return fail(mapped.error());
        }
    }
    m->parts = parts;
    m->kobj.destroy = destroy_mapping;
    kobject_ref(as.kobj);
    m->granter = &rd; // keeps domain_get's reference, unless it is the mapper itself
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

int16_t grant_copy(Domain& caller, const GrantCopyEnd& src, const GrantCopyEnd& dst, uint32_t length) {
    using Kind = GrantCopyEnd::Kind;
    if (length > PAGE_SIZE || (src.kind == Kind::LocalVa && dst.kind == Kind::LocalVa)) return GNTST_bad_copy_arg;
    CopyHold from, to;
    int16_t status = take_end(caller, src, false, length, from);
    if (status == GNTST_okay) status = take_end(caller, dst, true, length, to);
    if (status == GNTST_okay && length) {
        // The pins and holds keep both frames allocated while we copy.
        Status copied = Status::success();
        if (src.kind == Kind::LocalVa) copied = copy_from_user(to.bytes, src.va, length);
        else if (dst.kind == Kind::LocalVa) copied = copy_to_user(dst.va, from.bytes, length);
        else memmove(to.bytes, from.bytes, length);
        if (!copied) status = grant_status_of(copied.error());
    }
    give_back(to);
    give_back(from);
    return status;
}

Result<grant_handle_t> grant_map_tracked(Domain& mapper, domid_t granter, grant_ref_t ref, AddressSpace& as,
                                         uint64_t va, bool readonly, uint32_t gntmap_flags, Mfn* frame) {
    auto m = grant_map(mapper, granter, ref, as, va, readonly, gntmap_flags);
    if (!m) return m.error();
    *frame = (*m)->frame;
    Result<grant_handle_t> h = Err::NoSuchDomain;
    {
        IrqLockGuard guard(mapper.grants.lock);
        if (!mapper.grants.dead) h = take_handle_locked(mapper);
        if (h) slot_locked(mapper.grants, *h) = *m; // the slot takes grant_map's reference
    }
    if (!h) kobject_unref((*m)->kobj); // unmaps
    return h;
}

int16_t grant_unmap_tracked(Domain& mapper, grant_handle_t h, uint64_t host_addr, uint64_t dev_bus_addr) {
    GrantTable& t = mapper.grants;
    GrantMapping* m;
    bool last;
    uint8_t drop;
    {
        IrqLockGuard guard(t.lock);
        if (h >= t.maptrack_frames * kMaptrackPerFrame) return GNTST_bad_handle;
        m = slot_locked(t, h);
        if (!m || slot_free(m)) return GNTST_bad_handle;
        drop = (host_addr && (m->parts & kGrantHostPart) ? kGrantHostPart : 0) |
               (dev_bus_addr && (m->parts & kGrantDevicePart) ? kGrantDevicePart : 0);
        if ((drop & kGrantDevicePart) && dev_bus_addr != to_phys(m->frame).raw()) return GNTST_bad_dev_addr;
        if ((drop & kGrantHostPart) && host_addr != m->va) return GNTST_general_error;
        if (!drop) return GNTST_okay;
        last = (m->parts & ~drop) == 0;
        if (last) put_handle_locked(t, h); // its reference is ours now: dropping it releases every part
        else {
            kobject_ref(m->kobj); // (the slot's may go meanwhile, with the mapper's death)
            m->parts &= static_cast<uint8_t>(~(drop & kGrantDevicePart));
        }
    }
    if (!last) {
        // Only a personality's host part comes apart from the device part
        // (native mappings have no device part).
        if (drop & kGrantHostPart) mapper.grant_host_maps->unmap(mapper, *m);
        bool slot_ref = false;
        {
            IrqLockGuard guard(t.lock);
            // A concurrent unmap of the other part may have left nothing.
            if (m->parts == 0 && h < t.maptrack_frames * kMaptrackPerFrame && slot_locked(t, h) == m) {
                put_handle_locked(t, h);
                slot_ref = true;
            }
        }
        if (slot_ref) kobject_unref(m->kobj);
    }
    kobject_unref(m->kobj);
    return GNTST_okay;
}

void grant_domain_dying(Domain& d) {
    // The Xen family's grant handles first: dropping a slot's reference
    // releases its mapping.
    grant_handle_t cursor = 0;
    for (;;) {
        GrantMapping* m;
        {
            IrqLockGuard guard(d.grants.lock);
            d.grants.dead = true;
            m = take_any_tracked_locked(d.grants, cursor);
        }
        if (!m) break;
        kobject_unref(m->kobj);
    }
    for (;;) {
        GrantMapping* m;
        {
            IrqLockGuard guard(d.grants.lock);
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
