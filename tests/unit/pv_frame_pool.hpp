// A host pool of machine frames for the PV MMU's tests: frame table
// entries and contents for MFNs kBase .. kBase + kFrames - 1, owned by kDom
// except the last four (another domain's); MFNs outside are not RAM. It is
// the Env of pv_page_tables.hpp and pv_mmu_ops.hpp.
#pragma once

#include <cstring>
#include <map>
#include <vector>

#include "xen-compat/pv_page_tables.hpp"

namespace pvtest {

using namespace virtue;

constexpr domid_t kDom = 7, kOther = 8;
constexpr unsigned kFrames = 48;
constexpr uint64_t kBase = 0x100; // MFN of frame 0: MFNs below it are not RAM

// Frames kBase .. kBase+kFrames-1, owned by kDom except the last four.
struct Pool {
    std::vector<FrameInfo> info = std::vector<FrameInfo>(kFrames);
    std::vector<uint64_t> mem = std::vector<uint64_t>(kFrames * 512);
    unsigned stale_flushes = 0;
    Pool() {
        for (unsigned i = 0; i < kFrames; i++) {
            info[i] = FrameInfo{};
            info[i].owner = i < kFrames - 4 ? kDom : kOther;
            info[i].flags = virtue::pv::kFrameGuest; // (its own memory; a test clears it for a frame the hypervisor keeps)
        }
    }
    // Env
    FrameInfo* frame(Mfn m) {
        if (m.raw() < kBase || m.raw() >= kBase + kFrames) return nullptr;
        return &info[m.raw() - kBase];
    }
    uint64_t* table(Mfn m) { return &mem[(m.raw() - kBase) * 512]; }
    domid_t domain() { return kDom; }
    uint64_t hypervisor_l4e(unsigned slot) { return 0xabc000ull | slot << 3 | pte::P; }
    void flush_stale(Mfn) { stale_flushes++; }
    std::map<uint64_t, uint64_t> m2p; // what m2p_set wrote
    void m2p_set(Mfn m, uint64_t pfn) { m2p[m.raw()] = pfn; }
    std::vector<uint64_t> given_back; // what give_back received
    void give_back(Mfn m) { given_back.push_back(m.raw()); }

    // The frame table (Writable at count 0 counts as no type), and the
    // tables' contents up to the bits validation adds (pv_page_tables.hpp:
    // entries are written adjusted).
    std::vector<uint64_t> snapshot() const {
        std::vector<uint64_t> s(info.size() * 4 + mem.size());
        std::vector<FrameInfo> types = info;
        for (FrameInfo& fi : types) { // Writable at count 0 is None that may be cached writable
            if (fi.type == PageType::Writable && fi.type_count == 0) fi.type = PageType::None;
            fi.flags &= static_cast<uint8_t>(~virtue::pv::kFrameWasTable); // (bookkeeping for flushes only)
        }
        std::memcpy(s.data(), types.data(), types.size() * sizeof(FrameInfo));
        for (size_t i = 0; i < mem.size(); i++)
            s[info.size() * 4 + i] = mem[i] & ~(pte::US | pte::G | pte::A | pv::kGuestKernelBit);
        return s;
    }
};

} // namespace pvtest
