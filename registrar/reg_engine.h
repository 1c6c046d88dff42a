/* reg_engine — carries out changes against the DNS server: batches them into a few UPDATE
 * messages over one TCP connection, splits a batch whose prerequisites fail until the offending
 * VM stands alone, and tells each VM's outcome apart (reg_op.result / .detail).
 *
 * The engine does not touch the VM table or the journal: the caller decides what a result means
 * for those (reg_cmd.c).  One engine = one key, one identity, one connection; not thread-safe.
 */
#ifndef REG_ENGINE_H
#define REG_ENGINE_H

#include "reg_msg.h"
#include "reg_net.h"
#include "reg_zone.h"
#include "vg_config.h"

enum reg_kind {
    REG_OP_ADD,     /* publish a VM of this host (takeover: from whichever host has it) */
    REG_OP_DEL,     /* withdraw a VM of this host */
    REG_OP_GCDEL,   /* withdraw a VM of the dead host `arg` */
    REG_OP_HOSTDEL, /* delete the host record `name` if its heartbeat TXT is still `arg` */
};

struct reg_op {
    enum reg_kind kind;
    char name[VG_NAME_MAX + 1]; /* normalized FQDN */
    const char *zone;           /* the configured zone it is under */
    bool takeover;              /* ADD: move the VM from another host */
    bool own_hint;              /* ADD: we believe it is already ours (try that prerequisite first) */
    char arg[VG_NAME_MAX + 1];
    /* out */
    enum reg_result result;
    char detail[1200];
    /* internal */
    struct reg_item item;
};

struct reg_engine {
    struct reg_key key;
    struct reg_ident id;
    struct reg_conn conn;
    unsigned batch_max;
    unsigned long updates; /* UPDATE messages sent, for the log and the tests */
};

bool reg_engine_init(struct reg_engine *e, const struct vg_config *cfg, char *err, size_t errlen);
void reg_engine_close(struct reg_engine *e);

/* Carry out ops (any zones, any kinds; order within a zone is kept).  Every op gets a result;
 * REG_TIMEOUT means no server answered (the caller may journal it). */
void reg_engine_run(struct reg_engine *e, struct reg_op *const *ops, size_t n);
/* Refresh this host's record (addresses + heartbeat) in zone. */
enum reg_result reg_engine_heartbeat(struct reg_engine *e, const char *zone, char *err,
                                     size_t errlen);
/* Transfer the zone (AXFR, every message's TSIG verified) into a model. */
enum reg_result reg_engine_axfr(struct reg_engine *e, const char *zone, struct reg_zone **out,
                                char *err, size_t errlen);

#endif
