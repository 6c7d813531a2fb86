// Distinct address and frame types, enforced in every build.
//
// A machine frame number is not a physical address is not a hypervisor
// virtual address; mixing them is a compile error. Conversions are explicit
// and named.
#pragma once

#include <compare>
#include <stdint.h>

namespace virtue {

inline constexpr unsigned PAGE_SHIFT = 12;
inline constexpr uint64_t PAGE_SIZE = uint64_t{1} << PAGE_SHIFT;
inline constexpr uint64_t PAGE_MASK = PAGE_SIZE - 1;

template <typename Tag>
class StrongU64 {
  public:
    constexpr StrongU64() = default;
    constexpr explicit StrongU64(uint64_t v) : v_(v) {}
    constexpr uint64_t raw() const { return v_; }
    friend constexpr bool operator==(StrongU64 a, StrongU64 b) { return a.v_ == b.v_; }
    friend constexpr auto operator<=>(StrongU64 a, StrongU64 b) { return a.v_ <=> b.v_; }

  protected:
    uint64_t v_ = 0;
};

struct MfnTag {};
struct PhysTag {};
struct VirtTag {};

// Machine frame number: index of a 4 KiB frame of host RAM.
class Mfn : public StrongU64<MfnTag> {
  public:
    using StrongU64::StrongU64;
    constexpr Mfn operator+(uint64_t n) const { return Mfn(v_ + n); }
};

// Machine physical address.
class PhysAddr : public StrongU64<PhysTag> {
  public:
    using StrongU64::StrongU64;
    constexpr PhysAddr operator+(uint64_t n) const { return PhysAddr(v_ + n); }
    constexpr Mfn mfn() const { return Mfn(v_ >> PAGE_SHIFT); }
    constexpr uint64_t page_offset() const { return v_ & PAGE_MASK; }
    constexpr bool page_aligned() const { return (v_ & PAGE_MASK) == 0; }
};

constexpr PhysAddr to_phys(Mfn m) { return PhysAddr(m.raw() << PAGE_SHIFT); }

// Hypervisor virtual address (an address in the Xen-reserved range).
class VirtAddr : public StrongU64<VirtTag> {
  public:
    using StrongU64::StrongU64;
    constexpr VirtAddr operator+(uint64_t n) const { return VirtAddr(v_ + n); }
    template <typename T>
    T* as() const { return reinterpret_cast<T*>(v_); }
};

struct PfnTag {};
struct GuestVirtTag {};

// Guest frame number: index of a 4 KiB page in a domain's own
// (pseudo-physical) frame space, PFNs 0 .. nr_pages-1 of a PV guest. Its
// P2M entry names the machine frame (Mfn) behind it.
class Pfn : public StrongU64<PfnTag> {
  public:
    using StrongU64::StrongU64;
    constexpr Pfn operator+(uint64_t n) const { return Pfn(v_ + n); }
};

// Guest virtual address: an address in a domain's own part of an address
// space (never the hypervisor's range).
class GuestVirt : public StrongU64<GuestVirtTag> {
  public:
    using StrongU64::StrongU64;
    constexpr GuestVirt operator+(uint64_t n) const { return GuestVirt(v_ + n); }
};

} // namespace virtue
