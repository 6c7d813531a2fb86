// Tests for virtue::ring (hypercalls/sdk/include/virtue/ring.hpp) against the
// macros of Xen's public io/ring.h (Debian libxen-dev), the ABI it must match.
#include <boost/test/unit_test.hpp>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

// ring.h uses xen_mb/xen_rmb/xen_wmb from interface version 0x00030208 on
// (older versions map them to mb()/rmb()/wmb()); it also needs uint8_t,
// offsetof and memset, included above.
#define __XEN_INTERFACE_VERSION__ 0x00030208
#define xen_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#include <xen/io/ring.h>

// No padding, so two pages driven through identical operations are
// byte-identical.
struct test_req {
    uint32_t id;
    uint32_t op;
    uint64_t payload;
};
struct test_rsp {
    uint32_t id;
    int32_t status;
    uint64_t echo;
};
DEFINE_RING_TYPES(test, struct test_req, struct test_rsp);

// An entry size that is not a power of two (40 bytes: 100 fit, 64 used).
struct big_req {
    uint8_t bytes[40];
};
struct big_rsp {
    uint16_t status;
};
DEFINE_RING_TYPES(big, struct big_req, struct big_rsp);

// Relative path like sdk_format_test.cpp: the unit-test build (tests/tests.mk)
// has no -Ihypercalls/sdk/include.
#include "../../hypercalls/sdk/include/virtue/ring.hpp"

namespace {

using virtue::ring::Idx;
using Sring = virtue::ring::SharedRing<test_req, test_rsp>;
using Front = virtue::ring::FrontRing<test_req, test_rsp>;
using Back = virtue::ring::BackRing<test_req, test_rsp>;
using BigSring = virtue::ring::SharedRing<big_req, big_rsp>;

constexpr size_t kPage = 4096;

struct alignas(4096) Page {
    unsigned char bytes[kPage];
    explicit Page(unsigned char fill = 0x5a) { memset(bytes, fill, sizeof bytes); }
    test_sring* xen() { return reinterpret_cast<test_sring*>(bytes); }
    Sring* virt() { return reinterpret_cast<Sring*>(bytes); }
};

bool same(const Page& a, const Page& b) { return memcmp(a.bytes, b.bytes, kPage) == 0; }

test_req make_req(uint32_t seq) { return {seq, seq % 7, seq * 0x9e3779b97f4a7c15ull}; }
test_rsp make_rsp(const test_req& r) { return {r.id, int32_t(r.op) - 3, ~r.payload}; }

// Deterministic pseudo-random numbers in [0, n].
struct Lcg {
    uint64_t s = 12345;
    uint32_t upto(uint32_t n) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        return uint32_t(s >> 33) % (n + 1);
    }
};

} // namespace

// Field offsets, sizes and entry counts must equal Xen's (compile time).
static_assert(sizeof(Sring) == sizeof(test_sring));
static_assert(alignof(Sring) == alignof(test_sring));
static_assert(offsetof(Sring, req_prod) == offsetof(test_sring, req_prod));
static_assert(offsetof(Sring, req_event) == offsetof(test_sring, req_event));
static_assert(offsetof(Sring, rsp_prod) == offsetof(test_sring, rsp_prod));
static_assert(offsetof(Sring, rsp_event) == offsetof(test_sring, rsp_event));
static_assert(offsetof(Sring, pvt) == offsetof(test_sring, pvt));
static_assert(offsetof(Sring, pad) == offsetof(test_sring, __pad));
static_assert(offsetof(Sring, ring) == offsetof(test_sring, ring));
static_assert(sizeof(Sring::Entry) == sizeof(union test_sring_entry));
static_assert(Sring::entries_for(kPage) == __CONST_RING_SIZE(test, 4096));
static_assert(Sring::entries_for(2 * kPage) == __CONST_RING_SIZE(test, 8192));
static_assert(BigSring::entries_for(kPage) == __CONST_RING_SIZE(big, 4096));
static_assert(offsetof(BigSring, ring) == offsetof(big_sring, ring));
static_assert(sizeof(BigSring::Entry) == sizeof(union big_sring_entry));
static_assert(Sring::entries_for(kPage) == 128u);
static_assert(BigSring::entries_for(kPage) == 64u);
static_assert(Sring::entries_for(10) == 0u);

