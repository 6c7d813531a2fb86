// TLB shootdown: after a domain's page-table entry is removed or made
// stricter, no CPU may keep using the old translation.
//
// Each address space records which CPUs have it loaded in CR3 (the
// scheduler sets a CPU's bit before loading it and clears it after loading
// something else; without PCIDs a CR3 load drops every non-global entry, so
// a CPU that switched away holds no stale entries). The editing CPU flushes
// its own TLB, then posts a request in every other such CPU's mailbox, sends
// it an IPI and waits for the acknowledgement. A remote CPU answers with a
// full flush of its non-global entries, which covers every request posted
// before it looked, so concurrent requests coalesce.
//
// No deadlock: a CPU waiting for acknowledgements, or spinning for a lock
// whose holder may be waiting (a domain's mm_lock), serves its own mailbox
// meanwhile (tlb_serve_requests), because it runs with interrupts off.
#pragma once

#include <stdint.h>

#include "lib/atomic.hpp"

namespace virtue::arch {

inline constexpr uint8_t VECTOR_TLB_FLUSH = 0xf1;

// Invalidates [va, va + size) of the address space whose root is `root` on
// every CPU in *active_cpus (a bit per CPU index), the caller's included.
// Returns when all have done so. Interrupts off.
void tlb_shootdown(const Atomic<uint64_t>& active_cpus, uint64_t root, uint64_t va, uint64_t size);

// Answers flush requests posted to the calling CPU (the IPI handler, and
// anything that spins with interrupts off).
void tlb_serve_requests();

// Whether tlb_shootdown reaches the other CPUs (default true). Debugging
// switch, and the negative control of the multi-CPU TLB test: the command
// line's "tlb-shootdown=off" (vm/address_space.cpp) clears it, so local
// flushes still happen and other CPUs keep stale translations.
extern bool g_tlb_shootdown_remote;

// Requests this CPU has answered (for tests and statistics).
uint64_t tlb_requests_served();

} // namespace virtue::arch
