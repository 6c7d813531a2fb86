// The PV MMU's page types on a host frame pool: validation of whole trees,
// refusals that change nothing (writable tables, tables mapped writable,
// self-maps and loops, foreign and absent frames, large pages, hypervisor
// slots), counts that return to zero, and a randomized run of hostile
// tables checked against counts recomputed from scratch.
#include <boost/test/unit_test.hpp>

#include "unit/err_print.hpp"

#include <cstring>
#include <random>
#include <vector>

#include "pv_frame_pool.hpp"
#include "xen-compat/pv_page_tables.hpp"

using namespace virtue;
using namespace virtue::pv;

namespace {

using pvtest::kBase;
using pvtest::kDom;
using pvtest::kFrames;
using pvtest::kOther;
using pvtest::Pool;

Mfn mfn(unsigned i) { return Mfn(kBase + i); }
uint64_t entry(unsigned i, uint64_t flags) { return ((kBase + i) << 12) | flags; }
constexpr uint64_t P = pte::P, RW = pte::RW, US = pte::US;

struct Fixture {
    Pool pool;
    PageTables<Pool> pt{pool};
    FrameInfo& f(unsigned i) { return pool.info[i]; }
    uint64_t& e(unsigned frame, unsigned slot) { return pool.mem[frame * 512 + slot]; }
    // A tree: L4 0 -> L3 1 -> L2 2 -> L1 3, which maps data frames 10 (RW)
    // and 11 (read-only), and the L1 itself read-only.
    void build_tree() {
        e(0, 0) = entry(1, P | RW);
        e(1, 0) = entry(2, P | RW);
        e(2, 0) = entry(3, P | RW);
        e(3, 0) = entry(10, P | RW);
        e(3, 1) = entry(11, P);
        e(3, 2) = entry(3, P); // read-only self-map: allowed
    }
    bool all_clear() { return clear(pool); }
    static bool clear(const Pool& p) {
        // Writable stays at count 0 (until the frame becomes a table); a
        // former table keeps its mark (a flush before it becomes Writable).
        for (const FrameInfo& fi : p.info)
            if ((fi.type != PageType::None && fi.type != PageType::Writable) || fi.type_count || fi.ref_count ||
                (fi.flags & ~(kFrameGuest | kFrameWasTable)))
                return false;
        return true;
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(pv_page_tables)

// A frame of the domain's partition that the hypervisor keeps for itself
// (no kFrameGuest: its PV state, trap tables, event and handle tables) can
// be named by no entry, pinned by no request and written by no update.
BOOST_FIXTURE_TEST_CASE(frames_the_hypervisor_keeps_are_out_of_reach, Fixture) {
    build_tree();
    f(10).flags = 0; // the data frame the L1 maps
    BOOST_TEST(pt.pin(mfn(0), 4).error() == Err::InvalidArgument);
    BOOST_TEST(all_clear());
    f(10).flags = kFrameGuest;
    BOOST_REQUIRE(pt.pin(mfn(0), 4).ok());
    f(12).flags = 0;
    BOOST_TEST(pt.update_entry(mfn(3), 5, entry(12, P | RW), false).error() == Err::InvalidArgument); // map it
    BOOST_TEST(pt.update_entry(mfn(12), 0, 0x1234, false).error() == Err::InvalidArgument);           // write it
    BOOST_TEST(pt.pin(mfn(12), 1).error() == Err::InvalidArgument);                                  // pin it
    BOOST_TEST(pt.get_page(mfn(12)).error() == Err::InvalidArgument);
    BOOST_TEST(f(12).ref_count == 0u);
    BOOST_TEST(e(3, 5) == 0u);
    BOOST_TEST(e(12, 0) == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_whole_tree_validates_and_is_adjusted, Fixture) {
    build_tree();
    e(0, 260) = entry(12, P); // a hypervisor slot: the guest's value is replaced
    BOOST_REQUIRE(pt.pin(mfn(0), 4).ok());
    BOOST_TEST((f(0).type == PageType::L4 && f(0).type_count == 1u && f(0).ref_count == 1u));
    BOOST_TEST((f(1).type == PageType::L3 && f(1).type_count == 1u));
    BOOST_TEST((f(2).type == PageType::L2 && f(2).type_count == 1u));
    BOOST_TEST((f(3).type == PageType::L1 && f(3).type_count == 1u && f(3).ref_count == 2u)); // named by L2 and itself
    BOOST_TEST((f(10).type == PageType::Writable && f(10).type_count == 1u && f(10).ref_count == 1u));
    BOOST_TEST((f(11).type == PageType::None && f(11).ref_count == 1u));
    BOOST_TEST(f(12).ref_count == 0u);
    // US at every level, A on the L4, the kernel bit on L1 leaves without US.
    BOOST_TEST(e(0, 0) == (entry(1, P | RW | US | pte::A)));
    BOOST_TEST(e(1, 0) == (entry(2, P | RW | US)));
    BOOST_TEST(e(3, 0) == (entry(10, P | RW | US | kGuestKernelBit)));
    BOOST_TEST(e(0, 260) == pool.hypervisor_l4e(260));
    BOOST_TEST(e(0, 255) == 0u);
    BOOST_TEST(pool.stale_flushes == 0u);
    BOOST_REQUIRE(pt.unpin(mfn(0)).ok());
    BOOST_TEST(all_clear());
}

BOOST_FIXTURE_TEST_CASE(user_leaves_keep_their_bits_and_never_global, Fixture) {
    e(3, 5) = entry(10, P | US | pte::G | pte::NX | pte::SW1);
    BOOST_REQUIRE(pt.pin(mfn(3), 1).ok());
    BOOST_TEST(e(3, 5) == (entry(10, P | US | pte::NX | pte::SW1)));
    BOOST_REQUIRE(pt.unpin(mfn(3)).ok());
    BOOST_TEST(all_clear());
}

BOOST_FIXTURE_TEST_CASE(refusals_change_nothing, Fixture) {
    struct Case {
        const char* what;
        unsigned frame, slot, level;
        uint64_t value;
        Err expected = Err::InvalidArgument; // Busy: a writable L1 entry for a table (-EBUSY, as in Xen)
    };
    const Case cases[] = {
        {"L1 maps a frame of another domain", 3, 9, 1, entry(kFrames - 1, P)},
        {"L1 maps a frame that is not RAM", 3, 9, 1, (uint64_t{5} << 12) | P},
        {"L1 maps a frame beyond RAM", 3, 9, 1, (uint64_t{1} << 40) | P},
        {"L1 maps itself writable", 3, 9, 1, entry(3, P | RW), Err::Busy},
        {"L2 names itself as an L1", 2, 9, 2, entry(2, P)},
        {"L2 has a 2 MiB page", 2, 9, 2, entry(4, P | pte::PS)},
        {"L3 has a 1 GiB page", 1, 9, 3, entry(4, P | pte::PS)},
        {"L4 names itself (linear page table)", 0, 9, 4, entry(0, P)},
        {"L2 names an L1 that maps the L2 writable", 2, 9, 2, entry(22, P), Err::Busy},
    };
    for (const Case& c : cases) {
        Pool fresh;
        PageTables<Pool> p(fresh);
        fresh.mem[c.frame * 512 + c.slot] = c.value;
        // A valid entry before the bad one, whose references must be given
        // back: frame 20 as data (RW) or as the level below (holding one
        // read-only leaf at the bottom).
        fresh.mem[c.frame * 512 + 3] = c.level > 1 ? entry(20, P) : entry(20, P | RW);
        if (c.level == 2) fresh.mem[20 * 512] = entry(21, P); // frame 20 as an L1
        fresh.mem[22 * 512 + 4] = entry(c.frame, P | RW);       // frame 22: an L1 mapping the table writable
        const auto before = fresh.snapshot();
        BOOST_TEST(p.pin(mfn(c.frame), c.level).error() == c.expected, c.what);
        BOOST_TEST((fresh.snapshot() == before), c.what);
    }
}

BOOST_FIXTURE_TEST_CASE(a_former_table_is_flushed_before_it_becomes_writable, Fixture) {
    // A CPU may still cache entries read from a table that lost its last
    // use (unhooking needs no flush): before the guest may write the
    // frame, every CPU flushes; once.
    BOOST_REQUIRE(pt.pin(mfn(3), 1).ok());
    BOOST_REQUIRE(pt.unpin(mfn(3)).ok());
    const unsigned before = pool.stale_flushes;
    BOOST_REQUIRE(pt.get_page(mfn(3)).ok());
    BOOST_REQUIRE(pt.get_type(mfn(3), PageType::Writable).ok());
    BOOST_TEST(pool.stale_flushes == before + 1);
    pt.put_type(mfn(3));
    BOOST_REQUIRE(pt.get_type(mfn(3), PageType::Writable).ok());
    BOOST_TEST(pool.stale_flushes == before + 1); // (not again: nothing cached since)
    pt.put_type(mfn(3));
    pt.put_page(mfn(3));
    // Nor at another level: an L1 that becomes an L2 is flushed first too.
    BOOST_REQUIRE(pt.pin(mfn(4), 1).ok());
    BOOST_REQUIRE(pt.unpin(mfn(4)).ok());
    const unsigned again = pool.stale_flushes;
    BOOST_REQUIRE(pt.pin(mfn(4), 2).ok());
    BOOST_TEST(pool.stale_flushes == again + 1);
    BOOST_REQUIRE(pt.unpin(mfn(4)).ok());
}

BOOST_FIXTURE_TEST_CASE(a_table_is_never_writable_and_a_writable_frame_never_a_table, Fixture) {
    // Frame 5 mapped writable by the pinned L1 4: it cannot become a table.
    e(4, 0) = entry(5, P | RW);
    BOOST_REQUIRE(pt.pin(mfn(4), 1).ok());
    BOOST_TEST(pt.pin(mfn(5), 1).error() == Err::InvalidArgument);
    BOOST_TEST(pt.pin(mfn(5), 4).error() == Err::InvalidArgument);
    // Pinned table 6: no L1 may map it writable, through pin or update.
    BOOST_REQUIRE(pt.pin(mfn(6), 2).ok());
    BOOST_TEST(pt.update_entry(mfn(4), 1, entry(6, P | RW), false).error() == Err::Busy);
    BOOST_TEST(e(4, 1) == 0u);
    // Read-only is fine.
    BOOST_REQUIRE(pt.update_entry(mfn(4), 1, entry(6, P), false).ok());
    BOOST_TEST(f(6).ref_count == 2u);
    // Once 5's writable mapping goes, 5 may become a table, after a flush
    // of stale writable translations.
    auto gone = pt.update_entry(mfn(4), 0, 0, false);
    BOOST_REQUIRE(gone.ok());
    BOOST_TEST(*gone); // a translation went: the caller flushes
    BOOST_TEST(pool.stale_flushes == 0u);
    BOOST_REQUIRE(pt.pin(mfn(5), 1).ok());
    BOOST_TEST(pool.stale_flushes == 1u);
    for (unsigned m : {4u, 5u, 6u}) BOOST_REQUIRE(pt.unpin(mfn(m)).ok());
    BOOST_REQUIRE(pt.update_entry(mfn(4), 1, 0, false).ok()); // 4 is plain data now: a plain store
    BOOST_TEST(all_clear());
}

BOOST_FIXTURE_TEST_CASE(shared_subtrees_count_their_users, Fixture) {
    build_tree();
    e(5, 0) = entry(1, P); // a second L4 sharing the L3
    BOOST_REQUIRE(pt.pin(mfn(0), 4).ok());
    BOOST_REQUIRE(pt.pin(mfn(5), 4).ok());
    BOOST_TEST(f(1).type_count == 2u);
    BOOST_TEST(f(2).type_count == 1u); // validated once
    BOOST_REQUIRE(pt.unpin(mfn(0)).ok());
    BOOST_TEST((f(1).type == PageType::L3 && f(3).type == PageType::L1));
    BOOST_TEST(f(0).type == PageType::None);
    BOOST_TEST(pt.unpin(mfn(0)).error() == Err::InvalidArgument); // not pinned any more
    BOOST_REQUIRE(pt.unpin(mfn(5)).ok());
    BOOST_TEST(all_clear());
}

BOOST_FIXTURE_TEST_CASE(descriptor_pages_hold_only_ring3_code_and_data, Fixture) {
    const uint64_t kernel_cs = 0x00af9a000000ffffull; // 64-bit code, DPL 0
    const uint64_t user_ds = 0x00cff2000000ffffull;   // data, DPL 3
    const uint64_t call_gate = 0x0000ec0000100000ull; // present system descriptor (type 0xc), DPL 3
    e(5, 1) = kernel_cs;
    e(5, 2) = user_ds;
    e(5, 3) = 0x1234567812345678ull & ~(1ull << 47); // not present: anything
    BOOST_REQUIRE(pt.get_page(mfn(5)).ok());
    BOOST_REQUIRE(pt.get_type(mfn(5), PageType::SegDesc).ok());
    BOOST_TEST(e(5, 1) == (kernel_cs | (3ull << 45))); // raised to ring 3
    BOOST_TEST(e(5, 2) == user_ds);
    BOOST_TEST(e(5, 3) == (0x1234567812345678ull & ~(1ull << 47)));
    // While it is a descriptor page, nothing maps it writable.
    BOOST_TEST(pt.update_entry(mfn(4), 0, entry(5, P | RW), false).error() == Err::InvalidArgument);
    pt.put_type(mfn(5));
    pt.put_page(mfn(5));
    // A call gate anywhere in the page: refused, the page unchanged.
    e(6, 0) = kernel_cs;
    e(6, 300) = call_gate;
    const auto before = pool.snapshot();
    BOOST_REQUIRE(pt.get_page(mfn(6)).ok());
    BOOST_TEST(pt.get_type(mfn(6), PageType::SegDesc).error() == Err::InvalidArgument);
    pt.put_page(mfn(6));
    BOOST_TEST((pool.snapshot() == before));
    BOOST_TEST(e(6, 0) == kernel_cs); // nothing rewritten
    BOOST_TEST(check_descriptor(0x0000890000000067ull).error() == Err::InvalidArgument); // a present TSS
    BOOST_TEST(all_clear());
}

BOOST_FIXTURE_TEST_CASE(pins_are_checked, Fixture) {
    BOOST_REQUIRE(pt.pin(mfn(3), 1).ok());
    BOOST_TEST(pt.pin(mfn(3), 1).error() == Err::InvalidArgument);     // twice
    BOOST_TEST(pt.pin(mfn(kFrames - 1), 1).error() == Err::InvalidArgument); // another domain's
    BOOST_TEST(pt.pin(Mfn(3), 1).error() == Err::InvalidArgument);      // not RAM
    BOOST_TEST(pt.unpin(mfn(4)).error() == Err::InvalidArgument);       // never pinned
    BOOST_TEST(pt.pin(mfn(3), 2).error() == Err::InvalidArgument);      // L1 already, not L2
    BOOST_REQUIRE(pt.unpin(mfn(3)).ok());
    BOOST_TEST(all_clear());
}

BOOST_FIXTURE_TEST_CASE(updates_take_new_references_before_dropping_old_ones, Fixture) {
    build_tree();
    BOOST_REQUIRE(pt.pin(mfn(0), 4).ok());
    // Hypervisor slots are not the guest's.
    BOOST_TEST(pt.update_entry(mfn(0), 260, 0, false).error() == Err::InvalidArgument);
    BOOST_TEST(pt.update_entry(mfn(0), 512, 0, false).error() == Err::InvalidArgument);
    // Another domain's table.
    BOOST_TEST(pt.update_entry(mfn(kFrames - 1), 0, 0, false).error() == Err::InvalidArgument);
    // Re-point the L1's entry 0 from 10 (RW) to 12 (RW): types follow.
    auto moved = pt.update_entry(mfn(3), 0, entry(12, P | RW), false);
    BOOST_REQUIRE(moved.ok());
    BOOST_TEST(*moved);
    BOOST_TEST((f(10).type == PageType::Writable && f(10).type_count == 0u && f(10).ref_count == 0u));
    BOOST_TEST((f(12).type == PageType::Writable && f(12).ref_count == 1u));
    // A new L1 hooked into the L2 is validated on the way in.
    e(4, 9) = entry(13, P);
    BOOST_REQUIRE(pt.update_entry(mfn(2), 1, entry(4, P), false).ok());
    BOOST_TEST((f(4).type == PageType::L1 && f(13).ref_count == 1u));
    BOOST_TEST(e(4, 9) == (entry(13, P | US | kGuestKernelBit)));
    BOOST_TEST(!*pt.update_entry(mfn(2), 2, entry(14, 0), false)); // not present: nothing to flush
    // PRESERVE_AD keeps the A and D bits the CPU set meanwhile.
    e(3, 1) |= pte::A | pte::D;
    BOOST_REQUIRE(pt.update_entry(mfn(3), 1, entry(11, P | pte::NX), true).ok());
    BOOST_TEST(e(3, 1) == (entry(11, P | US | kGuestKernelBit | pte::NX | pte::A | pte::D)));
    BOOST_REQUIRE(pt.unpin(mfn(0)).ok());
    // An unpinned, unnamed frame is plain data again: updates are plain stores.
    BOOST_REQUIRE(pt.update_entry(mfn(3), 7, 0x1234, false).ok());
    BOOST_TEST(e(3, 7) == 0x1234u);
    BOOST_TEST(all_clear());
}

// Random tables over the pool (entries naming random frames at random
// levels with random flags), random pins, unpins and updates; after every
// operation the counts must equal what the validated tables and pins
// imply, no frame may be both a table and writable, and at the end, with
// everything unpinned, every count is zero.
BOOST_AUTO_TEST_CASE(random_hostile_tables_keep_the_invariants) {
    std::mt19937_64 rng(20261207);
    const uint64_t flag_choices[] = {P, P | RW, P | RW | US, P | pte::PS, P | pte::G, 0, P | pte::NX | pte::A};
    unsigned pins_ok[5] = {}, updates_ok = 0, unpins_ok = 0;
    for (unsigned round = 0; round < 60; round++) {
        Pool pool;
        PageTables<Pool> pt(pool);
        // Frames meant as L4s, L3s, L2s, L1s and data (the last four are
        // another domain's); most entries name a frame of the level below
        // with good flags, some anything at all.
        const unsigned first_of[] = {0, 0, 18, 12, 6, 0}; // by level: L1s from 18, L2s from 12, ...
        auto pick_below = [&](unsigned level) -> unsigned {
            if (level == 1) return 30 + static_cast<unsigned>(rng() % 14); // data
            return first_of[level - 1] + static_cast<unsigned>(rng() % 6);
        };
        for (unsigned fr = 0; fr < 30; fr++) {
            const unsigned level = fr < 6 ? 4 : fr < 12 ? 3 : fr < 18 ? 2 : 1;
            for (unsigned k = 0; k < 4; k++) {
                const unsigned slot = k < 3 ? k : static_cast<unsigned>(rng() % 512);
                const bool hostile = rng() % 100 < 8;
                const unsigned target = hostile ? static_cast<unsigned>(rng() % (kFrames + 2)) : pick_below(level);
                const uint64_t flags = hostile ? flag_choices[rng() % 7] : (rng() % 2 ? P | RW : P);
                pool.mem[fr * 512 + slot] = entry(target, flags);
            }
        }
        std::vector<int> pinned(kFrames, 0);
        auto check = [&] {
            // Recount from the validated tables and the pins.
            std::vector<uint32_t> refs(kFrames), types(kFrames);
            for (unsigned fr = 0; fr < kFrames; fr++) {
                const FrameInfo& fi = pool.info[fr];
                if (fi.flags & kFramePinned) refs[fr]++, types[fr]++;
                if (!is_table_type(fi.type) || fi.type_count == 0) continue;
                const unsigned level = level_of(fi.type);
                for (unsigned s = 0; s < 512; s++) {
                    if (level == 4 && s >= kFirstHypervisorSlot && s < kEndHypervisorSlot) continue;
                    const uint64_t v = pool.mem[fr * 512 + s];
                    if (!(v & P)) continue;
                    const uint64_t t = ((v & pte::ADDR_MASK) >> 12) - kBase;
                    if (t >= kFrames) BOOST_FAIL("validated entry names a frame beyond the pool");
                    refs[t]++;
                    if (level > 1 || (v & RW)) types[t]++;
                    if (!(v & US)) BOOST_FAIL("validated entry without US");
                    if (v & pte::G) BOOST_FAIL("validated entry is global");
                }
            }
            for (unsigned fr = 0; fr < kFrames; fr++) {
                const FrameInfo& fi = pool.info[fr];
                if (fi.ref_count != refs[fr] || fi.type_count != types[fr]) BOOST_FAIL("counts differ from the tables");
                if (fi.owner != kDom && fi.ref_count) BOOST_FAIL("a foreign frame is referenced");
                if (fi.flags & kFrameValidating) BOOST_FAIL("left validating");
            }
        };
        for (unsigned op = 0; op < 200; op++) {
            const unsigned fr = static_cast<unsigned>(rng() % kFrames);
            switch (rng() % 3) {
            case 0: {
                const unsigned level = 1 + static_cast<unsigned>(rng() % 4);
                if (pt.pin(mfn(fr), level).ok()) pinned[fr] = 1, pins_ok[level]++;
                break;
            }
            case 1:
                if (pt.unpin(mfn(fr)).ok()) pinned[fr] = 0, unpins_ok++;
                break;
            default: {
                const unsigned target = static_cast<unsigned>(rng() % (kFrames + 2));
                if (pt.update_entry(mfn(fr), static_cast<unsigned>(rng() % 4), entry(target, flag_choices[rng() % 7]),
                                    rng() % 2)
                        .ok())
                    updates_ok++;
            }
            }
            check();
        }
        for (unsigned fr = 0; fr < kFrames; fr++)
            if (pinned[fr]) BOOST_REQUIRE(pt.unpin(mfn(fr)).ok());
        for (unsigned fr = 0; fr < kFrames; fr++) {
            const FrameInfo& fi = pool.info[fr];
            if (is_table_type(fi.type) || fi.type_count || fi.ref_count) BOOST_FAIL("counts left after every unpin");
        }
    }
    // The run exercised every level, both ways (the seed is fixed).
    BOOST_TEST_MESSAGE("pins L1-L4: " << pins_ok[1] << " " << pins_ok[2] << " " << pins_ok[3] << " " << pins_ok[4]
                                      << ", unpins " << unpins_ok << ", updates " << updates_ok);
    for (unsigned level = 1; level <= 4; level++) BOOST_TEST(pins_ok[level] > 10u);
    BOOST_TEST(unpins_ok > 40u);
    BOOST_TEST(updates_ok > 1000u);
}

// Grant host maps (invariant 6): an entry naming another domain's granted
// frame holds nothing in the counts, whoever removes it (an update, the
// L1's last use, the grant's own unmap); an entry for the domain's own
// frame holds what any entry holds. Validation never accepts a foreign
// entry, so a table that kept one cannot come back.
BOOST_FIXTURE_TEST_CASE(grant_entries_hold_only_what_the_domain_owns, Fixture) {
    const unsigned foreign = kFrames - 1;
    BOOST_REQUIRE(pt.pin(mfn(3), 1).ok());
    const uint64_t g = entry(foreign, P | RW | US | pte::A | pte::D | pte::NX | kGuestKernelBit);
    BOOST_TEST(pt.install_grant_entry(mfn(4), 0, g).error() == Err::InvalidArgument); // not an L1
    BOOST_TEST(pt.install_grant_entry(mfn(3), 512, g).error() == Err::InvalidArgument);
    BOOST_TEST(pt.install_grant_entry(mfn(3), 0, g & ~P).error() == Err::InvalidArgument);
    BOOST_REQUIRE(pt.install_grant_entry(mfn(3), 0, g).ok());
    BOOST_TEST((f(foreign).ref_count == 0u && f(foreign).type_count == 0u && f(foreign).type == PageType::None));
    // Replaced by an ordinary entry: the foreign one gives up nothing.
    BOOST_REQUIRE(pt.update_entry(mfn(3), 0, entry(10, P | RW), false).ok());
    BOOST_TEST((f(10).ref_count == 1u && f(10).type_count == 1u));
    // A grant map over an ordinary entry takes it down (as Xen does).
    BOOST_REQUIRE(pt.install_grant_entry(mfn(3), 0, g).ok());
    BOOST_TEST((f(10).ref_count == 0u && f(10).type_count == 0u));
    // The grant's unmap: only where it still names the frame.
    BOOST_TEST(!pt.remove_grant_entry(mfn(3), 0, mfn(foreign - 1)));
    BOOST_TEST(!pt.remove_grant_entry(mfn(3), 1, mfn(foreign)));
    BOOST_TEST(pt.remove_grant_entry(mfn(3), 0, mfn(foreign)));
    BOOST_TEST(e(3, 0) == 0u);
    BOOST_TEST(!pt.remove_grant_entry(mfn(3), 0, mfn(foreign)));
    // The domain's own frame by grant: what any entry holds, and a frame
    // that is a table cannot be mapped writable so.
    BOOST_REQUIRE(pt.install_grant_entry(mfn(3), 1, entry(11, P | RW | US)).ok());
    BOOST_TEST((f(11).ref_count == 1u && f(11).type == PageType::Writable && f(11).type_count == 1u));
    BOOST_TEST(pt.install_grant_entry(mfn(3), 2, entry(3, P | RW | US)).error() == Err::InvalidArgument);
    BOOST_TEST(e(3, 2) == 0u);
    // The L1's last use goes with a foreign entry still in it: nothing to
    // give up for that one, and it can never validate again with it.
    BOOST_REQUIRE(pt.install_grant_entry(mfn(3), 0, g).ok());
    BOOST_REQUIRE(pt.unpin(mfn(3)).ok());
    BOOST_TEST(!pt.remove_grant_entry(mfn(3), 0, mfn(foreign))); // no longer an L1: untouched
    BOOST_TEST(e(3, 0) == g);
    BOOST_TEST(pt.pin(mfn(3), 1).error() == Err::InvalidArgument);
    BOOST_TEST(all_clear());
}

BOOST_AUTO_TEST_SUITE_END()
