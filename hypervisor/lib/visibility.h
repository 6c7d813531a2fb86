/*
 * Force-included into every hypervisor translation unit (-include).
 * Marks every declaration hidden, not just definitions (-fvisibility=hidden
 * covers only those), so position-independent code reaches symbols
 * RIP-relative instead of through GOT entries that cannot be resolved for an
 * image linked above 2 GiB.
 */
#pragma GCC visibility push(hidden)
