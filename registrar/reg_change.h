/* reg_change — one change to one name, the single type that carries a VM's add or withdrawal from
 * the command line or the daemon socket through reg_apply (reg_cmd.h) and the engine
 * (reg_engine.h) to the journal (reg_journal.h) and the VM table (reg_store.h); and the one place
 * where a request is parsed and checked.
 *
 * Every way a request arrives builds its changes with the functions below, so each rule is
 * checked in one place (names: reg_name_resolve; channel and qmp: vg_vmentry; the VM table keys an
 * add sets: reg_sets_add):
 *
 *     vmgate-reg add NAME --channel SPEC [--qmp PATH] [--ports L] [--allow-out L] [--set K=V]
 *                        [--takeover]                          reg_change_add
 *     vmgate-reg add --batch FILE, lines NAME SPEC [qmp=PATH] [KEY=VALUE…]
 *                                                              reg_change_batch_add
 *     vmgate-reg del NAME…                                     reg_change_del
 *     vmgate-reg del --batch FILE, lines NAME                  reg_change_batch_del
 *     the daemon socket (reg_daemon.c), one request per line:
 *         add NAME SPEC QMP|- 0|1 [KEY=VALUE…]  /  del NAME    reg_change_parse_request
 *         (written by reg_change_request; QMP "-" = none, 0|1 = takeover)
 *       answered per request, in order:
 *         RESULT NAME DETAIL                                   reg_change_reply / _parse_reply
 *     the hooks (reg_libvirt.c, reg_qemu.c)                    reg_change_name + reg_change_set_add
 *
 * A change that fails a check gets result REG_BADNAME (REG_ERROR when memory ran out) and the
 * reason in detail; its zone stays NULL when the name itself was refused (name then holds what was
 * given, cut to fit, for the daemon's answer).
 *
 * Ownership: a change owns channel, qmp and the values of sets (reg_change_clear frees them);
 * zone points into the configuration; gc_arg into the gc plan it was built from.
 */
#ifndef REG_CHANGE_H
#define REG_CHANGE_H

#include "reg.h"
#include "vg_config.h"
#include "vg_name.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- VM table keys an add sets (--ports, --allow-out, --set, KEY=VALUE words) --------------- */

#define REG_MAX_SETS 8
struct reg_sets {
    unsigned n;
    struct {
        char key[33];
        char *value; /* canonical (one word); "" removes the key */
    } v[REG_MAX_SETS];
};

/* Add KEY=VALUE (a settable VM table key, checked and made canonical); a later set of the same
 * key replaces an earlier one.  False with a message. */
bool reg_sets_add(struct reg_sets *s, const char *key, const char *value, char *err, size_t errlen);
/* "KEY=VALUE" as one word (the daemon protocol, batch files, --set). */
bool reg_sets_add_word(struct reg_sets *s, const char *word, char *err, size_t errlen);
/* A command-line option by its long name: "ports" LIST, "allow-out" LIST or "set" KEY=VALUE. */
bool reg_sets_add_option(struct reg_sets *s, const char *option, const char *arg, char *err,
                         size_t errlen);
void reg_sets_clear(struct reg_sets *s);

/* ---- the change ----------------------------------------------------------------------------- */

enum reg_change_kind {
    REG_CHANGE_ADD,     /* publish a VM of this host (takeover: from whichever host has it) */
    REG_CHANGE_DEL,     /* withdraw a VM of this host */
    REG_CHANGE_GC_VM,   /* gc: withdraw the VM of the dead host gc_arg */
    REG_CHANGE_GC_HOST, /* gc: delete the host record `name` if its heartbeat TXT is still gc_arg */
};

