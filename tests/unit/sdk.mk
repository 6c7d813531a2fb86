# The native SDK's formatter (pure code) against the host C library.
HOST_SOURCES += hypercalls/sdk/runtime/format.cpp
# The SDK's own headers (virtue/result.hpp, for sdk_result_test.cpp).
HOST_CXXFLAGS += -Ihypercalls/sdk/include
