/* vmgate-reg — publish and withdraw VM names in DNS; see --help and docs/registrar.md. */
#include "reg_cmd.h"
#include "reg_daemon.h"
#include "reg_hook.h"
#include "reg_store.h"
#include "vg_alloc.h"
#include "vg_file.h"
#include "vg_log.h"
#include "vg_version.h"
#include "vg_vmentry.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/vmgate/vmgate.conf"

static void usage(FILE *f)
{
    fprintf(f,
"usage: vmgate-reg [-c FILE] [-v|-q] [--direct] COMMAND [ARGS]\n"
"\n"
"Publishes this host's VMs in DNS (RFC 2136 UPDATE, TSIG) and keeps its VM table.\n"
"\n"
"commands:\n"
"  add NAME --channel SPEC [--qmp PATH] [--ports LIST] [--allow-out LIST]\n"
"      [--set KEY=VALUE] [--takeover]\n"
"                        VM table entry + DNS records (A/AAAA, owner TXT, SRV, heartbeat); an\n"
"                        existing entry keeps every key and comment the add does not set\n"
"  add --batch FILE [--takeover]\n"
"                        many at once; FILE ('-' = stdin) has lines\n"
"                        'NAME SPEC [qmp=PATH] [KEY=VALUE...]'\n"
"  del NAME...           withdraw (only this host's VMs are ever deleted)\n"
"  del --batch FILE      names one per line\n"
"  list [--all]          this host's VM table with each VM's DNS state (--all: whole zone)\n"
"  sync [--dry-run]      reconcile the VM table and the zone (AXFR) in both directions\n"
"  gc [--dry-run]        withdraw VMs of hosts whose heartbeat is older than gc-after\n"
"  heartbeat             refresh this host's record now\n"
"  replay                retry the journal once\n"
"  daemon                serve add/del over STATE-DIR/reg.sock (batching), replay the journal\n"
"                        with back-off, heartbeat, gc; runs in the foreground\n"
"  libvirt-hook qemu DOMAIN OP SUBOP [EXTRA]\n"
"                        libvirt qemu hook (domain XML on stdin): registers at 'started' and\n"
"                        'reconnect', withdraws at 'stopped' and 'release'; an incoming\n"
"                        migration ('migrate' first) registers with --takeover\n"
"  qemu [--takeover] [--name NAME] [--channel SPEC] [--ports LIST] [--allow-out LIST]\n"
"      [--set KEY=VALUE] -- QEMU-COMMAND...\n"
"                        run QEMU, registered while it runs (name and channel from -name,\n"
"                        virtserialport name=org.vmgate.*, vhost-vsock guest-cid, -qmp)\n"
"  check-config          load the configuration and the key, then exit\n"
"\n"
"NAME: short (web1) or fully qualified (web1.vm.test.); letters, digits, hyphens.\n"
"SPEC: tcp:ADDR | vsock:CID | vsock-mux:PATH | serial:PATH\n"
"--ports 22,80,8000-8100: guest ports clients may reach; --allow-out NAME:PORTS,...: what the VM\n"
"may reach; --set KEY=VALUE: any such VM table key; an empty value removes the key.\n"
"\n"
"options:\n"
"  -c, --config FILE     configuration (default $VMGATE_CONFIG or " DEFAULT_CONFIG ")\n"
"  -v, --verbose         also report what succeeded (twice: debug log)\n"
"  -q, --quiet           errors only\n"
"      --direct          do not hand add/del to a running daemon\n"
"  -V, --version         print the version and exit\n"
"  -h, --help\n"
"\n"
"exit codes:\n"
"   0 done                          14 NOTAUTH (BADTIME, not authoritative)\n"
"   1 local error                   15 REFUSED by the server's update policy\n"
"  10 YXDOMAIN: name in use          16 NOTZONE\n"
"     (another host's VM)           17 SERVFAIL or another server error\n"
"  11 NXRRSET: not this host's VM    18 no server answered (commands that do not queue)\n"
"  12 BADSIG: wrong key secret       19 reply failed verification (TSIG, id)\n"
"  13 BADKEY: key unknown to server  64 usage   65 bad name/channel/XML   78 configuration\n"
"  75 queued: no server answered; the change is journaled and the daemon retries it\n"
"\n"
"configuration keys:\n");
    vg_config_describe(f);
}

