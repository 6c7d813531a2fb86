/* The Linux guest's benchmark for `make bench-vs-xen`: run by the
 * initramfs's /init when the kernel command line says "virtue-bench", the
 * same binary on real Xen and on Virtue. Each figure is printed as
 *     BENCH <name> <value> <unit>
 * (a median of rounds; tests/bench/ reads them back), or
 *     BENCH <name> unavailable: <why>
 * The guest's own clock (CLOCK_MONOTONIC, Xen's pvclock) times them.
 */
#define _GNU_SOURCE
#define __XEN_TOOLS__ 1 /* (xen/sysctl.h: the physinfo the memory figure reads) */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xen/xen.h>
#include <xen/memory.h>
#include <xen/sysctl.h>

/* Linux's Xen device interfaces (include/uapi/xen/privcmd.h, evtchn.h). */
struct privcmd_hypercall {
    uint64_t op;
    uint64_t arg[5];
};
#define IOCTL_PRIVCMD_HYPERCALL _IOC(_IOC_NONE, 'P', 0, sizeof(struct privcmd_hypercall))
struct ioctl_evtchn_bind_interdomain {
    unsigned int remote_domain, remote_port;
};
struct ioctl_evtchn_bind_unbound_port {
    unsigned int remote_domain;
};
struct ioctl_evtchn_notify {
    unsigned int port;
};
#define IOCTL_EVTCHN_BIND_INTERDOMAIN _IOC(_IOC_NONE, 'E', 1, sizeof(struct ioctl_evtchn_bind_interdomain))
#define IOCTL_EVTCHN_BIND_UNBOUND_PORT _IOC(_IOC_NONE, 'E', 2, sizeof(struct ioctl_evtchn_bind_unbound_port))
#define IOCTL_EVTCHN_NOTIFY _IOC(_IOC_NONE, 'E', 4, sizeof(struct ioctl_evtchn_notify))

#define XEN_VERSION_HYPERCALL 17 /* __HYPERVISOR_xen_version */

enum { kRounds = 7 };

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)sched_setaffinity(0, sizeof set, &set);
}

static int by_value(const void* a, const void* b) {
    const double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

/* The median of kRounds runs of fn(n), each in ns per operation. */
static double median(double (*fn)(unsigned), unsigned n) {
    double v[kRounds];
    for (int i = 0; i < kRounds; i++) v[i] = fn(n);
    qsort(v, kRounds, sizeof v[0], by_value);
    return v[kRounds / 2];
}

static double getppid_ns(unsigned n) {
    const uint64_t t0 = now_ns();
    for (unsigned i = 0; i < n; i++) (void)syscall(SYS_getppid);
    return (double)(now_ns() - t0) / n;
}

static double fork_exec_ns(unsigned n) {
    const uint64_t t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        const pid_t pid = fork();
        if (pid == 0) {
            execl("/bin/true", "true", (char*)NULL);
            _exit(127);
        }
        int status;
        (void)waitpid(pid, &status, 0);
    }
    return (double)(now_ns() - t0) / n;
}

static int privcmd = -1;
static double hypercall_ns(unsigned n) {
    struct privcmd_hypercall h = {XEN_VERSION_HYPERCALL, {0, 0, 0, 0, 0}};
    const uint64_t t0 = now_ns();
    for (unsigned i = 0; i < n; i++) (void)ioctl(privcmd, IOCTL_PRIVCMD_HYPERCALL, &h);
    return (double)(now_ns() - t0) / n;
}

/* One side of the event-channel ping-pong: waits for its port to fire,
 * unmasks it, notifies the other side's port. */
static int wait_event(int fd) {
    unsigned int port;
    if (read(fd, &port, sizeof port) != sizeof port) return -1;
    return write(fd, &port, sizeof port) == sizeof port ? 0 : -1;
}
static int notify(int fd, unsigned int port) {
    struct ioctl_evtchn_notify n = {port};
    return ioctl(fd, IOCTL_EVTCHN_NOTIFY, &n);
}

/* Round trips between two processes pinned to the two vCPUs, through
 * /dev/xen/evtchn: ns per round trip, or a negative value on failure. */
