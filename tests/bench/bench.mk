# Benchmark domains (`make bench`), built with the native SDK.
$(eval $(call native_domain,bench,tests/bench/domains/bench/main.cpp))
