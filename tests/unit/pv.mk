# The Xen PV personality's pure logic (xen-compat/), host-tested: the PV
# kernel reader (ELF notes), the domain builder's layout, page-table writes
# the PV MMU emulates, the console ring, pvclock, CPUID, MSRs, privileged
# instructions, bounce frames. Tests include them as "xen-compat/...".
HOST_SOURCES += xen-compat/pv_elf_notes.cpp
HOST_SOURCES += xen-compat/pv_layout.cpp
HOST_SOURCES += xen-compat/pv_image.cpp
HOST_SOURCES += xen-compat/pv_pt_write.cpp
HOST_SOURCES += xen-compat/pv_console_ring.cpp
HOST_SOURCES += xen-compat/pv_time.cpp
HOST_SOURCES += xen-compat/pv_cpuid.cpp
HOST_SOURCES += xen-compat/pv_msr.cpp
HOST_SOURCES += xen-compat/pv_priv_op.cpp
