# Scheduler share accounting and run queues.
HOST_SOURCES += hypervisor/sched/credit.cpp
# Wait queues (the protocol of sched/wait.hpp), over the fake scheduler of
# tests/unit/fakes/.
HOST_SOURCES += hypervisor/sched/wait.cpp
