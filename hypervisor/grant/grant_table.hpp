// Grant tables (Xen v1 semantics): the only way memory is shared between
// domains (BRIEF decision 6), implemented once for both hypercall families
// (issue 5).
//
// A domain's grant table is a list of grant_entry_v1 entries in partition
// frames (up to kMaxGrantFrames; Xen's layout, so a Xen guest will write
// them itself later), each naming a frame of the domain, the one domain it
// is granted to, and whether read-only. Beside each entry the hypervisor
// keeps private pin counts (ActiveGrant): mappings and copies in progress.
//
// What holds what:
//   - an entry holds its frame (FrameInfo::type_count + 1): the granter's
//     region may be closed meanwhile, the frame stays until the grant ends;
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
// Locking: a domain's GrantTable::lock guards its entries' pins and the
// table's growth; frame counts change under the owning domain's mm_lock.
// Order: mm_lock → GrantTable::lock → Domain::lock; two domains' locks are
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

struct ActiveGrant {
    uint16_t pins = 0;    // mappings and copies in progress
    uint16_t writers = 0; // of them, writable
    uint32_t reserved = 0;
};

struct GrantMapping;

struct GrantTable {
    SpinLock lock;
    grant_entry_v1_t* entries[kMaxGrantFrames] = {}; // partition frames
    ActiveGrant* active[kMaxGrantFrames] = {};       // partition frames (hypervisor-private)
    uint32_t frames = 0;
    bool dead = false;                 // the domain is dying: no new pins, no new mappings
    GrantMapping* mappings = nullptr;  // this domain's live mappings of grants (to release at death)
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

// Grants page `page` of region r (of d) to domain `to`: the new grant
// reference (>= GNTTAB_NR_RESERVED_ENTRIES, the lowest free). Err::Range:
// the table is full; Err::NoMemory: no partition frame to grow it;
// Err::InvalidArgument: page beyond the region; Err::NotFound: d is dying.
Result<grant_ref_t> grant_access(Domain& d, MemRegion& r, uint64_t page, domid_t to, bool readonly);

// Ends grant `ref` of d. Err::InvalidArgument: not a live grant;
// Err::Busy: mapped, or a copy is using it.
Status grant_end(Domain& d, grant_ref_t ref);

// Maps grant `ref` of domain `granter` at `va` of `as` (an address space of
// `mapper`). Err::NotFound: no such live domain; Err::InvalidArgument: bad
// reference; Err::Permission: not granted to mapper, or read-only for a
// writable map; Err::Exists: va is mapped; Err::Fault: va outside the
// domain's half or unaligned; Err::NoMemory.
Result<GrantMapping*> grant_map(Domain& mapper, domid_t granter, grant_ref_t ref, AddressSpace& as, uint64_t va,
                                bool readonly);

// Copies between [local_va, +length) of the caller's current address space
// and [offset, offset + length) of the frame granted by `remote` as `ref`
// (to_remote: writes it). Returns a GNTST_* status.
int16_t grant_copy_one(Domain& caller, domid_t remote, grant_ref_t ref, uint32_t offset, uint64_t local_va,
                       uint32_t length, bool to_remote);

// Domain death: no new pins on d's grants (others' mappings of them stay
// until unmapped; they keep d a zombie), and d's own mappings of grants are
// released now (their handles stay, naming nothing). Releasing at death,
// not at the final free, also breaks cycles of domains mapping each
// other's grants.
void grant_domain_dying(Domain& d);

} // namespace virtue
