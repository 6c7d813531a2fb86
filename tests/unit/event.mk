# Event channels: the 2-level ABI's bit logic (header only), and the port
# state machine, run on the fakes of tests/unit/fakes/.
HOST_SOURCES += hypervisor/event/evtchn.cpp
