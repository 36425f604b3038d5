/*
 * execd_bench: the pacemaker-execd side of lrm_bench, through Pacemaker's own
 * client library (liblrmd). It starts a standalone pacemaker-execd (as
 * Pacemaker's cts-exec does: the daemon binary, run as root, its own libqb
 * IPC), runs one measurement, prints one JSON line on stdout and stops the
 * daemon by pid.
 *
 *   execd_bench burst AGENT N       N instances x (start, monitor, stop)
 *   execd_bench latency AGENT COUNT  COUNT sequential monitors of one instance
 *
 * AGENT is ocf:PROVIDER:TYPE. Exit status 0 when every operation succeeded.
 */
#include <crm/lrmd.h>
#include <crm/services.h>
#include <glib.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static lrmd_t *conn;
static GMainLoop *loop;
static const char *actions[] = {"start", "monitor", "stop"};
static int phase, outstanding, failures, n_instances, latency_left;
static double *samples;
static int sample_count;
static double submitted_at;
static char state_dir[] = "/tmp/lrm-execd-bench-XXXXXX";

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static double cpu_ms(pid_t pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char *p = strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0;
    /* fields after ')': state(3) ... utime(14) stime(15) */
    if (p) sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime);
    return (utime + stime) * 1000.0 / sysconf(_SC_CLK_TCK);
}

static int exec_op(const char *id, const char *action) {
    char state[256];
    snprintf(state, sizeof state, "%s/%s.state", state_dir, id);
    lrmd_key_value_t *params = lrmd_key_value_add(NULL, "state", state);
    int rc = conn->cmds->exec(conn, id, action, NULL, 0, 20000, 0, lrmd_opt_none, params);
    if (rc < 0) failures++;
    return rc;
}

static void submit_phase(void) {
    char id[32];
    outstanding = n_instances;
    for (int i = 0; i < n_instances; i++) {
        snprintf(id, sizeof id, "e%d", i);
        if (exec_op(id, actions[phase]) < 0) outstanding--;
    }
}

static void on_burst_event(lrmd_event_data_t *event) {
    if (event->type != lrmd_event_exec_complete) return;
    if (event->op_status != 0 || event->rc != 0) failures++;
    if (--outstanding > 0) return;
    if (++phase < 3) submit_phase(); else g_main_loop_quit(loop);
}

static void on_latency_event(lrmd_event_data_t *event) {
    if (event->type != lrmd_event_exec_complete) return;
    if (event->op_status != 0 || event->rc != 0) failures++;
    if (strcmp(event->op_type, "monitor") == 0) samples[sample_count++] = now_ms() - submitted_at;
    if (latency_left-- <= 0) {
        g_main_loop_quit(loop);
        return;
    }
    submitted_at = now_ms();
    exec_op("lat", "monitor");
}

/* Is a pacemaker-execd already running? Then this is a cluster node (or an
 * earlier run was not cleaned up): never touch it. */
static int execd_running(void) {
    GDir *proc = g_dir_open("/proc", 0, NULL);
    const char *entry;
    int found = 0;
    while (proc && !found && (entry = g_dir_read_name(proc))) {
        char path[300], *comm = NULL;
        snprintf(path, sizeof path, "/proc/%s/comm", entry);
        if (g_file_get_contents(path, &comm, NULL, NULL)) {
            found = g_str_has_prefix(comm, "pacemaker-execd");
            g_free(comm);
        }
    }
    if (proc) g_dir_close(proc);
    return found;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: execd_bench burst|latency ocf:PROVIDER:TYPE N\n");
        return 2;
    }
    const char *mode = argv[1];
    char *spec = g_strdup(argv[2]);
    char **parts = g_strsplit(spec, ":", 3);
    if (!parts[0] || !parts[1] || !parts[2]) {
        fprintf(stderr, "execd_bench: agent must be ocf:PROVIDER:TYPE\n");
        return 2;
    }
    int n = atoi(argv[3]);
    if (execd_running()) {
        fprintf(stderr, "execd_bench: a pacemaker-execd is already running; refusing to use it\n");
        return 1;
    }
    if (!mkdtemp(state_dir)) return 1;

    /* A standalone executor, as cts-exec runs it; its log in our scratch dir. */
    char logfile[512];
    snprintf(logfile, sizeof logfile, "%s/execd.log", state_dir);
    char *daemon_argv[] = {"/usr/lib/pacemaker/pacemaker-execd", "-l", logfile, NULL};
    pid_t daemon;
    if (posix_spawn(&daemon, daemon_argv[0], NULL, NULL, daemon_argv, environ) != 0) {
        fprintf(stderr, "execd_bench: cannot start %s\n", daemon_argv[0]);
        return 1;
    }
    conn = lrmd_api_new();
    int connected = -1;
    for (int i = 0; i < 500 && connected != 0; i++) {
        connected = conn->cmds->connect(conn, "lrm-bench", NULL);
        if (connected != 0) g_usleep(10000);
    }
    int status = 1;
    if (connected != 0) {
        fprintf(stderr, "execd_bench: cannot connect to pacemaker-execd\n");
        goto out;
    }
    loop = g_main_loop_new(NULL, FALSE);
    if (strcmp(mode, "burst") == 0) {
        n_instances = n;
        char id[32];
        for (int i = 0; i < n; i++) {
            snprintf(id, sizeof id, "e%d", i);
            conn->cmds->register_rsc(conn, id, parts[0], parts[1], parts[2], lrmd_opt_none);
        }
        conn->cmds->set_callback(conn, on_burst_event);
        double cpu_before = cpu_ms(daemon), start = now_ms();
        submit_phase();
        g_main_loop_run(loop);
        double wall = now_ms() - start, cpu = cpu_ms(daemon) - cpu_before;
        printf("{\"bench\":\"burst\",\"n\":%d,\"wall_ms\":%.3f,\"cpu_ms_per_op\":%.4f,\"failures\":%d}\n", n, wall,
               cpu / (3.0 * n), failures);
    } else {
        conn->cmds->register_rsc(conn, "lat", parts[0], parts[1], parts[2], lrmd_opt_none);
        samples = calloc(n + 1, sizeof *samples);
        latency_left = n;
        conn->cmds->set_callback(conn, on_latency_event);
        submitted_at = now_ms();
        exec_op("lat", "start");
        g_main_loop_run(loop);
        qsort(samples, sample_count, sizeof *samples, compare);
        printf("{\"bench\":\"latency\",\"count\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"failures\":%d}\n", sample_count,
               sample_count ? samples[sample_count / 2] : 0.0,
               sample_count ? samples[(int) (0.99 * (sample_count - 1) + 0.5)] : 0.0, failures);
    }
    status = failures == 0 ? 0 : 1;
out:
    conn->cmds->disconnect(conn);
    lrmd_api_delete(conn);
    kill(daemon, SIGTERM);
    waitpid(daemon, NULL, 0);
    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", state_dir);
    if (system(command) != 0) status = 1;
    g_strfreev(parts);
    g_free(spec);
    return status;
}