BOOST_AUTO_TEST_SUITE(shared_ring)

BOOST_AUTO_TEST_CASE(layout_matches_xen) {
    // Entry counts for a page and other sizes, against __RING_SIZE on a
    // real page.
    Page page;
    test_sring* xs = page.xen();
    BOOST_TEST(Sring::entries_for(kPage) == Idx(__RING_SIZE(xs, 4096)));
    for (size_t bytes : {size_t(64), size_t(79), size_t(80), size_t(100), size_t(1000), kPage, 3 * kPage})
        BOOST_TEST(Sring::entries_for(bytes) == Idx(__RING_SIZE(xs, bytes)), "bytes=" << bytes);

    // init() writes what SHARED_RING_INIT writes and nothing else.
    Page xen_page(0xa5), virt_page(0xa5);
    SHARED_RING_INIT(xen_page.xen());
    virt_page.virt()->init();
    BOOST_TEST(same(xen_page, virt_page));

    // Ring sizes and slot addresses agree, including for wrapped indices.
    test_front_ring xf;
    FRONT_RING_INIT(&xf, xs, kPage);
    Front vf;
    vf.attach(page.virt(), kPage);
    test_back_ring xb;
    BACK_RING_INIT(&xb, xs, kPage);
    Back vb;
    vb.attach(page.virt(), kPage);
    BOOST_TEST(vf.size() == RING_SIZE(&xf));
    BOOST_TEST(vb.size() == RING_SIZE(&xb));
    for (Idx i : {0u, 1u, 127u, 128u, 129u, 0xffffffffu, 0x80000005u}) {
        BOOST_TEST((void*)vf.request(i) == (void*)RING_GET_REQUEST(&xf, i));
        BOOST_TEST((void*)vf.response(i) == (void*)RING_GET_RESPONSE(&xf, i));
        BOOST_TEST((void*)vb.request(i) == (void*)RING_GET_REQUEST(&xb, i));
        BOOST_TEST((void*)vb.response(i) == (void*)RING_GET_RESPONSE(&xb, i));
    }
}

