# The reader of the PV test kernel's report (tests/integration/pv_report.cpp).
HOST_SOURCES += tests/integration/pv_report.cpp
