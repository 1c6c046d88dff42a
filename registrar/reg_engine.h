/* reg_engine — carries out changes (struct reg_change) against the DNS server: batches them into
 * a few UPDATE messages over one TCP connection, splits a batch whose prerequisites fail until the
 * offending change stands alone, and tells each change's outcome apart (its result and detail).
 *
 * It reads a change's kind, name, zone, takeover, republish and gc_arg and writes its result and
 * detail; while it runs it keeps, per change, only the message layer's view (struct reg_item:
 * the prerequisite mode as fallbacks are tried, pointing into the change).  The engine does not
 * touch the VM table or the journal: the caller decides what a result means for those
 * (reg_cmd.c).  One engine = one key, one identity, one connection; not thread-safe.
 */
#ifndef REG_ENGINE_H
#define REG_ENGINE_H

#include "reg_change.h"
#include "reg_msg.h"
#include "reg_net.h"
#include "reg_zone.h"
#include "vg_config.h"

struct reg_engine {
    struct reg_key key;
    struct reg_ident id;
    struct reg_conn conn;
    unsigned batch_max;
    unsigned long updates; /* UPDATE messages sent, for the log and the tests */
};

bool reg_engine_init(struct reg_engine *e, const struct vg_config *cfg, char *err, size_t errlen);
void reg_engine_close(struct reg_engine *e);

/* Carry out c[0..n) (any zones, any kinds; order within a zone is kept; one change per name).
 * Every change gets a result; REG_TIMEOUT means no server answered (the caller may journal it). */
void reg_engine_run(struct reg_engine *e, struct reg_change *const *c, size_t n);
/* Refresh this host's record (addresses + heartbeat) in zone. */
enum reg_result reg_engine_heartbeat(struct reg_engine *e, const char *zone, char *err,
                                     size_t errlen);
/* Transfer the zone (AXFR, every message's TSIG verified) into a model. */
enum reg_result reg_engine_axfr(struct reg_engine *e, const char *zone, struct reg_zone **out,
                                char *err, size_t errlen);

#endif
