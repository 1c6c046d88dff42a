#include "reg_cli.h"

#include "reg_daemon.h"
#include "vg_alloc.h"
#include "vg_log.h"

#include <stdarg.h>
#include <string.h>

int reg_cli_verbosity = 1;

/* ---- --help ------------------------------------------------------------------------------- */

#define HELP_COLUMN 24 /* where the text of a command starts */

void reg_cli_usage(FILE *f, const struct reg_cli_command *cmds, size_t n, const char *config)
{
    fprintf(f, "usage: vmgate-reg [-c FILE] [-v|-q] [--direct] COMMAND [ARGS]\n"
               "\n"
               "Publishes this host's VMs in DNS (RFC 2136 UPDATE, TSIG) and keeps its VM table.\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < n; i++) {
        for (size_t h = 0; h < sizeof cmds[i].help / sizeof cmds[i].help[0]; h++) {
            const char *syn = cmds[i].help[h].synopsis, *t = cmds[i].help[h].text;
            if (syn == NULL)
                continue;
            /* the synopsis at column 2, its continuation lines at 6; a short one-line synopsis
             * shares its line with the text's first line */
            size_t len = strcspn(syn, "\n");
            int col = 2 + (int)len;
            fprintf(f, "  %.*s", (int)len, syn);
            for (syn += len; *syn == '\n'; syn += len) {
                len = strcspn(++syn, "\n");
                fprintf(f, "\n      %.*s", (int)len, syn);
                col = HELP_COLUMN;
            }
            if (col >= HELP_COLUMN) {
                fputc('\n', f);
                col = 0;
            }
            while (*t) {
                len = strcspn(t, "\n");
                fprintf(f, "%*s%.*s\n", HELP_COLUMN - col, "", (int)len, t);
                col = 0;
                t += len + (t[len] == '\n');
            }
        }
    }
    fprintf(
        f,
        "\n"
        "NAME: short (web1) or fully qualified (web1.vm.test.); letters, digits, hyphens.\n"
        "SPEC: tcp:ADDR | vsock:CID | vsock-mux:PATH | serial:PATH\n"
        "--ports 22,80,8000-8100: guest ports clients may reach; --allow-out NAME:PORTS,...: what "
        "the VM\n"
        "may reach; --set KEY=VALUE: any such VM table key; an empty value removes the key.\n"
        "\n"
        "options:\n"
        "  -c, --config FILE     configuration (default $VMGATE_CONFIG or %s)\n"
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
        "  12 BADSIG: wrong key secret       19 reply not believed (unsigned, TSIG, id;\n"
        "                                       commands that do not queue)\n"
        "  13 BADKEY: key unknown to server  64 usage   65 bad name/channel/XML   78 "
        "configuration\n"
        "  75 queued: no server answered (or its reply was not believed); the change is\n"
        "     journaled and the daemon retries it\n"
        "\n"
        "configuration keys:\n",
        config);
    vg_config_describe(f);
}

/* ---- carrying out changes ------------------------------------------------------------------- */

int reg_cli_submit(const struct vg_config *cfg, struct reg_change *c, size_t n, bool direct,
                   const char *verb)
{
    char err[1024];
    if (n == 0)
        return REG_EXIT_OK;
    if (!direct && reg_daemon_submit(cfg, c, n)) {
        vg_debug("handed %zu request(s) to the daemon", n);
    } else {
        struct reg_ctx ctx;
        struct reg_change **run = NULL;
        if (!reg_ctx_init(&ctx, cfg, err, sizeof err)) {
            reg_cli_error("%s", err);
            reg_ctx_close(&ctx);
            return REG_EXIT_CONFIG;
        }
        if ((run = reg_change_ptrs(c, n)) == NULL) {
            for (size_t i = 0; i < n; i++) {
                c[i].result = REG_ERROR;
                snprintf(c[i].detail, sizeof c[i].detail, "out of memory");
            }
        } else {
            reg_apply(&ctx, run, n, true);
        }
        vg_info("%lu UPDATE message(s)", ctx.eng.updates);
        vg_free(run);
        reg_ctx_close(&ctx);
    }
    return reg_cli_report(c, n, verb);
}

