/* reg_cmd — what vmgate-reg's commands do, shared by the direct path (reg_cli.c) and the daemon:
 * carry out changes in DNS (reg_engine), then keep the VM table and the journal in step with the
 * outcome; replay, heartbeat, sync, gc and list.  Nothing here prints: every command returns its
 * results (in the changes, or in struct reg_outcomes / reg_listing) and an exit code, and
 * reg_cli.c prints them; diagnostics go to vg_log.
 *
 * Outcome → files (reg_apply):
 *     add  done or queued        → VM table entry written
 *     del  any outcome           → VM table entry removed (the VM is gone from this host)
 *     no server answered / SERVFAIL → journaled (result becomes REG_QUEUED), when journaling
 *     any other outcome          → the name's journal entry, if any, is dropped
 */
#ifndef REG_CMD_H
#define REG_CMD_H

#include "reg_change.h"
#include "reg_engine.h"
#include "vg_config.h"

struct reg_ctx {
    const struct vg_config *cfg;
    struct reg_engine eng;
    char journal_dir[4096];
};

/* Registrar keys present and well-formed ([dns] zone/server/tsig-key-file, [host] name/address,
 * [gateway] vm-dir, [registrar] state-dir). */
bool reg_config_check(const struct vg_config *cfg, char *err, size_t errlen);

bool reg_ctx_init(struct reg_ctx *ctx, const struct vg_config *cfg, char *err, size_t errlen);
void reg_ctx_close(struct reg_ctx *ctx);

/* Carry out the adds and dels c[0..n) (see the header comment); every change gets its result
 * and detail.  When a name appears more than once, the last change wins and the earlier ones
 * share its outcome. */
void reg_apply(struct reg_ctx *ctx, struct reg_change *const *c, size_t n, bool journal);
/* Replay the journal once (outcomes logged).  Returns the number of entries still pending (-1 on
 * error). */
long reg_replay(struct reg_ctx *ctx);
/* Refresh the heartbeat in every zone; the first non-OK result. */
enum reg_result reg_heartbeat(struct reg_ctx *ctx, char *err, size_t errlen);

/* One line of what sync or gc did: a VM, a host record or a zone, and what became of it. */
struct reg_outcome {
    char name[VG_NAME_MAX + 1];
    const char *action; /* "in-sync", "add", "republish", "withdraw", "conflict", "skipped",
                           "transfer", "heartbeat" */
    enum reg_result result;
    char detail[1600];
};

struct reg_outcomes {
    struct reg_outcome *v;
    size_t n, cap;
    char err[1100]; /* why the command did not run at all ("" when it did) */
};
void reg_outcomes_free(struct reg_outcomes *o);

/* Reconcile the VM table and the zones (docs/registrar.md, "sync"); the exit code.  out (zeroed)
 * gets a line per VM and one per zone that failed. */
int reg_sync(struct reg_ctx *ctx, bool dry_run, struct reg_outcomes *out);
/* Withdraw the VMs of dead hosts (docs/registrar.md, "gc"); the exit code, lines as sync's. */
int reg_gc(struct reg_ctx *ctx, bool dry_run, struct reg_outcomes *out);

/* The VM table beside the zones and the journal (vmgate-reg list). */
struct reg_list_vm {
    const struct reg_change *entry; /* in table: name, channel, qmp */
    char state[VG_NAME_MAX + 16];   /* published, incomplete, missing, owner=HOST, foreign,
                                       queued, no-zone, unknown */
};
struct reg_list_zone {
    const char *zone;
    struct reg_zone *z; /* NULL when the transfer failed (err says why) */
    char err[1024];
};
struct reg_listing {
    struct reg_changes table;   /* the VM table, each entry as the add it records */
    struct reg_list_vm *vms;    /* one per table entry, in table order */
    struct reg_changes journal; /* pending changes (the dels are listed as queued-del) */
    struct reg_list_zone *zones;
    size_t nzones;  /* one per configured zone (0 when memory ran out) */
    long long now;  /* unix time of the listing */
    char err[1100]; /* why there is no listing ("" when there is) */
};
/* Fill out (zeroed); the exit code. */
int reg_list(struct reg_ctx *ctx, struct reg_listing *out);
void reg_listing_free(struct reg_listing *l);

#endif
