// Grant tables (Xen v1 semantics): the only way memory is shared between
// domains (partitions are never shared otherwise), implemented once for
// both hypercall families.
//
// A domain's grant table is a list of grant_entry_v1 entries in partition
// frames (up to kMaxGrantFrames), each naming a frame of the domain (its
// MFN), the one domain it is granted to, and whether read-only. The domain
// writes its entries itself, as a Xen guest does: a native domain finds
// its table mapped read-write at GrantTable::map_va (VIRTUE_GRANT_TABLE_VA;
// GNTTABOP_setup_table tells a PV guest its frames). grant_access is the
// native shortcut that writes an entry for the caller and holds its frame.
// Beside each entry the hypervisor keeps private pin counts (ActiveGrant):
// mappings and copies in progress. Since the domain may rewrite an entry at
// any time, the hypervisor reads its frame once per pin and checks, under
// the granter's mm_lock, that it is a Memory frame of the granter before
// using it (grant_frame_hold).
//
// What holds what:
//   - an entry made by grant_access holds its frame (FrameInfo::type_count
//     + 1; ActiveGrant::held remembers which): the granter's region may be
//     closed meanwhile, the frame stays until grant_end. An entry the
//     domain wrote itself holds nothing until it is mapped or copied;
//   - a copy holds its frames while it copies;
//   - a foreign mapping (GrantMapping, a KObject named by a handle of the
//     mapping domain) holds the frame (type_count + 1), a pin on the entry
//     (GTF_reading / GTF_writing: the granter cannot end it) and a
//     reference to the granting domain (unless it maps its own grant), so a
//     granter that dies stays a zombie — its partition reserved — until its
//     last foreign mapping is unmapped or its mapper dies;
//   - the leaf of a foreign mapping carries pte::SW2: the mapping domain
//     cannot unmap it with aspace_unmap (only by closing the mapping), and
//     its frame is not counted in the mapping domain's ref_counts.
//
// The Xen family names its mappings by grant handles: a per-domain maptrack
// table of GrantMapping references (partition frames, up to kMaxMaptrack).
//
// Locking: a domain's GrantTable::lock guards its entries' pins, the
// published frames and the maptrack; GrantTable::grow_lock serialises
// growth (which maps the new frame, under mm_lock); frame counts change
// under the owning domain's mm_lock.
// Order: grow_lock → mm_lock → GrantTable::lock → Domain::lock; two domains' locks are
// never held together (the mapper's page-table edit and the granter's
// table are taken one after the other).
#pragma once

#include <stdint.h>
#include <xen/xen.h>
#include <xen/grant_table.h>

#include "cap/handle_table.hpp"
#include "lib/addr.hpp"
#include "lib/result.hpp"
#include "lib/spinlock.hpp"