/* ---- printing ----------------------------------------------------------------------------- */

void reg_cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("vmgate-reg: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void reg_cli_rejected(const struct reg_change *c)
{
    if (c->zone)
        reg_cli_error("%s: %s", c->name, c->detail);
    else
        reg_cli_error("%s", c->detail);
}

int reg_cli_report(const struct reg_change *c, size_t n, const char *verb)
{
    size_t ok = 0, queued = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i].result == REG_OK) {
            ok++;
            if (reg_cli_verbosity >= 2)
                printf("%s: %s%s%s\n", c[i].name, verb, c[i].detail[0] ? ": " : "", c[i].detail);
        } else if (c[i].result == REG_QUEUED) {
            queued++;
            if (reg_cli_verbosity >= 1)
                reg_cli_error("%s: queued: %s; the daemon will retry", c[i].name, c[i].detail);
        } else {
            failed++;
            reg_cli_error("%s: %s: %s", c[i].name, reg_result_str(c[i].result), c[i].detail);
        }
    }
    if (n > 1 && reg_cli_verbosity >= 1)
        reg_cli_error("%zu request(s): %zu done, %zu queued, %zu failed", n, ok, queued, failed);
    return reg_changes_exit(c, n);
}

void reg_cli_outcomes(const struct reg_outcomes *o)
{
    for (size_t i = 0; i < o->n; i++)
        printf("%-40s %-12s %-10s %s\n", o->v[i].name, o->v[i].action,
               reg_result_str(o->v[i].result), o->v[i].detail);
    if (o->err[0])
        reg_cli_error("%s", o->err);
}

void reg_cli_listing(const struct reg_listing *l, bool all)
{
    if (l->err[0]) {
        reg_cli_error("%s", l->err);
        return;
    }
    for (size_t zi = 0; zi < l->nzones; zi++)
        if (l->zones[zi].z == NULL)
            reg_cli_error("%s: %s: DNS state unknown", l->zones[zi].zone, l->zones[zi].err);
    printf("%-40s %-10s %s\n", "# NAME", "DNS", "CHANNEL");
    for (size_t i = 0; i < l->table.n; i++) {
        const struct reg_change *e = l->vms[i].entry;
        printf("%-40s %-10s %s%s%s\n", e->name, l->vms[i].state, e->channel ? e->channel : "-",
               e->qmp ? " qmp=" : "", e->qmp ? e->qmp : "");
    }
    for (size_t j = 0; j < l->journal.n; j++)
        if (l->journal.v[j].kind == REG_CHANGE_DEL)
            printf("%-40s %-10s %s\n", l->journal.v[j].name, "queued-del", "-");
    for (size_t zi = 0; all && zi < l->nzones; zi++) {
        const struct reg_zone *z = l->zones[zi].z;
        if (z == NULL)
            continue;
        printf("# zone %s: %zu VM(s), %zu host(s)\n", z->zone, z->nvms, z->nhosts);
        for (size_t h = 0; h < z->nhosts; h++) {
            if (z->hosts[h].heartbeat >= 0)
                printf("host %-35s heartbeat %lld s ago\n", z->hosts[h].host,
                       l->now - z->hosts[h].heartbeat);
            else
                printf("host %-35s no heartbeat\n", z->hosts[h].host);
        }
        for (size_t v = 0; v < z->nvms; v++)
            printf("vm   %-35s owner=%s\n", z->vms[v].name,
                   z->vms[v].owner[0] ? z->vms[v].owner : "-");
    }
}

void reg_cli_config_ok(const struct reg_ctx *ctx)
{
    if (reg_cli_verbosity >= 1)
        printf("configuration and key %s OK; host %s, %zu zone(s)\n", ctx->eng.key.name,
               ctx->eng.id.host, ctx->cfg->nzones);
}
