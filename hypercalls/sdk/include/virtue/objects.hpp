// Owner types for native handles: RAII, move-only, close on destruction.
//
//   virtue::Memory mem;
//   if (auto r = virtue::Memory::create(16, mem); !r) virtue::panic("memory: %s", r.error_name());
//   virtue::AddressSpace as;
//   VIRTUE_TRY(virtue::AddressSpace::self(as));      // in a function returning a Result
//   as.map(0x100000000, mem, 0, 16 * 4096, virtue::Prot::read | virtue::Prot::write);
//
// Every call returns a virtue::Result (<virtue/result.hpp>): Result<void>
// where the call's value means only success, Result<T> where it is a value
// (a count, a port, a number); a failure carries the virtue::Errno
// (docs/native-abi.md lists which each call returns, and why). A failed
// create leaves the out object as it was. Owning objects come back through
// an out parameter rather than in the Result, which holds plain values only.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <virtue/native_calls.hpp>
#include <virtue/result.hpp>

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
    // Closes the current handle (if any) and owns h instead. Closing an
    // owned handle cannot fail, so its result is not reported.
    void reset(uint64_t h = 0) {
        if (h_) (void)raw::handle_close(h_);
        h_ = h;
    }
    // A second handle to the same object with `rights` (a subset).
    Result<void> duplicate(Rights rights, Handle& out) const { return adopt(sys::handle_duplicate(h_, rights), out); }
    Result<void> query(virtue_handle_info& info) const { return sys::handle_query(h_, &info); }

  protected:
    // Stores a new handle from a call's result.
    static Result<void> adopt(Result<uint64_t> r, Handle& out) {
        if (r) out.reset(*r);
        return r;
    }

  private:
    uint64_t h_ = 0;
};

class Thread;

// Frames of the domain's partition (memory_create).
class Memory : public Handle {
  public:
    using Handle::Handle;
    static Result<void> create(uint64_t pages, Memory& out) { return adopt(sys::memory_create(pages, 0), out); }
    // The machine frame number of one page (for the Xen family's grant entries).
    Result<uint64_t> frame(uint64_t page) const { return sys::memory_frame(get(), page); }
    // Grants one page to remote_domid; the value is the grant reference
    // (sys::grant_end ends it).
    Result<uint64_t> grant_access(uint64_t page, uint64_t remote_domid, GrantFlags flags = {}) const {
        return sys::grant_access(get(), page, remote_domid, flags);
    }
};

// An address space (aspace_create, aspace_self).
class AddressSpace : public Handle {
  public:
    using Handle::Handle;
    static Result<void> create(AddressSpace& out) { return adopt(sys::aspace_create(), out); }
    static Result<void> self(AddressSpace& out) { return adopt(sys::aspace_self(), out); }

    Result<void> map(uint64_t va, const Memory& mem, uint64_t offset, uint64_t size, Prot prot) const {
        return sys::aspace_map(get(), va, mem.get(), offset, size, prot);
    }
    Result<void> unmap(uint64_t va, uint64_t size) const { return sys::aspace_unmap(get(), va, size); }
    Result<void> protect(uint64_t va, uint64_t size, Prot prot) const {
        return sys::aspace_protect(get(), va, size, prot);
    }
    // One bit per page into bitmap; the value is the number of set bits.
    Result<uint64_t> read_bits(uint64_t va, uint64_t size, BitsFlags flags, uint8_t* bitmap) const {
        return sys::aspace_read_bits(get(), va, size, flags, bitmap);
    }
    // Faults of threads running here go to `handler` (see Fault); it needs
    // RIGHT_WRITE. A handler set on a thread wins over this one.
    inline Result<void> set_fault_handler(const Thread& handler) const;
    Result<void> clear_fault_handler() const { return sys::fault_handler_set(get(), 0); }
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
    // Owns a thread handle made elsewhere (thread_self, fault_wait, IPC).
    explicit Thread(uint64_t h) : Handle(h) {}
    Thread(Thread&& o) noexcept : Handle(static_cast<Handle&&>(o)), block_(o.block_), joined_(o.joined_) {
        o.block_ = nullptr;
    }
    ~Thread();

    static Result<void> create(Fn fn, void* arg, Thread& out, size_t stack_bytes = kDefaultStack);
    static Result<void> create_in(const AddressSpace& as, Fn fn, void* arg, uint64_t stack_top, Thread& out);
    static Result<void> self(Thread& out) { return adopt(sys::thread_self(), out); }