static int verbosity = 1;

static void report(const struct reg_req *r, size_t n, const char *verb)
{
    size_t ok = 0, queued = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].result == REG_OK) {
            ok++;
            if (verbosity >= 2)
                printf("%s: %s%s%s\n", r[i].name, verb, r[i].detail[0] ? ": " : "", r[i].detail);
        } else if (r[i].result == REG_QUEUED) {
            queued++;
            if (verbosity >= 1)
                fprintf(stderr, "vmgate-reg: %s: queued: %s; the daemon will retry\n", r[i].name,
                        r[i].detail);
        } else {
            failed++;
            fprintf(stderr, "vmgate-reg: %s: %s: %s\n", r[i].name, reg_result_str(r[i].result),
                    r[i].detail);
        }
    }
    if (n > 1 && verbosity >= 1)
        fprintf(stderr, "vmgate-reg: %zu request(s): %zu done, %zu queued, %zu failed\n", n, ok,
                queued, failed);
}

static int results_code(const struct reg_req *r, size_t n)
{
    enum reg_result *res = vg_calloc(n ? n : 1, sizeof *res);
    if (res == NULL)
        return REG_EXIT_ERROR;
    for (size_t i = 0; i < n; i++)
        res[i] = r[i].result;
    int code = reg_exit_code_of(res, n);
    vg_free(res);
    return code;
}

/* The daemon when it runs, else directly. */
static int submit(const struct vg_config *cfg, struct reg_req *reqs, size_t n, bool direct,
                  const char *verb)
{
    char err[1024];
    int code;
    if (n == 0)
        return REG_EXIT_OK;
    if (!direct && reg_daemon_submit(cfg, reqs, n)) {
        vg_debug("handed %zu request(s) to the daemon", n);
    } else {
        struct reg_ctx ctx;
        if (!reg_ctx_init(&ctx, cfg, err, sizeof err)) {
            fprintf(stderr, "vmgate-reg: %s\n", err);
            reg_ctx_close(&ctx);
            return REG_EXIT_CONFIG;
        }
        reg_apply(&ctx, reqs, n, true);
        vg_info("%lu UPDATE message(s)", ctx.eng.updates);
        reg_ctx_close(&ctx);
    }
    report(reqs, n, verb);
    code = results_code(reqs, n);
    return code;
}

struct reqvec {
    struct reg_req *v;
    size_t n, cap;
};

static struct reg_req *req_push(struct reqvec *rv)
{
    if (rv->n == rv->cap) {
        size_t cap = rv->cap ? rv->cap * 2 : 16;
        struct reg_req *g = vg_realloc(rv->v, cap * sizeof *g);
        if (g == NULL)
            return NULL;
        rv->v = g;
        rv->cap = cap;
    }
    struct reg_req *r = &rv->v[rv->n++];
    memset(r, 0, sizeof *r);
    return r;
}

static void reqvec_free(struct reqvec *rv)
{
    reg_req_free(rv->v, rv->n);
    vg_free(rv->v);
}

/* Fill an add request; false + message on a bad name / channel.  *sets moves into r. */
static bool make_add(const struct vg_config *cfg, struct reg_req *r, const char *name,
                     const char *channel, const char *qmp, bool takeover, struct reg_sets *sets)
{
    char err[512];
    if (!reg_name_resolve(cfg, name, r->name, &r->zone, err, sizeof err)) {
        fprintf(stderr, "vmgate-reg: %s\n", err);
        return false;
    }
    if (!vg_vmentry_value_check("channel", channel, err, sizeof err) ||
        (qmp && !vg_vmentry_value_check("qmp", qmp, err, sizeof err))) {
        fprintf(stderr, "vmgate-reg: %s: %s\n", r->name, err);
        return false;
    }
    r->channel = vg_strdup(channel);
    r->qmp = qmp ? vg_strdup(qmp) : NULL;
    r->takeover = takeover;
    if (sets) {
        r->sets = *sets;
        memset(sets, 0, sizeof *sets);
    }
    return r->channel && (!qmp || r->qmp);
}

