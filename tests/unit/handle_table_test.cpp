// Handle tables (hypervisor/cap/handle_table.cpp): encoding, the distinct
// errors for bad, foreign, wrong-type and under-privileged handles,
// exhaustion, reference counts, and random operation sequences against a
// model.
#include <boost/test/unit_test.hpp>

#include <map>
#include <random>
#include <vector>

#include "cap/handle_table.hpp"
#include "err_print.hpp"

using namespace virtue;

namespace virtue {
inline std::ostream& boost_test_print_type(std::ostream& os, ObjType t) { return os << static_cast<int>(t); }
} // namespace virtue

namespace {

constexpr uint32_t RIGHT_READ = 1u << 8;
constexpr uint32_t RIGHT_WRITE = 1u << 9;

struct TestObject : KObject {
    int destroyed = 0;
    explicit TestObject(ObjType t = ObjType::Test) {
        type = t;
        destroy = [](KObject* o) { static_cast<TestObject*>(o)->destroyed++; };
    }
};

struct Table {
    std::vector<HandleSlot> slots;
    HandleTable t;
    explicit Table(domid_t owner, uint32_t capacity = 16) : slots(capacity) {
        BOOST_REQUIRE(t.init(owner, slots.data(), capacity).ok());
    }
};

void drop(KObject* o) { kobject_unref(*o); }

} // namespace

BOOST_AUTO_TEST_SUITE(handle_table)

BOOST_AUTO_TEST_CASE(insert_get_query_close) {
    Table tb(3);
    TestObject obj;
    auto h = tb.t.insert(obj, RIGHT_READ | RIGHT_DUPLICATE);
    BOOST_REQUIRE(h.ok());
    BOOST_TEST(*h != 0u);
    BOOST_TEST(((*h >> 40) & 0x7fff) == 3u); // the issuing domain is in the value
    BOOST_TEST(obj.refs == 2u);              // creator + handle
    BOOST_TEST(tb.t.used() == 1u);

    auto got = tb.t.get(*h, ObjType::Test, RIGHT_READ);
    BOOST_REQUIRE(got.ok());
    BOOST_TEST(*got == &obj);
    BOOST_TEST(obj.refs == 3u); // the caller's reference
    kobject_unref(**got);
    uint32_t rights = 0;
    auto with_rights = tb.t.get(*h, ObjType::Test, 0, &rights); // all rights, not just the needed ones
    BOOST_REQUIRE(with_rights.ok());
    BOOST_TEST(rights == (RIGHT_READ | RIGHT_DUPLICATE));
    kobject_unref(**with_rights);

    auto info = tb.t.query(*h);
    BOOST_REQUIRE(info.ok());
    BOOST_TEST(info->type == ObjType::Test);
    BOOST_TEST(info->rights == (RIGHT_READ | RIGHT_DUPLICATE));

    auto closed = tb.t.close(*h);
    BOOST_REQUIRE(closed.ok());
    BOOST_TEST(*closed == &obj);
    BOOST_TEST(tb.t.used() == 0u);
    kobject_unref(**closed);
    BOOST_TEST(obj.refs == 1u);
    BOOST_TEST(obj.destroyed == 0);
    kobject_unref(obj);
    BOOST_TEST(obj.destroyed == 1);
}

