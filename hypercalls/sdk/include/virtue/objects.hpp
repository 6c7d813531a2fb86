// Owner types for native handles: RAII, move-only, close on destruction.
//
//   virtue::Memory mem;
//   if (int64_t rc = virtue::Memory::create(16, mem); rc < 0) ...;
//   virtue::AddressSpace as;
//   virtue::AddressSpace::self(as);
//   as.map(0x100000000, mem, 0, 16 * 4096, VIRTUE_PROT_READ | VIRTUE_PROT_WRITE);
//
// Calls return what the native call returns: >= 0 on success, a negated Xen
// errno on failure (docs/native-abi.md lists which). A failed create leaves
// the out object empty.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <virtue/native_calls.hpp>

namespace virtue {

class Handle {
  public:
    Handle() = default;
    explicit Handle(uint64_t h) : h_(h) {}
    Handle(Handle&& o) noexcept : h_(o.release()) {}
    Handle& operator=(Handle&& o) noexcept {
        if (this != &o) reset(o.release());
        return *this;
    }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle() { reset(); }

    uint64_t get() const { return h_; }
    explicit operator bool() const { return h_ != 0; }
    // Gives up ownership (the caller closes it).
    uint64_t release() {
        uint64_t h = h_;
        h_ = 0;
        return h;
    }
    // Closes the current handle (if any) and owns h instead.
    void reset(uint64_t h = 0) {
        if (h_) sys::handle_close(h_);
        h_ = h;
    }
    // A second handle to the same object with `rights` (a subset).
    int64_t duplicate(uint32_t rights, Handle& out) const { return adopt(sys::handle_duplicate(h_, rights), out); }
    int64_t query(virtue_handle_info& info) const { return sys::handle_query(h_, &info); }

  protected:
    // Stores a new handle from a call's result; returns 0 or the error.
    static int64_t adopt(int64_t rc, Handle& out) {
        if (rc < 0) return rc;
        out.reset(static_cast<uint64_t>(rc));
        return 0;
    }

  private:
    uint64_t h_ = 0;
};

// Frames of the domain's partition (memory_create).
class Memory : public Handle {
  public:
    using Handle::Handle;
    static int64_t create(uint64_t pages, Memory& out) { return adopt(sys::memory_create(pages, 0), out); }
};

// An address space (aspace_create, address_space_self).
class AddressSpace : public Handle {
  public:
    using Handle::Handle;
    static int64_t create(AddressSpace& out) { return adopt(sys::aspace_create(), out); }
    static int64_t self(AddressSpace& out) { return adopt(sys::address_space_self(), out); }

    int64_t map(uint64_t va, const Memory& mem, uint64_t offset, uint64_t size, uint64_t prot) const {
        return sys::aspace_map(get(), va, mem.get(), offset, size, prot);
    }
    int64_t unmap(uint64_t va, uint64_t size) const { return sys::aspace_unmap(get(), va, size); }
    int64_t protect(uint64_t va, uint64_t size, uint64_t prot) const {
        return sys::aspace_protect(get(), va, size, prot);
    }
    // One bit per page into bitmap; returns the number of set bits.
    int64_t read_bits(uint64_t va, uint64_t size, uint64_t flags, uint8_t* bitmap) const {
        return sys::aspace_read_bits(get(), va, size, flags, bitmap);
    }
};

// A thread of this domain running fn(arg) on its own stack (thread_create).
//
//   virtue::Thread t;
//   virtue::Thread::create(worker, &job, t);   // created stopped
//   t.start();
//   int64_t status; t.join(VIRTUE_DEADLINE_NONE, &status);  // fn's return value
//
// create() takes the stack from malloc; it is freed when the owner is
// destroyed after a successful join, and kept otherwise (a thread that may
// still run must keep its stack). The thread's %fs block lives at the top of
// its stack. create_in() starts the thread in another address space, where
// fn must be mapped at the same address (see fork_image) and stack_top is
// the top of a stack mapped there (16-byte aligned).
class Thread : public Handle {
  public:
    using Fn = int64_t (*)(void* arg);
    static constexpr size_t kDefaultStack = 16 * 1024;

    Thread() = default;
    Thread(Thread&& o) noexcept : Handle(static_cast<Handle&&>(o)), block_(o.block_), joined_(o.joined_) {
        o.block_ = nullptr;
    }
    ~Thread();

    static int64_t create(Fn fn, void* arg, Thread& out, size_t stack_bytes = kDefaultStack);
    static int64_t create_in(const AddressSpace& as, Fn fn, void* arg, uint64_t stack_top, Thread& out);
    static int64_t self(Thread& out) { return adopt(sys::thread_self(), out); }

    int64_t start() const { return sys::thread_start(get()); }
    int64_t suspend() const { return sys::thread_suspend(get()); }
    int64_t resume() const { return sys::thread_resume(get()); }
    int64_t read_regs(virtue_thread_regs& r) const { return sys::thread_read_regs(get(), &r); }
    int64_t write_regs(const virtue_thread_regs& r) const { return sys::thread_write_regs(get(), &r); }
    int64_t set_priority(uint64_t p) const { return sys::thread_set_priority(get(), p); }
    int64_t set_affinity(uint64_t cpu) const { return sys::thread_set_affinity(get(), cpu); }
    // Waits for the thread's exit (-EAGAIN if the caller was suspended
    // meanwhile: call again); status gets fn's return value.
    int64_t join(uint64_t deadline_ns, int64_t* status = nullptr);