/* --ports LIST, --allow-out LIST, --set KEY=VALUE: VM table keys the add sets (an empty value
 * removes the key).  False + message on a bad key or value. */
static bool entry_option(struct reg_sets *sets, int c, const char *arg)
{
    char err[600];
    bool ok = c == 'S' ? reg_sets_add_word(sets, arg, err, sizeof err)
                       : reg_sets_add(sets, c == 'P' ? "ports" : "allow-out", arg, err, sizeof err);
    if (!ok)
        fprintf(stderr, "vmgate-reg: %s\n", err);
    return ok;
}

static FILE *open_batch(const char *path)
{
    if (strcmp(path, "-") == 0)
        return stdin;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fprintf(stderr, "vmgate-reg: %s: %s\n", path, strerror(errno));
    return f;
}

static int cmd_add(const struct vg_config *cfg, int argc, char **argv, bool direct)
{
    static const struct option opts[] = {{"channel", required_argument, NULL, 'C'},
                                         {"qmp", required_argument, NULL, 'Q'},
                                         {"takeover", no_argument, NULL, 'T'},
                                         {"batch", required_argument, NULL, 'B'},
                                         {"ports", required_argument, NULL, 'P'},
                                         {"allow-out", required_argument, NULL, 'O'},
                                         {"set", required_argument, NULL, 'S'},
                                         {NULL, 0, NULL, 0}};
    const char *channel = NULL, *qmp = NULL, *batch = NULL;
    bool takeover = false;
    struct reg_sets sets = {0};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'C': channel = optarg; break;
        case 'Q': qmp = optarg; break;
        case 'T': takeover = true; break;
        case 'B': batch = optarg; break;
        case 'P':
        case 'O':
        case 'S':
            if (!entry_option(&sets, c, optarg)) {
                reg_sets_clear(&sets);
                return REG_EXIT_DATAERR;
            }
            break;
        default: reg_sets_clear(&sets); return REG_EXIT_USAGE;
        }
    }
    struct reqvec rv = {0};
    int code = REG_EXIT_DATAERR;
    if (batch) {
        if (optind != argc || channel || qmp || sets.n) {
            fprintf(stderr, "vmgate-reg: add --batch takes no NAME, --channel, --qmp or VM table "
                            "keys (give them per line)\n");
            reg_sets_clear(&sets);
            return REG_EXIT_USAGE;
        }
        FILE *f = open_batch(batch);
        if (f == NULL)
            return REG_EXIT_DATAERR;
        char line[2048];
        unsigned lineno = 0;
        bool bad = false;
        while (fgets(line, sizeof line, f)) {
            lineno++;
            char *save = NULL, *nm = strtok_r(line, " \t\r\n", &save);
            if (nm == NULL || nm[0] == '#')
                continue;
            char *spec = strtok_r(NULL, " \t\r\n", &save), *w;
            const char *qp = NULL;
            struct reg_sets ls = {0};
            char why[600];
            bool line_ok = true;
            while (line_ok && (w = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
                if (strncmp(w, "qmp=", 4) == 0) {
                    qp = w + 4;
                } else if (!reg_sets_add_word(&ls, w, why, sizeof why)) {
                    fprintf(stderr, "vmgate-reg: %s:%u: %s\n", batch, lineno, why);
                    line_ok = false;
                }
            }
            if (!line_ok) {
                reg_sets_clear(&ls);
                bad = true;
                continue;
            }
            struct reg_req *r = req_push(&rv);
            if (spec == NULL) {
                fprintf(stderr, "vmgate-reg: %s:%u: expected 'NAME SPEC [qmp=PATH] [KEY=VALUE…]'\n",
                        batch, lineno);
                reg_sets_clear(&ls);
                bad = true;
                continue;
            }
            if (r == NULL || !make_add(cfg, r, nm, spec, qp, takeover, &ls)) {
                fprintf(stderr, "vmgate-reg: %s:%u: entry rejected\n", batch, lineno);
                bad = true;
            }
            reg_sets_clear(&ls);
        }
        if (f != stdin)
            fclose(f);
        if (bad)
            goto done;
    } else {
        if (optind + 1 != argc || channel == NULL) {
            fprintf(stderr, "vmgate-reg: usage: add NAME --channel SPEC [--qmp PATH] "
                            "[--ports LIST] [--allow-out LIST] [--set KEY=VALUE] [--takeover]\n");
            reg_sets_clear(&sets);
            return REG_EXIT_USAGE;
        }
        struct reg_req *r = req_push(&rv);
        if (r == NULL || !make_add(cfg, r, argv[optind], channel, qmp, takeover, &sets))
            goto done;
    }
    code = submit(cfg, rv.v, rv.n, direct, takeover ? "taken over" : "published");
done:
    reg_sets_clear(&sets);
    reqvec_free(&rv);
    return code;
}