struct reg_change {
    enum reg_change_kind kind;
    char name[VG_NAME_MAX + 1]; /* normalized FQDN: the VM table and journal file name */
    const char *zone;           /* the configured zone it is under; NULL until the name passed */
    /* ADD */
    char *channel;        /* tcp:ADDR | vsock:CID | vsock-mux:PATH | serial:PATH */
    char *qmp;            /* QEMU's QMP socket, NULL when none */
    bool takeover;        /* move the VM here from another host */
    struct reg_sets sets; /* VM table keys to set */
    bool republish;       /* believed ours already: try the "add again" prerequisite first */
    /* GC_VM, GC_HOST */
    const char *gc_arg;
    /* the journal */
    bool from_journal; /* read from the journal: it is there as it is */
    long long queued;  /* unix time it was journaled */
    /* outcome (reg_apply, reg_engine_run, the daemon's answer, or a failed check) */
    enum reg_result result;
    char detail[1200];
};

/* A VM name given short ("web1", qualified with the first zone) or fully ("web1.vm.test.").
 * Checks LDH labels, lengths, reserved '_' labels and that its SRV name fits.  *zone points
 * into cfg. */
bool reg_name_resolve(const struct vg_config *cfg, const char *in, char out[VG_NAME_MAX + 1],
                      const char **zone, char *err, size_t errlen);

/* Give c (zeroed, or of a failed check) its name and zone.  False: REG_BADNAME (see above). */
bool reg_change_name(struct reg_change *c, const struct vg_config *cfg, const char *name);
/* Make the named change an add of channel (qmp: NULL for none); *sets (may be NULL) moves into
 * c and is left empty, whatever the outcome.  False: a bad channel or qmp (REG_BADNAME, detail
 * without the name). */
bool reg_change_set_add(struct reg_change *c, const char *channel, const char *qmp, bool takeover,
                        struct reg_sets *sets);
/* reg_change_name + reg_change_set_add (*sets is left empty whatever the outcome). */
bool reg_change_add(struct reg_change *c, const struct vg_config *cfg, const char *name,
                    const char *channel, const char *qmp, bool takeover, struct reg_sets *sets);
/* reg_change_name, as a withdrawal. */
bool reg_change_del(struct reg_change *c, const struct vg_config *cfg, const char *name);

/* Lines of add --batch / del --batch files (the line is cut into words in place). */
enum reg_line {
    REG_LINE_BLANK,     /* empty, or a '#' comment: nothing to do */
    REG_LINE_OK,        /* c is a change */
    REG_LINE_MALFORMED, /* the words are wrong (c->detail says how) */
    REG_LINE_REJECTED,  /* a check of reg_change_add / _del failed (c as there) */
};
/* "NAME SPEC [qmp=PATH] [KEY=VALUE…]"; every line's add gets takeover. */
enum reg_line reg_change_batch_add(struct reg_change *c, const struct vg_config *cfg, char *line,
                                   bool takeover);
/* "NAME" (further words are ignored). */
enum reg_line reg_change_batch_del(struct reg_change *c, const struct vg_config *cfg, char *line);

/* The daemon protocol.  A request line (without its newline; cut into words in place) into c
 * (zeroed); false when it is malformed or fails a check (c's result and detail are the answer). */
bool reg_change_parse_request(struct reg_change *c, const struct vg_config *cfg, char *line);
/* The request line for c, newline included; vg_free.  NULL when memory ran out. */
char *reg_change_request(const struct reg_change *c);
/* The answer line for c, newline included, into out; false when it does not fit. */
bool reg_change_reply(const struct reg_change *c, char *out, size_t outlen);
/* An answer line (without newline; changed in place) into c's result and detail. */
bool reg_change_parse_reply(struct reg_change *c, char *line);

void reg_change_clear(struct reg_change *c); /* frees what c owns; c is zeroed */

/* A growable array of changes. */
struct reg_changes {
    struct reg_change *v;
    size_t n, cap;
};
/* A zeroed change at the end; NULL when memory ran out. */
struct reg_change *reg_changes_push(struct reg_changes *cs);
void reg_changes_pop(struct reg_changes *cs); /* clears and drops the last change */
void reg_changes_free(struct reg_changes *cs);
/* Pointers to c[0..n) (what reg_apply and the engine take); vg_free.  NULL when out of memory. */
struct reg_change **reg_change_ptrs(struct reg_change *c, size_t n);

/* The exit code of a command that carried out c[0..n) (reg_exit_code_of their results). */
int reg_changes_exit(const struct reg_change *c, size_t n);

#endif
