HOST_SOURCES += hypervisor/lib/result.cpp
HOST_SOURCES += hypervisor/lib/format.cpp
HOST_SOURCES += hypervisor/lib/lock_rank.cpp
