// Editor for x86-64 4-level page tables, generic over where table frames
// come from and how they are reached (a Policy), so the same code runs in
// the hypervisor (frames from the buddy allocator, seen through the direct
// map) and in host unit tests (host memory).
//
// Policy requirements (see PageTablePolicy):
//   Result<PhysAddr> alloc_table()   a zeroed, 4 KiB-aligned table frame
//   void free_table(PhysAddr)        give a table frame back
//   uint64_t* table_ptr(PhysAddr)    where the editor reads/writes a table
//   bool has_1g_pages()              CPUID.80000001H:EDX.Page1GB
// Optional: bool keep_table(unsigned level, uint64_t va) — return true for
// a table that must stay even when empty (the hypervisor's L3s of PML4
// slots 256-271, shared by every address space); it is then neither freed
// by unmap nor by release_tables.
//
// Every mutator validates the whole request and reserves every table frame
// it will need before it writes a single entry ("decode, then act"): a
// refused call (bad argument, overlap, out of memory) changes nothing.
//
// TLB: the editor never flushes. Mutators return a TlbFlush saying whether
// the caller must invalidate (and whether a CR3 reload is not enough because
// a global entry changed). Table frames that unmap frees go to
// Policy::free_table at once: a policy whose root may be live on other CPUs
// must not reuse them before the caller's shootdown completes.
//
// Not thread-safe: the caller serialises edits of one address space.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <concepts>

#include "arch/pte.hpp"
#include "lib/result.hpp"

namespace virtue {

template <typename P>
concept PageTablePolicy = requires(P& p, PhysAddr pa) {
    { p.alloc_table() } -> std::same_as<Result<PhysAddr>>;
    { p.free_table(pa) };
    { p.table_ptr(pa) } -> std::same_as<uint64_t*>;
    { p.has_1g_pages() } -> std::convertible_to<bool>;
};

struct Translation {
    PhysAddr pa;        // the address va translates to (offset included)
    PteFlags flags;     // the leaf's attributes (intermediate levels ignored)
    uint64_t page_size; // 4 KiB, 2 MiB or 1 GiB
};

struct TlbFlush {
    bool needed = false; // some translation was removed, changed or widened
    bool global = false; // ... and it had G set: a CR3 reload is not enough
};

struct MapOptions {
    bool allow_large = true; // use 2 MiB / 1 GiB leaves where they fit
};

template <PageTablePolicy Policy>
class PageTableEditor {
  public:
    PageTableEditor(Policy& policy, PhysAddr root) : policy_(policy), root_(root) {}

    PhysAddr root() const { return root_; }

    // Maps [va, va+size) to [pa, pa+size) with leaf attributes `flags` (P is
    // implied), using the largest leaves that va, pa and the range allow.
    // New intermediate entries get P|RW, plus US if flags has US; existing
    // ones are widened the same way (and lose NX if the leaf is executable).
    // Err::InvalidArgument: size 0; va, pa or size not 4 KiB aligned; a
    // non-canonical range or one crossing the canonical hole; pa beyond 52
    // bits; flags outside pte::LEAF_ATTRS. Err::Exists: something in the
    // range is mapped already. Err::NoMemory (or the policy's error).
    Result<TlbFlush> map(uint64_t va, PhysAddr pa, uint64_t size, PteFlags flags, MapOptions opt = {});

    // Removes every mapping in [va, va+size); unmapped holes are skipped. A
    // large leaf only partly covered is split first. Tables left empty are
    // freed (the root never). Errors: as map's range checks, plus the
    // policy's error if a split needs a table it cannot get. `removed`, if
    // given, hears of every translation taken away (once the call cannot
    // fail any more): removed(ctx, pa, bytes, leaf attributes). A leaf in
    // the range with any bit of `refuse` (software bits that mark mappings
    // only their owner may remove) makes the call fail with Err::Busy
    // before anything changes.
    using RemovedFn = void (*)(void* ctx, PhysAddr pa, uint64_t bytes, PteFlags flags);
    Result<TlbFlush> unmap(uint64_t va, uint64_t size, RemovedFn removed = nullptr, void* ctx = nullptr,
                           uint64_t refuse = 0);

