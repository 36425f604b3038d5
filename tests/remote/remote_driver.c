/*
 * remote_driver: drives a Pacemaker Remote daemon (pacemaker-remoted or
 * lrm-remoted) through Pacemaker's own client library, liblrmd, the way the
 * cluster's controller does, and prints what comes back as normalized lines
 * that can be diffed between the two daemons (tests/remote/side_by_side.sh).
 *
 *   remote_driver HOST PORT WORK_DIR SCENARIO
 *   remote_driver HOST PORT WORK_DIR bench N PROVIDER:TYPE PID...
 *
 * bench: N instances x (start, monitor, stop), each phase submitted at once;
 * one JSON line with the wall time, ops/s and the CPU (utime + stime) each
 * PID (the daemon's processes) spent meanwhile.
 *
 * The key is read by liblrmd from PCMK_authkey_location. WORK_DIR holds the
 * agents' state files; it is printed as $WORK so that two runs compare equal.
 * Every reply is one "reply" line, every event one "event" line with the
 * same fields in the same order; times are printed as present or zero (the
 * queue time, which is timing, not at all), call ids as present or zero, or
 * for an exec result as "reply" when it is the id the reply to that exec
 * (same resource, action and interval) gave. Each scenario runs in its own
 * process because liblrmd caches the key for a minute.
 * Exit status: 0 when the scenario ran to its end (whatever the daemon
 * answered: the diff judges that), 1 when a wait ran out, 2 on bad usage.
 */
#define _GNU_SOURCE  // SOCK_CLOEXEC, getaddrinfo
#include <crm/common/results.h>
#include <crm/lrmd.h>
#include <errno.h>
#include <glib.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kWaitLimitMs = 10000, kPollMs = 20, kGarbageCloseLimitMs = 2000 };

static const char *host;
static int port;
static const char *work_dir;
static lrmd_t *conn;
static int events_seen;
static GHashTable *exec_call_ids;  // "rsc action interval" -> the call id its exec reply gave
static bool wait_failed;
static bool quiet;        // bench mode: count events, print nothing
static int *new_clients;  // when set, new_client events are counted here, not printed

// The event type a wait is for (waitType), and whether it came.
struct TypeSeen {
    enum lrmd_callback_event type;
    bool seen;
};
static struct TypeSeen *type_wanted;

// Bench bookkeeping.
static int outstanding, failures;

