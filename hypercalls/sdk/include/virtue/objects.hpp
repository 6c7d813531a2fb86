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

} // namespace virtue