static int cmd_del(const struct vg_config *cfg, int argc, char **argv, bool direct)
{
    static const struct option opts[] = {{"batch", required_argument, NULL, 'B'},
                                         {NULL, 0, NULL, 0}};
    const char *batch = NULL;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'B')
            return REG_EXIT_USAGE;
        batch = optarg;
    }
    struct reqvec rv = {0};
    char err[512];
    int code = REG_EXIT_DATAERR;
    char line[1024];
    FILE *f = NULL;
    if (batch && (f = open_batch(batch)) == NULL)
        return REG_EXIT_DATAERR;
    if (!batch && optind >= argc) {
        fprintf(stderr, "vmgate-reg: usage: del NAME... | del --batch FILE\n");
        return REG_EXIT_USAGE;
    }
    for (int i = optind;; i++) {
        const char *nm;
        if (batch) {
            if (!fgets(line, sizeof line, f))
                break;
            char *save = NULL;
            nm = strtok_r(line, " \t\r\n", &save);
            if (nm == NULL || nm[0] == '#')
                continue;
        } else {
            if (i >= argc)
                break;
            nm = argv[i];
        }
        struct reg_req *r = req_push(&rv);
        if (r == NULL)
            goto done;
        r->del = true;
        if (!reg_name_resolve(cfg, nm, r->name, &r->zone, err, sizeof err)) {
            fprintf(stderr, "vmgate-reg: %s\n", err);
            goto done;
        }
    }
    code = submit(cfg, rv.v, rv.n, direct, "withdrawn");
done:
    if (f && f != stdin)
        fclose(f);
    reqvec_free(&rv);
    return code;
}

static int with_ctx(const struct vg_config *cfg, int (*fn)(struct reg_ctx *, FILE *, bool),
                    bool flag)
{
    struct reg_ctx ctx;
    char err[1024];
    if (!reg_ctx_init(&ctx, cfg, err, sizeof err)) {
        fprintf(stderr, "vmgate-reg: %s\n", err);
        reg_ctx_close(&ctx);
        return REG_EXIT_CONFIG;
    }
    int code = fn(&ctx, stdout, flag);
    reg_ctx_close(&ctx);
    return code;
}

static int flag_cmd(const struct vg_config *cfg, int argc, char **argv, const char *flag,
                    int (*fn)(struct reg_ctx *, FILE *, bool))
{
    bool set = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], flag) == 0)
            set = true;
        else {
            fprintf(stderr, "vmgate-reg: %s: unknown argument '%s'\n", argv[0], argv[i]);
            return REG_EXIT_USAGE;
        }
    }
    return with_ctx(cfg, fn, set);
}

static int cmd_simple(const struct vg_config *cfg, const char *what)
{
    struct reg_ctx ctx;
    char err[1024];
    int code = REG_EXIT_OK;
    if (!reg_ctx_init(&ctx, cfg, err, sizeof err)) {
        fprintf(stderr, "vmgate-reg: %s\n", err);
        reg_ctx_close(&ctx);
        return REG_EXIT_CONFIG;
    }
    if (strcmp(what, "daemon") == 0) {
        code = reg_daemon_run(&ctx);
    } else if (strcmp(what, "heartbeat") == 0) {
        enum reg_result r = reg_heartbeat(&ctx, err, sizeof err);
        if (r != REG_OK)
            fprintf(stderr, "vmgate-reg: heartbeat: %s\n", err);
        code = reg_result_exit(r);
    } else if (strcmp(what, "replay") == 0) {
        long left = reg_replay(&ctx);
        if (left > 0)
            fprintf(stderr, "vmgate-reg: %ld change(s) still queued\n", left);
        code = left < 0 ? REG_EXIT_ERROR : left > 0 ? REG_EXIT_QUEUED : REG_EXIT_OK;
    } else if (strcmp(what, "check-config") == 0) {
        if (verbosity >= 1)
            printf("configuration and key %s OK; host %s, %zu zone(s)\n", ctx.eng.key.name,
                   ctx.eng.id.host, cfg->nzones);
    }
    reg_ctx_close(&ctx);
    return code;
}