BOOST_AUTO_TEST_CASE(each_kind_of_bad_handle_has_its_own_error) {
    Table mine(1), theirs(2);
    TestObject obj, other_type(ObjType::Timer);
    uint64_t h = *mine.t.insert(obj, RIGHT_READ);
    uint64_t foreign = *theirs.t.insert(obj, RIGHTS_ALL);
    uint64_t timer = *mine.t.insert(other_type, RIGHTS_ALL);

    BOOST_TEST(mine.t.get(foreign, ObjType::Test, 0).error() == Err::ForeignHandle);
    BOOST_TEST(mine.t.get(timer, ObjType::Test, 0).error() == Err::WrongType);
    BOOST_TEST(mine.t.get(h, ObjType::Test, RIGHT_WRITE).error() == Err::Permission);
    BOOST_TEST(mine.t.get(h, ObjType::None, RIGHT_READ).ok()); // any type
    kobject_unref(obj);

    // Never issued: 0, stray high bits, generation 0, index beyond the table.
    BOOST_TEST(mine.t.get(0, ObjType::None, 0).error() == Err::BadHandle);
    BOOST_TEST(mine.t.get(h | (1ull << 63), ObjType::None, 0).error() == Err::BadHandle);
    BOOST_TEST(mine.t.get(h | (1ull << 55), ObjType::None, 0).error() == Err::BadHandle);
    BOOST_TEST(mine.t.get(HandleTable::encode(1, 3, 0), ObjType::None, 0).error() == Err::BadHandle);
    BOOST_TEST(mine.t.get(HandleTable::encode(1, 16, 1), ObjType::None, 0).error() == Err::BadHandle);
    BOOST_TEST(mine.t.get(HandleTable::encode(1, 5, 1), ObjType::None, 0).error() == Err::BadHandle); // free slot

    // Closed: dead for good, even once its slot is reused.
    BOOST_REQUIRE(mine.t.close(h).ok());
    kobject_unref(obj);
    BOOST_TEST(mine.t.get(h, ObjType::None, 0).error() == Err::BadHandle);
    BOOST_TEST(mine.t.close(h).error() == Err::BadHandle);
    BOOST_TEST(mine.t.query(h).error() == Err::BadHandle);
    uint64_t reused = *mine.t.insert(obj, RIGHT_READ);
    BOOST_TEST((reused & 0xffff) == (h & 0xffff)); // same slot ...
    BOOST_TEST(reused != h);                       // ... new generation
    BOOST_TEST(mine.t.get(h, ObjType::None, 0).error() == Err::BadHandle);
    mine.t.close_all(drop);
    theirs.t.close_all(drop);
    BOOST_TEST(obj.refs == 1u);
    BOOST_TEST(other_type.refs == 1u);
}

BOOST_AUTO_TEST_CASE(duplicate_only_narrows_rights) {
    Table tb(1);
    TestObject obj;
    uint64_t h = *tb.t.insert(obj, RIGHT_READ | RIGHT_WRITE | RIGHT_DUPLICATE);
    auto ro = tb.t.duplicate(h, RIGHT_READ);
    BOOST_REQUIRE(ro.ok());
    BOOST_TEST(*ro != h);
    BOOST_TEST(tb.t.query(*ro)->rights == RIGHT_READ);
    BOOST_TEST(obj.refs == 3u);
    // Growing rights, or duplicating without RIGHT_DUPLICATE: refused, no change.
    BOOST_TEST(tb.t.duplicate(h, RIGHT_READ | RIGHT_TRANSFER).error() == Err::Permission);
    BOOST_TEST(tb.t.duplicate(*ro, RIGHT_READ).error() == Err::Permission);
    BOOST_TEST(tb.t.used() == 2u);
    BOOST_TEST(obj.refs == 3u);
    BOOST_TEST(tb.t.get(*ro, ObjType::Test, RIGHT_WRITE).error() == Err::Permission);
    // The duplicate lives on when the original closes.
    kobject_unref(**tb.t.close(h));
    BOOST_TEST(tb.t.get(*ro, ObjType::Test, RIGHT_READ).ok());
    kobject_unref(obj);
    tb.t.close_all(drop);
    BOOST_TEST(obj.refs == 1u);
}

BOOST_AUTO_TEST_CASE(a_full_table_fails_cleanly) {
    Table tb(7, 8);
    TestObject obj;
    std::vector<uint64_t> hs;
    for (int i = 0; i < 8; i++) hs.push_back(*tb.t.insert(obj, RIGHTS_ALL));
    BOOST_TEST(tb.t.insert(obj, RIGHTS_ALL).error() == Err::TooManyHandles);
    BOOST_TEST(tb.t.duplicate(hs[0], RIGHT_READ).error() == Err::TooManyHandles);
    BOOST_TEST(tb.t.used() == 8u);
    BOOST_TEST(obj.refs == 9u);
    kobject_unref(**tb.t.close(hs[3]));
    BOOST_TEST(tb.t.insert(obj, RIGHTS_ALL).ok()); // room again
    tb.t.close_all(drop);
    BOOST_TEST(obj.refs == 1u);
    BOOST_TEST(tb.t.used() == 0u);
}