static double nowMs(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

// One field value on one line: newlines and tabs escaped, the work directory
// replaced by $WORK, absent values printed as "-".
static void printValue(const char *value) {
    if (value == NULL) {
        fputs("-", stdout);
        return;
    }
    size_t work_len = strlen(work_dir);
    for (const char *p = value; *p != '\0'; ++p) {
        if (work_len > 0 && strncmp(p, work_dir, work_len) == 0) {
            fputs("$WORK", stdout);
            p += work_len - 1;
        } else if (*p == '\n') {
            fputs("\\n", stdout);
        } else if (*p == '\t') {
            fputs("\\t", stdout);
        } else {
            putchar(*p);
        }
    }
}

static void printField(const char *name, const char *value) {
    printf(" %s=", name);
    printValue(value);
}

static const char *presence(unsigned long long value) {
    return value != 0 ? "present" : "zero";
}

static gint compareStrings(gconstpointer a, gconstpointer b) {
    return strcmp(a, b);
}

// The echoed parameters, sorted by name: key=value,key=value.
static void printParams(GHashTable *params) {
    fputs(" params=", stdout);
    if (params == NULL) {
        fputs("-", stdout);
        return;
    }
    GList *keys = g_list_sort(g_hash_table_get_keys(params), compareStrings);
    for (GList *k = keys; k != NULL; k = k->next) {
        printf("%s%s=", k == keys ? "" : ",", (const char *) k->data);
        printValue(g_hash_table_lookup(params, k->data));
    }
    g_list_free(keys);
}

static char *execKey(const char *rsc, const char *action, guint interval_ms) {
    return g_strdup_printf("%s %s %u", rsc ? rsc : "-", action ? action : "-", interval_ms);
}

static int execCallId(const char *rsc, const char *action, guint interval_ms) {
    char *key = execKey(rsc, action, interval_ms);
    int call_id = GPOINTER_TO_INT(g_hash_table_lookup(exec_call_ids, key));
    g_free(key);
    return call_id;
}

static void printEvent(const lrmd_event_data_t *event) {
    printf("event type=%s", lrmd_event_type2str(event->type));
    printField("rsc", event->rsc_id);
    printField("op", event->op_type);
    printf(" interval=%u timeout=%d start_delay=%d rc=%d op_status=%d", event->interval_ms, event->timeout,
           event->start_delay, (int) event->rc, event->op_status);
    if (event->type == lrmd_event_exec_complete && event->call_id > 0 &&
        event->call_id == execCallId(event->rsc_id, event->op_type, event->interval_ms)) {
        fputs(" call_id=reply", stdout);
    } else {
        printf(" call_id=%s", event->call_id > 0 ? "present" : (event->call_id == 0 ? "zero" : "negative"));
    }
    printf(" rsc_deleted=%d", event->rsc_deleted);
    printField("userdata", event->user_data);
    printParams(event->params);
    printField("exit_reason", event->exit_reason);
    printField("output", event->output);
    // No queue time: it is the few milliseconds a busy machine makes an op
    // wait, zero or not by chance with either daemon.
    printf(" t_run=%s t_rcchange=%s exec_time=%s connection_rc=%d\n", presence(event->t_run),
           presence(event->t_rcchange), presence(event->exec_time), event->connection_rc);
    fflush(stdout);
}

static void onEvent(lrmd_event_data_t *event) {
    ++events_seen;
    if (type_wanted != NULL && event->type == type_wanted->type) type_wanted->seen = true;
    if (new_clients != NULL && event->type == lrmd_event_new_client) {
        ++*new_clients;
        return;
    }
    if (quiet) {
        if (event->type == lrmd_event_exec_complete) {
            if (event->rc != 0 || event->op_status != 0) ++failures;
            --outstanding;
        }
        return;
    }
    printEvent(event);
}

static gboolean onTick(gpointer unused) {
    (void) unused;
    return G_SOURCE_CONTINUE;
}

// Runs the main loop until `done` holds or `limit_ms` passes; the tick wakes
// the loop so that conditions on files are polled too.
static bool runUntil(bool (*done)(void *), void *arg, int limit_ms) {
    guint tick = g_timeout_add(kPollMs, onTick, NULL);
    double deadline = nowMs() + limit_ms;
    bool ok;
    while (!(ok = done(arg)) && nowMs() < deadline) g_main_context_iteration(NULL, TRUE);
    g_source_remove(tick);
    return ok;
}

static bool eventsReached(void *target) {
    return events_seen >= *(int *) target;
}

// Waits for `count` more events; says so on stdout when they do not come.
static void waitEvents(int count) {
    int target = events_seen + count;
    if (!runUntil(eventsReached, &target, kWaitLimitMs)) {
        printf("wait: %d event(s) missing after %d ms\n", target - events_seen, kWaitLimitMs);
        wait_failed = true;
    }
}

static bool typeSeen(void *arg) {
    struct TypeSeen *wanted = arg;
    return wanted->seen;
}

// Waits for the next event of `type`, printing any that come before it (a
// daemon may send others first: that shows in the diff, not as a failed wait).
static void waitType(enum lrmd_callback_event type) {
    struct TypeSeen wanted = {type, false};
    type_wanted = &wanted;
    if (!runUntil(typeSeen, &wanted, kWaitLimitMs)) {
        printf("wait: no %s event after %d ms\n", lrmd_event_type2str(type), kWaitLimitMs);
        wait_failed = true;
    }
    type_wanted = NULL;
}

static void reply(const char *what, int rc) {
    printf("reply %s rc=%d\n", what, rc);
    fflush(stdout);
}

static char *workPath(const char *name) {
    return g_strdup_printf("%s/%s", work_dir, name);
}

static int connectAs(lrmd_t **out, const char *name) {
    *out = lrmd_remote_api_new(NULL, host, port);
    (*out)->cmds->set_callback(*out, onEvent);
    return (*out)->cmds->connect(*out, name, NULL);
}

static void disconnect(lrmd_t **which) {
    if (*which == NULL) return;
    (*which)->cmds->disconnect(*which);
    lrmd_api_delete(*which);
    *which = NULL;
}

static int registerRsc(const char *rsc, const char *provider, const char *type) {
    int rc = conn->cmds->register_rsc(conn, rsc, "ocf", provider, type, lrmd_opt_drop_recurring);
    char *what = g_strdup_printf("register %s ocf:%s:%s", rsc, provider, type);
    reply(what, rc);
    g_free(what);
    return rc;
}

// Registers and waits for the register notify.
static void registerAndWait(const char *rsc, const char *provider, const char *type) {
    if (registerRsc(rsc, provider, type) == pcmk_ok) waitEvents(1);
}

// The parameters the controller sends with every exec, plus the agent's own.
static lrmd_key_value_t *controllerParams(int timeout_ms, lrmd_key_value_t *params) {
    char *timeout = g_strdup_printf("%d", timeout_ms);
    params = lrmd_key_value_add(params, "CRM_meta_timeout", timeout);
    params = lrmd_key_value_add(params, "crm_feature_set", "3.16.2");
    g_free(timeout);
    return params;
}

static lrmd_key_value_t *stateParam(const char *rsc) {
    char *name = g_strdup_printf("%s.state", rsc);
    char *state = workPath(name);
    lrmd_key_value_t *params = lrmd_key_value_add(NULL, "state", state);
    g_free(state);
    g_free(name);
    return params;
}

// Submits an exec and prints its reply: the call id as "call_id" when > 0.
static int exec(const char *rsc, const char *action, guint interval_ms, int timeout_ms,
                enum lrmd_call_options options, lrmd_key_value_t *params) {
    char *userdata = g_strdup_printf("%s:%s:%u", rsc, action, interval_ms);
    int rc = conn->cmds->exec(conn, rsc, action, userdata, interval_ms, timeout_ms, 0, options,
                              controllerParams(timeout_ms, params));
    g_free(userdata);
    if (rc > 0) g_hash_table_insert(exec_call_ids, execKey(rsc, action, interval_ms), GINT_TO_POINTER(rc));
    printf("reply exec %s %s %u rc=%s", rsc, action, interval_ms, rc > 0 ? "call_id" : "");
    if (rc <= 0) printf("%d", rc);
    putchar('\n');
    fflush(stdout);
    return rc;
}

// Submits an exec and waits for its one result.
static void execAndWait(const char *rsc, const char *action, guint interval_ms, int timeout_ms,
                        lrmd_key_value_t *params) {
    if (exec(rsc, action, interval_ms, timeout_ms, lrmd_opt_none, params) > 0) waitEvents(1);
}

static void cancel(const char *rsc, const char *action, guint interval_ms, int expected_events) {
    int rc = conn->cmds->cancel(conn, rsc, action, interval_ms);
    printf("reply cancel %s %s %u rc=%d\n", rsc, action, interval_ms, rc);
    fflush(stdout);
    if (rc == pcmk_ok) waitEvents(expected_events);
}

// Unregisters; rc 0 and -EINPROGRESS come with an unregister notify.
static int unregisterRsc(const char *rsc) {
    int rc = conn->cmds->unregister_rsc(conn, rsc, lrmd_opt_none);
    char *what = g_strdup_printf("unregister %s", rsc);
    reply(what, rc);
    g_free(what);
    return rc;
}

static void unregisterAndWait(const char *rsc) {
    int rc = unregisterRsc(rsc);
    if (rc == pcmk_ok || rc == -EINPROGRESS) waitEvents(1);
}

static void info(const char *rsc) {
    lrmd_rsc_info_t *found = conn->cmds->get_rsc_info(conn, rsc, lrmd_opt_none);
    printf("reply info %s", rsc);
    if (found == NULL) {
        fputs(" absent\n", stdout);
        return;
    }
    printField("id", found->id);
    printField("class", found->standard);
    printField("provider", found->provider);
    printField("type", found->type);
    putchar('\n');
    lrmd_free_rsc_info(found);
}

static void getRecurring(const char *rsc) {
    GList *ops = NULL;
    int rc = conn->cmds->get_recurring_ops(conn, rsc, 0, lrmd_opt_none, &ops);
    printf("reply get_recurring %s rc=%d count=%u\n", rsc ? rsc : "(all)", rc, g_list_length(ops));
    for (GList *op = ops; op != NULL; op = op->next) {
        const lrmd_op_info_t *one = op->data;
        fputs("  op", stdout);
        printField("rsc", one->rsc_id);
        printField("action", one->action);
        printField("interval", one->interval_ms_s);
        printField("timeout", one->timeout_ms_s);
        putchar('\n');
    }
    g_list_free_full(ops, (GDestroyNotify) lrmd_free_op_info);
}

// ---- Scenarios -------------------------------------------------------------

static void scenarioRegister(void) {
    registerAndWait("reg", "heartbeat", "Dummy");
    info("reg");
    // The same agent again (ignored by the executor, still notified), then
    // another agent under the same id (replaces it).
    registerAndWait("reg", "heartbeat", "Dummy");
    registerAndWait("reg", "pacemaker", "Dummy");
    info("reg");
    // Rejected by liblrmd itself before anything is sent: no provider.
    reply("register reg-noprovider ocf::Dummy",
          conn->cmds->register_rsc(conn, "reg-noprovider", "ocf", NULL, "Dummy", lrmd_opt_none));
    int rc = conn->cmds->poke_connection(conn);
    reply("poke", rc);
    if (rc == pcmk_ok) waitEvents(1);
    unregisterAndWait("reg");
    // Unregistering an unknown id succeeds.
    unregisterAndWait("reg-unknown");
}

static void scenarioInfo(void) {
    registerAndWait("inf", "heartbeat", "Dummy");
    info("inf");
    info("inf-unknown");
    unregisterAndWait("inf");
    info("inf");
}

static void scenarioProbe(void) {
    registerAndWait("prb", "heartbeat", "Dummy");
    execAndWait("prb", "monitor", 0, 20000, stateParam("prb"));
    // An exec for an id that is not registered.
    exec("prb-unknown", "monitor", 0, 20000, lrmd_opt_none, NULL);
    unregisterAndWait("prb");
}

static void scenarioStart(void) {
    registerAndWait("sta", "heartbeat", "Dummy");
    execAndWait("sta", "start", 0, 20000, stateParam("sta"));
    execAndWait("sta", "monitor", 0, 20000, stateParam("sta"));
    execAndWait("sta", "stop", 0, 20000, stateParam("sta"));
    execAndWait("sta", "monitor", 0, 20000, stateParam("sta"));
    unregisterAndWait("sta");
}

struct RunCount {
    const char *path;
    long at_least;
};

static long readCount(const char *path) {
    char *text = NULL;
    long n = 0;
    if (g_file_get_contents(path, &text, NULL, NULL)) n = strtol(text, NULL, 10);
    g_free(text);
    return n;
}

static bool countReached(void *arg) {
    const struct RunCount *runs = arg;
    return readCount(runs->path) >= runs->at_least;
}

// Lets a recurring op run `runs` more times; events that arrive meanwhile are
// printed (with changes-only there should be none).
static void letRun(const char *count_path, int runs) {
    struct RunCount target = {count_path, readCount(count_path) + runs};
    int before = events_seen;
    bool ok = runUntil(countReached, &target, kWaitLimitMs);
    printf("ran: %s, %d event(s) meanwhile\n", ok ? "yes" : "no, timed out", events_seen - before);
    if (!ok) wait_failed = true;
}

static void writeFile(const char *path, const char *text) {
    if (!g_file_set_contents(path, text, -1, NULL)) {
        printf("unable to write %s\n", path);
        wait_failed = true;
    }
}

static void scenarioRecurring(void) {
    char *count = workPath("rec.count"), *rcfile = workPath("rec.rc");
    writeFile(rcfile, "0\n");
    registerAndWait("rec", "lrmtest", "Counter");
    lrmd_key_value_t *params = lrmd_key_value_add(NULL, "count", count);
    params = lrmd_key_value_add(params, "rcfile", rcfile);
    if (exec("rec", "monitor", 200, 20000, lrmd_opt_notify_changes_only, params) > 0) {
        waitEvents(1);  // the first result is always notified
        letRun(count, 3);
        writeFile(rcfile, "7\n");
        waitEvents(1);  // the change to not running
        letRun(count, 3);
        writeFile(rcfile, "0\n");
        waitEvents(1);  // and back
        letRun(count, 2);
        cancel("rec", "monitor", 200, 1);
    }
    unregisterAndWait("rec");
    g_free(count);
    g_free(rcfile);
}

static void scenarioCancel(void) {
    registerAndWait("can", "heartbeat", "Dummy");
    execAndWait("can", "start", 0, 20000, stateParam("can"));
    if (exec("can", "monitor", 1000, 20000, lrmd_opt_none, stateParam("can")) > 0) {
        waitEvents(1);
        cancel("can", "monitor", 1000, 1);
    }
    cancel("can", "monitor", 1000, 1);       // nothing left to cancel
    cancel("can-unknown", "monitor", 1000, 1);  // no such resource
    execAndWait("can", "stop", 0, 20000, stateParam("can"));
    unregisterAndWait("can");
}

static void scenarioUnregisterInFlight(void) {
    registerAndWait("unr", "lrmtest", "Sleeper");
    lrmd_key_value_t *params = lrmd_key_value_add(stateParam("unr"), "sleep", "1.5");
    if (exec("unr", "start", 0, 20000, lrmd_opt_none, params) > 0) {
        // The agent is running for 1.5 s: -EINPROGRESS, the unregister
        // notify, then the start's result with rsc_deleted=1.
        if (unregisterRsc("unr") == -EINPROGRESS) waitEvents(2);
    }
    info("unr");
}

static void scenarioTimeout(void) {
    registerAndWait("tmo", "lrmtest", "Sleeper");
    // 2 s, not 1: liblrmd 2.1.5 also waits for the exec *reply* no longer
    // than the op's timeout, counted in whole seconds, and drops the
    // connection when a second boundary passes during a 1 s wait.
    execAndWait("tmo", "start", 0, 2000, lrmd_key_value_add(stateParam("tmo"), "sleep", "30"));
    unregisterAndWait("tmo");
}

static void scenarioFailing(void) {
    registerAndWait("fai", "lrmtest", "Fail");
    execAndWait("fai", "monitor", 0, 20000, NULL);
    execAndWait("fai", "monitor", 0, 20000, lrmd_key_value_add(NULL, "rc", "7"));
    // An agent that does not exist.
    registerAndWait("fai-missing", "lrmtest", "NoSuchAgent");
    execAndWait("fai-missing", "monitor", 0, 20000, NULL);
    unregisterAndWait("fai-missing");
    unregisterAndWait("fai");
}

static void scenarioGetRecurring(void) {
    registerAndWait("rcr", "heartbeat", "Dummy");
    execAndWait("rcr", "start", 0, 20000, stateParam("rcr"));
    if (exec("rcr", "monitor", 60000, 15000, lrmd_opt_none, stateParam("rcr")) > 0) waitEvents(1);
    getRecurring("rcr");
    getRecurring(NULL);
    getRecurring("rcr-unknown");
    // A stop cancels the recurring monitor first: its Cancelled result, then the stop's.
    if (exec("rcr", "stop", 0, 20000, lrmd_opt_none, stateParam("rcr")) > 0) waitEvents(2);
    getRecurring("rcr");
    unregisterAndWait("rcr");
}

static void scenarioNewClient(void) {
    lrmd_t *second = NULL;
    int rc = connectAs(&second, "lrm-compare-second");
    reply("connect second", rc);
    if (rc == pcmk_ok) waitEvents(1);  // the first connection hears of the second
    disconnect(&second);
}

// Opens a TCP connection to the daemon.
static int dialDaemon(void) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *found = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(host, service, &hints, &found) != 0) return -1;
    int fd = -1;
    for (struct addrinfo *a = found; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(found);
    return fd;
}

