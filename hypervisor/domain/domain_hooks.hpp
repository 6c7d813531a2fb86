// Calls from a domain's life cycle into the layers above the core.
//
// The core does not know the personalities (xen-compat/, ...). Each one that
// keeps state per domain registers its hooks once at boot, before the first
// domain exists, and keeps that state behind the slot it is given
// (Domain::extensions[slot], null until the personality fills it).
#pragma once

#include <stdint.h>

namespace virtue {

struct Domain;

inline constexpr uint32_t kMaxDomainExtensions = 4;

struct DomainHooks {
    // The domain has started dying (from domain_kill, once, after its event
    // channels closed): stop whatever runs on its behalf.
    void (*dying)(Domain& d) = nullptr;
    // Its last reference is gone and its objects are being freed (the
    // partition is still held): free the state behind the slot.
    void (*free)(Domain& d) = nullptr;
};

// Boot only, before the first domain is created. Returns the slot of
// Domain::extensions that belongs to the caller; panics when the table is
// full (a fixed number of personalities is built in).
uint32_t domain_register_hooks(const DomainHooks& hooks);

} // namespace virtue