    Result<void> start() const { return sys::thread_start(get()); }
    Result<void> suspend() const { return sys::thread_suspend(get()); }
    Result<void> resume() const { return sys::thread_resume(get()); }
    // Ends the thread with `status` (what join reports).
    Result<void> kill(int64_t status) const { return sys::thread_kill(get(), status); }
    Result<void> read_regs(virtue_thread_regs& r) const { return sys::thread_read_regs(get(), &r); }
    Result<void> write_regs(const virtue_thread_regs& r) const { return sys::thread_write_regs(get(), &r); }
    Result<void> set_priority(uint64_t p) const { return sys::thread_set_priority(get(), p); }
    Result<void> set_affinity(uint64_t cpu) const { return sys::thread_set_affinity(get(), cpu); }
    // Waits for the thread's exit (Errno::eagain if the caller was suspended
    // meanwhile: call again); status gets fn's return value.
    Result<void> join(uint64_t deadline_ns, int64_t* status = nullptr);
    // This thread's faults go to `handler` (see Fault), whatever its
    // address space's handler is.
    Result<void> set_fault_handler(const Thread& handler) const { return sys::fault_handler_set(get(), handler.get()); }
    Result<void> clear_fault_handler() const { return sys::fault_handler_set(get(), 0); }

  private:
    void* block_ = nullptr; // stack + %fs block (malloc)
    bool joined_ = false;
};

inline Result<void> AddressSpace::set_fault_handler(const Thread& handler) const {
    return sys::fault_handler_set(get(), handler.get());
}

// A fault of a thread whose faults go to the calling thread
// (AddressSpace/Thread::set_fault_handler, fault_wait). The faulting thread
// stays stopped until the handler lets it go on (thread.resume(): the
// faulting instruction runs again) or ends it (thread.kill(status)); its
// registers can be read and written meanwhile. `thread` owns the handle the
// fault brought, which closes with the Fault (after resume or kill).
//
//   virtue::Fault f;
//   if (virtue::Fault::wait(deadline, f)) { fix(f.address); f.thread.resume(); }
struct Fault {
    Thread thread;
    uint64_t thread_id = 0;  // as in virtue_domain_info
    uint64_t vector = 0;     // x86 exception vector: 14 page fault, 13 general protection, ...
    uint64_t error_code = 0; // the exception's error code (page fault: bit 1 write), 0 if none
    uint64_t address = 0;    // page fault: the address accessed (CR2); else 0
    uint64_t rip = 0;        // the faulting instruction

    static constexpr uint64_t kPageFault = 14;
    static constexpr uint64_t kPageFaultWrite = 0x2; // error_code bit of a write access

    // Waits until deadline_ns (VIRTUE_DEADLINE_NONE: for ever) for the next
    // fault queued for the calling thread; out's previous thread handle is
    // closed when a new fault arrives.
    static Result<void> wait(uint64_t deadline_ns, Fault& out) {
        virtue_fault_info fi{};
        Result<uint64_t> r = sys::fault_wait(deadline_ns, &fi);
        if (!r) return r;
        out.thread.reset(fi.thread);
        out.thread_id = fi.thread_id;
        out.vector = fi.vector;
        out.error_code = fi.error_code;
        out.address = fi.address;
        out.rip = fi.rip;
        return {};
    }
};

// A one-shot or periodic timer (timer_create); wait with wait_any.
class Timer : public Handle {
  public:
    using Handle::Handle;
    static Result<void> create(Timer& out) { return adopt(sys::timer_create(), out); }
    Result<void> set(uint64_t deadline_ns, uint64_t period_ns = 0) const {
        return sys::timer_set(get(), deadline_ns, period_ns);
    }
    Result<void> cancel() const { return sys::timer_cancel(get()); }
};

// An event-channel port (Xen's event channels, named by a handle). The
// channel closes with its last handle.
//
//   virtue::EventChannel ch;
//   virtue::EventChannel::alloc_unbound(peer_domid, ch);  // tell the peer *ch.port()
//   ch.wait(VIRTUE_DEADLINE_NONE);                         // peer connected / sent
//   ch.send();
class EventChannel : public Handle {
  public:
    using Handle::Handle;
    static Result<void> alloc_unbound(uint64_t remote_domid, EventChannel& out) {
        return adopt(sys::evtchn_alloc_unbound(remote_domid), out);
    }
    static Result<void> bind_interdomain(uint64_t remote_domid, uint64_t remote_port, EventChannel& out) {
        return adopt(sys::evtchn_bind_interdomain(remote_domid, remote_port), out);
    }
    static Result<void> bind_ipi(EventChannel& out) { return adopt(sys::evtchn_bind_ipi(), out); }
    Result<void> send() const { return sys::evtchn_send(get()); }
    Result<void> status(virtue_evtchn_status& st) const { return sys::evtchn_status(get(), &st); }
    // Its port number (what a peer binds to).
    Result<uint32_t> port() const {
        virtue_evtchn_status st{};
        if (Result<void> r = status(st); !r) return r.error();
        return st.port;
    }
    // Waits for an event (or a hang-up); fails with Errno::etimedout or
    // Errno::eagain.
    Result<void> wait(uint64_t deadline_ns) const {
        uint64_t h = get();
        return sys::wait_any(&h, 1, deadline_ns);
    }
};

