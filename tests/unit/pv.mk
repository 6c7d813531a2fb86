# The PV personality's pure logic: page-table writes the PV MMU emulates.
HOST_SOURCES += xen-compat/pv_pt_write.cpp
HOST_SOURCES += xen-compat/pv_console_ring.cpp
HOST_SOURCES += xen-compat/pv_time.cpp
HOST_SOURCES += xen-compat/pv_cpuid.cpp
HOST_SOURCES += xen-compat/pv_msr.cpp
HOST_SOURCES += xen-compat/pv_priv_op.cpp
HOST_SOURCES += xen-compat/pv_bounce.cpp
