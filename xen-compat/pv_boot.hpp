// Boot-time PV domains (device-tree nodes with kind = "xen-pv"): the
// builder registered for that kind (domain/boot_domains.hpp).
#pragma once

#include "boot/multiboot2.hpp"
#include "domain/boot_config.hpp"

namespace virtue::xen {

// Reads the node's kernel (Xen ELF notes) and initrd and plans the
// domain's memory (pv_layout.hpp); every refusal is logged naming the node
// and which check failed. Running PV guests is not there yet, so an
// accepted kernel is reported and the domain is still not started: false.
bool build_pv_boot_domain(const BootDomain& bd, const BootInfo& boot);

} // namespace virtue::xen
