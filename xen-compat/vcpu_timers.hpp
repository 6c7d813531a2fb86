// The Xen family's per-vCPU timers (xen-compat/vcpu_op.cpp) at a domain's
// death: stopped when it starts dying, freed with its last reference. The
// core calls them through the domain hooks (domain/domain_hooks.hpp) that
// vcpu_timers_init registers.
#pragma once

#include <stdint.h>

#include "domain/domain.hpp"
#include "lib/result.hpp"

namespace virtue::xen {

// Registers the timers' domain hooks; boot only, before the first domain.
void vcpu_timers_init();

// Starts vCPU `vcpu`'s periodic timer (Xen gives every PV vCPU a 10 ms one
// from the start). Err::NoMemory, Err::NoSuchDomain (dying).
Status vcpu_start_periodic_timer(Domain& d, uint32_t vcpu, uint64_t period_ns);

} // namespace virtue::xen
