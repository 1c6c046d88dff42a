/* vmgate-reg — publish and withdraw VM names in DNS; see --help and docs/registrar.md.
 *
 * main() reads the global options, finds the command in the table below, loads what the command
 * needs (the configuration, the registrar context) and runs it.  Commands turn their arguments
 * into changes (reg_change.h) or call the core (reg_cmd.h), and print through reg_cli.h.
 */
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
        case REG_LINE_OK:
            continue;
        case REG_LINE_BLANK:
            break;
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

static int cmd_add(const struct reg_cli_call *call)
{
    static const struct option opts[] = {
        {"channel", required_argument, NULL, 'C'}, {"qmp", required_argument, NULL, 'Q'},
        {"takeover", no_argument, NULL, 'T'},      {"batch", required_argument, NULL, 'B'},
        {"ports", required_argument, NULL, 'S'},   {"allow-out", required_argument, NULL, 'S'},
        {"set", required_argument, NULL, 'S'},     {NULL, 0, NULL, 0}};
    const char *channel = NULL, *qmp = NULL, *batch = NULL;
    bool takeover = false;
    struct reg_sets sets = {0};
    struct reg_changes cs = {0};
    char err[600];
    int c, li, code = REG_EXIT_DATAERR;
    optind = 0;
    while ((c = getopt_long(call->argc, call->argv, "", opts, &li)) != -1) {
        switch (c) {
        case 'C':
            channel = optarg;
            break;
        case 'Q':
            qmp = optarg;
            break;
        case 'T':
            takeover = true;
            break;
        case 'B':
            batch = optarg;
            break;
        case 'S':
            if (!reg_sets_add_option(&sets, opts[li].name, optarg, err, sizeof err)) {
                reg_cli_error("%s", err);
                goto done;
            }
            break;
        default:
            code = REG_EXIT_USAGE;
            goto done;
        }
    }
    if (batch) {
        if (optind != call->argc || channel || qmp || sets.n) {
            reg_cli_error("add --batch takes no NAME, --channel, --qmp or VM table keys (give "
                          "them per line)");
            code = REG_EXIT_USAGE;
            goto done;
        }
        FILE *f = open_batch(batch);
        if (f == NULL)
            goto done;
        bool good = read_add_batch(call->cfg, f, batch, takeover, &cs);
        if (f != stdin)
            fclose(f);
        if (!good)
            goto done;
    } else {
        if (optind + 1 != call->argc || channel == NULL) {
            reg_cli_error("usage: add NAME --channel SPEC [--qmp PATH] [--ports LIST] "
                          "[--allow-out LIST] [--set KEY=VALUE] [--takeover]");
            code = REG_EXIT_USAGE;
            goto done;
        }
        struct reg_change *ch = reg_changes_push(&cs);
        if (ch == NULL)
            goto done;
        if (!reg_change_add(ch, call->cfg, call->argv[optind], channel, qmp, takeover, &sets)) {
            reg_cli_rejected(ch);
            goto done;
        }
    }
    code =
        reg_cli_submit(call->cfg, cs.v, cs.n, call->direct, takeover ? "taken over" : "published");
done:
    reg_sets_clear(&sets);
    reg_changes_free(&cs);
    return code;
}

static int cmd_del(const struct reg_cli_call *call)
{
    static const struct option opts[] = {{"batch", required_argument, NULL, 'B'},
                                         {NULL, 0, NULL, 0}};
    const char *batch = NULL;
    struct reg_changes cs = {0};
    char line[1024];
    FILE *f = NULL;
    int c, code = REG_EXIT_DATAERR;
    optind = 0;
    while ((c = getopt_long(call->argc, call->argv, "", opts, NULL)) != -1) {
        if (c != 'B')
            return REG_EXIT_USAGE;
        batch = optarg;
    }
    if (batch && (f = open_batch(batch)) == NULL)
        return REG_EXIT_DATAERR;
    if (!batch && optind >= call->argc) {
        reg_cli_error("usage: del NAME... | del --batch FILE");
        return REG_EXIT_USAGE;
    }
    for (int i = optind;; i++) {
        struct reg_change *ch;
        enum reg_line st;
        if (batch ? fgets(line, sizeof line, f) == NULL : i >= call->argc)
            break;
        if ((ch = reg_changes_push(&cs)) == NULL)
            goto done;
        if (batch)
            st = reg_change_batch_del(ch, call->cfg, line);
        else
            st = reg_change_del(ch, call->cfg, call->argv[i]) ? REG_LINE_OK : REG_LINE_REJECTED;
        if (st == REG_LINE_BLANK) {
            reg_changes_pop(&cs);
        } else if (st != REG_LINE_OK) {
            reg_cli_rejected(ch);
            goto done;
        }
    }
    code = reg_cli_submit(call->cfg, cs.v, cs.n, call->direct, "withdrawn");
done:
    if (f && f != stdin)
        fclose(f);
    reg_changes_free(&cs);
    return code;
}

