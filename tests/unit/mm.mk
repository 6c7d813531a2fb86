HOST_SOURCES += hypervisor/mm/frame_table.cpp
HOST_SOURCES += hypervisor/mm/buddy_allocator.cpp
HOST_SOURCES += hypervisor/mm/object_cache.cpp
HOST_SOURCES += hypervisor/mm/heap.cpp