// Page A: Xen-macro front + virtue back. Page B: virtue front + Xen-macro
// back. Both are driven through the same random operation sequence, starting
// just below the 32-bit wrap; every count, payload and notify decision must
// agree, and the two pages must stay byte-identical.
BOOST_AUTO_TEST_CASE(interoperates_with_xen_macros_across_index_wrap) {
    const Idx start = 0xffffff00u;
    Page a, b;

    test_sring* as = a.xen();
    SHARED_RING_INIT(as);
    as->req_prod = as->rsp_prod = start;
    as->req_event = as->rsp_event = start + 1;
    test_front_ring xf;
    FRONT_RING_ATTACH(&xf, as, start, kPage);
    Back vb;
    vb.attach(a.virt(), kPage, start);

    Sring* bs = b.virt();
    Front vf;
    vf.init(bs, kPage);
    bs->req_prod = bs->rsp_prod = start;
    bs->req_event = bs->rsp_event = start + 1;
    vf.attach(bs, kPage, start);
    test_back_ring xb;
    BACK_RING_ATTACH(&xb, b.xen(), start, kPage);

    BOOST_REQUIRE(same(a, b));
    BOOST_REQUIRE_EQUAL(vf.size(), RING_SIZE(&xf));

    Lcg rng;
    uint32_t next_sent = 0, next_served = 0, next_answered = 0, next_received = 0;
    int notify_seen[2][2] = {}; // [requests/responses][false/true]
    int final_seen[2][2] = {};

    for (int step = 0; step < 200000 && next_received < 5000; ++step) {
        switch (rng.upto(3)) {
        case 0: { // front end queues requests and publishes them
            BOOST_REQUIRE_EQUAL(vf.free_requests(), RING_FREE_REQUESTS(&xf));
            BOOST_REQUIRE_EQUAL(vf.full(), bool(RING_FULL(&xf)));
            uint32_t k = rng.upto(vf.free_requests());
            for (uint32_t i = 0; i < k; ++i, ++next_sent) {
                *RING_GET_REQUEST(&xf, xf.req_prod_pvt) = make_req(next_sent);
                xf.req_prod_pvt++;
                test_req* slot = vf.next_request();
                BOOST_REQUIRE(slot != nullptr);
                *slot = make_req(next_sent);
            }
            if (rng.upto(3) == 0) {
                RING_PUSH_REQUESTS(&xf);
                vf.push_requests();
            } else {
                int xen_notify;
                RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&xf, xen_notify);
                bool notify = vf.push_requests_and_check_notify();
                BOOST_REQUIRE_EQUAL(notify, bool(xen_notify));
                notify_seen[0][notify]++;
            }
            break;
        }
        case 1: { // back end serves some requests and answers some
            Idx avail = vb.unconsumed_requests();
            BOOST_REQUIRE_EQUAL(avail, Idx(RING_HAS_UNCONSUMED_REQUESTS(&xb)));
            BOOST_REQUIRE(!vb.requests_overflow());
            BOOST_REQUIRE(!RING_REQUEST_PROD_OVERFLOW(&xb, b.xen()->req_prod));
            uint32_t m = rng.upto(avail);
            for (uint32_t i = 0; i < m; ++i, ++next_served) {
                test_req got;
                BOOST_REQUIRE(vb.take_request(got));
                test_req xgot = *RING_GET_REQUEST(&xb, xb.req_cons);
                xb.req_cons++;
                test_req want = make_req(next_served);
                BOOST_REQUIRE(memcmp(&got, &want, sizeof want) == 0);
                BOOST_REQUIRE(memcmp(&xgot, &want, sizeof want) == 0);
            }
            uint32_t p = rng.upto(vb.req_cons - vb.rsp_prod_pvt);
            for (uint32_t i = 0; i < p; ++i, ++next_answered) {
                test_rsp* slot = vb.next_response();
                BOOST_REQUIRE(slot != nullptr);
                *slot = make_rsp(make_req(next_answered));
                *RING_GET_RESPONSE(&xb, xb.rsp_prod_pvt) = make_rsp(make_req(next_answered));
                xb.rsp_prod_pvt++;
            }
            if (rng.upto(1) == 0) {
                int xen_notify;
                RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&xb, xen_notify);
                bool notify = vb.push_responses_and_check_notify();
                BOOST_REQUIRE_EQUAL(notify, bool(xen_notify));
                notify_seen[1][notify]++;
            } else {
                RING_PUSH_RESPONSES(&xb);
                vb.push_responses();
            }
            if (rng.upto(1) == 0) {
                int xen_work;
                RING_FINAL_CHECK_FOR_REQUESTS(&xb, xen_work);
                bool work = vb.final_check_for_requests();
                BOOST_REQUIRE_EQUAL(work, xen_work != 0);
                final_seen[0][work]++;
            }
            break;
        }
        default: { // front end takes some responses
            Idx avail = vf.unconsumed_responses();
            BOOST_REQUIRE_EQUAL(avail, Idx(RING_HAS_UNCONSUMED_RESPONSES(&xf)));
            BOOST_REQUIRE(!vf.responses_overflow());
            uint32_t m = rng.upto(avail);
            for (uint32_t i = 0; i < m; ++i, ++next_received) {
                test_rsp got;
                BOOST_REQUIRE(vf.take_response(got));
                test_rsp xgot = *RING_GET_RESPONSE(&xf, xf.rsp_cons);
                xf.rsp_cons++;
                test_rsp want = make_rsp(make_req(next_received));
                BOOST_REQUIRE(memcmp(&got, &want, sizeof want) == 0);
                BOOST_REQUIRE(memcmp(&xgot, &want, sizeof want) == 0);
            }
            if (rng.upto(1) == 0) {
                int xen_work;
                RING_FINAL_CHECK_FOR_RESPONSES(&xf, xen_work);
                bool work = vf.final_check_for_responses();
                BOOST_REQUIRE_EQUAL(work, xen_work != 0);
                final_seen[1][work]++;
            }
            break;
        }
        }
        BOOST_REQUIRE(same(a, b));
        BOOST_REQUIRE_EQUAL(vf.req_prod_pvt, xf.req_prod_pvt);
        BOOST_REQUIRE_EQUAL(vf.rsp_cons, xf.rsp_cons);
        BOOST_REQUIRE_EQUAL(vb.req_cons, xb.req_cons);
        BOOST_REQUIRE_EQUAL(vb.rsp_prod_pvt, xb.rsp_prod_pvt);
    }

    BOOST_TEST(next_received >= 5000u);
    BOOST_TEST(vf.rsp_cons < start); // the 32-bit indices wrapped
    // Both outcomes of every decision were exercised.
    for (int kind = 0; kind < 2; ++kind)
        for (int outcome = 0; outcome < 2; ++outcome) {
            BOOST_TEST(notify_seen[kind][outcome] > 0, "notify " << kind << "/" << outcome);
            BOOST_TEST(final_seen[kind][outcome] > 0, "final check " << kind << "/" << outcome);
        }
}