/* ---- hooks ------------------------------------------------------------------------------- */

static char *read_stdin(size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = vg_malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= 16u << 20)
                break;
            char *g = vg_realloc(buf, cap * 2);
            if (g == NULL)
                break;
            buf = g;
            cap *= 2;
        }
        ssize_t r = read(0, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

static bool migrating_marker(const struct vg_config *cfg, const char *domain, bool create,
                             bool remove)
{
    char dir[4200], path[4500], err[256];
    snprintf(dir, sizeof dir, "%s/migrating", cfg->state_dir);
    snprintf(path, sizeof path, "%s/%s", dir, domain);
    if (create) {
        if (!vg_file_mkdirs(dir, err, sizeof err))
            return false;
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
        if (fd >= 0)
            close(fd);
        return fd >= 0;
    }
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (remove)
        unlink(path);
    return exists;
}

static int cmd_libvirt_hook(const struct vg_config *cfg, int argc, char **argv, bool direct)
{
    if (argc < 5 || strcmp(argv[1], "qemu") != 0) {
        fprintf(stderr, "vmgate-reg: usage: libvirt-hook qemu DOMAIN OPERATION SUBOPERATION "
                        "[EXTRA]\n");
        return REG_EXIT_USAGE;
    }
    const char *domain = argv[2], *op = argv[3];
    size_t len = 0;
    char *xml = read_stdin(&len); /* always drain what libvirt writes */
    int code = REG_EXIT_OK;
    struct reqvec rv = {0};
    struct reg_vmspec spec;
    char err[512];

    memset(&spec, 0, sizeof spec);
    if (strchr(domain, '/') != NULL || domain[0] == '.' || domain[0] == '\0') {
        fprintf(stderr, "vmgate-reg: libvirt-hook: bad domain name '%s'\n", domain);
        code = REG_EXIT_DATAERR;
        goto done;
    }
    if (strcmp(op, "migrate") == 0) {
        /* the incoming side of a migration: the VM will start here while the source still owns
         * its name; "started" then takes it over */
        migrating_marker(cfg, domain, true, false);
        goto done;
    }
    bool start = strcmp(op, "started") == 0 || strcmp(op, "reconnect") == 0;
    bool stop = strcmp(op, "stopped") == 0 || strcmp(op, "release") == 0;
    if (!start && !stop)
        goto done;
    struct reg_req *r = req_push(&rv);
    if (r == NULL) {
        code = REG_EXIT_ERROR;
        goto done;
    }
    if (!reg_name_resolve(cfg, domain, r->name, &r->zone, err, sizeof err)) {
        fprintf(stderr, "vmgate-reg: libvirt-hook: domain %s cannot be a VM name: %s\n", domain,
                err);
        code = start ? REG_EXIT_DATAERR : REG_EXIT_OK;
        goto done;
    }
    if (stop) {
        migrating_marker(cfg, domain, false, true);
        char path[4500];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", cfg->vm_dir, r->name);
        if (stat(path, &st) < 0) {
            vg_info("libvirt-hook: %s %s: not registered by this host", domain, op);
            goto done;
        }
        r->del = true;
        code = submit(cfg, rv.v, rv.n, direct, "withdrawn");
        goto done;
    }
    if (xml == NULL || !reg_libvirt_parse(xml, len, &spec, err, sizeof err)) {
        fprintf(stderr, "vmgate-reg: libvirt-hook: %s: %s\n", domain, xml ? err : "no XML");
        code = REG_EXIT_DATAERR;
        goto done;
    }
    if (strcmp(spec.name, domain) != 0)
        vg_warn("libvirt-hook: argument %s but XML names %s; using %s", domain, spec.name, domain);
    if (spec.channel[0] == '\0') {
        vg_info("libvirt-hook: %s has no vmgate channel (<channel type='unix'> with target name "
                REG_VMGATE_PORT_NAME "*) and no <vsock>: not registered", domain);
        goto done;
    }
    bool takeover = migrating_marker(cfg, domain, false, true);
    if (!make_add(cfg, r, domain, spec.channel, NULL, takeover, &spec.sets)) {
        code = REG_EXIT_DATAERR;
        goto done;
    }
    code = submit(cfg, rv.v, rv.n, direct, takeover ? "taken over" : "published");
done:
    reg_sets_clear(&spec.sets);
    vg_free(xml);
    reqvec_free(&rv);
    return code;
}

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

static int cmd_qemu(const struct vg_config *cfg, int argc, char **argv, bool direct)
{
    static const struct option opts[] = {{"takeover", no_argument, NULL, 'T'},
                                         {"name", required_argument, NULL, 'N'},
                                         {"channel", required_argument, NULL, 'C'},
                                         {"ports", required_argument, NULL, 'P'},
                                         {"allow-out", required_argument, NULL, 'O'},
                                         {"set", required_argument, NULL, 'S'},
                                         {NULL, 0, NULL, 0}};
    const char *name = NULL, *channel = NULL;
    bool takeover = false;
    struct reg_sets sets = {0};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case 'T': takeover = true; break;
        case 'N': name = optarg; break;
        case 'C': channel = optarg; break;
        case 'P':
        case 'O':
        case 'S':
            if (!entry_option(&sets, c, optarg)) {
                reg_sets_clear(&sets);
                return REG_EXIT_DATAERR;
            }
            break;
        default: reg_sets_clear(&sets); return REG_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "vmgate-reg: usage: qemu [--takeover] [--name NAME] [--channel SPEC] "
                        "[--ports LIST] [--allow-out LIST] [--set KEY=VALUE] -- QEMU-COMMAND...\n");
        reg_sets_clear(&sets);
        return REG_EXIT_USAGE;
    }
    char **qargv = argv + optind;
    int qargc = argc - optind;
    struct reg_vmspec spec;
    char err[512];
    if (!reg_qemu_parse(qargc, qargv, &spec, err, sizeof err) && name == NULL) {
        fprintf(stderr, "vmgate-reg: qemu: %s\n", err);
        reg_sets_clear(&sets);
        return REG_EXIT_DATAERR;
    }
    if (name)
        snprintf(spec.name, sizeof spec.name, "%s", name);
    if (channel)
        snprintf(spec.channel, sizeof spec.channel, "%s", channel);
    if (spec.channel[0] == '\0') {
        fprintf(stderr, "vmgate-reg: qemu: no channel on the command line (-device "
                        "virtserialport,name=" REG_VMGATE_PORT_NAME ".*,chardev=… with -chardev "
                        "socket,path=…, or vhost-vsock guest-cid=…) and no --channel\n");
        reg_sets_clear(&sets);
        return REG_EXIT_DATAERR;
    }
    struct reqvec rv = {0};
    struct reg_req *r = req_push(&rv);
    bool made = r && make_add(cfg, r, spec.name, spec.channel, spec.qmp[0] ? spec.qmp : NULL,
                              takeover, &sets);
    reg_sets_clear(&sets);
    if (!made) {
        reqvec_free(&rv);
        return REG_EXIT_DATAERR;
    }

    /* published before QEMU starts, so the name exists for the whole time QEMU runs (a client
     * that comes too early finds the channel not yet up, as with any booting VM) */
    int rc = submit(cfg, rv.v, rv.n, direct, "published");
    bool registered = rc == REG_EXIT_OK || rc == REG_EXIT_QUEUED;
    if (!registered)
        fprintf(stderr, "vmgate-reg: qemu: %s runs unregistered\n", r->name);

    struct sigaction sa = {.sa_handler = forward_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    fflush(NULL);
    pid_t pid = fork();
    int status = 0;
    if (pid < 0) {
        fprintf(stderr, "vmgate-reg: fork: %s\n", strerror(errno));
        status = REG_EXIT_ERROR << 8;
        goto withdraw;
    }
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        execvp(qargv[0], qargv);
        fprintf(stderr, "vmgate-reg: %s: %s\n", qargv[0], strerror(errno));
        _exit(127);
    }
    child_pid = pid;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    child_pid = 0;