// A mapping of a page another domain granted (grant_map); the page is
// unmapped when the last handle goes. Granting is Memory::grant_access /
// sys::grant_end; copying is sys::grant_copy.
class GrantMapping : public Handle {
  public:
    using Handle::Handle;
    static Result<void> map(uint64_t remote_domid, uint64_t ref, const AddressSpace& as, uint64_t va,
                            GrantFlags flags, GrantMapping& out) {
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
    static Result<void> create(uint64_t client_domid, Endpoint& out) {
        return adopt(sys::endpoint_create(client_domid), out);
    }
    // Waits until deadline_ns (0: not at all) for the server to make it.
    static Result<void> connect(uint64_t server_domid, uint64_t number, Endpoint& out, uint64_t deadline_ns = 0) {
        return adopt(sys::endpoint_connect(server_domid, number, deadline_ns), out);
    }
    // The number a client connects with (1 and up).
    Result<uint64_t> number() const { return sys::endpoint_number(get()); }
    // A call (and a reply) that sends no handle goes in registers (below):
    // the same result, and the hypervisor's fast path touches no memory.
    Result<void> call(virtue_ipc_msg& m) const {
        return m.handle ? sys::ipc_call(get(), &m) : call_in_registers(m);
    }
    Result<void> wait(virtue_ipc_msg& m, uint64_t deadline_ns) const { return sys::ipc_wait(get(), &m, deadline_ns); }
    static Result<void> reply(const virtue_ipc_msg& m) { return sys::ipc_reply(&m); }
    Result<void> reply_wait(virtue_ipc_msg& m, uint64_t deadline_ns) const {
        return m.handle ? sys::ipc_reply_wait(get(), &m, deadline_ns) : reply_wait_in_registers(m, deadline_ns);
    }
    // The same two with the message in registers (msg 0, native.toml:
    // ipc_call): no handle can be sent, and the hypervisor touches no
    // memory of the caller's for the message. m.handle is only an output.
    Result<void> call_in_registers(virtue_ipc_msg& m) const {
        return Result<void>::from_raw(in_registers(VIRTUE_NR_ipc_call, get(), 0, m));
    }
    Result<void> reply_wait_in_registers(virtue_ipc_msg& m, uint64_t deadline_ns) const {
        return Result<void>::from_raw(in_registers(VIRTUE_NR_ipc_reply_wait, get(), deadline_ns, m));
    }

  private:
    // word[0..3] in r10, r8, r9, r15 both ways; out, the handle in rdi and
    // sender_domid | flags << 32 in rsi. m changes only on success.
    static int64_t in_registers(uint64_t nr, uint64_t endpoint, uint64_t deadline_ns, virtue_ipc_msg& m) {
        register uint64_t w0 asm("r10") = m.word[0];
        register uint64_t w1 asm("r8") = m.word[1];
        register uint64_t w2 asm("r9") = m.word[2];
        register uint64_t w3 asm("r15") = m.word[3];
        uint64_t rdi = endpoint, rsi = 0, rdx = deadline_ns;
        int64_t rc = static_cast<int64_t>(nr);
        asm volatile("syscall"
                     : "+a"(rc), "+D"(rdi), "+S"(rsi), "+d"(rdx), "+r"(w0), "+r"(w1), "+r"(w2), "+r"(w3)
                     :
                     : "rcx", "r11", "memory");
        if (rc == 0) {
            m.word[0] = w0;
            m.word[1] = w1;
            m.word[2] = w2;
            m.word[3] = w3;
            m.handle = rdi;
            m.sender_domid = static_cast<uint32_t>(rsi);
            m.flags = static_cast<uint32_t>(rsi >> 32);
        }
        return rc;
    }
};

// Blocks until one of the handles is ready (the value is its index) or the
// deadline (Errno::etimedout).
inline Result<uint64_t> wait_any(const uint64_t* handles, uint64_t count, uint64_t deadline_ns) {
    return sys::wait_any(handles, count, deadline_ns);
}

// A copy of this program's whole image (code, data, heap, statics) in a new
// memory region, mapped at the same addresses in `as` with the image's own
// protections: a second process that starts as a snapshot of this one and
// then lives apart (like fork). Threads started there with
// Thread::create_in(as, ...) need a stack mapped there too.
Result<void> fork_image(const AddressSpace& as, Memory& image_out);

} // namespace virtue