// Reserve, then commit or give back: a reserved slot counts as used, names
// nothing until committed, and a full table refuses the reservation.
BOOST_AUTO_TEST_CASE(reserve_then_commit_or_give_back) {
    Table tb(7, 3);
    TestObject obj;
    auto a = tb.t.reserve();
    auto b = tb.t.reserve();
    BOOST_REQUIRE(a.ok());
    BOOST_REQUIRE(b.ok());
    BOOST_TEST(*a != *b);
    BOOST_TEST(tb.t.used() == 2u);
    BOOST_TEST(obj.refs == 1u); // nothing named yet
    // The handle a reserved slot will get is not live before the commit.
    const uint64_t early = HandleTable::encode(7, *a, 1);
    BOOST_TEST(tb.t.get(early, ObjType::None, 0).error() == Err::BadHandle);
    uint64_t h = tb.t.commit(*a, obj, RIGHT_READ);
    BOOST_TEST(obj.refs == 2u);
    auto got = tb.t.get(h, ObjType::Test, RIGHT_READ);
    BOOST_REQUIRE(got.ok());
    kobject_unref(**got);
    BOOST_TEST(tb.t.insert(obj, RIGHTS_ALL).ok()); // the third slot
    BOOST_TEST(tb.t.reserve().error() == Err::TooManyHandles);
    BOOST_TEST(tb.t.insert(obj, RIGHTS_ALL).error() == Err::TooManyHandles); // b still reserved
    tb.t.unreserve(*b);
    BOOST_TEST(tb.t.used() == 2u);
    auto again = tb.t.reserve();
    BOOST_TEST(again.ok());
    tb.t.unreserve(*again);
    BOOST_TEST(tb.t.insert(obj, RIGHTS_ALL).ok());
    tb.t.close_all(drop);
    BOOST_TEST(obj.refs == 1u);
    BOOST_TEST(tb.t.used() == 0u);
}

BOOST_AUTO_TEST_CASE(init_and_insert_refuse_bad_arguments) {
    HandleSlot slot;
    HandleTable t;
    BOOST_TEST(t.init(1, nullptr, 4).error() == Err::InvalidArgument);
    BOOST_TEST(t.init(1, &slot, 0).error() == Err::InvalidArgument);
    BOOST_TEST(t.init(1, &slot, kMaxHandleSlots + 1).error() == Err::InvalidArgument);
    BOOST_TEST(t.init(DOMID_FIRST_RESERVED, &slot, 1).error() == Err::InvalidArgument);
    BOOST_REQUIRE(t.init(DOMID_FIRST_RESERVED - 1, &slot, 1).ok());
    TestObject untyped(ObjType::None);
    BOOST_TEST(t.insert(untyped, 0).error() == Err::InvalidArgument);
    HandleTable uninitialised;
    TestObject obj;
    BOOST_TEST(uninitialised.insert(obj, 0).error() == Err::InvalidArgument);
    BOOST_TEST(uninitialised.get(1, ObjType::None, 0).error() != Err::InvalidArgument); // simply not a handle
}

BOOST_AUTO_TEST_CASE(generations_never_produce_handle_zero_or_repeat_soon) {
    Table tb(0, 1);
    TestObject obj;
    uint64_t first = *tb.t.insert(obj, 0);
    uint64_t prev = first;
    kobject_unref(**tb.t.close(first));
    for (int i = 0; i < 100000; i++) {
        uint64_t h = *tb.t.insert(obj, 0);
        BOOST_REQUIRE(h != 0u);
        BOOST_REQUIRE(h != prev);
        BOOST_REQUIRE(h != first);
        prev = h;
        kobject_unref(**tb.t.close(h));
    }
    BOOST_TEST(obj.refs == 1u);
}

