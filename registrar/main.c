/* vmgate-reg — publish and withdraw VM names in DNS; see --help and docs/registrar.md. */
#include "reg_cli.h"
#include "reg_daemon.h"
#include "reg_libvirt.h"
#include "reg_qemu.h"
#include "vg_log.h"
#include "vg_version.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- add, del ---------------------------------------------------------------------------- */

static FILE *open_batch(const char *path)
{
    if (strcmp(path, "-") == 0)
        return stdin;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        reg_cli_error("%s: %s", path, strerror(errno));
    return f;
}

/* Every line of an add --batch file as a change; false when a line was refused (each said why). */
static bool read_add_batch(const struct vg_config *cfg, FILE *f, const char *path, bool takeover,
                           struct reg_changes *cs)
{
    char line[2048];
    unsigned lineno = 0;
    bool good = true;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        struct reg_change *c = reg_changes_push(cs);
        if (c == NULL) {
            reg_cli_error("%s:%u: entry rejected", path, lineno);
            good = false;
            continue;
        }
        switch (reg_change_batch_add(c, cfg, line, takeover)) {
        case REG_LINE_OK: continue;
        case REG_LINE_BLANK: break;
        case REG_LINE_MALFORMED:
            reg_cli_error("%s:%u: %s", path, lineno, c->detail);
            good = false;
            break;
        case REG_LINE_REJECTED:
            reg_cli_rejected(c);
            reg_cli_error("%s:%u: entry rejected", path, lineno);
            good = false;
            break;
        }
        reg_changes_pop(cs);
    }
    return good;
}

static int cmd_add(const struct vg_config *cfg, int argc, char **argv, bool direct)
{
    static const struct option opts[] = {{"channel", required_argument, NULL, 'C'},
                                         {"qmp", required_argument, NULL, 'Q'},
                                         {"takeover", no_argument, NULL, 'T'},
                                         {"batch", required_argument, NULL, 'B'},
                                         {"ports", required_argument, NULL, 'S'},
                                         {"allow-out", required_argument, NULL, 'S'},
                                         {"set", required_argument, NULL, 'S'},
                                         {NULL, 0, NULL, 0}};
    const char *channel = NULL, *qmp = NULL, *batch = NULL;
    bool takeover = false;
    struct reg_sets sets = {0};
    struct reg_changes cs = {0};
    char err[600];
    int c, li, code = REG_EXIT_DATAERR;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        switch (c) {
        case 'C': channel = optarg; break;
        case 'Q': qmp = optarg; break;
        case 'T': takeover = true; break;
        case 'B': batch = optarg; break;
        case 'S':
            if (!reg_sets_add_option(&sets, opts[li].name, optarg, err, sizeof err)) {
                reg_cli_error("%s", err);
                goto done;
            }
            break;
        default: code = REG_EXIT_USAGE; goto done;
        }
    }
    if (batch) {
        if (optind != argc || channel || qmp || sets.n) {
            reg_cli_error("add --batch takes no NAME, --channel, --qmp or VM table keys (give "
                          "them per line)");
            code = REG_EXIT_USAGE;
            goto done;
        }
        FILE *f = open_batch(batch);
        if (f == NULL)
            goto done;
        bool good = read_add_batch(cfg, f, batch, takeover, &cs);
        if (f != stdin)
            fclose(f);
        if (!good)
            goto done;
    } else {
        if (optind + 1 != argc || channel == NULL) {
            reg_cli_error("usage: add NAME --channel SPEC [--qmp PATH] [--ports LIST] "
                          "[--allow-out LIST] [--set KEY=VALUE] [--takeover]");
            code = REG_EXIT_USAGE;
            goto done;
        }
        struct reg_change *ch = reg_changes_push(&cs);
        if (ch == NULL)
            goto done;
        if (!reg_change_add(ch, cfg, argv[optind], channel, qmp, takeover, &sets)) {
            reg_cli_rejected(ch);
            goto done;
        }
    }
    code = reg_cli_submit(cfg, cs.v, cs.n, direct,
                          takeover ? "taken over" : "published");
done:
    reg_sets_clear(&sets);
    reg_changes_free(&cs);
    return code;
}

static int cmd_del(const struct vg_config *cfg, int argc, char **argv, bool direct)
{
    static const struct option opts[] = {{"batch", required_argument, NULL, 'B'},
                                         {NULL, 0, NULL, 0}};
    const char *batch = NULL;
    struct reg_changes cs = {0};
    char line[1024];
    FILE *f = NULL;
    int c, code = REG_EXIT_DATAERR;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'B')
            return REG_EXIT_USAGE;
        batch = optarg;
    }
    if (batch && (f = open_batch(batch)) == NULL)
        return REG_EXIT_DATAERR;
    if (!batch && optind >= argc) {
        reg_cli_error("usage: del NAME... | del --batch FILE");
        return REG_EXIT_USAGE;
    }
    for (int i = optind;; i++) {
        struct reg_change *ch;
        enum reg_line st;
        if (batch ? fgets(line, sizeof line, f) == NULL : i >= argc)
            break;
        if ((ch = reg_changes_push(&cs)) == NULL)
            goto done;
        if (batch)
            st = reg_change_batch_del(ch, cfg, line);
        else
            st = reg_change_del(ch, cfg, argv[i]) ? REG_LINE_OK : REG_LINE_REJECTED;
        if (st == REG_LINE_BLANK) {
            reg_changes_pop(&cs);
        } else if (st != REG_LINE_OK) {
            reg_cli_rejected(ch);
            goto done;
        }
    }
    code = reg_cli_submit(cfg, cs.v, cs.n, direct, "withdrawn");