namespace virtue {

struct Domain;
struct AddressSpace;
struct MemRegion;

inline constexpr uint32_t kMaxGrantFrames = 16;                                   // 8192 entries
inline constexpr uint32_t kGrantsPerFrame = 4096 / sizeof(grant_entry_v1_t);     // 512
inline constexpr uint32_t kMaxGrants = kMaxGrantFrames * kGrantsPerFrame;

struct GrantMapping;

inline constexpr uint32_t kMaptrackPerFrame = 4096 / sizeof(GrantMapping*);    // 512
inline constexpr uint32_t kMaxMaptrackFrames = 8;
inline constexpr uint32_t kMaxMaptrack = kMaxMaptrackFrames * kMaptrackPerFrame; // 4096 grant handles

struct ActiveGrant {
    uint16_t pins = 0;    // mappings and copies in progress
    uint16_t writers = 0; // of them, writable
    uint32_t held = 0;    // MFN + 1 of the frame grant_access holds for this entry, or 0
};

struct GrantTable {
    SpinLock lock{LockRank::GrantTable};
    SpinLock grow_lock{LockRank::GrantGrow};
    grant_entry_v1_t* entries[kMaxGrantFrames] = {}; // partition frames, the domain's to write
    Mfn entry_frames[kMaxGrantFrames];
    ActiveGrant* active[kMaxGrantFrames] = {};       // partition frames (hypervisor-private)
    uint32_t frames = 0;
    uint64_t map_va = 0;               // native domains: where the entry frames are mapped (0: not mapped)
    bool dead = false;                 // the domain is dying: no new pins, no new mappings
    GrantMapping* mappings = nullptr;  // this domain's live mappings of grants (to release at death)
    GrantMapping** maptrack[kMaxMaptrackFrames] = {}; // Xen family: grant handle -> mapping (holds a reference)
    uint32_t maptrack_frames = 0;
    uint32_t maptrack_free = UINT32_MAX; // first free handle (a list through the free slots)
};

// What a mapping of a grant is made of (GrantMapping::parts): a host
// mapping (an entry in the mapper's page tables) and, for the Xen family's
// GNTMAP_device_map, a device mapping: no entry anywhere (there is no
// IOMMU), only the pin and the frame's bus address told to the mapper. The
// mapping lives while a part is left.
inline constexpr uint8_t kGrantHostPart = 1, kGrantDevicePart = 2;

struct GrantMapping {
    KObject kobj{ObjType::GrantMapping, 1, nullptr};
    Domain* mapper = nullptr;
    AddressSpace* aspace = nullptr; // holds a reference
    uint64_t va = 0;                // the host address as the mapper named it (GNTMAP_contains_pte: an entry's machine address)
    uint32_t gntmap_flags = 0;      // GNTMAP_* of a Xen-family map (GNTMAP_host_map for a native one)
    uint64_t host_entry = 0;        // GrantHostMapOps: where the entry was written, as the personality records it
    uint8_t parts = 0;              // kGrant*Part still there (under the mapper's GrantTable::lock; the
                                    // host part goes only together with its entry, see GrantHostMapOps)
    Domain* granter = nullptr;      // holds a domain reference
    grant_ref_t ref = 0;
    Mfn frame;
    bool writable = false;
    bool released = false;          // unmapped and unpinned (closed, or the mapper died)
    bool linked = false;            // on the mapper's GrantTable::mappings (under its lock)
    GrantMapping* next = nullptr;
    GrantMapping* prev = nullptr;
};

// Host mappings in a domain whose page tables are its own (a Xen PV
// guest's, written through its personality's MMU; Domain::grant_host_maps):
// the personality writes and clears the entry. Null: the hypervisor maps
// into the native address space (aspace_map_foreign).
struct GrantHostMapOps {
    // Writes the entry for m.frame (writable if m.writable) where m.va and
    // m.gntmap_flags say, recording in m.host_entry what unmap needs.
    // Err::InvalidArgument: no such place (nothing changed then).
    Status (*map)(Domain& mapper, GrantMapping& m);
    // If m's host part is still there: clears its entry if the entry still
    // names m.frame, flushes every CPU of the mapper, then clears the part
    // (all under the mapper's mm_lock, so a concurrent release never drops
    // the frame while an entry or a TLB may still name it).
    void (*unmap)(Domain& mapper, GrantMapping& m);
};

// Grows d's table to at least `frames` frames (mapping each new entry
// frame at map_va + i * 4 KiB when map_va is set). Err::NoSpace: beyond
// kMaxGrantFrames; Err::NoMemory: no partition frame; Err::Exists: the
// domain mapped something where a table frame goes; Err::NoSuchDomain: dying.
Status grant_table_grow(Domain& d, uint32_t frames);

// The table's size in frames, and the MFN of its entry frame i (< size).
uint32_t grant_table_frames(Domain& d);
Mfn grant_table_frame(Domain& d, uint32_t i);

// Grants page `page` of region r (of d) to domain `to`: the new grant
// reference (>= GNTTAB_NR_RESERVED_ENTRIES, the lowest free). Err::NoSpace:
// the table is full; Err::NoMemory: no partition frame to grow it;
// Err::Exists: the table's virtual range is taken;
// Err::InvalidArgument: page beyond the region; Err::NoSuchDomain: d is dying.
Result<grant_ref_t> grant_access(Domain& d, MemRegion& r, uint64_t page, domid_t to, bool readonly);

// Ends grant `ref` of d and releases the frame grant_access held for it.
// Err::BadGrantRef: neither a live grant nor one grant_access made
// (and the domain ended itself); Err::Busy: mapped, or a copy is using it.
Status grant_end(Domain& d, grant_ref_t ref);

// Maps grant `ref` of domain `granter` at `va` of `as` (an address space of
// `mapper`). `gntmap_flags` (the Xen family's GNTMAP_host_map and
// GNTMAP_device_map, at least one; the others for GrantHostMapOps) say
// which parts it has. Err::NoSuchDomain: no such live domain;
// Err::BadGrantRef: bad reference; Err::NotGranted: the entry grants
// nothing; Err::InvalidArgument: va unaligned, or no place for the entry;
// Err::NotPermitted: not granted to mapper, or read-only for a writable
// map; Err::Exists: va is mapped; Err::Fault: va outside the domain's
// half; Err::NoMemory.
Result<GrantMapping*> grant_map(Domain& mapper, domid_t granter, grant_ref_t ref, AddressSpace& as, uint64_t va,
                                bool readonly, uint32_t gntmap_flags = GNTMAP_host_map);

// One end of a grant copy: a granted frame (`domid`'s grant `ref`), a
// frame of the caller named by MFN (the Xen family's gmfn), or memory at
// `va` of the caller's current address space (native grant_copy).
struct GrantCopyEnd {
    enum class Kind : uint8_t { Grant, Frame, LocalVa } kind = Kind::Grant;
    domid_t domid = DOMID_INVALID; // Grant: the granting domain (resolved, never DOMID_SELF)
    grant_ref_t ref = 0;        // Grant
    Mfn frame;                  // Frame
    uint32_t offset = 0;        // Grant, Frame
    uint64_t va = 0;            // LocalVa
};

// Copies `length` bytes (0 .. 4096; 0: only the checks) from src to dst
// (not both LocalVa); a GNTST_* status. Each granted frame is pinned (a write pin for dst) and every
// frame held while it is copied.
int16_t grant_copy(Domain& caller, const GrantCopyEnd& src, const GrantCopyEnd& dst, uint32_t length);

// The Xen family's grant handles (GNTTABOP_map_grant_ref /
// unmap_grant_ref): grant_map, named by a maptrack slot of the mapper
// instead of a capability handle; *frame: the frame it maps.
// Err::NoSpace: all kMaxMaptrack handles in use (nothing stays mapped);
// else grant_map's errors.
Result<grant_handle_t> grant_map_tracked(Domain& mapper, domid_t granter, grant_ref_t ref, AddressSpace& as,
                                         uint64_t va, bool readonly, uint32_t gntmap_flags, Mfn* frame);
// Takes down the parts of handle h that the call names, as Xen does: the
// host part when `host_addr` is not 0 (it must be the address it was
// mapped at), the device part when `dev_bus_addr` is not 0 (it must be the
// frame's bus address); a part already gone is no error. The handle goes
// with its last part. A GNTST_* status: bad_handle (no such handle),
// general_error (host_addr is not where it maps), bad_dev_addr (nor the
// bus address); nothing changed then.
int16_t grant_unmap_tracked(Domain& mapper, grant_handle_t h, uint64_t host_addr, uint64_t dev_bus_addr);

// Domain death: no new pins on d's grants (others' mappings of them stay
// until unmapped; they keep d a zombie), and d's own mappings of grants are
// released now (their handles stay, naming nothing; its Xen grant handles
// go). Releasing at death,
// not at the final free, also breaks cycles of domains mapping each
// other's grants.
void grant_domain_dying(Domain& d);

} // namespace virtue