// A producer notifies only when the consumer asked for it via req_event /
// rsp_event.
BOOST_AUTO_TEST_CASE(event_suppression) {
    Page page;
    Front f;
    f.init(page.virt(), kPage);
    Back b;
    b.attach(page.virt(), kPage);
    Sring* s = page.virt();

    auto send = [&](int n) {
        for (int i = 0; i < n; ++i) *f.next_request() = make_req(uint32_t(i));
    };
    auto drain = [&] {
        test_req r;
        while (b.take_request(r)) *b.next_response() = make_rsp(r);
    };

    // A fresh ring asks for the first request only; a push with nothing new
    // never notifies.
    send(1);
    BOOST_TEST(f.push_requests_and_check_notify());
    BOOST_TEST(!f.push_requests_and_check_notify());
    send(1);
    BOOST_TEST(!f.push_requests_and_check_notify());

    // Back end drains and re-arms (req_event = req_cons + 1): a batch of 5
    // pushed at once is one notification; more pushes before the back end
    // re-arms are silent.
    drain();
    BOOST_TEST(!b.final_check_for_requests());
    BOOST_TEST(s->req_event == b.req_cons + 1);
    send(5);
    BOOST_TEST(f.push_requests_and_check_notify());
    int notifications = 0;
    for (int i = 0; i < 5; ++i) {
        send(1);
        notifications += f.push_requests_and_check_notify();
    }
    BOOST_TEST(notifications == 0);

    // Re-armed again, five single pushes: only the first notifies.
    drain();
    BOOST_TEST(!b.final_check_for_requests());
    notifications = 0;
    for (int i = 0; i < 5; ++i) {
        send(1);
        notifications += f.push_requests_and_check_notify();
    }
    BOOST_TEST(notifications == 1);

    // A batching consumer asking to be woken at the 4th new request.
    drain();
    BOOST_TEST(!b.final_check_for_requests());
    s->req_event = b.req_cons + 4;
    for (int i = 1; i <= 6; ++i) {
        send(1);
        BOOST_TEST(f.push_requests_and_check_notify() == (i == 4), "push " << i);
    }

    // With work pending, the final check reports it and leaves req_event alone.
    Idx armed = s->req_event;
    BOOST_TEST(b.final_check_for_requests());
    BOOST_TEST(s->req_event == armed);
    drain();

    // Responses: the front end drains and re-arms; one notification for the batch.
    test_rsp r;
    while (f.take_response(r)) {}
    BOOST_TEST(!f.final_check_for_responses());
    BOOST_TEST(s->rsp_event == f.rsp_cons + 1);
    b.push_responses(); // publishes what drain() answered without checking
    BOOST_TEST(f.final_check_for_responses());
    while (f.take_response(r)) {}
    BOOST_TEST(!f.final_check_for_responses());
    auto round_trip = [&](int n) {
        send(n);
        f.push_requests();
        drain();
        return b.push_responses_and_check_notify();
    };
    BOOST_TEST(round_trip(1));
    BOOST_TEST(!b.push_responses_and_check_notify()); // nothing new
    BOOST_TEST(!round_trip(1));                       // front end did not re-arm
    while (f.take_response(r)) {}
    BOOST_TEST(!f.final_check_for_responses());
    BOOST_TEST(round_trip(3)); // one notification for the batch
    BOOST_TEST(!round_trip(2));
}