// Waits until the peer closes `fd` (read returns 0 or an error).
static const char *waitClosed(int fd) {
    struct timeval limit = {.tv_sec = kGarbageCloseLimitMs / 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    char buf[4096];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0) return "closed";
        // A reset is a close too, as far as a client can tell.
        if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? "kept" : "closed";
    }
}

static const char kGarbage[] = "\x01\x02\x03 this is not a frame \xff\xfe\xfd\x00 nor XML <<<";

// A header as Pacemaker frames them (little-endian on x86-64) that promises a
// 64 MiB payload, more than any message may hold (20 MB).
static const uint32_t kOversizeHeader[10] = {
    0xBADADBBDu, 1,                  // endian, version
    1, 0,                            // id (u64)
    0, 0,                            // flags (u64)
    40u + (64u << 20), 40,           // size_total, payload_offset
    0, 64u << 20,                    // payload_compressed, payload_uncompressed
};

// Raw TLS with the right key: the handshake, then `bytes`; says whether the
// daemon closes the connection (within 2 s) or keeps it.
static void sendAfterHandshake(const char *label, const void *bytes, size_t size) {
    int fd = dialDaemon();
    gnutls_datum_t key = {NULL, 0};
    if (fd < 0 || gnutls_load_file(getenv("PCMK_authkey_location"), &key) != GNUTLS_E_SUCCESS) {
        printf("%s connected=no\n", label);
        wait_failed = true;
        if (fd >= 0) close(fd);
        return;
    }
    gnutls_psk_client_credentials_t psk;
    gnutls_session_t session;
    gnutls_psk_allocate_client_credentials(&psk);
    gnutls_psk_set_client_credentials(psk, "lrmd", &key, GNUTLS_PSK_KEY_RAW);
    gnutls_init(&session, GNUTLS_CLIENT);
    gnutls_priority_set_direct(session, "NORMAL:+DHE-PSK:+PSK", NULL);
    gnutls_credentials_set(session, GNUTLS_CRD_PSK, psk);
    gnutls_transport_set_int(session, fd);
    gnutls_handshake_set_timeout(session, GNUTLS_DEFAULT_HANDSHAKE_TIMEOUT);
    int rc;
    do {
        rc = gnutls_handshake(session);
    } while (rc < 0 && !gnutls_error_is_fatal(rc));
    printf("%s handshake=%s\n", label, rc == GNUTLS_E_SUCCESS ? "ok" : gnutls_strerror(rc));
    if (rc == GNUTLS_E_SUCCESS) {
        gnutls_record_send(session, bytes, size);
        gnutls_record_set_timeout(session, kGarbageCloseLimitMs);
        char buf[4096];
        ssize_t n;
        do {
            n = gnutls_record_recv(session, buf, sizeof buf);
        } while (n > 0 || n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
        printf("%s daemon=%s\n", label,
               n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION || n == GNUTLS_E_PUSH_ERROR ? "closed"
               : n == GNUTLS_E_TIMEDOUT                                                      ? "kept"
                                                                                             : gnutls_strerror((int) n));
    }
    gnutls_deinit(session);
    gnutls_psk_free_client_credentials(psk);
    gnutls_free(key.data);
    close(fd);
}

static void scenarioGarbage(void) {
    // Plain bytes where a TLS ClientHello belongs.
    int fd = dialDaemon();
    if (fd >= 0) {
        ssize_t sent = send(fd, kGarbage, sizeof kGarbage, MSG_NOSIGNAL);
        printf("garbage-tcp sent=%s daemon=%s\n", sent == (ssize_t) sizeof kGarbage ? "all" : "part",
               waitClosed(fd));
        close(fd);
    } else {
        puts("garbage-tcp connected=no");
    }
    // Whether the raw peers are announced as new clients (they never sign on)
    // is counted, on one line.
    int announced = 0;
    new_clients = &announced;
    sendAfterHandshake("garbage-tls", kGarbage, sizeof kGarbage);
    sendAfterHandshake("oversize-tls", kOversizeHeader, sizeof kOversizeHeader);
    // The daemon still serves the connection made before and a new one.
    int rc = conn->cmds->poke_connection(conn);
    reply("poke", rc);
    if (rc == pcmk_ok) waitType(lrmd_event_poke);
    new_clients = NULL;
    printf("raw-peers new_client_events=%d\n", announced);
    lrmd_t *second = NULL;
    rc = connectAs(&second, "lrm-compare-after-garbage");
    reply("connect after garbage", rc);
    if (rc == pcmk_ok) waitType(lrmd_event_new_client);  // heard on the first connection
    disconnect(&second);
}

// ---- Bench -----------------------------------------------------------------

static double cpuMs(const char *pid) {
    char *path = g_strdup_printf("/proc/%s/stat", pid), *text = NULL;
    unsigned long long utime = 0, stime = 0;
    if (g_file_get_contents(path, &text, NULL, NULL)) {
        const char *after_name = strrchr(text, ')');  // the name may hold spaces
        if (after_name != NULL)
            sscanf(after_name + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime);
    }
    g_free(text);
    g_free(path);
    return (utime + stime) * 1000.0 / sysconf(_SC_CLK_TCK);
}

// CPU of each daemon process, before or after: the cost of each side.
static void cpuOfEach(char **pids, int count, double *cpu_ms) {
    for (int i = 0; i < count; ++i) cpu_ms[i] = cpuMs(pids[i]);
}

static bool phaseDone(void *unused) {
    (void) unused;
    return outstanding <= 0;
}

// N instances x (start, monitor, stop), each phase submitted at once.
static int bench(int n, const char *agent, char **pids, int pid_count) {
    char **spec = g_strsplit(agent, ":", 2);
    if (spec[0] == NULL || spec[1] == NULL) {
        fprintf(stderr, "remote_driver: bench agent must be PROVIDER:TYPE\n");
        g_strfreev(spec);
        return 2;
    }
    quiet = true;
    for (int i = 0; i < n; ++i) {
        char *rsc = g_strdup_printf("bench-%d", i);
        if (conn->cmds->register_rsc(conn, rsc, "ocf", spec[0], spec[1], lrmd_opt_drop_recurring) != pcmk_ok)
            ++failures;
        g_free(rsc);
    }
    static const char *const actions[] = {"start", "monitor", "stop"};
    double *cpu_before = g_new0(double, pid_count + 1), *cpu_after = g_new0(double, pid_count + 1);
    cpuOfEach(pids, pid_count, cpu_before);
    double started = nowMs();
    bool complete = true;
    for (int phase = 0; phase < 3 && complete; ++phase) {
        outstanding = n;
        for (int i = 0; i < n; ++i) {
            char *rsc = g_strdup_printf("bench-%d", i);
            if (conn->cmds->exec(conn, rsc, actions[phase], NULL, 0, 20000, 0, lrmd_opt_none,
                                 controllerParams(20000, stateParam(rsc))) <= 0) {
                ++failures;
                --outstanding;
            }
            g_free(rsc);
        }
        complete = runUntil(phaseDone, NULL, 10 * kWaitLimitMs);
    }
    double wall_ms = nowMs() - started;
    cpuOfEach(pids, pid_count, cpu_after);
    for (int i = 0; i < n; ++i) {
        char *rsc = g_strdup_printf("bench-%d", i);
        conn->cmds->unregister_rsc(conn, rsc, lrmd_opt_none);
        g_free(rsc);
    }
    double cpu_ms = 0;
    printf("{\"bench\":\"remote\",\"agent\":\"ocf:%s\",\"n\":%d,\"wall_ms\":%.1f,\"ops_per_s\":%.1f,\"cpu_ms\":[",
           agent, n, wall_ms, 3.0 * n * 1000.0 / wall_ms);
    for (int i = 0; i < pid_count; ++i) {
        printf("%s%.1f", i > 0 ? "," : "", cpu_after[i] - cpu_before[i]);
        cpu_ms += cpu_after[i] - cpu_before[i];
    }
    printf("],\"cpu_ms_per_op\":%.4f,\"failures\":%d,\"complete\":%s}\n", cpu_ms / (3.0 * n), failures,
           complete ? "true" : "false");
    g_free(cpu_before);
    g_free(cpu_after);
    g_strfreev(spec);
    return complete && failures == 0 ? 0 : 1;
}

// ---- main ------------------------------------------------------------------

struct Scenario {
    const char *name;
    void (*run)(void);
};

static const struct Scenario kScenarios[] = {
    {"register", scenarioRegister},
    {"info", scenarioInfo},
    {"probe", scenarioProbe},
    {"start", scenarioStart},
    {"recurring", scenarioRecurring},
    {"cancel", scenarioCancel},
    {"unregister_in_flight", scenarioUnregisterInFlight},
    {"timeout", scenarioTimeout},
    {"failing", scenarioFailing},
    {"get_recurring", scenarioGetRecurring},
    {"new_client", scenarioNewClient},
    {"garbage", scenarioGarbage},
    {"wrong_key", NULL},  // the connect alone, run with another key
};

static int usage(void) {
    fputs("usage: remote_driver HOST PORT WORK_DIR SCENARIO\n"
          "       remote_driver HOST PORT WORK_DIR bench N PROVIDER:TYPE [PID...]\n"
          "scenarios:",
          stderr);
    for (size_t i = 0; i < G_N_ELEMENTS(kScenarios); ++i) fprintf(stderr, " %s", kScenarios[i].name);
    fputc('\n', stderr);
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 5) return usage();
    host = argv[1];
    port = atoi(argv[2]);
    work_dir = argv[3];
    const char *name = argv[4];
    bool is_bench = strcmp(name, "bench") == 0;
    const struct Scenario *scenario = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(kScenarios); ++i)
        if (strcmp(name, kScenarios[i].name) == 0) scenario = &kScenarios[i];
    if (port <= 0 || (!is_bench && (scenario == NULL || argc != 5)) || (is_bench && argc < 7)) return usage();

    exec_call_ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    int rc = connectAs(&conn, "lrm-compare");
    if (!is_bench) reply("connect", rc);
    int status = 0;
    if (rc != pcmk_ok) {
        status = scenario != NULL && scenario->run == NULL ? 0 : 1;
    } else if (is_bench) {
        status = bench(atoi(argv[5]), argv[6], argv + 7, argc - 7);
    } else if (scenario->run != NULL) {
        scenario->run();
        status = wait_failed ? 1 : 0;
    }
    disconnect(&conn);
    g_hash_table_destroy(exec_call_ids);
    return status;
}
