/* reg_cli — the command-line side of vmgate-reg: the shape of a command (main.c holds the table;
 * the hook commands in reg_libvirt.c and reg_qemu.c are rows of it), carrying out a command's
 * changes, and every line vmgate-reg writes on stdout and stderr.
 *
 * This is the one place that prints (besides vg_log's diagnostics and the messages getopt writes
 * itself): the core (reg_cmd, reg_engine, reg_daemon, …) and the hook commands return results or
 * call the functions below.  Formats (tests and users rely on them, byte for byte):
 *     errors              vmgate-reg: TEXT                                          stderr
 *     a change, -v        NAME: VERB[: DETAIL]                                      stdout
 *     a queued change     vmgate-reg: NAME: queued: DETAIL; the daemon will retry   stderr
 *     a failed change     vmgate-reg: NAME: RESULT: DETAIL                          stderr
 *     several changes     vmgate-reg: N request(s): D done, Q queued, F failed      stderr
 *     sync, gc            NAME(40) ACTION(12) RESULT(10) DETAIL                     stdout
 *     list                the table of reg_cli_listing                              stdout
 */
#ifndef REG_CLI_H
#define REG_CLI_H

#include "reg_change.h"
#include "reg_cmd.h"

#include <stdbool.h>
#include <stdio.h>

/* 0 with -q, 1 by default, 2 with -v (also report what succeeded), 3 with -vv (debug log). */
extern int reg_cli_verbosity;

/* ---- commands -------------------------------------------------------------------------------- */

/* What a command is run with. */
struct reg_cli_call {
    const struct vg_config *cfg;
    struct reg_ctx *ctx; /* REG_CLI_CTX commands: open; else NULL */
    int argc;
    char **argv; /* argv[0] is the command's name */
    bool direct; /* --direct: never hand changes to the daemon */
    bool flag;   /* REG_CLI_CTX commands: their one option was given */
};

enum reg_cli_needs {
    REG_CLI_NOTHING, /* runs before the configuration is loaded (help) */
    REG_CLI_CONFIG,  /* the configuration; the command parses its own arguments */
    REG_CLI_CTX,     /* the registrar context (key, identity, servers) opened by main, and no
                        arguments but `flag` */
};

struct reg_cli_command {
    const char *name;
    int (*run)(const struct reg_cli_call *call); /* the exit code */
    enum reg_cli_needs needs;
    const char *flag; /* REG_CLI_CTX: the one option it takes ("--all"), NULL for none */
    struct {
        const char *synopsis, *text; /* both: lines separated by '\n' */
    } help[2];                       /* --help; synopsis NULL = unused (no help: not listed) */
};

/* The --help text: the commands' help lines between the fixed parts. */
void reg_cli_usage(FILE *f, const struct reg_cli_command *cmds, size_t n, const char *config);

/* ---- carrying out changes ------------------------------------------------------------------- */

/* To the daemon when one listens (and not direct), else here (reg_apply with the journal); then
 * reported (reg_cli_report) with `verb` ("published", "withdrawn", …).  The exit code. */
int reg_cli_submit(const struct vg_config *cfg, struct reg_change *c, size_t n, bool direct,
                   const char *verb);

/* ---- printing ----------------------------------------------------------------------------- */

void reg_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A change that failed its checks (reg_change.h): "NAME: DETAIL", or DETAIL alone when the name
 * was the problem. */
void reg_cli_rejected(const struct reg_change *c);
/* One line per change (as above) and, for several, the summary; the exit code of the changes. */
int reg_cli_report(const struct reg_change *c, size_t n, const char *verb);
/* The lines of sync or gc. */
void reg_cli_outcomes(const struct reg_outcomes *o);
/* list; all: also every VM and host of the zones. */
void reg_cli_listing(const struct reg_listing *l, bool all);
/* check-config */
void reg_cli_config_ok(const struct reg_ctx *ctx);

#endif
