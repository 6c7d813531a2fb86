# Synchronous IPC: endpoints and calls, run on the fakes of tests/unit/fakes/.
HOST_SOURCES += hypervisor/ipc/endpoint.cpp
