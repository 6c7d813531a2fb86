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

struct GrantMapping {
    KObject kobj{ObjType::GrantMapping, 1, nullptr};
    Domain* mapper = nullptr;
    AddressSpace* aspace = nullptr; // holds a reference
    uint64_t va = 0;
    Domain* granter = nullptr;      // holds a domain reference
    grant_ref_t ref = 0;
    Mfn frame;
    bool writable = false;
    bool released = false;          // unmapped and unpinned (closed, or the mapper died)
    bool linked = false;            // on the mapper's GrantTable::mappings (under its lock)
    GrantMapping* next = nullptr;
    GrantMapping* prev = nullptr;
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
// `mapper`). Err::NoSuchDomain: no such live domain; Err::BadGrantRef: bad
// reference; Err::InvalidArgument: va unaligned; Err::NotPermitted: not
// granted to mapper, or read-only for a writable map; Err::Exists: va is mapped; Err::Fault: va
// outside the domain's half; Err::NoMemory.
Result<GrantMapping*> grant_map(Domain& mapper, domid_t granter, grant_ref_t ref, AddressSpace& as, uint64_t va,
                                bool readonly);

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
// instead of a capability handle. Err::NoSpace: all kMaxMaptrack handles in
// use (nothing stays mapped); else grant_map's errors.
Result<grant_handle_t> grant_map_tracked(Domain& mapper, domid_t granter, grant_ref_t ref, AddressSpace& as,
                                         uint64_t va, bool readonly);
// Unmaps handle h, which must map `va` (of whichever address space it was
// made in). Err::InvalidArgument: no such handle; Err::Fault: it maps
// another address (and stays).
Status grant_unmap_tracked(Domain& mapper, grant_handle_t h, uint64_t va);

// Domain death: no new pins on d's grants (others' mappings of them stay
// until unmapped; they keep d a zombie), and d's own mappings of grants are
// released now (their handles stay, naming nothing; its Xen grant handles
// go). Releasing at death,
// not at the final free, also breaks cycles of domains mapping each
// other's grants.
void grant_domain_dying(Domain& d);

} // namespace virtue