/* ---- the commands on the registrar context ------------------------------------------------ */

static int cmd_list(const struct reg_cli_call *call)
{
    struct reg_listing l = {0};
    int code = reg_list(call->ctx, &l);
    reg_cli_listing(&l, call->flag);
    reg_listing_free(&l);
    return code;
}

static int cmd_sync(const struct reg_cli_call *call)
{
    struct reg_outcomes o = {0};
    int code = reg_sync(call->ctx, call->flag, &o);
    reg_cli_outcomes(&o);
    reg_outcomes_free(&o);
    return code;
}

static int cmd_gc(const struct reg_cli_call *call)
{
    struct reg_outcomes o = {0};
    int code = reg_gc(call->ctx, call->flag, &o);
    reg_cli_outcomes(&o);
    reg_outcomes_free(&o);
    return code;
}

static int cmd_heartbeat(const struct reg_cli_call *call)
{
    char err[1024];
    enum reg_result r = reg_heartbeat(call->ctx, err, sizeof err);
    if (r != REG_OK)
        reg_cli_error("heartbeat: %s", err);
    return reg_result_exit(r);
}

static int cmd_replay(const struct reg_cli_call *call)
{
    long left = reg_replay(call->ctx);
    if (left > 0)
        reg_cli_error("%ld change(s) still queued", left);
    return left < 0 ? REG_EXIT_ERROR : left > 0 ? REG_EXIT_QUEUED : REG_EXIT_OK;
}

static int cmd_daemon(const struct reg_cli_call *call)
{
    /* [gateway] log-level applies to the daemon unless -v or -q said otherwise */
    if (call->cfg->log_level && reg_cli_verbosity == 1)
        vg_log_max = vg_log_level_parse(call->cfg->log_level);
    return reg_daemon_run(call->ctx);
}

static int cmd_check_config(const struct reg_cli_call *call)
{
    reg_cli_config_ok(call->ctx);
    return REG_EXIT_OK;
}

static int cmd_help(const struct reg_cli_call *call);

/* ---- the table ----------------------------------------------------------------------------- */

static const struct reg_cli_command commands[] = {
    {"add",
     cmd_add,
     REG_CLI_CONFIG,
     NULL,
     {{"add NAME --channel SPEC [--qmp PATH] [--ports LIST] [--allow-out LIST]\n"
       "[--set KEY=VALUE] [--takeover]",
       "VM table entry + DNS records (A/AAAA, owner TXT, SRV, heartbeat); an\n"
       "existing entry keeps every key and comment the add does not set"},
      {"add --batch FILE [--takeover]", "many at once; FILE ('-' = stdin) has lines\n"
                                        "'NAME SPEC [qmp=PATH] [KEY=VALUE...]'"}}},
    {"del",
     cmd_del,
     REG_CLI_CONFIG,
     NULL,
     {{"del NAME...", "withdraw (only this host's VMs are ever deleted)"},
      {"del --batch FILE", "names one per line"}}},
    {"list",
     cmd_list,
     REG_CLI_CTX,
     "--all",
     {{"list [--all]", "this host's VM table with each VM's DNS state (--all: whole zone)"}}},
    {"sync",
     cmd_sync,
     REG_CLI_CTX,
     "--dry-run",
     {{"sync [--dry-run]", "reconcile the VM table and the zone (AXFR) in both directions"}}},
    {"gc",
     cmd_gc,
     REG_CLI_CTX,
     "--dry-run",
     {{"gc [--dry-run]", "withdraw VMs of hosts whose heartbeat is older than gc-after"}}},
    {"heartbeat",
     cmd_heartbeat,
     REG_CLI_CTX,
     NULL,
     {{"heartbeat", "refresh this host's record now"}}},
    {"replay", cmd_replay, REG_CLI_CTX, NULL, {{"replay", "retry the journal once"}}},
    {"daemon",
     cmd_daemon,
     REG_CLI_CTX,
     NULL,
     {{"daemon", "serve add/del over STATE-DIR/reg.sock (batching), replay the journal\n"
                 "with back-off, heartbeat, gc; runs in the foreground"}}},
    {"libvirt-hook",
     reg_libvirt_hook,
     REG_CLI_CONFIG,
     NULL,
     {{"libvirt-hook qemu DOMAIN OP SUBOP [EXTRA]",
       "libvirt qemu hook (domain XML on stdin): registers at 'started' and\n"
       "'reconnect', withdraws at 'stopped' and 'release'; an incoming\n"
       "migration ('migrate' first) registers with --takeover"}}},
    {"qemu",
     reg_qemu_command,
     REG_CLI_CONFIG,
     NULL,
     {{"qemu [--takeover] [--name NAME] [--channel SPEC] [--ports LIST] [--allow-out LIST]\n"
       "[--set KEY=VALUE] -- QEMU-COMMAND...",
       "run QEMU, registered while it runs (name and channel from -name,\n"
       "virtserialport name=org.vmgate.*, vhost-vsock guest-cid, -qmp)"}}},
    {"check-config",
     cmd_check_config,
     REG_CLI_CTX,
     NULL,
     {{"check-config", "load the configuration and the key, then exit"}}},
    {"help", cmd_help, REG_CLI_NOTHING, NULL, {{NULL, NULL}}},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    reg_cli_usage(f, commands, NCOMMANDS, DEFAULT_CONFIG);
}

