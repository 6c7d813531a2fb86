HOST_SOURCES += hypervisor/lib/result.cpp
HOST_SOURCES += hypervisor/lib/format.cpp
HOST_SOURCES += hypervisor/lib/lock_rank.cpp
# Spinlocks' lock-rank checks (debug builds' rules, on for the host tests),
# on the one simulated CPU of tests/unit/fakes/include/arch/.
HOST_SOURCES += hypervisor/lib/spinlock.cpp
