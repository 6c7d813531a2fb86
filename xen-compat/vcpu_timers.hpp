// The Xen family's per-vCPU timers (xen-compat/vcpu_op.cpp) at a domain's
// death: stopped when it starts dying, freed with its last reference. The
// core calls them through the domain hooks (domain/domain_hooks.hpp) that
// vcpu_timers_init registers.
#pragma once

namespace virtue::xen {

// Registers the timers' domain hooks; boot only, before the first domain.
void vcpu_timers_init();

} // namespace virtue::xen