static int cmd_help(const struct reg_cli_call *call)
{
    (void)call;
    usage(stdout);
    return REG_EXIT_OK;
}

static const struct reg_cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* A REG_CLI_CTX command's arguments: its one flag, or nothing. */
static bool ctx_arguments(const struct reg_cli_command *cmd, struct reg_cli_call *call)
{
    for (int i = 1; i < call->argc; i++) {
        if (cmd->flag && strcmp(call->argv[i], cmd->flag) == 0) {
            call->flag = true;
        } else {
            if (cmd->flag)
                reg_cli_error("%s: unknown argument '%s'", cmd->name, call->argv[i]);
            else
                reg_cli_error("%s takes no arguments", cmd->name);
            return false;
        }
    }
    return true;
}

static int run_command(const struct reg_cli_command *cmd, struct reg_cli_call *call)
{
    struct reg_ctx ctx;
    char err[1024];
    int code;
    if (cmd->needs != REG_CLI_CTX)
        return cmd->run(call);
    if (!ctx_arguments(cmd, call))
        return REG_EXIT_USAGE;
    if (!reg_ctx_init(&ctx, call->cfg, err, sizeof err)) {
        reg_cli_error("%s", err);
        reg_ctx_close(&ctx);
        return REG_EXIT_CONFIG;
    }
    call->ctx = &ctx;
    code = cmd->run(call);
    call->ctx = NULL;
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
    struct reg_cli_call call = {0};
    int c;
    while ((c = getopt_long(argc, argv, "+c:vqhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'v':
            reg_cli_verbosity++;
            break;
        case 'q':
            reg_cli_verbosity = 0;
            break;
        case 'D':
            call.direct = true;
            break;
        case 'h':
            usage(stdout);
            return REG_EXIT_OK;
        case 'V':
            puts("vmgate-reg " VMGATE_VERSION);
            return REG_EXIT_OK;
        default:
            usage(stderr);
            return REG_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return REG_EXIT_USAGE;
    }
    call.argc = argc - optind;
    call.argv = argv + optind;
    const struct reg_cli_command *cmd = find_command(call.argv[0]);
    if (cmd && cmd->needs == REG_CLI_NOTHING)
        return cmd->run(&call);
    for (int i = 1; i < call.argc; i++) {
        if (strcmp(call.argv[i], "--") == 0)
            break;
        if (strcmp(call.argv[i], "--help") == 0 || strcmp(call.argv[i], "-h") == 0) {
            usage(stdout);
            return REG_EXIT_OK;
        }
    }
    int v = reg_cli_verbosity;
    vg_log_open("vmgate-reg",
                v == 0   ? VG_LOG_ERR
                : v == 1 ? VG_LOG_NOTICE
                : v == 2 ? VG_LOG_INFO
                         : VG_LOG_DEBUG,
                false);

    char err[1024];
    struct vg_config *cfg = vg_config_load(config ? config : DEFAULT_CONFIG, err, sizeof err);
    if (cfg == NULL) {
        reg_cli_error("%s", err);
        return REG_EXIT_CONFIG;
    }
    int code;
    if (!reg_config_check(cfg, err, sizeof err)) {
        reg_cli_error("%s: %s", config ? config : DEFAULT_CONFIG, err);
        code = REG_EXIT_CONFIG;
    } else if (cmd == NULL) {
        reg_cli_error("unknown command '%s' (see --help)", call.argv[0]);
        code = REG_EXIT_USAGE;
    } else {
        call.cfg = cfg;
        code = run_command(cmd, &call);
    }
    vg_config_free(cfg);
    return code;
}
