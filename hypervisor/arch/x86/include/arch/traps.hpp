// Interrupts and exceptions: the x86 entry stubs (arch/x86/cpu/entry.S) save
// the registers in an InterruptFrame and call handle_interrupt, which the
// layer above defines (entry/interrupts.cpp): what an interrupt means is
// the hypervisor's policy, not the architecture's.
#pragma once

#include <stdint.h>

#include "arch/descriptors.hpp"

extern "C" void handle_interrupt(virtue::arch::InterruptFrame* frame);

namespace virtue::arch {

// "#PF page fault" for vectors 0-31, "interrupt" for the others.
const char* exception_name(uint64_t vector);

} // namespace virtue::arch
