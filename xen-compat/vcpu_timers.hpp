// The Xen family's per-vCPU timers (xen-compat/vcpu_op.cpp) at a domain's
// death: stopped when it starts dying, freed with its last reference.
#pragma once

namespace virtue {
struct Domain;
}

namespace virtue::xen {

void vcpu_timers_dying(Domain& d);
void vcpu_timers_free(Domain& d);

} // namespace virtue::xen
