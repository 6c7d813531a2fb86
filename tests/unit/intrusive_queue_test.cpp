// IntrusiveQueue (hypervisor/lib/intrusive_queue.hpp) against a model.
#include <boost/test/unit_test.hpp>

#include <deque>
#include <random>

#include "lib/intrusive_queue.hpp"

namespace {
struct Item {
    int id = 0;
    Item* next = nullptr;
};
using Queue = virtue::IntrusiveQueue<Item, &Item::next>;
} // namespace

BOOST_AUTO_TEST_SUITE(intrusive_queue)

BOOST_AUTO_TEST_CASE(fifo_order_front_and_removal) {
    Item a{1}, b{2}, c{3};
    Queue q;
    BOOST_TEST(q.empty());
    BOOST_TEST(q.pop() == nullptr);
    q.push_back(a);
    q.push_back(b);
    q.push_front(c);
    BOOST_TEST(q.front() == &c);
    BOOST_TEST(q.remove(b)); // the tail
    BOOST_TEST(!q.remove(b));
    q.push_back(b); // the tail moved back correctly
    BOOST_TEST(q.pop() == &c);
    BOOST_TEST(q.pop() == &a);
    BOOST_TEST(q.pop() == &b);
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(random_operations_match_a_model) {
    Item items[16];
    for (int i = 0; i < 16; i++) items[i].id = i;
    bool in[16] = {};
    Queue q;
    std::deque<int> model;
    std::mt19937 rng(7);
    for (int step = 0; step < 20000; step++) {
        int i = static_cast<int>(rng() % 16);
        switch (rng() % 4) {
        case 0:
            if (!in[i]) q.push_back(items[i]), model.push_back(i), in[i] = true;
            break;
        case 1:
            if (!in[i]) q.push_front(items[i]), model.push_front(i), in[i] = true;
            break;
        case 2: {
            Item* x = q.pop();
            BOOST_REQUIRE((x == nullptr) == model.empty());
            if (x) {
                BOOST_REQUIRE(x->id == model.front());
                model.pop_front();
                in[x->id] = false;
            }
            break;
        }
        default: {
            bool removed = q.remove(items[i]);
            BOOST_REQUIRE(removed == in[i]);
            if (removed) {
                for (auto it = model.begin(); it != model.end(); ++it)
                    if (*it == i) {
                        model.erase(it);
                        break;
                    }
                in[i] = false;
            }
        }
        }
        BOOST_REQUIRE(q.empty() == model.empty());
        if (!model.empty()) BOOST_REQUIRE(q.front()->id == model.front());
    }
}

BOOST_AUTO_TEST_SUITE_END()
