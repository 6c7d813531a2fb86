// Boot-time domains: finds the device-tree configuration among the
// multiboot2 modules (the module whose command line starts with the word
// "config"), reads it (domain/boot_config.hpp), reports every rejected
// domain with its node path, and builds and starts the others.
#pragma once

#include "boot/multiboot2.hpp"
#include "domain/boot_config.hpp"

namespace virtue {

// RAM the hypervisor keeps for itself when checking domain sizes against
// free memory (objects, kernel stacks, heap growth).
inline constexpr uint64_t kHypervisorReserveBytes = 8ull << 20;

// Builds and starts one boot domain; false when it was not started (the
// builder has said why on the console, naming the node).
using BootDomainBuilder = bool (*)(const BootDomain& bd, const BootInfo& boot);

// The builder of each kind: native domains are built by the core
// (domain/native_builder.hpp); the boot sequence registers the others'
// (the PV personality's for xen-pv) before start_boot_domains.
void set_boot_domain_builder(BootDomainKind kind, BootDomainBuilder builder);

// Returns the number of domains started. Interrupts must be off (libfdt).
size_t start_boot_domains(const BootInfo& boot);

} // namespace virtue
