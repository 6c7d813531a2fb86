# The Xen PV personality's pure logic (xen-compat/): the PV kernel reader
# (ELF notes) and the domain builder's layout. Tests include them as
# "xen-compat/...", as the hypervisor's -I. finds them.
HOST_SOURCES += xen-compat/pv_elf_notes.cpp
HOST_SOURCES += xen-compat/pv_layout.cpp
HOST_CXXFLAGS += -I.