withdraw:
    if (registered) {
        struct reqvec dv = {0};
        struct reg_req *d = req_push(&dv);
        if (d) {
            d->del = true;
            snprintf(d->name, sizeof d->name, "%s", r->name);
            d->zone = r->zone;
            submit(cfg, dv.v, dv.n, direct, "withdrawn");
        }
        reqvec_free(&dv);
    }
    reqvec_free(&rv);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return REG_EXIT_ERROR;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"direct", no_argument, NULL, 'D'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    const char *config = getenv("VMGATE_CONFIG");
    bool direct = false;
    int c;
    while ((c = getopt_long(argc, argv, "+c:vqhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'v': verbosity++; break;
        case 'q': verbosity = 0; break;
        case 'D': direct = true; break;
        case 'h': usage(stdout); return REG_EXIT_OK;
        case 'V': puts("vmgate-reg " VMGATE_VERSION); return REG_EXIT_OK;
        default: usage(stderr); return REG_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return REG_EXIT_USAGE;
    }
    int cargc = argc - optind;
    char **cargv = argv + optind;
    const char *cmd = cargv[0];
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return REG_EXIT_OK;
    }
    for (int i = 1; i < cargc; i++) {
        if (strcmp(cargv[i], "--") == 0)
            break;
        if (strcmp(cargv[i], "--help") == 0 || strcmp(cargv[i], "-h") == 0) {
            usage(stdout);
            return REG_EXIT_OK;
        }
    }
    int level = verbosity == 0 ? VG_LOG_ERR : verbosity == 1 ? VG_LOG_NOTICE
                                          : verbosity == 2   ? VG_LOG_INFO
                                                             : VG_LOG_DEBUG;
    vg_log_open("vmgate-reg", level, false);

    char err[1024];
    struct vg_config *cfg = vg_config_load(config ? config : DEFAULT_CONFIG, err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "vmgate-reg: %s\n", err);
        return REG_EXIT_CONFIG;
    }
    if (!reg_config_check(cfg, err, sizeof err)) {
        fprintf(stderr, "vmgate-reg: %s: %s\n", config ? config : DEFAULT_CONFIG, err);
        vg_config_free(cfg);
        return REG_EXIT_CONFIG;
    }
    if (cfg->log_level && verbosity == 1 && strcmp(cmd, "daemon") == 0)
        vg_log_max = vg_log_level_parse(cfg->log_level);

    int code;
    if (strcmp(cmd, "add") == 0)
        code = cmd_add(cfg, cargc, cargv, direct);
    else if (strcmp(cmd, "del") == 0)
        code = cmd_del(cfg, cargc, cargv, direct);
    else if (strcmp(cmd, "list") == 0)
        code = flag_cmd(cfg, cargc, cargv, "--all", reg_list);
    else if (strcmp(cmd, "sync") == 0)
        code = flag_cmd(cfg, cargc, cargv, "--dry-run", reg_sync);
    else if (strcmp(cmd, "gc") == 0)
        code = flag_cmd(cfg, cargc, cargv, "--dry-run", reg_gc);
    else if (strcmp(cmd, "libvirt-hook") == 0)
        code = cmd_libvirt_hook(cfg, cargc, cargv, direct);
    else if (strcmp(cmd, "qemu") == 0)
        code = cmd_qemu(cfg, cargc, cargv, direct);
    else if (strcmp(cmd, "daemon") == 0 || strcmp(cmd, "heartbeat") == 0 ||
             strcmp(cmd, "replay") == 0 || strcmp(cmd, "check-config") == 0) {
        if (cargc != 1) {
            fprintf(stderr, "vmgate-reg: %s takes no arguments\n", cmd);
            code = REG_EXIT_USAGE;
        } else {
            code = cmd_simple(cfg, cmd);
        }
    } else {
        fprintf(stderr, "vmgate-reg: unknown command '%s' (see --help)\n", cmd);
        code = REG_EXIT_USAGE;
    }
    vg_config_free(cfg);
    return code;
}