// A hostile front end claiming 10 rings' worth of requests is detected and
// cannot keep the back end's consumer loop going; same for a hostile back end.
BOOST_AUTO_TEST_CASE(hostile_peer_is_bounded) {
    const Idx start = 0xfffffff0u; // the claimed index wraps too
    Page page;
    Sring* s = page.virt();
    Front f;
    f.init(s, kPage);
    s->req_prod = s->rsp_prod = start;
    f.attach(s, kPage, start);
    Back b;
    b.attach(s, kPage, start);
    test_back_ring xb;
    BACK_RING_ATTACH(&xb, page.xen(), start, kPage);
    const Idx size = b.size();

    // A legitimately full ring is not an overflow; one more claimed request is.
    for (Idx i = 0; i < size; ++i) *f.next_request() = make_req(i);
    BOOST_TEST(f.full());
    BOOST_TEST(f.next_request() == nullptr);
    f.push_requests();
    BOOST_TEST(!b.requests_overflow());
    BOOST_TEST(b.unconsumed_requests() == size);
    s->req_prod = start + size + 1;
    BOOST_TEST(b.requests_overflow());

    s->req_prod = b.req_cons + 10 * size;
    BOOST_TEST(b.requests_overflow());
    BOOST_TEST(bool(RING_REQUEST_PROD_OVERFLOW(&xb, s->req_prod)));
    BOOST_TEST(b.unconsumed_requests() == size);
    BOOST_TEST(b.unconsumed_requests() == Idx(RING_HAS_UNCONSUMED_REQUESTS(&xb)));

    // A consumer that never answers stops after one ring's worth.
    test_req r;
    Idx taken = 0;
    while (b.take_request(r)) BOOST_REQUIRE(++taken <= size);
    BOOST_TEST(taken == size);
    BOOST_TEST(b.cons_overflow(b.req_cons));
    BOOST_TEST(bool(RING_REQUEST_CONS_OVERFLOW(&xb, b.req_cons)));
    BOOST_TEST(b.unconsumed_requests() == 0u);
    BOOST_TEST(!b.final_check_for_requests());

    // A producer index behind the consumer is impossible too.
    Back b2;
    b2.attach(s, kPage, start + 5);
    s->req_prod = start + 4;
    BOOST_TEST(b2.requests_overflow());
    BOOST_TEST(b2.unconsumed_requests() <= size);

    // A back end may only answer requests it took.
    BOOST_TEST(b2.next_response() == nullptr);

    // Hostile back end: 3 requests outstanding, 10 rings' worth of responses claimed.
    Page page2;
    Sring* s2 = page2.virt();
    Front f2;
    f2.init(s2, kPage);
    for (Idx i = 0; i < 3; ++i) *f2.next_request() = make_req(i);
    f2.push_requests();
    BOOST_TEST(!f2.responses_overflow());
    s2->rsp_prod = f2.rsp_cons + 3;
    BOOST_TEST(!f2.responses_overflow());
    s2->rsp_prod = f2.rsp_cons + 4; // one more than was asked for
    BOOST_TEST(f2.responses_overflow());
    s2->rsp_prod = f2.rsp_cons + 10 * size;
    BOOST_TEST(f2.responses_overflow());
    test_rsp got;
    Idx received = 0;
    while (f2.take_response(got)) BOOST_REQUIRE(++received <= size);
    BOOST_TEST(received == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
