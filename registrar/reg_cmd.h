/* reg_cmd — what vmgate-reg's commands do, shared by the direct path (main.c) and the daemon:
 * carry out adds and withdrawals in DNS (reg_engine), then keep the VM table and the journal in
 * step with the outcome; sync, gc and list.
 *
 * Outcome → files (reg_apply):
 *     add  done or queued        → VM table entry written
 *     del  any outcome           → VM table entry removed (the VM is gone from this host)
 *     no server answered / SERVFAIL → journaled (result becomes REG_QUEUED), when journaling
 *     any other outcome          → the name's journal entry, if any, is dropped
 */
#ifndef REG_CMD_H
#define REG_CMD_H

#include "reg_engine.h"
#include "reg_store.h"
#include "vg_config.h"

#include <stdio.h>

struct reg_ctx {
    const struct vg_config *cfg;
    struct reg_engine eng;
    char journal_dir[4096];
};

struct reg_req {
    bool del;
    bool takeover;
    bool from_journal;           /* replayed: already journaled as is */
    char name[VG_NAME_MAX + 1];  /* normalized FQDN */
    const char *zone;
    char *channel, *qmp;         /* add; owned (vg_free) */
    struct reg_sets sets;        /* add: VM table keys to set; owned */
    long long queued;            /* journal time of a replayed request */
    /* out */
    enum reg_result result;
    char detail[1200];
};

/* Registrar keys present and well-formed ([dns] zone/server/tsig-key-file, [host] name/address,
 * [gateway] vm-dir, [registrar] state-dir). */
bool reg_config_check(const struct vg_config *cfg, char *err, size_t errlen);

bool reg_ctx_init(struct reg_ctx *ctx, const struct vg_config *cfg, char *err, size_t errlen);
void reg_ctx_close(struct reg_ctx *ctx);

/* A VM name given short ("web1", qualified with the first zone) or fully ("web1.vm.test.").
 * Checks LDH labels, lengths, reserved '_' labels and that its SRV name fits.  *zone points
 * into cfg. */
bool reg_name_resolve(const struct vg_config *cfg, const char *in, char out[VG_NAME_MAX + 1],
                      const char **zone, char *err, size_t errlen);

void reg_req_free(struct reg_req *r, size_t n); /* frees strings of r[0..n) (not r) */

/* Carry out reqs (see the header comment); every req gets result and detail.  When a name
 * appears more than once, the last request wins and the earlier ones share its outcome. */
void reg_apply(struct reg_ctx *ctx, struct reg_req *reqs, size_t n, bool journal);
/* Replay the journal once.  Returns the number of entries still pending (-1 on error). */
long reg_replay(struct reg_ctx *ctx);
/* Refresh the heartbeat in every zone; the first non-OK result. */
enum reg_result reg_heartbeat(struct reg_ctx *ctx, char *err, size_t errlen);

/* The commands; they print one line per VM to out and return an exit code. */
int reg_sync(struct reg_ctx *ctx, FILE *out, bool dry_run);
int reg_gc(struct reg_ctx *ctx, FILE *out, bool dry_run);
int reg_list(struct reg_ctx *ctx, FILE *out, bool all);

#endif
