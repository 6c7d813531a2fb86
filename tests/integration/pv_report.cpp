#include "pv_report.hpp"

#include <regex>
#include <sstream>

namespace virtue::test {

std::vector<std::string> PvReport::failed() const {
    std::vector<std::string> out;
    for (auto& c : checks)
        if (!c.passed) out.push_back(c.name + ": " + c.detail);
    return out;
}

std::vector<std::string> PvReport::passed() const {
    std::vector<std::string> out;
    for (auto& c : checks)
        if (c.passed) out.push_back(c.name);
    return out;
}

PvReport parse_pv_report(const std::string& console) {
    static const std::regex prefix(R"(^\([^)]*\) )");
    static const std::regex check(R"(^(PASS|FAIL) ([a-z0-9_]+)(: (.*))?$)");
    static const std::regex info(R"(^INFO (.*)$)");
    static const std::regex summary(R"(^SUMMARY (\d+) checks, (\d+) failed$)");
    PvReport r;
    std::istringstream in(console);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.rfind("(XEN)", 0) == 0) continue;
        line = std::regex_replace(line, prefix, "", std::regex_constants::format_first_only);
        std::smatch m;
        if (std::regex_match(line, m, check)) {
            r.checks.push_back({m[2], m[1] == "PASS", m[4]});
        } else if (std::regex_match(line, m, info)) {
            r.info.push_back(m[1]);
        } else if (std::regex_match(line, m, summary)) {
            r.has_summary = true;
            r.summary_total = static_cast<unsigned>(std::stoul(m[1]));
            r.summary_failed = static_cast<unsigned>(std::stoul(m[2]));
        } else {
            continue;
        }
        r.lines.push_back(line);
    }
    return r;
}

} // namespace virtue::test
