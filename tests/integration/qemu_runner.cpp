#include "qemu_runner.hpp"

#include <csignal>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>

namespace virtue::test {
namespace {

namespace fs = std::filesystem;

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

fs::path make_iso(const BootSpec& spec, const fs::path& dir) {
    fs::path iso = dir / "virtue.iso";
    std::string cmd = "sh hypervisor/image/mkiso.sh " + shell_quote(iso) + " " +
                      shell_quote(env_or("VIRTUE_BUILD", "build") + "/virtue.elf") + " " +
                      shell_quote(spec.cmdline);
    for (auto& [file, args] : spec.modules) cmd += " " + shell_quote(file) + " " + shell_quote(args);
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("mkiso failed: " + cmd);
    return iso;
}

} // namespace

std::vector<std::string> BootResult::lines() const {
    std::vector<std::string> out;
    std::istringstream in(console);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        out.push_back(line);
    }
    return out;
}

BootResult boot(const BootSpec& spec) {
    char tmpl[] = "/tmp/virtue-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    fs::path dir(tmpl);
    fs::path iso = spec.iso.empty() ? make_iso(spec, dir) : fs::path(spec.iso);

    std::vector<std::string> args = {
        "qemu-system-x86_64", "-accel", "tcg", "-cpu", "max,-smap", "-smp", std::to_string(spec.smp),
        "-m", std::to_string(spec.mem_mib), "-display", "none", "-serial", "stdio", "-monitor", "none",
        "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-cdrom", iso.string(),
        "-boot", "d"};
    args.insert(args.end(), spec.qemu_args.begin(), spec.qemu_args.end());
    // Console input, if any, comes from a file on QEMU's stdin: QEMU hands it
    // to the UART as fast as the guest takes it.
    fs::path input = dir / "console-input";
    if (!spec.console_input.empty()) {
        FILE* f = std::fopen(input.c_str(), "w");
        if (!f) throw std::runtime_error("cannot write " + input.string());
        std::fputs(spec.console_input.c_str(), f);
        std::fclose(f);
    }
    int out_pipe[2];
    if (pipe(out_pipe) != 0) throw std::runtime_error("pipe failed");
    int in_pipe[2] = {-1, -1}; // console_steps: what we type, on QEMU's stdin
    std::signal(SIGPIPE, SIG_IGN); // (a write to a QEMU that has ended fails instead)
    if (!spec.console_steps.empty() && pipe(in_pipe) != 0) throw std::runtime_error("pipe failed");
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        int in = in_pipe[0] >= 0              ? in_pipe[0]
                 : spec.console_input.empty() ? open("/dev/null", O_RDWR)
                                              : open(input.c_str(), O_RDONLY);
        dup2(in, 0);
        if (in_pipe[1] >= 0) close(in_pipe[1]);
        dup2(out_pipe[1], 1);
        dup2(out_pipe[1], 2);
        close(out_pipe[0]);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        _exit(127);
    }
    close(out_pipe[1]);
    if (in_pipe[0] >= 0) close(in_pipe[0]);
    size_t step = 0, step_from = 0; // the next console step, and where its text is looked for

    BootResult r;
    using clock = std::chrono::steady_clock;
    auto started = clock::now();
    auto seconds_since_start = [&] { return std::chrono::duration<double>(clock::now() - started).count(); };
    auto deadline = clock::now() + std::chrono::seconds(spec.timeout_s);
    bool stop_armed = false;
    clock::time_point stop_at{};
    for (;;) {
        auto now = clock::now();
        if (stop_armed && now >= stop_at) {
            r.stopped = true;
            break;
        }
        if (now >= deadline) {
            r.timed_out = true;
            break;
        }
        auto limit = stop_armed ? std::min(stop_at, deadline) : deadline;
        int wait_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(limit - now).count()) + 1;
        pollfd p{out_pipe[0], POLLIN, 0};
        int n = poll(&p, 1, wait_ms);
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) {
            char buf[4096];
            ssize_t got = read(out_pipe[0], buf, sizeof buf);
            if (got <= 0) break; // QEMU closed its output: it ended
            r.console.append(buf, static_cast<size_t>(got));
            const double at = seconds_since_start();
            for (ssize_t i = 0; i < got; i++)
                if (buf[i] == '\n') r.line_times.push_back(at);
            while (step < spec.console_steps.size()) {
                const auto& s = spec.console_steps[step];
                const size_t found = r.console.find(s.after, step_from);
                if (found == std::string::npos) break;
                (void)!write(in_pipe[1], s.text.data(), s.text.size()); // (QEMU gone: nobody to type to)
                step_from = found + s.after.size();
                step++;
            }
            if (!stop_armed && !spec.stop_after.empty() && r.contains(spec.stop_after)) {
                stop_armed = true;
                r.stop_text_s = seconds_since_start();
                stop_at = clock::now() + std::chrono::milliseconds(static_cast<int>(spec.stop_grace_s * 1000));
            }
        }
    }
    close(out_pipe[0]);
    if (in_pipe[1] >= 0) close(in_pipe[1]);
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
        r.exited = true;
    } else if (r.timed_out || r.stopped) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    } else {
        waitpid(pid, &status, 0);
        r.exited = true;
    }
    if (r.exited && WIFEXITED(status)) r.exit_status = WEXITSTATUS(status);
    r.elapsed_s = seconds_since_start();
    fs::remove_all(dir);
    // Where a failed test's serial console can be read afterwards
    // (tests/run-tests.sh sets it per test case).
    if (const char* keep = std::getenv("VIRTUE_CONSOLE_LOG")) {
        if (FILE* f = std::fopen(keep, "a")) {
            std::fwrite(r.console.data(), 1, r.console.size(), f);
            std::fclose(f);
        }
    }
    return r;
}

} // namespace virtue::test
