# Native domains used by the integration tests (built with the SDK,
# hypercalls/sdk/README.md).
$(eval $(call native_domain,test-domain,tests/domains/test_domain/main.cpp))
$(eval $(call native_domain,fuzzer,tests/domains/fuzzer/main.cpp))
$(eval $(call native_domain,memory-test,tests/domains/memory_test/main.cpp))
$(eval $(call native_domain,thread-test,tests/domains/thread_test/main.cpp))
$(eval $(call native_domain,evtchn-test,tests/domains/evtchn_test/main.cpp))
