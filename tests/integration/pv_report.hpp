// The report of the PV test kernel (tests/pv/kernel/checks.hpp), read back
// from a serial console:
//     PASS name | FAIL name: detail | INFO name: text | SUMMARY n checks, m failed
// The same reader serves real Xen (xen_oracle.hpp) and Virtue.
#pragma once

#include <string>
#include <vector>

namespace virtue::test {

struct PvCheck {
    std::string name;
    bool passed = false;
    std::string detail; // FAIL's detail
};

struct PvReport {
    std::vector<PvCheck> checks;          // in the order printed
    std::vector<std::string> info;        // "name: text" of each INFO line
    std::vector<std::string> lines;       // every report line, as printed
    bool has_summary = false;
    unsigned summary_total = 0, summary_failed = 0;

    std::vector<std::string> failed() const;
    std::vector<std::string> passed() const;
};

// The report lines of a serial console. Xen writes dom0's console_io output
// as it is (no prefix); its own lines start with "(XEN)" and are skipped;
// a "(name) " prefix (Virtue's domain prefix, Xen's "(d1) " for a domU) is
// removed first.
PvReport parse_pv_report(const std::string& console);

} // namespace virtue::test