// Random operations against a model: every result (success or error kind)
// and every reference count must match.
BOOST_AUTO_TEST_CASE(random_operations_match_a_model) {
    Table tb(5, 64);
    Table other(6, 4);
    std::vector<TestObject> objects;
    objects.reserve(8);
    for (int i = 0; i < 8; i++) objects.emplace_back(i % 2 ? ObjType::Test : ObjType::Timer);
    uint64_t foreign = *other.t.insert(objects[0], RIGHTS_ALL);

    struct Entry {
        size_t object;
        uint32_t rights;
    };
    std::map<uint64_t, Entry> live;
    std::vector<uint64_t> dead;
    std::mt19937_64 rng(42);
    auto pick_handle = [&]() -> uint64_t {
        switch (rng() % 4) {
        case 0: return dead.empty() ? rng() : dead[rng() % dead.size()];
        case 1: return rng() % 3 ? foreign : rng();
        default:
            if (live.empty()) return rng();
            auto it = live.begin();
            std::advance(it, static_cast<long>(rng() % live.size()));
            return it->first;
        }
    };
    auto expected_error = [&](uint64_t h) -> Err {
        if (live.count(h)) return Err::InvalidArgument; // "no error"
        // Well-formed values of another owner are foreign; the rest is bad.
        bool well_formed = (h >> 55) == 0 && ((h >> 16) & 0xffffff) != 0;
        if (well_formed && ((h >> 40) & 0x7fff) != 5) return Err::ForeignHandle;
        return Err::BadHandle;
    };
    for (int step = 0; step < 200000; step++) {
        unsigned op = rng() % 5;
        if (op == 0) {
            size_t o = rng() % objects.size();
            uint32_t rights = static_cast<uint32_t>(rng());
            auto h = tb.t.insert(objects[o], rights);
            if (live.size() == 64) {
                BOOST_REQUIRE(h.error() == Err::TooManyHandles);
            } else {
                BOOST_REQUIRE(h.ok());
                BOOST_REQUIRE(!live.count(*h));
                live[*h] = {o, rights};
            }
            continue;
        }
        uint64_t h = pick_handle();
        Err bad = expected_error(h);
        bool is_live = bad == Err::InvalidArgument;
        if (op == 1) {
            ObjType want = rng() % 2 ? ObjType::Test : ObjType::Timer;
            uint32_t need = static_cast<uint32_t>(rng()) & static_cast<uint32_t>(rng());
            auto got = tb.t.get(h, want, need);
            if (!is_live) {
                BOOST_REQUIRE(got.error() == bad);
            } else if (objects[live[h].object].type != want) {
                BOOST_REQUIRE(got.error() == Err::WrongType);
            } else if ((live[h].rights & need) != need) {
                BOOST_REQUIRE(got.error() == Err::Permission);
            } else {
                BOOST_REQUIRE(got.ok());
                BOOST_REQUIRE(*got == &objects[live[h].object]);
                kobject_unref(**got);
            }
        } else if (op == 2) {
            uint32_t rights = static_cast<uint32_t>(rng()) & static_cast<uint32_t>(rng());
            auto d = tb.t.duplicate(h, rights);
            if (!is_live) {
                BOOST_REQUIRE(d.error() == bad);
            } else if (!(live[h].rights & RIGHT_DUPLICATE) || (rights & ~live[h].rights)) {
                BOOST_REQUIRE(d.error() == Err::Permission);
            } else if (live.size() == 64) {
                BOOST_REQUIRE(d.error() == Err::TooManyHandles);
            } else {
                BOOST_REQUIRE(d.ok());
                live[*d] = {live[h].object, rights};
            }
        } else if (op == 3) {
            auto c = tb.t.close(h);
            if (!is_live) {
                BOOST_REQUIRE(c.error() == bad);
            } else {
                BOOST_REQUIRE(c.ok());
                BOOST_REQUIRE(*c == &objects[live[h].object]);
                kobject_unref(**c);
                live.erase(h);
                dead.push_back(h);
            }
        } else {
            auto q = tb.t.query(h);
            if (!is_live) {
                BOOST_REQUIRE_MESSAGE(q.error() == bad, "h=" << std::hex << h << " got " << err_name(q.error()) << " want " << err_name(bad));
            } else {
                BOOST_REQUIRE(q->rights == live[h].rights);
                BOOST_REQUIRE(q->type == objects[live[h].object].type);
            }
        }
        BOOST_REQUIRE(tb.t.used() == live.size());
    }
    // Reference counts: creator + one per live handle (+1 for the foreign one).
    std::vector<uint32_t> expected(objects.size(), 1);
    for (auto& [h, e] : live) expected[e.object]++;
    expected[0]++;
    for (size_t i = 0; i < objects.size(); i++) BOOST_TEST(objects[i].refs == expected[i]);
    tb.t.close_all(drop);
    other.t.close_all(drop);
    for (auto& o : objects) {
        BOOST_TEST(o.refs == 1u);
        BOOST_TEST(o.destroyed == 0);
    }
}

BOOST_AUTO_TEST_SUITE_END()
