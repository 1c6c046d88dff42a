/* vmgate-gw — SOCKS5 and HTTP CONNECT gateway that relays connections to VMs by name.
 *
 * One process, one libevent loop on one thread (crypt(3) on auth.c's workers).  main() loads the
 * configuration, opens the listeners and runs the loop; SIGHUP reloads the configuration and the
 * users file (established connections keep running); SIGTERM/SIGINT stop accepting, close
 * handshakes still in progress and let relays finish for up to drain-timeout seconds.
 */
#include "auth.h"
#include "admin.h"
#include "gw.h"
#include "metrics.h"
#include "serial.h"
#include "tls.h"
#include "users.h"
#include "vmtable.h"

#include "vg_alloc.h"
#include "vg_audit.h"
#include "vg_log.h"
#include "vg_policy.h"
#include "vg_resolve.h"
#include "vg_time.h"
#include "vg_version.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct gw *gw_main;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: vmgate-gw [-c FILE] [-f] [-d] [--front] [--check-config] [--pidfile FILE]\n"
            "\n"
            "SOCKS5 (RFC 1928/1929) and HTTP CONNECT gateway that relays connections to the VMs\n"
            "of this host by name: the requested name is looked up in the VM table (vm-dir) and\n"
            "the connection is relayed into the VM's channel (tcp:, vsock:, vsock-mux:, serial:).\n"
            "A name in the zone that is not in the table is resolved (DNS) and chained to the\n"
            "owning host's gateway, one hop at most, when forward-user/forward-password are set.\n"
            "\n"
            "  -c, --config FILE   configuration file (default /etc/vmgate/vmgate.conf)\n"
            "  -f, --foreground    stay in the foreground and log to stderr\n"
            "  -d, --debug         log level debug\n"
            "      --front         front mode, on a client machine: no VM table; every name in\n"
            "                      the zone is chained to the gateway of the host that owns it\n"
            "                      (the single local entry point for proxychains and friends)\n"
            "      --check-config  load and check the configuration and users file, then exit\n"
            "      --pidfile FILE  write the process id to FILE\n"
            "  -V, --version       print the version\n"
            "  -h, --help          this text\n"
            "\n"
            "Signals: HUP reloads configuration and users; TERM/INT drain and exit.\n"
            "\n"
            "Configuration keys (INI):\n");
    vg_config_describe(f);
}

struct anon_ctx {
    struct vg_cidr *v;
    size_t n;
};

static bool add_anon(const char *item, void *arg)
{
    struct anon_ctx *a = arg;
    struct vg_cidr *grown = vg_realloc(a->v, (a->n + 1) * sizeof *grown);
    if (grown == NULL)
        return false;
    a->v = grown;
    if (!vg_cidr_parse(item, &a->v[a->n]))
        return false;
    a->n++;
    return true;
}

/* Everything that comes from files: config, users, VM table, anonymous ranges. */
struct loaded {
    struct vg_config *cfg;
    struct vg_users *users;
    struct vg_vmtable *vmt;
    struct gw_tls *tls;
    struct vg_policy *policy;
    struct vg_cidr *anon;
    size_t nanon;
};

static void loaded_free(struct loaded *l)
{
    vg_config_free(l->cfg);
    vg_users_free(l->users);
    vg_vmtable_free(l->vmt);
    gw_tls_free(l->tls);
    vg_policy_free(l->policy);
    vg_free(l->anon);
}

