// Boot self-tests, chosen with selftest=<name>[,<name>...] on the command
// line; the integration tests use them to exercise paths that need real
// hardware state (exceptions, all CPUs, the timer). Their verdicts go to the
// console unfiltered ("selftest NAME: PASS"), then the hypervisor shuts down
// (with debug-exit=, QEMU exits with a pass/fail status).
#pragma once

namespace virtue {

void run_selftests_and_maybe_shutdown();

} // namespace virtue
