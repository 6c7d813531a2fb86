# Scheduler share accounting and run queues.
HOST_SOURCES += hypervisor/sched/credit.cpp