    // Calls fn(leaf_va, entry, level) for every present leaf that overlaps
    // [va, va+size), in address order; leaf_va is where the leaf starts (a
    // large leaf may start below va). fn may rewrite *entry's attribute bits
    // (the caller then owes a TLB flush); if it returns bool, false stops
    // the walk. Err::InvalidArgument as map's range checks.
    template <typename Fn> Status visit_leaves(uint64_t va, uint64_t size, Fn&& fn);

    // Where the first present leaf overlapping [va, va+size) starts (it may
    // start below va), or Err::NotFound when the range maps nothing. Holes
    // cost one entry per table level, so long unmapped stretches are
    // skipped quickly. Err::InvalidArgument as map's range checks.
    Result<uint64_t> first_leaf(uint64_t va, uint64_t size);

    // Makes `va` a leaf boundary: a large leaf covering va without starting
    // there is split (a 1 GiB leaf, then the 2 MiB leaf covering va, if
    // needed), translations unchanged. Nothing to do (no leaf covers va, or
    // one starts there) is success. Err::InvalidArgument for a non-canonical
    // or unaligned va; the policy's error if it cannot get the tables (then
    // nothing changed).
    Result<TlbFlush> split_at(uint64_t va);

    // Sets RW, US, PWT, PCD, G, NX of every leaf in [va, va+size) to those
    // in `flags`; A and D are kept (and set if flags asks). Splits partly
    // covered large leaves whose attributes change. Err::NotFound if any
    // page in the range is unmapped; otherwise as unmap.
    Result<TlbFlush> protect(uint64_t va, uint64_t size, PteFlags flags);

    // Err::InvalidArgument for a non-canonical va, Err::NotFound if unmapped.
    Result<Translation> lookup(uint64_t va) const;

    // Teardown: frees every table below the root (except those keep_table
    // protects) and clears the root entries that pointed to them. Leaves
    // the root itself to the caller.
    void release_tables();

  private:
    enum class Pass { Count, Commit };

    // Table frames reserved before a commit, linked through their first
    // entry (the frames are otherwise zero).
    struct Stash {
        PhysAddr head;
        size_t count = 0;
    };

    struct Job {
        uint64_t va0 = 0;
        PhysAddr pa0;
        PteFlags flags;
        bool allow_large = false;
        size_t tables_needed = 0;
        RemovedFn removed = nullptr;
        void* removed_ctx = nullptr;
        uint64_t refuse = 0; // unmap: leaves with these bits make it fail
        Stash stash;
        TlbFlush flush;
    };

    static constexpr uint64_t PROTECT_ATTRS = pte::RW | pte::US | pte::PWT | pte::PCD | pte::G | pte::NX;

    static Status check_range(uint64_t va, uint64_t size);
    static unsigned splits_needed(unsigned level, uint64_t first, uint64_t last);

    Status reserve(Stash& s, size_t n);
    PhysAddr take(Stash& s);
    void drain(Stash& s);

    bool keep(unsigned level, uint64_t va) {
        if constexpr (requires { policy_.keep_table(level, va); })
            return policy_.keep_table(level, va);
        else
            return false;
    }
    bool table_empty(PhysAddr t) {
        const uint64_t* e = policy_.table_ptr(t);
        for (unsigned i = 0; i < 512; ++i)
            if (e[i] != 0) return false;
        return true;
    }
    static void note_change(Job& job, Pte old) {
        job.flush.needed = true;
        if (old.raw() & pte::G) job.flush.global = true;
    }
    static uint64_t table_attrs(PteFlags leaf) { return pte::RW | (leaf.raw() & pte::US); }
    static void widen(uint64_t& entry, PteFlags leaf, Job& job);
    void split(uint64_t* table, unsigned i, unsigned level, Job& job);
    Result<TlbFlush> finish(Job& job);

    template <Pass pass> Status map_walk(uint64_t* table, unsigned level, uint64_t va, uint64_t last, Job& job);
    template <Pass pass> Status unmap_walk(uint64_t* table, unsigned level, uint64_t va, uint64_t last, Job& job);
    template <Pass pass> Status protect_walk(uint64_t* table, unsigned level, uint64_t va, uint64_t last, Job& job);
    void release_walk(uint64_t* table, unsigned level, uint64_t va);
    template <typename Fn> bool visit_walk(uint64_t* table, unsigned level, uint64_t va, uint64_t last, Fn& fn);