static double evtchn_round_trip_ns(unsigned n) {
    const int a = open("/dev/xen/evtchn", O_RDWR);
    if (a < 0) return -1;
    struct ioctl_evtchn_bind_unbound_port unbound = {DOMID_SELF};
    const int port_a = ioctl(a, IOCTL_EVTCHN_BIND_UNBOUND_PORT, &unbound);
    int to_child[2], to_parent[2];
    if (port_a < 0 || pipe(to_child) || pipe(to_parent)) return -1;
    const pid_t pid = fork();
    if (pid == 0) {
        pin(1);
        const int b = open("/dev/xen/evtchn", O_RDWR);
        struct ioctl_evtchn_bind_interdomain bind = {DOMID_SELF, (unsigned)port_a};
        int port_b = b < 0 ? -1 : ioctl(b, IOCTL_EVTCHN_BIND_INTERDOMAIN, &bind);
        if (write(to_parent[1], &port_b, sizeof port_b) != sizeof port_b || port_b < 0) _exit(1);
        for (unsigned i = 0; i < n; i++)
            if (wait_event(b) || notify(b, (unsigned)port_b)) _exit(2);
        _exit(0);
    }
    pin(0);
    int port_b = -1;
    if (read(to_parent[0], &port_b, sizeof port_b) != sizeof port_b || port_b < 0) return -1;
    const uint64_t t0 = now_ns();
    for (unsigned i = 0; i < n; i++)
        if (notify(a, (unsigned)port_a) || wait_event(a)) return -1;
    const uint64_t t = now_ns() - t0;
    int status;
    (void)waitpid(pid, &status, 0);
    close(a);
    close(to_child[0]), close(to_child[1]), close(to_parent[0]), close(to_parent[1]);
    return (double)t / n;
}

static void on_alarm(int sig) { (void)sig; }

static long privcmd_call(uint64_t op, uint64_t a0, uint64_t a1) {
    struct privcmd_hypercall h = {op, {a0, a1, 0, 0, 0}};
    return ioctl(privcmd, IOCTL_PRIVCMD_HYPERCALL, &h);
}

/* The hypervisor's own memory, as a dom0 can see it: all RAM Xen manages,
 * less the free pages and this domain's (the only domain). */
static void print_hypervisor_footprint(void) {
    struct xen_sysctl sysctl;
    memset(&sysctl, 0, sizeof sysctl);
    sysctl.cmd = XEN_SYSCTL_physinfo;
    sysctl.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    domid_t self = DOMID_SELF;
    const long ours = privcmd_call(__HYPERVISOR_memory_op, XENMEM_current_reservation, (uint64_t)(uintptr_t)&self);
    if (privcmd_call(__HYPERVISOR_sysctl, (uint64_t)(uintptr_t)&sysctl, 0) != 0 || ours <= 0) {
        printf("BENCH hypervisor_footprint unavailable: physinfo refused\n");
        return;
    }
    const uint64_t pages = sysctl.u.physinfo.total_pages - sysctl.u.physinfo.free_pages - (uint64_t)ours;
    printf("BENCH-MEM hypervisor_footprint %lu KiB\n", (unsigned long)(pages * 4));
}

int main(void) {
    pin(0);
    printf("BENCH getppid %.0f ns\n", median(getppid_ns, 100000));
    printf("BENCH fork_exec_wait %.0f ns\n", median(fork_exec_ns, 100));
    /* A domU's privcmd_open (Linux 6.1) waits for xenstore to name the
     * domain it may act on; without xenstore it never returns: given 5 s. */
    struct sigaction alarm_action;
    memset(&alarm_action, 0, sizeof alarm_action);
    alarm_action.sa_handler = on_alarm; /* (no SA_RESTART: the open fails with EINTR) */
    sigaction(SIGALRM, &alarm_action, NULL);
    alarm(5);
    privcmd = open("/dev/xen/privcmd", O_RDWR);
    const int open_errno = errno;
    alarm(0);
    if (privcmd >= 0) {
        printf("BENCH privcmd_null_hypercall %.0f ns\n", median(hypercall_ns, 50000));
        print_hypervisor_footprint();
    }
    else if (open_errno == EINTR)
        printf("BENCH privcmd_null_hypercall unavailable: opening /dev/xen/privcmd waits for xenstore\n");
    else printf("BENCH privcmd_null_hypercall unavailable: /dev/xen/privcmd: %s\n", strerror(open_errno));
    const double rt = median(evtchn_round_trip_ns, 5000);
    if (rt > 0) printf("BENCH evtchn_round_trip %.0f ns\n", rt);
    else printf("BENCH evtchn_round_trip unavailable: /dev/xen/evtchn ping-pong failed\n");
    printf("BENCH done\n");
    return 0;
}
