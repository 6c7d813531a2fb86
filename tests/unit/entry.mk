# The hypercall boundary: the one Err -> errno table and the check of each
# call's declared errors.
HOST_SOURCES += hypervisor/entry/call_glue.cpp