static bool load_all(const char *path, bool front, struct loaded *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->cfg = vg_config_load(path, err, errlen);
    if (out->cfg == NULL)
        return false;
    if (!(front ? vg_config_check_front(out->cfg, err, errlen)
                : vg_config_check_gateway(out->cfg, err, errlen)))
        goto fail;
    if (out->cfg->users_file &&
        (out->users = vg_users_load(out->cfg->users_file, err, errlen)) == NULL)
        goto fail;
    if ((out->tls = gw_tls_new(out->cfg, front, err, errlen)) == NULL)
        goto fail;
    if (out->cfg->policy_file && !front &&
        (out->policy = vg_policy_load(out->cfg->policy_file, err, errlen)) == NULL)
        goto fail;
    if (!front && (out->vmt = vg_vmtable_new(out->cfg->vm_dir)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (out->cfg->allow_anonymous_from) {
        struct anon_ctx a = {NULL, 0};
        char *copy = vg_strdup(out->cfg->allow_anonymous_from);
        bool ok = copy && vg_list_foreach(copy, add_anon, &a);
        vg_free(copy);
        out->anon = a.v;
        out->nanon = a.n;
        if (!ok) {
            snprintf(err, errlen, "allow-anonymous-from: out of memory");
            goto fail;
        }
    }
    return true;
fail:
    loaded_free(out);
    return false;
}

static void install(struct gw *g, struct loaded *l)
{
    struct loaded old = {g->cfg, g->users, g->vmt, g->tls, g->policy, g->anon, g->nanon};
    g->cfg = l->cfg;
    g->users = l->users;
    g->vmt = l->vmt;
    g->tls = l->tls;       /* running TLS sessions keep their old context (reference counted) */
    g->policy = l->policy; /* running sessions keep the verdict they got (see reload --enforce) */
    g->anon = l->anon;
    g->nanon = l->nanon;
    loaded_free(&old);
    vg_log_max = vg_log_level_parse(g->cfg->log_level);
}

static bool open_resolver(struct gw *g, const struct vg_config *cfg);

static void log_auth_stats(struct gw *g)
{
    struct gw_auth_stats st;
    if (g->auth == NULL)
        return;
    gw_auth_get_stats(g->auth, &st);
    vg_notice("authentication: %llu passwords checked (%llu ok, %llu failed), %llu refused "
              "unchecked in back-off, %llu with the queue full",
              (unsigned long long)st.checked, (unsigned long long)st.ok,
              (unsigned long long)st.failed, (unsigned long long)st.throttled,
              (unsigned long long)st.busy);
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* The audit log and the metrics endpoint of cfg, replacing the running ones when their keys
 * changed (at start: old == NULL).  On a failure the running ones stay (and the running
 * config keeps its keys, so that the next reload tries again). */
static bool open_audit(struct gw *g, struct vg_config *cfg, const struct vg_config *old)
{
    if (old && same(cfg->audit_log, old->audit_log) && cfg->audit_queue == old->audit_queue) {
        if (g->audit)
            vg_audit_reopen(g->audit); /* logrotate's create mode */
        return true;
    }
    struct vg_audit *a = NULL;
    char err[512];
    if (cfg->audit_log &&
        (a = vg_audit_open(cfg->audit_log, cfg->audit_queue, err, sizeof err)) == NULL) {
        vg_err("%s", err);
        return false;
    }
    vg_audit_close(g->audit); /* writes what it holds: a short pause of the loop at most */
    g->audit = a;
    return true;
}

static bool open_metrics(struct gw *g, const struct vg_config *cfg, const struct vg_config *old)
{
    if (old && same(cfg->metrics_listen, old->metrics_listen))
        return true;
    struct gw_metrics_server *m = NULL;
    char err[512];
    gw_metrics_server_free(g->metrics); /* the addresses may be the same ones, re-bound */
    g->metrics = NULL;
    if (cfg->metrics_listen &&
        (m = gw_metrics_serve(g->base, cfg->metrics_listen, err, sizeof err)) == NULL) {
        vg_err("%s", err);
        if (old && old->metrics_listen &&
            (g->metrics = gw_metrics_serve(g->base, old->metrics_listen, err, sizeof err)) == NULL)
            vg_err("reload: cannot reopen the old metrics listeners either: %s", err);
        return false;
    }
    g->metrics = m;
    return true;
}

static void swap_str(char **a, char **b)
{
    char *t = *a;
    *a = *b;
    *b = t;
}

static uint64_t audit_drops(void *arg)
{
    struct gw *g = arg;
    return g->audit ? vg_audit_drops(g->audit) : 0;
}

static uint64_t serial_up(void *arg)
{
    (void)arg;
    return gw_serial_count();
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct gw *g = arg;
    if (g->audit)
        vg_audit_tick(g->audit);
}

bool gw_reload(struct gw *g, const char *by, char *err, size_t errlen)
{
    struct loaded l;
    if (g->draining) {
        snprintf(err, errlen, "draining: not reloading");
        return false;
    }
    if (!load_all(g->cfg_path, g->front, &l, err, errlen)) {
        vg_err("reload failed, keeping the running configuration: %s", err);
        return false;
    }
    if ((!same(l.cfg->server, g->cfg->server) ||
         (l.cfg->tls_cert == NULL) != (g->cfg->tls_cert == NULL)) &&
        !open_resolver(g, l.cfg)) {
        loaded_free(&l);
        snprintf(err, errlen, "cannot start the resolver for the new configuration");
        return false;
    }
    bool relisten = !same(l.cfg->listen, g->cfg->listen) ||
                    !same(l.cfg->listen_http, g->cfg->listen_http) ||
                    !same(l.cfg->listen_https, g->cfg->listen_https);
    if (relisten) {
        gw_listeners_close(g);
        if (!gw_listeners_open(g, l.cfg)) {
            vg_err("reload: cannot listen on the new addresses; keeping the old ones");
            if (!gw_listeners_open(g, g->cfg))
                vg_err("reload: cannot reopen the old listeners either");
            /* keep the new listen lists out of the running config */
            char *tmp = l.cfg->listen;
            l.cfg->listen = g->cfg->listen;
            g->cfg->listen = tmp;
            tmp = l.cfg->listen_http;
            l.cfg->listen_http = g->cfg->listen_http;
            g->cfg->listen_http = tmp;
            tmp = l.cfg->listen_https;
            l.cfg->listen_https = g->cfg->listen_https;
            g->cfg->listen_https = tmp;
        }
    }
    if (!open_audit(g, l.cfg, g->cfg)) {
        vg_err("reload: keeping the running audit log");
        swap_str(&l.cfg->audit_log, &g->cfg->audit_log);
        l.cfg->audit_queue = g->cfg->audit_queue;
    }
    if (!open_metrics(g, l.cfg, g->cfg)) {
        vg_err("reload: keeping the old metrics listeners");
        swap_str(&l.cfg->metrics_listen, &g->cfg->metrics_listen);
    }
    install(g, &l);
    gw_admin_reconfigure(g);
    vg_notice("configuration reloaded (%zu users, %u connections kept)", vg_users_count(g->users),
              g->nconns);
    log_auth_stats(g);
    if (g->audit) {
        char what_[128];
        snprintf(what_, sizeof what_, "%zu users, %zu policy rules, %u connections kept",
                 vg_users_count(g->users), g->policy ? vg_policy_rules(g->policy) : 0, g->nconns);
        struct vg_audit_event ev = {
            .kind = VG_AUDIT_POLICY_RELOADED, .by = by, .reason = what_, .duration_s = -1};
        vg_audit_emit(g->audit, &ev);
    }
    return true;
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    char err[512];
    gw_reload(arg, "SIGHUP", err, sizeof err);
}

/* The resolver for chaining (front mode, or a host with its TLS certificate); replaces the
 * running one. */
static bool open_resolver(struct gw *g, const struct vg_config *cfg)
{
    char err[256];
    struct vg_resolver *r = NULL;
    if (g->front || cfg->tls_cert) {
        if ((r = vg_resolver_new(g->base, cfg, err, sizeof err)) == NULL) {
            vg_err("resolver: %s", err);
            return false;
        }
    }
    if (g->resolver)
        vg_resolver_free(g->resolver); /* lookups in flight end as refused requests */
    g->resolver = r;
    return true;
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct gw *g = arg;
    vg_notice("drain timeout: closing %u remaining connections", g->nconns);
    event_base_loopbreak(g->base);
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
    struct gw *g = arg;
    if (g->draining) {
        vg_notice("second signal: exiting now");
        event_base_loopbreak(g->base);
        return;
    }
    g->draining = true;
    gw_listeners_close(g);
    gw_conns_close_handshaking(g);
    vg_notice("draining %u connections (at most %u s)", g->nconns, g->cfg->drain_timeout);
    if (g->nconns == 0) {
        event_base_loopbreak(g->base);
        return;
    }
    struct timeval tv = {(time_t)g->cfg->drain_timeout, 0};
    event_add(g->drain_ev, &tv);
}

void gw_conn_closed(struct gw *g)
{
    g->nconns--;
    if (g->draining && g->nconns == 0)
        event_base_loopbreak(g->base);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static bool write_pidfile(const char *path)
{
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return false;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f) == 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"foreground", no_argument, NULL, 'f'},
                                         {"debug", no_argument, NULL, 'd'},
                                         {"check-config", no_argument, NULL, 'C'},
                                         {"pidfile", required_argument, NULL, 'P'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"front", no_argument, NULL, 'F'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *cfg_path = "/etc/vmgate/vmgate.conf", *pidfile = NULL;
    bool foreground = false, debug = false, check = false, front = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:fdVh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            cfg_path = optarg;
            break;
        case 'f':
            foreground = true;
            break;
        case 'd':
            debug = true;
            break;
        case 'C':
            check = true;
            break;
        case 'P':
            pidfile = optarg;
            break;
        case 'F':
            front = true;
            break;
        case 'V':
            printf("vmgate-gw %s\n", VMGATE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "vmgate-gw: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }

    struct loaded l;
    char err[512];
    if (!load_all(cfg_path, front, &l, err, sizeof err)) {
        fprintf(stderr, "vmgate-gw: %s\n", err);
        return 1;
    }
    if (check) {
        printf("vmgate-gw: %s: configuration OK (%zu zone(s), %zu user(s))\n", cfg_path,
               l.cfg->nzones, vg_users_count(l.users));
        loaded_free(&l);
        return 0;
    }

    vg_log_open("vmgate-gw", debug ? VG_LOG_DEBUG : vg_log_level_parse(l.cfg->log_level),
                !foreground);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    struct gw g = {.cfg_path = cfg_path,
                   .front = front,
                   .guest_stream = gw_conn_start_guest,
                   .t_start = vg_now_ns()};
    gw_main = &g;
    install(&g, &l);
    if (debug)
        vg_log_max = VG_LOG_DEBUG;

    struct event_config *ec = event_config_new();
    if (ec)
        /* the changelist folds the event_del/event_add pairs of a connection's hand-overs
         * (handshake → connect → relay) into one epoll_ctl at most; the gateway never dup()s a
         * socket it watches, the one case where the changelist misbehaves */
        event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    g.base = ec ? event_base_new_with_config(ec) : NULL;
    if (ec)
        event_config_free(ec);
    if (g.base == NULL) {
        vg_err("cannot create the event loop");
        return 1;
    }
    if (!open_resolver(&g, g.cfg))
        return 1;
    if (!gw_listeners_open(&g, g.cfg))
        return 1;
    if (!open_metrics(&g, g.cfg, NULL))
        return 1;
    /* the audit writer is a thread: started after daemon()'s fork, the file checked before it */
    int probe = g.cfg->audit_log
                    ? open(g.cfg->audit_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)
                    : -2;
    if (probe == -1) {
        vg_err("audit-log %s: %s", g.cfg->audit_log, strerror(errno));
        return 1;
    }
    if (probe >= 0)
        close(probe);
    if (!foreground && daemon(0, 0) != 0) {
        vg_err("daemon: %s", strerror(errno));
        return 1;
    }
    if (!open_audit(&g, g.cfg, NULL))
        return 1;
    gw_metrics_set_source(GW_MS_AUDIT_DROPS, audit_drops, &g);
    gw_metrics_set_source(GW_MS_SERIAL_SESSIONS_UP, serial_up, NULL);
    g.admin = gw_admin_open(&g); /* NULL: logged, the gateway serves without it */
    if (pidfile && !write_pidfile(pidfile))
        vg_warn("cannot write pidfile %s: %s", pidfile, strerror(errno));
    /* after daemon(): threads do not survive fork */
    if ((g.auth = gw_auth_new(g.base, g.cfg->auth_threads, g.cfg->auth_queue)) == NULL)
        return 1;

    g.hup_ev = evsignal_new(g.base, SIGHUP, on_hup, &g);
    g.term_ev = evsignal_new(g.base, SIGTERM, on_term, &g);
    g.int_ev = evsignal_new(g.base, SIGINT, on_term, &g);
    g.drain_ev = evtimer_new(g.base, on_drain_timeout, &g);
    g.tick_ev = event_new(g.base, -1, EV_PERSIST, on_tick, &g);
    struct timeval tick = {1, 0};
    event_add(g.tick_ev, &tick);
    event_add(g.hup_ev, NULL);
    event_add(g.term_ev, NULL);
    event_add(g.int_ev, NULL);
    vg_notice("vmgate-gw %s started: zone %s, %s%s%s", VMGATE_VERSION, g.cfg->zone,
              front ? "front mode (every name chained to its owning host)" : "VM table ",
              front ? "" : g.cfg->vm_dir,
              !front && g.resolver ? ", chaining unknown names to their owners" : "");

    event_base_dispatch(g.base);

    vg_notice("stopped (%u connections left)", g.nconns);
    g.draining = false; /* closing the rest must not re-enter the drain logic */
    gw_admin_close(g.admin);
    g.admin = NULL;
    gw_conns_close_all(&g);
    log_auth_stats(&g);
    gw_auth_free(g.auth);
    gw_serial_close_all(&g);
    if (g.resolver)
        vg_resolver_free(g.resolver);
    gw_listeners_close(&g);
    gw_metrics_server_free(g.metrics);
    vg_audit_close(g.audit);
    if (pidfile)
        unlink(pidfile);
    event_free(g.hup_ev);
    event_free(g.term_ev);
    event_free(g.int_ev);
    event_free(g.drain_ev);
    event_free(g.tick_ev);
    struct loaded cur = {g.cfg, g.users, g.vmt, g.tls, g.policy, g.anon, g.nanon};
    loaded_free(&cur);
    event_base_free(g.base);
    return 0;
}