  private:
    void* block_ = nullptr; // stack + %fs block (malloc)
    bool joined_ = false;
};

// A one-shot or periodic timer (timer_create); wait with wait_any.
class Timer : public Handle {
  public:
    using Handle::Handle;
    static int64_t create(Timer& out) { return adopt(sys::timer_create(), out); }
    int64_t set(uint64_t deadline_ns, uint64_t period_ns = 0) const { return sys::timer_set(get(), deadline_ns, period_ns); }
    int64_t cancel() const { return sys::timer_cancel(get()); }
};

// An event-channel port (Xen's event channels, named by a handle). The
// channel closes with its last handle.
//
//   virtue::EventChannel ch;
//   virtue::EventChannel::alloc_unbound(peer_domid, ch);  // tell the peer ch.port()
//   ch.wait(VIRTUE_DEADLINE_NONE);                         // peer connected / sent
//   ch.send();
class EventChannel : public Handle {
  public:
    using Handle::Handle;
    static int64_t alloc_unbound(uint64_t remote_domid, EventChannel& out) {
        return adopt(sys::evtchn_alloc_unbound(remote_domid), out);
    }
    static int64_t bind_interdomain(uint64_t remote_domid, uint64_t remote_port, EventChannel& out) {
        return adopt(sys::evtchn_bind_interdomain(remote_domid, remote_port), out);
    }
    static int64_t bind_ipi(EventChannel& out) { return adopt(sys::evtchn_bind_ipi(), out); }
    int64_t send() const { return sys::evtchn_send(get()); }
    int64_t status(virtue_evtchn_status& st) const { return sys::evtchn_status(get(), &st); }
    // Its port number (what a peer binds to), or a negated errno.
    int64_t port() const {
        virtue_evtchn_status st{};
        int64_t rc = status(st);
        return rc < 0 ? rc : st.port;
    }
    // Waits for an event (or a hang-up): 0, or -ETIMEDOUT / -EAGAIN.
    int64_t wait(uint64_t deadline_ns) const {
        uint64_t h = get();
        int64_t rc = sys::wait_any(&h, 1, deadline_ns);
        return rc > 0 ? 0 : rc;
    }
};

// A mapping of a page another domain granted (grant_map); the page is
// unmapped when the last handle goes. Granting is sys::grant_access /
// sys::grant_end; copying is sys::grant_copy.
class GrantMapping : public Handle {
  public:
    using Handle::Handle;
    static int64_t map(uint64_t remote_domid, uint64_t ref, const AddressSpace& as, uint64_t va, uint64_t flags,
                       GrantMapping& out) {
        return adopt(sys::grant_map(remote_domid, ref, as.get(), va, flags), out);
    }
};

// A synchronous IPC endpoint (endpoint_create / endpoint_connect).
//
//   server: virtue::Endpoint ep; virtue::Endpoint::create(client_domid, ep);
//           virtue_ipc_msg m{}; for (;;) { ep.reply_wait(m, VIRTUE_DEADLINE_NONE); m.word[0]++; }
//   client: virtue::Endpoint ep; virtue::Endpoint::connect(server_domid, number, ep);
//           virtue_ipc_msg m{}; m.word[0] = 41; ep.call(m);  // m.word[0] == 42
class Endpoint : public Handle {
  public:
    using Handle::Handle;
    static int64_t create(uint64_t client_domid, Endpoint& out) { return adopt(sys::endpoint_create(client_domid), out); }
    // Waits until deadline_ns (0: not at all) for the server to make it.
    static int64_t connect(uint64_t server_domid, uint64_t number, Endpoint& out, uint64_t deadline_ns = 0) {
        return adopt(sys::endpoint_connect(server_domid, number, deadline_ns), out);
    }
    int64_t number() const { return sys::endpoint_number(get()); }
    int64_t call(virtue_ipc_msg& m) const { return sys::ipc_call(get(), &m); }
    int64_t wait(virtue_ipc_msg& m, uint64_t deadline_ns) const { return sys::ipc_wait(get(), &m, deadline_ns); }
    static int64_t reply(const virtue_ipc_msg& m) { return sys::ipc_reply(&m); }
    int64_t reply_wait(virtue_ipc_msg& m, uint64_t deadline_ns) const {
        return sys::ipc_reply_wait(get(), &m, deadline_ns);
    }
};

// Blocks until one of the handles is ready (index) or the deadline
// (-ETIMEDOUT).
inline int64_t wait_any(const uint64_t* handles, uint64_t count, uint64_t deadline_ns) {
    return sys::wait_any(handles, count, deadline_ns);
}

// A copy of this program's whole image (code, data, heap, statics) in a new
// memory region, mapped at the same addresses in `as` with the image's own
// protections: a second process that starts as a snapshot of this one and
// then lives apart (like fork). Threads started there with
// Thread::create_in(as, ...) need a stack mapped there too.
// Returns 0 or a negated errno.
int64_t fork_image(const AddressSpace& as, Memory& image_out);

} // namespace virtue
