# The native SDK's formatter (pure code) against the host C library.
HOST_SOURCES += hypercalls/sdk/runtime/format.cpp