    Policy& policy_;
    PhysAddr root_;
};

// ---------------------------------------------------------------------------

template <PageTablePolicy Policy>
Status PageTableEditor<Policy>::check_range(uint64_t va, uint64_t size) {
    if (size == 0 || ((va | size) & PAGE_MASK) != 0) return Err::InvalidArgument;
    const uint64_t last = va + (size - 1);
    if (last < va || !is_canonical(va) || !is_canonical(last) || ((va ^ last) >> 47) != 0)
        return Err::InvalidArgument;
    return Status::success();
}

// Table frames a split of the level-`level` large leaf needs when the range
// [first, last] covers only part of it: one, plus the smaller large leaves
// at either end that are in turn only partly covered.
template <PageTablePolicy Policy>
unsigned PageTableEditor<Policy>::splits_needed(unsigned level, uint64_t first, uint64_t last) {
    if (level - 1 == 1) return 1;
    const uint64_t sub = level_span(level - 1);
    const uint64_t first_base = first & ~(sub - 1), last_base = last & ~(sub - 1);
    unsigned n = 1;
    const uint64_t first_end = first_base == last_base ? last : first_base + sub - 1;
    if (first != first_base || first_end != first_base + sub - 1)
        n += splits_needed(level - 1, first, first_end);
    if (last_base != first_base && last != last_base + sub - 1)
        n += splits_needed(level - 1, last_base, last);
    return n;
}

template <PageTablePolicy Policy>
Status PageTableEditor<Policy>::reserve(Stash& s, size_t n) {
    while (s.count < n) {
        Result<PhysAddr> t = policy_.alloc_table();
        if (!t) {
            drain(s);
            return t.error();
        }
        policy_.table_ptr(*t)[0] = s.head.raw();
        s.head = *t;
        ++s.count;
    }
    return Status::success();
}

template <PageTablePolicy Policy>
PhysAddr PageTableEditor<Policy>::take(Stash& s) {
    PhysAddr t = s.head;
    uint64_t* e = policy_.table_ptr(t);
    s.head = PhysAddr(e[0]);
    e[0] = 0;
    --s.count;
    return t;
}

template <PageTablePolicy Policy>
void PageTableEditor<Policy>::drain(Stash& s) {
    while (s.count) policy_.free_table(take(s));
}

template <PageTablePolicy Policy>
Result<TlbFlush> PageTableEditor<Policy>::finish(Job& job) {
    drain(job.stash); // empty unless the two passes disagreed
    return job.flush;
}

// Makes an existing intermediate entry at least as permissive as a new
// leaf below it needs.
template <PageTablePolicy Policy>
void PageTableEditor<Policy>::widen(uint64_t& entry, PteFlags leaf, Job& job) {
    uint64_t e = entry | table_attrs(leaf);
    if (!leaf.has(pte::NX)) e &= ~pte::NX;
    if (e != entry) {
        entry = e;
        job.flush.needed = true; // cached stricter entries may linger
    }
}

// Replaces the large leaf table[i] at `level` by a table of 512 leaves one
// level down that translate exactly as it did.
template <PageTablePolicy Policy>
void PageTableEditor<Policy>::split(uint64_t* table, unsigned i, unsigned level, Job& job) {
    const PhysAddr t = take(job.stash);
    uint64_t* child = policy_.table_ptr(t);
    const unsigned sub = level - 1;
    uint64_t seen = __atomic_load_n(&table[i], __ATOMIC_RELAXED);
    for (;;) {
        const Pte old(seen);
        uint64_t attrs = old.raw() & pte::LEAF_ATTRS;
        if (sub == 1)
            attrs |= (old.raw() & pte::PAT_LARGE) ? pte::PAT_4K : 0;
        else
            attrs |= pte::PS | (old.raw() & pte::PAT_LARGE);
        const uint64_t base = old.leaf_addr(level).raw();
        for (unsigned j = 0; j < 512; ++j) child[j] = (base + j * level_span(sub)) | attrs;
        // A CPU may set the accessed or dirty bit of the large leaf while
        // it is copied: install the table only over the value copied.
        const uint64_t table_entry = Pte::make_table(t, table_attrs(old.leaf_flags())).raw();
        if (__atomic_compare_exchange_n(&table[i], &seen, table_entry, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            note_change(job, old);
            return;
        }
    }
}

template <PageTablePolicy Policy>
template <typename PageTableEditor<Policy>::Pass pass>
Status PageTableEditor<Policy>::map_walk(uint64_t* table, unsigned level, uint64_t va, uint64_t last, Job& job) {
    const uint64_t span = level_span(level);
    for (uint64_t cur = va;;) {
        const uint64_t base = cur & ~(span - 1);
        const uint64_t chunk_last = last < base + (span - 1) ? last : base + (span - 1);
        const unsigned i = level_index(cur, level);
        const Pte e = table ? Pte(table[i]) : Pte();
        const uint64_t pa = job.pa0.raw() + (cur - job.va0);
        const bool whole = cur == base && chunk_last == base + (span - 1) && (pa & (span - 1)) == 0;
        const bool large_ok = job.allow_large && (level == 2 || (level == 3 && policy_.has_1g_pages()));

        if (level == 1 || (!e.present() && whole && large_ok)) {
            if (e.present()) return Err::Exists;
            if constexpr (pass == Pass::Commit) table[i] = Pte::make_leaf(PhysAddr(pa), job.flags, level).raw();
        } else if (e.present()) {
            if (e.is_large(level)) return Err::Exists;
            if constexpr (pass == Pass::Commit) widen(table[i], job.flags, job);
            TRY(map_walk<pass>(policy_.table_ptr(e.table()), level - 1, cur, chunk_last, job));
        } else if constexpr (pass == Pass::Count) {
            ++job.tables_needed;
            TRY(map_walk<pass>(nullptr, level - 1, cur, chunk_last, job));
        } else {
            const PhysAddr t = take(job.stash);
            table[i] = Pte::make_table(t, table_attrs(job.flags)).raw();
            TRY(map_walk<pass>(policy_.table_ptr(t), level - 1, cur, chunk_last, job));
        }
        if (chunk_last == last) return Status::success();
        cur = chunk_last + 1;
    }
}

template <PageTablePolicy Policy>
Result<TlbFlush> PageTableEditor<Policy>::map(uint64_t va, PhysAddr pa, uint64_t size, PteFlags flags,
                                              MapOptions opt) {
    TRY(check_range(va, size));
    if (!pa.page_aligned() || !flags.valid()) return Err::InvalidArgument;
    const uint64_t phys_limit = uint64_t{1} << pte::MAX_PHYS_BITS;
    if (pa.raw() >= phys_limit || size > phys_limit - pa.raw()) return Err::InvalidArgument;

    Job job;
    job.va0 = va;
    job.pa0 = pa;
    job.flags = flags;
    job.allow_large = opt.allow_large;
    const uint64_t last = va + (size - 1);
    uint64_t* root = policy_.table_ptr(root_);
    TRY(map_walk<Pass::Count>(root, 4, va, last, job));
    TRY(reserve(job.stash, job.tables_needed));
    Status s = map_walk<Pass::Commit>(root, 4, va, last, job);
    if (!s) return s.error(); // unreachable: the count pass saw everything
    return finish(job);
}

template <PageTablePolicy Policy>
template <typename PageTableEditor<Policy>::Pass pass>
Status PageTableEditor<Policy>::unmap_walk(uint64_t* table, unsigned level, uint64_t va, uint64_t last, Job& job) {
    const uint64_t span = level_span(level);
    for (uint64_t cur = va;;) {
        const uint64_t base = cur & ~(span - 1);
        const uint64_t chunk_last = last < base + (span - 1) ? last : base + (span - 1);
        const unsigned i = level_index(cur, level);
        const Pte e(table[i]);
        const bool whole = cur == base && chunk_last == base + (span - 1);

        if (!e.present()) {
            // a hole: nothing to do
        } else if (pass == Pass::Count && e.is_leaf(level) && (e.raw() & job.refuse)) {
            return Err::Busy;
        } else if (e.is_leaf(level) && whole) {
            if constexpr (pass == Pass::Commit) {
                // Exchanged: the flags reported include a dirty bit set
                // up to the last moment.
                const Pte gone(__atomic_exchange_n(&table[i], uint64_t{0}, __ATOMIC_ACQ_REL));
                note_change(job, gone);
                if (job.removed) job.removed(job.removed_ctx, gone.leaf_addr(level), span, gone.leaf_flags());
            }
        } else if (e.is_leaf(level)) {
            if constexpr (pass == Pass::Count) {
                job.tables_needed += splits_needed(level, cur, chunk_last);
            } else {
                split(table, i, level, job);
                TRY(unmap_walk<pass>(policy_.table_ptr(Pte(table[i]).table()), level - 1, cur, chunk_last, job));
            }
        } else {
            TRY(unmap_walk<pass>(policy_.table_ptr(e.table()), level - 1, cur, chunk_last, job));
            if constexpr (pass == Pass::Commit) {
                if (table_empty(e.table()) && !keep(level - 1, base)) {
                    table[i] = 0;
                    policy_.free_table(e.table());
                    job.flush.needed = true; // paging-structure caches
                }
            }
        }
        if (chunk_last == last) return Status::success();
        cur = chunk_last + 1;
    }
}

template <PageTablePolicy Policy>
Result<TlbFlush> PageTableEditor<Policy>::unmap(uint64_t va, uint64_t size, RemovedFn removed, void* ctx,
                                                uint64_t refuse) {
    TRY(check_range(va, size));
    Job job;
    job.removed = removed;
    job.removed_ctx = ctx;
    job.refuse = refuse;
    const uint64_t last = va + (size - 1);
    uint64_t* root = policy_.table_ptr(root_);
    TRY(unmap_walk<Pass::Count>(root, 4, va, last, job));
    TRY(reserve(job.stash, job.tables_needed));
    Status s = unmap_walk<Pass::Commit>(root, 4, va, last, job);
    if (!s) return s.error();
    return finish(job);
}

template <PageTablePolicy Policy>
template <typename PageTableEditor<Policy>::Pass pass>
Status PageTableEditor<Policy>::protect_walk(uint64_t* table, unsigned level, uint64_t va, uint64_t last,
                                             Job& job) {
    const uint64_t span = level_span(level);
    for (uint64_t cur = va;;) {
        const uint64_t base = cur & ~(span - 1);
        const uint64_t chunk_last = last < base + (span - 1) ? last : base + (span - 1);
        const unsigned i = level_index(cur, level);
        const Pte e(table[i]);
        const bool whole = cur == base && chunk_last == base + (span - 1);

        if (!e.present()) return Err::NotFound; // only the count pass can get here
        if (e.is_leaf(level)) {
            const uint64_t updated = (e.raw() & ~PROTECT_ATTRS) | job.flags.raw();
            if (updated == e.raw()) {
                // unchanged: no split needed either
            } else if (whole) {
                if constexpr (pass == Pass::Commit) {
                    // Keep accessed/dirty bits a CPU sets meanwhile.
                    uint64_t seen = e.raw();
                    while (!__atomic_compare_exchange_n(&table[i], &seen, (seen & ~PROTECT_ATTRS) | job.flags.raw(),
                                                        false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
                    }
                    note_change(job, e);
                }
            } else if constexpr (pass == Pass::Count) {
                job.tables_needed += splits_needed(level, cur, chunk_last);
            } else {
                split(table, i, level, job);
                widen(table[i], job.flags, job); // the new leaves may need more
                TRY(protect_walk<pass>(policy_.table_ptr(Pte(table[i]).table()), level - 1, cur, chunk_last, job));
            }
        } else {
            if constexpr (pass == Pass::Commit) widen(table[i], job.flags, job);
            TRY(protect_walk<pass>(policy_.table_ptr(e.table()), level - 1, cur, chunk_last, job));
        }
        if (chunk_last == last) return Status::success();
        cur = chunk_last + 1;
    }
}

template <PageTablePolicy Policy>
Result<TlbFlush> PageTableEditor<Policy>::protect(uint64_t va, uint64_t size, PteFlags flags) {
    TRY(check_range(va, size));
    if (!flags.valid()) return Err::InvalidArgument;
    Job job;
    job.flags = PteFlags(flags.raw() | pte::P);
    const uint64_t last = va + (size - 1);
    uint64_t* root = policy_.table_ptr(root_);
    TRY(protect_walk<Pass::Count>(root, 4, va, last, job));
    TRY(reserve(job.stash, job.tables_needed));
    Status s = protect_walk<Pass::Commit>(root, 4, va, last, job);
    if (!s) return s.error();
    return finish(job);
}

template <PageTablePolicy Policy>
Result<Translation> PageTableEditor<Policy>::lookup(uint64_t va) const {
    if (!is_canonical(va)) return Err::InvalidArgument;
    PhysAddr t = root_;
    for (unsigned level = 4; level >= 1; --level) {
        const Pte e(policy_.table_ptr(t)[level_index(va, level)]);
        if (!e.present()) return Err::NotFound;
        if (e.is_leaf(level)) {
            const uint64_t span = level_span(level);
            return Translation{e.leaf_addr(level) + (va & (span - 1)), e.leaf_flags(), span};
        }
        t = e.table();
    }
    return Err::NotFound; // unreachable: level 1 entries are leaves
}

template <PageTablePolicy Policy>
template <typename Fn>
bool PageTableEditor<Policy>::visit_walk(uint64_t* table, unsigned level, uint64_t va, uint64_t last, Fn& fn) {
    const uint64_t span = level_span(level);
    for (uint64_t cur = va;;) {
        const uint64_t base = cur & ~(span - 1);
        const uint64_t chunk_last = last < base + (span - 1) ? last : base + (span - 1);
        const unsigned i = level_index(cur, level);
        const Pte e(table[i]);
        if (e.present()) {
            if (e.is_leaf(level)) {
                if constexpr (std::same_as<decltype(fn(base, &table[i], level)), bool>) {
                    if (!fn(base, &table[i], level)) return false;
                } else {
                    fn(base, &table[i], level);
                }
            } else if (!visit_walk(policy_.table_ptr(e.table()), level - 1, cur, chunk_last, fn)) {
                return false;
            }
        }
        if (chunk_last == last) return true;
        cur = chunk_last + 1;
    }
}

template <PageTablePolicy Policy>
template <typename Fn>
Status PageTableEditor<Policy>::visit_leaves(uint64_t va, uint64_t size, Fn&& fn) {
    TRY(check_range(va, size));
    visit_walk(policy_.table_ptr(root_), 4, va, va + (size - 1), fn);
    return Status::success();
}

template <PageTablePolicy Policy>
Result<uint64_t> PageTableEditor<Policy>::first_leaf(uint64_t va, uint64_t size) {
    TRY(check_range(va, size));
    bool found = false;
    uint64_t at = 0;
    auto fn = [&](uint64_t leaf, uint64_t*, unsigned) {
        if (!found) at = leaf;
        found = true;
        return false; // stop: the walk is in address order
    };
    visit_walk(policy_.table_ptr(root_), 4, va, va + (size - 1), fn);
    if (!found) return Err::NotFound;
    return at;
}

template <PageTablePolicy Policy>
Result<TlbFlush> PageTableEditor<Policy>::split_at(uint64_t va) {
    if (!is_canonical(va) || (va & PAGE_MASK)) return Err::InvalidArgument;
    // Count: the leaf covering va and, for a 1 GiB leaf, whether the 2 MiB
    // part covering va must be split in turn.
    Job job;
    uint64_t* table = policy_.table_ptr(root_);
    for (unsigned level = 4; level >= 2; --level) {
        const Pte e(table[level_index(va, level)]);
        if (!e.present()) return job.flush;
        if (e.is_leaf(level)) {
            if ((va & (level_span(level) - 1)) == 0) return job.flush;
            job.tables_needed = (level == 3 && (va & (level_span(2) - 1))) ? 2 : 1;
            break;
        }
        table = policy_.table_ptr(e.table());
    }
    if (job.tables_needed == 0) return job.flush; // reached a level-1 table: 4 KiB leaves
    TRY(reserve(job.stash, job.tables_needed));
    table = policy_.table_ptr(root_);
    for (unsigned level = 4; level >= 2; --level) {
        const unsigned i = level_index(va, level);
        const Pte e(table[i]);
        if (e.is_leaf(level)) {
            if ((va & (level_span(level) - 1)) == 0) break;
            split(table, i, level, job);
        }
        table = policy_.table_ptr(Pte(table[i]).table());
    }
    return finish(job);
}

template <PageTablePolicy Policy>
void PageTableEditor<Policy>::release_walk(uint64_t* table, unsigned level, uint64_t va) {
    for (unsigned i = 0; i < 512; ++i) {
        const Pte e(table[i]);
        if (!e.present() || e.is_leaf(level)) continue;
        uint64_t child_va = va + i * level_span(level);
        if (level == 4 && i >= 256) child_va |= 0xFFFF000000000000ull; // sign-extend
        if (keep(level - 1, child_va)) continue;
        if (level - 1 > 1) release_walk(policy_.table_ptr(e.table()), level - 1, child_va);
        table[i] = 0;
        policy_.free_table(e.table());
    }
}

template <PageTablePolicy Policy>
void PageTableEditor<Policy>::release_tables() {
    release_walk(policy_.table_ptr(root_), 4, 0);
}

} // namespace virtue