done:
    if (f && f != stdin)
        fclose(f);
    reg_changes_free(&cs);
    return code;
}

static int run_list(struct reg_ctx *ctx, bool all)
{
    struct reg_listing l = {0};
    int code = reg_list(ctx, &l);
    reg_cli_listing(&l, all);
    reg_listing_free(&l);
    return code;
}

static int run_sync(struct reg_ctx *ctx, bool dry_run)
{
    struct reg_outcomes o = {0};
    int code = reg_sync(ctx, dry_run, &o);
    reg_cli_outcomes(&o);
    reg_outcomes_free(&o);
    return code;
}

static int run_gc(struct reg_ctx *ctx, bool dry_run)
{
    struct reg_outcomes o = {0};
    int code = reg_gc(ctx, dry_run, &o);
    reg_cli_outcomes(&o);
    reg_outcomes_free(&o);
    return code;
}

static int with_ctx(const struct vg_config *cfg, int (*fn)(struct reg_ctx *, bool), bool flag)
{
    struct reg_ctx ctx;
    char err[1024];
    if (!reg_ctx_init(&ctx, cfg, err, sizeof err)) {
        reg_cli_error("%s", err);
        reg_ctx_close(&ctx);
        return REG_EXIT_CONFIG;
    }
    int code = fn(&ctx, flag);
    reg_ctx_close(&ctx);
    return code;
}

static int flag_cmd(const struct vg_config *cfg, int argc, char **argv, const char *flag,
                    int (*fn)(struct reg_ctx *, bool))
{
    bool set = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], flag) == 0)
            set = true;
        else {
            reg_cli_error("%s: unknown argument '%s'", argv[0], argv[i]);
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
        reg_cli_error("%s", err);
        reg_ctx_close(&ctx);
        return REG_EXIT_CONFIG;
    }
    if (strcmp(what, "daemon") == 0) {
        code = reg_daemon_run(&ctx);
    } else if (strcmp(what, "heartbeat") == 0) {
        enum reg_result r = reg_heartbeat(&ctx, err, sizeof err);
        if (r != REG_OK)
            reg_cli_error("heartbeat: %s", err);
        code = reg_result_exit(r);
    } else if (strcmp(what, "replay") == 0) {
        long left = reg_replay(&ctx);
        if (left > 0)
            reg_cli_error("%ld change(s) still queued", left);
        code = left < 0 ? REG_EXIT_ERROR : left > 0 ? REG_EXIT_QUEUED : REG_EXIT_OK;
    } else if (strcmp(what, "check-config") == 0) {
        reg_cli_config_ok(&ctx);
    }
    reg_ctx_close(&ctx);
    return code;
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
    int c;
    bool direct = false;
    while ((c = getopt_long(argc, argv, "+c:vqhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'v': reg_cli_verbosity++; break;
        case 'q': reg_cli_verbosity = 0; break;
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
    int level = reg_cli_verbosity == 0   ? VG_LOG_ERR
                : reg_cli_verbosity == 1 ? VG_LOG_NOTICE
                : reg_cli_verbosity == 2 ? VG_LOG_INFO
                                         : VG_LOG_DEBUG;
    vg_log_open("vmgate-reg", level, false);

    char err[1024];
    struct vg_config *cfg = vg_config_load(config ? config : DEFAULT_CONFIG, err, sizeof err);
    if (cfg == NULL) {
        reg_cli_error("%s", err);
        return REG_EXIT_CONFIG;
    }
    if (!reg_config_check(cfg, err, sizeof err)) {
        reg_cli_error("%s: %s", config ? config : DEFAULT_CONFIG, err);
        vg_config_free(cfg);
        return REG_EXIT_CONFIG;
    }
    if (cfg->log_level && reg_cli_verbosity == 1 && strcmp(cmd, "daemon") == 0)
        vg_log_max = vg_log_level_parse(cfg->log_level);

    int code;
    if (strcmp(cmd, "add") == 0)
        code = cmd_add(cfg, cargc, cargv, direct);
    else if (strcmp(cmd, "del") == 0)
        code = cmd_del(cfg, cargc, cargv, direct);
    else if (strcmp(cmd, "list") == 0)
        code = flag_cmd(cfg, cargc, cargv, "--all", run_list);
    else if (strcmp(cmd, "sync") == 0)
        code = flag_cmd(cfg, cargc, cargv, "--dry-run", run_sync);
    else if (strcmp(cmd, "gc") == 0)
        code = flag_cmd(cfg, cargc, cargv, "--dry-run", run_gc);
    else if (strcmp(cmd, "libvirt-hook") == 0)
        code = reg_libvirt_hook(&(struct reg_cli_call){cfg, cargc, cargv, direct});
    else if (strcmp(cmd, "qemu") == 0)
        code = reg_qemu_command(&(struct reg_cli_call){cfg, cargc, cargv, direct});
    else if (strcmp(cmd, "daemon") == 0 || strcmp(cmd, "heartbeat") == 0 ||
             strcmp(cmd, "replay") == 0 || strcmp(cmd, "check-config") == 0) {
        if (cargc != 1) {
            reg_cli_error("%s takes no arguments", cmd);
            code = REG_EXIT_USAGE;
        } else {
            code = cmd_simple(cfg, cmd);
        }
    } else {
        reg_cli_error("unknown command '%s' (see --help)", cmd);
        code = REG_EXIT_USAGE;
    }
    vg_config_free(cfg);
    return code;
}
