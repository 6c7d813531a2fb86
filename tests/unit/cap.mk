# Capabilities: per-domain handle tables.
HOST_SOURCES += hypervisor/cap/handle_table.cpp
